// Azure LLM inference trace 2023 CSV: TIMESTAMP (a wall-clock date-time, 2023-11-16 18:15:46.6805900),
// ContextTokens, GeneratedTokens. Arrival = time since the earliest row.
#include <algorithm>

#include <fmt/format.h>

#include "sim/util/error.hpp"
#include "sim/workload/trace_text.hpp"

namespace moska::trace_detail {

namespace {

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
    frac_ns = digits(20, n) * static_cast<std::int64_t>(pow10_u64(9 - n));
  }
  std::int64_t secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second;
  std::int64_t ns = 0;
  if (__builtin_mul_overflow(secs, std::int64_t{1'000'000'000}, &ns) || __builtin_add_overflow(ns, frac_ns, &ns)) {
    bad("beyond the nanosecond clock's range (years 1678 to 2262)");
  }
  return ns;
}

}  // namespace

void read_azure(const TraceInput& in) {
  static const CsvFormat kFormat{
      {"Azure LLM trace", {"TIMESTAMP", "ContextTokens", "GeneratedTokens"}, {}}, &parse_datetime_ns, nullptr};
  const std::size_t first = in.out.size();
  read_csv(in, kFormat);
  // Wall-clock date-times: arrival = time since the earliest row.
  if (in.out.size() > first) {
    std::int64_t earliest = INT64_MAX, latest = INT64_MIN;
    for (std::size_t i = first; i < in.out.size(); ++i) {
      earliest = std::min(earliest, in.out[i].arrival_ns);
      latest = std::max(latest, in.out[i].arrival_ns);
    }
    std::int64_t span = 0;
    if (__builtin_sub_overflow(latest, earliest, &span)) {
      throw InputError(fmt::format("{}: the TIMESTAMPs span more than the simulated clock's range (about 292 years)", in.name));
    }
    for (std::size_t i = first; i < in.out.size(); ++i) in.out[i].arrival_ns -= earliest;
  }
}

}  // namespace moska::trace_detail
