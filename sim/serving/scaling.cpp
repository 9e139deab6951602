#include "sim/serving/scaling.hpp"

#include <algorithm>
#include <memory>

#include <fmt/format.h>

#include "sim/serving/cluster_model.hpp"
#include "sim/systems/system.hpp"
#include "sim/util/csv.hpp"
#include "sim/util/error.hpp"

namespace moska {

namespace {

const std::vector<std::string>& default_systems() {
  static const std::vector<std::string> s = {"vllm", "prefix-cache", "cascade", "sparse", "moska", "moska-disagg"};
  return s;
}

bool is_baseline(const std::string& name) {
  return name == "vllm" || name == "prefix-cache" || name == "cascade" || name == "sparse";
}

// GPUs of the pools a system would use, from the scenario alone (for rows that do not fit).
int scenario_gpus(const Scenario& sc, const SystemTraits& sys) {
  int n = 0;
  for (const auto& p : sc.pools) {
    bool used = sys.disaggregated ? (p.role == "unique" || p.role == "shared") : p.role == "serve";
    if (used) n += p.instances * p.tp;
  }
  return n;
}

ScalingRow analyse(const Scenario& base, const std::string& name, const ScalingOptions& opt) {
  ScalingRow row;
  row.system = name;
  const SystemTraits& traits = find_system(name);  // unknown names are input errors, not "does not fit"
  Scenario sc = base;
  sc.system = name;
  row.gpus = scenario_gpus(sc, traits);
  std::unique_ptr<ClusterModel> cm;
  try {
    cm = std::make_unique<ClusterModel>(sc);
  } catch (const InputError& e) {
    row.why = e.what();
    return row;
  }
  const SystemTraits& sys = cm->system();
  const double kv_tok = cm->model().kv_bytes_per_token(cm->precision().kv);
  const std::int64_t shared = cm->shared_tokens();
  const bool own_copy = shared > 0 && sys.storage == SharedStorage::per_request;

  // What a request holds and what its decode reads itself (as the serving loop's SeqState does):
  // vllm holds and reads its own copy of the shared context; prefix-cache and sparse read the one
  // stored copy (all of it / its top-k chunks) per request; batched systems read it in the shared
  // launches instead. Every request attends the shared context (attach_fraction is not applied).
  row.tokens_per_request = opt.ctx + (own_copy ? shared : 0) + cm->recompute_tokens();
  std::int64_t extra = own_copy ? shared : (shared > 0 && !sys.batched() ? cm->attended_shared() : 0);
  row.read_per_request = opt.ctx + extra;

  row.logical_instances = cm->logical_instances();
  row.kv_groups = sys.disaggregated ? cm->unique_groups() : 1;
  // A request's KV lives on one TP group: whole requests per group.
  const std::int64_t per_group_capacity = cm->capacity_tokens() / row.kv_groups;
  const std::int64_t per_instance = per_group_capacity / row.tokens_per_request * row.kv_groups;
  row.capacity_tokens = cm->capacity_tokens() * row.logical_instances;
  row.batch_capability = per_instance * row.logical_instances;
  if (per_instance == 0) {
    row.why = fmt::format("one request holds {} KV tokens but a TP group has room for {} (after weights{})",
                          row.tokens_per_request, per_group_capacity,
                          shared > 0 && sys.storage == SharedStorage::once_per_instance ? " and the shared KV" : "");
    return row;
  }
  std::int64_t b = per_instance;
  if (opt.max_batch > 0 && b > opt.max_batch) {
    b = opt.max_batch;
    row.capped = true;
  }
  row.fits = true;
  row.batch = b * row.logical_instances;

  // One decode step of the full batch on one logical instance.
  BatchSpec batch;
  batch.decode_requests = b;
  batch.decode_kv_tokens = b * row.read_per_request;
  if (sys.batched() && cm->router()) batch.shared = cm->router()->route(b);
  IterStats st = cm->cost(batch);
  row.step_s = st.seconds;
  row.tokens_per_s = static_cast<double>(row.batch) / st.seconds;
  row.gpus = 0;
  auto pools = cm->pool_stats();
  for (std::size_t i = 0; i < pools.size() && i < 2; ++i) {
    const auto& p = pools[i];
    ScalingPool sp;
    sp.name = p.name;
    sp.role = p.role;
    sp.hw = p.hw;
    sp.gpus = p.gpus;
    // Pool 0's work is one logical instance's; its instances all run the same step.
    double mult = i == 0 ? static_cast<double>(row.logical_instances) : 1.0;
    sp.flops = st.flops[i] * mult;
    sp.bytes = st.bytes[i] * mult;
    sp.mfu = sp.flops / (st.seconds * p.gpus * p.peak_flops_per_gpu);
    sp.hbm_bw_util = sp.bytes / (st.seconds * p.gpus * p.hbm_bw_per_gpu);
    if (i == 0) {
      double held = cm->fixed_bytes() + static_cast<double>(b) * static_cast<double>(row.tokens_per_request) * kv_tok;
      sp.hbm_capacity_util = held / cm->instance_hbm_bytes();
    } else {
      sp.hbm_capacity_util = static_cast<double>(shared) * kv_tok / (p.gpus * p.hbm_bytes_per_gpu);
    }
    row.gpus += p.gpus;
    row.pools.push_back(sp);
  }
  row.tokens_per_s_per_gpu = row.tokens_per_s / row.gpus;
  return row;
}

std::string num(double x) { return fmt::format("{}", x); }

}  // namespace

ScalingResult scaling_analysis(const Scenario& sc, const ScalingOptions& opt) {
  if (opt.ctx < 1) throw InputError("--ctx: expected an integer >= 1 (unique KV tokens per request)");
  if (opt.max_batch < 0) throw InputError("--max-batch: expected an integer >= 0 (0 = no cap)");
  const auto& names = opt.systems.empty() ? default_systems() : opt.systems;
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
  for (const auto& n : names) r.rows.push_back(analyse(sc, n, opt));

  const ScalingRow* base = nullptr;
  auto find_row = [&](const std::string& n) -> const ScalingRow* {
    for (const auto& row : r.rows) {
      if (row.system == n) return &row;
    }
    return nullptr;
  };
  if (!opt.baseline.empty()) {
    base = find_row(opt.baseline);
    if (base && !base->fits) base = nullptr;
  } else {
    const ScalingRow* v = find_row("vllm");
    if (v && v->fits) base = v;
    for (const auto& row : r.rows) {
      if (base) break;
      if (is_baseline(row.system) && row.fits) base = &row;
    }
  }
  if (base) {
    r.baseline = base->system;
    for (auto& row : r.rows) {
      if (!row.fits) continue;
      row.normalized = row.tokens_per_s_per_gpu / base->tokens_per_s_per_gpu;
      row.batch_ratio = static_cast<double>(row.batch) / static_cast<double>(base->batch);
    }
  }
  return r;
}

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
    o["batch_ratio"] = x.batch_ratio;
    nlohmann::json pools = nlohmann::json::array();
    for (const auto& p : x.pools) {
      pools.push_back({{"name", p.name}, {"role", p.role}, {"hw", p.hw}, {"gpus", p.gpus}, {"flops", p.flops},
                       {"bytes", p.bytes}, {"mfu", p.mfu}, {"hbm_bw_util", p.hbm_bw_util},
                       {"hbm_capacity_util", p.hbm_capacity_util}});
    }
    o["pools"] = pools;
    rows.push_back(o);
  }
  j["rows"] = rows;
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
                          : fmt::format("normalised: tokens/s per GPU over {}'s", r.baseline));
  line("");
  line(fmt::format("{:<14} {:>5} {:>9} {:>10} {:>12} {:>10} {:>9} {:>8}   {:>6} {:>6} {:>6}   {:>6} {:>6} {:>6}", "system",
                   "GPUs", "batch", "step (ms)", "tokens/s", "tok/s/GPU", "x base", "x batch", "MFU", "BW", "HBM",
                   "sh.MFU", "sh.BW", "sh.HBM"));
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
    line(fmt::format("{:<14} {:>5} {:>8}{} {:>10.3f} {:>12.1f} {:>10.2f} {:>9} {:>8}   {:>5.1f}% {:>5.1f}% {:>5.1f}%{}", x.system,
                     x.gpus, x.batch, x.capped ? "*" : " ", x.step_s * 1e3, x.tokens_per_s, x.tokens_per_s_per_gpu,
                     r.baseline.empty() ? std::string("-") : fmt::format("{:.2f}", x.normalized),
                     r.baseline.empty() ? std::string("-") : fmt::format("{:.2f}", x.batch_ratio), 100 * p.mfu,
                     100 * p.hbm_bw_util, 100 * p.hbm_capacity_util, shared));
  }
  line("");
  line("MFU / BW / HBM: the serve (or unique) pool's FLOPs and bytes over the step x GPUs x peak, and its HBM held;");
  line("sh.*: the same for moska-disagg's shared pool. * = batch capped by --max-batch.");
  for (const auto& n : notes) line(n);
  return out;
}

