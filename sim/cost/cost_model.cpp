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

std::size_t CostModel::ShapeHash::operator()(const Op& op) const noexcept {
  std::uint64_t h = 0x9e3779b97f4a7c15ULL ^ static_cast<std::uint64_t>(op.cls);
  auto mix = [&h](std::uint64_t v) { h = (h ^ v) * 0xff51afd7ed558ccdULL; h ^= h >> 29; };
  mix(static_cast<std::uint64_t>(op.math));
  mix(std::hash<std::string_view>{}(op.name));
  for (std::int64_t v : {op.m, op.n, op.k, op.batch, op.ctx, op.heads, op.kv_heads, op.head_dim, op.n_chunks, op.chunk,
                         op.queries}) {
    mix(static_cast<std::uint64_t>(v));
  }
  return static_cast<std::size_t>(h);
}

bool CostModel::ShapeEq::operator()(const Op& a, const Op& b) const noexcept {
  // Everything that enters a cost: the class, the name (elementwise tables), the dtype, the shape,
  // and FLOPs/bytes (which also carry dtypes of weights and KV).
  return a.cls == b.cls && a.math == b.math && a.m == b.m && a.n == b.n && a.k == b.k && a.batch == b.batch &&
         a.ctx == b.ctx && a.heads == b.heads && a.kv_heads == b.kv_heads && a.head_dim == b.head_dim &&
         a.n_chunks == b.n_chunks && a.chunk == b.chunk && a.queries == b.queries && a.flops == b.flops &&
         a.bytes == b.bytes && a.name == b.name;
}

OpCost CostModel::op_cost(const Op& op) const {
  auto it = memo_.find(op);
  if (it != memo_.end()) return it->second;
  if (memo_.size() > (1u << 20)) memo_.clear();  // bound memory on long, varied runs
  OpCost c = compute(op);
  memo_.emplace(op, c);
  return c;
}

OpCost CostModel::compute(const Op& op) const {
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
