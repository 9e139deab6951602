#include "sim/systems/infinite_llm/pipeline.hpp"

#include <algorithm>

namespace moska::infinite_llm {

double pipeline_compute_s(std::span<const double> microbatch_s, int stages, PipelineSchedule schedule) {
  double sum = 0, worst = 0;
  for (double c : microbatch_s) {
    sum += c;
    worst = std::max(worst, c);
  }
  const double P = static_cast<double>(stages);
  if (schedule == PipelineSchedule::steady) return std::max(sum / P, worst);
  return (sum + (P - 1) * worst) / P;
}

int cross_node_boundaries(int stages, int stages_per_node) {
  if (stages_per_node <= 0) return stages - 1;
  return (stages - 1) / stages_per_node;
}

void split_microbatches(const BatchSpec& batch, int m, std::vector<BatchSpec>& out) {
  const auto seqs = batch.decode_requests + static_cast<std::int64_t>(batch.prefills.size());
  const auto n = static_cast<std::size_t>(std::max<std::int64_t>(1, std::min<std::int64_t>(m, seqs)));
  out.resize(n);
  std::int64_t kv_left = batch.decode_kv_tokens, req_left = batch.decode_requests;
  for (std::size_t k = 0; k < n; ++k) {
    auto& b = out[k];
    b.prefills.clear();
    b.shared = {};
    b.tp = batch.tp;
    b.ep = batch.ep;
    const auto left = static_cast<std::int64_t>(n - k);
    b.decode_requests = (req_left + left - 1) / left;
    b.decode_kv_tokens = req_left > 0 ? kv_left * b.decode_requests / req_left : 0;
    req_left -= b.decode_requests;
    kv_left -= b.decode_kv_tokens;
  }
  // Prefill chunks to the micro-batches with the fewest decodes first (the last ones), in turn.
  for (std::size_t i = 0; i < batch.prefills.size(); ++i) out[n - 1 - i % n].prefills.push_back(batch.prefills[i]);
}

}  // namespace moska::infinite_llm
