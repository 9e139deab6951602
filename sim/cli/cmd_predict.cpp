// `moska-sim predict`: the cost of one iteration (decode, prefill, or MoSKA decode) on one TP group.
#include <cmath>
#include <iostream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/cli/commands.hpp"
#include "sim/cli/overrides.hpp"
#include "sim/analysis/strategies.hpp"
#include "sim/analysis/predict.hpp"
#include "sim/serving/scenario.hpp"
#include "sim/util/error.hpp"

namespace moska::cli {

namespace {
// Token counts accept K/M/G suffixes (binary: 1M = 1,048,576), as --set does.
std::int64_t tokens_flag(const std::string& v, const char* flag) {
  double x = 0;
  // Bounded before the conversion (a double past 2^63 does not convert); predict checks the ranges.
  if (!parse_scaled_number(v, x) || x != std::floor(x) || !(std::fabs(x) <= 9.0e15)) {
    throw InputError(fmt::format("{} {}: expected a whole number of tokens up to 9e15, optionally with K/M/G (1M = 1048576)",
                                 flag, v));
  }
  return static_cast<std::int64_t>(x);
}
}  // namespace

void add_predict(CLI::App& app, int& result) {
  auto* cmd = app.add_subcommand("predict", "Time of one iteration of a model on a GPU (TP group), by operator");
  struct Opts {
    std::string model = "llama-3.1-8b", hw = "h100-sxm", dtype = "bf16", kv_dtype;
    std::int64_t batch = -1;
    std::string ctx = "-1", prefill = "0", shared = "0", chunk = "4096";
    double sparsity = 0.0;
    int tp = 1, ep = 1;
    std::string attn_backend = "flash2", merge = "fast";
    bool fp8 = false, json = false, no_calibration = false, ops = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "Model name (models/<name>.json) or path")->capture_default_str();
  cmd->add_option("--hw", o->hw, "Hardware profile name (hw_profiles/<name>.json) or path")->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "Weights/KV dtype: bf16, fp16, fp8")->capture_default_str();
  cmd->add_flag("--fp8", o->fp8, "Shorthand for --dtype fp8");
  cmd->add_option("--kv-dtype", o->kv_dtype, "KV-cache dtype if different from --dtype");
  cmd->add_option("--batch", o->batch, "Decode: requests in the batch (prefill: prompts, default 1)");
  cmd->add_option("--ctx", o->ctx, "Decode: each request's own KV tokens (prefill: tokens already cached)");
  cmd->add_option("--prefill", o->prefill, "Prefill: prompt tokens per prompt (one forward pass)");
  cmd->add_option("--shared", o->shared, "MoSKA: shared-context tokens (e.g. 131072)");
  cmd->add_option("--chunk", o->chunk, "MoSKA: tokens per shared chunk")->capture_default_str();
  cmd->add_option("--sparsity", o->sparsity, "MoSKA: fraction of shared chunks each request skips")->capture_default_str();
  cmd->add_option("--tp", o->tp, "Tensor-parallel GPUs")->capture_default_str();
  cmd->add_option("--ep", o->ep, "MoE expert parallelism: experts spread over N ranks, all-to-all dispatch")
      ->capture_default_str();
  cmd->add_option("--attn-backend", o->attn_backend,
                  "Attention kernels the tables are of: flash2 (FlashAttention-2 via SDPA), cudnn (cuDNN fused "
                  "attention), eager (HF eager, prefill only), flex (FlexAttention); what a GPU has: hw_profiles/<gpu>/")
      ->capture_default_str();
  cmd->add_option("--merge", o->merge, "MoSKA partial merge: fast (one fused kernel) or reference (unfused PyTorch)")
      ->capture_default_str();
  cmd->add_flag("--no-calibration", o->no_calibration, "Use the roofline even where measured tables exist");
  cmd->add_flag("--ops", o->ops, "List every operator in the table output");
  cmd->add_flag("--json", o->json, "Print one JSON object instead of tables");
  cmd->callback([o, &result]() {
    PredictRequest req;
    req.model = o->model;
    req.hw = o->hw;
    req.dtype = o->fp8 ? "fp8" : o->dtype;
    req.kv_dtype = o->kv_dtype;
    req.prefill_tokens = tokens_flag(o->prefill, "--prefill");
    req.batch = o->batch;
    req.ctx = tokens_flag(o->ctx, "--ctx");
    req.shared_tokens = tokens_flag(o->shared, "--shared");
    req.chunk_tokens = tokens_flag(o->chunk, "--chunk");
    req.sparsity = o->sparsity;
    req.tp = o->tp;
    req.ep = o->ep;
    req.attn_backend = o->attn_backend;
    req.merge = o->merge;
    req.use_calibration = !o->no_calibration;
    PredictResult r = predict(req);
    add_strategies(r);
    if (o->json) {
      std::cout << predict_json(r).dump(2) << "\n";
    } else {
      std::cout << predict_table(r, o->ops);
    }
    result = 0;
  });
}

}  // namespace moska::cli
