#include "sim/cost/cost_model.hpp"

#include <fmt/format.h>

#include "sim/cost/calibration.hpp"

namespace moska {

CostModel::CostModel(HardwareProfile hw, bool use_calibration) : hw_(std::move(hw)) {
  if (use_calibration && !hw_.calibration_dir.empty()) {
    tables_ = std::make_unique<CalibrationTables>(CalibrationTables::load(hw_.calibration_dir, hw_.gpu));
  }
}
CostModel::~CostModel() = default;
CostModel::CostModel(CostModel&&) noexcept = default;
CostModel& CostModel::operator=(CostModel&&) noexcept = default;

OpCost CostModel::op_cost(const Op& op) const {
  if (tables_) {
    if (auto t = tables_->lookup(op)) return {*t, CostBasis::measured};
  }
  return {roofline_terms(hw_.gpu, op).total(), CostBasis::roofline};
}

IterationCost CostModel::iteration(const std::vector<Op>& ops) const {
  IterationCost c;
  double measured = 0;
  for (const auto& op : ops) {
    OpCost oc = op_cost(op);
    double s = oc.seconds * static_cast<double>(op.count);
    c.by_class_s[static_cast<int>(op.cls)] += s;
    c.seconds += s;
    if (oc.basis == CostBasis::measured) measured += s;
    if (op.cls != OpClass::comm) {
      c.flops += op.flops * static_cast<double>(op.count);
      c.bytes += op.bytes * static_cast<double>(op.count);
    }
    c.kernels += static_cast<std::size_t>(op.count);
  }
  c.measured_fraction = c.seconds > 0 ? measured / c.seconds : 0;
  c.overhead_s = hw_.gpu.roofline.iteration_overhead_s;
  c.seconds += c.overhead_s;
  return c;
}

std::string CostModel::describe() const {
  if (tables_) return fmt::format("calibrated: measured tables in {} ({}), roofline outside them", hw_.calibration_dir, tables_->summary());
  return fmt::format("roofline only: no kernel measurements for {} (default efficiencies from {})", hw_.gpu.name, hw_.path);
}

}  // namespace moska
