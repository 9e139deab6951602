#pragma once
// One serving instance (a TP group, or a logical group standing for several) running continuous
// batching: requests wait in arrival order and are admitted while the sequence cap and its KV
// memory allow (each reserves its prompt + output tokens at admission, so KV in use never exceeds
// capacity and nothing is preempted); each iteration runs every admitted decode plus prefill chunks
// up to the token budget (chunked prefill), or whole prompts without it. A request that arrives
// already prefilled (by another instance) joins the decodes directly. One event per iteration; the
// running decodes advance in O(1) amortised (DecodeSet).
#include <cstdint>
#include <deque>
#include <memory>
#include <utility>
#include <vector>

#include "sim/serving/decode_set.hpp"
#include "sim/serving/iteration.hpp"
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
                   DecodeObserver* observer = nullptr);

  // Whether a request's reservation can ever fit in this instance's KV memory.
  bool can_ever_fit(std::uint32_t r) const { return loop_.state(r).reserve <= cfg_.capacity_tokens; }
  // KV tokens reserved by running requests and wanted by waiting ones.
  double load() const { return static_cast<double>(reserved_ + queued_); }
  void enqueue(std::uint32_t r);

  int id() const { return cfg_.id; }
  std::int64_t capacity() const { return cfg_.capacity_tokens; }
  std::int64_t reserved() const { return reserved_; }
  std::int64_t queued() const { return queued_; }
  const DecodeSet& running() const { return decoding_; }
  double last_step_s() const { return last_step_s_; }
  std::int64_t prefix_hit_tokens() const { return prefix_hit_; }
  std::int64_t prefix_looked_up_tokens() const { return prefix_looked_up_; }

 private:
  void start_iteration();
  void end_iteration();

  // What a dispatcher reads of every instance for every request first, together (one cache line).
  DecodeSet decoding_;
  std::int64_t reserved_ = 0, queued_ = 0;
  double last_step_s_ = 0;
  ServingLoop& loop_;
  InstanceConfig cfg_;
  const IterationModel& model_;
  DecodeObserver* observer_;
  std::deque<std::uint32_t> waiting_;
  std::deque<std::uint32_t> prefilling_;
  std::int64_t routed_decodes_total_ = 0;
  std::vector<std::int64_t> routed_decodes_;  // per corpus: running decodes whose queries are routed
  std::vector<std::int64_t> routed_;          // per corpus, this iteration's routed queries
  std::vector<std::uint32_t> joined_;         // admitted straight into decode at this iteration's start
  std::uint64_t iter_ = 0;
  bool busy_ = false;
  std::vector<std::pair<std::uint32_t, std::int64_t>> chunks_;  // this iteration's prefill chunks
  std::unique_ptr<KvStore> cache_;                              // prefix cache
  std::int64_t prefix_hit_ = 0, prefix_looked_up_ = 0;
  BatchSpec batch_;  // this iteration's work (reused: no allocation per step)
  IterStats stats_;  // likewise
};

}  // namespace moska
