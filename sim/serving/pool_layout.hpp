#pragma once
// A pool of TP groups as serving and capacity analyses see it: its GPUs' cost model for one
// iteration, its static statistics, and how much KV one of its groups holds.
#include <cstdint>
#include <string>

#include "sim/cost/step_cost.hpp"
#include "sim/metrics/metrics.hpp"
#include "sim/model/model_spec.hpp"
#include "sim/serving/scenario.hpp"

namespace moska {

struct PoolLayout {
  const PoolSpec* spec = nullptr;
  StepCostModel step;  // one TP group's iteration cost
  PoolStats stats;     // static fields filled (name, role, hw, GPUs, peaks); counters at zero
  double kv_held_per_token = 0;  // KV bytes one TP group holds per token
  double group_hbm_bytes = 0;    // HBM of one TP group
};

// Loads the pool's hardware; throws InputError if the GPU lacks the precision's GEMM dtype or the
// pool's TP does not divide the model's heads.
PoolLayout make_pool(const Scenario& sc, const PoolSpec& p, const ModelSpec& model);

// KV bytes a TP group of `tp` GPUs holds per token: with fewer KV heads than ranks, heads are replicated.
double kv_held_per_token(const ModelSpec& model, Dtype kv, int tp);

// Unique-KV tokens one TP group can hold, over its KV bytes per token, with E = the engine's memory
// per group (peak activations of one forward pass of the token budget, CUDA context and graphs;
// zero without an engine profile):
//   scheduler.gpu_memory_utilization u > 0 (vLLM, SGLang): u x HBM - weights - `resident_bytes` - E;
//   otherwise (TRT-LLM's free-memory fraction f = kv_memory_fraction): (HBM - weights - resident - E) x f.
// `resident_bytes` is what else stays there (e.g. shared KV). On-demand schedulers use it in whole
// KV blocks. Throws InputError (the model does not fit) when nothing is left.
std::int64_t group_kv_capacity(const Scenario& sc, const PoolLayout& pool, const ModelSpec& model, double resident_bytes);

// Peak activation bytes of one forward pass of `tokens` tokens on one GPU of a TP group of `tp`
// (vLLM's profile run): per token the residual stream and normed input (2 x hidden), the QKV
// projection and the gate/up outputs (their TP shard), in the activation dtype; plus fp32 logits
// and probabilities over the vocabulary for min(tokens, max_seqs) sampled rows.
double activation_peak_bytes(const ModelSpec& model, const Precision& prec, int tp, std::int64_t tokens, std::int64_t max_seqs);

// The scenario's pool of `role` (the last if several), or nullptr.
const PoolSpec* pool_of_role(const Scenario& sc, const std::string& role);

}  // namespace moska
