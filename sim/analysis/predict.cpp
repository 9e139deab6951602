#include "sim/analysis/predict.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "sim/util/checked.hpp"
#include "sim/util/error.hpp"
#include "sim/workload/request.hpp"

namespace moska {

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

void check(bool ok, const std::string& flag, const std::string& expected) {
  if (!ok) throw InputError(fmt::format("{}: expected {}", flag, expected));
}

double kv_bytes_per_gpu(const ModelSpec& m, const Precision& p, int tp, double tokens) {
  // KV heads are split across ranks; with fewer KV heads than ranks they are replicated.
  double heads_per_gpu = std::max<double>(1.0, static_cast<double>(m.n_kv_heads / tp));
  return tokens * 2.0 * static_cast<double>(m.n_layers) * heads_per_gpu * static_cast<double>(m.head_dim) * dtype_bytes(p.kv);
}

}  // namespace

double attention_seconds(const CostModel& cm, const std::vector<Op>& ops) {
  double s = 0;
  for (const auto& op : ops) {
    if (op.cls == OpClass::attn_decode || op.cls == OpClass::attn_shared || op.cls == OpClass::router ||
        op.cls == OpClass::merge || op.name == "shared_gather") {
      s += cm.op_seconds(op) * static_cast<double>(op.count);
    }
  }
  return s;
}

