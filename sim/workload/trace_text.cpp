#include "sim/workload/trace_text.hpp"

#include <algorithm>
#include <array>
#include <cctype>

#include <fmt/format.h>

#include "sim/util/error.hpp"

namespace moska::trace_detail {

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

}  // namespace

std::uint64_t pow10_u64(std::size_t k) { return kPow10[k]; }

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
// Errors and lines.

void LineContext::fail(const std::string& what, const std::string& expected) const {
  throw InputError(fmt::format("{}:{}: {} (expected {})", *name, line, what, expected));
}

std::string show(std::string_view s) {
  constexpr std::size_t kMax = 40;
  if (s.size() <= kMax) return std::string(s);
  return std::string(s.substr(0, kMax)) + "...";
}

std::string_view strip_bom(std::string_view text) {
  if (text.size() >= 3 && static_cast<unsigned char>(text[0]) == 0xEF && static_cast<unsigned char>(text[1]) == 0xBB &&
      static_cast<unsigned char>(text[2]) == 0xBF) {
    text.remove_prefix(3);
  }
  return text;
}

std::string_view first_line(std::string_view text) {
  std::string_view found;
  for_each_line(text, [&](std::size_t, const char* b, const char* e) {
    found = std::string_view(b, static_cast<std::size_t>(e - b));
    return false;
  });
  return found;
}

// ---------------------------------------------------------------------------------------------
// JsonLine

void JsonLine::syntax(const std::string& expected) const {
  std::string found = p_ < end_ ? fmt::format("'{}'", show(std::string_view(p_, std::min<std::size_t>(1, end_ - p_))))
                                : std::string("end of line");
  ctx_.fail(fmt::format("malformed JSON at column {}: found {}", ctx_.column(p_), found), expected);
}

