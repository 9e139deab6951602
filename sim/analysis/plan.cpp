#include "sim/analysis/plan.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>

#include <fmt/format.h>

#include "sim/model/model_spec.hpp"
#include "sim/serving/pool_layout.hpp"
#include "sim/serving/workload_loader.hpp"
#include "sim/systems/system.hpp"
#include "sim/util/csv.hpp"
#include "sim/util/error.hpp"
#include "sim/util/json_reader.hpp"

namespace moska {

namespace {

// What interpolation between measured shapes may hide below the per-token minimum found on a grid of
// token counts: the throughput bound is taken this much looser.
constexpr double kBoundSlack = 0.95;

// The requests at speedup `s` exactly as the trace reader makes them (trace.cpp: llround(t / s)).
std::vector<Request> rescaled(const std::vector<Request>& at1, double s) {
  std::vector<Request> out = at1;
  for (auto& r : out) r.arrival_ns = std::llround(static_cast<double>(r.arrival_ns) / s);
  return out;
}

std::string shell_quote(const std::string& s) {
  bool plain = !s.empty();
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || std::string_view("-_./=:,+@%").find(c) != std::string_view::npos)) plain = false;
  }
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

nlohmann::json summary_lite(const Summary& s) {
  return {{"status", s.status}, {"attainment", s.slo.attainment}, {"ttft_p50", s.ttft_p50}, {"ttft_p90", s.ttft_p90},
          {"ttft_p99", s.ttft_p99}, {"tbt_p90", s.tbt_p90}, {"req_tbt_p90", s.req_tbt_p90}, {"e2e_p90", s.e2e_p90},
          {"goodput", s.slo.goodput_requests_per_s}, {"requests_per_s", s.requests_per_s},
          {"output_tokens_per_s", s.output_tokens_per_s}, {"mean_batch", s.mean_batch}};
}
Summary summary_from(const nlohmann::json& j) {
  Summary s;
  s.status = j.at("status").get<std::string>();
  s.slo.attainment = j.at("attainment").get<double>();
  s.ttft_p50 = j.at("ttft_p50").get<double>();
  s.ttft_p90 = j.at("ttft_p90").get<double>();
  s.ttft_p99 = j.at("ttft_p99").get<double>();
  s.tbt_p90 = j.at("tbt_p90").get<double>();
  s.req_tbt_p90 = j.at("req_tbt_p90").get<double>();
  s.e2e_p90 = j.at("e2e_p90").get<double>();
  s.slo.goodput_requests_per_s = j.at("goodput").get<double>();
  s.requests_per_s = j.at("requests_per_s").get<double>();
  s.output_tokens_per_s = j.at("output_tokens_per_s").get<double>();
  s.mean_batch = j.at("mean_batch").get<double>();
  return s;
}

// Per (GPU type, TP): the cost-model bounds of one TP group, shared by systems and budgets.
struct GroupBounds {
  double c_prefill = 0;  // s per token, lower bound (dense part, one logit row per pass)
  double c_decode = 0;   // s per token, lower bound (dense part, a logit row per token)
  std::vector<double> ttft_lb, tbt_lb;  // per request
};

}  // namespace

struct PlanSearch::Impl {
  Scenario base;
  ModelSpec model;
  std::vector<Request> at1;  // trace at speedup 1 (trace workloads)
  bool trace = false;
  double natural_rate = 0;
  std::vector<const System*> systems;
  std::vector<PlanCandidate> cands;
  std::vector<std::string> notes;
  std::size_t space = 0, pruned_constraints = 0, pruned_memory = 0, pruned_latency = 0, pruned_throughput = 0;
  std::size_t simulations = 0;
  std::string calibration_warning;
  // Search state.
  std::size_t cursor = 0;
  int answer = -1;
  mutable std::mutex mu;  // requests cache
  mutable std::map<double, std::shared_ptr<const std::vector<Request>>> by_rate;

  std::shared_ptr<const std::vector<Request>> requests_at(const PlanSpec& spec, double rate) const {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (auto it = by_rate.find(rate); it != by_rate.end()) return it->second;
    }
    std::shared_ptr<const std::vector<Request>> r;
    if (trace) {
      r = std::make_shared<const std::vector<Request>>(rescaled(at1, rate / natural_rate));
    } else {
      auto j = spec.base;
      j["workload"]["generator"]["arrival"]["rate_per_s"] = rate;
      r = std::make_shared<const std::vector<Request>>(load_workload(parse_scenario_for_systems(j, spec.where, spec.base_dir)));
    }
    std::lock_guard<std::mutex> lock(mu);
    if (rate == spec.rate || by_rate.size() < 4) by_rate[rate] = r;  // keep the target's and a few
    return r;
  }
};

PlanSearch::~PlanSearch() = default;

std::vector<std::string> PlanSearch::candidate_sets(const PlanCandidate& c, double rate) const {
  std::vector<std::string> sets{"system=" + c.system};
  nlohmann::json pools = nlohmann::json::array();
  for (std::size_t i = 0; i < c.roles.size(); ++i) {
    pools.push_back({{"name", c.roles[i]}, {"role", c.roles[i]}, {"hw", c.hw}, {"instances", c.instances[i]}, {"tp", c.tp}});
  }
  sets.push_back("pools=" + pools.dump());
  if (c.token_budget > 0) sets.push_back(fmt::format("scheduler.max_batched_tokens={}", c.token_budget));
  if (impl_->trace) sets.push_back(fmt::format("workload.trace.speedup={}", rate / impl_->natural_rate));
  else sets.push_back(fmt::format("workload.generator.arrival.rate_per_s={}", rate));
  return sets;
}