PredictResult predict(const PredictRequest& req) {
  PredictResult r;
  r.req = req;
  check(req.tp >= 1 && req.tp <= 64, "--tp", "an integer in 1..64");
  // One request's tokens fit what the readers accept; products of them are checked below.
  check(req.prefill_tokens >= 0 && req.prefill_tokens <= kMaxRequestTokens, "--prefill",
        fmt::format("a token count in 0..{}", kMaxRequestTokens));
  check(req.shared_tokens >= 0 && req.shared_tokens <= kMaxRequestTokens, "--shared",
        fmt::format("a token count in 0..{}", kMaxRequestTokens));
  check(req.ctx <= kMaxRequestTokens, "--ctx", fmt::format("a token count up to {}", kMaxRequestTokens));
  check(req.batch <= kMaxRequestTokens, "--batch", fmt::format("a request count up to {}", kMaxRequestTokens));
  check(req.sparsity >= 0.0 && req.sparsity < 1.0, "--sparsity", "a fraction in [0, 1)");
  r.model = load_model(req.model);
  Dtype w = parse_dtype(req.dtype, "--dtype");
  r.prec = Precision::uniform(w);
  if (!req.kv_dtype.empty()) r.prec.kv = parse_dtype(req.kv_dtype, "--kv-dtype");
  check(req.merge == "fast" || req.merge == "reference", "--merge", "fast or reference");
  r.cost_model = std::make_shared<const CostModel>(load_hardware(req.hw), req.use_calibration,
                                                   CostOptions{req.attn_backend});
  const CostModel& cm = *r.cost_model;
  const auto& gpu = cm.gpu();
  r.hw_name = gpu.name;
  r.cost_basis = cm.describe();
  gpu.peak(r.prec.gemm_math());  // fails early, naming the dtype, if the GPU lacks it
  check(r.model.n_heads % req.tp == 0, "--tp", fmt::format("a divisor of the model's {} heads", r.model.n_heads));

  check(req.ep >= 1 && (req.ep == 1 || (r.model.is_moe() && r.model.n_experts % req.ep == 0)), "--ep",
        fmt::format("1, or a divisor of the {} experts of a MoE model", r.model.n_experts));
  BatchSpec& b = r.batch;
  b.tp = req.tp;
  b.ep = req.ep;
  if (req.prefill_tokens > 0) {
    check(req.shared_tokens == 0, "--shared", "not combined with --prefill (shared KV is precomputed)");
    std::int64_t prompts = req.batch < 0 ? 1 : req.batch;
    check(prompts >= 1, "--batch", "an integer >= 1");
    std::int64_t past = req.ctx < 0 ? 0 : req.ctx;
    for (std::int64_t i = 0; i < prompts; ++i) b.prefills.push_back({req.prefill_tokens, past});
    r.mode = "prefill";
    const auto tokens = checked_mul(prompts, checked_add(past, req.prefill_tokens, "--ctx + --prefill"), "--batch x (--ctx + --prefill)");
    r.memory.kv_bytes = kv_bytes_per_gpu(r.model, r.prec, req.tp, static_cast<double>(tokens));
  } else {
    check(req.batch >= 1, "--batch", "an integer >= 1 (requests in the decode batch), or --prefill N");
    check(req.ctx >= 1, "--ctx", "an integer >= 1 (each request's own KV tokens)");
    b.decode_requests = req.batch;
    b.decode_kv_tokens = checked_mul(req.batch, req.ctx, "--batch x --ctx");
    r.mode = "decode";
    r.memory.kv_bytes = kv_bytes_per_gpu(r.model, r.prec, req.tp, static_cast<double>(b.decode_kv_tokens));
    if (req.shared_tokens > 0) {
      check(req.chunk_tokens >= 1, "--chunk", "an integer >= 1");
      check(req.chunk_tokens <= req.shared_tokens, "--chunk", "at most --shared");
      std::int64_t n = (req.shared_tokens + req.chunk_tokens - 1) / req.chunk_tokens;
      std::int64_t k = std::max<std::int64_t>(1, std::llround((1.0 - req.sparsity) * static_cast<double>(n)));
      b.shared = balanced_routing(req.batch, n, k, req.chunk_tokens);
      b.shared.fused_merge = req.merge == "fast";
      r.mode = "moska-decode";
      r.memory.shared_kv_bytes = kv_bytes_per_gpu(r.model, r.prec, req.tp, static_cast<double>(n * req.chunk_tokens));
    }
  }
  r.memory.weights_bytes = r.model.weight_bytes(r.prec.weights) / req.tp;
  r.memory.capacity_bytes = gpu.hbm_bytes;
  if (r.memory.total() > r.memory.capacity_bytes) {
    throw InputError(fmt::format(
        "{} does not fit on {} x{}: needs {:.1f} GiB per GPU (weights {:.1f}, KV {:.1f}, shared KV {:.1f}) but "
        "HBM holds {:.1f} GiB; use a larger --tp, --fp8, or fewer tokens",
        r.model.name, gpu.name, req.tp, r.memory.total() / kGiB, r.memory.weights_bytes / kGiB,
        r.memory.kv_bytes / kGiB, r.memory.shared_kv_bytes / kGiB, r.memory.capacity_bytes / kGiB));
  }

  r.ops = build_iteration_ops(r.model, r.prec, b);
  for (const auto& op : r.ops) r.op_costs.push_back(cm.op_cost(op));
  r.cost = cm.iteration(r.ops);
  // Per GPU: the operators (and so cost.flops and cost.bytes) are one GPU's shard of the TP group.
  r.peak_flops = gpu.peak(r.prec.gemm_math());
  r.hbm_bw_bps = gpu.hbm_bw_bps;
  r.tokens_per_iteration = b.tokens();

  return r;
}

