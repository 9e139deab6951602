#pragma once
// Service-level objectives on a run's per-request records: per-request time between tokens, SLO
// attainment (share of all requests that meet the TTFT and TBT bounds) and goodput (finished
// requests that meet them, per second of simulated time).
#include <cstddef>
#include <cstdint>
#include <vector>

namespace moska {

struct RequestRecord;  // sim/metrics/metrics.hpp (which includes this header for Summary::slo)
struct RunResult;

// A bound of 0 is unbounded. A request meets the SLO when it finished, its TTFT <= ttft_s and its
// mean time between tokens <= tbt_s (a request with one output token has no TBT: only TTFT counts).
struct SloSpec {
  double ttft_s = 0;
  double tbt_s = 0;
  // Which per-request TBT the bound applies to: 0 = its mean gap; p in (0, 1] = the mean of its
  // slowest p of gaps (Mooncake FAST'25: p = 0.1), which the run must have tracked
  // (RunResult::request_tbt_slowest, scenario slo.tbt_slowest_percent).
  double tbt_slowest_fraction = 0;
  bool any() const { return ttft_s > 0 || tbt_s > 0; }
};

// TTFT of a request that produced its first token, in seconds (exact: ns / 1e9); -1 if none.
double request_ttft_s(const RequestRecord& q);
// Mean time between tokens of a finished request with >= 2 output tokens:
// (finish - first_token) / (output_tokens - 1), in seconds; -1 when it has none.
double request_mean_tbt_s(const RequestRecord& q);
// The per-request TBT that `slo` bounds (mean, or slowest fraction) of request i; -1 when it has none.
// Throws std::logic_error when the slowest fraction was asked for but the run did not track it.
double request_tbt_s(const RunResult& r, std::size_t i, const SloSpec& slo);

struct SloResult {
  SloSpec spec;
  bool enabled = false;  // spec.any()
  std::int64_t requests = 0;   // all of them: the denominator of attainment
  std::int64_t met = 0;        // finished and within both bounds
  std::int64_t missed_ttft = 0;  // finished, TTFT over the bound (may also miss TBT)
  std::int64_t missed_tbt = 0;   // finished, mean TBT over the bound (may also miss TTFT)
  std::int64_t rejected = 0;
  std::int64_t unfinished = 0;
  double attainment = 0;              // met / requests (0 when there are none)
  double goodput_requests_per_s = 0;  // met / simulated seconds
  double goodput_tokens_per_s = 0;    // output tokens of the met requests / simulated seconds
};

SloResult evaluate_slo(const RunResult& r, const SloSpec& slo);

// Mooncake's effective request capacity curve (FAST'25 Fig. 1): at one run (one load), the share of
// all requests meeting TTFT <= slo.ttft_s and a per-request TBT (slo's statistic) <= each bound.
struct SloCurvePoint {
  double tbt_s = 0;
  double attainment = 0;
  std::int64_t met = 0;
};
std::vector<SloCurvePoint> slo_curve(const RunResult& r, const SloSpec& slo, const std::vector<double>& tbt_bounds_s);

}  // namespace moska
