// Fuzz target: one measured-kernel CSV (hw_profiles/<gpu>/*.csv) through the calibration reader and
// the lookups built from it. The input's first line names the file (gemm.csv, attn_decode.csv, ...,
// ceilings.csv); the rest is its text. A name that is not a calibration file is skipped.
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "sim/cost/calibration.hpp"
#include "tests/fuzz/fuzz_common.hpp"

namespace {

const std::filesystem::path& folder() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("moska-fuzz-calibration-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

bool known_file(const std::string& name) {
  if (name == "ceilings.csv") return true;
  for (int f = 0; f < moska::kNumKernelFamilies; ++f) {
    if (name == moska::kernel_family_csv(static_cast<moska::KernelFamily>(f))) return true;
  }
  return false;
}

moska::GpuSpec gpu() {  // H100-like numbers: the reader only needs them for roofline ratios
  moska::GpuSpec g;
  g.name = "fuzz";
  g.peak_flops = {{moska::Dtype::bf16, 989e12}, {moska::Dtype::fp16, 989e12}, {moska::Dtype::fp8, 1979e12},
                  {moska::Dtype::fp32, 67e12}};
  g.hbm_bytes = 80e9;
  g.hbm_bw_bps = 3.35e12;
  g.sm_count = 132;
  g.l2_bytes = 50e6;
  g.nvlink_bw_bps = 450e9;
  g.roofline = {0.8, 0.6, 0.9, 2e-6, 2e-5};
  return g;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = moska::fuzz::text(data, size);
  const auto nl = in.find('\n');
  if (nl == std::string_view::npos) return 0;
  const std::string name(in.substr(0, nl));
  if (!known_file(name)) return 0;
  const auto path = folder() / name;
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f << in.substr(nl + 1);
  }
  moska::fuzz::run([&] {
    const auto t = moska::CalibrationTables::load(folder().string(), gpu());
    // Every point read must be answered by a finite, positive time.
    for (const auto& p : t.points()) {
      const auto s = t.lookup(moska::CalibrationTables::reference_op(p.family, p.dtype, p.key, p.x));
      if (s && !(std::isfinite(*s) && *s > 0)) std::abort();
    }
  });
  std::filesystem::remove(path);
  return 0;
}