nlohmann::json predict_json(const PredictResult& r) {
  nlohmann::json j;
  j["mode"] = r.mode;
  j["model"] = r.model.name;
  j["hw"] = r.hw_name;
  j["tp"] = r.req.tp;
  j["dtype"] = {{"weights", dtype_name(r.prec.weights)}, {"kv", dtype_name(r.prec.kv)}, {"act", dtype_name(r.prec.act)}};
  j["seconds"] = r.cost.seconds;
  nlohmann::json br = nlohmann::json::object();
  for (int c = 0; c < kNumOpClasses; ++c) {
    if (r.cost.by_class_s[c] > 0) br[op_class_name(static_cast<OpClass>(c))] = r.cost.by_class_s[c];
  }
  br["overhead"] = r.cost.overhead_s;
  j["breakdown"] = br;
  j["tokens"] = r.tokens_per_iteration;
  j["tokens_per_s"] = r.tokens_per_iteration / r.cost.seconds;
  j["flops"] = r.cost.flops;
  j["bytes"] = r.cost.bytes;
  j["mfu"] = r.cost.flops / (r.cost.seconds * r.peak_flops);
  j["hbm_bw_util"] = r.cost.bytes / (r.cost.seconds * r.hbm_bw_bps);
  j["measured_fraction"] = r.cost.measured_fraction;
  j["cost_basis"] = r.cost_basis;
  j["attention_backend"] = r.req.attn_backend;
  j["calibration"] = calibration_json(r.cost_model->calibration_info(), &r.cost);
  j["memory_gib_per_gpu"] = {{"weights", r.memory.weights_bytes / (1024.0 * 1024 * 1024)},
                             {"kv", r.memory.kv_bytes / (1024.0 * 1024 * 1024)},
                             {"shared_kv", r.memory.shared_kv_bytes / (1024.0 * 1024 * 1024)},
                             {"capacity", r.memory.capacity_bytes / (1024.0 * 1024 * 1024)}};
  if (!r.batch.shared.groups.empty()) {
    nlohmann::json groups = nlohmann::json::array();
    for (const auto& g : r.batch.shared.groups) groups.push_back({{"chunks", g.n_chunks}, {"queries_per_chunk", g.queries}});
    j["shared"] = {{"chunks", r.batch.shared.total_chunks}, {"top_k", r.batch.shared.top_k}, {"groups", groups}};
  }
  nlohmann::json ops = nlohmann::json::array();
  for (std::size_t i = 0; i < r.ops.size(); ++i) {
    const auto& op = r.ops[i];
    ops.push_back({{"name", std::string(op.name)}, {"class", op_class_name(op.cls)}, {"count", op.count},
                   {"flops", op.flops}, {"bytes", op.bytes}, {"seconds_each", r.op_costs[i].seconds},
                   {"basis", r.op_costs[i].basis == CostBasis::measured ? "measured"
                             : r.op_costs[i].basis == CostBasis::fitted ? "fitted"
                                                                         : "roofline"}});
  }
  j["ops"] = ops;
  if (!r.strategies.empty()) {
    nlohmann::json s = nlohmann::json::array();
    for (const auto& x : r.strategies) {
      s.push_back({{"system", x.name}, {"seconds", x.seconds}, {"attention_seconds", x.attention_s},
                   {"tokens_per_s", static_cast<double>(r.req.batch) / x.seconds},
                   {"kv_gib_per_gpu", x.kv_needed_bytes / (1024.0 * 1024 * 1024)}, {"fits", x.fits}});
    }
    j["strategies"] = s;
  }
  return j;
}

