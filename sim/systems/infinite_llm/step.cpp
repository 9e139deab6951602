#include "sim/systems/infinite_llm/step.hpp"

#include <algorithm>

#include "sim/model/operators.hpp"

namespace moska::infinite_llm {

StepResult step_cost(const StepContext& c, int i, const BatchSpec& batch, const std::vector<Share>& holders,
                     const std::vector<Share>& hosted) {
  const StepCostModel& S = *c.step;
  const DistAttention& da = *c.da;
  const Ledger& led = *c.ledger;
  const double L = static_cast<double>(S.model().n_layers);
  const double tp = static_cast<double>(S.tp());
  StepResult r;
  std::int64_t act_tokens = -1;  // the largest micro-batch's, for the stage-to-stage sends (-1: the batch's)
  if (c.stages > 1 && c.opt.pipeline_microbatches > 1) {
    split_microbatches(batch, c.opt.pipeline_microbatches, c.micro);
    c.micro_s.clear();
    act_tokens = 0;
    for (const auto& b : c.micro) {
      const Work w = S.iteration(b);
      c.micro_s.push_back(w.seconds);
      r.flops += w.flops;
      r.bytes += w.bytes;
      act_tokens = std::max(act_tokens, b.tokens());
    }
    r.seconds = pipeline_compute_s(c.micro_s, c.stages, c.opt.pipeline_schedule);
  } else {
    const Work w = S.iteration(batch);  // one micro-batch: the stages one after another
    r = StepResult{w.seconds, w.flops, w.bytes};
  }
  if (batch.decode_requests > 0 && !holders.empty()) {
    // Per layer: the local attention runs while each holder's path runs; the slower, then the merge.
    const double local = da.attention_s(batch.decode_requests, batch.decode_kv_tokens);
    double worst = 0;
    std::int64_t remote_requests = 0;
    for (const auto& h : holders) {
      const int users = static_cast<int>(std::max(holders.size(), led.hosted(h.other).size()));
      worst = std::max(worst, da.holder_path_s(led.same_node(i, h.other), h.requests, h.blocks * led.block_tokens(), users));
      remote_requests = std::max(remote_requests, h.requests);
    }
    remote_requests = std::min(batch.decode_requests, remote_requests);
    const auto parts = static_cast<std::int64_t>(holders.size()) + 1;
    r.seconds += L * (std::max(0.0, worst - local) + da.merge_s(remote_requests, parts));
  }
  for (const auto& h : hosted) {
    // Micro-attention for another instance's requests over the blocks held here: this GPU's time.
    const Op op = make_micro_attention(S.model(), S.precision(), S.tp(), h.requests, h.blocks * led.block_tokens(),
                                       S.model().n_layers);
    const Work m = S.op(op);
    r.seconds += m.seconds;
    r.flops += m.flops * tp;
    r.bytes += m.bytes * tp;
  }
  for (const auto& p : batch.prefills) {
    if (p.plan < 0) continue;
    const auto q = static_cast<std::uint32_t>(p.plan);
    const auto& runs = led.table(q);
    if (runs.empty()) continue;
    std::int64_t remote = 0;
    bool same = true;
    for (const auto& x : runs) {
      remote += x.blocks * led.block_tokens();
      same = same && led.same_node(i, x.holder);
    }
    remote = std::min(remote, p.past_tokens);
    if (remote <= 0) continue;
    const double ship = da.prefill_ship_s(same, p.new_tokens, p.past_tokens, remote);
    const double pull = da.prefill_pull_s(same, remote);
    double extra = 0;
    switch (c.opt.remote_prefill) {
      case RemotePrefill::cheaper: extra = std::min(ship, pull); break;
      case RemotePrefill::ship_queries: extra = ship; break;
      case RemotePrefill::pull_kv: extra = pull; break;
    }
    r.seconds += L * extra;
  }
  if (c.stages > 1 && batch.tokens() > 0) {
    // Activations cross each stage boundary once on the critical path; past a node, over the NIC.
    if (act_tokens < 0) act_tokens = batch.tokens();
    const double act = static_cast<double>(act_tokens * S.model().hidden) * dtype_bytes(S.precision().act);
    const int cross = cross_node_boundaries(c.stages, c.stages_per_node);
    r.seconds += static_cast<double>(c.stages - 1 - cross) * da.message_s(true, act) +
                 static_cast<double>(cross) * da.message_s(false, act);
  }
  if (!c.migrating.empty() && c.migrating[static_cast<std::size_t>(i)] > 0) {
    // KV of migrate_tokens_per_step tokens leaves per step, overlapped with the step's compute.
    const double bytes = static_cast<double>(c.opt.migrate_tokens_per_step) * da.kv_bytes_per_token_layer() * L;
    const bool same = c.migrating_cross[static_cast<std::size_t>(i)] == 0;
    r.seconds = std::max(r.seconds, da.message_s(same, bytes));
  }
  return r;
}

void InstanceModel::cost(const BatchSpec& batch, IterStats& out) const {
  out.charges.clear();
  const Ledger& led = *c_.ledger;
  const std::vector<Share>* holders = &led.holders(i_);
  static const std::vector<Share> none;
  if (batch.decode_requests == 0) holders = &none;
  const BatchSpec* b = &batch;
  if (batch.decode_requests > 0 && led.remote_decode_blocks(i_) > 0) {
    local_ = batch;
    local_.decode_kv_tokens = std::max<std::int64_t>(batch.decode_requests,
                                                     batch.decode_kv_tokens - led.remote_decode_blocks(i_) * led.block_tokens());
    b = &local_;
  }
  const StepResult r = step_cost(c_, i_, *b, *holders, led.hosted(i_));
  out.seconds = r.seconds + c_.iteration_overhead_s;
  out.charge(0, r.flops, r.bytes, static_cast<double>(c_.stages));
}

}  // namespace moska::infinite_llm
