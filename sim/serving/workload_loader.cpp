#include "sim/serving/workload_loader.hpp"

#include <filesystem>

#include <fmt/format.h>

#include "sim/util/error.hpp"
#include "sim/util/json_reader.hpp"
#include "sim/util/paths.hpp"
#include "sim/workload/generator.hpp"
#include "sim/workload/trace.hpp"

namespace moska {

std::vector<Request> load_workload(const Scenario& sc) {
  if (sc.workload.contains("generator")) {
    nlohmann::json g = sc.workload["generator"];
    if (g.is_object() && !g.contains("seed")) g["seed"] = sc.seed;  // one seed for the whole scenario
    JsonReader r(g, sc.file, "workload.generator");
    auto spec = parse_generator_spec(r);
    return generate(spec);
  }
  JsonReader t(sc.workload["trace"], sc.file, "workload.trace");
  std::string path = t.string("path");
  TraceOptions opt;
  if (t.has("format")) opt.format = parse_trace_format(t.string("format"));
  opt.speedup = t.number_or("speedup", 1.0);
  if (!(opt.speedup > 0)) t.fail("speedup", "a positive factor (2 = twice as fast)");
  opt.window_start_s = t.number_or("window_start_s", 0.0);
  if (t.has("window_end_s")) opt.window_end_s = t.number("window_end_s");
  opt.max_requests = static_cast<std::uint64_t>(t.integer_or("max_requests", 0, 0));
  opt.block_tokens = t.integer_or("block_tokens", 0, 512);
  t.finish();
  // Relative paths: beside the scenario file, else from the data root (e.g. ../shared/traces/...).
  std::filesystem::path p(path);
  if (p.is_relative()) {
    auto beside = sc.base_dir / p;
    p = std::filesystem::exists(beside) ? beside : data_root() / p;
  }
  return read_trace(p.string(), opt);
}

}  // namespace moska
