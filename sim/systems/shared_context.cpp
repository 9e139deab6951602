#include "sim/systems/shared_context.hpp"

#include <algorithm>
#include <cmath>

namespace moska {

SharedContext SharedContext::modules(const SharedSpec& spec) {
  // Each module is cut into whole chunks; a request keeps a module with probability pi_m (its
  // popularity, water-filled so that per_request modules are kept) and, inside it, the
  // (1 - sparsity) share of the module's chunks that its router picks.
  SharedContext s;
  const auto& lib = spec.modules;
  const std::int64_t C = spec.chunk_tokens;
  s.chunk_tokens_ = C;
  const std::int64_t per_module = (lib.tokens + C - 1) / C;
  auto pi_mod = water_fill(skew_weights(lib.count, lib.popularity), static_cast<double>(lib.per_request));
  std::vector<double> keep;
  keep.reserve(static_cast<std::size_t>(lib.count * per_module));
  for (double pm : pi_mod) {
    for (std::int64_t c = 0; c < per_module; ++c) keep.push_back(pm * (1.0 - spec.sparsity));
  }
  s.tokens_ = lib.count * per_module * C;
  const auto k = std::max<std::int64_t>(1, std::llround(static_cast<double>(lib.per_request * per_module) * (1.0 - spec.sparsity)));
  s.recompute_tokens_ = lib.per_request * lib.recompute_tokens;
  s.routers_.push_back(std::make_unique<ChunkRouter>(std::move(keep), C));
  s.attended_.push_back(k * C);
  s.weight_.push_back(1.0);
  return s;
}

SharedContext SharedContext::corpora(const SharedSpec& spec, bool sparse) {
  SharedContext s;
  s.chunk_tokens_ = spec.chunk_tokens;
  if (spec.tokens <= 0) return s;
  // One router per corpus (a module library seen by a non-modular system is one flat corpus).
  std::vector<std::int64_t> tokens = spec.corpus_tokens;
  std::vector<double> weights = spec.corpus_weights;
  if (tokens.empty()) {
    tokens = {spec.tokens};
    weights = {1.0};
  }
  double wsum = 0;
  for (double w : weights) wsum += w;
  for (std::size_t c = 0; c < tokens.size(); ++c) {
    const std::int64_t C = spec.chunk_tokens;
    const std::int64_t n = (tokens[c] + C - 1) / C;
    s.tokens_ += n * C;
    const std::int64_t k = sparse ? std::max<std::int64_t>(1, std::llround((1.0 - spec.sparsity) * static_cast<double>(n))) : n;
    s.attended_.push_back(k * C);
    s.weight_.push_back(weights[c] / wsum);
    s.routers_.push_back(std::make_unique<ChunkRouter>(n, k, C, spec.routing));
  }
  return s;
}

const SharedAttention& SharedContext::route(const std::vector<std::int64_t>& requests_per_corpus) const {
  if (routers_.size() == 1) return routers_[0]->route(requests_per_corpus[0]);
  // Several corpora: their chunk groups run side by side; the router op is costed at the
  // request-weighted mean corpus size and top-k (each request scores only its own corpus).
  mixed_ = SharedAttention{};
  double chunks = 0, topk = 0;
  for (std::size_t c = 0; c < routers_.size(); ++c) {
    const std::int64_t b = requests_per_corpus[c];
    if (b == 0) continue;
    const auto& s = routers_[c]->route(b);
    mixed_.requests += b;
    chunks += static_cast<double>(b) * static_cast<double>(s.total_chunks);
    topk += static_cast<double>(b) * static_cast<double>(s.top_k);
    mixed_.groups.insert(mixed_.groups.end(), s.groups.begin(), s.groups.end());
  }
  if (mixed_.requests > 0) {
    mixed_.total_chunks = std::llround(chunks / static_cast<double>(mixed_.requests));
    mixed_.top_k = std::llround(topk / static_cast<double>(mixed_.requests));
  }
  return mixed_;
}

}  // namespace moska
