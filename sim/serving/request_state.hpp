#pragma once
// What the serving loop keeps per request, whichever system serves it: what the request must
// prefill, hold and read (set by the system when the run starts) and how far its prefill has got.
// Kept for every request of a run (10^7 in the speed targets), so it is packed: 96 bytes.
#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "sim/engine/time.hpp"
#include "sim/workload/request.hpp"

namespace moska {

// A per-request token or block count in 6 bytes, read and written as an int64: |v| < 2^47
// (1.4e14 tokens, far above anything one request holds, prefills or recomputes in a run: a
// request's own lengths are < 2^31). A value outside is a bug, not a wrapped count: it throws.
class Count48 {
 public:
  Count48() = default;
  Count48(std::int64_t v) { set(v); }  // NOLINT: implicit, as the int64 it replaced
  Count48(TokenCount v) { set(v); }    // NOLINT
  operator std::int64_t() const {      // NOLINT
    std::int64_t v = 0;
    std::memcpy(&v, b_, sizeof b_);
    return static_cast<std::int64_t>(static_cast<std::uint64_t>(v) << 16) >> 16;  // sign-extend bit 47
  }
  Count48& operator+=(std::int64_t d) {
    set(std::int64_t(*this) + d);
    return *this;
  }
  Count48& operator-=(std::int64_t d) {
    set(std::int64_t(*this) - d);
    return *this;
  }

 private:
  void set(std::int64_t v) {
    if (v >= (std::int64_t{1} << 47) || v < -(std::int64_t{1} << 47)) {
      throw std::logic_error("per-request count outside +-2^47 (RequestState)");
    }
    std::memcpy(b_, &v, sizeof b_);  // little-endian: the low 6 bytes
  }
  unsigned char b_[6] = {};
};

struct RequestState {
  // Widest first, so that nothing is padded.
  std::uint64_t joined_step = 0;  // the instance's decode step after which it (re)joined decoding
  TimeNs last_token = -1;        // while preempted: when its last token came out (its next gap runs from there)
  TimeNs stretch_from = -1;      // slowest-gap TBT only: when the token before its current decode stretch came out
  std::int32_t route_corpus = -1;  // corpus whose chunks its queries are routed to in batched launches; -1: none
  std::int32_t generated = 0;    // output tokens made so far, as of its last join of a decode set or its preemption
  std::uint32_t epoch = 0;       // bumped when it leaves a decode set early: its stale entries are skipped
  std::int32_t prefill_plan = -1;  // passed with its prefill chunks to the system's IterationModel (PrefillSeq::plan)
  Count48 prompt = 0;      // tokens to prefill: its prompt (+ its own copy of a shared context, + recomputed tokens)
  Count48 prefilled = 0;   // tokens prefilled so far (a cached prefix counts as prefilled)
  Count48 reserve = 0;     // KV tokens it holds at most (prompt + output), reserved at admission
  Count48 attn_extra = 0;  // shared tokens its decode reads itself per step (not in a batched launch)
  Count48 past_extra = 0;  // shared tokens its prefill attends as if cached before its prompt
  // vLLM V1, preempted by recompute: its full KV blocks stay in the prefix cache (free, evictable in
  // LRU order) until `cache_mark` more blocks have been allocated; those left are not recomputed.
  Count48 cache_mark = 0;
  Count48 cache_blocks = 0;
  Count48 kv_freed_after_prefill = 0;  // of `reserve`, KV tokens held only until its prefill ends
  Count48 kv_not_read = 0;             // prompt tokens whose KV its decode does not read (dropped after prefill)
  bool prefix_cacheable = true;    // its prompt's blocks may come from / go to a prefix cache
  // Where a batching instance has it (sim/serving/batching_instance.*).
  enum class Phase : std::uint8_t { queued, prefilling, decoding, swapped, done };
  Phase phase = Phase::queued;
};
static_assert(sizeof(RequestState) == 96);

}  // namespace moska
