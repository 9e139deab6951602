#pragma once
// Strict reading of JSON configuration: every key must be known, every value of the expected
// type and range. Errors name the file, the key path and the expected form.
//
// The checked-number layer of JSON input: a file is parsed with duplicate keys rejected (naming the
// key path), nesting bounded, and numbers beyond a double reported as input errors; numbers read
// through a JsonReader are finite (NaN and infinity, which `--set` could otherwise put in, are
// rejected everywhere), integers are read into the width they are stored in and checked against a
// range, and hardware constants ({"value", "source"}) have ranges too.
#include <climits>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace moska {

// Parses JSON text strictly: a malformed text, a number beyond a double (1e400), a key repeated
// in one object, or nesting deeper than 64 is an InputError naming `where` (and the key path).
nlohmann::json parse_json_text(std::string_view text, const std::string& where);
// The same for a file (an unreadable file, a device or folder, or one over 64 MiB is an InputError).
nlohmann::json load_json_file(const std::filesystem::path& path);
// Throws InputError if `path` is a folder, a device or a socket (reading /dev/zero never ends).
void check_readable_file(const std::filesystem::path& path);

class JsonReader {
 public:
  // `where` names the file; `path` the key path inside it ("" for the root).
  JsonReader(const nlohmann::json& obj, std::string where, std::string path = "");

  double number(const std::string& key) const;  // finite
  double number_or(const std::string& key, double fallback) const;
  double positive(const std::string& key) const;       // > 0, finite
  double non_negative(const std::string& key) const;   // >= 0, finite
  // A finite number in [lo, hi]; `unit` is said in the message ("seconds", "").
  double number_in(const std::string& key, double lo, double hi, const char* unit = "") const;
  double number_in_or(const std::string& key, double lo, double hi, double fallback, const char* unit = "") const;
  // An integer in [min_value, max_value] (a number with a fraction, or beyond int64, is an error).
  std::int64_t integer(const std::string& key, std::int64_t min_value, std::int64_t max_value = INT64_MAX) const;
  std::int64_t integer_or(const std::string& key, std::int64_t min_value, std::int64_t fallback,
                          std::int64_t max_value = INT64_MAX) const;
  // The same, for values stored in an int.
  int int32(const std::string& key, int min_value, int max_value = INT_MAX) const;
  int int32_or(const std::string& key, int min_value, int fallback, int max_value = INT_MAX) const;
  std::string string(const std::string& key) const;
  std::string string_or(const std::string& key, const std::string& fallback) const;
  bool boolean_or(const std::string& key, bool fallback) const;
  bool has(const std::string& key) const;
  JsonReader object(const std::string& key) const;
  std::vector<JsonReader> array_of_objects(const std::string& key) const;
  std::vector<double> numbers(const std::string& key) const;  // each finite
  std::vector<std::string> keys() const;  // marks them all as read
  const nlohmann::json& raw(const std::string& key) const;

  // A number written as {"value": x, "source": "..."}: hardware constants carry their source.
  // Finite and > 0 (>= 0 with allow_zero).
  double sourced(const std::string& key, bool allow_zero = false) const;
  // The same with a range [lo, hi] (a constant far outside what hardware has is a typo or a unit
  // mistake, and would overflow the clock or a count later).
  double sourced_in(const std::string& key, double lo, double hi) const;
  // A whole number in [min_value, max_value] (sm_count, gpus_per_node).
  int sourced_int(const std::string& key, int min_value, int max_value) const;
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
