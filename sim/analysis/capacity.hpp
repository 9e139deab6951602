#pragma once
// The effective request capacity of a configuration: the highest load (trace speedup or generator
// rate) at which the share of requests meeting an SLO is still >= a target. Found by bracketing
// (halve the low end until it passes, double the high end until it fails) and then bisection down to
// a relative tolerance. Bisection assumes attainment falls monotonically with load; every probe is
// kept (and handed to a callback as it runs) so a non-monotone curve shows. Each probe is one full,
// deterministic run, made by the caller's `evaluate` (`capacity` builds the scenario with the knob
// set and replays it; `plan` rescales requests it loaded once). Status: "ok" (capacity found),
// "below_lo" (missed down to 2^-max_halvings of the start), "below_lo_plateau" (missed, and halving
// the load changed nothing), "above_hi" (still met after max_doublings doublings).
#include <deque>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/metrics/metrics.hpp"
#include "sim/workload/request.hpp"

namespace moska {

// When a load passes: `attainment` (share of all requests meeting both bounds >= target) or `p90`
// (P90 TTFT and P90 token-level TBT under their bounds, as Mooncake states its SLO).
struct CapacityCriterion {
  SloSpec slo;
  double target = 0.9;
  bool p90 = false;
  bool passes(const Summary& s) const;
};

struct CapacityProbe {
  double knob = 0;
  double arrival_rate = 0;  // (requests - 1) / arrival span of the replayed requests, per second
  Summary s;
  bool pass = false;
};

struct CapacityOptions {
  double lo = 1;   // first load probed
  double hi = 2;   // first failing candidate (grown x2 while it passes)
  double tol = 0.02;  // stop when hi - lo <= tol x lo
  int max_halvings = 20;   // a factor of ~10^6 either way
  int max_doublings = 20;
  // Halving stops early when this many halvings in a row change nothing (attainment, p90 TTFT, p90
  // per-request TBT all exactly equal): the misses do not come from load (prompts too long for the
  // TTFT bound alone, requests that arrive together at any speed).
  int plateau_steps = 3;
};

struct CapacityResult {
  std::string status;                // ok, below_lo, below_lo_plateau, above_hi
  std::deque<CapacityProbe> probes;  // in the order they ran
  double lo = 0, hi = 0;             // ok: lo the highest load that met the target, hi the lowest above it that missed
  const CapacityProbe& at(double knob) const;  // the probe run at `knob` (it must have run)
};

// (requests - 1) / (last arrival - first arrival), per second; 0 with fewer than 2 requests or all
// arriving at one instant.
double arrival_rate_per_s(const std::vector<Request>& reqs);

// Runs the search; `evaluate(x)` runs the configuration at knob x and returns its probe (knob,
// arrival rate, summary; `pass` is set here from the criterion). `on_probe` sees each new probe.
CapacityResult find_capacity(const CapacityCriterion& criterion, const CapacityOptions& opt,
                             const std::function<CapacityProbe(double)>& evaluate,
                             const std::function<void(const CapacityProbe&)>& on_probe = {});

nlohmann::json capacity_probe_json(const CapacityProbe& p);

}  // namespace moska
