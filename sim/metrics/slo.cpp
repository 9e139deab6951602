#include "sim/metrics/slo.hpp"

#include <algorithm>
#include <stdexcept>

#include "sim/metrics/metrics.hpp"

namespace moska {

// Seconds as ns / 1e9 (correctly rounded), not ns * 1e-9: a TTFT of exactly 30 s is 30.0, so a
// request sitting exactly on a bound meets it.
double request_ttft_s(const RequestRecord& q) {
  if (q.rejected || q.first_token < 0) return -1;
  return static_cast<double>(q.first_token - q.arrival) / 1e9;
}

double request_mean_tbt_s(const RequestRecord& q) {
  if (q.rejected || q.finish < 0 || q.first_token < 0 || q.output_tokens < 2) return -1;
  double ns = static_cast<double>(q.finish - q.first_token) / static_cast<double>(q.output_tokens - 1);
  return ns / 1e9;
}

double request_tbt_s(const RunResult& r, std::size_t i, const SloSpec& slo) {
  const auto& q = r.requests[i];
  if (slo.tbt_slowest_fraction <= 0) return request_mean_tbt_s(q);
  if (r.tbt_slowest_fraction != slo.tbt_slowest_fraction || r.request_tbt_slowest.size() != r.requests.size()) {
    throw std::logic_error("SLO on the slowest fraction of token gaps, but the run did not track that fraction");
  }
  if (q.rejected || q.finish < 0 || q.output_tokens < 2) return -1;
  return r.request_tbt_slowest[i];
}

SloResult evaluate_slo(const RunResult& r, const SloSpec& slo) {
  SloResult s;
  s.spec = slo;
  s.enabled = slo.any();
  s.requests = static_cast<std::int64_t>(r.requests.size());
  double met_tokens = 0;
  for (std::size_t i = 0; i < r.requests.size(); ++i) {
    const auto& q = r.requests[i];
    if (q.rejected) {
      ++s.rejected;
      continue;
    }
    if (q.finish < 0) {
      ++s.unfinished;
      continue;
    }
    bool ok = true;
    if (slo.ttft_s > 0 && request_ttft_s(q) > slo.ttft_s) {
      ++s.missed_ttft;
      ok = false;
    }
    double tbt = request_tbt_s(r, i, slo);
    if (slo.tbt_s > 0 && tbt >= 0 && tbt > slo.tbt_s) {
      ++s.missed_tbt;
      ok = false;
    }
    if (ok) {
      ++s.met;
      met_tokens += q.output_tokens;
    }
  }
  if (s.requests > 0) s.attainment = static_cast<double>(s.met) / static_cast<double>(s.requests);
  if (r.sim_seconds > 0) {
    s.goodput_requests_per_s = static_cast<double>(s.met) / r.sim_seconds;
    s.goodput_tokens_per_s = met_tokens / r.sim_seconds;
  }
  return s;
}

std::vector<SloCurvePoint> slo_curve(const RunResult& r, const SloSpec& slo, const std::vector<double>& tbt_bounds_s) {
  // Each finished request that meets the TTFT bound, by its TBT (one with a single token has none:
  // it meets every TBT bound); then one count per bound.
  std::vector<double> tbt;
  for (std::size_t i = 0; i < r.requests.size(); ++i) {
    const auto& q = r.requests[i];
    if (q.rejected || q.finish < 0) continue;
    if (slo.ttft_s > 0 && request_ttft_s(q) > slo.ttft_s) continue;
    tbt.push_back(std::max(0.0, request_tbt_s(r, i, slo)));
  }
  std::sort(tbt.begin(), tbt.end());
  std::vector<SloCurvePoint> out;
  for (double b : tbt_bounds_s) {
    SloCurvePoint p;
    p.tbt_s = b;
    p.met = static_cast<std::int64_t>(std::upper_bound(tbt.begin(), tbt.end(), b) - tbt.begin());
    if (!r.requests.empty()) p.attainment = static_cast<double>(p.met) / static_cast<double>(r.requests.size());
    out.push_back(p);
  }
  return out;
}

}  // namespace moska