namespace {
// The scenario JSON of a candidate (pools, system, budget; the load is set by the requests given).
nlohmann::json candidate_json(const nlohmann::json& base, const PlanCandidate& c) {
  nlohmann::json j = base;
  j["system"] = c.system;
  nlohmann::json pools = nlohmann::json::array();
  for (std::size_t i = 0; i < c.roles.size(); ++i) {
    pools.push_back({{"name", c.roles[i]}, {"role", c.roles[i]}, {"hw", c.hw}, {"instances", c.instances[i]}, {"tp", c.tp}});
  }
  j["pools"] = pools;
  if (c.token_budget > 0) j["scheduler"]["max_batched_tokens"] = c.token_budget;
  return j;
}
}  // namespace

PlanSearch::PlanSearch(PlanSpec spec) : spec_(std::move(spec)), impl_(std::make_unique<Impl>()) {
  auto& I = *impl_;
  I.base = parse_scenario_for_systems(spec_.base, spec_.where, spec_.base_dir);
  I.model = load_model(I.base.model);
  I.trace = I.base.workload.contains("trace");
  if (!(spec_.rate > 0)) throw InputError("plan: --rate: expected a target load in requests/s > 0");
  if (spec_.gpus.empty()) throw InputError("plan: no GPU type to search (--gpus)");
  if (I.trace) {
    auto j = spec_.base;
    j["workload"]["trace"]["speedup"] = 1;
    I.at1 = load_workload(parse_scenario_for_systems(j, spec_.where, spec_.base_dir));
    I.natural_rate = arrival_rate_per_s(I.at1);
    if (!(I.natural_rate > 0)) {
      throw InputError(fmt::format("{}: the trace's requests all arrive at once (or there are fewer than 2): a rate cannot be set", spec_.where));
    }
  } else {
    const auto& g = I.base.workload["generator"];
    I.natural_rate = g.contains("arrival") && g["arrival"].contains("rate_per_s") ? g["arrival"]["rate_per_s"].get<double>() : 0;
  }
  const auto reqs = I.requests_at(spec_, spec_.rate);
  const auto N = reqs->size();
  if (N == 0) throw InputError(fmt::format("{}: the workload has no requests", spec_.where));

  // Systems: those asked for, else every registered one the scenario gives work to.
  if (spec_.systems.empty()) {
    for (const System* s : all_systems()) {
      const auto shape = s->plan_shape(I.base);
      if (shape.skip.empty()) I.systems.push_back(s);
      else I.notes.push_back(fmt::format("system {} left out: {}", s->name(), shape.skip));
    }
  } else {
    for (const auto& name : spec_.systems) I.systems.push_back(&find_system(name));
  }

  // Per (GPU, TP): does the model fit at all (weights), and the bounds.
  std::map<std::pair<std::string, int>, GroupBounds> bounds;
  auto group_bounds = [&](const std::string& hw, int tp) -> const GroupBounds& {
    auto key = std::make_pair(hw, tp);
    if (auto it = bounds.find(key); it != bounds.end()) return it->second;
    GroupBounds b;
    PoolSpec ps{"plan", "serve", hw, 1, tp};
    const PoolLayout pool = make_pool(I.base, ps, I.model);
    const auto& step = pool.step;
    const double overhead = step.iteration_overhead_s();
    const std::int64_t max_t = std::max<std::int64_t>(8192, *std::max_element(spec_.token_budgets.begin(), spec_.token_budgets.end()));
    b.c_prefill = b.c_decode = std::numeric_limits<double>::max();
    for (std::int64_t t = 1; t <= max_t; t *= 2) {
      Work w1, wt;
      step.fold_dense(t, 1, w1);
      b.c_prefill = std::min(b.c_prefill, (w1.seconds + overhead) / static_cast<double>(t));
      if (t <= I.base.scheduler.max_batch) {
        step.fold_dense(t, t, wt);
        b.c_decode = std::min(b.c_decode, (wt.seconds + overhead) / static_cast<double>(t));
      }
    }
    b.c_prefill *= kBoundSlack;
    b.c_decode *= kBoundSlack;
    std::map<std::int64_t, std::pair<double, double>> by_prompt;
    for (const auto& q : *reqs) {
      auto& e = by_prompt[q.input_tokens];
      if (e.first == 0) {
        e.first = step.prompt(q.input_tokens, 0).seconds;
        BatchSpec d;
        d.decode_requests = 1;
        d.decode_kv_tokens = q.input_tokens;
        e.second = step.iteration(d).seconds;
      }
      b.ttft_lb.push_back(e.first);
      b.tbt_lb.push_back(e.second);
    }
    return bounds.emplace(key, std::move(b)).first->second;
  };

  bool any_gpu_fits = false;
  std::string calibrated, roofline;  // GPU names, comma-separated
  for (const auto& g : spec_.gpus) {
    const auto hw = load_hardware(g.hw);
    auto& list = hw.calibration_dir.empty() ? roofline : calibrated;
    list += (list.empty() ? "" : ", ") + g.hw;
    const int limit = std::min(spec_.max_gpus, g.available > 0 ? g.available : spec_.max_gpus);
    std::vector<int> tps;
    for (int tp = 1; tp <= spec_.node_size; tp *= 2) {
      if (spec_.fixed_tp > 0 && tp != spec_.fixed_tp) continue;
      if (I.model.n_heads % tp != 0) continue;
      tps.push_back(tp);
    }
    if (spec_.fixed_tp > 0 && tps.empty()) {
      I.notes.push_back(fmt::format("{}: --tp {} is not a power of two within a node of {} that divides the model's {} heads",
                                    g.hw, spec_.fixed_tp, spec_.node_size, I.model.n_heads));
    }
    bool fits_here = false;
    for (int tp : tps) {
      const double weights_per_gpu = I.model.weight_bytes(I.base.precision.weights) / tp;
      if (weights_per_gpu >= hw.gpu.hbm_bytes) {
        // No system can hold the weights: counted as configurations that do not fit.
        for (const System* sys : I.systems) {
          const auto shape = sys->plan_shape(I.base);
          const std::size_t budgets = shape.token_budget ? spec_.token_budgets.size() : 1;
          const int max_inst = limit / tp;
          const std::size_t splits = shape.roles.size() == 1 ? static_cast<std::size_t>(max_inst)
                                                              : static_cast<std::size_t>(std::max(0, max_inst - 1) * max_inst / 2);
          I.space += budgets * splits;
          I.pruned_memory += budgets * splits;
        }
        continue;
      }
      fits_here = true;
      for (const System* sys : I.systems) {
        const auto shape = sys->plan_shape(I.base);
        const std::vector<std::int64_t> budgets = shape.token_budget ? spec_.token_budgets : std::vector<std::int64_t>{0};
        for (std::int64_t budget : budgets) {
          // Does one group fit (the system's own checks), and how much KV does an instance hold?
          PlanCandidate proto;
          proto.system = std::string(sys->name());
          proto.hw = g.hw;
          proto.tp = tp;
          proto.roles = shape.roles;
          proto.instances.assign(shape.roles.size(), 1);
          proto.token_budget = budget;
          std::string memory_why;
          double fit_share = 1;
          try {
            auto sc = parse_scenario_for_systems(candidate_json(spec_.base, proto), spec_.where, spec_.base_dir);
            auto cfg = sys->configure(sc);
            const auto cap = cfg->capacity_tokens();
            std::size_t fit = 0;
            for (const auto& q : *reqs) fit += q.input_tokens + q.output_tokens <= cap ? 1 : 0;
            fit_share = static_cast<double>(fit) / static_cast<double>(N);
          } catch (const InputError& e) {
            memory_why = e.what();
          }
          const GroupBounds* gb = memory_why.empty() ? &group_bounds(g.hw, tp) : nullptr;
          double lat_share = 0;
          std::vector<double> work(shape.roles.size(), 0.0);
          if (gb) {
            std::size_t ok = 0;
            const auto& slo = spec_.criterion.slo;
            for (std::size_t i = 0; i < N; ++i) {
              const auto& q = (*reqs)[i];
              const bool t_ok = slo.ttft_s <= 0 || gb->ttft_lb[i] <= slo.ttft_s;
              const bool b_ok = slo.tbt_s <= 0 || q.output_tokens < 2 || gb->tbt_lb[i] <= slo.tbt_s;
              ok += t_ok && b_ok ? 1 : 0;
              const double p = static_cast<double>(q.input_tokens), o = static_cast<double>(q.output_tokens);
              for (std::size_t k = 0; k < shape.roles.size(); ++k) {
                const auto& role = shape.roles[k];
                if (role == "prefill") work[k] += gb->c_prefill * p;
                else if (role == "decode") work[k] += gb->c_decode * (o - 1);
                else if (role == "shared") work[k] += 0;
                else work[k] += gb->c_prefill * (p + o - 1);
              }
            }
            lat_share = static_cast<double>(ok) / static_cast<double>(N);
            for (auto& w : work) w /= static_cast<double>(N);
          }
          // Instance counts.
          std::vector<std::vector<int>> splits;
          const int max_inst = limit / tp;
          if (shape.roles.size() == 1) {
            for (int n = 1; n <= max_inst; ++n) splits.push_back({n});
          } else {
            for (int a = 1; a < max_inst; ++a) {
              for (int b2 = 1; a + b2 <= max_inst; ++b2) splits.push_back({a, b2});
            }
          }
          for (const auto& inst : splits) {
            PlanCandidate c = proto;
            c.instances = inst;
            c.gpus = 0;
            for (int n : inst) c.gpus += n * tp;
            c.cost = c.gpus * g.price;
            ++I.space;
            if ((spec_.budget > 0 && c.cost > spec_.budget + 1e-9) || (spec_.whole_nodes && c.gpus % spec_.node_size != 0)) {
              ++I.pruned_constraints;
              continue;
            }
            if (!memory_why.empty()) {
              c.pruned = "memory: " + memory_why;
              c.latency_infeasible = true;
              ++I.pruned_memory;
            } else if (fit_share < spec_.criterion.target || lat_share < spec_.criterion.target) {
              c.pruned = fit_share < spec_.criterion.target
                             ? fmt::format("memory: an instance's KV holds only {:.1f}% of the requests whole", 100 * fit_share)
                             : fmt::format("latency: even alone (prefill in one pass, decode at batch 1) only {:.1f}% of requests meet the SLO",
                                           100 * lat_share);
              c.latency_infeasible = true;
              ++I.pruned_latency;
            } else {
              c.capacity_bound = std::numeric_limits<double>::max();
              for (std::size_t k = 0; k < inst.size(); ++k) {
                if (work[k] > 0) c.capacity_bound = std::min(c.capacity_bound, inst[k] / work[k]);
              }
              if (c.capacity_bound < spec_.rate) {
                c.pruned = fmt::format("throughput: at most {:.3g} requests/s (dense work per token)", c.capacity_bound);
                ++I.pruned_throughput;
              }
            }
            I.cands.push_back(std::move(c));
          }
        }
      }
    }
    if (!fits_here && !tps.empty()) {
      I.notes.push_back(fmt::format("{}: {} does not fit within a node of {} GPUs at any TP; it would need pipeline "
                                    "parallelism across nodes, which is not modelled",
                                    g.hw, I.model.name, spec_.node_size));
    }
    any_gpu_fits = any_gpu_fits || fits_here;
  }
  if (!any_gpu_fits) {
    throw InputError(fmt::format("plan: {} fits no GPU type of the catalogue within a node of {} (TP <= {}): pipeline "
                                 "parallelism across nodes is not modelled",
                                 I.model.name, spec_.node_size, spec_.node_size));
  }
  if (!calibrated.empty() && !roofline.empty()) {
    I.calibration_warning = fmt::format(
        "warning: {} calibrated against measured kernels, {} roofline only: costs across them mix measured and "
        "first-principles numbers (roofline alone is typically 20-40% optimistic on the calibrated GPUs)",
        calibrated, roofline);
  }
  // Search order: cost, then the capacity bound (the likelier to meet first), then as enumerated.
  std::stable_sort(I.cands.begin(), I.cands.end(), [](const PlanCandidate& a, const PlanCandidate& b) {
    if (a.cost != b.cost) return a.cost < b.cost;
    return a.capacity_bound > b.capacity_bound;
  });
  for (auto& c : I.cands) c.speedup = I.trace ? spec_.rate / I.natural_rate : 0;
}

