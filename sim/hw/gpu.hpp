#pragma once
// What the hardware is: one GPU type and the node it sits in, loaded from hw_profiles/<name>.json.
// Every number there carries its source; nothing here is a constant of the code.
#include <filesystem>
#include <map>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "sim/util/dtype.hpp"

namespace moska {

// Parameters of the roofline fallback (used where no measured table covers an operator).
struct RooflineParams {
  double gemm_compute_eff = 0;   // achieved / peak tensor-core FLOP/s of a large GEMM
  double attn_compute_eff = 0;   // achieved / peak of a large flash-attention kernel
  double memory_eff = 0;         // achieved / peak HBM bandwidth of a streaming kernel
  double kernel_overhead_s = 0;  // fixed cost per kernel (launch inside a CUDA graph, tail effects)
  double iteration_overhead_s = 0;  // host-side cost per iteration (scheduler, graph launch, sampling)
};

struct GpuSpec {
  std::string name;         // profile name, e.g. "h100-sxm"
  std::string description;  // e.g. "NVIDIA H100 SXM5 80GB"
  std::map<Dtype, double> peak_flops;  // dense tensor-core FLOP/s per dtype
  double hbm_bytes = 0;
  double hbm_bw_bps = 0;
  int sm_count = 0;
  double l2_bytes = 0;
  double nvlink_bw_bps = 0;      // per GPU, per direction
  double nvlink_latency_s = 0;
  RooflineParams roofline;

  // Throws InputError if the GPU has no tensor-core peak for `d`.
  double peak(Dtype d) const;
};

struct NodeSpec {
  int gpus_per_node = 0;
  double nic_bw_bps = 0;       // per GPU, per direction (RDMA)
  double nic_latency_s = 0;
  double host_dram_bytes = 0;  // per node
  double pcie_bw_bps = 0;      // per GPU, per direction (host <-> device)
  double ssd_bytes = 0;        // per node
  double ssd_bw_bps = 0;       // per node, read
};

struct HardwareProfile {
  GpuSpec gpu;
  NodeSpec node;
  std::string path;              // file it came from
  std::string calibration_dir;   // folder of measured tables ("" if none)
  // What one GPU of this type costs to rent per hour (US$), and where the number comes from
  // (docs/research/gpu-prices.md); 0 when the profile has none (`plan` then needs --price).
  double price_usd_per_gpu_hour = 0;
  std::string price_source;
};

// Loads by name (hw_profiles/<name>.json) or path; validates every key (each number in a range).
HardwareProfile load_hardware(const std::string& name_or_path);
// The same from a parsed file; `path` names it and locates its "calibration" folder.
HardwareProfile parse_hardware(const nlohmann::json& j, const std::filesystem::path& path);

}  // namespace moska
