// Fuzz target: a hardware profile (hw_profiles/*.json) through the JSON reader and its ranges.
#include <cmath>

#include "sim/hw/gpu.hpp"
#include "sim/util/json_reader.hpp"
#include "tests/fuzz/fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return moska::fuzz::run([&] {
    auto j = moska::parse_json_text(moska::fuzz::text(data, size), "fuzz-hw.json");
    // A path whose folder does not exist: a "calibration" key is refused, not read.
    auto hw = moska::parse_hardware(j, "/nonexistent/fuzz-hw.json");
    for (double x : {hw.gpu.hbm_bytes, hw.gpu.hbm_bw_bps, hw.node.nic_bw_bps, hw.gpu.roofline.memory_eff}) {
      if (!std::isfinite(x) || x <= 0) std::abort();
    }
  });
}
