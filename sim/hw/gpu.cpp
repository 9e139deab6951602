#include "sim/hw/gpu.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "sim/util/error.hpp"
#include "sim/util/json_reader.hpp"
#include "sim/util/paths.hpp"

namespace moska {

double GpuSpec::peak(Dtype d) const {
  auto it = peak_flops.find(d);
  if (it == peak_flops.end()) {
    throw InputError(fmt::format("hardware '{}' has no tensor-core peak for {} (key gpu.peak_flops.{})", name,
                                 dtype_name(d), dtype_name(d)));
  }
  return it->second;
}

HardwareProfile load_hardware(const std::string& name_or_path) {
  auto path = resolve_named_json(name_or_path, "hw_profiles", "hardware profile");
  auto j = load_json_file(path);
  JsonReader root(j, path.string());
  HardwareProfile hw;
  hw.path = path.string();
  hw.gpu.name = root.string("name");
  hw.gpu.description = root.string_or("description", hw.gpu.name);
  root.string_or("notes", "");

  auto g = root.object("gpu");
  auto peaks = g.object("peak_flops");
  for (const auto& key : peaks.keys()) {
    Dtype d = parse_dtype(key, fmt::format("{}: key 'gpu.peak_flops.{}'", path.string(), key));
    hw.gpu.peak_flops[d] = peaks.sourced(key);
  }
  if (hw.gpu.peak_flops.empty()) g.fail("peak_flops", "at least one dtype (e.g. \"bf16\")");
  peaks.finish();
  hw.gpu.hbm_bytes = g.sourced("hbm_bytes");
  hw.gpu.hbm_bw_bps = g.sourced("hbm_bandwidth_bps");
  hw.gpu.sm_count = static_cast<int>(g.sourced("sm_count"));
  hw.gpu.l2_bytes = g.sourced("l2_bytes");
  hw.gpu.nvlink_bw_bps = g.sourced("nvlink_bandwidth_bps");
  hw.gpu.nvlink_latency_s = g.sourced("nvlink_latency_s");
  g.finish();

  auto n = root.object("node");
  hw.node.gpus_per_node = static_cast<int>(n.sourced("gpus_per_node"));
  hw.node.nic_bw_bps = n.sourced("nic_bandwidth_bps");
  hw.node.nic_latency_s = n.sourced("nic_latency_s");
  hw.node.host_dram_bytes = n.sourced("host_dram_bytes");
  hw.node.pcie_bw_bps = n.sourced("pcie_bandwidth_bps");
  hw.node.ssd_bytes = n.sourced("ssd_bytes");
  hw.node.ssd_bw_bps = n.sourced("ssd_bandwidth_bps");
  n.finish();

  auto r = root.object("roofline");
  hw.gpu.roofline.gemm_compute_eff = r.sourced("gemm_compute_efficiency");
  hw.gpu.roofline.attn_compute_eff = r.sourced("attention_compute_efficiency");
  hw.gpu.roofline.memory_eff = r.sourced("memory_efficiency");
  hw.gpu.roofline.kernel_overhead_s = r.sourced("kernel_overhead_s", true);
  hw.gpu.roofline.iteration_overhead_s = r.sourced("iteration_overhead_s", true);
  for (double e : {hw.gpu.roofline.gemm_compute_eff, hw.gpu.roofline.attn_compute_eff, hw.gpu.roofline.memory_eff}) {
    if (e > 1.0) r.fail("*_efficiency", "a fraction in (0, 1]");
  }
  r.finish();

  if (root.has("calibration")) {
    auto dir = root.string("calibration");
    auto full = path.parent_path() / dir;
    if (!std::filesystem::is_directory(full)) {
      root.fail("calibration", fmt::format("a folder beside the profile holding measured tables ({} not found)",
                                           full.string()));
    }
    hw.calibration_dir = full.string();
  }
  root.finish();
  return hw;
}

}  // namespace moska
