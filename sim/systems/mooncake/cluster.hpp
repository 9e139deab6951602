#pragma once
// Mooncake's cluster as its Conductor and admission control see it: prefill pipeline groups, each
// with its KV-cache store (host DRAM, optional SSD) and RDMA NICs, decode instances with what is
// assigned to them, and the per-request state of the prefill -> transfer -> decode path.
#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "sim/hw/link.hpp"
#include "sim/serving/batching_instance.hpp"
#include "sim/serving/engine_profile.hpp"
#include "sim/serving/kv_store.hpp"
#include "sim/serving/pool_layout.hpp"
#include "sim/serving/prefill_pipeline.hpp"
#include "sim/systems/mooncake/options.hpp"

namespace moska::mooncake {

struct ReqState {
  std::int32_t prefill = -1, decode = -1;
  std::int64_t cached = 0;        // prompt tokens not prefilled (local hit, or fetched)
  std::int64_t fetch_blocks = 0;  // blocks fetched from another prefill instance
  std::int32_t fetch_from = -1;
  double occupancy_s = 0;  // how long the prefill keeps its instance (pipeline group) busy
  TimeNs handoff_at = -1;  // earliest decode start after the prefill (layer-wise tail)
  bool fetched = true;     // remote prefix in place (or none needed)
  bool prefill_done = false, kv_delivered = false;
};

// One prefill pipeline group: its prompt queue, KV-cache store and NICs (in one object: the
// Conductor reads every group's queue and store for every request).
struct PrefillNode {
  PrefillNode(ServingLoop& loop, const PrefillPipelineConfig& pc, const PipelinePrefillModel& model, PrefillHooks& hooks,
              const KvStoreConfig& store_cfg, double nic_bw, double nic_latency);
  PrefillPipeline pipe;
  KvStore store;
  Link nic;
};

// One decode instance and the requests assigned to it that are still in prefill or transfer.
struct DecodeNode {
  std::unique_ptr<BatchingInstance> inst;
  std::int64_t incoming = 0, incoming_kv = 0, incoming_reserve = 0;
};

// Decode-only iterations on the decode pool (pool 1 of the run).
class DecodeModel final : public IterationModel {
 public:
  DecodeModel(const StepCostModel& step, double overhead_s, const EngineProfile& engine)
      : step_(step), overhead_s_(overhead_s), engine_(engine) {}
  void route(const std::vector<std::int64_t>&, SharedAttention&) const override {}
  void cost(const BatchSpec& b, IterStats& out) const override {
    const Work w = step_.iteration(b);
    out.seconds = w.seconds + overhead_s_;
    out.charges.clear();
    out.charge(1, w.flops, w.bytes, 1, w.measured);
  }
  // One decode step of `count` requests holding `kv` tokens in all, with the engine's CPU time per
  // step as the instance charges it (BatchingInstance::start_iteration).
  double step_s(std::int64_t count, std::int64_t kv) const {
    if (count == 0) return 0;
    BatchSpec b;
    b.decode_requests = count;
    b.decode_kv_tokens = kv;
    const double gpu = step_.iteration(b).seconds + overhead_s_;
    const double cpu = engine_.iteration_s + engine_.iteration_per_seq_s * static_cast<double>(count);
    return engine_.overlap ? std::max(gpu, cpu) : gpu + cpu;
  }

 private:
  const StepCostModel& step_;
  double overhead_s_;
  const EngineProfile& engine_;
};

struct Cluster {
  Options opt;
  std::int64_t block_tokens = 512;
  double block_bytes = 0, kv_bytes_per_token = 0;
  std::int64_t prefill_capacity = 0, decode_capacity = 0;  // KV tokens per prefill / decode instance
  std::unique_ptr<PipelinePrefillModel> prefill;
  std::unique_ptr<DecodeModel> decode;
  std::vector<std::unique_ptr<PrefillNode>> P;
  std::vector<DecodeNode> D;
  std::vector<ReqState> st;
};

}  // namespace moska::mooncake
