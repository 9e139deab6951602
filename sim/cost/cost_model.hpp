#pragma once
// The one place that answers "how long does this operator take on this GPU". Measured tables
// (hw_profiles/<gpu>/*.csv) answer where they cover the shape; the roofline answers elsewhere.
// Callers never know which: they ask op_seconds() or iteration().
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/cost/roofline.hpp"
#include "sim/hw/gpu.hpp"
#include "sim/model/operators.hpp"

namespace moska {

class CalibrationTables;  // sim/cost/calibration.hpp

enum class CostBasis { roofline, measured };

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
  std::size_t kernels = 0;
};

class CostModel {
 public:
  explicit CostModel(HardwareProfile hw, bool use_calibration = true);
  ~CostModel();
  CostModel(CostModel&&) noexcept;
  CostModel& operator=(CostModel&&) noexcept;

  OpCost op_cost(const Op& op) const;
  double op_seconds(const Op& op) const { return op_cost(op).seconds; }
  IterationCost iteration(const std::vector<Op>& ops) const;

  const HardwareProfile& hardware() const { return hw_; }
  const GpuSpec& gpu() const { return hw_.gpu; }
  bool calibrated() const { return tables_ != nullptr; }
  // One line saying what answers op times: which tables, or "roofline only (no measurements)".
  std::string describe() const;

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
  std::unique_ptr<CalibrationTables> tables_;

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

}  // namespace moska
