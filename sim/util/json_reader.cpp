#include "sim/util/json_reader.hpp"

#include <cmath>
#include <fstream>
#include <sstream>

#include <fmt/format.h>

#include "sim/util/error.hpp"

namespace moska {

namespace {
constexpr int kMaxDepth = 64;
}  // namespace

nlohmann::json parse_json_text(std::string_view text, const std::string& where) {
  // The parser's callback sees every key as it is read: a stack of open objects and arrays keeps
  // the keys seen so far in each object and the path to name a repeated one by.
  struct Frame {
    bool object;
    std::vector<std::string> keys;  // objects of configuration files are small: a linear scan
    std::size_t index = 0;          // arrays: the element being read
  };
  std::vector<Frame> stack;
  auto path_to = [&](const std::string& key) {
    std::string p;
    for (std::size_t i = 0; i + 1 < stack.size(); ++i) {
      if (stack[i].object) {
        p += (p.empty() ? "" : ".") + stack[i].keys.back();
      } else {
        p += fmt::format("[{}]", stack[i].index);
      }
    }
    return p.empty() ? key : p + "." + key;
  };
  auto element_done = [&] {
    if (!stack.empty() && !stack.back().object) ++stack.back().index;
  };
  using Event = nlohmann::json::parse_event_t;
  auto cb = [&](int depth, Event ev, nlohmann::json& parsed) -> bool {
    switch (ev) {
      case Event::object_start:
      case Event::array_start:
        if (depth >= kMaxDepth) {
          throw InputError(fmt::format("{}: malformed JSON: nested deeper than {} levels", where, kMaxDepth));
        }
        stack.push_back(Frame{ev == Event::object_start, {}, 0});
        break;
      case Event::key: {
        auto& keys = stack.back().keys;
        const auto& k = parsed.get_ref<const std::string&>();
        for (const auto& seen : keys) {
          if (seen == k) throw InputError(fmt::format("{}: key '{}' appears twice (each key once)", where, path_to(k)));
        }
        keys.push_back(k);
        break;
      }
      case Event::object_end:
      case Event::array_end:
        stack.pop_back();
        element_done();
        break;
      case Event::value:
        element_done();
        break;
    }
    return true;
  };
  try {
    return nlohmann::json::parse(text.begin(), text.end(), cb);
  } catch (const nlohmann::json::exception& e) {
    // parse_error (syntax, bad UTF-8) and out_of_range (a number beyond a double: 1e400).
    throw InputError(fmt::format("{}: malformed JSON: {}", where, e.what()));
  }
}

void check_readable_file(const std::filesystem::path& path) {
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (!ec && (std::filesystem::is_directory(st) || std::filesystem::is_character_file(st) ||
              std::filesystem::is_block_file(st) || std::filesystem::is_socket(st))) {
    throw InputError(fmt::format("{}: not a file (expected a regular file or a pipe)", path.string()));
  }
}

nlohmann::json load_json_file(const std::filesystem::path& path) {
  constexpr std::size_t kMaxBytes = 64u << 20;  // configuration files are kilobytes
  check_readable_file(path);
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open file", path.string()));
  std::string text;
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<std::size_t>(in.gcount()));
    if (text.size() > kMaxBytes) throw InputError(fmt::format("{}: larger than 64 MiB (expected a JSON configuration file)", path.string()));
  }
  if (in.bad()) throw InputError(fmt::format("{}: cannot read file", path.string()));
  return parse_json_text(text, path.string());
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
  const double x = v.get<double>();
  if (!std::isfinite(x)) fail(key, fmt::format("a finite number (got {})", x));
  return x;
}

double JsonReader::number_in(const std::string& key, double lo, double hi, const char* unit) const {
  const double x = number(key);
  if (!(x >= lo && x <= hi)) {
    fail(key, fmt::format("a number{}{} in [{}, {}] (got {})", *unit ? " of " : "", unit, lo, hi, x));
  }
  return x;
}

double JsonReader::number_in_or(const std::string& key, double lo, double hi, double fallback, const char* unit) const {
  if (!has(key)) return fallback;
  return number_in(key, lo, hi, unit);
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

std::int64_t JsonReader::integer(const std::string& key, std::int64_t min_value, std::int64_t max_value) const {
  const auto& v = get(key);
  auto range = [&] {
    return max_value == INT64_MAX ? fmt::format("an integer >= {}", min_value)
                                  : fmt::format("an integer in {}..{}", min_value, max_value);
  };
  if (!v.is_number_integer()) fail(key, range());
  if (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
    fail(key, fmt::format("{} (got {})", range(), v.get<std::uint64_t>()));
  }
  auto x = v.get<std::int64_t>();
  if (x < min_value || x > max_value) fail(key, fmt::format("{} (got {})", range(), x));
  return x;
}

std::int64_t JsonReader::integer_or(const std::string& key, std::int64_t min_value, std::int64_t fallback,
                                    std::int64_t max_value) const {
  if (!has(key)) return fallback;
  return integer(key, min_value, max_value);
}

int JsonReader::int32(const std::string& key, int min_value, int max_value) const {
  return static_cast<int>(integer(key, min_value, max_value));
}

int JsonReader::int32_or(const std::string& key, int min_value, int fallback, int max_value) const {
  if (!has(key)) return fallback;
  return int32(key, min_value, max_value);
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
    if (!x.is_number() || !std::isfinite(x.get<double>())) fail(key, "an array of finite numbers");
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

double JsonReader::sourced_in(const std::string& key, double lo, double hi) const {
  const double x = sourced(key, lo <= 0);
  if (!(x >= lo && x <= hi)) fail(key + ".value", fmt::format("a number in [{}, {}] (got {})", lo, hi, x));
  return x;
}

int JsonReader::sourced_int(const std::string& key, int min_value, int max_value) const {
  const double x = sourced(key, min_value <= 0);
  if (!(x >= min_value && x <= max_value) || x != std::floor(x)) {
    fail(key + ".value", fmt::format("a whole number in {}..{} (got {})", min_value, max_value, x));
  }
  return static_cast<int>(x);
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
