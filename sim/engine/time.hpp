#pragma once
// Simulated time is an integer count of nanoseconds: exact, ordered, and the same on every machine.
#include <cmath>
#include <cstdint>
#include <limits>
#include <string_view>

namespace moska {

using TimeNs = std::int64_t;
inline constexpr TimeNs kTimeNever = std::numeric_limits<TimeNs>::max();

// Rounds up, so a positive duration never becomes zero and causality is kept.
inline TimeNs seconds_to_ns(double s) {
  if (!(s > 0)) return 0;
  double ns = std::ceil(s * 1e9);
  if (ns >= 9.2e18) return kTimeNever;
  return static_cast<TimeNs>(ns);
}
inline double ns_to_seconds(TimeNs t) { return static_cast<double>(t) * 1e-9; }

// The clock's range in seconds: 2^63 ns, about 292 years. Any time read from the input (an arrival,
// a time limit, a window) must be below it, and a run whose events would pass it stops with an
// InputError (a duration that long comes from the input: a rate, a bandwidth, a speed-up).
inline constexpr double kClockRangeSeconds = 9223372036.854775807;

// A time or duration from the input, in seconds, as ns (rounded to nearest). Throws InputError
// naming `what` when it is not finite, negative, or not below the clock's range.
TimeNs input_seconds_to_ns(double s, std::string_view what);

}  // namespace moska
