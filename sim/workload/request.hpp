#pragma once
// One inference request as a workload presents it to a serving system.
// Produced by read_trace() (trace.hpp) and generate() (generator.hpp), which guarantee: ids 0..n-1
// in arrival order, arrival_ns >= 0 and non-decreasing, input_tokens >= 1, output_tokens >= 1.
#include <cstdint>
#include <vector>

#include "sim/engine/time.hpp"

namespace moska {

// The most prompt or output tokens one request may have (2^31 - 1): far beyond any model's context,
// and small enough that a request's prompt + output, and the sum over 10^9 requests, stay far
// inside int64. Readers and generators reject larger lengths.
inline constexpr std::int64_t kMaxRequestTokens = 2147483647;

struct Request {
  std::uint64_t id = 0;
  TimeNs arrival_ns = 0;
  std::int64_t input_tokens = 0;   // prompt tokens (the request's own, unique part)
  std::int64_t output_tokens = 0;  // tokens to generate (>= 1)
  // Chained prefix-block hashes (Mooncake traces: 512-token blocks, each id covers its block and
  // all before it). Empty when the trace has none.
  std::vector<std::uint64_t> block_hashes;
  // Shared corpus the request attends (index into the scenario's corpora), -1 = none.
  std::int32_t corpus = -1;
  // A family of semantically similar prompts (rewrites of one document), -1 = none, and this prompt's
  // similarity to the family's earlier prompts, in [0, 1] (SemShareKV's normalised LSH similarity;
  // the generator takes it as the share of the document's sentences left unchanged).
  std::int32_t family = -1;
  double similarity = 0;
};

}  // namespace moska
