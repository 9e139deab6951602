#pragma once
// Measured operator times (hw_profiles/<gpu>/**.csv, written by tools/profile_kernels.py),
// interpolated over each operator's shape.
//
// Tables. Each family is indexed by the keys that are NOT interpolated, and holds a grid over the
// ones that are (outer axis first; inner axes may be ragged, e.g. decode rows at large batch stop
// at a smaller ctx because the profiler caps KV at 24 GiB):
//   gemm             key (dtype, n, k)                      grid m
//   attn_decode      key (heads, kv_heads, head_dim)        grid batch x ctx       (ctx = KV tokens, mean)
//   attn_decode_lse  as attn_decode, the kernel that also returns the LSE (DistAttention's micro-attention)
//   attn_prefill     key (heads, kv_heads, head_dim)        grid seq               (one causal prompt)
//   attn_partial     key (heads, kv_heads, head_dim)        grid keys x queries    (m queries vs all L keys)
//   attn_shared      key (heads, kv_heads, head_dim)        grid chunk x n_chunks x queries
//   elementwise      key op (rmsnorm, rope, silu_mul, add, fp8_quant)   grid hidden x tokens
//   router           key (heads, head_dim)                  grid batch x n_chunks  (top_k = n_chunks/4)
//   merge            key (heads, head_dim)                  grid batch x n_parts   (the unfused reference)
//   merge_fast       key (heads, head_dim)                  grid batch x n_parts   (one fused kernel)
//   kv_gather        key kv_width                           grid tokens
//   moe              key (op, hidden, experts, top_k)       grid tokens   (op: topk, permute, combine)
//   moe_gemm         key (dtype, n, k, experts, top_k)      grid tokens   (one grouped GEMM)
// All families are read by one table reader from a schema per family (which file, which column is
// the dtype, a key, an axis, the time).
//
// Attention backends. The attention families (attn_decode, attn_decode_lse, attn_prefill,
// attn_partial, attn_shared) come from the backend's folder: `flash2` (FlashAttention-2 through
// SDPA, the default) is the calibration folder itself, any other backend a sub-folder named after it
// (cudnn/, eager/, flex/). FP8-KV attention (dtype fp8) comes from the fp8/ sub-folder for every
// backend whose own folder has no fp8 rows (neither SDPA backend takes FP8 K/V; fp8/ is the Triton
// kernel of the profiler). A backend's folder that lacks a family leaves that family unmeasured for
// that backend: CostModel then refuses the operator (InputError), except for flash2, whose missing
// families fall back to the roofline as before.
//
// Lookup. An Op is mapped to (family, key, coordinates):
//   gemm (m | n, k); a gemm with experts > 0 -> moe_gemm (tokens | n, k, experts, top_k);
//   attn_decode (batch, ctx) ("attn_decode_lse" -> attn_decode_lse, or attn_decode where the backend
//   has no such table); attn_prefill m new tokens after ctx cached ones -> one causal prompt of
//   s = sqrt(2*m*ctx + m^2) tokens (same FLOPs); "attn_partial" -> attn_partial (ctx keys, m queries);
//   attn_shared (chunk, n_chunks, queries); router (batch, n_chunks) (top_k is not an axis: the data
//   has top_k = n/4); "merge" -> merge_fast, "merge_ref" -> merge (batch, parts); moe by name;
//   elementwise by name: rmsnorm and final_norm -> rmsnorm, rope, silu_mul, residual_add -> add,
//   fp8_quant, kv_gather -> kv_gather; the operators that only move data (embedding, kv_append,
//   kv_scatter, hidden_gather, shared_gather, merge_scatter*, merge_concat*) -> the `add` table scaled
//   by the roofline ratio copy/add (rule 3). fp16 uses the bf16 tables when the profile gives both
//   the same tensor-core peak.
// Inside the measured range the time is interpolated piecewise linearly in log(shape) ->
// log(time), one axis at a time from the innermost (multilinear on the grid).
// Outside it, or for a key that was not measured, the nearest measured point is scaled by the
// roofline (sim/cost/roofline.*, with the profile's efficiencies and per-kernel overhead):
//   1. a coordinate outside its axis is clamped to the axis end e, and the value there is
//      multiplied by roofline(op at x) / roofline(op at e), per row of a ragged grid;
//   2. a key that was not measured (another model's GEMM, a TP shard's head count) uses the
//      nearest measured key of the same family and dtype — same head_dim for attention, same op for
//      elementwise and moe — nearest in sum |log ratio| over the key's numbers, times
//      roofline(op) / roofline(same op, that key); for attention families the ratio is taken with
//      the kernel's fixed latency c added to both terms, (roofline(op) + c) / (roofline(key's op) + c),
//      c = the key's smallest measured time minus its roofline (a latency-bound small shape keeps
//      its latency; a bandwidth-bound one scales as before);
//   3. the copies use the `add` table times roofline(copy) / roofline(add of the same shape).
//   Anything else (no measured point of that dtype, an unknown elementwise name, comm) returns
//   nullopt and CostModel uses the pure roofline (or, for comm, the collectives model).
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

