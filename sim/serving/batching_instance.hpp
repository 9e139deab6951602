#pragma once
// One serving instance (a TP group, or a logical group standing for several) batching requests as
// a real engine's scheduler does, by the scenario's policy (scheduler.policy; README "Schedulers"):
//   - KV: reserved at admission for prompt + output (trtllm, orca: nothing is ever preempted), or
//     allocated in blocks as tokens arrive (vllm-v1, vllm-v0, sarathi, sglang): when the blocks run
//     out the most recently admitted running request is preempted, its KV freed and recomputed
//     later (or swapped to host memory over PCIe and back);
//   - batches: every running decode plus prefill chunks up to the token budget (decodes first), or
//     prefill-only iterations whenever new prompts can start, else a decode step (vllm-v0, sglang);
//     multi-step rounds of decode steps (vllm-v0);
//   - costs outside the GPU step: the engine profile's per-round CPU time (scheduler.engine).
// A request that arrives already prefilled (by another instance) joins the decodes directly. One
// event per iteration; the running decodes advance in O(1) amortised (DecodeSet).
#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "sim/serving/decode_set.hpp"
#include "sim/serving/iteration.hpp"
#include "sim/serving/kv_lending.hpp"
#include "sim/serving/kv_store.hpp"
#include "sim/serving/serving_loop.hpp"

namespace moska {

struct InstanceConfig {
  int pool = 0;  // index into RunResult::pools
  int id = 0;
  std::int64_t capacity_tokens = 0;  // unique KV it can hold
  double fixed_bytes = 0;            // weights (+ shared KV) its GPUs hold
  double hbm_bytes = 0;              // HBM of its GPUs
  double kv_held_per_token = 0;      // KV bytes it holds per token
  int corpora = 1;                   // shared corpora whose routed queries it counts
  bool prefix_cache = false;         // keep finished prompts' blocks (vLLM automatic prefix caching)
};

// Told when a request starts and stops decoding here (for predictors that follow a pool's load).
class DecodeObserver {
 public:
  virtual ~DecodeObserver() = default;
  virtual void joined(int instance, std::uint32_t r, TimeNs now) = 0;
  virtual void left(int instance, std::uint32_t r) = 0;
};

class BatchingInstance {
 public:
  BatchingInstance(ServingLoop& loop, const InstanceConfig& cfg, const IterationModel& model,
                   DecodeObserver* observer = nullptr, KvLender* lender = nullptr);

  // Whether a request can ever run to its end in this instance's KV memory.
  bool can_ever_fit(std::uint32_t r) const;
  // KV tokens held (or reserved) by running requests and wanted by waiting ones.
  double load() const { return static_cast<double>(reserved() + queued_); }
  void enqueue(std::uint32_t r);

  int id() const { return cfg_.id; }
  std::int64_t capacity() const { return cfg_.capacity_tokens; }
  // KV tokens reserved by running requests (reserving policies) or held in their blocks (on-demand).
  std::int64_t reserved() const { return on_demand_ ? used_blocks() * B_ : reserved_; }
  std::int64_t queued() const { return queued_; }
  const DecodeSet& running() const { return decoding_; }
  double last_step_s() const { return last_step_s_; }
  std::int64_t prefix_hit_tokens() const { return prefix_hit_; }
  // Prompt tokens of these prefix-block hashes its prefix cache holds now (0 without a cache).
  std::int64_t cached_prefix_tokens(std::span<const std::uint64_t> hashes) const;
  std::int64_t prefix_looked_up_tokens() const { return prefix_looked_up_; }
  std::int64_t waiting_count() const { return static_cast<std::int64_t>(waiting_.size()); }
  std::uint32_t first_waiting() const { return waiting_.empty() ? UINT32_MAX : waiting_.front(); }
  std::uint64_t decode_steps() const { return dstep_; }  // decode steps run so far
  bool idle() const { return !busy_; }

  // KV lending (on-demand policies; sim/serving/kv_lending.hpp). Blocks of this instance lent to (or
  // reserved for) other instances' requests take its memory; blocks of its requests held elsewhere
  // (borrowed, or moved out) take none.
  std::int64_t kv_blocks() const { return total_blocks_; }
  std::int64_t free_kv_blocks() const { return free_blocks(); }
  std::int64_t lent_blocks() const { return lent_; }
  std::int64_t borrowed_blocks() const { return borrowed_; }
  // Blocks lent (< 0: returned), or of its own requests' moved to a lender: an idle instance with
  // requests waiting for memory starts an iteration.
  void lend(std::int64_t blocks);
  void held_elsewhere(std::int64_t blocks);
  // An idle instance with requests waiting starts an iteration at the end of this instant (a lender
  // calls it when memory may have been freed elsewhere).
  void wake();

 private:
  void start_iteration();
  void end_iteration();
  void describe_pool();  // the KV capacity and host link, from and into the run's pool statistics

