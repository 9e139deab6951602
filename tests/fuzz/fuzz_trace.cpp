// Fuzz target: one trace format (MOSKA_FUZZ_TRACE_FORMAT: mooncake, moska, azure, burstgpt) or,
// for "any", format detection with options taken from the input's first line
// ("#opts speedup window_start window_end max_requests block_tokens").
#include <cmath>
#include <cstdio>
#include <string>

#include "sim/workload/trace.hpp"
#include "tests/fuzz/fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = moska::fuzz::text(data, size);
  moska::TraceOptions opt;
  const std::string format = MOSKA_FUZZ_TRACE_FORMAT;
  if (format == "any") {
    if (text.rfind("#opts ", 0) == 0) {
      const auto nl = text.find('\n');
      const std::string line(text.substr(0, nl));
      text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
      double speedup = 1, ws = 0, we = -1;
      unsigned long long maxr = 0;
      long long block = 512;
      std::sscanf(line.c_str(), "#opts %lf %lf %lf %llu %lld", &speedup, &ws, &we, &maxr, &block);
      opt.speedup = speedup;
      opt.window_start_s = ws;
      if (we >= 0) opt.window_end_s = we;
      opt.max_requests = maxr;
      opt.block_tokens = block;
    }
  } else {
    opt.format = moska::parse_trace_format(format);
  }
  return moska::fuzz::run([&] {
    auto rs = moska::parse_trace(text, "fuzz-trace", opt);
    // What every reader guarantees (trace.hpp).
    if (rs.empty()) std::abort();
    for (std::size_t i = 0; i < rs.size(); ++i) {
      const auto& r = rs[i];
      if (r.id != i || r.arrival_ns < 0 || r.input_tokens < 1 || r.output_tokens < 1) std::abort();
      if (r.input_tokens > moska::kMaxRequestTokens || r.output_tokens > moska::kMaxRequestTokens) std::abort();
      if (i > 0 && r.arrival_ns < rs[i - 1].arrival_ns) std::abort();
    }
  });
}
