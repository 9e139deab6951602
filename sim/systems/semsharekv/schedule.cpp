#include "sim/systems/semsharekv/schedule.hpp"

#include <algorithm>
#include <cmath>

namespace moska::semsharekv {

double RecomputeSchedule::fraction(std::int64_t layer) const {
  if (layer < full_layers) return 1.0;
  const double f = first * std::pow(decay, static_cast<double>(layer - full_layers));
  return std::clamp(std::max(f, min), 0.0, 1.0);
}

std::int64_t RecomputeSchedule::rows(std::int64_t layer, std::int64_t tokens, double uncovered) const {
  if (layer < full_layers) return tokens;
  const double f = uncovered + (1.0 - uncovered) * fraction(layer);
  return std::clamp<std::int64_t>(std::llround(static_cast<double>(tokens) * f), 1, tokens);
}

double RecomputeSchedule::mean_fraction(const ModelSpec& model, std::int64_t tokens, double uncovered) const {
  double sum = 0;
  for (std::int64_t l = 0; l < model.n_layers; ++l) sum += static_cast<double>(rows(l, tokens, uncovered));
  return sum / static_cast<double>(model.n_layers * tokens);
}

double Retention::keep(std::int64_t layer) const {
  const double k = first * std::pow(decay, static_cast<double>(layer));
  return std::clamp(std::max(k, min), 0.0, 1.0);
}

std::int64_t Retention::kept_tokens(const ModelSpec& model, std::int64_t tokens) const {
  double sum = 0;
  for (std::int64_t l = 0; l < model.n_layers; ++l) sum += keep(l);
  return std::llround(static_cast<double>(tokens) * sum / static_cast<double>(model.n_layers));
}

double recompute_flops(const ModelSpec& model, const RecomputeSchedule& s, std::int64_t n, double uncovered) {
  // Per row and layer: 2 x the layer's matrix parameters (QKV, O, MLP); attention 4 x Hq x d per
  // (query, key) pair: causal n(n+1)/2 pairs in a full layer, rows x n in a partial one.
  const double per_row = 2.0 * static_cast<double>(model.params_per_layer() - 2 * model.hidden);
  const double attn = 4.0 * static_cast<double>(model.n_heads * model.head_dim);
  const double nd = static_cast<double>(n);
  double f = 0;
  for (std::int64_t l = 0; l < model.n_layers; ++l) {
    const double r = static_cast<double>(s.rows(l, n, uncovered));
    f += r * per_row + attn * (l < s.full_layers ? nd * (nd + 1) / 2 : r * nd);
  }
  return f;
}

}  // namespace moska::semsharekv
