#include "sim/analysis/capacity.hpp"

#include <algorithm>
#include <map>
#include <stdexcept>

namespace moska {

bool CapacityCriterion::passes(const Summary& s) const {
  if (p90) return (slo.ttft_s <= 0 || s.ttft_p90 <= slo.ttft_s) && (slo.tbt_s <= 0 || s.tbt_p90 <= slo.tbt_s);
  return s.slo.attainment >= target;
}

const CapacityProbe& CapacityResult::at(double knob) const {
  for (const auto& p : probes) {
    if (p.knob == knob) return p;
  }
  throw std::logic_error("capacity: no probe at that load");
}

double arrival_rate_per_s(const std::vector<Request>& reqs) {
  if (reqs.size() < 2) return 0;
  TimeNs first = reqs.front().arrival_ns, last = reqs.front().arrival_ns;
  for (const auto& q : reqs) {
    first = std::min(first, q.arrival_ns);
    last = std::max(last, q.arrival_ns);
  }
  if (last <= first) return 0;
  return static_cast<double>(reqs.size() - 1) / (static_cast<double>(last - first) / 1e9);
}

CapacityResult find_capacity(const CapacityCriterion& criterion, const CapacityOptions& opt,
                             const std::function<CapacityProbe(double)>& evaluate,
                             const std::function<void(const CapacityProbe&)>& on_probe) {
  CapacityResult res;
  std::map<double, std::size_t> seen;
  auto probe = [&](double x) -> const CapacityProbe& {
    if (auto it = seen.find(x); it != seen.end()) return res.probes[it->second];
    CapacityProbe p = evaluate(x);
    p.knob = x;
    p.pass = criterion.passes(p.s);
    seen[x] = res.probes.size();
    res.probes.push_back(std::move(p));
    if (on_probe) on_probe(res.probes.back());
    return res.probes.back();
  };

  double lo = opt.lo, hi = opt.hi;
  // Bracket: lo passes, hi fails.
  std::string status = "ok";
  bool hi_known_to_fail = false;
  int steps = 0, unchanged = 0;
  const CapacityProbe* previous = nullptr;
  while (!probe(lo).pass) {
    const CapacityProbe& p = probe(lo);
    bool same = previous && p.s.slo.attainment == previous->s.slo.attainment && p.s.ttft_p90 == previous->s.ttft_p90 &&
                p.s.req_tbt_p90 == previous->s.req_tbt_p90;
    unchanged = same ? unchanged + 1 : 0;
    previous = &p;
    if (++steps > opt.max_halvings || unchanged >= opt.plateau_steps) {
      status = unchanged >= opt.plateau_steps ? "below_lo_plateau" : "below_lo";
      break;
    }
    hi = lo;
    hi_known_to_fail = true;
    lo /= 2;
  }
  if (status == "ok" && !hi_known_to_fail) {
    steps = 0;
    while (probe(hi).pass) {
      if (++steps > opt.max_doublings) {
        status = "above_hi";
        break;
      }
      lo = hi;
      hi *= 2;
    }
  }
  if (status == "ok") {
    while (hi - lo > opt.tol * lo) {
      double mid = (lo + hi) / 2;
      if (probe(mid).pass) lo = mid;
      else hi = mid;
    }
  }
  res.status = status;
  res.lo = lo;
  res.hi = hi;
  return res;
}

nlohmann::json capacity_probe_json(const CapacityProbe& p) {
  nlohmann::json j = {{"knob", p.knob},
          {"status", p.s.status},
          {"arrival_requests_per_s", p.arrival_rate},
          {"attainment", p.s.slo.attainment},
          {"pass", p.pass},
          {"goodput_requests_per_s", p.s.slo.goodput_requests_per_s},
          {"goodput_output_tokens_per_s", p.s.slo.goodput_tokens_per_s},
          {"ttft_p90_s", p.s.ttft_p90},
          {"req_tbt_p90_s", p.s.req_tbt_p90},
          {"tbt_p90_s", p.s.tbt_p90},
          {"missed_ttft", p.s.slo.missed_ttft},
          {"missed_tbt", p.s.slo.missed_tbt},
          {"rejected", p.s.slo.rejected},
          {"unfinished", p.s.slo.unfinished},
          {"sim_seconds", p.s.sim_seconds}};
  if (p.s.tbt_slowest_fraction > 0) j["req_tbt_slowest_p90_s"] = p.s.req_tbt_slow_p90;
  return j;
}

}  // namespace moska
