#pragma once
// The systems that serve a shared context (a corpus every request may attend) on continuous-batching
// instances: vllm, prefix-cache, cascade, sparse, moska, universal-moska (one pool of colocated
// instances) and moska-disagg, universal-moska-disagg (a unique-KV pool and a shared-KV pool).
// Each system's file says how it stores, reads and attends the shared context (the hooks below);
// this file holds what they share: what a request then holds and reads, the instances, dispatch,
// and the colocated iteration (the whole step on one TP group).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/engine/rng.hpp"
#include "sim/serving/batching_instance.hpp"
#include "sim/serving/dispatch.hpp"
#include "sim/serving/pool_layout.hpp"
#include "sim/systems/context_parallel.hpp"
#include "sim/systems/shared_context.hpp"
#include "sim/systems/system.hpp"

namespace moska {

// What a request that attends corpus c holds and reads of it.
struct SharedUse {
  std::int64_t own_tokens = 0;    // its own copy: prefilled with its prompt and held in its KV
  std::int64_t read_tokens = 0;   // tokens its decode reads itself per step (GEMV per request)
  std::int64_t prefill_past = 0;  // tokens its prefill attends as if cached before its prompt
  bool routed = false;            // its queries go to batched per-chunk launches instead
  bool selects = false;           // it picks its top-k chunks itself every step (sparse: costed selection)
};

class SharedKvSystem : public System {
 public:
  int scenario_gpus(const Scenario& sc) const override;
  std::optional<Strategy> strategy(const StrategyQuery& q) const override;
  // Colocated systems read "context_parallel" (sim/systems/context_parallel.hpp); `--set cp=N`.
  std::vector<std::string> sections() const override { return {"context_parallel"}; }
  std::vector<std::pair<std::string, std::string>> override_aliases() const override {
    return {{"cp", "context_parallel.degree"}};
  }

  // The hooks each system's file gives.
  // The shared context as this system cuts it (top-k chunks or all; a module library or flat);
  // `where` names the scenario file in errors.
  virtual SharedContext shared_context(const SharedSpec& spec, const std::string& where) const = 0;
  // What a request attending corpus c holds and reads.
  virtual SharedUse shared_use(const SharedContext& ctx, int corpus) const = 0;
  // Whether it serves only scenarios with a shared context (everything but vllm: without one, the
  // other systems would run as vllm under another name).
  virtual bool needs_shared_context() const { return true; }
  // Whether each instance (or the shared pool) holds the shared KV once, vs a copy per request.
  virtual bool holds_shared_once() const { return true; }
  // Pool roles it runs on ("serve", or "unique" + "shared").
  virtual std::vector<std::string> roles() const { return {"serve"}; }
  // predict's one-line description of its way of attending the shared context ("" = no row).
  virtual std::string strategy_what() const { return ""; }
  // Without a shared context every colocated system serves as the baseline does (one is searched),
  // and the disaggregated ones have nothing for their shared pool.
  PlanShape plan_shape(const Scenario& sc) const override;
};

// Continuous-batching instances over one logical pool, requests shaped by a SharedKvSystem.
class BatchingDeployment : public ConfiguredSystem, public IterationModel {
 public:
  BatchingDeployment(const SharedKvSystem& sys, const Scenario& sc, ModelSpec model, SharedContext shared);

  void start(ServingLoop& loop) override;
  void arrive(std::uint32_t r) override;
  void finish_run(ServingLoop& loop) override;

  std::int64_t shared_tokens() const override { return shared_.tokens(); }
  std::int64_t tokens_per_request(std::int64_t ctx) const override;
  std::int64_t read_per_request(std::int64_t ctx) const override;
  void decode_step(std::int64_t batch, std::int64_t read, IterStats& out) const override;
  void route(const std::vector<std::int64_t>& routed_per_corpus, SharedAttention& out) const override;
  std::string span_error(std::int64_t own_tokens) const override;
  bool own_span_parallel() const override { return parallel_own_span(); }

