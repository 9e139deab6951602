#pragma once
// The shared context of a scenario as a system sees it: its corpora cut into whole chunks, what a
// request attends of each (all chunks, or the router's top-k), and the router that turns a step's
// routed queries into batched chunk launches. A module library (universal MoSKA) is one corpus of
// modules composed per request.
#include <cstdint>
#include <memory>
#include <vector>

#include "sim/model/operators.hpp"
#include "sim/serving/routing.hpp"
#include "sim/serving/scenario.hpp"

namespace moska {

class SharedContext {
 public:
  SharedContext() = default;
  // Flat corpora (a module library seen as one flat corpus): `sparse` keeps the router's top-k
  // chunks per request, else all of them.
  static SharedContext corpora(const SharedSpec& spec, bool sparse);
  // A library of position-independent modules, each request composing `per_request` of them by
  // popularity and keeping the top-k chunks of those.
  static SharedContext modules(const SharedSpec& spec);

  bool empty() const { return routers_.empty(); }
  std::int64_t tokens() const { return tokens_; }  // whole chunks, all corpora
  std::int64_t chunk_tokens() const { return chunk_tokens_; }
  int count() const { return static_cast<int>(routers_.size()); }
  // Tokens a request attends of corpus c (its top-k chunks, or all), and of the first corpus.
  std::int64_t attended(int corpus) const { return attended_[static_cast<std::size_t>(corpus)]; }
  std::int64_t attended() const { return attended_.empty() ? 0 : attended_.front(); }
  double weight(int corpus) const { return weight_[static_cast<std::size_t>(corpus)]; }
  // Tokens each request recomputes of its composed modules (0 without a library).
  std::int64_t recompute_tokens() const { return recompute_tokens_; }
  // The first corpus's router (the only one in single-corpus scenarios); nullptr without sharing.
  ChunkRouter* router() const { return routers_.empty() ? nullptr : routers_[0].get(); }
  // Per-chunk query groups of one step, given how many routed queries each corpus has.
  const SharedAttention& route(const std::vector<std::int64_t>& requests_per_corpus) const;

 private:
  std::int64_t tokens_ = 0, chunk_tokens_ = 0, recompute_tokens_ = 0;
  std::vector<std::unique_ptr<ChunkRouter>> routers_;
  std::vector<std::int64_t> attended_;
  std::vector<double> weight_;
  mutable SharedAttention mixed_;
};

}  // namespace moska
