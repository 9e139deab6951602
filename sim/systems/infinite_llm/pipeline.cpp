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
  std::int64_t prefill = 0;
  for (const auto& p : batch.prefills) prefill += p.new_tokens;
  const auto units = batch.decode_requests + prefill;
  const auto n = static_cast<std::size_t>(std::max<std::int64_t>(1, std::min<std::int64_t>(m, units)));
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
  // Prefill tokens in equal shares, in order: a chunk cut across micro-batches keeps its order (the
  // earlier piece passes each stage first, so the later one finds its KV there), the later piece's
  // past grown by the earlier pieces.
  const std::int64_t quota = (prefill + static_cast<std::int64_t>(n) - 1) / static_cast<std::int64_t>(n);
  std::size_t k = 0;
  std::int64_t room = quota;
  for (const auto& p : batch.prefills) {
    std::int64_t done = 0;
    while (done < p.new_tokens) {
      if (room == 0 && k + 1 < n) {
        ++k;
        room = quota;
      }
      const std::int64_t take = k + 1 < n ? std::min(p.new_tokens - done, room) : p.new_tokens - done;
      out[k].prefills.push_back({take, p.past_tokens + done, p.plan});
      done += take;
      room -= std::min(room, take);
    }
  }
}

}  // namespace moska::infinite_llm
