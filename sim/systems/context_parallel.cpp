#include "sim/systems/context_parallel.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "sim/util/json_reader.hpp"

namespace moska {

namespace {
std::int64_t share(std::int64_t x, std::int64_t n) { return (x + n - 1) / n; }
}  // namespace

ContextParallel parse_context_parallel(const Scenario& sc, const PoolSpec& pool, const HardwareProfile& hw) {
  ContextParallel cp;
  const auto it = sc.sections.find("context_parallel");
  if (it != sc.sections.end()) {
    JsonReader r(it->second, sc.file, "context_parallel");
    cp.degree = static_cast<int>(r.integer_or("degree", 1, 1));
    if (pool.instances % cp.degree != 0) {
      r.fail("degree", fmt::format("a divisor of pool '{}''s {} instances (TP groups per CP group)", pool.name, pool.instances));
    }
    r.finish();
  }
  // The ring stays on NVLink while the CP group's GPUs fit in one node.
  cp.over_nvlink = cp.degree * pool.tp <= hw.node.gpus_per_node;
  cp.link_bw_bps = cp.over_nvlink ? hw.gpu.nvlink_bw_bps : hw.node.nic_bw_bps;
  cp.link_latency_s = cp.over_nvlink ? hw.gpu.nvlink_latency_s : hw.node.nic_latency_s;
  return cp;
}

void cp_rank(const BatchSpec& in, int degree, CpRank& out) {
  const auto c = static_cast<std::int64_t>(degree);
  out.dense_tokens = share(in.decode_requests, c);
  out.logit_rows = share(in.decode_requests, c) + share(static_cast<std::int64_t>(in.prefills.size()), c);
  std::int64_t rows = in.decode_requests;
  auto& a = out.attention;
  a.decode_requests = in.decode_requests;
  a.decode_kv_tokens = share(in.decode_kv_tokens, c);
  a.prefills.clear();
  for (const auto& p : in.prefills) {
    out.dense_tokens += share(p.new_tokens, c);
    rows += p.new_tokens;
    // Every rank attends the chunk's queries against its stripe of the past; the chunk's own causal
    // block is counted whole on each (its owner does compute it: the busiest rank bounds the step).
    a.prefills.push_back({p.new_tokens, share(p.past_tokens, c)});
  }
  out.owned_rows = share(rows, c);
}

void cp_stripe(const SharedAttention& in, int degree, SharedAttention& out) {
  const auto c = static_cast<std::int64_t>(degree);
  out.requests = in.requests;
  out.segments = in.segments;
  out.groups.clear();
  for (const auto& g : in.groups) out.groups.push_back({share(g.n_chunks, c), g.chunk_tokens, g.queries});
  out.top_k = std::max<std::int64_t>(1, share(in.top_k, c));
  out.total_chunks = out.top_k;  // no router on a rank: the owner routes its requests
}

CpRing cp_ring(const ModelSpec& model, const Precision& prec, const ContextParallel& cp, int tp) {
  CpRing ring;
  ring.degree = cp.degree;
  if (cp.degree <= 1) return ring;
  const double layers_hops = static_cast<double>(model.n_layers) * (cp.degree - 1);
  const double act = dtype_bytes(prec.act);
  const double q = static_cast<double>(model.q_dim() / tp) * act;  // one row's query, per GPU
  const double r = static_cast<double>(model.n_heads / tp) * (static_cast<double>(model.head_dim) * act + 4.0);  // its partial
  ring.fixed_s = layers_hops * 2.0 * cp.link_latency_s;
  ring.per_row_s = layers_hops * (q + r) / cp.link_bw_bps;
  return ring;
}

double cp_exchange_seconds(const ModelSpec& model, const Precision& prec, const ContextParallel& cp, int tp,
                           std::int64_t rows) {
  return cp_ring(model, prec, cp, tp).seconds(rows);
}

}  // namespace moska
