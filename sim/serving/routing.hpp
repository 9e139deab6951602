#pragma once
// The shared-chunk router's effect on cost: given b requests each keeping top-k of N chunks, how
// many requests' queries land on each chunk. Uniform routing spreads b*k evenly; skewed routing
// (Zipf, hot set) concentrates queries on popular chunks. We use the expected counts: chunk i is
// kept by a request with probability pi_i = min(1, c*p_i), c chosen so that sum pi_i = k
// (water-filling), so it sees b*pi_i queries. Chunks are then binned into a few groups of equal
// query count, each costed as one batched launch.
#include <cstdint>
#include <string>
#include <vector>

#include "sim/model/operators.hpp"

namespace moska {

enum class RoutingSkew { uniform, zipf, hot };

struct RoutingSpec {
  RoutingSkew skew = RoutingSkew::uniform;
  double zipf_s = 1.0;        // zipf: P(chunk rank r) ~ 1/(r+1)^s
  double hot_fraction = 0.1;  // hot: this share of chunks ...
  double hot_mass = 0.9;      // ... receives this share of the routing mass
};

// Relative routing weights of n items (unnormalised) under a skew.
std::vector<double> skew_weights(std::int64_t n, const RoutingSpec& spec);
// Keep probabilities pi_i = min(1, c p_i) with sum pi_i = k, sorted descending.
std::vector<double> water_fill(std::vector<double> p, double k);

// Routes `requests` requests, each to `top_k` of `total_chunks` chunks, spread as evenly as possible
// (the balanced case of uniform routing): groups of chunks with floor/ceil of requests*top_k/total_chunks.
SharedAttention balanced_routing(std::int64_t requests, std::int64_t total_chunks, std::int64_t top_k,
                                 std::int64_t chunk_tokens);

class ChunkRouter {
 public:
  ChunkRouter(std::int64_t n_chunks, std::int64_t top_k, std::int64_t chunk_tokens, const RoutingSpec& spec,
              int max_groups = 8);
  // From explicit keep probabilities (each in [0, 1], summing to the chunks kept per request).
  ChunkRouter(std::vector<double> keep_probability, std::int64_t chunk_tokens, int max_groups = 8);
  // Groups of (chunks, queries per chunk) for `requests` routed requests. Cached per batch size.
  const SharedAttention& route(std::int64_t requests);
  std::int64_t n_chunks() const { return n_; }
  std::int64_t top_k() const { return k_; }
  std::int64_t chunk_tokens() const { return chunk_; }
  // Probability that a request keeps chunk i (sums to k).
  const std::vector<double>& keep_probability() const { return pi_; }

 private:
  std::int64_t n_, k_, chunk_;
  int max_groups_;
  std::vector<double> pi_;  // sorted descending
  std::vector<SharedAttention> cache_;
};

}  // namespace moska
