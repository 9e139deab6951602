#include "sim/systems/shared_context.hpp"

#include <algorithm>
#include <cmath>

namespace moska {

std::int64_t SharedContext::largest_span() const {
  std::int64_t m = 0;
  for (auto x : span_) m = std::max(m, x);
  return m;
}

SharedContext SharedContext::make(const SharedSpec& spec, Cut cut, bool recompute) {
  return spec.modules.count > 0 ? modules(spec, cut, recompute) : corpora(spec, cut);
}

SharedContext SharedContext::modules(const SharedSpec& spec, Cut cut, bool recompute) {
  // A request keeps module m with probability pi_m (its popularity, water-filled so that
  // per_request modules are kept) and, inside it, every chunk (all or as one segment) or the
  // (1 - sparsity) share of the module's chunks that its router picks.
  SharedContext s;
  const auto& lib = spec.modules;
  const std::int64_t C = spec.chunk_tokens;
  const std::int64_t per_module = (lib.tokens + C - 1) / C;
  const double keep_in_module = cut == Cut::top_k ? 1.0 - spec.sparsity : 1.0;
  auto pi_mod = water_fill(skew_weights(lib.count, lib.popularity), static_cast<double>(lib.per_request));
  std::vector<double> keep;
  keep.reserve(static_cast<std::size_t>(lib.count * per_module));
  for (double pm : pi_mod) {
    for (std::int64_t c = 0; c < per_module; ++c) keep.push_back(pm * keep_in_module);
  }
  s.tokens_ = lib.count * per_module * C;
  const auto k = std::max<std::int64_t>(1, std::llround(static_cast<double>(lib.per_request * per_module) * keep_in_module));
  s.recompute_tokens_ = recompute ? lib.per_request * lib.recompute_tokens : 0;
  s.routers_.push_back(std::make_unique<ChunkRouter>(std::move(keep), C));
  s.attended_.push_back(k * C);
  s.weight_.push_back(1.0);
  s.span_.push_back(lib.per_request * lib.tokens);
  if (cut == Cut::segments) s.segments_ = lib.per_request;
  return s;
}

SharedContext SharedContext::corpora(const SharedSpec& spec, Cut cut) {
  SharedContext s;
  if (spec.tokens <= 0) return s;
  std::vector<std::int64_t> tokens = spec.corpus_tokens;
  std::vector<double> weights = spec.corpus_weights;
  if (tokens.empty()) {
    tokens = {spec.tokens};
    weights = {1.0};
  }
  double wsum = 0;
  for (double w : weights) wsum += w;
  // One router per corpus, over its chunks.
  if (cut == Cut::segments) s.segments_ = 1;
  for (std::size_t c = 0; c < tokens.size(); ++c) {
    const std::int64_t C = spec.chunk_tokens;
    const std::int64_t n = (tokens[c] + C - 1) / C;
    s.tokens_ += n * C;
    const std::int64_t k =
        cut == Cut::top_k ? std::max<std::int64_t>(1, std::llround((1.0 - spec.sparsity) * static_cast<double>(n))) : n;
    s.attended_.push_back(k * C);
    s.weight_.push_back(weights[c] / wsum);
    s.span_.push_back(n * C);
    s.routers_.push_back(std::make_unique<ChunkRouter>(n, k, C, spec.routing));
  }
  return s;
}

void SharedContext::route(const std::vector<std::int64_t>& requests_per_corpus, SharedAttention& out) const {
  if (routers_.size() == 1) {
    out = routers_[0]->route(requests_per_corpus[0]);
    out.segments = segments_;
    return;
  }
  // Several corpora: their chunk groups run side by side; the router op is costed at the
  // request-weighted mean corpus size and top-k (each request scores only its own corpus).
  out.requests = out.total_chunks = out.top_k = 0;
  out.segments = segments_;
  out.groups.clear();
  double chunks = 0, topk = 0;
  for (std::size_t c = 0; c < routers_.size(); ++c) {
    const std::int64_t b = requests_per_corpus[c];
    if (b == 0) continue;
    const auto& s = routers_[c]->route(b);
    out.requests += b;
    chunks += static_cast<double>(b) * static_cast<double>(s.total_chunks);
    topk += static_cast<double>(b) * static_cast<double>(s.top_k);
    out.groups.insert(out.groups.end(), s.groups.begin(), s.groups.end());
  }
  if (out.requests > 0) {
    out.total_chunks = std::llround(chunks / static_cast<double>(out.requests));
    out.top_k = std::llround(topk / static_cast<double>(out.requests));
  }
}

SharedAttention SharedContext::route(std::int64_t requests) const {
  if (routers_.empty()) return {};
  SharedAttention s = routers_[0]->route(requests);
  s.segments = segments_;
  return s;
}

}  // namespace moska
