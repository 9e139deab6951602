#pragma once
// The text layer every trace reader shares (internal to sim/workload/): decimal number tokens
// converted without a double, line iteration, errors "<file>:<line>: <what> (expected <form>)", a
// strict parser for one flat JSON object per line, CSV field splitting and header mapping, and the
// two table-driven readers the formats are written in: one JSONL reader (Mooncake and moska JSONL
// differ only in their key table) and one CSV reader (Azure and BurstGPT differ in their columns and
// in how a timestamp reads).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "sim/workload/request.hpp"
#include "sim/workload/trace.hpp"

namespace moska::trace_detail {

// ---------------------------------------------------------------------------------------------
// Numbers. The JSON number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?

struct NumberToken {
  const char* begin = nullptr;
  const char* end = nullptr;
  bool negative = false;
  bool integral = true;  // no fraction, no exponent
};

// Returns the end of the number at p (and fills tok), or nullptr if the text at p is not one.
const char* scan_number(const char* p, const char* end, NumberToken& tok);
// An integral, non-negative token's value; false on overflow of uint64.
bool token_to_u64(const NumberToken& tok, std::uint64_t& out);
// A non-negative token's value times 10^scale, rounded half up; false if it exceeds int64.
// Digits past the 18th significant one are dropped (far below a nanosecond for any real trace).
bool token_to_scaled(const NumberToken& tok, int scale, std::int64_t& out);
// 10^k for k in 0..19.
std::uint64_t pow10_u64(std::size_t k);

// ---------------------------------------------------------------------------------------------
// Errors: "<file>:<line>: <what> (expected <form>)".

struct LineContext {
  const std::string* name;
  std::size_t line = 0;
  const char* line_begin = nullptr;

  [[noreturn]] void fail(const std::string& what, const std::string& expected) const;
  std::size_t column(const char* p) const { return static_cast<std::size_t>(p - line_begin) + 1; }
};

// At most 40 characters of s, for messages.
std::string show(std::string_view s);

// ---------------------------------------------------------------------------------------------
// Lines.

std::string_view strip_bom(std::string_view text);

inline bool blank(const char* b, const char* e) {
  for (; b < e; ++b) {
    if (*b != ' ' && *b != '\t' && *b != '\r') return false;
  }
  return true;
}

// Calls fn(line_number, begin, end) for each non-blank line (end excludes "\n" and a trailing "\r")
// until fn returns false.
template <class Fn>
void for_each_line(std::string_view text, Fn&& fn) {
  const char* p = text.data();
  const char* end = p + text.size();
  std::size_t line = 0;
  while (p < end) {
    ++line;
    const char* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    const char* e = nl ? nl : end;
    const char* le = (e > p && e[-1] == '\r') ? e - 1 : e;
    if (!blank(p, le)) {
      if (!fn(line, p, le)) return;
    }
    p = nl ? nl + 1 : end;
  }
}

// The first non-blank line ("" if none).
std::string_view first_line(std::string_view text);

// ---------------------------------------------------------------------------------------------
// A strict parser for one JSON object per line whose values are numbers or arrays of integers.
// Values of keys a format does not use are still checked against the JSON grammar and skipped.

class JsonLine {
 public:
  JsonLine(const LineContext& ctx, const char* begin, const char* end) : ctx_(ctx), p_(begin), end_(end) {}

  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\r' || *p_ == '\n')) ++p_;
  }
  [[noreturn]] void syntax(const std::string& expected) const;
  void expect(char c, const char* expected) {
    if (p_ >= end_ || *p_ != c) syntax(expected);
    ++p_;
  }

