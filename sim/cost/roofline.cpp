#include "sim/cost/roofline.hpp"

namespace moska {

double ring_allreduce_seconds(double bytes, int ranks, double link_bw_bps, double link_latency_s) {
  if (ranks <= 1) return 0.0;
  double r = ranks;
  return 2.0 * (r - 1.0) / r * bytes / link_bw_bps + 2.0 * (r - 1.0) * link_latency_s;
}

double ring_collective_seconds(std::string_view name, double bytes, int ranks, double link_bw_bps, double link_latency_s) {
  if (ranks <= 1) return 0.0;
  if (name == "allreduce" || name == "all_reduce") return ring_allreduce_seconds(bytes, ranks, link_bw_bps, link_latency_s);
  if (name == "send_recv") return bytes / link_bw_bps + link_latency_s;
  double r = ranks;
  return (r - 1.0) / r * bytes / link_bw_bps + (r - 1.0) * link_latency_s;
}

RooflineTerms roofline_terms(const GpuSpec& gpu, const Op& op) {
  RooflineTerms t;
  const auto& rp = gpu.roofline;
  if (op.cls == OpClass::comm) {
    t.memory_s = ring_collective_seconds(op.name, op.bytes, static_cast<int>(op.n), gpu.nvlink_bw_bps, gpu.nvlink_latency_s);
    return t;
  }
  double eff = rp.gemm_compute_eff;
  switch (op.cls) {
    case OpClass::attn_decode:
    case OpClass::attn_prefill:
    case OpClass::attn_shared: eff = rp.attn_compute_eff; break;
    case OpClass::elementwise:
    case OpClass::router:
    case OpClass::moe:
    case OpClass::merge: eff = rp.gemm_compute_eff; break;
    default: break;
  }
  // Non-GEMM arithmetic (norms, softmax merges) runs on CUDA cores; count it at the fp32 rate,
  // which for these memory-bound ops only matters as a sanity bound.
  Dtype math = op.math;
  double peak = gpu.peak_flops.count(math) ? gpu.peak(math) : gpu.peak(Dtype::bf16);
  if (op.cls == OpClass::elementwise || op.cls == OpClass::merge || op.cls == OpClass::moe) {
    peak = gpu.peak_flops.count(Dtype::fp32) ? gpu.peak(Dtype::fp32) : peak;
  }
  t.compute_s = op.flops / (peak * eff);
  t.memory_s = op.bytes / (gpu.hbm_bw_bps * rp.memory_eff);
  t.overhead_s = rp.kernel_overhead_s;
  return t;
}

}  // namespace moska
