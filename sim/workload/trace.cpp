#include "sim/workload/trace.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "sim/util/error.hpp"

namespace moska {

namespace {

constexpr std::int64_t kMax32 = 2147483647;

// ---------------------------------------------------------------------------------------------
// Numbers. Decimal text is converted to a scaled integer (ms -> ns: scale 6; s -> ns: scale 9)
// without going through a double, so integer sources convert exactly.

constexpr std::array<std::uint64_t, 20> kPow10 = {
    1ULL,
    10ULL,
    100ULL,
    1000ULL,
    10000ULL,
    100000ULL,
    1000000ULL,
    10000000ULL,
    100000000ULL,
    1000000000ULL,
    10000000000ULL,
    100000000000ULL,
    1000000000000ULL,
    10000000000000ULL,
    100000000000000ULL,
    1000000000000000ULL,
    10000000000000000ULL,
    100000000000000000ULL,
    1000000000000000000ULL,
    10000000000000000000ULL,
};

// The JSON number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
// Returns the end of the number, or nullptr if the text at p is not one.
struct NumberToken {
  const char* begin = nullptr;
  const char* end = nullptr;
  bool negative = false;
  bool integral = true;  // no fraction, no exponent
};

const char* scan_number(const char* p, const char* end, NumberToken& tok) {
  tok.begin = p;
  tok.negative = false;
  tok.integral = true;
  auto digit = [&](const char* q) { return q < end && *q >= '0' && *q <= '9'; };
  if (p < end && *p == '-') {
    tok.negative = true;
    ++p;
  }
  if (!digit(p)) return nullptr;
  if (*p == '0') {
    ++p;
  } else {
    while (digit(p)) ++p;
  }
  if (p < end && *p == '.') {
    tok.integral = false;
    ++p;
    if (!digit(p)) return nullptr;
    while (digit(p)) ++p;
  }
  if (p < end && (*p == 'e' || *p == 'E')) {
    tok.integral = false;
    ++p;
    if (p < end && (*p == '+' || *p == '-')) ++p;
    if (!digit(p)) return nullptr;
    while (digit(p)) ++p;
  }
  tok.end = p;
  return p;
}

// An integral, non-negative token's value; false on overflow of uint64.
bool token_to_u64(const NumberToken& tok, std::uint64_t& out) {
  std::uint64_t v = 0;
  for (const char* q = tok.begin; q < tok.end; ++q) {
    unsigned d = static_cast<unsigned>(*q - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  out = v;
  return true;
}

// A non-negative token's value times 10^scale, rounded half up; false if it exceeds int64.
// Digits past the 18th significant one are dropped (far below a nanosecond for any real trace).
bool token_to_scaled(const NumberToken& tok, int scale, std::int64_t& out) {
  const char* p = tok.begin;
  const char* e = tok.end;
  std::uint64_t m = 0;
  int nd = 0;
  long exp10 = 0;
  for (; p < e && *p >= '0' && *p <= '9'; ++p) {
    if (nd < 18) {
      m = m * 10 + static_cast<unsigned>(*p - '0');
      if (m != 0) ++nd;
    } else {
      ++exp10;
    }
  }
  if (p < e && *p == '.') {
    for (++p; p < e && *p >= '0' && *p <= '9'; ++p) {
      if (nd < 18) {
        m = m * 10 + static_cast<unsigned>(*p - '0');
        if (m != 0) ++nd;
        --exp10;
      }
    }
  }
  if (p < e && (*p == 'e' || *p == 'E')) {
    ++p;
    bool neg = false;
    if (*p == '+' || *p == '-') neg = (*p++ == '-');
    long x = 0;
    for (; p < e; ++p) x = std::min(x * 10 + (*p - '0'), 100000L);
    exp10 += neg ? -x : x;
  }
  long total = exp10 + scale;
  if (m == 0) {
    out = 0;
    return true;
  }
  if (total >= 0) {
    if (total > 18) return false;
    std::uint64_t f = kPow10[static_cast<std::size_t>(total)];
    if (m > static_cast<std::uint64_t>(INT64_MAX) / f) return false;
    out = static_cast<std::int64_t>(m * f);
    return true;
  }
  if (-total > 19) {
    out = 0;
    return true;
  }
  std::uint64_t div = kPow10[static_cast<std::size_t>(-total)];
  std::uint64_t q = m / div;
  std::uint64_t r = m % div;
  if (r >= div - r) ++q;
  out = static_cast<std::int64_t>(q);
  return true;
}

// ---------------------------------------------------------------------------------------------
// Errors: "<file>:<line>: <what> (expected <form>)".

struct LineContext {
  const std::string* name;
  std::size_t line = 0;
  const char* line_begin = nullptr;

  [[noreturn]] void fail(const std::string& what, const std::string& expected) const {
    throw InputError(fmt::format("{}:{}: {} (expected {})", *name, line, what, expected));
  }
  std::size_t column(const char* p) const { return static_cast<std::size_t>(p - line_begin) + 1; }
};

std::string show(std::string_view s) {
  constexpr std::size_t kMax = 40;
  if (s.size() <= kMax) return std::string(s);
  return std::string(s.substr(0, kMax)) + "...";
}

// ---------------------------------------------------------------------------------------------
// A strict parser for one JSON object per line whose values are numbers or arrays of integers.
// Values of keys a format does not use are still checked against the JSON grammar and skipped.

class JsonLine {
 public:
  JsonLine(const LineContext& ctx, const char* begin, const char* end) : ctx_(ctx), p_(begin), end_(end) {}

  void ws() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\r' || *p_ == '\n')) ++p_;
  }

  [[noreturn]] void syntax(const std::string& expected) const {
    std::string found = p_ < end_ ? fmt::format("'{}'", show(std::string_view(p_, std::min<std::size_t>(1, end_ - p_))))
                                  : std::string("end of line");
    ctx_.fail(fmt::format("malformed JSON at column {}: found {}", ctx_.column(p_), found), expected);
  }

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
  std::string_view string() {
    if (p_ >= end_ || *p_ != '"') syntax("a string in double quotes");
    ++p_;
    const char* start = p_;
    bool escaped = false;
    while (p_ < end_ && *p_ != '"') {
      unsigned char c = static_cast<unsigned char>(*p_);
      if (c < 0x20) syntax("no control characters inside a string");
      if (c == '\\') {
        escaped = true;
        ++p_;
        if (p_ >= end_) syntax("an escape sequence");
        if (*p_ == 'u') {
          for (int i = 0; i < 4; ++i) {
            ++p_;
            if (p_ >= end_ || !std::isxdigit(static_cast<unsigned char>(*p_))) syntax("four hex digits after \\u");
          }
        } else if (!std::strchr("\"\\/bfnrt", *p_)) {
          syntax("a valid escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
        }
      }
      ++p_;
    }
    if (p_ >= end_) syntax("a closing '\"'");
    std::string_view raw(start, static_cast<std::size_t>(p_ - start));
    ++p_;
    if (!escaped) return raw;
    // Keys with escapes never match a known key; keep the raw text for the message.
    scratch_.assign(raw);
    return scratch_;
  }

  const char* kind_here() const {
    if (p_ >= end_) return "missing";
    switch (*p_) {
      case '"': return "a string";
      case '[': return "an array";
      case '{': return "an object";
      case 't':
      case 'f': return "a boolean";
      case 'n': return "null";
      default: return (*p_ == '-' || (*p_ >= '0' && *p_ <= '9')) ? "a number" : "not a JSON value";
    }
  }

  NumberToken number(std::string_view key, const char* expected) {
    NumberToken tok;
    if (p_ >= end_ || !(*p_ == '-' || (*p_ >= '0' && *p_ <= '9'))) {
      const char* kind = kind_here();
      if (std::strcmp(kind, "not a JSON value") == 0) syntax("a JSON value");
      ctx_.fail(fmt::format("key '{}' is {}", key, kind), expected);
    }
    if (!scan_number(p_, end_, tok)) syntax("a JSON number");
    p_ = tok.end;
    return tok;
  }

  // A non-negative integer (int64 range, at most max_value).
  std::int64_t integer(std::string_view key, std::int64_t max_value, const char* expected) {
    NumberToken tok = number(key, expected);
    std::string_view text(tok.begin, static_cast<std::size_t>(tok.end - tok.begin));
    if (!tok.integral) ctx_.fail(fmt::format("key '{}' is {}, not an integer", key, text), expected);
    if (tok.negative) ctx_.fail(fmt::format("key '{}' is negative ({})", key, text), expected);
    std::uint64_t v = 0;
    if (!token_to_u64(tok, v) || v > static_cast<std::uint64_t>(max_value)) {
      ctx_.fail(fmt::format("key '{}' is too large ({})", key, show(text)), expected);
    }
    return static_cast<std::int64_t>(v);
  }

  // A non-negative decimal times 10^scale (exact for decimal text).
  std::int64_t scaled(std::string_view key, int scale, const char* expected) {
    NumberToken tok = number(key, expected);
    std::string_view text(tok.begin, static_cast<std::size_t>(tok.end - tok.begin));
    if (tok.negative && text.find_first_not_of("-0.eE+") != std::string_view::npos) {
      ctx_.fail(fmt::format("key '{}' is negative ({})", key, text), expected);
    }
    NumberToken abs = tok;
    if (tok.negative) ++abs.begin;
    std::int64_t v = 0;
    if (!token_to_scaled(abs, scale, v)) ctx_.fail(fmt::format("key '{}' is too large ({})", key, show(text)), expected);
    return v;
  }

  // An array of non-negative integers (uint64), appended to out.
  void u64_array(std::string_view key, std::vector<std::uint64_t>& out, const char* expected) {
    if (p_ >= end_ || *p_ != '[') {
      if (std::strcmp(kind_here(), "not a JSON value") == 0) syntax("a JSON value");
      ctx_.fail(fmt::format("key '{}' is {}", key, kind_here()), expected);
    }
    ++p_;
    ws();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      return;
    }
    for (;;) {
      ws();
      NumberToken tok;
      if (p_ >= end_ || !(*p_ == '-' || (*p_ >= '0' && *p_ <= '9'))) {
        if (std::strcmp(kind_here(), "not a JSON value") == 0) syntax("a JSON value");
        ctx_.fail(fmt::format("key '{}' element {} is {}", key, out.size(), kind_here()), expected);
      }
      if (!scan_number(p_, end_, tok)) syntax("a JSON number");
      std::string_view text(tok.begin, static_cast<std::size_t>(tok.end - tok.begin));
      std::uint64_t v = 0;
      if (!tok.integral || tok.negative || !token_to_u64(tok, v)) {
        ctx_.fail(fmt::format("key '{}' element {} is {}", key, out.size(), show(text)), expected);
      }
      out.push_back(v);
      p_ = tok.end;
      ws();
      if (p_ < end_ && *p_ == ',') {
        ++p_;
        continue;
      }
      expect(']', "',' or ']' in the array");
      break;
    }
  }

  // Any JSON value, checked against the grammar and discarded.
  void skip_value(int depth = 0) {
    if (depth > 64) syntax("less deeply nested values");
    ws();
    if (p_ >= end_) syntax("a JSON value");
    char c = *p_;
    if (c == '"') {
      string();
    } else if (c == '{' || c == '[') {
      const char close = c == '{' ? '}' : ']';
      ++p_;
      ws();
      if (p_ < end_ && *p_ == close) {
        ++p_;
        return;
      }
      for (;;) {
        ws();
        if (close == '}') {
          string();
          ws();
          expect(':', "':' after a key");
        }
        skip_value(depth + 1);
        ws();
        if (p_ < end_ && *p_ == ',') {
          ++p_;
          continue;
        }
        expect(close, close == '}' ? "',' or '}'" : "',' or ']'");
        break;
      }
    } else if (c == 't' || c == 'f' || c == 'n') {
      for (std::string_view lit : {std::string_view("true"), std::string_view("false"), std::string_view("null")}) {
        if (static_cast<std::size_t>(end_ - p_) >= lit.size() && std::string_view(p_, lit.size()) == lit) {
          p_ += lit.size();
          return;
        }
      }
      syntax("a JSON value");
    } else {
      NumberToken tok;
      if (!scan_number(p_, end_, tok)) syntax("a JSON value");
      p_ = tok.end;
    }
  }

 private:
  const LineContext& ctx_;
  const char* p_;
  const char* end_;
  std::string scratch_;
};

// ---------------------------------------------------------------------------------------------
// Per-format line readers. Each appends one Request (arrival in the format's own origin).

struct Reader {
  const std::string& name;
  const TraceOptions& opt;
  std::vector<Request>& out;
  std::vector<std::uint64_t> hashes;  // reused per line

  void check_hashes(const LineContext& ctx, std::int64_t input_tokens, const char* key) const {
    if (opt.block_tokens <= 0 || hashes.empty()) return;
    std::int64_t want = (input_tokens + opt.block_tokens - 1) / opt.block_tokens;
    if (static_cast<std::int64_t>(hashes.size()) != want) {
      ctx.fail(fmt::format("key '{}' has {} ids for {} input tokens", key, hashes.size(), input_tokens),
               fmt::format("ceil({}/{}) = {} ids, one per {}-token block", input_tokens, opt.block_tokens, want,
                           opt.block_tokens));
    }
  }

  void mooncake(const LineContext& ctx, const char* b, const char* e) {
    JsonLine js(ctx, b, e);
    enum : unsigned { kTs = 1, kIn = 2, kOut = 4, kHash = 8 };
    unsigned seen = 0;
    Request r;
    hashes.clear();
    auto once = [&](std::string_view key, unsigned bit) {
      if (seen & bit) ctx.fail(fmt::format("key '{}' appears twice", key), "each key once");
      seen |= bit;
    };
    js.object([&](std::string_view key) {
      if (key == "timestamp") {
        once(key, kTs);
        r.arrival_ns = js.scaled(key, 6, "a non-negative number of milliseconds");
      } else if (key == "input_length") {
        once(key, kIn);
        r.input_tokens = js.integer(key, INT64_MAX, "a non-negative integer");
      } else if (key == "output_length") {
        once(key, kOut);
        r.output_tokens = js.integer(key, INT64_MAX, "a non-negative integer");
      } else if (key == "hash_ids") {
        once(key, kHash);
        js.u64_array(key, hashes, "an array of non-negative integers");
      } else {
        js.skip_value();  // Mooncake traces may carry fields this simulator does not use.
      }
    });
    static constexpr std::array<std::pair<unsigned, const char*>, 4> kRequired = {
        {{kTs, "timestamp"}, {kIn, "input_length"}, {kOut, "output_length"}, {kHash, "hash_ids"}}};
    for (auto [bit, key] : kRequired) {
      if (!(seen & bit)) {
        ctx.fail(fmt::format("missing key '{}'", key),
                 "keys timestamp (ms), input_length, output_length, hash_ids");
      }
    }
    check_hashes(ctx, r.input_tokens, "hash_ids");
    r.block_hashes.assign(hashes.begin(), hashes.end());
    out.push_back(std::move(r));
  }

  void moska(const LineContext& ctx, const char* b, const char* e) {
    JsonLine js(ctx, b, e);
    enum : unsigned { kArr = 1, kIn = 2, kOut = 4, kHash = 8, kCorpus = 16, kFamily = 32, kSim = 64 };
    unsigned seen = 0;
    Request r;
    hashes.clear();
    auto once = [&](std::string_view key, unsigned bit) {
      if (seen & bit) ctx.fail(fmt::format("key '{}' appears twice", key), "each key once");
      seen |= bit;
    };
    js.object([&](std::string_view key) {
      if (key == "arrival_s") {
        once(key, kArr);
        r.arrival_ns = js.scaled(key, 9, "a non-negative number of seconds");
      } else if (key == "input_tokens") {
        once(key, kIn);
        r.input_tokens = js.integer(key, INT64_MAX, "a non-negative integer");
      } else if (key == "output_tokens") {
        once(key, kOut);
        r.output_tokens = js.integer(key, INT64_MAX, "a non-negative integer");
      } else if (key == "hash_ids") {
        once(key, kHash);
        js.u64_array(key, hashes, "an array of non-negative integers");
      } else if (key == "corpus") {
        once(key, kCorpus);
        r.corpus = static_cast<std::int32_t>(js.integer(key, kMax32, "a corpus index, an integer >= 0"));
      } else if (key == "family") {
        once(key, kFamily);
        r.family = static_cast<std::int32_t>(js.integer(key, kMax32, "a family id, an integer >= 0"));
      } else if (key == "similarity") {
        once(key, kSim);
        const std::int64_t micro = js.scaled(key, 6, "a similarity in [0, 1]");
        if (micro > 1'000'000) ctx.fail(fmt::format("key 'similarity' is above 1"), "a similarity in [0, 1]");
        r.similarity = static_cast<double>(micro) / 1e6;
      } else {
        ctx.fail(fmt::format("unknown key '{}'", show(key)),
                 "only arrival_s, input_tokens, output_tokens, hash_ids, corpus, family, similarity");
      }
    });
    if (((seen & kFamily) != 0) != ((seen & kSim) != 0)) {
      ctx.fail("'family' and 'similarity' come together", "both keys or neither");
    }
    static constexpr std::array<std::pair<unsigned, const char*>, 3> kRequired = {
        {{kArr, "arrival_s"}, {kIn, "input_tokens"}, {kOut, "output_tokens"}}};
    for (auto [bit, key] : kRequired) {
      if (!(seen & bit)) {
        ctx.fail(fmt::format("missing key '{}'", key),
                 "keys arrival_s, input_tokens, output_tokens, and optionally hash_ids, corpus");
      }
    }
    check_hashes(ctx, r.input_tokens, "hash_ids");
    r.block_hashes.assign(hashes.begin(), hashes.end());
    out.push_back(std::move(r));
  }
};

// ---------------------------------------------------------------------------------------------
// CSV: fields separated by ',', optionally in double quotes (a quoted field's "" is kept as is:
// the readers only interpret numeric fields).

void split_csv(const LineContext& ctx, const char* b, const char* e, std::vector<std::string_view>& fields) {
  fields.clear();
  const char* p = b;
  for (;;) {
    if (p < e && *p == '"') {
      const char* start = ++p;
      for (;;) {
        if (p >= e) ctx.fail(fmt::format("unterminated quoted field at column {}", ctx.column(start - 1)), "a closing '\"'");
        if (*p == '"') {
          if (p + 1 < e && p[1] == '"') {
            p += 2;
            continue;
          }
          break;
        }
        ++p;
      }
      fields.emplace_back(start, static_cast<std::size_t>(p - start));
      ++p;
      if (p < e && *p != ',') ctx.fail(fmt::format("text after a quoted field at column {}", ctx.column(p)), "',' after the closing quote");
    } else {
      const char* start = p;
      while (p < e && *p != ',') ++p;
      fields.emplace_back(start, static_cast<std::size_t>(p - start));
    }
    if (p >= e) break;
    ++p;  // ','
  }
}

std::int64_t csv_integer(const LineContext& ctx, std::string_view column, std::string_view text) {
  NumberToken tok;
  const char* b = text.data();
  const char* e = b + text.size();
  std::uint64_t v = 0;
  if (!scan_number(b, e, tok) || tok.end != e || !tok.integral) {
    ctx.fail(fmt::format("column '{}' is '{}'", column, show(text)), "a non-negative integer");
  }
  if (tok.negative) ctx.fail(fmt::format("column '{}' is negative ({})", column, text), "a non-negative integer");
  if (!token_to_u64(tok, v) || v > static_cast<std::uint64_t>(INT64_MAX)) {
    ctx.fail(fmt::format("column '{}' is too large ({})", column, show(text)), "a non-negative integer");
  }
  return static_cast<std::int64_t>(v);
}

std::int64_t csv_seconds_to_ns(const LineContext& ctx, std::string_view column, std::string_view text) {
  NumberToken tok;
  const char* b = text.data();
  const char* e = b + text.size();
  if (!scan_number(b, e, tok) || tok.end != e) {
    ctx.fail(fmt::format("column '{}' is '{}'", column, show(text)), "a non-negative number of seconds");
  }
  if (tok.negative) ctx.fail(fmt::format("column '{}' is negative ({})", column, text), "a non-negative number of seconds");
  std::int64_t v = 0;
  if (!token_to_scaled(tok, 9, v)) ctx.fail(fmt::format("column '{}' is too large ({})", column, show(text)), "seconds below 9.2e9");
  return v;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// "YYYY-MM-DD HH:MM:SS[.f]" (up to 9 fractional digits) -> ns since 1970-01-01 00:00 (no zone).
std::int64_t parse_datetime_ns(const LineContext& ctx, std::string_view column, std::string_view s) {
  const char* kForm = "a date-time YYYY-MM-DD HH:MM:SS[.fffffff]";
  auto bad = [&](const char* why) -> void {
    ctx.fail(fmt::format("column '{}' is '{}': {}", column, show(s), why), kForm);
  };
  auto digits = [&](std::size_t pos, std::size_t n) -> unsigned {
    unsigned v = 0;
    for (std::size_t i = pos; i < pos + n; ++i) {
      if (i >= s.size() || s[i] < '0' || s[i] > '9') bad("not a date-time");
      v = v * 10 + static_cast<unsigned>(s[i] - '0');
    }
    return v;
  };
  if (s.size() < 19 || s[4] != '-' || s[7] != '-' || (s[10] != ' ' && s[10] != 'T') || s[13] != ':' || s[16] != ':') {
    bad("not a date-time");
  }
  unsigned year = digits(0, 4), month = digits(5, 2), day = digits(8, 2);
  unsigned hour = digits(11, 2), minute = digits(14, 2), second = digits(17, 2);
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12) bad("month out of range");
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  unsigned mdays = kDays[month - 1] + (month == 2 && leap ? 1 : 0);
  if (day < 1 || day > mdays) bad("day out of range");
  if (hour > 23 || minute > 59 || second > 59) bad("time of day out of range");
  std::int64_t frac_ns = 0;
  if (s.size() > 19) {
    if (s[19] != '.' || s.size() == 20) bad("not a date-time");
    std::size_t n = s.size() - 20;
    if (n > 9) bad("more than 9 fractional digits");
    frac_ns = digits(20, n) * static_cast<std::int64_t>(kPow10[9 - n]);
  }
  std::int64_t secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
  return secs * 1'000'000'000 + frac_ns;
}

struct CsvSchema {
  const char* format;
  std::vector<std::string_view> required;
  std::vector<std::string_view> optional;
};

// Maps header names to column indices (required first, in the order given); -1 for absent optionals.
std::vector<int> map_header(const LineContext& ctx, const std::vector<std::string_view>& header, const CsvSchema& schema) {
  std::vector<int> idx(schema.required.size() + schema.optional.size(), -1);
  std::string all;
  for (auto n : schema.required) all += fmt::format("{}'{}'", all.empty() ? "" : ", ", n);
  for (auto n : schema.optional) all += fmt::format(", '{}'", n);
  for (std::size_t c = 0; c < header.size(); ++c) {
    std::size_t k = 0;
    for (; k < idx.size(); ++k) {
      auto want = k < schema.required.size() ? schema.required[k] : schema.optional[k - schema.required.size()];
      if (header[c] == want) break;
    }
    if (k == idx.size()) {
      ctx.fail(fmt::format("unknown {} column '{}'", schema.format, show(header[c])), fmt::format("columns {}", all));
    }
    if (idx[k] >= 0) ctx.fail(fmt::format("column '{}' appears twice", header[c]), "each column once");
    idx[k] = static_cast<int>(c);
  }
  for (std::size_t k = 0; k < schema.required.size(); ++k) {
    if (idx[k] < 0) {
      ctx.fail(fmt::format("{} header lacks column '{}'", schema.format, schema.required[k]), fmt::format("columns {}", all));
    }
  }
  return idx;
}

// ---------------------------------------------------------------------------------------------

std::string_view strip_bom(std::string_view text) {
  if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF && static_cast<unsigned char>(text[1]) == 0xBB &&
      static_cast<unsigned char>(text[2]) == 0xBF) {
    text.remove_prefix(3);
  }
  return text;
}

bool blank(const char* b, const char* e) {
  for (; b < e; ++b) {
    if (*b != ' ' && *b != '\t' && *b != '\r') return false;
  }
  return true;
}

// Calls fn(line_number, begin, end) for each non-blank line (end excludes "\n" and a trailing "\r").
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

std::string_view first_line(std::string_view text) {
  std::string_view found;
  for_each_line(text, [&](std::size_t, const char* b, const char* e) {
    found = std::string_view(b, static_cast<std::size_t>(e - b));
    return false;
  });
  return found;
}

}  // namespace

TraceFormat parse_trace_format(std::string_view name) {
  if (name == "mooncake") return TraceFormat::mooncake;
  if (name == "azure") return TraceFormat::azure;
  if (name == "burstgpt") return TraceFormat::burstgpt;
  if (name == "moska") return TraceFormat::moska;
  throw InputError(fmt::format("unknown trace format '{}' (expected mooncake, azure, burstgpt or moska)", show(name)));
}

std::string_view trace_format_name(TraceFormat f) {
  switch (f) {
    case TraceFormat::mooncake: return "mooncake";
    case TraceFormat::azure: return "azure";
    case TraceFormat::burstgpt: return "burstgpt";
    case TraceFormat::moska: return "moska";
  }
  return "?";
}

std::optional<TraceFormat> detect_trace_format(std::string_view text) {
  std::string_view line = first_line(strip_bom(text));
  std::size_t i = line.find_first_not_of(" \t");
  if (i == std::string_view::npos) return std::nullopt;
  line.remove_prefix(i);
  if (line.front() == '{') {
    if (line.find("\"arrival_s\"") != std::string_view::npos) return TraceFormat::moska;
    if (line.find("\"timestamp\"") != std::string_view::npos) return TraceFormat::mooncake;
    return std::nullopt;
  }
  if (line.substr(0, 10) == "TIMESTAMP," && line.find("ContextTokens") != std::string_view::npos) return TraceFormat::azure;
  if (line.find("Timestamp") != std::string_view::npos && line.find("Request tokens") != std::string_view::npos) {
    return TraceFormat::burstgpt;
  }
  return std::nullopt;
}

std::vector<Request> parse_trace(std::string_view text, const std::string& name, const TraceOptions& opt) {
  if (!(opt.speedup > 0) || !std::isfinite(opt.speedup)) {
    throw InputError(fmt::format("{}: speedup is {} (expected a finite number > 0)", name, opt.speedup));
  }
  if (!(opt.window_start_s >= 0) || !std::isfinite(opt.window_start_s) || !(opt.window_end_s > opt.window_start_s)) {
    throw InputError(fmt::format("{}: window [{}, {}) s (expected 0 <= window_start_s < window_end_s)", name,
                                 opt.window_start_s, opt.window_end_s));
  }
  if (opt.block_tokens < 0) {
    throw InputError(fmt::format("{}: block_tokens is {} (expected >= 0; 0 = unchecked)", name, opt.block_tokens));
  }
  text = strip_bom(text);
  TraceFormat format;
  if (opt.format) {
    format = *opt.format;
  } else if (auto f = detect_trace_format(text)) {
    format = *f;
  } else if (first_line(text).empty()) {
    throw InputError(fmt::format("{}: empty trace (expected at least one request)", name));
  } else {
    throw InputError(fmt::format(
        "{}: cannot tell the trace format from its first line '{}' (expected a Mooncake JSONL object with "
        "\"timestamp\", a moska JSONL object with \"arrival_s\", or an Azure/BurstGPT CSV header); name the "
        "format explicitly",
        name, show(first_line(text))));
  }

  std::vector<Request> out;
  out.reserve(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
  Reader reader{name, opt, out, {}};
  LineContext ctx{&name};

  switch (format) {
    case TraceFormat::mooncake:
    case TraceFormat::moska:
      for_each_line(text, [&](std::size_t line, const char* b, const char* e) {
        ctx.line = line;
        ctx.line_begin = b;
        if (format == TraceFormat::mooncake) {
          reader.mooncake(ctx, b, e);
        } else {
          reader.moska(ctx, b, e);
        }
        return true;
      });
      break;
    case TraceFormat::azure:
    case TraceFormat::burstgpt: {
      const bool azure = format == TraceFormat::azure;
      CsvSchema schema = azure ? CsvSchema{"Azure LLM trace", {"TIMESTAMP", "ContextTokens", "GeneratedTokens"}, {}}
                               : CsvSchema{"BurstGPT", {"Timestamp", "Request tokens", "Response tokens"},
                                           {"Model", "Total tokens", "Log Type", "Session ID", "Elapsed time"}};
      std::vector<std::string_view> fields;
      std::vector<int> col;
      std::size_t ncols = 0;
      std::int64_t earliest = INT64_MAX;
      for_each_line(text, [&](std::size_t line, const char* b, const char* e) {
        ctx.line = line;
        ctx.line_begin = b;
        split_csv(ctx, b, e, fields);
        if (col.empty()) {
          col = map_header(ctx, fields, schema);
          ncols = fields.size();
          return true;
        }
        if (fields.size() != ncols) {
          ctx.fail(fmt::format("{} fields", fields.size()), fmt::format("{} comma-separated fields, as in the header", ncols));
        }
        Request r;
        r.arrival_ns = azure ? parse_datetime_ns(ctx, schema.required[0], fields[static_cast<std::size_t>(col[0])])
                             : csv_seconds_to_ns(ctx, schema.required[0], fields[static_cast<std::size_t>(col[0])]);
        r.input_tokens = csv_integer(ctx, schema.required[1], fields[static_cast<std::size_t>(col[1])]);
        r.output_tokens = csv_integer(ctx, schema.required[2], fields[static_cast<std::size_t>(col[2])]);
        if (!azure && col[4] >= 0) {  // BurstGPT's Total tokens: an integer when present (not checked against the sum)
          csv_integer(ctx, "Total tokens", fields[static_cast<std::size_t>(col[4])]);
        }
        earliest = std::min(earliest, r.arrival_ns);
        out.push_back(std::move(r));
        return true;
      });
      if (col.empty()) throw InputError(fmt::format("{}: empty trace (expected a CSV header)", name));
      // Azure timestamps are wall-clock date-times: arrival = time since the earliest row.
      if (azure && !out.empty()) {
        for (auto& r : out) r.arrival_ns -= earliest;
      }
      break;
    }
  }

  for (auto& r : out) {
    r.input_tokens = std::max<std::int64_t>(r.input_tokens, 1);
    r.output_tokens = std::max<std::int64_t>(r.output_tokens, 1);
  }
  auto by_arrival = [](const Request& a, const Request& b) { return a.arrival_ns < b.arrival_ns; };
  if (!std::is_sorted(out.begin(), out.end(), by_arrival)) std::stable_sort(out.begin(), out.end(), by_arrival);

  // Window in trace time, then the cap, then the speed-up.
  const std::int64_t start_ns = std::llround(opt.window_start_s * 1e9);
  const bool bounded = std::isfinite(opt.window_end_s) && opt.window_end_s * 1e9 < 9.2e18;
  const std::int64_t end_ns = bounded ? std::llround(opt.window_end_s * 1e9) : INT64_MAX;
  if (start_ns > 0 || bounded) {
    auto first = std::lower_bound(out.begin(), out.end(), start_ns,
                                  [](const Request& r, std::int64_t t) { return r.arrival_ns < t; });
    auto last = std::lower_bound(first, out.end(), end_ns,
                                 [](const Request& r, std::int64_t t) { return r.arrival_ns < t; });
    out.erase(last, out.end());
    out.erase(out.begin(), first);
    for (auto& r : out) r.arrival_ns -= start_ns;
  }
  if (opt.max_requests > 0 && out.size() > opt.max_requests) out.resize(opt.max_requests);
  if (opt.speedup != 1.0) {
    for (auto& r : out) r.arrival_ns = std::llround(static_cast<double>(r.arrival_ns) / opt.speedup);
  }
  for (std::size_t i = 0; i < out.size(); ++i) out[i].id = i;
  out.shrink_to_fit();
  return out;
}

std::vector<Request> read_trace(const std::string& path, const TraceOptions& opt) {
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw InputError(fmt::format("{}: cannot open trace file (expected a readable file)", path));
  std::string text;
  char buf[1 << 16];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) text.append(buf, n);
  if (std::ferror(f.get())) throw InputError(fmt::format("{}: error reading trace file", path));
  return parse_trace(text, path, opt);
}

}  // namespace moska