// A string; the view points into the line, or into scratch_ when it had escapes.
std::string_view JsonLine::string() {
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

const char* JsonLine::kind_here() const {
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

NumberToken JsonLine::number(std::string_view key, const char* expected) {
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
std::int64_t JsonLine::integer(std::string_view key, std::int64_t max_value, const char* expected) {
  NumberToken tok = number(key, expected);
  std::string_view text(tok.begin, static_cast<std::size_t>(tok.end - tok.begin));
  if (!tok.integral) ctx_.fail(fmt::format("key '{}' is {}, not an integer", key, text), expected);
  if (tok.negative) ctx_.fail(fmt::format("key '{}' is negative ({})", key, text), expected);
  std::uint64_t v = 0;
  if (!token_to_u64(tok, v) || v > static_cast<std::uint64_t>(max_value)) {
    ctx_.fail(fmt::format("key '{}' is too large ({} > {})", key, show(text), max_value), expected);
  }
  return static_cast<std::int64_t>(v);
}

// A non-negative decimal times 10^scale (exact for decimal text).
std::int64_t JsonLine::scaled(std::string_view key, int scale, const char* expected) {
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
void JsonLine::u64_array(std::string_view key, std::vector<std::uint64_t>& out, const char* expected) {
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


void JsonLine::skip_value(int depth) {
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

// ---------------------------------------------------------------------------------------------
// CSV
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

std::int64_t csv_integer(const LineContext& ctx, std::string_view column, std::string_view text, std::int64_t max_value) {
  NumberToken tok;
  const char* b = text.data();
  const char* e = b + text.size();
  std::uint64_t v = 0;
  if (!scan_number(b, e, tok) || tok.end != e || !tok.integral) {
    ctx.fail(fmt::format("column '{}' is '{}'", column, show(text)), "a non-negative integer");
  }
  if (tok.negative) ctx.fail(fmt::format("column '{}' is negative ({})", column, text), "a non-negative integer");
  if (!token_to_u64(tok, v) || v > static_cast<std::uint64_t>(max_value)) {
    ctx.fail(fmt::format("column '{}' is too large ({} > {})", column, show(text), max_value), "a non-negative integer");
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

namespace {

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

}  // namespace

// ---------------------------------------------------------------------------------------------
// The shared readers.

void read_jsonl(const TraceInput& in, const JsonlFormat& format) {
  const auto& keys = format.keys;
  LineContext ctx{&in.name};
  std::vector<std::uint64_t> hashes;  // reused per line
  const std::int64_t block = in.opt.block_tokens;
  for_each_line(in.text, [&](std::size_t line, const char* b, const char* e) {
    ctx.line = line;
    ctx.line_begin = b;
    JsonLine js(ctx, b, e);
    unsigned seen = 0;
    bool family_seen = false, similarity_seen = false;
    Request r;
    hashes.clear();
    js.object([&](std::string_view key) {
      for (std::size_t k = 0; k < keys.size(); ++k) {
        if (key != keys[k].name) continue;
        if (seen & (1u << k)) ctx.fail(fmt::format("key '{}' appears twice", key), "each key once");
        seen |= 1u << k;
        switch (keys[k].field) {
          case JsonlField::arrival: r.arrival_ns = js.scaled(key, format.arrival_scale, format.arrival_expected); break;
          case JsonlField::input_tokens: r.input_tokens = js.integer(key, kMaxRequestTokens, "a non-negative integer"); break;
          case JsonlField::output_tokens: r.output_tokens = js.integer(key, kMaxRequestTokens, "a non-negative integer"); break;
          case JsonlField::hash_ids: js.u64_array(key, hashes, "an array of non-negative integers"); break;
          case JsonlField::corpus:
            r.corpus = static_cast<std::int32_t>(js.integer(key, kMax32, "a corpus index, an integer >= 0"));
            break;
          case JsonlField::family:
            r.family = static_cast<std::int32_t>(js.integer(key, kMax32, "a family id, an integer >= 0"));
            family_seen = true;
            break;
          case JsonlField::similarity: {
            const std::int64_t micro = js.scaled(key, 6, "a similarity in [0, 1]");
            if (micro > 1'000'000) ctx.fail("key 'similarity' is above 1", "a similarity in [0, 1]");
            r.similarity = static_cast<double>(micro) / 1e6;
            similarity_seen = true;
            break;
          }
        }
        return;
      }
      if (format.unknown_expected) ctx.fail(fmt::format("unknown key '{}'", show(key)), format.unknown_expected);
      js.skip_value();  // e.g. Mooncake traces may carry fields this simulator does not use
    });
    for (std::size_t k = 0; k < keys.size(); ++k) {
      if (keys[k].required && !(seen & (1u << k))) ctx.fail(fmt::format("missing key '{}'", keys[k].name), format.missing_expected);
    }
    if (family_seen != similarity_seen) ctx.fail("'family' and 'similarity' come together", "both keys or neither");
    // Where a line has hash ids, one per block_tokens-token block of its prompt.
    if (block > 0 && !hashes.empty()) {
      const std::int64_t want = r.input_tokens / block + (r.input_tokens % block != 0);
      if (static_cast<std::int64_t>(hashes.size()) != want) {
        ctx.fail(fmt::format("key 'hash_ids' has {} ids for {} input tokens", hashes.size(), r.input_tokens),
                 fmt::format("ceil({}/{}) = {} ids, one per {}-token block", r.input_tokens, block, want, block));
      }
    }
    r.block_hashes.assign(hashes.begin(), hashes.end());
    in.out.push_back(std::move(r));
    return true;
  });
}

void read_csv(const TraceInput& in, const CsvFormat& format) {
  const CsvSchema& schema = format.schema;
  LineContext ctx{&in.name};
  std::vector<std::string_view> fields;
  std::vector<int> col;
  std::size_t ncols = 0;
  auto field = [&](std::size_t k) { return fields[static_cast<std::size_t>(col[k])]; };
  for_each_line(in.text, [&](std::size_t line, const char* b, const char* e) {
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
    r.arrival_ns = format.arrival_ns(ctx, schema.required[0], field(0));
    r.input_tokens = csv_integer(ctx, schema.required[1], field(1), kMaxRequestTokens);
    r.output_tokens = csv_integer(ctx, schema.required[2], field(2), kMaxRequestTokens);
    if (format.check_row) format.check_row(ctx, fields, col);
    in.out.push_back(std::move(r));
    return true;
  });
  if (col.empty()) throw InputError(fmt::format("{}: empty trace (expected a CSV header)", in.name));
}

}  // namespace moska::trace_detail
