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

// How a system cuts what a request attends: every chunk of it, the router's top-k chunks, or whole
// segments (its corpus, or each of its modules, attended by one launch over all of the segment's
// chunks that reduces their partials itself, leaving one partial per segment to merge).
enum class Cut { all_chunks, top_k, segments };

class SharedContext {
 public:
  SharedContext() = default;
  // The scenario's shared context as `cut`: flat corpora, or a module library of which each request
  // composes `per_request` modules by popularity (and attends those, whatever the system). Only
  // the position-independent systems (universal MoSKA) recompute each module's leading tokens.
  static SharedContext make(const SharedSpec& spec, Cut cut, bool recompute = false);

  bool empty() const { return routers_.empty(); }
  std::int64_t tokens() const { return tokens_; }  // stored: whole chunks (or segments), all corpora or the library
  int count() const { return static_cast<int>(routers_.size()); }
  // Tokens a request attends of corpus c (its top-k chunks, or all of its corpus or composed modules),
  // and of the first corpus.
  std::int64_t attended(int corpus) const { return attended_[static_cast<std::size_t>(corpus)]; }
  std::int64_t attended() const { return attended_.empty() ? 0 : attended_.front(); }
  double weight(int corpus) const { return weight_[static_cast<std::size_t>(corpus)]; }
  // Positions a request attending corpus c spans: the whole corpus (its chunks keep their places,
  // whichever it reads), or its composed modules (position-independent, placed one after another).
  std::int64_t span(int corpus) const { return span_[static_cast<std::size_t>(corpus)]; }
  std::int64_t largest_span() const;
  // Segments each request attends whole (Cut::segments), 0 otherwise.
  std::int64_t segments() const { return segments_; }
  // Tokens each request recomputes of its composed modules (0 without a library).
  std::int64_t recompute_tokens() const { return recompute_tokens_; }
  // Per-chunk query groups of one step, given how many routed queries each corpus has, into `out`
  // (its vector reused: no allocation per step).
  void route(const std::vector<std::int64_t>& requests_per_corpus, SharedAttention& out) const;
  // The same for `requests` queries of the first corpus.
  SharedAttention route(std::int64_t requests) const;
  // The first corpus's router (the only one in single-corpus scenarios); nullptr without sharing.
  ChunkRouter* router() const { return routers_.empty() ? nullptr : routers_[0].get(); }

 private:
  static SharedContext corpora(const SharedSpec& spec, Cut cut);
  static SharedContext modules(const SharedSpec& spec, Cut cut, bool recompute);

  std::int64_t tokens_ = 0, recompute_tokens_ = 0, segments_ = 0;
  std::vector<std::unique_ptr<ChunkRouter>> routers_;
  std::vector<std::int64_t> attended_;
  std::vector<double> weight_;
  std::vector<std::int64_t> span_;
};

}  // namespace moska