std::size_t PlanSearch::phase_total() const {
  std::size_t n = 0;
  for (const auto& c : impl_->cands) n += c.pruned.empty() ? 1 : 0;
  return phase_ == 0 ? n : impl_->cands.size();
}

namespace {
double cutoff_cost(const std::vector<PlanCandidate>& cands, int answer, double factor) {
  return answer < 0 ? std::numeric_limits<double>::max() : cands[static_cast<std::size_t>(answer)].cost * factor + 1e-9;
}
}  // namespace

bool PlanSearch::meets_by_monotonicity(std::size_t i) const {
  // More instances of the same layout (system, GPU, TP, token budget) in every pool serve the same
  // load at least as well: once kMonotoneKept configurations of a layout met the SLOs, a larger one
  // of it is taken to meet them without a run (it adds only to the TTFT frontier, whose lower end the
  // ones simulated already show).
  constexpr int kMonotoneKept = 3;
  const auto& cs = impl_->cands;
  const auto& c = cs[i];
  int met = 0;
  bool below = false;
  for (std::size_t k = 0; k < i; ++k) {
    const auto& d = cs[k];
    if (!d.simulated || !d.meets || d.system != c.system || d.hw != c.hw || d.tp != c.tp || d.token_budget != c.token_budget) continue;
    ++met;
    bool le = true;
    for (std::size_t r = 0; r < c.instances.size(); ++r) le = le && d.instances[r] <= c.instances[r];
    below = below || le;
  }
  return met >= kMonotoneKept && below;
}

