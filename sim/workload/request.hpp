#pragma once
// One inference request as a workload presents it to a serving system.
// Produced by read_trace() (trace.hpp) and generate() (generator.hpp), which guarantee: ids 0..n-1
// in arrival order, arrival_ns >= 0 and non-decreasing, input_tokens >= 1, output_tokens >= 1.
// Kept for every request of a run (10^7 of them in the speed targets), so it is compact: 48 bytes.
#include <cstdint>
#include <stdexcept>

#include "sim/engine/time.hpp"
#include "sim/workload/block_hashes.hpp"

namespace moska {

// The most prompt or output tokens one request may have (2^31 - 1): far beyond any model's context,
// and small enough that a request's prompt + output, and the sum over 10^9 requests, stay far
// inside int64. Readers and generators reject larger lengths.
inline constexpr std::int64_t kMaxRequestTokens = 2147483647;

// A request's token count, stored in 32 bits and read as an int64 (so that sums of counts are
// computed in 64 bits, as before). Readers and generators check lengths against kMaxRequestTokens
// with a one-line InputError; a value outside 0..kMaxRequestTokens reaching here is a bug.
class TokenCount {
 public:
  constexpr TokenCount() = default;
  constexpr TokenCount(std::int64_t v) : v_(narrow(v)) {}  // NOLINT: implicit, as the int64 it replaced
  constexpr operator std::int64_t() const { return v_; }   // NOLINT
  TokenCount& operator+=(std::int64_t d) { return *this = TokenCount(v_ + d); }
  TokenCount& operator-=(std::int64_t d) { return *this = TokenCount(v_ - d); }

 private:
  static constexpr std::int32_t narrow(std::int64_t v) {
    if (v < 0 || v > kMaxRequestTokens) throw std::logic_error("token count outside 0..2^31-1 (unchecked input)");
    return static_cast<std::int32_t>(v);
  }
  std::int32_t v_ = 0;
};

struct Request {
  std::uint64_t id = 0;
  TimeNs arrival_ns = 0;
  // A family of semantically similar prompts (rewrites of one document): this prompt's similarity
  // to the family's earlier prompts, in [0, 1] (SemShareKV's normalised LSH similarity; the
  // generator takes it as the share of the document's sentences left unchanged).
  double similarity = 0;
  // Chained prefix-block hashes (Mooncake traces: 512-token blocks, each id covers its block and
  // all before it). Empty when the trace has none (8 bytes then).
  BlockHashes block_hashes;
  TokenCount input_tokens = 0;   // prompt tokens (the request's own, unique part)
  TokenCount output_tokens = 0;  // tokens to generate (>= 1)
  // Shared corpus the request attends (index into the scenario's corpora), -1 = none.
  std::int32_t corpus = -1;
  std::int32_t family = -1;  // the family of `similarity`, -1 = none
};

}  // namespace moska
