#include "sim/analysis/strategies.hpp"

#include "sim/systems/system.hpp"

namespace moska {

void add_strategies(PredictResult& r) {
  if (r.mode != "moska-decode") return;
  const CostModel& cm = *r.cost_model;
  StrategyQuery q;
  q.batch = r.req.batch;
  q.base = r.batch;
  q.base.shared = {};
  q.chunks = r.batch.shared.total_chunks;
  q.chunk_tokens = r.req.chunk_tokens;
  q.sparsity = r.req.sparsity;
  q.unique_kv_bytes = r.memory.kv_bytes;
  q.shared_kv_once_bytes = r.memory.shared_kv_bytes;
  for (const System* sys : all_systems()) {
    const auto st = sys->strategy(q);
    if (!st) continue;
    auto ops = build_iteration_ops(r.model, r.prec, st->batch);
    const auto& sel = st->selection;
    append_selection_ops(r.model, r.prec, sel.requests, 0, sel.total_chunks, sel.top_k, r.req.tp, ops);
    const auto c = cm.iteration(ops);
    r.strategies.push_back({std::string(sys->name()), st->what, c.seconds, attention_seconds(cm, ops), st->kv_needed_bytes,
                            st->kv_needed_bytes + r.memory.weights_bytes <= r.memory.capacity_bytes});
  }
}

}  // namespace moska
