#pragma once
// Strict reading of JSON configuration: every key must be known, every value of the expected
// type and range. Errors name the file, the key path and the expected form.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace moska {

nlohmann::json load_json_file(const std::filesystem::path& path);

class JsonReader {
 public:
  // `where` names the file; `path` the key path inside it ("" for the root).
  JsonReader(const nlohmann::json& obj, std::string where, std::string path = "");

  double number(const std::string& key) const;
  double number_or(const std::string& key, double fallback) const;
  double positive(const std::string& key) const;       // > 0
  double non_negative(const std::string& key) const;   // >= 0
  std::int64_t integer(const std::string& key, std::int64_t min_value) const;
  std::int64_t integer_or(const std::string& key, std::int64_t min_value, std::int64_t fallback) const;
  std::string string(const std::string& key) const;
  std::string string_or(const std::string& key, const std::string& fallback) const;
  bool boolean_or(const std::string& key, bool fallback) const;
  bool has(const std::string& key) const;
  JsonReader object(const std::string& key) const;
  std::vector<JsonReader> array_of_objects(const std::string& key) const;
  std::vector<double> numbers(const std::string& key) const;
  std::vector<std::string> keys() const;  // marks them all as read
  const nlohmann::json& raw(const std::string& key) const;

  // A number written as {"value": x, "source": "..."}: hardware constants carry their source.
  double sourced(const std::string& key, bool allow_zero = false) const;
  std::optional<double> sourced_opt(const std::string& key) const;

  // Throws if the object holds a key that was never asked for (catches typos).
  void finish() const;

  [[noreturn]] void fail(const std::string& key, const std::string& expected) const;
  std::string key_path(const std::string& key) const;
  const std::string& where() const { return where_; }

 private:
  const nlohmann::json& get(const std::string& key) const;
  const nlohmann::json* obj_;
  std::string where_;
  std::string path_;
  mutable std::set<std::string> seen_;
};

}  // namespace moska
