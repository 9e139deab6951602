#include "sim/systems/infinite_llm/dist_attention.hpp"

#include <algorithm>
#include <filesystem>

#include "sim/model/operators.hpp"
#include "sim/util/json_reader.hpp"

namespace moska::infinite_llm {

namespace {
double d(std::int64_t x) { return static_cast<double>(x); }
}  // namespace

DistAttention::DistAttention(const StepCostModel& step, LinkClass nic) : step_(step), nic_(nic), tp_(step.tp()) {
  const auto& m = step.model();
  const auto& p = step.precision();
  const double act = dtype_bytes(p.act);
  q_bytes_ = d(m.n_heads * m.head_dim) * act;
  p_bytes_ = d(m.n_heads) * (d(m.head_dim) * act + 4.0);
  kv_tl_ = m.kv_bytes_per_token(p.kv) / d(m.n_layers);
}

double DistAttention::message_s(bool same_node, double bytes, int users) const {
  if (bytes <= 0) return 0;
  const double share = bytes / d(tp_);  // each rank sends its heads' share over its own link
  const double u = std::max(1, users);
  if (same_node) {
    // NCCL send/recv on NVLink (the collectives model); a shared link: as if u x the bytes.
    return step_.op(make_collective("send_recv", static_cast<std::int64_t>(share * u), 2, 1)).seconds;
  }
  return nic_.latency_s + share * u / nic_.bw_bps;
}

double DistAttention::attention_s(std::int64_t requests, std::int64_t kv_tokens) const {
  if (requests <= 0 || kv_tokens <= 0) return 0;
  return step_.op(make_decode_attention(step_.model(), step_.precision(), tp_, requests, kv_tokens, 1)).seconds;
}

double DistAttention::micro_s(std::int64_t requests, std::int64_t kv_tokens) const {
  if (requests <= 0 || kv_tokens <= 0) return 0;
  return step_.op(make_micro_attention(step_.model(), step_.precision(), tp_, requests, kv_tokens, 1)).seconds;
}

double DistAttention::merge_s(std::int64_t requests, std::int64_t parts) const {
  if (requests <= 0 || parts <= 1) return 0;
  return step_.op(make_merge(step_.model(), step_.precision(), tp_, requests, parts, 1)).seconds;
}

double DistAttention::holder_path_s(bool same_node, std::int64_t requests, std::int64_t kv_tokens, int users) const {
  return message_s(same_node, d(requests) * q_bytes_, users) + micro_s(requests, kv_tokens) +
         message_s(same_node, d(requests) * p_bytes_, users);
}

double DistAttention::prefill_ship_s(bool same_node, std::int64_t new_tokens, std::int64_t past, std::int64_t remote) const {
  if (remote <= 0 || new_tokens <= 0) return 0;
  remote = std::min(remote, past);
  const auto& m = step_.model();
  const auto& p = step_.precision();
  // The chunk's attention as costed without lending (all of the past here) ...
  const double whole = step_.op(make_prefill_attention(m, p, tp_, new_tokens, past, 1)).seconds;
  // ... becomes the local part (its own tokens causally, the local past) in parallel with the holder's
  // part (every query against the remote tokens), then the merge of two partials per query.
  const double local = step_.op(make_prefill_attention(m, p, tp_, new_tokens, past - remote, 1)).seconds;
  const double there = step_.op(make_partial_attention(m, p, tp_, new_tokens, remote, 1)).seconds;
  const double path = message_s(same_node, d(new_tokens) * q_bytes_) + there + message_s(same_node, d(new_tokens) * p_bytes_);
  return std::max(local, path) + merge_s(new_tokens, 2) - whole;
}

double DistAttention::prefill_pull_s(bool same_node, std::int64_t remote) const {
  if (remote <= 0) return 0;
  return message_s(same_node, d(remote) * kv_tl_);
}

AttentionBench attention_bench(const StepCostModel& step, std::int64_t batch, std::int64_t ctx, int gpus, const BenchImpl& impl) {
  const auto& m = step.model();
  const auto& p = step.precision();
  AttentionBench a;
  const DistAttention da(step, LinkClass{});
  const std::int64_t block = ctx / gpus;
  const double act = dtype_bytes(p.act);
  a.query_bytes = d(batch) * da.query_bytes();
  a.partial_bytes = d(batch) * da.partial_bytes();
  a.kv_block_bytes = d(batch) * d(block) * da.kv_bytes_per_token_layer();
  a.gathered_bytes = d(batch) * d(m.n_heads * m.head_dim) * act;
  const auto msg = [&](double bytes) {
    return step.op(make_collective("send_recv", static_cast<std::int64_t>(bytes), 2, 1)).seconds + impl.eager_call_s;
  };
  a.micro_s = da.micro_s(batch, batch * block);
  a.merge_s = da.merge_s(batch, gpus);
  a.query_msg_s = msg(a.query_bytes);
  a.partial_msg_s = msg(a.partial_bytes);
  a.kv_block_msg_s = msg(a.kv_block_bytes);
  // DistAttention: the home's query goes to the gpus - 1 holders (sent together) once (1 - overlap)
  // of the home's own micro-attention has run; each holder computes its micro-attention; their
  // partials come back; one merge. The host issues the layer in no less than its floor.
  const double micro = impl.micro_scale * a.micro_s;
  const double holder_start = (1 - impl.overlap) * micro + a.query_msg_s;
  a.distattention_s = std::max(impl.host_floor_s, std::max(micro, holder_start + micro + a.partial_msg_s) + a.merge_s);
  // RingAttention: gpus steps of attention on the block at hand, the first gpus - 1 overlapped with
  // passing that block on; the partials merged.
  a.ring_s = d(gpus - 1) * std::max(a.micro_s, a.kv_block_msg_s) + a.micro_s + a.merge_s;
  // Head-wise TP: each GPU attends H/gpus heads over all ctx tokens; the outputs all-gathered.
  a.tp_attention_s = step.op(make_decode_attention(m, p, gpus, batch, batch * ctx, 1)).seconds;
  a.all_gather_s = step.op(make_collective("all_gather", static_cast<std::int64_t>(a.gathered_bytes), gpus, 1)).seconds + impl.eager_call_s;
  a.tp_s = a.tp_attention_s + a.all_gather_s;
  a.single_s = da.micro_s(batch, batch * ctx);
  return a;
}

std::optional<BenchImpl> measured_bench_impl(const HardwareProfile& hw, std::string& source) {
  if (hw.calibration_dir.empty()) return std::nullopt;
  const auto path = std::filesystem::path(hw.calibration_dir) / "distattn_impl.json";
  if (!std::filesystem::exists(path)) return std::nullopt;
  const auto j = load_json_file(path);
  const JsonReader r(j, path.string());
  BenchImpl impl;
  impl.eager_call_s = r.sourced_in("eager_call_us", 0, 1e6) * 1e-6;
  impl.overlap = r.sourced_in("overlap", 0, 1);
  impl.micro_scale = r.sourced_in("micro_scale", 1e-3, 10);
  impl.host_floor_s = r.sourced_in("host_floor_us", 0, 1e6) * 1e-6;
  (void)r.string("description");
  r.finish();
  source = path.string();
  return impl;
}

}  // namespace moska::infinite_llm
