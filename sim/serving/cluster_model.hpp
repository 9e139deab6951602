#pragma once
// The cluster as the serving loop and the capacity analysis see it: which pools, their cost models,
// how much unique KV one instance can hold, and what one iteration costs (on one TP group, or
// across the unique and shared pools of moska-disagg). Built and validated from a scenario.
#include <cstdint>
#include <memory>
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

  // Costing an iteration without rebuilding what repeats. An operator's contribution to an
  // iteration, as CostModel::iteration adds it up (seconds x count; FLOPs and bytes x count, 0 for
  // collectives): folding these in operator order gives the same bits as iteration() over the list.
  struct Term {
    double seconds = 0, flops = 0, bytes = 0;
  };
  struct Acc {
    double seconds = 0, flops = 0, bytes = 0;
    void add(const Term& t) {
      seconds += t.seconds;
      flops += t.flops;
      bytes += t.bytes;
    }
  };
  // Term lists of the shared part by the step's routing: slot = routed requests, the full routing
  // kept and compared (another routing of the same request count replaces it).
  class SharedTermCache {
   public:
    const std::vector<Term>* find(const SharedAttention& s) const;
    void insert(const SharedAttention& s, const std::vector<Term>& terms);

   private:
    struct Entry {
      SharedAttention s;
      std::vector<Term> terms;
      bool used = false;
    };
    std::vector<Entry> slots_;
  };
  // Terms by a small integer (token count, logit rows): `stride` terms per value, computed on first use.
  struct TermTable {
    int stride = -1;  // operators per value; -1 until the first value is built
    std::vector<Term> terms;
    std::vector<char> known;
  };
  Term term(int pool, const Op& op) const;
  // The dense part of the serve / unique pool (append_dense_ops' order): token ops, then logit ops.
  void fold_dense(std::int64_t tokens, std::int64_t rows, Acc& acc) const;
  // Unique attention of the batch (kv_append, decode, prefills; append_unique_attention_ops' order).
  void fold_unique_attention(const BatchSpec& b, int tp, Acc& acc) const;
  // The shared part of a step (append_shared_ops), cached by its routing per pool.
  void fold_shared(int pool, const SharedAttention& s, int tp, Acc& acc) const;

  struct DenseCost {
    double seconds = 0, flops = 0, bytes = 0;
    bool known = false;
  };
  DenseCost dense_cost(const BatchSpec& b) const;  // colocated: the dense part's sum
  mutable std::vector<DenseCost> dense_rows_eq_tokens_;  // rows == tokens (decode-only batches), by tokens
  mutable TermTable token_terms_, logit_terms_;       // dense part, pool 0: by tokens, by logit rows
  mutable SharedTermCache shared_terms_[2];           // per pool
  mutable std::vector<Term> kv_append_;               // by appended tokens; seconds < 0: not computed
  mutable Op decode_op_, prefill_op_;                 // attention ops, re-targeted per step
  mutable int decode_op_tp_ = 0, prefill_op_tp_ = 0;
  IterStats cost_uncached(const BatchSpec& batch) const;
  struct PromptEntry {
    std::int64_t new_tokens = 0, past_tokens = 0;
    IterStats stats;
    bool known = false;
  };
  static constexpr std::size_t kPromptCache = 4096;
  mutable std::vector<PromptEntry> prompt_cache_ = std::vector<PromptEntry>(kPromptCache);
  mutable std::vector<Op> ops_;                       // scratch
  mutable std::vector<Term> terms_;                   // scratch
  mutable BatchSpec a_;                               // scratch (moska-disagg unique pool share)
  mutable SharedAttention mixed_b_;                   // scratch (moska-disagg shared pool share)
};

}  // namespace moska
