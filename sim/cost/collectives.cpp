#include "sim/cost/collectives.hpp"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "sim/util/error.hpp"
#include "sim/util/json_reader.hpp"

namespace moska {

CollectiveModel CollectiveModel::load(const std::string& dir) {
  CollectiveModel m;
  if (dir.empty()) return m;
  auto path = std::filesystem::path(dir) / "collectives.json";
  if (!std::filesystem::exists(path)) return m;
  auto j = load_json_file(path);
  JsonReader r(j, path.string());
  m.present = true;
  m.path = path.string();
  r.string("description");
  m.basis = r.string("basis");
  m.measured = r.boolean_or("measured", false);
  m.fitted_ranks = static_cast<int>(r.integer("fitted_ranks", 2));
  m.bus_bw_bps = r.sourced("bus_bandwidth_bps");
  auto op_bw = [&](const char* key) { return r.has(key) ? r.sourced(key) : m.bus_bw_bps; };
  m.all_gather_bw_bps = op_bw("all_gather_bus_bandwidth_bps");
  m.reduce_scatter_bw_bps = op_bw("reduce_scatter_bus_bandwidth_bps");
  m.send_recv_bw_bps = op_bw("send_recv_bus_bandwidth_bps");
  m.call_overhead_s = r.sourced("call_overhead_s", true);
  const char* p[3] = {"ll", "ll128", "simple"};
  for (int i = 0; i < 3; ++i) {
    m.base_s[i] = r.sourced(fmt::format("{}_base_latency_s", p[i]), true);
    m.hop_s[i] = r.sourced(fmt::format("{}_hop_latency_s", p[i]), true);
  }
  m.ll_max_bus_bw_bps = r.sourced("ll_max_bus_bandwidth_bps");
  m.ll_bw_factor = r.sourced("ll_bandwidth_factor");
  m.ll128_bw_factor = r.sourced("ll128_bandwidth_factor");
  r.finish();
  return m;
}

double CollectiveModel::seconds(std::string_view name, double bytes, int ranks) const {
  if (ranks <= 1) return 0.0;
  const double n = ranks;
  double steps = 0, factor = 0, bus = bus_bw_bps;
  if (name == "allreduce" || name == "all_reduce") {
    steps = 2.0 * (n - 1.0);
    factor = 2.0 * (n - 1.0) / n;
  } else if (name == "all_gather" || name == "reduce_scatter" || name == "all_to_all") {
    steps = n - 1.0;
    factor = (n - 1.0) / n;
    if (name == "all_gather") bus = all_gather_bw_bps;
    if (name == "reduce_scatter") bus = reduce_scatter_bw_bps;
  } else if (name == "send_recv") {
    steps = 1.0;
    factor = 1.0;
    bus = send_recv_bw_bps;
  } else {
    throw InputError(fmt::format("collective '{}': expected all_reduce, all_gather, reduce_scatter, all_to_all or send_recv",
                                 name));
  }
  const double bw[3] = {std::min(ll_max_bus_bw_bps, ll_bw_factor * bus), ll128_bw_factor * bus, bus};
  double best = 0;
  for (int p = 0; p < 3; ++p) {
    const double t = base_s[p] + steps * hop_s[p] + factor * bytes / bw[p];
    if (p == 0 || t < best) best = t;
  }
  return call_overhead_s + best;
}

}  // namespace moska
