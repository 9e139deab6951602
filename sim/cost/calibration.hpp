#pragma once
// Measured operator times (hw_profiles/<gpu>/*.csv, written by tools/profile_kernels.py),
// interpolated over each operator's shape.
//
// Tables. Each family is indexed by the keys that are NOT interpolated, and holds a grid over the
// ones that are (outer axis first; inner axes may be ragged, e.g. decode rows at large batch stop
// at a smaller ctx because the profiler caps KV at 24 GiB):
//   gemm          key (dtype, n, k)                 grid m
//   attn_decode   key (heads, kv_heads, head_dim)   grid batch x ctx          (ctx = KV tokens, mean)
//   attn_prefill  key (heads, kv_heads, head_dim)   grid seq                  (one causal prompt)
//   attn_shared   key (heads, kv_heads, head_dim)   grid chunk x n_chunks x queries
//   elementwise   key op (rmsnorm, rope, silu_mul, add)   grid hidden x tokens
//   router        key (heads, head_dim)             grid batch x n_chunks     (top_k = n_chunks/4)
//   merge         key (heads, head_dim)             grid batch x n_parts
//
// Lookup. An Op is mapped to (family, key, coordinates):
//   gemm (m | n, k); attn_decode (batch, ctx); attn_prefill m new tokens after ctx cached ones ->
//   one causal prompt of s = sqrt(2*m*ctx + m^2) tokens (same FLOPs); attn_shared (chunk, n_chunks,
//   queries); router (batch, n_chunks) (top_k is not an axis: the data has top_k = n/4); merge
//   (batch, parts); elementwise by name: rmsnorm and final_norm -> rmsnorm, rope, silu_mul,
//   residual_add -> add; the operators that only move data (embedding, kv_append, shared_gather,
//   merge_scatter*, merge_concat*) -> the `add` table scaled by the roofline ratio copy/add (rule 3).
//   fp16 uses the bf16 tables when the profile gives both the same tensor-core peak.
// Inside the measured range the time is interpolated piecewise linearly in log(shape) ->
// log(time), one axis at a time from the innermost (multilinear on the grid).
// Outside it, or for a key that was not measured, the nearest measured point is scaled by the
// roofline (sim/cost/roofline.*, with the profile's efficiencies and per-kernel overhead):
//   1. a coordinate outside its axis is clamped to the axis end e, and the value there is
//      multiplied by roofline(op at x) / roofline(op at e), per row of a ragged grid;
//   2. a key that was not measured (another model's GEMM, a TP shard's head count) uses the
//      nearest measured key of the same family, dtype and (attention) head_dim — nearest in
//      sum |log ratio| over the key's numbers — times roofline(op) / roofline(same op, that key);
//   3. the copies use the `add` table times roofline(copy) / roofline(add of the same shape).
//   Anything else (fp8 attention, fp32 GEMMs: no measured point of that dtype; an unknown
//   elementwise name; comm) returns nullopt and CostModel uses the pure roofline.
// Load parses every CSV strictly (InputError naming file:line); a missing CSV only means that
// family is not covered. Lookups do not allocate: axes and logs are precomputed at load.
#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sim/hw/gpu.hpp"
#include "sim/model/operators.hpp"

namespace moska {

enum class KernelFamily { gemm, attn_decode, attn_prefill, attn_shared, elementwise, router, merge };
inline constexpr int kNumKernelFamilies = 7;
const char* kernel_family_name(KernelFamily f);
const char* kernel_family_csv(KernelFamily f);  // "gemm.csv", ...

// Elementwise kernels measured by the profiler (the `key[0]` of an elementwise point).
enum class EltKernel : std::int64_t { rmsnorm = 0, rope = 1, silu_mul = 2, add = 3 };
const char* elt_kernel_name(EltKernel e);

// One measured kernel time, as read from a CSV row.
struct KernelPoint {
  KernelFamily family = KernelFamily::gemm;
  Dtype dtype = Dtype::bf16;
  std::array<std::int64_t, 3> key{};  // the non-interpolated numbers (see above), zero-padded
  std::array<double, 3> x{};          // grid coordinates, outer axis first
  int dims = 1;                       // how many of x are used
  double seconds = 0;
  std::string where;                  // "file:line"
};

// A ceiling measured by the profiler (ceilings.csv): copy bandwidth, 8192^3 GEMM rate.
struct Ceiling {
  std::string kind;  // copy, gemm_bf16, gemm_fp8
  double work = 0;   // bytes or FLOPs
  double seconds = 0;
  double rate = 0;   // work / seconds as written
};

class CalibrationTables {
 public:
  CalibrationTables();
  ~CalibrationTables();
  CalibrationTables(CalibrationTables&&) noexcept;
  CalibrationTables& operator=(CalibrationTables&&) noexcept;

  // Reads dir/{gemm,attn_decode,attn_prefill,attn_shared,elementwise,router,merge,ceilings}.csv.
  static CalibrationTables load(const std::string& dir, const GpuSpec& gpu);
  // Tables from points already read (tests, leave-one-out validation).
  static CalibrationTables from_points(std::vector<KernelPoint> points, const GpuSpec& gpu);
  // The same tables without the points `drop` selects.
  CalibrationTables without(const std::function<bool(const KernelPoint&)>& drop) const;

  // Seconds for one instance of `op`, or nullopt where the tables do not cover it (see above).
  std::optional<double> lookup(const Op& op) const;
  // True when `op` maps to a table key that was measured and its shape lies inside the grid
  // (no roofline scaling involved).
  bool covers(const Op& op) const;
  // True when family `f` has a measured table of the dtype an op of math dtype `math` is looked up
  // in (fp16 -> bf16 where the profile says so). False means lookup() answers nullopt for every
  // gemm / attention op of that math dtype.
  bool has_tables(KernelFamily f, Dtype math) const;

  const std::vector<KernelPoint>& points() const { return points_; }
  const std::vector<Ceiling>& ceilings() const { return ceilings_; }
  std::size_t count(KernelFamily f) const;
  std::string dir() const { return dir_; }
  std::string summary() const;  // "gemm 1716, attn_decode 336, ... points"

  // The Op a measured point stands for (the profiler's kernel expressed as our operator), used
  // for roofline ratios and by validation to predict a point through lookup().
  static Op reference_op(KernelFamily f, Dtype dtype, const std::array<std::int64_t, 3>& key,
                         const std::array<double, 3>& x);

  struct Index;  // per family, per key: the nested grid (calibration.cpp)

 private:
  void build();

  std::string dir_;
  GpuSpec gpu_;
  bool fp16_as_bf16_ = false;
  std::vector<KernelPoint> points_;
  std::vector<Ceiling> ceilings_;
  std::unique_ptr<Index> index_;
};

// Strict CSV reading shared with validation (composite.csv): header must be exactly `columns`
// (any order); every row the same number of fields. Returns rows as field vectors in `columns`
// order, with the 1-based line number. Throws InputError naming file:line.
struct CsvRow {
  std::vector<std::string> fields;
  int line = 0;
};
std::vector<CsvRow> read_csv_strict(const std::string& path, const std::vector<std::string>& columns);
// Field parsers for read_csv_strict rows; errors name file:line and the column.
std::int64_t csv_int(const CsvRow& r, std::size_t i, const std::string& file, const std::string& col,
                     std::int64_t min_value);
double csv_number(const CsvRow& r, std::size_t i, const std::string& file, const std::string& col, bool positive);

}  // namespace moska
