#include "sim/cost/cost_model.hpp"

#include <bit>
#include <map>
#include <mutex>
#include <cstring>
#include <filesystem>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sim/cost/calibration.hpp"
#include "sim/util/error.hpp"

namespace moska {

namespace {

// The table families an op class can be looked up in, for the classes whose family depends only on
// the class and the name (elementwise, router, merge and moe depend on the name and are always asked).
int class_families(OpClass c, KernelFamily (&f)[2]) {
  switch (c) {
    case OpClass::gemm: f[0] = KernelFamily::gemm; f[1] = KernelFamily::moe_gemm; return 2;
    case OpClass::attn_decode: f[0] = KernelFamily::attn_decode; f[1] = KernelFamily::attn_decode_lse; return 2;
    case OpClass::attn_prefill: f[0] = KernelFamily::attn_prefill; f[1] = KernelFamily::attn_partial; return 2;
    case OpClass::attn_shared: f[0] = KernelFamily::attn_shared; return 1;
    default: return 0;
  }
}

bool is_attention_class(OpClass c) {
  return c == OpClass::attn_decode || c == OpClass::attn_prefill || c == OpClass::attn_shared;
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
                         op.queries, op.experts, op.top_k}) {
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
         a.n_chunks == b.n_chunks && a.chunk == b.chunk && a.queries == b.queries && a.experts == b.experts &&
         a.top_k == b.top_k && a.flops == b.flops &&
         a.bytes == b.bytes && a.name == b.name;
}

// The measured tables of (folder, GPU, backend), loaded once per process (thread-safe).
std::shared_ptr<const CalibrationTables> shared_tables(const std::string& dir, const GpuSpec& gpu, const std::string& backend) {
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<const CalibrationTables>> loaded;
  // The GPU's numbers are part of the key: the tables scale points by its roofline.
  std::string key = fmt::format("{}\n{}\n{}\n{}\n{}\n{}", dir, backend, gpu.name, gpu.hbm_bw_bps, gpu.hbm_bytes,
                                gpu.roofline.memory_eff);
  for (const auto& [d, f] : gpu.peak_flops) key += fmt::format("\n{}", f);
  std::lock_guard<std::mutex> lock(mu);
  auto& t = loaded[key];
  if (!t) t = std::make_shared<const CalibrationTables>(CalibrationTables::load(dir, gpu, backend));
  return t;
}

}  // namespace