std::string predict_table(const PredictResult& r, bool list_ops) {
  std::string out;
  auto line = [&](const std::string& s) { out += s + "\n"; };
  line(fmt::format("moska-sim predict: {} on {} x{} ({} weights, {} KV) — {}", r.model.name, r.hw_name, r.req.tp,
                   dtype_name(r.prec.weights), dtype_name(r.prec.kv), r.mode));
  line(fmt::format("cost basis: {}", r.cost_basis));
  line(fmt::format("attention backend: {}; merge: {}{}", r.req.attn_backend, r.req.merge,
                   r.cost.fitted_fraction > 0 ? fmt::format("; collectives (fitted, not measured) {:.0f}% of the time",
                                                            100 * r.cost.fitted_fraction)
                                              : std::string()));
  if (r.mode == "prefill") {
    line(fmt::format("batch: {} prompt(s) of {} tokens, {} cached before them", r.batch.prefills.size(),
                     r.req.prefill_tokens, r.batch.prefills.empty() ? 0 : r.batch.prefills[0].past_tokens));
  } else {
    line(fmt::format("batch: {} decode requests x {} own KV tokens", r.req.batch, r.req.ctx));
  }
  if (!r.batch.shared.groups.empty()) {
    std::string g;
    for (const auto& x : r.batch.shared.groups) g += fmt::format(" {} chunks x {} queries;", x.n_chunks, x.queries);
    line(fmt::format("shared: {} tokens in {} chunks of {}, top-{} per request (sparsity {:.3f}):{}", r.req.shared_tokens,
                     r.batch.shared.total_chunks, r.req.chunk_tokens, r.batch.shared.top_k, r.req.sparsity, g));
  }
  line("");
  line(fmt::format("{:<14} {:>12} {:>7}", "operator class", "time (ms)", "share"));
  for (int c = 0; c < kNumOpClasses; ++c) {
    double s = r.cost.by_class_s[c];
    if (s <= 0) continue;
    line(fmt::format("{:<14} {:>12.4f} {:>6.1f}%", op_class_name(static_cast<OpClass>(c)), s * 1e3, 100 * s / r.cost.seconds));
  }
  line(fmt::format("{:<14} {:>12.4f} {:>6.1f}%", "host overhead", r.cost.overhead_s * 1e3, 100 * r.cost.overhead_s / r.cost.seconds));
  line(fmt::format("{:<14} {:>12.4f}", "iteration", r.cost.seconds * 1e3));
  line("");
  line(fmt::format("tokens/iteration {}   tokens/s {:.0f}   MFU {:.1f}%   HBM bandwidth used {:.1f}%   measured share {:.0f}%",
                   r.tokens_per_iteration, r.tokens_per_iteration / r.cost.seconds,
                   100 * r.cost.flops / (r.cost.seconds * r.peak_flops),
                   100 * r.cost.bytes / (r.cost.seconds * r.hbm_bw_bps), 100 * r.cost.measured_fraction));
  constexpr double G = 1024.0 * 1024 * 1024;
  line(fmt::format("memory per GPU: weights {:.1f} GiB + KV {:.1f} GiB + shared KV {:.1f} GiB = {:.1f} of {:.1f} GiB",
                   r.memory.weights_bytes / G, r.memory.kv_bytes / G, r.memory.shared_kv_bytes / G, r.memory.total() / G,
                   r.memory.capacity_bytes / G));
  if (list_ops) {
    line("");
    line(fmt::format("{:<16} {:>6} {:>12} {:>12} {:>9} {:>12} {:>9}", "operator", "count", "GFLOP", "MB", "FLOP/B",
                     "us each", "basis"));
    for (std::size_t i = 0; i < r.ops.size(); ++i) {
      const auto& op = r.ops[i];
      line(fmt::format("{:<16} {:>6} {:>12.3f} {:>12.3f} {:>9.1f} {:>12.2f} {:>9}", op.name, op.count, op.flops / 1e9,
                       op.bytes / 1e6, op.bytes > 0 ? op.flops / op.bytes : 0.0, r.op_costs[i].seconds * 1e6,
                       r.op_costs[i].basis == CostBasis::measured ? "measured"
                       : r.op_costs[i].basis == CostBasis::fitted ? "fitted"
                                                                   : "roofline"));
    }
  }
  if (!r.strategies.empty()) {
    line("");
    line("the same batch, by way of attending the shared context:");
    line(fmt::format("{:<13} {:>11} {:>13} {:>11} {:>12} {:>5}  {}", "system", "step (ms)", "attention(ms)", "tokens/s",
                     "KV GiB/GPU", "fits", "how"));
    for (const auto& s : r.strategies) {
      line(fmt::format("{:<13} {:>11.3f} {:>13.3f} {:>11.0f} {:>12.1f} {:>5}  {}", s.name, s.seconds * 1e3,
                       s.attention_s * 1e3, static_cast<double>(r.req.batch) / s.seconds, s.kv_needed_bytes / G,
                       s.fits ? "yes" : "no", s.what));
    }
  }
  return out;
}

}  // namespace moska
