#pragma once
// The cost of one iteration on one tensor-parallel group: the operator list of the batch
// (sim/model/operators.*) costed by a CostModel, without rebuilding what repeats from step to step.
// A serving run costs millions of iterations whose dense part depends only on the token count, whose
// shared-chunk part depends only on the routing, and whose attention ops differ only in their batch:
// those terms are cached. Folding the cached terms in operator order gives the same bits as
// CostModel::iteration over build_iteration_ops (tests/test_cost_caches.cpp checks it).
//
// Systems compose iterations from the parts (a disaggregated system costs the dense and unique-KV
// part on one pool and the shared part on another); iteration() is the whole colocated step.
#include <cstdint>
#include <vector>

#include "sim/cost/cost_model.hpp"
#include "sim/model/model_spec.hpp"
#include "sim/model/operators.hpp"

namespace moska {

// Time and work of some operators on one GPU of the group: seconds summed over the operators
// (x their count); FLOPs and bytes likewise, collectives counting no FLOPs or bytes; `measured`: the
// part of `seconds` that measured kernel tables answered (the rest: roofline, fits, host overheads).
struct Work {
  double seconds = 0, flops = 0, bytes = 0, measured = 0;
  void add(const Work& w) {
    seconds += w.seconds;
    flops += w.flops;
    bytes += w.bytes;
    measured += w.measured;
  }
};

class StepCostModel {
 public:
  StepCostModel(const ModelSpec& model, const Precision& prec, CostModel cm, int tp);

  const ModelSpec& model() const { return model_; }
  const Precision& precision() const { return prec_; }
  const CostModel& cost_model() const { return cm_; }
  int tp() const { return tp_; }
  // The GPU profile's host overhead per iteration (CostModel::iteration adds it once).
  double iteration_overhead_s() const { return cm_.gpu().roofline.iteration_overhead_s; }

  // One colocated iteration of `batch` (its `tp` is ignored: the group's is used): dense part,
  // unique attention, shared part, and the GPU profile's host overhead. FLOPs and bytes are the
  // whole group's (per GPU x tp).
  Work iteration(const BatchSpec& batch) const;
  // The same for one prompt alone: `new_tokens` prefilled after `past_tokens` cached ones (cached
  // by the pair: a cache-aware scheduler asks the same prompt's cost of every instance).
  Work prompt(std::int64_t new_tokens, std::int64_t past_tokens) const;

  // The parts, per GPU, added to `acc` in the order build_iteration_ops emits them.
  // Dense part: the operators that depend on the token count, then those of the logit rows.
  void fold_dense(std::int64_t tokens, std::int64_t logit_rows, Work& acc) const;
  // Unique attention: kv_append, decode attention, each prefill chunk's attention.
  void fold_unique_attention(const BatchSpec& b, Work& acc) const;
  // Shared part (router, gather, chunk launches, merge), cached by the routing.
  void fold_shared(const SharedAttention& s, Work& acc) const;
  // One operator's term.
  Work op(const Op& op) const;

 private:
  ModelSpec model_;
  Precision prec_;
  CostModel cm_;
  int tp_ = 1;

  // Term lists of the shared part by routing: slot = routed requests, the full routing kept and
  // compared (another routing of the same request count replaces it).
  class SharedTermCache {
   public:
    const std::vector<Work>* find(const SharedAttention& s) const;
    void insert(const SharedAttention& s, const std::vector<Work>& terms);

   private:
    struct Entry {
      SharedAttention s;
      std::vector<Work> terms;
      bool used = false;
    };
    std::vector<Entry> slots_;
  };
  // Terms by a small integer (token count, logit rows): `stride` terms per value, computed on first use.
  struct TermTable {
    int stride = -1;  // operators per value; -1 until the first value is built
    std::vector<Work> terms;
    std::vector<char> known;
  };
  struct DenseCost {
    double seconds = 0, flops = 0, bytes = 0, measured = 0;
    bool known = false;
  };
  DenseCost dense_cost(const BatchSpec& b) const;  // the dense part's sum, as CostModel::iteration gives it
  Work iteration_uncached(const BatchSpec& batch) const;

  mutable std::vector<DenseCost> dense_rows_eq_tokens_;  // rows == tokens (decode-only batches), by tokens
  mutable TermTable token_terms_, logit_terms_;         // dense part: by tokens, by logit rows
  mutable SharedTermCache shared_terms_;
  mutable std::vector<Work> kv_append_;                  // by appended tokens; seconds < 0: not computed
  mutable Op decode_op_, prefill_op_;                    // attention ops, re-targeted per step
  mutable bool decode_op_made_ = false, prefill_op_made_ = false;
  // One prompt alone (prefill instances; a cache-aware scheduler asks the same prompt's cost of every
  // instance): a small direct-mapped cache by (new tokens, cached tokens).
  struct PromptEntry {
    std::int64_t new_tokens = 0, past_tokens = 0;
    Work work;
    bool known = false;
  };
  static constexpr std::size_t kPromptCache = 4096;
  mutable std::vector<PromptEntry> prompt_cache_ = std::vector<PromptEntry>(kPromptCache);
  mutable BatchSpec prompt_batch_;  // scratch: one prompt
  mutable std::vector<Op> ops_;     // scratch
  mutable std::vector<Work> terms_;  // scratch
};

}  // namespace moska