bool PlanSearch::representative(std::size_t i) const {
  // At each cost, one configuration's capacity is searched: the one with the highest attainment
  // at the target load (a stopped run's attainment counts the requests it met before it stopped),
  // then goodput; where none of that cost was simulated (all below the load by the throughput
  // bound), the one with the highest bound. Ties: search order.
  const auto& cs = impl_->cands;
  auto better = [](const PlanCandidate& a, const PlanCandidate& b) {
    if (a.simulated != b.simulated) return a.simulated;
    if (a.simulated) {
      if (a.at_target.slo.attainment != b.at_target.slo.attainment) return a.at_target.slo.attainment > b.at_target.slo.attainment;
      return a.at_target.slo.goodput_requests_per_s > b.at_target.slo.goodput_requests_per_s;
    }
    return a.capacity_bound > b.capacity_bound;
  };
  std::size_t lo = i, hi = i;
  while (lo > 0 && cs[lo - 1].cost == cs[i].cost) --lo;
  while (hi + 1 < cs.size() && cs[hi + 1].cost == cs[i].cost) ++hi;
  std::size_t best = cs.size();
  for (std::size_t k = lo; k <= hi; ++k) {
    if (cs[k].latency_infeasible) continue;
    if (best == cs.size() || better(cs[k], cs[best])) best = k;
  }
  return best == i;
}

