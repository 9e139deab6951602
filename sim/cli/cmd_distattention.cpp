// `moska-sim distattention`: Infinite-LLM's attention microbenchmark (reproduction (a),
// results/infinite_llm_attention): one decode layer of DistAttention, a RingAttention-style KV
// exchange and head-wise TP attention over the GPUs of one node, per batch and context, from the
// cost layer's kernels and collectives (sim/systems/infinite_llm/dist_attention.*). One CSV row per
// point and method, with the parts each method's time is made of.
#include <cmath>
#include <iostream>
#include <sstream>

#include <fmt/format.h>

#include "sim/cli/commands.hpp"
#include "sim/cli/overrides.hpp"
#include "sim/cost/step_cost.hpp"
#include "sim/hw/gpu.hpp"
#include "sim/model/model_spec.hpp"
#include "sim/systems/infinite_llm/dist_attention.hpp"
#include "sim/util/error.hpp"

namespace moska::cli {

namespace {
std::vector<std::int64_t> token_list(const std::string& v, const char* flag) {
  std::vector<std::int64_t> out;
  std::stringstream ss(v);
  std::string item;
  while (std::getline(ss, item, ',')) {
    double x = 0;
    if (!parse_scaled_number(item, x) || x != std::floor(x) || x < 1 || x > 1e9) {
      throw InputError(fmt::format("{} {}: expected a comma-separated list of whole numbers >= 1, optionally with "
                                   "K/M (1K = 1024)", flag, v));
    }
    out.push_back(static_cast<std::int64_t>(x));
  }
  if (out.empty()) throw InputError(fmt::format("{} '{}': expected at least one value", flag, v));
  return out;
}
}  // namespace

void add_distattention(CLI::App& app, int& result) {
  auto* cmd = app.add_subcommand(
      "distattention", "Infinite-LLM's attention microbenchmark: DistAttention, RingAttention, head-wise TP; one decode layer");
  struct Opts {
    std::string model = "llama-2-13b", hw = "h200", dtype = "bf16", batch = "1,4,16,32",
                ctx = "4K,16K,64K,256K";
    int gpus = 4;
    std::string impl;  // "" = measured where the GPU has it, else ideal
    double eager_call_us = 0, overlap = 1, micro_scale = 1, host_floor_us = 0;
    bool no_calibration = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--model", o->model, "Model whose attention shapes are used")->capture_default_str();
  cmd->add_option("--hw", o->hw, "Hardware profile (its kernel tables and measured collectives, where it has them)")
      ->capture_default_str();
  cmd->add_option("--dtype", o->dtype, "Activations and KV dtype")->capture_default_str();
  cmd->add_option("--gpus", o->gpus, "GPUs of one node the context is spread over (2..8)")->capture_default_str();
  cmd->add_option("--batch", o->batch, "Requests per point (comma-separated)")->capture_default_str();
  cmd->add_option("--ctx", o->ctx, "Context tokens per request (comma-separated; K = 1024)")->capture_default_str();
  cmd->add_option("--impl", o->impl,
                  "DistAttention's implementation: measured (the eager PyTorch/NCCL implementation measured on this "
                  "GPU: hw_profiles/<gpu>/distattn_impl.json; the default where it exists) or ideal (the paper's: in a "
                  "CUDA graph, the holders' micro-attention fully overlapping the home's; the default elsewhere). "
                  "The four flags below override single values of either");
  auto* eager_opt = cmd->add_option("--eager-call-us", o->eager_call_us,
                  "Added to each NCCL call (a launch cost the collectives tables lack; ideal 0)");
  auto* overlap_opt = cmd->add_option("--overlap", o->overlap,
                  "DistAttention: fraction of the holders' micro-attention overlapping the home's (ideal 1; "
                  "an eager implementation measures less: hw_profiles/h200/distattn_overlap.txt)");
  auto* scale_opt = cmd->add_option("--micro-scale", o->micro_scale,
                  "DistAttention: its micro-attentions' time relative to the kernel table (ideal 1; measured in the layer)");
  auto* floor_opt = cmd->add_option("--host-floor-us", o->host_floor_us,
                  "DistAttention: the host's time to issue one layer eagerly; the layer takes at least this (ideal 0: a graph)");
  cmd->add_flag("--no-calibration", o->no_calibration, "Roofline even where measured tables exist");
  cmd->callback([o, &result, eager_opt, overlap_opt, scale_opt, floor_opt]() {
    if (o->gpus < 2 || o->gpus > 8) throw InputError(fmt::format("--gpus {}: expected an integer in 2..8", o->gpus));
    if (!(o->eager_call_us >= 0 && o->eager_call_us < 1e6)) {
      throw InputError(fmt::format("--eager-call-us {}: expected a number in [0, 1e6)", o->eager_call_us));
    }
    if (!(o->overlap >= 0 && o->overlap <= 1)) {
      throw InputError(fmt::format("--overlap {}: expected a number in [0, 1]", o->overlap));
    }
    if (!(o->micro_scale > 0 && o->micro_scale <= 10)) {
      throw InputError(fmt::format("--micro-scale {}: expected a number in (0, 10]", o->micro_scale));
    }
    if (!(o->host_floor_us >= 0 && o->host_floor_us < 1e6)) {
      throw InputError(fmt::format("--host-floor-us {}: expected a number in [0, 1e6)", o->host_floor_us));
    }
    const auto batches = token_list(o->batch, "--batch");
    const auto ctxs = token_list(o->ctx, "--ctx");
    const ModelSpec model = load_model(o->model);
    const Precision prec = Precision::uniform(parse_dtype(o->dtype, "--dtype"));
    if (model.n_heads % o->gpus != 0) {
      throw InputError(fmt::format("--gpus {}: expected a divisor of the model's {} heads", o->gpus, model.n_heads));
    }
    const HardwareProfile hw = load_hardware(o->hw);
    std::string impl_source;
    const auto measured = infinite_llm::measured_bench_impl(hw, impl_source);
    if (o->impl != "" && o->impl != "measured" && o->impl != "ideal") {
      throw InputError(fmt::format("--impl {}: expected measured or ideal", o->impl));
    }
    if (o->impl == "measured" && !measured) {
      throw InputError(fmt::format("--impl measured: {} has no measured DistAttention implementation "
                                   "(distattn_impl.json in its folder of measured tables); use --impl ideal",
                                   o->hw));
    }
    const bool use_measured = o->impl == "measured" || (o->impl.empty() && measured);
    infinite_llm::BenchImpl impl = use_measured ? *measured : infinite_llm::BenchImpl{};
    if (eager_opt->count() > 0) impl.eager_call_s = o->eager_call_us * 1e-6;
    if (overlap_opt->count() > 0) impl.overlap = o->overlap;
    if (scale_opt->count() > 0) impl.micro_scale = o->micro_scale;
    if (floor_opt->count() > 0) impl.host_floor_s = o->host_floor_us * 1e-6;
    const StepCostModel step(model, prec, CostModel(hw, !o->no_calibration), 1);
    std::cout << fmt::format("# {} attention shapes ({} q heads, {} kv heads, d {}), {} on {}; {}\n", model.name,
                             model.n_heads, model.n_kv_heads, model.head_dim, o->dtype, o->hw,
                             step.cost_model().describe());
    std::cout << fmt::format("# DistAttention implementation: {}: overlap {}, micro-scale {}, host floor {} us, eager NCCL "
                             "call {} us (how they were measured: results/infinite_llm_attention/note.md)\n",
                             use_measured ? "measured (" + impl_source + ")" : std::string("ideal (the paper's)"),
                             impl.overlap, impl.micro_scale, impl.host_floor_s * 1e6, impl.eager_call_s * 1e6);
    std::cout << "gpus,batch,ctx,method,time_us,micro_us,merge_us,query_msg_us,partial_msg_us,kv_block_msg_us,"
                 "tp_attention_us,all_gather_us,bytes_moved\n";
    for (const auto b : batches) {
      for (const auto c : ctxs) {
        const auto a = infinite_llm::attention_bench(step, b, c, o->gpus, impl);
        const auto row = [&](const char* method, double t, double bytes) {
          std::cout << fmt::format("{},{},{},{},{:.3f},{:.3f},{:.3f},{:.3f},{:.3f},{:.3f},{:.3f},{:.3f},{:.0f}\n", o->gpus,
                                   b, c, method, t * 1e6, a.micro_s * 1e6, a.merge_s * 1e6, a.query_msg_s * 1e6,
                                   a.partial_msg_s * 1e6, a.kv_block_msg_s * 1e6, a.tp_attention_s * 1e6,
                                   a.all_gather_s * 1e6, bytes);
        };
        row("distattn", a.distattention_s, a.query_bytes + a.partial_bytes);
        row("ring", a.ring_s, a.kv_block_bytes * (o->gpus - 1));
        row("tp", a.tp_s, a.gathered_bytes);
        row("full", a.single_s, 0);
      }
    }
    result = 0;
  });
}

}  // namespace moska::cli
