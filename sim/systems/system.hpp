#pragma once
// A system of the mission (vllm, moska, mooncake, ...): one file under sim/systems/ that decides
// where unique and shared KV live and what each request holds and reads, how one iteration of a
// batch becomes operators on which pools, and which policies (dispatch, admission, batching, KV
// placement) the serving loop runs. It registers itself in registry.cpp. Everything else asks these
// objects: the serving loop (through the Deployment a system configures), `scaling` (steady-state
// decode of a full batch), `predict` (the same batch under each way of attending a shared context).
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "sim/metrics/metrics.hpp"
#include "sim/model/model_spec.hpp"
#include "sim/model/operators.hpp"
#include "sim/serving/iteration.hpp"
#include "sim/serving/scenario.hpp"
#include "sim/serving/serving_loop.hpp"

namespace moska {

// A system configured for one scenario: what the serving loop runs (Deployment), and the view the
// steady-state analysis (`scaling`) takes of it.
class ConfiguredSystem : public Deployment {
 public:
  // Empty if the steady-state decode analysis applies, else why not.
  virtual std::string steady_state_unsupported() const { return ""; }
  // Why a request with `own_tokens` of its own context (attending the largest shared corpus) cannot
  // be served within the model's max_context, "" if it can (e.g. by context parallelism).
  virtual std::string span_error(std::int64_t /*own_tokens*/) const { return ""; }
  // Whether a request's own tokens (prompt + output) may exceed the model's max_context because the
  // deployment serves them with context parallelism (simulate() checks every request otherwise).
  virtual bool own_span_parallel() const { return false; }
  const ModelSpec& model() const { return model_; }
  // Logical instances the loop runs (a group of TP groups run in lockstep counts once).
  virtual int logical_instances() const = 0;
  // TP groups of a logical instance that hold unique KV (a request's KV lives on one of them).
  virtual int kv_groups() const = 0;
  virtual std::int64_t capacity_tokens() const = 0;  // unique KV per logical instance
  virtual double fixed_bytes() const = 0;           // weights + shared KV per logical instance
  virtual double instance_hbm_bytes() const = 0;
  virtual std::int64_t shared_tokens() const = 0;  // whole chunks
  // KV tokens a request with `ctx` tokens of its own holds, and reads itself per decode step.
  virtual std::int64_t tokens_per_request(std::int64_t ctx) const = 0;
  virtual std::int64_t read_per_request(std::int64_t ctx) const = 0;
  // Why a TP group that cannot hold one request is full, after "weights": "" or " and the shared KV".
  virtual std::string resident_note() const { return ""; }
  // One decode step of `batch` requests each reading `read` KV tokens itself, on one logical instance.
  virtual void decode_step(std::int64_t batch, std::int64_t read, IterStats& out) const = 0;
  // Pools with static fields filled.
  virtual std::vector<PoolStats> pool_stats() const = 0;