std::vector<std::string> scaling_csv_columns() {
  std::vector<std::string> c = {"system", "fits", "ctx", "shared_tokens", "chunk_tokens", "sparsity", "gpus",
                                "logical_instances", "kv_groups", "capacity_tokens", "tokens_per_request",
                                "read_per_request", "batch_capability", "batch", "capped", "step_s", "tokens_per_s",
                                "tokens_per_s_per_gpu", "baseline", "normalized", "batch_ratio"};
  for (const char* p : {"pool0", "pool1"}) {
    for (const char* f : {"name", "gpus", "flops", "bytes", "mfu", "hbm_bw_util", "hbm_capacity_util"}) {
      c.push_back(fmt::format("{}_{}", p, f));
    }
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
                                  num(x.batch_ratio)};
    for (std::size_t i = 0; i < 2; ++i) {
      if (i < x.pools.size()) {
        const auto& p = x.pools[i];
        for (const auto& v : {p.name, std::to_string(p.gpus), num(p.flops), num(p.bytes), num(p.mfu), num(p.hbm_bw_util),
                              num(p.hbm_capacity_util)}) {
          f.push_back(csv_field(v));
        }
      } else {
        for (int k = 0; k < 7; ++k) f.push_back("");
      }
    }
    f.push_back(csv_field(x.why));
    out.push_back(f);
  }
  return out;
}

}  // namespace moska
