#include "sim/serving/pool_layout.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "sim/util/error.hpp"

namespace moska {

namespace {
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
}  // namespace

double kv_held_per_token(const ModelSpec& model, Dtype kv, int tp) {
  const double heads_per_gpu = std::max<double>(1.0, static_cast<double>(model.n_kv_heads / tp));
  return model.kv_bytes_per_token(kv) * std::max(1.0, heads_per_gpu * tp / static_cast<double>(model.n_kv_heads));
}

PoolLayout make_pool(const Scenario& sc, const PoolSpec& p, const ModelSpec& model) {
  CostModel cm = [&] {
    try {
      return CostModel(load_hardware(p.hw), true,
                       CostOptions{sc.attention_backend, !sc.scheduler.engine.fp8_kv_attention_roofline});
    } catch (const InputError& e) {
      if (sc.attention_backend == CostOptions{}.attn_backend) throw;
      throw InputError(fmt::format("{}: key 'attention_backend' (pool '{}'): {}", sc.file, p.name, e.what()));
    }
  }();
  Precision prec = sc.precision;
  prec.fused_fp8_quant = sc.scheduler.engine.fused_fp8_quant;
  cm.gpu().peak(prec.gemm_math());  // fails early, naming the dtype, if the GPU lacks it
  if (model.n_heads % p.tp != 0) {
    throw InputError(fmt::format("{}: pool '{}': tp {} must divide the model's {} heads", sc.file, p.name, p.tp, model.n_heads));
  }
  PoolStats ps;
  ps.name = p.name;
  ps.role = p.role;
  ps.hw = cm.gpu().name;
  ps.gpus = p.instances * p.tp;
  ps.groups = p.instances;
  ps.peak_flops_per_gpu = cm.gpu().peak(prec.gemm_math());
  ps.hbm_bw_per_gpu = cm.gpu().hbm_bw_bps;
  ps.hbm_bytes_per_gpu = cm.gpu().hbm_bytes;
  ps.pcie_bw_per_gpu = cm.hardware().node.pcie_bw_bps;
  {
    // What answers this pool's costs, for every output (compact: the tables' folder is left out).
    const auto full = calibration_json(cm.calibration_info());
    for (const char* k : {"gpu", "calibrated", "attention_backend", "collectives_measured", "not_measured"}) {
      ps.calibration[k] = full.at(k);
    }
  }
  const double group_hbm = cm.gpu().hbm_bytes * p.tp;
  return PoolLayout{&p, StepCostModel(model, prec, std::move(cm), p.tp), ps, kv_held_per_token(model, prec.kv, p.tp), group_hbm};
}

double activation_peak_bytes(const ModelSpec& model, const Precision& prec, int tp, std::int64_t tokens, std::int64_t max_seqs) {
  const double t = static_cast<double>(tokens);
  const double sharded = static_cast<double>(model.q_dim() + 2 * model.kv_dim() + 2 * model.ffn * model.experts_per_token) / tp;
  const double per_token = (2.0 * static_cast<double>(model.hidden) + sharded) * dtype_bytes(prec.act);
  const double rows = static_cast<double>(std::min(tokens, max_seqs));
  return t * per_token + rows * static_cast<double>(model.vocab) * 4.0 * 2.0;
}

std::int64_t group_kv_capacity(const Scenario& sc, const PoolLayout& pool, const ModelSpec& model, double resident_bytes) {
  const auto& sched = sc.scheduler;
  const auto& e = sched.engine;
  const double weights = model.weight_bytes(sc.precision.weights);
  const int tp = pool.spec->tp;
  double engine_bytes = (e.non_torch_bytes + e.cuda_graph_bytes) * tp;
  if (e.activation_reserve) {
    engine_bytes += activation_peak_bytes(model, sc.precision, tp, sched.max_batched_tokens, sched.max_batch) * tp;
  }
  const double u = sched.gpu_memory_utilization;
  const double free_bytes = u > 0 ? u * pool.group_hbm_bytes - weights - resident_bytes - engine_bytes
                                  : (pool.group_hbm_bytes - weights - resident_bytes - engine_bytes) * sched.kv_memory_fraction;
  if (free_bytes <= 0) {
    const auto& g = pool.step.cost_model().gpu();
    throw InputError(fmt::format(
        "{}: {} does not fit on pool '{}' ({} x{}): weights {:.1f} GiB + shared KV {:.1f} GiB{} > {:.1f} GiB of HBM "
        "per TP group (x{:.2f} usable); add GPUs (tp), use fp8, or shrink shared.tokens",
        sc.file, model.name, pool.spec->name, g.name, pool.spec->tp, weights / kGiB, resident_bytes / kGiB,
        engine_bytes > 0 ? fmt::format(" + engine {:.1f} GiB", engine_bytes / kGiB) : std::string(),
        pool.group_hbm_bytes / kGiB, u > 0 ? u : sched.kv_memory_fraction));
  }
  return static_cast<std::int64_t>(free_bytes / pool.kv_held_per_token);
}

const PoolSpec* pool_of_role(const Scenario& sc, const std::string& role) {
  const PoolSpec* found = nullptr;
  for (const auto& p : sc.pools) {
    if (p.role == role) found = &p;  // the last one, if a scenario lists several
  }
  return found;
}

}  // namespace moska
