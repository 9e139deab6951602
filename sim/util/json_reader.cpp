#include "sim/util/json_reader.hpp"

#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "sim/util/error.hpp"

namespace moska {

nlohmann::json load_json_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot open file", path.string()));
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::parse_error& e) {
    throw InputError(fmt::format("{}: malformed JSON: {}", path.string(), e.what()));
  }
}

JsonReader::JsonReader(const nlohmann::json& obj, std::string where, std::string path)
    : obj_(&obj), where_(std::move(where)), path_(std::move(path)) {
  if (!obj.is_object()) {
    throw InputError(fmt::format("{}: {}: expected a JSON object", where_, path_.empty() ? "<root>" : path_));
  }
}

std::string JsonReader::key_path(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

void JsonReader::fail(const std::string& key, const std::string& expected) const {
  throw InputError(fmt::format("{}: key '{}': expected {}", where_, key_path(key), expected));
}

bool JsonReader::has(const std::string& key) const { return obj_->contains(key); }

const nlohmann::json& JsonReader::get(const std::string& key) const {
  seen_.insert(key);
  auto it = obj_->find(key);
  if (it == obj_->end()) fail(key, "to be present (missing)");
  return *it;
}

const nlohmann::json& JsonReader::raw(const std::string& key) const { return get(key); }

double JsonReader::number(const std::string& key) const {
  const auto& v = get(key);
  if (!v.is_number()) fail(key, "a number");
  return v.get<double>();
}

double JsonReader::number_or(const std::string& key, double fallback) const {
  if (!has(key)) return fallback;
  return number(key);
}

double JsonReader::positive(const std::string& key) const {
  double v = number(key);
  if (!(v > 0)) fail(key, fmt::format("a positive number (got {})", v));
  return v;
}

double JsonReader::non_negative(const std::string& key) const {
  double v = number(key);
  if (!(v >= 0)) fail(key, fmt::format("a non-negative number (got {})", v));
  return v;
}

std::int64_t JsonReader::integer(const std::string& key, std::int64_t min_value) const {
  const auto& v = get(key);
  if (!v.is_number_integer()) fail(key, fmt::format("an integer >= {}", min_value));
  auto x = v.get<std::int64_t>();
  if (x < min_value) fail(key, fmt::format("an integer >= {} (got {})", min_value, x));
  return x;
}

std::int64_t JsonReader::integer_or(const std::string& key, std::int64_t min_value, std::int64_t fallback) const {
  if (!has(key)) return fallback;
  return integer(key, min_value);
}

std::string JsonReader::string(const std::string& key) const {
  const auto& v = get(key);
  if (!v.is_string()) fail(key, "a string");
  return v.get<std::string>();
}

std::string JsonReader::string_or(const std::string& key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  return string(key);
}

bool JsonReader::boolean_or(const std::string& key, bool fallback) const {
  if (!has(key)) return fallback;
  const auto& v = get(key);
  if (!v.is_boolean()) fail(key, "true or false");
  return v.get<bool>();
}

JsonReader JsonReader::object(const std::string& key) const {
  const auto& v = get(key);
  if (!v.is_object()) fail(key, "a JSON object");
  return JsonReader(v, where_, key_path(key));
}

std::vector<JsonReader> JsonReader::array_of_objects(const std::string& key) const {
  const auto& v = get(key);
  if (!v.is_array()) fail(key, "an array of objects");
  std::vector<JsonReader> out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (!v[i].is_object()) fail(key, fmt::format("an array of objects (element {} is not)", i));
    out.emplace_back(v[i], where_, fmt::format("{}[{}]", key_path(key), i));
  }
  return out;
}

std::vector<double> JsonReader::numbers(const std::string& key) const {
  const auto& v = get(key);
  if (!v.is_array()) fail(key, "an array of numbers");
  std::vector<double> out;
  for (const auto& x : v) {
    if (!x.is_number()) fail(key, "an array of numbers");
    out.push_back(x.get<double>());
  }
  return out;
}

std::vector<std::string> JsonReader::keys() const {
  std::vector<std::string> out;
  for (auto it = obj_->begin(); it != obj_->end(); ++it) {
    seen_.insert(it.key());
    out.push_back(it.key());
  }
  return out;
}

double JsonReader::sourced(const std::string& key, bool allow_zero) const {
  const auto& v = get(key);
  const std::string form = "an object {\"value\": number, \"source\": \"where the number comes from\"}";
  if (!v.is_object()) fail(key, form);
  JsonReader r(v, where_, key_path(key));
  double x = r.number("value");
  std::string src = r.string("source");
  r.finish();
  if (src.empty()) fail(key + ".source", "a non-empty string naming where the value comes from");
  if (allow_zero ? !(x >= 0) : !(x > 0)) fail(key + ".value", allow_zero ? "a non-negative number" : "a positive number");
  return x;
}

std::optional<double> JsonReader::sourced_opt(const std::string& key) const {
  if (!has(key)) return std::nullopt;
  return sourced(key);
}

void JsonReader::finish() const {
  for (auto it = obj_->begin(); it != obj_->end(); ++it) {
    if (!seen_.count(it.key())) {
      throw InputError(fmt::format("{}: unknown key '{}'", where_, key_path(it.key())));
    }
  }
}

}  // namespace moska