 protected:
  // The chunk selection of a system whose requests pick their own chunks (SharedUse::selects), for
  // the step's scored queries (batch.shared without launch groups), each rank scoring its 1/stripes
  // of the chunks: one GPU's work, added to `acc`.
  void fold_selection(const StepCostModel& step, const BatchSpec& batch, int stripes, Work& acc) const;

  // Whether a span longer than the model's max_context is served by context parallelism: the part
  // of the shared context (colocated: a CP group of >= 2 ranks; moska-disagg: its shared pool), and
  // a request's own tokens.
  virtual bool parallel_shared_span() const = 0;
  virtual bool parallel_own_span() const = 0;
  // Why a request with `own` tokens (prompt + output) attending `shared_span` tokens of the shared
  // context cannot be served ("" if it can); `what` names it in the message. Checked in scenarios
  // with a shared context (a request that attends none included), not for a trace alone.
  std::string span_error(std::int64_t own, std::int64_t shared_span, const std::string& what) const;
  // Throws InputError if no request attending the shared context could be served.
  void check_shared_span() const;

  // KV bytes one of its instances holds per token (pool 0 is where they live).
  virtual double kv_held_per_token() const = 0;
  // What a request attending the largest corpus holds and reads (steady-state upper bound).
  SharedUse largest_use() const;

  const SharedKvSystem& sys_;
  const Scenario& sc_;
  SharedContext shared_;
  bool routed_ = false, selects_ = false;  // the system's SharedUse: batched launches, or its own selection
  ServingLoop* loop_ = nullptr;
  Dispatcher dispatch_;
  std::vector<std::unique_ptr<BatchingInstance>> instances_;
  mutable std::vector<Op> select_ops_;  // scratch
};

// The whole step on one TP group of the scenario's `serve` pool.
class ColocatedDeployment : public BatchingDeployment {
 public:
  ColocatedDeployment(const SharedKvSystem& sys, const Scenario& sc);

  void cost(const BatchSpec& batch, IterStats& out) const override;

  // A logical instance is one TP group, or a CP group of `context_parallel.degree` of them.
  int logical_instances() const override { return pool_.spec->instances / cp_.degree; }
  int kv_groups() const override { return 1; }
  std::string resident_note() const override;
  std::int64_t capacity_tokens() const override { return capacity_; }
  double fixed_bytes() const override { return fixed_bytes_; }
  double instance_hbm_bytes() const override { return pool_.group_hbm_bytes * cp_.degree; }
  std::vector<PoolStats> pool_stats() const override { return {pool_.stats}; }
  const ContextParallel& context_parallel() const { return cp_; }

 protected:
  double kv_held_per_token() const override { return pool_.kv_held_per_token; }
  bool parallel_shared_span() const override { return cp_.degree > 1; }
  bool parallel_own_span() const override { return cp_.degree > 1; }

 private:
  // One rank's step on a CP group (cp_.degree > 1), one GPU's work.
  Work cp_step(const BatchSpec& batch) const;

  PoolLayout pool_;
  ContextParallel cp_;
  CpRing ring_;
  std::int64_t capacity_ = 0;
  double fixed_bytes_ = 0;
  mutable CpRank rank_;              // scratch
  mutable SharedAttention striped_;  // scratch
  // The owner's router and final-merge terms by their row count (a serving run asks the same few
  // thousand again and again; building and costing the operator each step doubled a step's cost).
  struct CpTerm {
    std::int64_t a = -1, b = -1;  // the other shape numbers it was computed for (chunks and top-k; parts)
    Work work;
  };
  Work cp_term(std::vector<CpTerm>& cache, std::int64_t rows, std::int64_t a, std::int64_t b, bool router) const;
  mutable std::vector<CpTerm> cp_router_, cp_merge_;
};

// The colocated systems (one serve pool).
class ColocatedSystem : public SharedKvSystem {
 public:
  std::unique_ptr<ConfiguredSystem> configure(const Scenario& sc) const override {
    return std::make_unique<ColocatedDeployment>(*this, sc);
  }
};

// The model, its shared context for `sys`, and the serve pool, checked in the order the errors name them.
const PoolSpec& serve_pool(const Scenario& sc, std::string_view system);

}  // namespace moska