 protected:
  explicit ConfiguredSystem(ModelSpec model) : model_(std::move(model)) {}
  ModelSpec model_;
};

// The same decode batch under one way of attending a shared context (predict's comparison rows).
struct StrategyQuery {
  std::int64_t batch = 0;     // decode requests
  BatchSpec base;             // their own KV only (decode_kv_tokens = batch x ctx), tp set
  std::int64_t chunks = 0;    // shared chunks
  std::int64_t chunk_tokens = 0;
  double sparsity = 0;        // share of the chunks a sparse system's router skips
  double unique_kv_bytes = 0;     // per GPU, the batch's own KV
  double shared_kv_once_bytes = 0;  // per GPU, one copy of the shared KV
};
struct Strategy {
  std::string what;
  BatchSpec batch;
  SharedAttention selection;   // chunks each request scores itself (sparse; requests 0 = none): append_selection_ops
  double kv_needed_bytes = 0;  // per GPU, to hold the batch
};

// Steady-state decode of the largest batch that fits (MoSKA paper, Fig. 4 and 5).
struct ScalingOptions {
  std::int64_t ctx = 65536;          // unique KV tokens per request (its own context)
  std::int64_t max_batch = 0;        // cap on the decode batch per logical instance; 0 = none
  std::vector<std::string> systems;  // empty = the systems compared by default
  std::string baseline;              // normalise to this system; "" = the preferred baseline that fits
};

struct ScalingPool {
  std::string name, role, hw;
  int gpus = 0;
  double flops = 0, bytes = 0;   // work of one step, whole pool
  double mfu = 0;                // flops / (step x GPUs x peak of the GEMM dtype)
  double hbm_bw_util = 0;        // bytes / (step x GPUs x HBM bandwidth)
  double hbm_capacity_util = 0;  // weights + shared KV + the batch's KV held, over the pool's HBM
  nlohmann::json calibration;    // what answers its costs (PoolStats::calibration)
  double measured_share = 0;     // of the step, the time measured kernel tables answered
};

struct ScalingRow {
  std::string system;
  bool fits = false;
  std::string why;  // when !fits: the simulator's reason
  int gpus = 0;     // all pools the system uses
  int logical_instances = 0;
  int kv_groups = 0;  // TP groups that hold unique KV (a request's KV lives on one of them)
  std::int64_t capacity_tokens = 0;     // unique-KV tokens, whole cluster
  std::int64_t tokens_per_request = 0;  // KV tokens a request holds (ctx, + its shared copy for vllm)
  std::int64_t read_per_request = 0;    // KV tokens a request's decode reads itself per step
  std::int64_t batch_capability = 0;    // whole cluster, before --max-batch
  std::int64_t batch = 0;               // whole cluster, after --max-batch
  bool capped = false;
  double step_s = 0;
  double tokens_per_s = 0, tokens_per_s_per_gpu = 0;
  double normalized = 0;             // tokens/s per GPU over the baseline's (0 without a baseline)
  double normalized_deployment = 0;  // tokens/s of the whole deployment over the baseline's (its GPUs as they are)
  double batch_ratio = 0;            // batch over the baseline's
  std::vector<ScalingPool> pools;
};

// How `plan` lays out a deployment of a system when it searches configurations: the pools it
// takes, by role (one: identical instances; two: e.g. prefill and decode, whose split is searched),
// whether the scheduler's token budget (scheduler.max_batched_tokens) shapes its iterations, and,
// when the scenario gives it nothing to do that another system does not already do, why it is left
// out of a plan's default search.
struct PlanShape {
  std::vector<std::string> roles{"serve"};
  bool token_budget = true;
  std::string skip;
};

class System {
 public:
  virtual ~System() = default;
  virtual std::string_view name() const = 0;
  virtual std::string_view description() const = 0;
  // Top-level scenario sections this system reads (e.g. "mooncake"); other systems ignore them.
  virtual std::vector<std::string> sections() const { return {}; }
  // Validates those sections when a scenario is read (whichever system it runs), so a typo fails
  // before any work. Throws InputError naming the key.
  virtual void check_sections(const Scenario& /*sc*/) const {}
  // Short names for `--set` keys of those sections (e.g. policy -> mooncake.policy).
  virtual std::vector<std::pair<std::string, std::string>> override_aliases() const { return {}; }
  // This system configured for `sc`. Throws InputError when the scenario cannot run on it (pools
  // missing, the model or the shared context does not fit, a bad section).
  virtual std::unique_ptr<ConfiguredSystem> configure(const Scenario& sc) const = 0;

  // `scaling`: whether the default comparison includes it, and its preference as the baseline the
  // others are normalised to (lower first; -1: never a baseline).
  virtual bool compared_by_default() const { return false; }
  virtual int baseline_rank() const { return -1; }
  // GPUs of the pools it would use, from the scenario alone (for rows that do not fit).
  virtual int scenario_gpus(const Scenario& sc) const = 0;
  // The steady-state decode row (fits = false with the reason when it cannot run).
  ScalingRow scaling_row(const Scenario& sc, const ScalingOptions& opt) const;

  // `plan`: its layout for a search over configurations of `sc` (see PlanShape).
  virtual PlanShape plan_shape(const Scenario& /*sc*/) const { return {}; }

  // `predict`: this system's way of attending a shared context for a decode batch, if it has one.
  virtual std::optional<Strategy> strategy(const StrategyQuery& /*q*/) const { return std::nullopt; }
};

// GPUs of the scenario's pools whose role is one of `roles` (a system's scenario_gpus).
int gpus_in_roles(const Scenario& sc, const std::vector<std::string>& roles);

// Registered systems, in registry order (registry.cpp). find_system throws InputError listing them.
const std::vector<const System*>& all_systems();
const System& find_system(const std::string& name);
std::vector<std::string> system_names();

// A scenario file parsed with the sections registered systems read.
Scenario parse_scenario_for_systems(const nlohmann::json& j, const std::string& where, const std::filesystem::path& base_dir);

// The scenario the CLI runs when none is named: MoSKA serving FP8 Llama-3.1-8B on one 8xH100 node
// with a 1M-token shared context at 75% sparsity.
nlohmann::json default_scenario_json();

// Runs `requests` through the scenario's system (with the options' observer and miss budget, if
// any). Throws InputError on a configuration that cannot run.
RunResult simulate(const Scenario& scenario, const std::vector<Request>& requests, const RunOptions& opt = {});

}  // namespace moska