CostModel::CostModel(HardwareProfile hw, bool use_calibration, CostOptions opts)
    : hw_(std::move(hw)), opts_(std::move(opts)) {
  if (opts_.attn_backend.empty()) opts_.attn_backend = kDefaultAttnBackend;
  const bool default_backend = opts_.attn_backend == kDefaultAttnBackend;
  if (use_calibration && !hw_.calibration_dir.empty()) {
    tables_ = shared_tables(hw_.calibration_dir, hw_.gpu, opts_.attn_backend);
    coll_ = CollectiveModel::load(hw_.calibration_dir);
  } else if (use_calibration && !default_backend) {
    throw InputError(fmt::format("attention backend '{}': {} has no kernel measurements ({} names no \"calibration\" "
                                 "folder), so attention backends cannot be told apart there (roofline only); measured "
                                 "backends: none. Use the default ({}) or a calibrated GPU",
                                 opts_.attn_backend, hw_.gpu.name, hw_.path, kDefaultAttnBackend));
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
      const auto cls = static_cast<OpClass>(c);
      bool any = tables_ != nullptr && cls != OpClass::comm;
      KernelFamily f[2];
      const int nf = class_families(cls, f);
      if (any && nf > 0) {
        any = false;
        for (int i = 0; i < nf; ++i) any = any || tables_->has_tables(f[i], static_cast<Dtype>(d));
        // Another backend's missing family is an error, not the roofline: ask the tables (compute()).
        if (!default_backend && is_attention_class(cls)) any = true;
      }
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
  if (op.cls == OpClass::comm) {
    if (coll_.present) return {coll_.seconds(op.name, op.bytes, static_cast<int>(op.n)), CostBasis::fitted};
    return {roofline_s(op), CostBasis::roofline};
  }
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
  const bool skip = !opts_.fp8_kv_attention_tables && op.math == Dtype::fp8 && is_attention_class(op.cls);
  if (tables_ && !skip) {
    if (auto t = tables_->lookup(op)) return {*t, CostBasis::measured};
    if (opts_.attn_backend != kDefaultAttnBackend && is_attention_class(op.cls)) {
      auto fam = tables_->family_of(op);
      std::vector<std::string> have;
      for (int f = 0; f < kNumKernelFamilies; ++f) {
        const auto kf = static_cast<KernelFamily>(f);
        if (!is_attention_family(kf)) continue;
        for (Dtype d : {Dtype::bf16, Dtype::fp8, Dtype::fp32}) {
          if (tables_->has_tables(kf, d)) have.push_back(fmt::format("{} ({})", kernel_family_name(kf), dtype_name(d)));
        }
      }
      throw InputError(fmt::format(
          "attention backend '{}' on {}: no {} table of {} ({} and fp8/ hold: {}); measured backends: {}", opts_.attn_backend,
          hw_.gpu.name, fam ? kernel_family_name(*fam) : op_class_name(op.cls), dtype_name(op.math),
          (std::filesystem::path(hw_.calibration_dir) / opts_.attn_backend).string(),
          have.empty() ? std::string("nothing") : fmt::format("{}", fmt::join(have, ", ")),
          fmt::format("{}", fmt::join(CalibrationTables::backends(hw_.calibration_dir), ", "))));
    }
  }
  return {roofline_s(op), CostBasis::roofline};
}

IterationCost CostModel::iteration(const std::vector<Op>& ops) const {
  IterationCost c;
  double measured = 0, fitted = 0;
  for (const auto& op : ops) {
    OpCost oc = op_cost(op);
    double s = oc.seconds * static_cast<double>(op.count);
    c.by_class_s[static_cast<int>(op.cls)] += s;
    c.seconds += s;
    if (oc.basis == CostBasis::measured) measured += s;
    if (oc.basis == CostBasis::fitted) fitted += s;
    if (op.cls != OpClass::comm) {
      c.flops += op.flops * static_cast<double>(op.count);
      c.bytes += op.bytes * static_cast<double>(op.count);
    }
    c.kernels += static_cast<std::size_t>(op.count);
  }
  c.measured_fraction = c.seconds > 0 ? measured / c.seconds : 0;
  c.fitted_fraction = c.seconds > 0 ? fitted / c.seconds : 0;
  c.overhead_s = hw_.gpu.roofline.iteration_overhead_s;
  c.seconds += c.overhead_s;
  return c;
}

std::string CostModel::describe() const {
  if (tables_) {
    return fmt::format("calibrated: measured tables in {} ({}; attention backend {}), roofline outside them; collectives: {}",
                       hw_.calibration_dir, tables_->summary(), opts_.attn_backend,
                       coll_.present ? coll_.basis : "ring roofline at the profile's NVLink bandwidth (not measured)");
  }
  return fmt::format("roofline only: no kernel measurements for {} (default efficiencies from {})", hw_.gpu.name, hw_.path);
}

CalibrationInfo CostModel::calibration_info() const {
  CalibrationInfo i;
  i.gpu = hw_.gpu.name;
  i.calibrated = tables_ != nullptr;
  i.backend = opts_.attn_backend;
  if (!tables_) {
    i.not_measured.push_back(fmt::format("every operator: roofline with the efficiencies of {}", hw_.path));
    i.collectives = "ring roofline at the profile's NVLink bandwidth (not measured)";
    return i;
  }
  i.tables_dir = hw_.calibration_dir;
  i.backends = CalibrationTables::backends(hw_.calibration_dir);
  for (int f = 0; f < kNumKernelFamilies; ++f) {
    const auto kf = static_cast<KernelFamily>(f);
    const auto n = tables_->count(kf);
    const bool attn = is_attention_family(kf);
    if (n > 0 && attn) {
      // Per folder: the backend's own tables, and fp8/ (FP8-KV attention, the profiler's Triton kernel).
      std::size_t own = 0, fp8 = 0;
      for (const auto& p : tables_->points()) {
        if (p.family != kf) continue;
        (p.folder == "fp8" ? fp8 : own) += 1;
      }
      if (own > 0) i.measured.push_back(fmt::format("{} ({}) {}", kernel_family_name(kf), opts_.attn_backend, own));
      if (fp8 > 0 && opts_.fp8_kv_attention_tables) {
        i.measured.push_back(fmt::format("{} (fp8 KV, Triton) {}", kernel_family_name(kf), fp8));
      } else if (fp8 > 0) {
        i.not_measured.push_back(fmt::format("{} (fp8 KV): roofline (the engine's kernel is not the measured one)", kernel_family_name(kf)));
      }
    } else if (n > 0) {
      i.measured.push_back(fmt::format("{} {}", kernel_family_name(kf), n));
    } else {
      i.not_measured.push_back(fmt::format("{}{}: roofline", kernel_family_name(kf),
                                           attn ? fmt::format(" ({})", opts_.attn_backend) : std::string()));
    }
  }
  for (auto [fam, what] : {std::pair{KernelFamily::gemm, "fp8 GEMMs"}, std::pair{KernelFamily::moe_gemm, "fp8 grouped expert GEMMs"},
                           std::pair{KernelFamily::attn_decode, "fp8-KV decode attention"},
                           std::pair{KernelFamily::attn_shared, "fp8-KV shared-chunk attention"}}) {
    if (tables_->count(fam) > 0 && !tables_->has_tables(fam, Dtype::fp8)) i.not_measured.push_back(fmt::format("{}: roofline", what));
  }
  if (coll_.present) {
    i.collectives = coll_.basis;
    i.collectives_measured = coll_.measured;
    if (!coll_.measured) i.not_measured.push_back("collectives: " + coll_.basis);
  } else {
    i.collectives = "ring roofline at the profile's NVLink bandwidth (not measured)";
    i.not_measured.push_back("collectives: ring roofline (not measured)");
  }
  return i;
}

nlohmann::json calibration_json(const CalibrationInfo& info, const IterationCost* cost) {
  nlohmann::json j = {{"gpu", info.gpu},
                      {"calibrated", info.calibrated},
                      {"attention_backend", info.backend},
                      {"tables", info.tables_dir.empty() ? nlohmann::json(nullptr) : nlohmann::json(info.tables_dir)},
                      {"backends", info.backends},
                      {"measured", info.measured},
                      {"not_measured", info.not_measured},
                      {"collectives", info.collectives},
                      {"collectives_measured", info.collectives_measured}};
  if (cost) {
    j["measured_share"] = cost->measured_fraction;
    j["fitted_share"] = cost->fitted_fraction;
  }
  return j;
}

std::string calibration_mismatch(const CostModel& a, const CostModel& b) {
  const auto& ga = a.gpu().name;
  const auto& gb = b.gpu().name;
  if (a.calibrated() != b.calibrated()) {
    const auto& cal = a.calibrated() ? ga : gb;
    const auto& unc = a.calibrated() ? gb : ga;
    return fmt::format("warning: {} is calibrated against measured kernels but {} is roofline only: the comparison "
                       "mixes measured and first-principles costs (roofline alone is typically 20-40% optimistic on "
                       "the calibrated GPUs)",
                       cal, unc);
  }
  if (a.calibrated() && a.attn_backend() != b.attn_backend()) {
    return fmt::format("warning: {} uses attention backend {} and {} uses {}", ga, a.attn_backend(), gb, b.attn_backend());
  }
  return "";
}

}  // namespace moska
