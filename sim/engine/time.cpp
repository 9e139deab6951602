#include "sim/engine/time.hpp"

#include <fmt/format.h>

#include "sim/util/error.hpp"

namespace moska {

TimeNs input_seconds_to_ns(double s, std::string_view what) {
  if (!std::isfinite(s) || s < 0) {
    throw InputError(fmt::format("{} is {} (expected a finite number of seconds >= 0)", what, s));
  }
  const double ns = std::nearbyint(s * 1e9);
  if (!(ns < 9.2e18)) {
    throw InputError(fmt::format("{} is {} s, beyond the simulated clock's range (9.2e9 s, about 292 years)", what, s));
  }
  return static_cast<TimeNs>(ns);
}

}  // namespace moska