std::vector<PlanTask> PlanSearch::next_round() {
  auto& I = *impl_;
  std::vector<PlanTask> round;
  if (phase_ == 0) {
    const double cut = cutoff_cost(I.cands, I.answer, spec_.frontier_cost_factor);
    while (I.cursor < I.cands.size() && round.size() < spec_.round_size) {
      auto& c = I.cands[I.cursor];
      if (c.cost > cut) {
        I.cursor = I.cands.size();
        break;
      }
      if (c.pruned.empty()) {
        if (meets_by_monotonicity(I.cursor)) {
          c.meets_inferred = true;
        } else {
          round.push_back({PlanTask::Kind::at_target, I.cursor, 0});
        }
      }
      ++I.cursor;
    }
    if (!round.empty()) return round;
    phase_ = 1;
    phase_done_ = 0;
    I.cursor = 0;
  }
  if (phase_ == 1) {
    const double cut = cutoff_cost(I.cands, I.answer, spec_.frontier_cost_factor);
    // The best capacity of the candidates before the cursor (all committed).
    double floor = 0;
    for (std::size_t i = 0; i < I.cursor; ++i) {
      if (I.cands[i].capacity_searched && I.cands[i].capacity_status == "ok") floor = std::max(floor, I.cands[i].capacity);
    }
    while (I.cursor < I.cands.size() && round.size() < spec_.round_size) {
      auto& c = I.cands[I.cursor];
      if (c.cost > cut) {
        I.cursor = I.cands.size();
        break;
      }
      if (!c.latency_infeasible) {
        if (c.capacity_bound <= floor) {
          c.capacity_status = "dominated";  // its bound is below a cheaper candidate's capacity
        } else if (!representative(I.cursor)) {
          c.capacity_status = "not searched";  // another of the same cost did better at the target load
        } else {
          round.push_back({PlanTask::Kind::capacity, I.cursor, floor});
        }
      }
      ++I.cursor;
    }
    if (!round.empty()) return round;
    phase_ = 2;
  }
  return round;
}

std::string PlanSearch::run(const PlanTask& t) const {
  const auto& I = *impl_;
  const auto& c = I.cands[t.candidate];
  const Scenario sc = parse_scenario_for_systems(candidate_json(spec_.base, c), spec_.where, spec_.base_dir);
  const auto& crit = spec_.criterion;
  int sims = 0;
  auto simulate_at = [&](double rate, bool& stopped) {
    const auto reqs = I.requests_at(spec_, rate);
    RunOptions opt;
    if (!crit.p90) {
      opt.stop_slo = crit.slo;
      // More misses than this and the attainment is below the target whatever the rest do.
      opt.stop_after_misses = static_cast<std::int64_t>(std::floor((1.0 - crit.target) * static_cast<double>(reqs->size()) + 1e-9));
    }
    ++sims;
    RunResult r = simulate(sc, *reqs, opt);
    stopped = r.requests.size() > 0 && std::any_of(r.requests.begin(), r.requests.end(), [](const RequestRecord& q) {
                return !q.rejected && q.finish < 0;
              }) && opt.stop_after_misses >= 0;
    return summarize(r, crit.slo);
  };
  nlohmann::json out;
  if (t.kind == PlanTask::Kind::at_target) {
    bool stopped = false;
    const Summary s = simulate_at(spec_.rate, stopped);
    out = {{"meets", crit.passes(s)}, {"stopped", stopped}, {"summary", summary_lite(s)}, {"sims", sims}};
    return out.dump();
  }
  // Capacity. First: does it beat the best cheaper candidate at all?
  std::map<double, CapacityProbe> known;
  auto evaluate = [&](double rate) {
    if (auto it = known.find(rate); it != known.end()) return it->second;
    CapacityProbe p;
    bool stopped = false;
    p.s = simulate_at(rate, stopped);
    p.arrival_rate = rate;
    known[rate] = p;
    return p;
  };
  if (t.floor > 0) {
    const double x = t.floor * (1 + spec_.tol);
    if (!crit.passes(evaluate(x).s)) {
      out = {{"status", "dominated"}, {"capacity", 0}, {"fails_at", x}, {"sims", sims}};
      return out.dump();
    }
  }
  CapacityOptions opt;
  opt.tol = spec_.tol;
  if (c.simulated && c.meets) {
    opt.lo = spec_.rate;
    opt.hi = std::min(2 * spec_.rate, std::max(c.capacity_bound, spec_.rate * (1 + 2 * spec_.tol)));
  } else {
    opt.hi = std::min(spec_.rate, c.capacity_bound);
    opt.lo = opt.hi / 2;
  }
  if (!(opt.hi > opt.lo)) opt.hi = 2 * opt.lo;
  opt.max_halvings = 8;  // below 1/256 of the target it is no frontier point worth printing
  const auto res = find_capacity(crit, opt, evaluate);
  out = {{"status", res.status}, {"capacity", res.status == "ok" ? res.lo : 0.0}, {"fails_at", res.hi}, {"sims", sims}};
  return out.dump();
}

