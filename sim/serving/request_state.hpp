#pragma once
// What the serving loop keeps per request, whichever system serves it: what the request must
// prefill, hold and read (set by the system when the run starts) and how far its prefill has got.
#include <cstdint>

#include "sim/engine/time.hpp"

namespace moska {

struct RequestState {
  std::int64_t prompt = 0;      // tokens to prefill: its prompt (+ its own copy of a shared context, + recomputed tokens)
  std::int64_t prefilled = 0;   // tokens prefilled so far (a cached prefix counts as prefilled)
  std::int64_t reserve = 0;     // KV tokens it holds at most (prompt + output), reserved at admission
  std::int64_t attn_extra = 0;  // shared tokens its decode reads itself per step (not in a batched launch)
  std::int64_t past_extra = 0;  // shared tokens its prefill attends as if cached before its prompt
  std::int32_t route_corpus = -1;  // corpus whose chunks its queries are routed to in batched launches; -1: none
  bool prefix_cacheable = true;    // its prompt's blocks may come from / go to a prefix cache
  // Where a batching instance has it (sim/serving/batching_instance.*).
  enum class Phase : std::uint8_t { queued, prefilling, decoding, swapped, done };
  Phase phase = Phase::queued;
  std::int32_t generated = 0;    // output tokens made so far, as of its last join of a decode set or its preemption
  std::uint32_t epoch = 0;       // bumped when it leaves a decode set early: its stale entries are skipped
  std::uint64_t joined_step = 0;  // the instance's decode step after which it (re)joined decoding
  TimeNs last_token = -1;        // while preempted: when its last token came out (its next gap runs from there)
  TimeNs stretch_from = -1;      // slowest-gap TBT only: when the token before its current decode stretch came out
  // vLLM V1, preempted by recompute: its full KV blocks stay in the prefix cache (free, evictable in
  // LRU order) until `cache_mark` more blocks have been allocated; those left are not recomputed.
  std::int64_t cache_mark = 0;
  std::int64_t cache_blocks = 0;
  std::int32_t prefill_plan = -1;  // passed with its prefill chunks to the system's IterationModel (PrefillSeq::plan)
  std::int64_t kv_freed_after_prefill = 0;  // of `reserve`, KV tokens held only until its prefill ends
  std::int64_t kv_not_read = 0;             // prompt tokens whose KV its decode does not read (dropped after prefill)
};

}  // namespace moska
