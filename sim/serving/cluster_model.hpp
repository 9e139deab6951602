#pragma once
// The cluster as the serving loop and the capacity analysis see it: which pools, their cost models,
// how much unique KV one instance can hold, and what one iteration costs (on one TP group, or
// across the unique and shared pools of moska-disagg). Built and validated from a scenario.
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "sim/cost/cost_model.hpp"
#include "sim/metrics/metrics.hpp"
#include "sim/model/model_spec.hpp"
#include "sim/model/operators.hpp"
#include "sim/serving/routing.hpp"
#include "sim/serving/scenario.hpp"
#include "sim/systems/system.hpp"

namespace moska {

struct IterStats {
  double seconds = 0;
  // Work per pool (0: the serving / unique pool, 1: the shared pool), whole pool.
  double flops[2] = {0, 0};
  double bytes[2] = {0, 0};
};

class ClusterModel {
 public:
  // Throws InputError if the system's pools are missing or the model / shared context do not fit.
  explicit ClusterModel(const Scenario& sc);

  const ModelSpec& model() const { return model_; }
  const SystemTraits& system() const { return sys_; }
  const Precision& precision() const { return prec_; }

  // Logical instances the loop runs: the serve pool's TP groups, or 1 for moska-disagg (its unique
  // pool runs in lockstep so that the shared pool batches all of its queries).
  int logical_instances() const { return logical_instances_; }
  std::int64_t capacity_tokens() const { return capacity_tokens_; }  // unique KV per logical instance
  double fixed_bytes() const { return fixed_bytes_; }  // weights + shared KV per logical instance
  double instance_hbm_bytes() const { return instance_hbm_; }
  // KV bytes one TP group of the serve/unique pool holds per token (heads replicated past TP = KV heads).
  double kv_held_per_token() const { return kv_held_per_token_; }
  int unique_groups() const { return unique_groups_; }
  int shared_groups() const { return shared_groups_; }

  std::int64_t shared_tokens() const { return shared_tokens_; }      // whole chunks
  std::int64_t attended_shared() const { return attended_shared_; }  // per request: top-k chunks or all
  // The first corpus's router (the only one in single-corpus scenarios); nullptr without sharing.
  ChunkRouter* router() const { return corpus_routers_.empty() ? nullptr : corpus_routers_[0].get(); }
  int corpora() const { return static_cast<int>(corpus_routers_.size()); }
  std::int64_t attended_shared(int corpus) const { return corpus_attended_[static_cast<std::size_t>(corpus)]; }
  double corpus_weight(int corpus) const { return corpus_weight_[static_cast<std::size_t>(corpus)]; }
  // Per-chunk query groups of one step, given how many routed queries each corpus has.
  const SharedAttention& route(const std::vector<std::int64_t>& requests_per_corpus) const;
  // universal-moska: leading tokens of each composed module recomputed in the request's prefill.
  std::int64_t recompute_tokens() const { return recompute_tokens_; }

  // Pool statistics with the static fields filled (name, GPUs, peaks); counters at zero.
  std::vector<PoolStats> pool_stats() const { return pools_; }

  // Cost of one iteration of one logical instance (`batch.tp` is ignored: the pool's TP is used).
  IterStats cost(const BatchSpec& batch) const;

 private:
  ModelSpec model_;
  const SystemTraits& sys_;
  Precision prec_;
  double sched_overhead_s_ = 0;
  int micro_batches_ = 1;
  std::vector<CostModel> cms_;  // 0: serve / unique pool, 1: shared pool
  std::vector<PoolStats> pools_;
  int logical_instances_ = 1, unique_groups_ = 1, shared_groups_ = 1, tp_unique_ = 1, tp_shared_ = 1;
  std::int64_t capacity_tokens_ = 0;
  double fixed_bytes_ = 0, instance_hbm_ = 0, kv_held_per_token_ = 0;
  std::int64_t shared_tokens_ = 0, attended_shared_ = 0, recompute_tokens_ = 0;
  std::vector<std::unique_ptr<ChunkRouter>> corpus_routers_;
  std::vector<std::int64_t> corpus_attended_;
  std::vector<double> corpus_weight_;
  mutable SharedAttention mixed_;
  struct DenseCost {
    double seconds, flops, bytes;
  };
  mutable std::unordered_map<std::uint64_t, DenseCost> dense_memo_;  // by (tokens, logit rows)
};

}  // namespace moska