void PlanSearch::commit(const std::vector<PlanTask>& round, const std::vector<std::string>& outcomes) {
  auto& I = *impl_;
  for (std::size_t i = 0; i < round.size(); ++i) {
    const auto j = nlohmann::json::parse(outcomes.at(i));
    auto& c = I.cands[round[i].candidate];
    I.simulations += j.at("sims").get<std::size_t>();
    ++phase_done_;
    if (round[i].kind == PlanTask::Kind::at_target) {
      c.simulated = true;
      c.meets = j.at("meets").get<bool>();
      c.stopped_early = j.at("stopped").get<bool>();
      c.at_target = summary_from(j.at("summary"));
      if (c.meets && I.answer < 0) I.answer = static_cast<int>(round[i].candidate);
    } else {
      c.capacity_searched = true;
      c.capacity_status = j.at("status").get<std::string>();
      c.capacity = j.at("capacity").get<double>();
      c.capacity_fails_at = j.at("fails_at").get<double>();
      c.probes = j.at("sims").get<int>();
    }
  }
}

PlanResult PlanSearch::result() const {
  const auto& I = *impl_;
  PlanResult r;
  r.candidates = I.cands;
  r.notes = I.notes;
  r.space = I.space;
  r.pruned_constraints = I.pruned_constraints;
  r.pruned_memory = I.pruned_memory;
  r.pruned_latency = I.pruned_latency;
  r.pruned_throughput = I.pruned_throughput;
  r.simulations = I.simulations;
  r.natural_rate = I.natural_rate;
  r.trace = I.trace;
  r.calibration_warning = I.calibration_warning;
  const auto& cs = r.candidates;
  // Cost vs capacity: strictly more capacity than everything cheaper (or earlier at the same cost);
  // at one cost only the highest stays.
  double best = 0;
  for (std::size_t i = 0; i < cs.size(); ++i) {
    const auto& c = cs[i];
    if (!c.capacity_searched || c.capacity_status != "ok" || !(c.capacity > best)) continue;
    if (!r.capacity_frontier.empty() && cs[static_cast<std::size_t>(r.capacity_frontier.back())].cost == c.cost) {
      r.capacity_frontier.pop_back();
    }
    r.capacity_frontier.push_back(static_cast<int>(i));
    best = c.capacity;
  }
  // The answer: the cheapest meeting the SLOs at the target; at that cost, the frontier's point if it meets.
  r.answer = I.answer;
  if (r.answer >= 0) {
    for (int i : r.capacity_frontier) {
      const auto& c = cs[static_cast<std::size_t>(i)];
      if (c.cost == cs[static_cast<std::size_t>(r.answer)].cost && c.simulated && c.meets) r.answer = i;
    }
  }
  // Cost vs P90 TTFT among those meeting the SLOs.
  double best_ttft = std::numeric_limits<double>::max();
  for (std::size_t i = 0; i < cs.size(); ++i) {
    const auto& c = cs[i];
    if (!c.simulated || !c.meets || !(c.at_target.ttft_p90 < best_ttft)) continue;
    if (!r.ttft_frontier.empty() && cs[static_cast<std::size_t>(r.ttft_frontier.back())].cost == c.cost) r.ttft_frontier.pop_back();
    r.ttft_frontier.push_back(static_cast<int>(i));
    best_ttft = c.at_target.ttft_p90;
  }
  return r;
}

std::string plan_run_command(const PlanSearch& s, const PlanCandidate& c, double rate) {
  const auto& spec = s.spec();
  std::string cmd = "moska-sim run " + shell_quote(spec.scenario_arg);
  for (const auto& x : spec.sets) cmd += " --set " + shell_quote(x);
  for (const auto& x : s.candidate_sets(c, rate)) cmd += " --set " + shell_quote(x);
  const auto& slo = spec.criterion.slo;
  if (slo.ttft_s > 0) cmd += fmt::format(" --slo-ttft {}", slo.ttft_s);
  if (slo.tbt_s > 0) cmd += fmt::format(" --slo-tbt {}", slo.tbt_s);
  return cmd;
}

namespace {
std::string layout(const PlanCandidate& c) {
  std::string s;
  for (std::size_t i = 0; i < c.roles.size(); ++i) {
    s += fmt::format("{}{}x {}TP{}", i ? " + " : "", c.instances[i], c.roles.size() > 1 ? c.roles[i] + " " : "", c.tp);
  }
  return s;
}
std::string budget_text(const PlanCandidate& c) { return c.token_budget > 0 ? fmt::format("{}", c.token_budget) : "-"; }
}  // namespace

