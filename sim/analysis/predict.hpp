#pragma once
// One iteration's prediction, as `moska-sim predict` shows it: the operator list costed on one GPU
// (or TP group) and the memory it needs. For a shared context, sim/analysis/strategies.* adds the
// same batch under each system's way of attending it (`strategies`), which the writers print.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/cost/cost_model.hpp"
#include "sim/serving/routing.hpp"
#include "sim/model/model_spec.hpp"
#include "sim/model/operators.hpp"

namespace moska {

struct PredictRequest {
  std::string model = "llama-3.1-8b";
  std::string hw = "h100-sxm";
  std::string dtype = "bf16";
  std::string kv_dtype;  // "" = same as dtype
  std::int64_t batch = -1;  // -1 = not given
  std::int64_t ctx = -1;
  std::int64_t prefill_tokens = 0;
  std::int64_t shared_tokens = 0;
  std::int64_t chunk_tokens = 4096;
  double sparsity = 0.0;
  int tp = 1;
  int ep = 1;                         // MoE expert parallelism (--ep)
  std::string attn_backend = "flash2";  // --attn-backend: a folder of measured attention tables
  std::string merge = "fast";         // --merge: fast (one fused kernel) or reference (unfused PyTorch)
  bool use_calibration = true;
};

struct MemoryUse {
  double weights_bytes = 0;    // per GPU
  double kv_bytes = 0;         // per GPU, unique KV
  double shared_kv_bytes = 0;  // per GPU
  double capacity_bytes = 0;   // per GPU
  double total() const { return weights_bytes + kv_bytes + shared_kv_bytes; }
};

struct StrategyRow {
  std::string name;
  std::string what;
  double seconds = 0;
  double attention_s = 0;
  double kv_needed_bytes = 0;  // per GPU, to hold this batch
  bool fits = true;
};

struct PredictResult {
  PredictRequest req;
  std::string mode;  // "decode", "prefill", "moska-decode"
  ModelSpec model;
  Precision prec;
  BatchSpec batch;
  std::vector<Op> ops;
  std::vector<OpCost> op_costs;
  IterationCost cost;
  MemoryUse memory;
  std::string cost_basis;
  std::string hw_name;
  double peak_flops = 0;     // of the GEMM math dtype, one GPU (the ops are one GPU's shard)
  double hbm_bw_bps = 0;     // one GPU
  std::vector<StrategyRow> strategies;  // filled by add_strategies (sim/analysis/strategies.hpp)
  std::shared_ptr<const CostModel> cost_model;  // the one that costed it
  std::int64_t tokens_per_iteration = 0;
};

// Validates the request (throws InputError naming the flag) and costs it.
PredictResult predict(const PredictRequest& req);
// Seconds of the attention work among `ops` (unique and shared attention, router, merge, gather).
double attention_seconds(const CostModel& cm, const std::vector<Op>& ops);
nlohmann::json predict_json(const PredictResult& r);
std::string predict_table(const PredictResult& r, bool list_ops);

}  // namespace moska