  // Reserving policies (trtllm, orca): admit while the sequence cap and the reservations allow.
  void admit_reserving();
  // On-demand policies.
  std::int64_t used_blocks() const { return pre_blocks_ + decoding_.blocks() - borrowed_ + lent_; }
  std::int64_t free_blocks() const { return total_blocks_ - used_blocks(); }
  std::int64_t blocks_for(std::int64_t tokens) const { return (tokens + B_ - 1) / B_; }
  std::int64_t target(std::uint32_t r) const;  // tokens its (re)prefill computes
  std::int64_t decode_kv(std::uint32_t r) const;    // KV its next decode step reads, as of its last join
  std::int64_t decode_held(std::uint32_t r) const;  // KV it holds after that step
  std::int64_t prefill_blocks_held(std::uint32_t r) const;
  std::int64_t running_count() const { return decoding_.count() + static_cast<std::int64_t>(prefilling_.size()); }
  // Blocks for this step's decodes, preempting the latest admitted while they do not fit.
  void allocate_decodes(int steps);
  // Running prefills' next chunks (budget, blocks; preempting as vLLM V1 does).
  void schedule_running_prefills(std::int64_t& budget);
  // New (and resumed) requests from the queue, in order, while the policy's admission rule holds.
  void admit_on_demand(std::int64_t& budget);
  void swap_in();
  // Preempts the most recently admitted running request; returns it.
  std::uint32_t preempt(bool decode_blocks_allocated);
  void join_decode(std::uint32_t r, TimeNs gap_from);
  void add_chunk(std::uint32_t r, std::int64_t take);
  bool sglang_admits(std::uint32_t r, std::int64_t prompt_left) const;
  // `blocks` more for request r (or the running decodes), borrowed from the lender if there is one.
  bool borrow(std::uint32_t r, std::int64_t blocks);
  void release_elsewhere(std::uint32_t r);  // r leaves: its blocks held elsewhere go back

  // What a dispatcher reads of every instance for every request first, together (one cache line).
  DecodeSet decoding_;
  std::int64_t reserved_ = 0, queued_ = 0;
  double last_step_s_ = 0;
  std::int64_t lent_ = 0, borrowed_ = 0;  // KV lending (blocks)
  ServingLoop& loop_;
  InstanceConfig cfg_;
  const IterationModel& model_;
  DecodeObserver* observer_;
  KvLender* lender_;
  std::deque<std::uint32_t> waiting_;
  std::deque<std::uint32_t> prefilling_;
  std::deque<std::uint32_t> swapped_;
  std::int64_t routed_decodes_total_ = 0;
  std::vector<std::int64_t> routed_decodes_;  // per corpus: running decodes whose queries are routed
  std::vector<std::int64_t> routed_;          // per corpus, this iteration's routed queries
  struct Gap {
    std::uint32_t r, epoch;
    TimeNs from;
  };
  std::vector<Gap> gaps_;
  std::vector<std::uint32_t> finished_;  // decodes that finished in this step (reused)  // decodes whose next token's gap runs from an earlier time (joined, resumed)
  std::uint64_t iter_ = 0;
  std::uint64_t dstep_ = 0;  // decode steps run (the DecodeSet's clock)
  bool busy_ = false;
  bool decodes_in_step_ = false;
  std::vector<std::pair<std::uint32_t, std::int64_t>> chunks_;  // this iteration's prefill chunks
  std::unique_ptr<KvStore> cache_;                              // prefix cache
  std::int64_t prefix_hit_ = 0, prefix_looked_up_ = 0;
  // Slowest-gap TBT (scenario slo.tbt_slowest_percent): decode step end times, and the decodes in
  // join order (request, epoch, first step) so that the clock forgets what no running decode reads.
  void tail_join(std::uint32_t r, TimeNs from);
  void tail_step(TimeNs end);
  TailTbtRecorder* tail_ = nullptr;
  StepClock clock_;
  struct Join {
    std::uint32_t r, epoch;
    std::uint64_t first;
  };
  std::deque<Join> joins_;
  std::size_t clock_trim_at_ = 4096;
  BatchSpec batch_;  // this iteration's work (reused: no allocation per step)
  IterStats stats_;  // likewise

  // Policy and on-demand KV state.
  BatchPolicy policy_;
  bool on_demand_ = false;
  std::int64_t B_ = 1;             // tokens per KV block
  std::int64_t total_blocks_ = 0;  // KV blocks of the instance
  std::int64_t watermark_blocks_ = 0;
  std::int64_t pre_blocks_ = 0;    // blocks held by requests being prefilled
  std::int64_t allocated_total_ = 0;  // KV blocks ever allocated (the prefix cache's eviction clock)
  bool prefill_first_ = false;     // iterations prefill or decode, never both (vllm-v0 without chunking, sglang)
  bool preempted_now_ = false;     // this step preempted (no admission then, as vLLM)
  bool decodes_allocated_ = false; // this step's decode blocks are counted (a decode joining now adds its own)
  int round_left_ = 0;             // multi-step: decode steps left in the current round
  double host_link_bps_ = 0;       // swap bandwidth (the group's PCIe links)
  bool described_ = false;
  double swap_s_ = 0;              // this step's swap traffic time
  // Admission order of running requests (victims are taken from the back); stale entries skipped.
  std::vector<std::pair<std::uint32_t, std::uint32_t>> order_;
  // SGLang: new-token ratio and the running requests' output totals.
  double ratio_ = 0;
  std::int64_t pre_remaining_ = 0;  // output tokens still to make, of requests being prefilled
  std::int64_t dec_output_ = 0;     // output tokens, summed over running decodes
};

}  // namespace moska
