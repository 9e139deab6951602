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

namespace {
// Ranges of hardware constants: generous around what exists (an H100: 2e15 FLOP/s fp8, 8e10 bytes,
// 3.35e12 B/s, microsecond latencies); outside them a number is a typo or a unit mistake, and a
// bandwidth of 1e-3 B/s would make one iteration outlast the clock.
constexpr double kMinRate = 1e6;        // FLOP/s, B/s
constexpr double kMaxFlops = 1e18;
constexpr double kMaxBandwidth = 1e15;  // B/s
constexpr double kMinBytes = 1e6;
constexpr double kMaxBytes = 1e18;
constexpr double kMinLatency = 1e-12;   // s
constexpr double kMaxLatency = 1;       // s
constexpr double kMinEfficiency = 1e-3;
constexpr double kMinPrice = 1e-3;  // US$ per GPU-hour
constexpr double kMaxPrice = 1e4;
}  // namespace

HardwareProfile load_hardware(const std::string& name_or_path) {
  auto path = resolve_named_json(name_or_path, "hw_profiles", "hardware profile");
  return parse_hardware(load_json_file(path), path);
}

HardwareProfile parse_hardware(const nlohmann::json& j, const std::filesystem::path& path) {
  JsonReader root(j, path.string());
  HardwareProfile hw;
  hw.path = path.string();
  hw.gpu.name = root.string("name");
  hw.gpu.description = root.string_or("description", hw.gpu.name);
  root.string_or("notes", "");
  if (root.has("price_usd_per_gpu_hour")) {
    hw.price_usd_per_gpu_hour = root.sourced_in("price_usd_per_gpu_hour", kMinPrice, kMaxPrice);
    hw.price_source = root.object("price_usd_per_gpu_hour").string("source");
  }

  auto g = root.object("gpu");
  auto peaks = g.object("peak_flops");
  for (const auto& key : peaks.keys()) {
    Dtype d = parse_dtype(key, fmt::format("{}: key 'gpu.peak_flops.{}'", path.string(), key));
    hw.gpu.peak_flops[d] = peaks.sourced_in(key, kMinRate, kMaxFlops);
  }
  if (hw.gpu.peak_flops.empty()) g.fail("peak_flops", "at least one dtype (e.g. \"bf16\")");
  peaks.finish();
  hw.gpu.hbm_bytes = g.sourced_in("hbm_bytes", kMinBytes, kMaxBytes);
  hw.gpu.hbm_bw_bps = g.sourced_in("hbm_bandwidth_bps", kMinRate, kMaxBandwidth);
  hw.gpu.sm_count = g.sourced_int("sm_count", 1, 1 << 20);
  hw.gpu.l2_bytes = g.sourced_in("l2_bytes", 1, kMaxBytes);
  hw.gpu.nvlink_bw_bps = g.sourced_in("nvlink_bandwidth_bps", kMinRate, kMaxBandwidth);
  hw.gpu.nvlink_latency_s = g.sourced_in("nvlink_latency_s", kMinLatency, kMaxLatency);
  g.finish();

  auto n = root.object("node");
  hw.node.gpus_per_node = n.sourced_int("gpus_per_node", 1, 4096);
  hw.node.nic_bw_bps = n.sourced_in("nic_bandwidth_bps", kMinRate, kMaxBandwidth);
  hw.node.nic_latency_s = n.sourced_in("nic_latency_s", kMinLatency, kMaxLatency);
  hw.node.host_dram_bytes = n.sourced_in("host_dram_bytes", kMinBytes, kMaxBytes);
  hw.node.pcie_bw_bps = n.sourced_in("pcie_bandwidth_bps", kMinRate, kMaxBandwidth);
  hw.node.ssd_bytes = n.sourced_in("ssd_bytes", kMinBytes, kMaxBytes);
  hw.node.ssd_bw_bps = n.sourced_in("ssd_bandwidth_bps", kMinRate, kMaxBandwidth);
  n.finish();

  auto r = root.object("roofline");
  hw.gpu.roofline.gemm_compute_eff = r.sourced_in("gemm_compute_efficiency", kMinEfficiency, 1);
  hw.gpu.roofline.attn_compute_eff = r.sourced_in("attention_compute_efficiency", kMinEfficiency, 1);
  hw.gpu.roofline.memory_eff = r.sourced_in("memory_efficiency", kMinEfficiency, 1);
  hw.gpu.roofline.kernel_overhead_s = r.sourced_in("kernel_overhead_s", 0, kMaxLatency);
  hw.gpu.roofline.iteration_overhead_s = r.sourced_in("iteration_overhead_s", 0, 60);
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
