// `moska-sim plan <scenario> --rate R --slo-ttft S --slo-tbt S ...`: the cheapest configuration
// meeting the SLOs at R requests/s, the Pareto frontiers of cost vs capacity and vs TTFT, and the
// `run` command of each point (the search is sim/analysis/plan.*). Tasks run on all cores and, under
// an MPI launcher, over the ranks (task i of a round on rank i % N; every rank commits every
// outcome, so all follow the same search); a progress bar on a terminal.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <thread>

#include <fmt/format.h>

#include "sim/analysis/plan.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/mpi_sweep.hpp"
#include "sim/cli/overrides.hpp"
#include "sim/cli/plots.hpp"
#include "sim/hw/gpu.hpp"
#include "sim/systems/system.hpp"
#include "sim/util/error.hpp"
#include "sim/util/paths.hpp"

namespace moska::cli {

namespace {
std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    auto p = s.find(',', start);
    auto x = s.substr(start, p == std::string::npos ? std::string::npos : p - start);
    if (!x.empty()) out.push_back(x);
    if (p == std::string::npos) break;
    start = p + 1;
  }
  return out;
}
// "GPU=VALUE" pairs of a repeatable flag.
std::vector<std::pair<std::string, double>> pairs(const std::string& flag, const std::vector<std::string>& items, bool integer) {
  std::vector<std::pair<std::string, double>> out;
  for (const auto& it : items) {
    for (const auto& x : split_list(it)) {
      auto eq = x.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == x.size()) {
        throw InputError(fmt::format("{} {}: expected GPU=VALUE (e.g. h100-sxm={})", flag, x, integer ? "16" : "2.5"));
      }
      const double v = parse_flag_number(flag, x.substr(eq + 1), false, integer ? 1e6 : 1e4);
      if (integer && v != std::floor(v)) throw InputError(fmt::format("{} {}: expected a whole number of GPUs", flag, x));
      out.push_back({x.substr(0, eq), v});
    }
  }
  return out;
}
}  // namespace

