#include "sim/serving/routing.hpp"

#include <algorithm>
#include <cmath>

namespace moska {

std::vector<double> skew_weights(std::int64_t n, const RoutingSpec& spec) {
  std::vector<double> p(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    switch (spec.skew) {
      case RoutingSkew::uniform: p[i] = 1.0; break;
      case RoutingSkew::zipf: p[i] = 1.0 / std::pow(static_cast<double>(i + 1), spec.zipf_s); break;
      case RoutingSkew::hot: {
        auto hot = std::max<std::int64_t>(1, static_cast<std::int64_t>(std::llround(spec.hot_fraction * n)));
        p[i] = i < hot ? spec.hot_mass / hot : (n > hot ? (1.0 - spec.hot_mass) / (n - hot) : 0.0);
        break;
      }
    }
  }
  return p;
}

std::vector<double> water_fill(std::vector<double> p, double k) {
  double sum = 0;
  for (double x : p) sum += x;
  for (double& x : p) x /= sum;
  // Find c with sum min(1, c p_i) = k (p sorted descending, so the capped ones lead).
  std::sort(p.begin(), p.end(), std::greater<>());
  const auto n = static_cast<std::int64_t>(p.size());
  std::vector<double> pi(p.size(), 0.0);
  double remaining_mass = 1.0;
  std::int64_t capped = 0;
  while (capped < n) {
    double c = (k - static_cast<double>(capped)) / remaining_mass;
    if (c * p[capped] <= 1.0) {
      for (std::int64_t i = 0; i < n; ++i) pi[i] = i < capped ? 1.0 : std::min(1.0, c * p[i]);
      break;
    }
    remaining_mass -= p[capped];
    ++capped;
    if (capped == n || remaining_mass <= 0) {
      for (std::int64_t i = 0; i < n; ++i) pi[i] = i < capped ? 1.0 : 0.0;
      break;
    }
  }
  return pi;
}

SharedAttention balanced_routing(std::int64_t requests, std::int64_t total_chunks, std::int64_t top_k,
                                 std::int64_t chunk_tokens) {
  SharedAttention s;
  s.requests = requests;
  s.total_chunks = total_chunks;
  s.top_k = top_k;
  if (requests <= 0 || total_chunks <= 0 || top_k <= 0) return s;
  std::int64_t assignments = requests * top_k;
  std::int64_t lo = assignments / total_chunks;
  std::int64_t n_hi = assignments % total_chunks;
  if (n_hi > 0) s.groups.push_back({n_hi, chunk_tokens, lo + 1});
  if (lo > 0) s.groups.push_back({total_chunks - n_hi, chunk_tokens, lo});
  return s;
}

ChunkRouter::ChunkRouter(std::int64_t n_chunks, std::int64_t top_k, std::int64_t chunk_tokens,
                         const RoutingSpec& spec, int max_groups)
    : n_(n_chunks), k_(std::min(top_k, n_chunks)), chunk_(chunk_tokens), max_groups_(max_groups) {
  pi_ = water_fill(skew_weights(n_, spec), static_cast<double>(k_));
}

ChunkRouter::ChunkRouter(std::vector<double> keep_probability, std::int64_t chunk_tokens, int max_groups)
    : n_(static_cast<std::int64_t>(keep_probability.size())), chunk_(chunk_tokens), max_groups_(max_groups),
      pi_(std::move(keep_probability)) {
  std::sort(pi_.begin(), pi_.end(), std::greater<>());
  double k = 0;
  for (double x : pi_) k += x;
  k_ = std::max<std::int64_t>(1, std::llround(k));
}

const SharedAttention& ChunkRouter::route(std::int64_t requests) {
  if (requests >= static_cast<std::int64_t>(cache_.size())) cache_.resize(static_cast<std::size_t>(requests) + 1);
  SharedAttention& s = cache_[static_cast<std::size_t>(requests)];
  if (s.requests == requests && (requests == 0 || !s.groups.empty())) return s;
  s = SharedAttention{};
  s.requests = requests;
  s.total_chunks = n_;
  s.top_k = k_;
  if (requests == 0 || n_ == 0) return s;
  bool uniform = pi_.front() - pi_.back() < 1e-12;
  if (uniform) {
    s = balanced_routing(requests, n_, k_, chunk_);
    return s;
  }
  // Expected queries per chunk, binned into at most max_groups_ groups of consecutive chunks
  // (pi is sorted), each group costed at its mean query count (rounded, at least 1 if any).
  const double b = static_cast<double>(requests);
  std::int64_t per_group = (n_ + max_groups_ - 1) / max_groups_;
  for (std::int64_t start = 0; start < n_; start += per_group) {
    std::int64_t end = std::min(n_, start + per_group);
    double q = 0;
    for (std::int64_t i = start; i < end; ++i) q += b * pi_[i];
    q /= static_cast<double>(end - start);
    auto qi = static_cast<std::int64_t>(std::llround(q));
    if (qi <= 0) {
      // Rarely-attended chunks: only the expected number of them actually run, with one query.
      auto active = static_cast<std::int64_t>(std::llround(q * static_cast<double>(end - start)));
      if (active > 0) s.groups.push_back({active, chunk_, 1});
      continue;
    }
    s.groups.push_back({end - start, chunk_, qi});
  }
  return s;
}

}  // namespace moska
