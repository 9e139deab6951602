#pragma once
// The one place that answers "how long does this operator take on this GPU". Measured tables
// (hw_profiles/<gpu>/*.csv) answer where they cover the shape; the roofline answers elsewhere.
// Callers never know which: they ask op_seconds() or iteration().
#include <array>
#include <memory>
#include <string>
#include <unordered_map>
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

 private:
  OpCost compute(const Op& op) const;

  HardwareProfile hw_;
  std::unique_ptr<CalibrationTables> tables_;
  // Memo of op costs by shape: a serving run costs the same shapes over and over (GEMMs of the
  // same token count, norms, ...). One CostModel per thread; not shared across threads.
  struct ShapeHash {
    std::size_t operator()(const Op& op) const noexcept;
  };
  struct ShapeEq {
    bool operator()(const Op& a, const Op& b) const noexcept;
  };
  mutable std::unordered_map<Op, OpCost, ShapeHash, ShapeEq> memo_;
};

}  // namespace moska
