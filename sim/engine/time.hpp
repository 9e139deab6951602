#pragma once
// Simulated time is an integer count of nanoseconds: exact, ordered, and the same on every machine.
#include <cmath>
#include <cstdint>
#include <limits>

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

}  // namespace moska
