#pragma once
// The one place that answers "how long does this operator take on this GPU". Measured tables
// (hw_profiles/<gpu>/*.csv) answer where they cover the shape; the roofline answers elsewhere.
// Callers never know which: they ask op_seconds() or iteration().
#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <memory>
#include <string>
#include <vector>

#include "sim/cost/collectives.hpp"
#include "sim/cost/roofline.hpp"
#include "sim/hw/gpu.hpp"
#include "sim/model/operators.hpp"

namespace moska {

class CalibrationTables;  // sim/cost/calibration.hpp

// roofline: first principles with the profile's efficiencies; measured: the GPU's kernel tables
// (interpolated, or scaled from the nearest measured shape by the roofline); fitted: a model fitted
// to data this project did not measure itself (the collectives, collectives.json).
enum class CostBasis { roofline, measured, fitted };

struct OpCost {
  double seconds = 0;
  CostBasis basis = CostBasis::roofline;
};

struct IterationCost {
  double seconds = 0;                                  // kernels + per-iteration host overhead
  double overhead_s = 0;                               // the host part
  std::array<double, kNumOpClasses> by_class_s{};      // seconds per OpClass
  double flops = 0;
  double bytes = 0;
  double measured_fraction = 0;  // share of kernel time answered by measured tables
  double fitted_fraction = 0;    // share of kernel time answered by fitted models (collectives)
  std::size_t kernels = 0;
};

// How a CostModel answers, for the outputs that must say so (predict, run, sweep, capacity, scaling):
// the GPU, whether its kernel costs are measured, the attention backend, the measured families and
// what is not measured.
struct CalibrationInfo {
  std::string gpu;                          // profile name
  bool calibrated = false;                  // measured kernel tables in use
  std::string backend;                      // attention backend the tables are of
  std::string tables_dir;                   // "" when none
  std::vector<std::string> backends;        // attention backends measured for this GPU
  std::vector<std::string> measured;        // families answered from measurements ("gemm 1716", ...)
  std::vector<std::string> not_measured;    // what the roofline or an extrapolation answers instead
  std::string collectives;                  // how collectives are costed (one line)
  bool collectives_measured = false;        // by this project's profiler
};

// Options of a CostModel beyond the hardware. The lead's scenario key `attention_backend` and
// predict's --attn-backend land here.
struct CostOptions {
  std::string attn_backend = "flash2";  // flash2 (default), cudnn, eager, flex: a folder of measured tables
  // false: the serving engine's FP8-KV attention is another kernel than the one measured (the fp8/
  // tables are the profiler's Triton kernel; TensorRT-LLM runs its own XQA kernels), so the roofline
  // answers FP8-KV attention (an engine profile's kernels.fp8_kv_attention = "roofline").
  bool fp8_kv_attention_tables = true;
};

class CostModel {
 public:
  // Throws InputError for an attention backend the GPU has no tables of (naming those it has).
  explicit CostModel(HardwareProfile hw, bool use_calibration = true, CostOptions opts = {});
  ~CostModel();
  CostModel(CostModel&&) noexcept;
  CostModel& operator=(CostModel&&) noexcept;

  OpCost op_cost(const Op& op) const;
  double op_seconds(const Op& op) const { return op_cost(op).seconds; }
  IterationCost iteration(const std::vector<Op>& ops) const;

  const HardwareProfile& hardware() const { return hw_; }
  const GpuSpec& gpu() const { return hw_.gpu; }
  bool calibrated() const { return tables_ != nullptr; }
  const std::string& attn_backend() const { return opts_.attn_backend; }
  // One line saying what answers op times: which tables, or "roofline only (no measurements)".
  std::string describe() const;
  // What answers op times, for outputs (see CalibrationInfo).
  CalibrationInfo calibration_info() const;

  // Memo statistics (lookups that went through the memo, and how many of them had to compute).
  std::uint64_t memo_lookups() const { return memo_lookups_; }
  std::uint64_t memo_misses() const { return memo_misses_; }

 private:
  OpCost compute(const Op& op) const;
  // roofline_terms(gpu, op).total() with the per-(class, dtype) denominators precomputed: the same
  // arithmetic (same operands, same order), so the same bits, without the std::map lookups.
  double roofline_s(const Op& op) const;
  // True when no measured table can answer `op` (its family has no table of its dtype): the
  // roofline answers directly, without the memo.
  bool roofline_only(const Op& op) const;

  HardwareProfile hw_;
  CostOptions opts_;
  // Shared by every CostModel of the process that reads the same folder (a run's pools, a sweep's or
  // a plan's points): the tables are read from disk once and never change after loading.
  std::shared_ptr<const CalibrationTables> tables_;
  CollectiveModel coll_;

  // roofline_s: compute denominators (peak x efficiency) per [class][dtype]; 0 = not available
  // (roofline_terms is called, and throws the missing-peak error as before).
  std::array<std::array<double, 4>, kNumOpClasses> roof_compute_{};
  double roof_memory_ = 0;  // HBM bandwidth x efficiency
  // Which (table family, dtype) pairs have at least one measured table; see roofline_only().
  std::array<std::array<bool, 4>, kNumOpClasses> has_table_{};

  // Memo of op costs by shape, for ops that the measured tables answer (interpolation, logs and
  // roofline scaling cost ~0.1-1 us; a serving run asks the same GEMM, norm and copy shapes over and
  // over). Open addressing, linear probing over an array of full hashes (8 bytes a slot, so probing
  // stays in cache), each slot's op and cost beside it; bounded: cleared when it holds kMemoMax
  // entries. One CostModel per thread; not shared across threads.
  struct Entry {
    Op op;
    OpCost cost;
  };
  static constexpr std::size_t kMemoMax = std::size_t{1} << 16;
  mutable std::vector<std::uint64_t> memo_hash_;  // 0 = empty
  mutable std::vector<Entry> memo_;
  mutable std::size_t memo_size_ = 0;
  mutable std::uint64_t memo_lookups_ = 0, memo_misses_ = 0;
};

// The CalibrationInfo as JSON: {"gpu", "calibrated", "attention_backend", "tables", "backends",
// "measured", "not_measured", "collectives", "collectives_measured"} and, given an iteration's cost,
// its "measured_share" and "fitted_share".
nlohmann::json calibration_json(const CalibrationInfo& info, const IterationCost* cost = nullptr);
// One line flagging that two cost models do not stand on the same footing (a calibrated GPU against
// an uncalibrated one, or different attention backends), or "" when they do. Outputs comparing
// GPUs (e.g. H100 vs B200) print it.
std::string calibration_mismatch(const CostModel& a, const CostModel& b);

}  // namespace moska