enum class KernelFamily {
  gemm, attn_decode, attn_prefill, attn_shared, elementwise, router, merge,
  merge_fast, attn_decode_lse, attn_partial, kv_gather, moe, moe_gemm
};
inline constexpr int kNumKernelFamilies = 13;
const char* kernel_family_name(KernelFamily f);
const char* kernel_family_csv(KernelFamily f);  // "gemm.csv", ...
// True for the families whose tables depend on the attention backend.
bool is_attention_family(KernelFamily f);

// The default attention backend: FlashAttention-2 through SDPA (the tables at the top of a GPU's
// calibration folder). See the README, "Calibration and accuracy", for why.
inline constexpr const char* kDefaultAttnBackend = "flash2";

// Elementwise kernels measured by the profiler (the `key[0]` of an elementwise point).
enum class EltKernel : std::int64_t { rmsnorm = 0, rope = 1, silu_mul = 2, add = 3, fp8_quant = 4 };
const char* elt_kernel_name(EltKernel e);
// MoE dispatch kernels (the `key[0]` of a moe point).
enum class MoeKernel : std::int64_t { topk = 0, permute = 1, combine = 2 };
const char* moe_kernel_name(MoeKernel e);

// One measured kernel time, as read from a CSV row.
struct KernelPoint {
  KernelFamily family = KernelFamily::gemm;
  Dtype dtype = Dtype::bf16;
  std::array<std::int64_t, 4> key{};  // the non-interpolated numbers (see above), zero-padded
  std::array<double, 3> x{};          // grid coordinates, outer axis first
  int dims = 1;                       // how many of x are used
  double seconds = 0;
  std::string where;                  // "file:line"
  std::string folder;                 // sub-folder it came from ("" = the calibration folder; cudnn, fp8, ...)
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

  // Reads every family's CSV(s) of `dir` (the attention families from the backend's folder, see
  // above) and ceilings.csv. Throws InputError if the backend has no folder there, naming those
  // that exist.
  static CalibrationTables load(const std::string& dir, const GpuSpec& gpu,
                                const std::string& attn_backend = kDefaultAttnBackend);
  // Tables from points already read (tests, leave-one-out validation).
  static CalibrationTables from_points(std::vector<KernelPoint> points, const GpuSpec& gpu);
  // The same tables without the points `drop` selects.
  CalibrationTables without(const std::function<bool(const KernelPoint&)>& drop) const;
  // The attention backends measured in `dir`: flash2 (if the folder has attention tables) and each
  // sub-folder holding any attention CSV, except fp8/ (FP8 KV, shared by all backends).
  static std::vector<std::string> backends(const std::string& dir);

  // Seconds for one instance of `op`, or nullopt where the tables do not cover it (see above).
  std::optional<double> lookup(const Op& op) const;
  // True when `op` maps to a table key that was measured and its shape lies inside the grid
  // (no roofline scaling involved).
  bool covers(const Op& op) const;
  // The family `op` is looked up in (nullopt: none; comm, unknown names).
  std::optional<KernelFamily> family_of(const Op& op) const;
  // True when family `f` has a measured table of the dtype an op of math dtype `math` is looked up
  // in (fp16 -> bf16 where the profile says so).
  bool has_tables(KernelFamily f, Dtype math) const;
  bool has_family(KernelFamily f) const { return count(f) > 0; }

  const std::vector<KernelPoint>& points() const { return points_; }
  const std::vector<Ceiling>& ceilings() const { return ceilings_; }
  std::size_t count(KernelFamily f) const;
  std::string dir() const { return dir_; }
  const std::string& backend() const { return backend_; }
  std::string summary() const;  // "gemm 1716, attn_decode 336, ... points"

  // The Op a measured point stands for (the profiler's kernel expressed as our operator), used
  // for roofline ratios and by validation to predict a point through lookup().
  static Op reference_op(KernelFamily f, Dtype dtype, const std::array<std::int64_t, 4>& key,
                         const std::array<double, 3>& x);

  struct Index;  // per family, per key: the nested grid (calibration.cpp)

 private:
  void build();

  std::string dir_;
  std::string backend_ = kDefaultAttnBackend;
  GpuSpec gpu_;
  bool fp16_as_bf16_ = false;
  std::vector<KernelPoint> points_;
  std::vector<Ceiling> ceilings_;
  std::unique_ptr<Index> index_;
};

// Strict CSV reading shared with validation (composite.csv): header must hold exactly `columns`
// (any order) plus any of `optional` columns; every row the same number of fields. Returns rows as
// field vectors in `columns` then `optional` order (an absent optional column's field is ""), with
// the 1-based line number. Throws InputError naming file:line.
struct CsvRow {
  std::vector<std::string> fields;
  int line = 0;
};
std::vector<CsvRow> read_csv_strict(const std::string& path, const std::vector<std::string>& columns,
                                    const std::vector<std::string>& optional = {});
// Field parsers for read_csv_strict rows; errors name file:line and the column.
std::int64_t csv_int(const CsvRow& r, std::size_t i, const std::string& file, const std::string& col,
                     std::int64_t min_value, std::int64_t max_value = INT64_MAX);
double csv_number(const CsvRow& r, std::size_t i, const std::string& file, const std::string& col, bool positive);

}  // namespace moska