std::string plan_table(const PlanSearch& s, const PlanResult& r) {
  const auto& spec = s.spec();
  const auto& crit = spec.criterion;
  std::string out;
  auto line = [&](const std::string& x) { out += x + "\n"; };
  auto bound = [](double b) { return b > 0 ? fmt::format("{:g} s", b) : std::string("unbounded"); };
  // The scenario's path as the user would type it here (relative below the working directory), so
  // that the printed plan does not depend on where the checkout lives.
  std::string where_shown = spec.where;
  {
    std::error_code ec;
    const auto rel = std::filesystem::relative(spec.where, std::filesystem::current_path(), ec);
    if (!ec && !rel.empty() && *rel.begin() != "..") where_shown = rel.string();
  }
  line(fmt::format("plan: {} at {:g} requests/s{}", where_shown, spec.rate,
                   r.trace ? fmt::format(" (the trace's own rate is {:.4g}/s: speedup {:.6g})", r.natural_rate, spec.rate / r.natural_rate)
                           : ""));
  line(fmt::format("SLO: TTFT <= {}, mean TBT per request <= {}; {}", bound(crit.slo.ttft_s), bound(crit.slo.tbt_s),
                   crit.p90 ? "P90 TTFT and P90 token TBT under them" : fmt::format("attainment >= {:g}%", 100 * crit.target)));
  std::string gpus;
  for (const auto& g : spec.gpus) {
    gpus += fmt::format("{}{} ${:.2f}/h{}", gpus.empty() ? "" : ", ", g.hw, g.price,
                        g.available > 0 ? fmt::format(" (<= {})", g.available) : "");
  }
  line(fmt::format("GPUs: {}; node {}{}{}{}; at most {} GPUs a configuration", gpus, spec.node_size,
                   spec.whole_nodes ? " (whole nodes)" : "", spec.fixed_tp > 0 ? fmt::format("; TP {}", spec.fixed_tp) : "",
                   spec.budget > 0 ? fmt::format("; budget ${:g}/h", spec.budget) : "", spec.max_gpus));
  for (const auto& n : r.notes) line("  " + n);
  if (!r.calibration_warning.empty()) line(r.calibration_warning);
  std::size_t at_target = 0, searched = 0;
  for (const auto& c : r.candidates) {
    at_target += c.simulated ? 1 : 0;
    searched += c.capacity_searched ? 1 : 0;
  }
  line(fmt::format("search space: {} configurations; {} outside the constraints, {} do not fit in memory, {} cannot meet "
                   "the SLO even alone (latency bounds), {} cannot reach the load (throughput bound); {} simulated at the "
                   "target load, {} capacity searches, {} simulations in all",
                   r.space, r.pruned_constraints, r.pruned_memory, r.pruned_latency, r.pruned_throughput, at_target, searched,
                   r.simulations));
  line("");
  auto row = [&](const PlanCandidate& c) {
    const std::string cap = c.capacity_searched && c.capacity_status == "ok" ? fmt::format("{:.3g}", c.capacity) : "";
    const std::string ttft = c.simulated && !c.stopped_early ? fmt::format("{:.3g}", c.at_target.ttft_p90) : "";
    const std::string tbt = c.simulated && !c.stopped_early ? fmt::format("{:.3g}", c.at_target.req_tbt_p90) : "";
    const std::string att = c.simulated ? fmt::format("{:.1f}%{}", 100 * c.at_target.slo.attainment, c.stopped_early ? "*" : "") : "";
    return fmt::format("{:>8.2f} {:>5} {:<12} {:<10} {:<32} {:>6} {:>9} {:>8} {:>9} {:>9}", c.cost, c.gpus, c.system, c.hw, layout(c),
                       budget_text(c), cap, att, ttft, tbt);
  };
  const std::string header = fmt::format("{:>8} {:>5} {:<12} {:<10} {:<32} {:>6} {:>9} {:>8} {:>9} {:>9}", "$/hour", "GPUs", "system",
                                         "GPU", "instances", "budget", "capacity", "attain.", "p90 TTFT", "p90 TBT");
  const double rate = spec.rate;
  if (r.answer >= 0) {
    const auto& a = r.candidates[static_cast<std::size_t>(r.answer)];
    line(fmt::format("cheapest meeting the SLOs at {:g} requests/s: ${:.2f}/hour, {} x {} ({} {}{}), {}", rate, a.cost, a.gpus, a.hw,
                     a.system, layout(a), a.token_budget > 0 ? fmt::format(", token budget {}", a.token_budget) : "",
                     a.capacity_searched && a.capacity_status == "ok" ? fmt::format("capacity {:.3g} requests/s", a.capacity)
                                                                      : "capacity not searched"));
    line(fmt::format("  attainment {:.1f}%, P90 TTFT {:.3f} s, P90 TBT per request {:.4f} s, P90 end-to-end {:.3f} s",
                     100 * a.at_target.slo.attainment, a.at_target.ttft_p90, a.at_target.req_tbt_p90, a.at_target.e2e_p90));
    line("  " + plan_run_command(s, a, rate));
  } else {
    line(fmt::format("no configuration in the search space meets the SLOs at {:g} requests/s", rate));
  }
  line("");
  line("Pareto frontier, cost vs capacity (requests/s meeting the SLOs; attainment, P90 TTFT and P90 TBT per request at "
       "the target load; * = that run stopped once the target was out of reach):");
  line(header);
  for (int i : r.capacity_frontier) line(row(r.candidates[static_cast<std::size_t>(i)]));
  line("");
  line("Pareto frontier, cost vs P90 TTFT at the target load (configurations meeting the SLOs):");
  line(header);
  for (int i : r.ttft_frontier) line(row(r.candidates[static_cast<std::size_t>(i)]));
  line("");
  line("run commands (each frontier point at the target load):");
  std::vector<int> shown;
  for (const auto* f : {&r.capacity_frontier, &r.ttft_frontier}) {
    for (int i : *f) {
      if (std::find(shown.begin(), shown.end(), i) != shown.end()) continue;
      shown.push_back(i);
      const auto& c = r.candidates[static_cast<std::size_t>(i)];
      line(fmt::format("  ${:.2f}/h {} {} {}:", c.cost, c.system, c.hw, layout(c)));
      line("    " + plan_run_command(s, c, rate));
    }
  }
  return out;
}

