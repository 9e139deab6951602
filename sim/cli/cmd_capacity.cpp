// `moska-sim capacity <scenario> --slo-ttft S --slo-tbt S [--attainment A] [--knob speedup|rate]`:
// the effective request capacity, i.e. the highest load (trace speedup or generator rate) at which
// the share of requests meeting the SLO is still >= A (the search is sim/analysis/capacity.*). Each
// probe is one full, deterministic `run` of the scenario with the knob set; every probe is printed
// as it runs, so a non-monotone curve shows.
#include <cmath>
#include <filesystem>
#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "sim/analysis/capacity.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/overrides.hpp"
#include "sim/metrics/metrics.hpp"
#include "sim/metrics/slo.hpp"
#include "sim/systems/system.hpp"
#include "sim/serving/workload_loader.hpp"
#include "sim/util/error.hpp"

namespace moska::cli {

namespace {

// `--curve`: one run, the share meeting TTFT and each TBT bound.
int run_curve(nlohmann::json j, const std::string& where, const std::filesystem::path& base, const SloSpec& slo,
              const std::string& bounds_text, std::optional<double> at, bool json) {
  std::vector<double> bounds;
  std::size_t start = 0;
  for (;;) {
    const auto comma = bounds_text.find(',', start);
    const std::string item = bounds_text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    const double b = parse_flag_number("--curve", item, false, kMaxSloTbtSeconds);
    if (!bounds.empty() && !(b > bounds.back())) throw InputError(fmt::format("--curve {}: expected increasing bounds", bounds_text));
    bounds.push_back(b);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  Scenario sc = parse_scenario_for_systems(j, where, base);
  const bool trace = sc.workload.contains("trace");
  if (at) {
    apply_override(j, trace ? "speedup" : "rate", fmt::format("{}", *at));
    sc = parse_scenario_for_systems(j, where, base);
  }
  const auto reqs = load_workload(sc);
  const RunResult r = simulate(sc, reqs);
  const Summary s = summarize(r, slo);
  const auto curve = slo_curve(r, slo, bounds);
  const std::string stat = slo.tbt_slowest_fraction > 0
                               ? fmt::format("mean of its slowest {:g}% of token gaps", 100 * slo.tbt_slowest_fraction)
                               : "its mean token gap";
  if (json) {
    nlohmann::json out;
    out["scenario"] = sc.name;
    out["system"] = sc.system;
    out["ttft_s"] = slo.ttft_s > 0 ? nlohmann::json(slo.ttft_s) : nlohmann::json(nullptr);
    out["tbt_statistic"] = stat;
    out["requests"] = s.requests;
    out["rejected"] = s.rejected;
    out["unfinished"] = s.unfinished;
    nlohmann::json pts = nlohmann::json::array();
    for (const auto& p : curve) pts.push_back({{"tbt_s", p.tbt_s}, {"attainment", p.attainment}, {"met", p.met}});
    out["curve"] = pts;
    std::cout << out.dump(2) << "\n";
    return 0;
  }
  std::cout << fmt::format("scenario: {}   system: {}\n", sc.name, sc.system);
  std::cout << fmt::format("effective request capacity: share of all {} requests with TTFT <= {} and TBT ({}) <= the bound\n\n",
                           s.requests, slo.ttft_s > 0 ? fmt::format("{:g} s", slo.ttft_s) : "unbounded", stat);
  std::cout << fmt::format("{:>10} {:>12} {:>8}\n", "TBT s", "capacity", "met");
  for (const auto& p : curve) std::cout << fmt::format("{:>10.4g} {:>11.1f}% {:>8}\n", p.tbt_s, 100 * p.attainment, p.met);
  if (s.status != "ok") std::cout << not_served_line(s) << "\n";
  return 0;
}

}  // namespace

void add_capacity(CLI::App& app, int& result) {
  auto* cmd = app.add_subcommand(
      "capacity", "Effective request capacity: the highest load (trace speedup or arrival rate) meeting an SLO");
  struct Opts {
    std::string scenario;
    std::vector<std::string> sets;
    std::string slo_ttft, slo_tbt, slo_slowest;
    std::string curve;
    std::string attainment = "0.9";
    std::string criterion = "attainment";
    std::string knob;
    std::string lo, hi;
    std::string tol = "0.02";
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("scenario", o->scenario, "Scenario name (workloads/<name>.json), path, or 'default'")->required();
  cmd->add_option("--set", o->sets, "Override a scenario key: KEY=VALUE (as in run)");
  cmd->add_option("--slo-ttft", o->slo_ttft, "SLO bound on time to first token, seconds (default: the scenario's slo.ttft_s)");
  cmd->add_option("--slo-tbt", o->slo_tbt, "SLO bound on a request's mean time between tokens, seconds (default: slo.tbt_s)");
  cmd->add_option("--slo-tbt-slowest", o->slo_slowest,
                  "A request's TBT is the mean of its slowest PCT% of token gaps (Mooncake FAST'25: 10); default: its mean gap");
  cmd->add_option("--curve", o->curve,
                  "TBT bounds in seconds, comma-separated: no search; one run at the scenario's load (or --lo), printing the "
                  "share of all requests meeting TTFT and each TBT bound (Mooncake's Fig. 1 capacity curve)");
  cmd->add_option("--attainment", o->attainment, "Share of all requests that must meet the SLO, in (0, 1] (default 0.9)");
  cmd->add_option("--criterion", o->criterion,
                  "attainment (share of requests meeting both bounds >= --attainment) or p90 (P90 TTFT <= its bound and "
                  "P90 token-level TBT <= its bound, as Mooncake states its SLO)");
  cmd->add_option("--knob", o->knob, "What to scale: speedup (trace workloads, the default there) or rate (generators)");
  cmd->add_option("--lo", o->lo, "First load to probe (default: the scenario's own speedup or rate, else 1)");
  cmd->add_option("--hi", o->hi, "First failing candidate (default: 2 x lo); grown x2 while it still passes");
  cmd->add_option("--tol", o->tol, "Stop when the bracket's width is <= tol x its low end (default 0.02)");
  cmd->add_flag("--json", o->json, "Print JSON instead of a table");
  cmd->callback([o, &result]() {
    double target = parse_flag_number("--attainment", o->attainment, false);
    if (target > 1) throw InputError(fmt::format("--attainment {}: expected a share in (0, 1]", o->attainment));
    if (o->criterion != "attainment" && o->criterion != "p90") {
      throw InputError(fmt::format("--criterion {}: expected attainment or p90", o->criterion));
    }
    const bool p90 = o->criterion == "p90";
    double tol = parse_flag_number("--tol", o->tol, false);
    if (tol >= 1) throw InputError(fmt::format("--tol {}: expected a relative tolerance in (0, 1)", o->tol));
    std::optional<double> lo_flag, hi_flag;
    if (!o->lo.empty()) lo_flag = parse_flag_number("--lo", o->lo, false);
    if (!o->hi.empty()) hi_flag = parse_flag_number("--hi", o->hi, false);
    if (lo_flag && hi_flag && !(*lo_flag < *hi_flag)) {
      throw InputError(fmt::format("--lo {} --hi {}: expected lo < hi", o->lo, o->hi));
    }

    std::string where;
    std::filesystem::path base;
    const auto j = scenario_json_with_overrides(o->scenario, with_tbt_slowest(o->sets, o->slo_slowest), where, base);
    const Scenario sc = parse_scenario_for_systems(j, where, base);
    const SloSpec slo = slo_with_flags(sc, o->slo_ttft, o->slo_tbt);
    if (!o->curve.empty()) {
      result = run_curve(j, where, base, slo, o->curve, lo_flag, o->json);
      return;
    }
    if (!slo.any()) {
      throw InputError("capacity needs an SLO: --slo-ttft and/or --slo-tbt (seconds), or \"slo\" in the scenario");
    }
    const bool trace = sc.workload.contains("trace");
    std::string knob = o->knob.empty() ? (trace ? "speedup" : "rate") : o->knob;
    if (knob != "speedup" && knob != "rate") {
      throw InputError(fmt::format("--knob {}: expected speedup or rate", knob));
    }
    if (knob == "speedup" && !trace) {
      throw InputError("--knob speedup: the scenario's workload is a generator (scale it with --knob rate)");
    }
    if (knob == "rate" && trace) {
      throw InputError("--knob rate: the scenario's workload is a trace (scale it with --knob speedup)");
    }
    // The knob's value in the scenario: the starting point when --lo is not given.
    double current = 1;
    const auto& w = trace ? sc.workload["trace"] : sc.workload["generator"];
    if (trace && w.contains("speedup") && w["speedup"].is_number()) current = w["speedup"].get<double>();
    if (!trace && w.contains("arrival") && w["arrival"].contains("rate_per_s") && w["arrival"]["rate_per_s"].is_number()) {
      current = w["arrival"]["rate_per_s"].get<double>();
    }
    double lo = lo_flag ? *lo_flag : (hi_flag ? std::min(current, *hi_flag / 2) : current);
    double hi = hi_flag ? *hi_flag : 2 * lo;

    const CapacityCriterion criterion{slo, target, p90};
    CapacityOptions copt;
    copt.lo = lo;
    copt.hi = hi;
    copt.tol = tol;
    auto evaluate = [&](double x) {
      auto jx = j;
      apply_override(jx, knob, fmt::format("{}", x));
      Scenario scx = parse_scenario_for_systems(jx, where, base);
      auto reqs = load_workload(scx);
      CapacityProbe p;
      p.arrival_rate = arrival_rate_per_s(reqs);
      if (!(p.arrival_rate > 0)) {
        throw InputError(fmt::format("{}: the requests all arrive at once (or there are fewer than 2): "
                                     "{} {} does not change the load",
                                     where, knob, x));
      }
      p.s = summarize(simulate(scx, reqs), slo);
      return p;
    };
    bool header = false;
    auto print_probe = [&](const CapacityProbe& p) {
      if (o->json) return;
      if (!header) {
        header = true;
        std::cout << fmt::format("{:>12} {:>12} {:>11} {:>12} {:>12} {:>11} {:>12} {:>12}  {:<7} {}\n", knob, "arrivals/s",
                                 "attainment", "goodput r/s", "goodput t/s", "p90 TTFT s", "p90 TBT/req", "p90 TBT tok",
                                 "", "status");
      }
      std::cout << fmt::format("{:>12.6g} {:>12.6g} {:>10.1f}% {:>12.4g} {:>12.1f} {:>11.4g} {:>12.4g} {:>12.4g}  {:<7} {}\n", p.knob,
                               p.arrival_rate, 100 * p.s.slo.attainment, p.s.slo.goodput_requests_per_s,
                               p.s.slo.goodput_tokens_per_s, p.s.ttft_p90,
                               p.s.tbt_slowest_fraction > 0 ? p.s.req_tbt_slow_p90 : p.s.req_tbt_p90, p.s.tbt_p90,
                               p.pass ? "meets" : "misses", p.s.status == "ok" ? p.s.status : not_served_line(p.s));
      std::cout.flush();
    };

    if (!o->json) {
      std::cout << fmt::format("scenario: {}   system: {}\n", sc.name, sc.system);
      std::cout << fmt::format("SLO: TTFT <= {}, {} TBT per request <= {}; target attainment {:g}%; knob: {}\n\n",
                               slo.ttft_s > 0 ? fmt::format("{:g} s", slo.ttft_s) : "unbounded",
                               slo.tbt_slowest_fraction > 0 ? fmt::format("slowest-{:g}%", 100 * slo.tbt_slowest_fraction) : "mean",
                               slo.tbt_s > 0 ? fmt::format("{:g} s", slo.tbt_s) : "unbounded", 100 * target, knob);
    }
    const CapacityResult res = find_capacity(criterion, copt, evaluate, print_probe);
    const std::string& status = res.status;
    lo = res.lo;
    hi = res.hi;

    nlohmann::json out;
    out["scenario"] = sc.name;
    out["system"] = sc.system;
    out["knob"] = knob;
    out["slo"] = {{"ttft_s", slo.ttft_s > 0 ? nlohmann::json(slo.ttft_s) : nlohmann::json(nullptr)},
                  {"tbt_s", slo.tbt_s > 0 ? nlohmann::json(slo.tbt_s) : nlohmann::json(nullptr)}};
    out["target_attainment"] = target;
    out["criterion"] = o->criterion;
    out["tol"] = tol;
    out["status"] = status;
    nlohmann::json pj = nlohmann::json::array();
    for (const auto& p : res.probes) pj.push_back(capacity_probe_json(p));
    out["probes"] = pj;
    if (status == "ok") {
      const CapacityProbe& c = res.at(lo);
      out["capacity"] = {{"knob", lo},
                         {"requests_per_s", c.arrival_rate},
                         {"attainment", c.s.slo.attainment},
                         {"goodput_requests_per_s", c.s.slo.goodput_requests_per_s},
                         {"goodput_output_tokens_per_s", c.s.slo.goodput_tokens_per_s},
                         {"fails_at_knob", hi}};
    } else {
      out["capacity"] = nullptr;
    }
    // What answered the costs: the pools of the capacity's probe (else the first), as run gives them.
    const Summary* costed = status == "ok" ? &res.at(lo).s : (res.probes.empty() ? nullptr : &res.probes.front().s);
    std::vector<nlohmann::json> calibrations;
    if (costed) {
      nlohmann::json costs = nlohmann::json::array();
      for (const auto& p : costed->pools) {
        costs.push_back({{"pool", p.name}, {"costs", pool_costs_json(p)}});
        calibrations.push_back(p.calibration);
      }
      out["costs"] = costs;
    }
    const std::string warning = calibration_warning(calibrations);
    if (!warning.empty()) out["warning"] = warning;
    if (o->json) {
      std::cout << out.dump(2) << "\n";
    } else if (status == "ok") {
      const CapacityProbe& c = res.at(lo);
      const CapacityProbe& f = res.at(hi);
      std::cout << fmt::format(
          "\ncapacity: {} {:.6g} = {:.6g} requests/s (attainment {:.1f}%, goodput {:.4g} requests/s); "
          "{} {:.6g} ({:.6g} requests/s) misses ({:.1f}%)\n",
          knob, lo, c.arrival_rate, 100 * c.s.slo.attainment, c.s.slo.goodput_requests_per_s, knob, hi,
          f.arrival_rate, 100 * f.s.slo.attainment);
      std::cout << "(bisection assumes attainment falls as load grows; the probes above show whether it did)\n";
    } else if (status == "below_lo") {
      std::cout << fmt::format("\nno capacity: the SLO is missed even at {} {:.6g}\n", knob, lo);
    } else if (status == "below_lo_plateau") {
      std::cout << fmt::format(
          "\nno capacity: the SLO is missed even at {} {:.6g}, and {} halvings of the load changed nothing: "
          "attainment stays at {:.1f}% as the load vanishes\n",
          knob, lo, copt.plateau_steps, 100 * res.at(lo).s.slo.attainment);
    } else {
      std::cout << fmt::format("\ncapacity above {} {:.6g}: the SLO is still met there after {} doublings\n", knob,
                               hi, copt.max_doublings);
    }
    if (!o->json && costed) {
      for (const auto& p : costed->pools) {
        if (const auto l = calibration_line(p.name, p.calibration, p.measured_share); !l.empty()) std::cout << l << "\n";
      }
      if (!warning.empty()) std::cout << warning << "\n";
    }
    result = 0;
  });
}

}  // namespace moska::cli
