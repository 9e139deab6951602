#pragma once
// DistAttention's costs, per layer (Infinite-LLM, arXiv 2401.02669; shared/research/seed-systems.md
// A.3): a request's KV is cut into blocks that may live on other instances; each holder runs a
// micro-attention over the blocks it holds (returning the output and its log-sum-exp), only the
// query goes out and only the partials come back, and the home instance merges them exactly.
//   query    = Hq x d x act bytes per request and layer
//   partial  = Hq x (d x act + 4) bytes (unnormalised output + fp32 LSE)
//   one holder's path = msg(query) + micro-attention(its requests, its tokens) + msg(partials)
//   critical path per layer = max(local attention, slowest holder's path) + merge(1 + holders parts)
// A message inside a node is a NCCL send/recv on NVLink (the GPU's collectives model: fitted to
// measurements where the profile has them, else the roofline), across nodes latency + bytes / NIC
// bandwidth; a link carrying `users` flows at once gives each 1/users of its bandwidth. With TP on
// both sides each rank sends its heads' share over its own link.
// Also the attention-only baselines of the paper's microbenchmark: RingAttention (each rank's KV
// block passed around the ring, overlapped with the attention on the block at hand) and head-wise
// TP attention (H/P heads over all tokens, outputs all-gathered).
#include <cstdint>
#include <optional>
#include <string>

#include "sim/cost/step_cost.hpp"
#include "sim/hw/gpu.hpp"
#include "sim/model/model_spec.hpp"

namespace moska::infinite_llm {

struct LinkClass {
  double bw_bps = 0;     // per GPU, per direction
  double latency_s = 0;
};

class DistAttention {
 public:
  // `step`: one instance's TP group (holders are alike: one pool). `nic`: the link across nodes.
  DistAttention(const StepCostModel& step, LinkClass nic);

  double query_bytes() const { return q_bytes_; }      // per request and layer, whole query
  double partial_bytes() const { return p_bytes_; }    // per request and layer, whole partial
  double kv_bytes_per_token_layer() const { return kv_tl_; }

  // One message of `bytes` (the whole instance's; each of its tp ranks sends its share) on a link
  // shared by `users` flows.
  double message_s(bool same_node, double bytes, int users = 1) const;
  // Per layer, on one instance's GPUs.
  double attention_s(std::int64_t requests, std::int64_t kv_tokens) const;  // decode attention
  double micro_s(std::int64_t requests, std::int64_t kv_tokens) const;      // with the LSE
  double merge_s(std::int64_t requests, std::int64_t parts) const;
  // A holder's path per layer: the query out, its micro-attention, the partials back.
  double holder_path_s(bool same_node, std::int64_t requests, std::int64_t kv_tokens, int users = 1) const;
  // Extra time per layer of a prefill chunk of `new_tokens` queries whose `remote` past tokens (of
  // `past`) are held elsewhere: ship the queries there (their partial attention runs on the holder
  // while the local part runs here, partials back, merged), or pull that KV here (the local
  // attention then covers the whole past, as costed without lending). `ship`: which one.
  double prefill_ship_s(bool same_node, std::int64_t new_tokens, std::int64_t past, std::int64_t remote) const;
  double prefill_pull_s(bool same_node, std::int64_t remote) const;

  const StepCostModel& step() const { return step_; }

 private:
  const StepCostModel& step_;
  LinkClass nic_;
  double q_bytes_ = 0, p_bytes_ = 0, kv_tl_ = 0;
  int tp_ = 1;
};

// The paper's attention microbenchmark (seed-systems.md A.3.7, A.5 rows 7-8): one layer's decode
// attention of `batch` requests of `ctx` tokens each over `gpus` GPUs of one node, per method.
// How the measured implementation runs a DistAttention layer (hw_profiles/h200/distattn_overlap.txt).
struct BenchImpl {
  double eager_call_s = 0;  // added to each NCCL call (0 inside CUDA graphs; the eager launch otherwise)
  // Fraction of the holders' micro-attention that overlaps the home's. 1: full overlap (the paper's
  // ideal; measured when the home's micro-attention waits for the query's send to complete). Eager
  // NCCL on default-priority streams: the query's send kernel gets no SM until the home's
  // micro-attention has dispatched its CTAs, so the holders start when the home's is (1 - overlap) done.
  double overlap = 1;
  // The home's and holders' micro-attention relative to the kernel table (measured in the layer).
  double micro_scale = 1;
  // The host's time to issue one layer (eager launches); the layer takes at least this. 0: in a graph.
  double host_floor_s = 0;
};

// The implementation measured on this GPU, if its folder of measured tables has one
// (<calibration_dir>/distattn_impl.json: eager_call_us, overlap, micro_scale, host_floor_us, each
// {"value", "source"}); `source` gets the file's path. None when the profile has no such file.
std::optional<BenchImpl> measured_bench_impl(const HardwareProfile& hw, std::string& source);

struct AttentionBench {
  // home: local micro || (query out after (1 - overlap) of the local micro, remote micro, partials back);
  // merge of gpus parts; at least the host floor
  double distattention_s = 0;
  double ring_s = 0;           // gpus - 1 KV exchanges, each overlapped with attention on the block at hand; merge
  double tp_s = 0;             // H/gpus heads over ctx tokens, then all-gather of the outputs
  double single_s = 0;         // one GPU, all heads, all tokens (reference)
  // Parts.
  double micro_s = 0, merge_s = 0, query_msg_s = 0, partial_msg_s = 0, kv_block_msg_s = 0, all_gather_s = 0,
         tp_attention_s = 0;
  double kv_block_bytes = 0, query_bytes = 0, partial_bytes = 0, gathered_bytes = 0;
};
// `step` is a TP-1 group of the GPU. The default `impl` is the in-graph, fully overlapped ideal.
AttentionBench attention_bench(const StepCostModel& step, std::int64_t batch, std::int64_t ctx, int gpus,
                               const BenchImpl& impl = {});

}  // namespace moska::infinite_llm