nlohmann::json plan_json(const PlanSearch& s, const PlanResult& r) {
  const auto& spec = s.spec();
  auto cand = [&](int i) {
    const auto& c = r.candidates[static_cast<std::size_t>(i)];
    nlohmann::json j = {{"system", c.system},   {"hw", c.hw},       {"tp", c.tp},         {"roles", c.roles},
                        {"instances", c.instances}, {"token_budget", c.token_budget}, {"gpus", c.gpus}, {"usd_per_hour", c.cost},
                        {"capacity_bound_requests_per_s", c.capacity_bound}};
    j["capacity_requests_per_s"] = c.capacity_searched && c.capacity_status == "ok" ? nlohmann::json(c.capacity) : nlohmann::json(nullptr);
    j["capacity_status"] = c.capacity_status;
    if (c.simulated) {
      j["at_target"] = {{"meets", c.meets}, {"stopped_early", c.stopped_early}, {"attainment", c.at_target.slo.attainment},
                        {"ttft_p90_s", c.at_target.ttft_p90}, {"req_tbt_p90_s", c.at_target.req_tbt_p90},
                        {"e2e_p90_s", c.at_target.e2e_p90}, {"goodput_requests_per_s", c.at_target.slo.goodput_requests_per_s}};
    }
    j["run"] = plan_run_command(s, c, spec.rate);
    j["run_sets"] = s.candidate_sets(c, spec.rate);
    return j;
  };
  nlohmann::json j;
  j["scenario"] = spec.where;
  j["rate_requests_per_s"] = spec.rate;
  j["natural_rate_requests_per_s"] = r.natural_rate;
  j["slo"] = {{"ttft_s", spec.criterion.slo.ttft_s}, {"tbt_s", spec.criterion.slo.tbt_s}, {"attainment", spec.criterion.target},
              {"criterion", spec.criterion.p90 ? "p90" : "attainment"}};
  nlohmann::json gpus = nlohmann::json::array();
  for (const auto& g : spec.gpus) gpus.push_back({{"hw", g.hw}, {"usd_per_gpu_hour", g.price}, {"source", g.price_source}, {"available", g.available}});
  j["gpus"] = gpus;
  j["notes"] = r.notes;
  j["search"] = {{"space", r.space}, {"pruned_constraints", r.pruned_constraints}, {"pruned_memory", r.pruned_memory},
                 {"pruned_latency", r.pruned_latency}, {"pruned_throughput", r.pruned_throughput}, {"simulations", r.simulations}};
  j["answer"] = r.answer >= 0 ? cand(r.answer) : nlohmann::json(nullptr);
  nlohmann::json cf = nlohmann::json::array(), tf = nlohmann::json::array();
  for (int i : r.capacity_frontier) cf.push_back(cand(i));
  for (int i : r.ttft_frontier) tf.push_back(cand(i));
  j["capacity_frontier"] = cf;
  j["ttft_frontier"] = tf;
  return j;
}

std::string plan_csv(const PlanSearch& s, const PlanResult& r) {
  (void)s;
  std::string out =
      "usd_per_hour,gpus,system,hw,tp,instances,token_budget,pruned,capacity_bound,simulated,meets,stopped_early,attainment,"
      "ttft_p90_s,req_tbt_p90_s,e2e_p90_s,capacity_status,capacity,on_capacity_frontier,on_ttft_frontier,answer\n";
  for (std::size_t i = 0; i < r.candidates.size(); ++i) {
    const auto& c = r.candidates[i];
    std::string inst;
    for (std::size_t k = 0; k < c.instances.size(); ++k) inst += fmt::format("{}{}", k ? "+" : "", c.instances[k]);
    const bool on_cap = std::find(r.capacity_frontier.begin(), r.capacity_frontier.end(), static_cast<int>(i)) != r.capacity_frontier.end();
    const bool on_ttft = std::find(r.ttft_frontier.begin(), r.ttft_frontier.end(), static_cast<int>(i)) != r.ttft_frontier.end();
    out += fmt::format("{:.4f},{},{},{},{},{},{},{},{:.6g},{},{},{},{},{},{},{},{},{},{},{},{}\n", c.cost, c.gpus, c.system, c.hw, c.tp, inst,
                       c.token_budget, csv_field(c.pruned), c.capacity_bound < 1e300 ? c.capacity_bound : 0.0, c.simulated ? 1 : 0,
                       c.meets ? 1 : 0, c.stopped_early ? 1 : 0,
                       c.simulated ? fmt::format("{:.6g}", c.at_target.slo.attainment) : "",
                       c.simulated && !c.stopped_early ? fmt::format("{:.6g}", c.at_target.ttft_p90) : "",
                       c.simulated && !c.stopped_early ? fmt::format("{:.6g}", c.at_target.req_tbt_p90) : "",
                       c.simulated && !c.stopped_early ? fmt::format("{:.6g}", c.at_target.e2e_p90) : "", c.capacity_status,
                       c.capacity_searched && c.capacity_status == "ok" ? fmt::format("{:.6g}", c.capacity) : "", on_cap ? 1 : 0,
                       on_ttft ? 1 : 0, static_cast<int>(i) == r.answer ? 1 : 0);
  }
  return out;
}

}  // namespace moska
