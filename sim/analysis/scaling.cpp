#include "sim/analysis/scaling.hpp"

#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include "sim/util/csv.hpp"
#include "sim/util/error.hpp"

namespace moska {

namespace {

std::string num(double x) { return fmt::format("{}", x); }

}  // namespace

ScalingResult scaling_analysis(const Scenario& sc, const ScalingOptions& opt) {
  if (opt.ctx < 1) throw InputError("--ctx: expected an integer >= 1 (unique KV tokens per request)");
  if (opt.max_batch < 0) throw InputError("--max-batch: expected an integer >= 0 (0 = no cap)");
  std::vector<std::string> names = opt.systems;
  if (names.empty()) {
    for (const System* s : all_systems()) {
      if (s->compared_by_default()) names.emplace_back(s->name());
    }
  }
  for (const auto& n : names) find_system(n);
  if (!opt.baseline.empty()) {
    find_system(opt.baseline);
    if (std::find(names.begin(), names.end(), opt.baseline) == names.end()) {
      throw InputError(fmt::format("--baseline {}: not among the systems analysed", opt.baseline));
    }
  }
  ScalingResult r;
  r.scenario = sc.name;
  r.model = sc.model;
  r.ctx = opt.ctx;
  r.chunk_tokens = sc.shared.chunk_tokens;
  r.sparsity = sc.shared.sparsity;
  r.shared_tokens = sc.shared.tokens;
  for (const auto& n : names) r.rows.push_back(find_system(n).scaling_row(sc, opt));

  // The baseline: the one asked for, else the fitting row whose system is the most preferred
  // baseline (vllm first), the first such row on a tie.
  const ScalingRow* base = nullptr;
  if (!opt.baseline.empty()) {
    for (const auto& row : r.rows) {
      if (row.system == opt.baseline && !base) base = &row;
    }
    if (base && !base->fits) base = nullptr;
  } else {
    int best_rank = -1;
    for (const auto& row : r.rows) {
      const int rank = find_system(row.system).baseline_rank();
      if (!row.fits || rank < 0) continue;
      if (!base || rank < best_rank) {
        base = &row;
        best_rank = rank;
      }
    }
  }
  if (base) {
    r.baseline = base->system;
    for (auto& row : r.rows) {
      if (!row.fits) continue;
      row.normalized = row.tokens_per_s_per_gpu / base->tokens_per_s_per_gpu;
      row.normalized_deployment = row.tokens_per_s / base->tokens_per_s;
      row.batch_ratio = static_cast<double>(row.batch) / static_cast<double>(base->batch);
    }
  }
  return r;
}

namespace {
// The rows' pools compared against each other (e.g. systems on H100 and B200 pools).
std::string scaling_calibration_warning(const ScalingResult& r) {
  std::vector<nlohmann::json> cal;
  for (const auto& x : r.rows) {
    for (const auto& p : x.pools) cal.push_back(p.calibration);
  }
  return calibration_warning(cal);
}
}  // namespace

nlohmann::json scaling_json(const ScalingResult& r) {
  nlohmann::json j;
  j["scenario"] = r.scenario;
  j["model"] = r.model;
  j["ctx"] = r.ctx;
  j["shared_tokens"] = r.shared_tokens;
  j["chunk_tokens"] = r.chunk_tokens;
  j["sparsity"] = r.sparsity;
  j["baseline"] = r.baseline.empty() ? nlohmann::json() : nlohmann::json(r.baseline);
  nlohmann::json rows = nlohmann::json::array();
  for (const auto& x : r.rows) {
    nlohmann::json o;
    o["system"] = x.system;
    o["fits"] = x.fits;
    o["gpus"] = x.gpus;
    if (!x.fits) {
      o["why"] = x.why;
      o["batch"] = 0;
      rows.push_back(o);
      continue;
    }
    o["logical_instances"] = x.logical_instances;
    o["kv_groups"] = x.kv_groups;
    o["capacity_tokens"] = x.capacity_tokens;
    o["tokens_per_request"] = x.tokens_per_request;
    o["read_per_request"] = x.read_per_request;
    o["batch_capability"] = x.batch_capability;
    o["batch"] = x.batch;
    o["capped"] = x.capped;
    o["step_s"] = x.step_s;
    o["tokens_per_s"] = x.tokens_per_s;
    o["tokens_per_s_per_gpu"] = x.tokens_per_s_per_gpu;
    o["normalized"] = x.normalized;
    o["normalized_deployment"] = x.normalized_deployment;
    o["batch_ratio"] = x.batch_ratio;
    nlohmann::json pools = nlohmann::json::array();
    for (const auto& p : x.pools) {
      pools.push_back({{"name", p.name}, {"role", p.role}, {"hw", p.hw}, {"gpus", p.gpus}, {"flops", p.flops},
                       {"bytes", p.bytes}, {"mfu", p.mfu}, {"hbm_bw_util", p.hbm_bw_util},
                       {"hbm_capacity_util", p.hbm_capacity_util}});
      if (p.calibration.is_object()) {
        auto c = p.calibration;
        c["measured_share_of_step"] = p.measured_share;
        pools.back()["costs"] = c;
      }
    }
    o["pools"] = pools;
    rows.push_back(o);
  }
  j["rows"] = rows;
  if (const auto w = scaling_calibration_warning(r); !w.empty()) j["warning"] = w;
  return j;
}

std::string scaling_table(const ScalingResult& r) {
  std::string out;
  auto line = [&](const std::string& s) { out += s + "\n"; };
  line(fmt::format("moska-sim scaling: {}", r.scenario));
  line(fmt::format("{}: {} unique KV tokens per request; shared {} tokens in chunks of {}, sparsity {:.2f}; "
                   "decode step of the largest batch whose KV fits",
                   r.model, r.ctx, r.shared_tokens, r.chunk_tokens, r.sparsity));
  line(r.baseline.empty() ? "no baseline fits: throughput not normalised"
                          : fmt::format("normalised to {}: per GPU (x/GPU: tokens/s per GPU over its) and per deployment "
                                        "(x/dep: tokens/s over its, each on its own GPUs)",
                                        r.baseline));
  line("");
  line(fmt::format("{:<14} {:>5} {:>9} {:>10} {:>12} {:>10} {:>8} {:>8} {:>8}   {:>6} {:>6} {:>6}   {:>6} {:>6} {:>6}",
                   "system", "GPUs", "batch", "step (ms)", "tokens/s", "tok/s/GPU", "x/GPU", "x/dep", "x batch", "MFU",
                   "BW", "HBM", "sh.MFU", "sh.BW", "sh.HBM"));
  std::vector<std::string> notes;
  for (const auto& x : r.rows) {
    if (!x.fits) {
      line(fmt::format("{:<14} {:>5} {:>9}   does not fit (see below)", x.system, x.gpus, 0));
      notes.push_back(fmt::format("{}: {}", x.system, x.why));
      continue;
    }
    std::string shared = "";
    if (x.pools.size() > 1) {
      const auto& p = x.pools[1];
      shared = fmt::format("   {:>5.1f}% {:>5.1f}% {:>5.1f}%", 100 * p.mfu, 100 * p.hbm_bw_util, 100 * p.hbm_capacity_util);
    }
    const auto& p = x.pools[0];
    const auto ratio = [&](double v) { return r.baseline.empty() ? std::string("-") : fmt::format("{:.2f}", v); };
    line(fmt::format("{:<14} {:>5} {:>8}{} {:>10.3f} {:>12.1f} {:>10.2f} {:>8} {:>8} {:>8}   {:>5.1f}% {:>5.1f}% {:>5.1f}%{}",
                     x.system, x.gpus, x.batch, x.capped ? "*" : " ", x.step_s * 1e3, x.tokens_per_s,
                     x.tokens_per_s_per_gpu, ratio(x.normalized), ratio(x.normalized_deployment), ratio(x.batch_ratio),
                     100 * p.mfu, 100 * p.hbm_bw_util, 100 * p.hbm_capacity_util, shared));
  }
  line("");
  line("MFU / BW / HBM: the serve (or unique) pool's FLOPs and bytes over the step x GPUs x peak, and its HBM held;");
  line("sh.*: the same for moska-disagg's shared pool. * = batch capped by --max-batch.");
  for (const auto& n : notes) line(n);
  if (const auto w = scaling_calibration_warning(r); !w.empty()) line(w);
  return out;
}

namespace {
constexpr const char* kPoolFields[] = {"name", "gpus", "flops", "bytes", "mfu", "hbm_bw_util", "hbm_capacity_util",
                                       "calibrated", "measured_share"};
// Pool column groups: every pool any row has, at least two (serve / unique, shared).
std::size_t csv_pools(const ScalingResult& r) {
  std::size_t n = 2;
  for (const auto& x : r.rows) n = std::max(n, x.pools.size());
  return n;
}
}  // namespace

std::vector<std::string> scaling_csv_columns(const ScalingResult& r) {
  std::vector<std::string> c = {"system", "fits", "ctx", "shared_tokens", "chunk_tokens", "sparsity", "gpus",
                                "logical_instances", "kv_groups", "capacity_tokens", "tokens_per_request",
                                "read_per_request", "batch_capability", "batch", "capped", "step_s", "tokens_per_s",
                                "tokens_per_s_per_gpu", "baseline", "normalized", "normalized_deployment", "batch_ratio"};
  for (std::size_t i = 0; i < csv_pools(r); ++i) {
    for (const char* f : kPoolFields) c.push_back(fmt::format("pool{}_{}", i, f));
  }
  c.push_back("why");
  return c;
}

std::vector<std::vector<std::string>> scaling_csv_rows(const ScalingResult& r) {
  std::vector<std::vector<std::string>> out;
  for (const auto& x : r.rows) {
    std::vector<std::string> f = {x.system,
                                  x.fits ? "1" : "0",
                                  std::to_string(r.ctx),
                                  std::to_string(r.shared_tokens),
                                  std::to_string(r.chunk_tokens),
                                  num(r.sparsity),
                                  std::to_string(x.gpus),
                                  std::to_string(x.logical_instances),
                                  std::to_string(x.kv_groups),
                                  std::to_string(x.capacity_tokens),
                                  std::to_string(x.tokens_per_request),
                                  std::to_string(x.read_per_request),
                                  std::to_string(x.batch_capability),
                                  std::to_string(x.batch),
                                  x.capped ? "1" : "0",
                                  num(x.step_s),
                                  num(x.tokens_per_s),
                                  num(x.tokens_per_s_per_gpu),
                                  r.baseline,
                                  num(x.normalized),
                                  num(x.normalized_deployment),
                                  num(x.batch_ratio)};
    for (std::size_t i = 0; i < csv_pools(r); ++i) {
      if (i < x.pools.size()) {
        const auto& p = x.pools[i];
        const std::string calibrated = p.calibration.is_object() ? (p.calibration.value("calibrated", false) ? "1" : "0") : "";
        for (const auto& v : {p.name, std::to_string(p.gpus), num(p.flops), num(p.bytes), num(p.mfu), num(p.hbm_bw_util),
                              num(p.hbm_capacity_util), calibrated, num(p.measured_share)}) {
          f.push_back(csv_field(v));
        }
      } else {
        for (std::size_t k = 0; k < std::size(kPoolFields); ++k) f.push_back("");
      }
    }
    f.push_back(csv_field(x.why));
    out.push_back(f);
  }
  return out;
}

}  // namespace moska
