#pragma once
// What the serving loop keeps per request, whichever system serves it: what the request must
// prefill, hold and read (set by the system when the run starts) and how far its prefill has got.
#include <cstdint>

namespace moska {

struct RequestState {
  std::int64_t prompt = 0;      // tokens to prefill: its prompt (+ its own copy of a shared context, + recomputed tokens)
  std::int64_t prefilled = 0;   // tokens prefilled so far (a cached prefix counts as prefilled)
  std::int64_t reserve = 0;     // KV tokens it holds at most (prompt + output), reserved at admission
  std::int64_t attn_extra = 0;  // shared tokens its decode reads itself per step (not in a batched launch)
  std::int64_t past_extra = 0;  // shared tokens its prefill attends as if cached before its prompt
  std::int32_t route_corpus = -1;  // corpus whose chunks its queries are routed to in batched launches; -1: none
  bool prefix_cacheable = true;    // its prompt's blocks may come from / go to a prefix cache
  std::int32_t prefill_plan = -1;  // passed with its prefill chunks to the system's IterationModel (PrefillSeq::plan)
  std::int64_t kv_freed_after_prefill = 0;  // of `reserve`, KV tokens held only until its prefill ends
  std::int64_t kv_not_read = 0;             // prompt tokens whose KV its decode does not read (dropped after prefill)
};

}  // namespace moska