  // Calls on_key(key) for each key with the cursor at its value; on_key must consume the value.
  template <class OnKey>
  void object(OnKey&& on_key) {
    ws();
    expect('{', "a JSON object per line");
    ws();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
    } else {
      for (;;) {
        ws();
        std::string_view key = string();
        ws();
        expect(':', "':' after a key");
        ws();
        on_key(key);
        ws();
        if (p_ < end_ && *p_ == ',') {
          ++p_;
          continue;
        }
        expect('}', "',' or '}'");
        break;
      }
    }
    ws();
    if (p_ != end_) syntax("nothing after the object (one object per line)");
  }

  // A string; the view points into the line, or into scratch_ when it had escapes.
  std::string_view string();
  // A non-negative integer (int64 range, at most max_value).
  std::int64_t integer(std::string_view key, std::int64_t max_value, const char* expected);
  // A non-negative decimal times 10^scale (exact for decimal text).
  std::int64_t scaled(std::string_view key, int scale, const char* expected);
  // An array of non-negative integers (uint64), appended to out.
  void u64_array(std::string_view key, std::vector<std::uint64_t>& out, const char* expected);
  // Any JSON value, checked against the grammar and discarded.
  void skip_value(int depth = 0);

 private:
  const char* kind_here() const;
  NumberToken number(std::string_view key, const char* expected);

  const LineContext& ctx_;
  const char* p_;
  const char* end_;
  std::string scratch_;
};

// ---------------------------------------------------------------------------------------------
// CSV: fields separated by ',', optionally in double quotes (a quoted field's "" is kept as is:
// the readers only interpret numeric fields).

void split_csv(const LineContext& ctx, const char* b, const char* e, std::vector<std::string_view>& fields);
// A non-negative integer field, at most max_value.
std::int64_t csv_integer(const LineContext& ctx, std::string_view column, std::string_view text,
                         std::int64_t max_value = INT64_MAX);
// A non-negative number of seconds, in ns (exact for decimal text).
std::int64_t csv_seconds_to_ns(const LineContext& ctx, std::string_view column, std::string_view text);

// ---------------------------------------------------------------------------------------------
// The readers the formats are written in. Each appends one Request per line (arrival in the
// format's own origin; lengths as in the file: parse_trace clamps, sorts and windows them).

struct TraceInput {
  std::string_view text;  // BOM stripped
  const std::string& name;
  const TraceOptions& opt;
  std::vector<Request>& out;
};

// One JSON object per line. A key of the table is read into its field; each at most once.
enum class JsonlField { arrival, input_tokens, output_tokens, hash_ids, corpus, family, similarity };
struct JsonlKey {
  std::string_view name;
  JsonlField field;
  bool required;
};
struct JsonlFormat {
  std::span<const JsonlKey> keys;
  int arrival_scale;             // 10^scale ns per unit of the arrival key: 6 (ms) or 9 (s)
  const char* arrival_expected;  // "a non-negative number of milliseconds"
  const char* missing_expected;  // the keys, for a message about a missing one
  // Unknown keys: skipped (nullptr; still checked as JSON) or an error expecting this.
  const char* unknown_expected;
};
void read_jsonl(const TraceInput& in, const JsonlFormat& format);

// CSV with a header row. The header maps names to columns (each once; unknown names are errors);
// every row has the header's width; col[k] is the column of required[k] (then of
// optional[k - required.size()], -1 when absent).
struct CsvSchema {
  const char* format;
  std::vector<std::string_view> required;
  std::vector<std::string_view> optional;
};
struct CsvFormat {
  CsvSchema schema;  // required: the timestamp, input tokens, output tokens columns, in that order
  // The timestamp column's text -> arrival in ns (in the format's own origin).
  std::int64_t (*arrival_ns)(const LineContext& ctx, std::string_view column, std::string_view text);
  // Checks of the other columns of a row, after the lengths (nullptr: none).
  void (*check_row)(const LineContext& ctx, const std::vector<std::string_view>& fields, const std::vector<int>& col);
};
void read_csv(const TraceInput& in, const CsvFormat& format);

// ---------------------------------------------------------------------------------------------
// The formats (trace_<format>.cpp).

void read_mooncake(const TraceInput& in);
void read_moska_jsonl(const TraceInput& in);
void read_azure(const TraceInput& in);
void read_burstgpt(const TraceInput& in);

}  // namespace moska::trace_detail
