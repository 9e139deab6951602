#pragma once
// SemShareKV's per-layer schedules: how many tokens of a prompt are recomputed in each layer, and how
// much of its KV each layer keeps after the prefill. Both are exponential in depth (the paper: more
// recomputation in shallow layers, fewer in deep ones, the selection made early carried to later
// layers; retained KV decaying with depth). The exact counts of the paper are not known: these are the
// simulator's parameters (README "SemShareKV", results/semsharekv_ttft for what moves them).
#include <cstdint>
#include <vector>

#include "sim/model/model_spec.hpp"

namespace moska::semsharekv {

// Layers [0, full_layers) recompute every token; layer l >= full_layers recomputes a fraction
// f_l = max(min, first x decay^(l - full_layers)) of the tokens that had no exact reference
// (`uncovered`, 0 for a semantic match: every token has one) plus f_l of the others:
//   rows_l(n) = max(1, round(n x (uncovered + (1 - uncovered) x f_l)))
// (the prompt's last token is always recomputed: it makes the first output token).
struct RecomputeSchedule {
  std::int64_t full_layers = 1;
  double first = 0.15;
  double decay = 0.914;
  double min = 0.0;

  double fraction(std::int64_t layer) const;
  std::int64_t rows(std::int64_t layer, std::int64_t tokens, double uncovered) const;
  // Mean over the model's layers of rows_l(n) / n (full layers count 1).
  double mean_fraction(const ModelSpec& model, std::int64_t tokens, double uncovered) const;
};

// Share of a prompt's KV that layer l keeps after the prefill: keep_l = max(min, first x decay^l).
struct Retention {
  double first = 1.0;
  double decay = 1.0;
  double min = 0.0;

  double keep(std::int64_t layer) const;
  // KV tokens kept over all layers, in whole-model token equivalents: round(n x mean_l keep_l).
  // The serving loop's KV accounting is per token over all layers, not per layer: a layer-wise
  // allocator would hold keep_l x n tokens in layer l; their sum over layers is the same bytes.
  std::int64_t kept_tokens(const ModelSpec& model, std::int64_t tokens) const;
};

// The recompute FLOPs of one prompt of n tokens under a schedule (dense layers of each recomputed
// row, and its attention against all n keys; full layers causal), for tests and reports.
double recompute_flops(const ModelSpec& model, const RecomputeSchedule& s, std::int64_t tokens, double uncovered);

}  // namespace moska::semsharekv