void add_plan(CLI::App& app, int& result) {
  auto* cmd = app.add_subcommand(
      "plan", "The cheapest cluster meeting the SLOs at a load, the cost/capacity and cost/TTFT frontiers, and their run commands");
  struct Opts {
    std::string scenario;
    std::vector<std::string> sets;
    std::string rate;
    std::string slo_ttft, slo_tbt;
    std::string attainment = "0.9";
    std::string criterion = "attainment";
    std::string gpus;
    std::vector<std::string> prices, available;
    int node_size = 8;
    bool whole_nodes = false;
    std::string budget;
    int tp = 0;
    int max_gpus = 64;
    std::string systems;
    std::string budgets;
    std::string tol = "0.05";
    std::string frontier = "2";
    int jobs = 0;
    bool json = false;
    std::string out;
    bool plots = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("scenario", o->scenario, "Scenario (model, dtype, workload, scheduler; its pools are replaced): name or path")->required();
  cmd->add_option("--set", o->sets, "Override a scenario key: KEY=VALUE (as in run)");
  cmd->add_option("--rate", o->rate, "Target load, requests/s (a trace is sped up to it)")->required();
  cmd->add_option("--slo-ttft", o->slo_ttft, "SLO bound on time to first token, seconds (default: the scenario's)");
  cmd->add_option("--slo-tbt", o->slo_tbt, "SLO bound on a request's mean time between tokens (TPOT), seconds (default: the scenario's)");
  cmd->add_option("--attainment", o->attainment, "Share of requests that must meet both bounds, in (0, 1] (default 0.9)");
  cmd->add_option("--criterion", o->criterion, "attainment (default) or p90 (P90 TTFT and P90 token-level TBT under the bounds)");
  cmd->add_option("--gpus", o->gpus, "GPU types to search, comma-separated (default: every hardware profile with a price)");
  cmd->add_option("--price", o->prices, "GPU=USD per GPU-hour, overriding the profile's (repeatable)");
  cmd->add_option("--available", o->available, "GPU=N: at most N GPUs of that type (repeatable)");
  cmd->add_option("--node-size", o->node_size, "GPUs per node: a TP group stays within one (default 8)");
  cmd->add_flag("--whole-nodes", o->whole_nodes, "Only configurations of whole nodes");
  cmd->add_option("--budget", o->budget, "US$ per hour at most");
  cmd->add_option("--tp", o->tp, "Fixed tensor parallelism (default: searched over 1, 2, 4, ... within a node)");
  cmd->add_option("--max-gpus", o->max_gpus, "GPUs per configuration at most (default 64)");
  cmd->add_option("--systems", o->systems, "Systems to search, comma-separated (default: every system the scenario gives work to)");
  cmd->add_option("--budgets", o->budgets, "Token budgets (scheduler.max_batched_tokens) to search (default 1024,2048,4096,8192)");
  cmd->add_option("--tol", o->tol, "Relative tolerance of the capacity bisection (default 0.05)");
  cmd->add_option("--frontier-factor", o->frontier, "Frontiers cover costs up to this x the cheapest answer's (default 2)");
  auto* jobs_opt = cmd->add_option("--jobs", o->jobs, "Threads, >= 1 (default: all cores)");
  cmd->add_flag("--json", o->json, "Print JSON instead of tables");
  cmd->add_option("--out", o->out, "Folder for plan.json, plan.csv (every candidate) and, with --plots, the figures");
  cmd->add_flag("--plots", o->plots, "Draw the frontiers into --out (frontier.png) with tools/plot_plan.py (python3 + matplotlib)");
  cmd->callback([o, jobs_opt, &result]() {
    SweepRanks ranks;
    std::exception_ptr failure;
    std::unique_ptr<PlanSearch> search;
    try {
      if (jobs_opt->count() > 0 && (o->jobs < 1 || o->jobs > 4096)) {
        throw InputError(fmt::format("--jobs {}: expected a number of threads in 1..4096", o->jobs));
      }
      if (o->plots && o->out.empty()) throw InputError("--plots: needs --out DIR (the figures are written there)");
      if (o->node_size < 1 || o->node_size > 4096) throw InputError(fmt::format("--node-size {}: expected 1..4096", o->node_size));
      if (o->max_gpus < 1 || o->max_gpus > 1000000) throw InputError(fmt::format("--max-gpus {}: expected 1..1000000", o->max_gpus));
      if (o->tp < 0 || o->tp > o->node_size) throw InputError(fmt::format("--tp {}: expected 1..{} (the node size)", o->tp, o->node_size));
      PlanSpec spec;
      std::string where;
      std::filesystem::path base;
      spec.base = scenario_json_with_overrides(o->scenario, o->sets, where, base);
      spec.where = where;
      spec.base_dir = base;
      spec.scenario_arg = o->scenario;
      spec.sets = o->sets;
      spec.rate = parse_flag_number("--rate", o->rate, false, 1e9);
      const Scenario sc = parse_scenario_for_systems(spec.base, where, base);
      spec.criterion.slo = slo_with_flags(sc, o->slo_ttft, o->slo_tbt);
      if (!spec.criterion.slo.any()) {
        throw InputError("plan needs an SLO: --slo-ttft and/or --slo-tbt (seconds), or \"slo\" in the scenario");
      }
      spec.criterion.target = parse_flag_number("--attainment", o->attainment, false);
      if (spec.criterion.target > 1) throw InputError(fmt::format("--attainment {}: expected a share in (0, 1]", o->attainment));
      if (o->criterion != "attainment" && o->criterion != "p90") {
        throw InputError(fmt::format("--criterion {}: expected attainment or p90", o->criterion));
      }
      spec.criterion.p90 = o->criterion == "p90";
      spec.tol = parse_flag_number("--tol", o->tol, false);
      if (spec.tol >= 1) throw InputError(fmt::format("--tol {}: expected a relative tolerance in (0, 1)", o->tol));
      spec.frontier_cost_factor = parse_flag_number("--frontier-factor", o->frontier, false, 1000);
      if (spec.frontier_cost_factor < 1) throw InputError(fmt::format("--frontier-factor {}: expected >= 1", o->frontier));
      if (!o->budget.empty()) spec.budget = parse_flag_number("--budget", o->budget, false);
      spec.node_size = o->node_size;
      spec.whole_nodes = o->whole_nodes;
      spec.fixed_tp = o->tp;
      spec.max_gpus = o->max_gpus;
      spec.systems = split_list(o->systems);
      for (const auto& s : spec.systems) find_system(s);  // unknown names fail now
      if (!o->budgets.empty()) {
        spec.token_budgets.clear();
        for (const auto& b : split_list(o->budgets)) {
          const double v = parse_flag_number("--budgets", b, false, 1 << 24);
          if (v != std::floor(v)) throw InputError(fmt::format("--budgets {}: expected whole token counts", b));
          spec.token_budgets.push_back(static_cast<std::int64_t>(v));
        }
        if (spec.token_budgets.empty()) throw InputError("--budgets: expected token counts, e.g. 2048,8192");
      }
      const auto prices = pairs("--price", o->prices, false);
      const auto avail = pairs("--available", o->available, true);
      std::vector<std::string> names = o->gpus.empty() ? list_named_json("hw_profiles") : split_list(o->gpus);
      for (const auto& [n, v] : prices) {
        if (std::find(names.begin(), names.end(), n) == names.end()) throw InputError(fmt::format("--price {}: not a GPU type searched", n));
      }
      for (const auto& [n, v] : avail) {
        if (std::find(names.begin(), names.end(), n) == names.end()) throw InputError(fmt::format("--available {}: not a GPU type searched", n));
      }
      for (const auto& n : names) {
        const auto hw = load_hardware(n);
        PlanGpu g{n, hw.price_usd_per_gpu_hour, hw.price_source, 0};
        for (const auto& [k, v] : prices) {
          if (k == n) {
            g.price = v;
            g.price_source = "--price";
          }
        }
        for (const auto& [k, v] : avail) {
          if (k == n) g.available = static_cast<int>(v);
        }
        if (g.price <= 0) {
          if (!o->gpus.empty()) throw InputError(fmt::format("--gpus {}: its profile has no price_usd_per_gpu_hour (give --price {}=USD)", n, n));
          continue;  // profiles without a price are not searched by default
        }
        spec.gpus.push_back(g);
      }
      if (!o->out.empty()) {
        std::error_code ec;
        std::filesystem::create_directories(o->out, ec);
        if (ec || !std::filesystem::is_directory(o->out)) throw InputError(fmt::format("--out {}: cannot create folder", o->out));
      }
      search = std::make_unique<PlanSearch>(std::move(spec));
    } catch (const InputError& e) {
      failure = ranks.input_failure(e);
    }
    if (ranks.any_failed(failure)) {
      result = 2;
      return;
    }
    const int jobs = o->jobs > 0 ? o->jobs : ranks.default_threads();
    const bool tty = ranks.rank() == 0 && isatty(fileno(stderr));
    const auto size = static_cast<std::size_t>(ranks.size());
    const auto me = static_cast<std::size_t>(ranks.rank());
    std::string error;
    for (;;) {
      const auto round = search->next_round();
      if (round.empty()) break;
      // This rank's tasks: i % size == rank; its threads share them.
      std::vector<std::size_t> mine;
      for (std::size_t i = me; i < round.size(); i += size) mine.push_back(i);
      std::vector<std::string> outcomes(mine.size());
      std::atomic<std::size_t> next{0};
      std::mutex mu;
      auto worker = [&] {
        for (;;) {
          const std::size_t k = next.fetch_add(1);
          if (k >= mine.size()) return;
          try {
            outcomes[k] = search->run(round[mine[k]]);
          } catch (const std::exception& e) {
            std::lock_guard<std::mutex> lock(mu);
            if (error.empty()) error = e.what();
          }
        }
      };
      std::vector<std::thread> threads;
      for (int t = 0; t < std::min<int>(jobs, static_cast<int>(mine.size())); ++t) threads.emplace_back(worker);
      for (auto& t : threads) t.join();
      auto flags = ranks.all_gather(error.empty() ? 0 : 1);
      if (std::find(flags.begin(), flags.end(), 1) != flags.end()) {
        throw InputError(fmt::format("plan: a configuration failed to run: {}", error.empty() ? "on another rank" : error));
      }
      const auto by_rank = ranks.all_gather_rows(outcomes);
      std::vector<std::string> all(round.size());
      for (std::size_t i = 0; i < round.size(); ++i) all[i] = by_rank.at(i % size).at(i / size);
      search->commit(round, all);
      if (tty) {
        const std::size_t total = std::max<std::size_t>(1, search->phase_total());
        const std::size_t done = std::min(total, search->phase_done());
        const int width = 40;
        const int filled = static_cast<int>(width * done / total);
        std::fprintf(stderr, "\r%s [%s%s] %zu/%zu  ", search->phase() == 0 ? "at the target load" : "capacities        ",
                     std::string(filled, '#').c_str(), std::string(width - filled, ' ').c_str(), done, total);
      }
    }
    // The capacity phase's total is an upper bound (candidates it may search): end the bar at done.
    if (tty) std::fprintf(stderr, "\rsearch done: %zu simulations%50s\n", search->result().simulations, "");
    if (ranks.rank() != 0) {
      result = 0;
      return;
    }
    const PlanResult res = search->result();
    const auto j = plan_json(*search, res);
    if (o->json) std::cout << j.dump(2) << "\n";
    else std::cout << plan_table(*search, res);
    if (!o->out.empty()) {
      for (const auto& [name, text] : {std::pair{"/plan.json", j.dump(2) + "\n"}, std::pair{"/plan.csv", plan_csv(*search, res)}}) {
        std::ofstream f(o->out + name);
        f << text;
        if (!f) throw InputError(fmt::format("--out {}: cannot write {}", o->out, name + 1));
      }
      if (o->plots) {
        draw_plots("plan", "plot_plan.py", {o->out});
      }
    }
    result = res.answer >= 0 ? 0 : 1;
  });
}

}  // namespace moska::cli
