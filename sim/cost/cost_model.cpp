#include "sim/cost/cost_model.hpp"

#include <bit>
#include <cstring>

#include <fmt/format.h>

#include "sim/cost/calibration.hpp"

namespace moska {

namespace {

// The table family an op class is looked up in, for the classes whose family depends only on the
// class (elementwise, router and merge depend on the name and are always asked).
bool direct_family(OpClass c, KernelFamily& f) {
  switch (c) {
    case OpClass::gemm: f = KernelFamily::gemm; return true;
    case OpClass::attn_decode: f = KernelFamily::attn_decode; return true;
    case OpClass::attn_prefill: f = KernelFamily::attn_prefill; return true;
    case OpClass::attn_shared: f = KernelFamily::attn_shared; return true;
    default: return false;
  }
}

std::uint64_t shape_hash(const Op& op) {
  // Multiply-xor over the fields that enter a cost (see same_shape), then a final avalanche.
  constexpr std::uint64_t K = 0x9e3779b97f4a7c15ULL;
  std::uint64_t h = static_cast<std::uint64_t>(op.cls) | (static_cast<std::uint64_t>(op.math) << 8) |
                    (static_cast<std::uint64_t>(op.name.size()) << 16);
  if (!op.name.empty()) {
    h |= (static_cast<std::uint64_t>(static_cast<unsigned char>(op.name.front())) << 32) |
         (static_cast<std::uint64_t>(static_cast<unsigned char>(op.name.back())) << 40);
  }
  h *= K;
  for (std::int64_t v : {op.m, op.n, op.k, op.batch, op.ctx, op.heads, op.kv_heads, op.head_dim, op.n_chunks, op.chunk,
                         op.queries}) {
    h = (h ^ static_cast<std::uint64_t>(v)) * K;
    h ^= h >> 32;
  }
  h = (h ^ std::bit_cast<std::uint64_t>(op.flops)) * K;
  h ^= h >> 32;
  h = (h ^ std::bit_cast<std::uint64_t>(op.bytes)) * 0xff51afd7ed558ccdULL;
  h ^= h >> 29;
  return h | 1;  // 0 marks an empty slot
}

// Everything that enters a cost: the class, the name (elementwise tables), the dtype, the shape,
// and FLOPs/bytes (which also carry dtypes of weights and KV). Not `count`.
bool same_shape(const Op& a, const Op& b) {
  return a.cls == b.cls && a.math == b.math && a.m == b.m && a.n == b.n && a.k == b.k && a.batch == b.batch &&
         a.ctx == b.ctx && a.heads == b.heads && a.kv_heads == b.kv_heads && a.head_dim == b.head_dim &&
         a.n_chunks == b.n_chunks && a.chunk == b.chunk && a.queries == b.queries && a.flops == b.flops &&
         a.bytes == b.bytes && a.name == b.name;
}

}  // namespace

CostModel::CostModel(HardwareProfile hw, bool use_calibration) : hw_(std::move(hw)) {
  if (use_calibration && !hw_.calibration_dir.empty()) {
    tables_ = std::make_unique<CalibrationTables>(CalibrationTables::load(hw_.calibration_dir, hw_.gpu));
  }
  // Roofline denominators, computed exactly as roofline_terms() computes them.
  const auto& gpu = hw_.gpu;
  const auto& rp = gpu.roofline;
  for (int c = 0; c < kNumOpClasses; ++c) {
    const auto cls = static_cast<OpClass>(c);
    if (cls == OpClass::comm) continue;
    double eff = rp.gemm_compute_eff;
    if (cls == OpClass::attn_decode || cls == OpClass::attn_prefill || cls == OpClass::attn_shared) {
      eff = rp.attn_compute_eff;
    }
    for (int d = 0; d < 4; ++d) {
      const auto math = static_cast<Dtype>(d);
      double peak = 0;
      if (gpu.peak_flops.count(math)) peak = gpu.peak_flops.at(math);
      else if (gpu.peak_flops.count(Dtype::bf16)) peak = gpu.peak_flops.at(Dtype::bf16);
      else continue;  // roofline_terms throws the error
      if ((cls == OpClass::elementwise || cls == OpClass::merge) && gpu.peak_flops.count(Dtype::fp32)) {
        peak = gpu.peak_flops.at(Dtype::fp32);
      }
      roof_compute_[static_cast<std::size_t>(c)][static_cast<std::size_t>(d)] = peak * eff;
    }
  }
  roof_memory_ = gpu.hbm_bw_bps * rp.memory_eff;
  for (int c = 0; c < kNumOpClasses; ++c) {
    for (int d = 0; d < 4; ++d) {
      KernelFamily f{};
      const auto cls = static_cast<OpClass>(c);
      bool any = tables_ != nullptr && cls != OpClass::comm;
      if (any && direct_family(cls, f)) any = tables_->has_tables(f, static_cast<Dtype>(d));
      has_table_[static_cast<std::size_t>(c)][static_cast<std::size_t>(d)] = any;
    }
  }
}
CostModel::~CostModel() = default;
CostModel::CostModel(CostModel&&) noexcept = default;
CostModel& CostModel::operator=(CostModel&&) noexcept = default;

double CostModel::roofline_s(const Op& op) const {
  const double den = op.cls == OpClass::comm ? 0.0
                     : roof_compute_[static_cast<std::size_t>(op.cls)][static_cast<std::size_t>(op.math)];
  if (den == 0.0) return roofline_terms(hw_.gpu, op).total();
  const double compute_s = op.flops / den;
  const double memory_s = op.bytes / roof_memory_;
  return (compute_s > memory_s ? compute_s : memory_s) + hw_.gpu.roofline.kernel_overhead_s;
}

bool CostModel::roofline_only(const Op& op) const {
  return !has_table_[static_cast<std::size_t>(op.cls)][static_cast<std::size_t>(op.math)];
}

OpCost CostModel::op_cost(const Op& op) const {
  if (roofline_only(op)) return {roofline_s(op), CostBasis::roofline};
  // Decode and prefill attention change shape every step (KV grows by a token): their shapes
  // rarely repeat soon enough for a memo to pay for the cache misses of a large one, and their
  // lookup (two log-interpolations) costs ~50 ns. They are looked up directly.
  if (op.cls == OpClass::attn_decode || op.cls == OpClass::attn_prefill) return compute(op);
  ++memo_lookups_;
  const std::uint64_t h = shape_hash(op);
  if (!memo_hash_.empty()) {
    const std::size_t mask = memo_hash_.size() - 1;
    for (std::size_t i = h & mask; memo_hash_[i] != 0; i = (i + 1) & mask) {
      if (memo_hash_[i] == h && same_shape(memo_[i].op, op)) return memo_[i].cost;
    }
  }
  ++memo_misses_;
  const OpCost c = compute(op);
  // Insert: bounded (cleared when full), grown to keep the load at most 1/2.
  if (memo_size_ >= kMemoMax) {
    std::fill(memo_hash_.begin(), memo_hash_.end(), 0);
    memo_size_ = 0;
  }
  if (2 * (memo_size_ + 1) > memo_hash_.size()) {
    std::vector<std::uint64_t> old_hash(std::max<std::size_t>(256, 2 * memo_hash_.size()), 0);
    std::vector<Entry> old(old_hash.size());
    old_hash.swap(memo_hash_);
    old.swap(memo_);
    const std::size_t mask = memo_hash_.size() - 1;
    for (std::size_t j = 0; j < old_hash.size(); ++j) {
      if (old_hash[j] == 0) continue;
      std::size_t i = old_hash[j] & mask;
      while (memo_hash_[i] != 0) i = (i + 1) & mask;
      memo_hash_[i] = old_hash[j];
      memo_[i] = old[j];
    }
  }
  const std::size_t mask = memo_hash_.size() - 1;
  std::size_t i = h & mask;
  while (memo_hash_[i] != 0) i = (i + 1) & mask;
  memo_hash_[i] = h;
  memo_[i] = Entry{op, c};
  ++memo_size_;
  return c;
}

OpCost CostModel::compute(const Op& op) const {
  if (tables_) {
    if (auto t = tables_->lookup(op)) return {*t, CostBasis::measured};
  }
  return {roofline_s(op), CostBasis::roofline};
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
