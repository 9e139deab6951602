#pragma once
// `moska-sim validate`: how accurate the cost model is against the measurements of one GPU.
//   kernels     every measured kernel point predicted from the tables with that point removed
//               (leave-one-out), per family; and the held-out shapes (the profiler's off-grid
//               sizes) predicted from tables that exclude all of them;
//               Families are per attention backend (cudnn/attn_decode, ...) and FP8 KV (fp8/...).
//   composites  every whole-iteration measurement (composite.csv, composite_ext.csv: CUDA graph
//               replay) predicted through predict() — the path `moska-sim predict` uses, with the
//               backend, dtypes, model, TP and merge the measurement ran — calibrated and
//               roofline-only; a partial-recompute prefill through build_partial_recompute_ops and
//               CostModel::iteration; a TP rank measured alone (decode-shard) without its collectives;
//   fit         the roofline fallback's parameters as the measurements give them, beside the
//               profile's values.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace moska {

struct ErrorStats {
  std::string name;
  std::size_t count = 0;
  double median_ape = 0;  // percent
  double max_ape = 0;     // percent
  std::string worst;      // the point with the largest error
};

struct CompositeCheck {
  std::string kind;  // decode, prefill, moska, partial, decode-shard, prefill-shard
  std::string group;  // the family it is reported in (kind, model, backend, fp8)
  std::string model = "llama-3.1-8b", backend = "flash2", dtype = "bf16", kv_dtype = "bf16", merge = "reference";
  int tp = 1;
  double recompute = 0;  // partial: fraction of the prompt recomputed
  std::int64_t batch = 0, ctx = 0, prefill = 0, shared = 0, chunk = 0;
  double sparsity = 0;
  double measured_s = 0;
  double predicted_s = 0;
  double roofline_s = 0;
  double measured_share = 0;  // of predicted kernel time answered by the tables
  std::string where;          // composite.csv:line
};

struct FitValue {
  std::string key;        // profile key under "roofline"
  double profile = 0;     // value in the hardware profile
  double fitted = 0;      // value the measurements give
  std::string how;
};

struct ValidationReport {
  std::string hw;
  std::string profile_path;
  std::string tables_dir;  // "" = no measurements
  std::string tables_summary;
  std::vector<ErrorStats> kernels;   // leave-one-out, per family
  ErrorStats kernels_all;
  std::vector<ErrorStats> held_out;  // per family with held-out shapes
  ErrorStats held_out_all;
  std::string composite_model = "llama-3.1-8b";
  std::vector<CompositeCheck> composites;
  std::vector<ErrorStats> composite_stats;  // per kind, then "all"
  std::vector<ErrorStats> roofline_stats;   // per kind, then "all"
  std::vector<FitValue> fit;
};

// Throws InputError for an unknown profile or a malformed table.
ValidationReport validate(const std::string& hw);
std::string validate_table(const ValidationReport& r);
nlohmann::json validate_json(const ValidationReport& r);

// Median and max absolute percentage error of predicted vs measured pairs.
ErrorStats error_stats(const std::string& name, const std::vector<double>& measured, const std::vector<double>& predicted,
                       const std::vector<std::string>& labels = {});

}  // namespace moska
