#pragma once
// Prefill instances that run one prompt at a time (a prefill pool of prefill/decode disaggregation),
// optionally as a chunked pipeline: a group of `stages` instances each runs 1/stages of the layers
// and the prompt's chunks flow through them (chunked pipeline parallelism). The system decides, by
// hooks, when a queued prompt may start (e.g. once a prefix fetched from elsewhere has arrived), how
// much of it is already cached (and how long loading that takes), and what happens when it starts
// (e.g. its KV starts streaming out) and ends.
#include <cstdint>
#include <deque>
#include <utility>

#include "sim/cost/step_cost.hpp"
#include "sim/serving/serving_loop.hpp"

namespace moska {

// Prefill of one prompt on a pipeline group: how long it keeps the group busy, how long until its
// first token, and the work it does (whole group).
struct PrefillCost {
  double occupancy = 0, latency = 0, flops = 0, bytes = 0;
  double measured = 0;  // seconds (summed over the stages) that measured kernel tables answered
};

class PipelinePrefillModel {
 public:
  // `step`: one stage instance's iteration cost (all layers); `overhead_s` is added per iteration;
  // `hop_latency_s` is paid per stage hand-off.
  PipelinePrefillModel(const StepCostModel& step, double overhead_s, int stages, std::int64_t chunk_tokens,
                       double hop_latency_s)
      : step_(step), overhead_s_(overhead_s), stages_(stages), chunk_tokens_(chunk_tokens), hop_latency_s_(hop_latency_s) {}
  // `n_new` tokens after `past` cached ones.
  PrefillCost cost(std::int64_t n_new, std::int64_t past) const;
  int stages() const { return stages_; }

 private:
  const StepCostModel& step_;
  double overhead_s_;
  int stages_;
  std::int64_t chunk_tokens_;
  double hop_latency_s_;
};

class PrefillHooks {
 public:
  virtual ~PrefillHooks() = default;
  // Whether queued request r may start now.
  virtual bool ready(std::uint32_t r) const = 0;
  // At its start on instance `inst`: prompt tokens already cached there, and the seconds to load
  // them (overlapped with the compute, layer by layer).
  virtual std::int64_t cached_at_start(int inst, std::uint32_t r, double& load_s) = 0;
  // It started now on `inst` (nothing computed yet), its first token due in `latency_s`.
  virtual void prefill_started(int inst, std::uint32_t r, std::int64_t computed_tokens, double latency_s) = 0;
  // Its prefill ended (first token) on `inst`.
  virtual void prefilled(int inst, std::uint32_t r) = 0;
};

struct PrefillPipelineConfig {
  int pool = 0, id = 0;
  double kv_held_per_token = 0;  // per stage instance
  double fixed_bytes = 0;        // per stage instance
  double hbm_bytes = 0;          // per stage instance
};

class PrefillPipeline {
 public:
  PrefillPipeline(ServingLoop& loop, const PrefillPipelineConfig& cfg, const PipelinePrefillModel& model,
                  PrefillHooks& hooks)
      : loop_(loop), cfg_(cfg), model_(model), hooks_(hooks) {}
  // Queues r, whose prefill is predicted to keep the group busy `occupancy_s`.
  void enqueue(std::uint32_t r, double occupancy_s);
  // Something a queued request waited for is there: try to start.
  void wake() { try_start(); }
  // Seconds of work queued ahead of a new request (the rest of the running one + queued occupancies).
  double queue_s(TimeNs now) const { return std::max(0.0, ns_to_seconds(busy_until_ - now)) + queued_s_; }

 private:
  void try_start();
  ServingLoop& loop_;
  PrefillPipelineConfig cfg_;
  const PipelinePrefillModel& model_;
  PrefillHooks& hooks_;
  std::deque<std::pair<std::uint32_t, double>> queue_;  // (request, predicted occupancy)
  double queued_s_ = 0;
  TimeNs busy_until_ = 0;
  bool waking_ = false;
};

}  // namespace moska
