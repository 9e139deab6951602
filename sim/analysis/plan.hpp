#pragma once
// `plan`: the cheapest cluster that meets the SLOs for a workload at a target load, and the Pareto
// frontiers a planner looks at (cost vs capacity, cost vs TTFT). The search space is every GPU type
// of the catalogue x TP (within a node) x instances (and the split between two pools for systems
// that take two) x token budget (for systems whose iterations it shapes) x system. Candidates are
// pruned before any simulation:
//   - constraints: GPUs available per type, budget per hour, a fixed TP, whole nodes;
//   - memory: the system's own configure() (weights, KV room), and the share of requests whose KV
//     can ever fit one instance;
//   - latency lower bounds from the cost model: a request's TTFT is at least its prompt prefilled
//     alone in one iteration, its mean TBT at least a decode step of a batch of one at its prompt
//     length; if fewer requests than the attainment target could meet the SLO even so, no load can;
//   - a throughput upper bound: every token passes the dense layers at least once, at no better
//     than the cheapest per-token time of the model's dense part over token counts up to the
//     budget (x 0.95 for what interpolation between measured shapes may hide), so
//     capacity <= instances / (that x tokens per request) per pool.
// The survivors are simulated at the target load in cost order (a run stops once it has missed
// more requests than the target allows), up to `frontier_cost_factor` x the cheapest that meets the
// SLOs; then the capacity (highest load meeting the SLOs, sim/analysis/capacity.*) of the
// candidates that could lie on the cost-vs-capacity frontier: at each cost the one that did best at
// the target load, unless its bound is under the capacity of a cheaper one (and a first probe just
// above that capacity ends the search when it fails). Work is handed out in rounds of a fixed
// size (the same whatever the threads or MPI ranks run them), so the output is deterministic.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/analysis/capacity.hpp"
#include "sim/serving/scenario.hpp"
#include "sim/workload/request.hpp"

namespace moska {

struct PlanGpu {
  std::string hw;              // profile name
  double price = 0;            // US$ per GPU-hour
  std::string price_source;    // the profile's source, or "--price"
  int available = 0;           // GPUs of this type at most; 0 = no limit but max_gpus
};

struct PlanSpec {
  nlohmann::json base;            // the scenario (with the user's --set), pools replaced per candidate
  std::string where;              // where it came from (messages)
  std::filesystem::path base_dir;
  std::string scenario_arg;       // as the user named it, for the printed commands
  std::vector<std::string> sets;  // the user's --set, repeated in the printed commands
  double rate = 0;                // target load, requests/s
  CapacityCriterion criterion;
  std::vector<PlanGpu> gpus;
  int node_size = 8;        // GPUs per node: a TP group stays within one
  bool whole_nodes = false;  // only GPU counts that are whole nodes
  double budget = 0;        // US$ per hour at most; 0 = none
  int fixed_tp = 0;         // 0 = search TP
  int max_gpus = 64;        // per candidate
  std::vector<std::string> systems;  // empty: every registered system the scenario gives work to
  std::vector<std::int64_t> token_budgets{1024, 2048, 4096, 8192};
  double tol = 0.05;                  // capacity bisection tolerance
  double frontier_cost_factor = 2.0;  // frontiers cover costs up to this x the answer's
  std::size_t round_size = 16;        // tasks per round (fixed: the output does not depend on threads)
};

struct PlanCandidate {
  std::string system, hw;
  int tp = 1;
  std::vector<std::string> roles;
  std::vector<int> instances;      // per role
  std::int64_t token_budget = 0;   // 0: the scenario's
  int gpus = 0;
  double cost = 0;                 // US$ per hour
  std::string pruned;              // why it was not simulated at the target ("" = it was)
  bool latency_infeasible = false; // no load can meet the SLO (latency bounds, memory)
  double capacity_bound = 0;       // requests/s, upper bound
  // At the target load.
  bool simulated = false, meets = false, stopped_early = false;
  bool meets_inferred = false;     // not simulated: a smaller one of its layout met the SLOs
  Summary at_target;
  // Capacity (requests/s); searched only for possible frontier points.
  bool capacity_searched = false;
  std::string capacity_status;  // ok, below_lo, ..., "dominated" (below a cheaper one's)
  double capacity = 0, capacity_fails_at = 0;
  int probes = 0;
  double speedup = 0;  // trace workloads: the speedup at the target load
};

struct PlanTask {
  enum class Kind : std::uint8_t { at_target, capacity } kind = Kind::at_target;
  std::size_t candidate = 0;
  double floor = 0;  // capacity: the best capacity of a cheaper candidate known when it was handed out
};

struct PlanResult {
  std::vector<PlanCandidate> candidates;  // in search order: cost, then capacity bound (descending)
  std::vector<std::string> notes;         // what was left out and why (GPU types, systems)
  int answer = -1;                        // index of the cheapest meeting the SLOs, -1 = none
  std::vector<int> capacity_frontier;     // indices, cost ascending, capacity strictly increasing
  std::vector<int> ttft_frontier;         // meeting the SLOs: cost ascending, P90 TTFT strictly decreasing
  std::size_t space = 0, pruned_constraints = 0, pruned_memory = 0, pruned_latency = 0, pruned_throughput = 0;
  std::size_t simulations = 0;
  double natural_rate = 0;  // the workload's own requests/s (trace at speedup 1, or the generator's)
  bool trace = false;
  std::string calibration_warning;  // GPUs of the catalogue on different footing (measured vs roofline)
};

class PlanSearch {
 public:
  // Enumerates and prunes; loads the workload once. Throws InputError on bad input (no GPU type
  // can hold the model within a node: pipeline parallelism is not modelled).
  explicit PlanSearch(PlanSpec spec);
  ~PlanSearch();

  // The next round of independent tasks (empty: done). Tasks may run on any thread or rank.
  std::vector<PlanTask> next_round();
  // Runs one task; thread-safe. Returns its outcome, serialised (for MPI ranks).
  std::string run(const PlanTask& t) const;
  // Records a round's outcomes, in the round's order.
  void commit(const std::vector<PlanTask>& round, const std::vector<std::string>& outcomes);
  // The phase the search is in, for progress: 0 at the target load, 1 capacities, 2 done.
  int phase() const { return phase_; }
  std::size_t phase_total() const;  // tasks the phase may run at most
  std::size_t phase_done() const { return phase_done_; }

  PlanResult result() const;
  const PlanSpec& spec() const { return spec_; }
  // The `--set` arguments (after the user's) that make the scenario candidate c at `rate` req/s.
  std::vector<std::string> candidate_sets(const PlanCandidate& c, double rate) const;

 private:
  bool representative(std::size_t i) const;
  bool meets_by_monotonicity(std::size_t i) const;
  struct Impl;
  PlanSpec spec_;
  std::unique_ptr<Impl> impl_;
  int phase_ = 0;
  std::size_t phase_done_ = 0;
};

// A printable command line for `moska-sim run` of candidate c at `rate` (shell-quoted).
std::string plan_run_command(const PlanSearch& s, const PlanCandidate& c, double rate);
nlohmann::json plan_json(const PlanSearch& s, const PlanResult& r);
std::string plan_table(const PlanSearch& s, const PlanResult& r);
// One CSV row per candidate (every field above), for plots and spreadsheets.
std::string plan_csv(const PlanSearch& s, const PlanResult& r);

}  // namespace moska
