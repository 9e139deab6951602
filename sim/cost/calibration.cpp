#include "sim/cost/calibration.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <fmt/format.h>

#include "sim/cost/roofline.hpp"
#include "sim/util/error.hpp"

namespace moska {

const char* kernel_family_name(KernelFamily f) {
  switch (f) {
    case KernelFamily::gemm: return "gemm";
    case KernelFamily::attn_decode: return "attn_decode";
    case KernelFamily::attn_prefill: return "attn_prefill";
    case KernelFamily::attn_shared: return "attn_shared";
    case KernelFamily::elementwise: return "elementwise";
    case KernelFamily::router: return "router";
    case KernelFamily::merge: return "merge";
  }
  return "?";
}

const char* kernel_family_csv(KernelFamily f) {
  switch (f) {
    case KernelFamily::gemm: return "gemm.csv";
    case KernelFamily::attn_decode: return "attn_decode.csv";
    case KernelFamily::attn_prefill: return "attn_prefill.csv";
    case KernelFamily::attn_shared: return "attn_shared.csv";
    case KernelFamily::elementwise: return "elementwise.csv";
    case KernelFamily::router: return "router.csv";
    case KernelFamily::merge: return "merge.csv";
  }
  return "?";
}

const char* elt_kernel_name(EltKernel e) {
  switch (e) {
    case EltKernel::rmsnorm: return "rmsnorm";
    case EltKernel::rope: return "rope";
    case EltKernel::silu_mul: return "silu_mul";
    case EltKernel::add: return "add";
  }
  return "?";
}

// ------------------------------------------------------------------------------------------ CSV

namespace {

std::string strip_cr(std::string s) {
  if (!s.empty() && s.back() == '\r') s.pop_back();
  return s;
}

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    auto pos = s.find(',', start);
    out.push_back(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) break;
    start = pos + 1;
  }
  return out;
}

[[noreturn]] void bad_field(const std::string& file, int line, const std::string& col, const std::string& value,
                            const std::string& expected) {
  throw InputError(fmt::format("{}:{}: column '{}' is '{}': expected {}", file, line, col, value, expected));
}

}  // namespace

std::vector<CsvRow> read_csv_strict(const std::string& path, const std::vector<std::string>& columns) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot be read", path));
  std::string line;
  if (!std::getline(in, line)) throw InputError(fmt::format("{}:1: empty file: expected a header line", path));
  auto header = split_commas(strip_cr(line));
  std::vector<std::size_t> pos(columns.size(), header.size());
  for (std::size_t h = 0; h < header.size(); ++h) {
    auto it = std::find(columns.begin(), columns.end(), header[h]);
    if (it == columns.end() || pos[static_cast<std::size_t>(it - columns.begin())] != header.size()) {
      throw InputError(fmt::format("{}:1: header column '{}' is unknown or repeated: expected the columns {}", path,
                                   header[h], fmt::join(columns, ",")));
    }
    pos[static_cast<std::size_t>(it - columns.begin())] = h;
  }
  for (std::size_t c = 0; c < columns.size(); ++c) {
    if (pos[c] == header.size()) {
      throw InputError(fmt::format("{}:1: header lacks column '{}': expected the columns {}", path, columns[c],
                                   fmt::join(columns, ",")));
    }
  }
  std::vector<CsvRow> rows;
  int n = 1;
  while (std::getline(in, line)) {
    ++n;
    line = strip_cr(line);
    auto f = split_commas(line);
    if (f.size() != header.size()) {
      throw InputError(fmt::format("{}:{}: {} fields, expected {} ({})", path, n, line.empty() ? 0 : f.size(),
                                   header.size(), fmt::join(columns, ",")));
    }
    CsvRow r;
    r.line = n;
    r.fields.resize(columns.size());
    for (std::size_t c = 0; c < columns.size(); ++c) r.fields[c] = f[pos[c]];
    rows.push_back(std::move(r));
  }
  return rows;
}

std::int64_t csv_int(const CsvRow& r, std::size_t i, const std::string& file, const std::string& col,
                     std::int64_t min_value) {
  const std::string& s = r.fields[i];
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < min_value) {
    bad_field(file, r.line, col, s, fmt::format("an integer >= {}", min_value));
  }
  return v;
}

double csv_number(const CsvRow& r, std::size_t i, const std::string& file, const std::string& col, bool positive) {
  const std::string& s = r.fields[i];
  double v = 0;
  std::size_t used = 0;
  bool ok = !s.empty() && s.find_first_of(" \t") == std::string::npos;
  if (ok) {
    try {
      v = std::stod(s, &used);
    } catch (const std::exception&) {
      ok = false;
    }
  }
  if (!ok || used != s.size() || !std::isfinite(v) || (positive ? v <= 0 : v < 0)) {
    bad_field(file, r.line, col, s, positive ? "a finite number > 0" : "a finite number >= 0");
  }
  return v;
}

namespace {

Dtype csv_dtype(const CsvRow& r, std::size_t i, const std::string& file) {
  const std::string& s = r.fields[i];
  if (s == "bf16") return Dtype::bf16;
  if (s == "fp16") return Dtype::fp16;
  if (s == "fp8") return Dtype::fp8;
  if (s == "fp32") return Dtype::fp32;
  bad_field(file, r.line, "dtype", s, "one of bf16, fp16, fp8, fp32");
}

void csv_method(const CsvRow& r, std::size_t i, const std::string& file) {
  const std::string& s = r.fields[i];
  if (s != "graph" && s != "events") bad_field(file, r.line, "method", s, "graph or events");
}

std::vector<KernelPoint> read_family(const std::string& dir, KernelFamily fam) {
  std::vector<KernelPoint> pts;
  std::string path = (std::filesystem::path(dir) / kernel_family_csv(fam)).string();
  if (!std::filesystem::exists(path)) return pts;  // that family is not covered
  auto point = [&](const CsvRow& r) {
    KernelPoint p;
    p.family = fam;
    p.where = fmt::format("{}:{}", path, r.line);
    return p;
  };
  auto heads = [&](const CsvRow& r, std::size_t hq, std::size_t hkv, std::size_t d, KernelPoint& p) {
    p.key = {csv_int(r, hq, path, "n_heads", 1), csv_int(r, hkv, path, "n_kv_heads", 1), csv_int(r, d, path, "head_dim", 1)};
    if (p.key[0] % p.key[1] != 0) bad_field(path, r.line, "n_kv_heads", r.fields[hkv], "a divisor of n_heads");
  };
  switch (fam) {
    case KernelFamily::gemm:
      for (const auto& r : read_csv_strict(path, {"dtype", "m", "n", "k", "time_us", "method"})) {
        auto p = point(r);
        p.dtype = csv_dtype(r, 0, path);
        p.x[0] = static_cast<double>(csv_int(r, 1, path, "m", 1));
        p.key = {csv_int(r, 2, path, "n", 1), csv_int(r, 3, path, "k", 1), 0};
        p.dims = 1;
        p.seconds = csv_number(r, 4, path, "time_us", true) * 1e-6;
        csv_method(r, 5, path);
        pts.push_back(std::move(p));
      }
      break;
    case KernelFamily::attn_decode:
      for (const auto& r : read_csv_strict(path, {"dtype", "batch", "ctx", "n_heads", "n_kv_heads", "head_dim", "time_us", "method"})) {
        auto p = point(r);
        p.dtype = csv_dtype(r, 0, path);
        p.x[0] = static_cast<double>(csv_int(r, 1, path, "batch", 1));
        p.x[1] = static_cast<double>(csv_int(r, 2, path, "ctx", 1));
        heads(r, 3, 4, 5, p);
        p.dims = 2;
        p.seconds = csv_number(r, 6, path, "time_us", true) * 1e-6;
        csv_method(r, 7, path);
        pts.push_back(std::move(p));
      }
      break;
    case KernelFamily::attn_prefill:
      for (const auto& r : read_csv_strict(path, {"dtype", "seq", "n_heads", "n_kv_heads", "head_dim", "time_us", "method"})) {
        auto p = point(r);
        p.dtype = csv_dtype(r, 0, path);
        p.x[0] = static_cast<double>(csv_int(r, 1, path, "seq", 1));
        heads(r, 2, 3, 4, p);
        p.dims = 1;
        p.seconds = csv_number(r, 5, path, "time_us", true) * 1e-6;
        csv_method(r, 6, path);
        pts.push_back(std::move(p));
      }
      break;
    case KernelFamily::attn_shared:
      for (const auto& r : read_csv_strict(path, {"dtype", "n_chunks", "chunk", "queries", "n_heads", "n_kv_heads",
                                                  "head_dim", "time_us", "method"})) {
        auto p = point(r);
        p.dtype = csv_dtype(r, 0, path);
        p.x[1] = static_cast<double>(csv_int(r, 1, path, "n_chunks", 1));
        p.x[0] = static_cast<double>(csv_int(r, 2, path, "chunk", 1));
        p.x[2] = static_cast<double>(csv_int(r, 3, path, "queries", 1));
        heads(r, 4, 5, 6, p);
        p.dims = 3;
        p.seconds = csv_number(r, 7, path, "time_us", true) * 1e-6;
        csv_method(r, 8, path);
        pts.push_back(std::move(p));
      }
      break;
    case KernelFamily::elementwise:
      for (const auto& r : read_csv_strict(path, {"op", "dtype", "tokens", "hidden", "time_us", "method"})) {
        auto p = point(r);
        const std::string& op = r.fields[0];
        EltKernel e{};
        if (op == "rmsnorm") e = EltKernel::rmsnorm;
        else if (op == "rope") e = EltKernel::rope;
        else if (op == "silu_mul") e = EltKernel::silu_mul;
        else if (op == "add") e = EltKernel::add;
        else bad_field(path, r.line, "op", op, "one of rmsnorm, rope, silu_mul, add");
        p.key = {static_cast<std::int64_t>(e), 0, 0};
        p.dtype = csv_dtype(r, 1, path);
        p.x[1] = static_cast<double>(csv_int(r, 2, path, "tokens", 1));
        p.x[0] = static_cast<double>(csv_int(r, 3, path, "hidden", 1));
        p.dims = 2;
        p.seconds = csv_number(r, 4, path, "time_us", true) * 1e-6;
        csv_method(r, 5, path);
        pts.push_back(std::move(p));
      }
      break;
    case KernelFamily::router:
      for (const auto& r : read_csv_strict(path, {"batch", "n_chunks", "n_heads", "head_dim", "top_k", "time_us", "method"})) {
        auto p = point(r);
        p.x[0] = static_cast<double>(csv_int(r, 0, path, "batch", 1));
        auto n = csv_int(r, 1, path, "n_chunks", 1);
        p.x[1] = static_cast<double>(n);
        p.key = {csv_int(r, 2, path, "n_heads", 1), csv_int(r, 3, path, "head_dim", 1), 0};
        if (csv_int(r, 4, path, "top_k", 1) > n) bad_field(path, r.line, "top_k", r.fields[4], "at most n_chunks");
        p.dims = 2;
        p.seconds = csv_number(r, 5, path, "time_us", true) * 1e-6;
        csv_method(r, 6, path);
        pts.push_back(std::move(p));
      }
      break;
    case KernelFamily::merge:
      for (const auto& r : read_csv_strict(path, {"batch", "n_heads", "head_dim", "n_parts", "time_us", "method"})) {
        auto p = point(r);
        p.x[0] = static_cast<double>(csv_int(r, 0, path, "batch", 1));
        p.key = {csv_int(r, 1, path, "n_heads", 1), csv_int(r, 2, path, "head_dim", 1), 0};
        p.x[1] = static_cast<double>(csv_int(r, 3, path, "n_parts", 1));
        p.dims = 2;
        p.seconds = csv_number(r, 4, path, "time_us", true) * 1e-6;
        csv_method(r, 5, path);
        pts.push_back(std::move(p));
      }
      break;
  }
  return pts;
}

std::vector<Ceiling> read_ceilings(const std::string& dir) {
  std::vector<Ceiling> out;
  std::string path = (std::filesystem::path(dir) / "ceilings.csv").string();
  if (!std::filesystem::exists(path)) return out;
  for (const auto& r : read_csv_strict(path, {"kind", "work", "time_us", "rate"})) {
    Ceiling c;
    c.kind = r.fields[0];
    if (c.kind.empty()) bad_field(path, r.line, "kind", c.kind, "a name (copy, gemm_bf16, gemm_fp8)");
    c.work = csv_number(r, 1, path, "work", true);
    c.seconds = csv_number(r, 2, path, "time_us", true) * 1e-6;
    c.rate = csv_number(r, 3, path, "rate", true);
    out.push_back(c);
  }
  return out;
}

// The elementwise kernels as our operators (reads, writes, flops per element: as operators.cpp
// emits them), so a measured point and an emitted Op of the same name have the same roofline.
struct EltShape {
  const char* op_name;
  double reads, writes, flops;
};
constexpr EltShape kElt[] = {
    {"rmsnorm", 1, 1, 4}, {"rope", 1, 1, 6}, {"silu_mul", 2, 1, 5}, {"residual_add", 2, 1, 1}};

}  // namespace

// ------------------------------------------------------------------------------------------ index

namespace {

// One axis of a nested grid: sorted coordinate values; at the innermost axis log(seconds) per
// value, above it one sub-grid per value (ragged: each has its own axis).
struct Level {
  std::vector<double> x, lx;
  std::vector<double> lt;     // innermost only
  std::vector<Level> kids;    // other axes
};

struct KeyTable {
  Dtype dtype = Dtype::bf16;
  std::array<std::int64_t, 3> key{};
  std::array<double, 3> lkey{};
  int dims = 1;
  Level root;
};

Level build_level(std::vector<const KernelPoint*> pts, int axis, int dims) {
  Level L;
  std::sort(pts.begin(), pts.end(), [&](const KernelPoint* a, const KernelPoint* b) { return a->x[axis] < b->x[axis]; });
  std::size_t i = 0;
  while (i < pts.size()) {
    std::size_t j = i;
    while (j < pts.size() && pts[j]->x[axis] == pts[i]->x[axis]) ++j;
    L.x.push_back(pts[i]->x[axis]);
    L.lx.push_back(std::log(pts[i]->x[axis]));
    if (axis + 1 == dims) {
      if (j - i > 1) {
        throw InputError(fmt::format("{}: the same kernel shape as {} (one time per shape expected)", pts[i + 1]->where,
                                     pts[i]->where));
      }
      L.lt.push_back(std::log(pts[i]->seconds));
    } else {
      L.kids.push_back(build_level(std::vector<const KernelPoint*>(pts.begin() + static_cast<std::ptrdiff_t>(i),
                                                                   pts.begin() + static_cast<std::ptrdiff_t>(j)),
                                   axis + 1, dims));
    }
    i = j;
  }
  return L;
}

// What an Op asks of the tables.
struct Query {
  KernelFamily fam = KernelFamily::gemm;
  Dtype dtype = Dtype::bf16;
  std::array<std::int64_t, 3> key{};
  std::array<double, 3> x{};
  bool scale_from_op = false;  // a copy answered by the add table: scale by roofline(op)/roofline(add)
};

bool is_attention(KernelFamily f) {
  return f == KernelFamily::attn_decode || f == KernelFamily::attn_prefill || f == KernelFamily::attn_shared;
}

}  // namespace

struct CalibrationTables::Index {
  std::array<std::vector<KeyTable>, kNumKernelFamilies> fam;
};

CalibrationTables::CalibrationTables() = default;
CalibrationTables::~CalibrationTables() = default;
CalibrationTables::CalibrationTables(CalibrationTables&&) noexcept = default;
CalibrationTables& CalibrationTables::operator=(CalibrationTables&&) noexcept = default;

void CalibrationTables::build() {
  index_ = std::make_unique<Index>();
  // Group points by (family, dtype, key).
  std::map<std::tuple<int, int, std::int64_t, std::int64_t, std::int64_t>, std::vector<const KernelPoint*>> groups;
  for (const auto& p : points_) {
    groups[{static_cast<int>(p.family), static_cast<int>(p.dtype), p.key[0], p.key[1], p.key[2]}].push_back(&p);
  }
  for (auto& [k, pts] : groups) {
    KeyTable t;
    t.dtype = pts.front()->dtype;
    t.key = pts.front()->key;
    t.dims = pts.front()->dims;
    for (int i = 0; i < 3; ++i) t.lkey[i] = t.key[i] > 0 ? std::log(static_cast<double>(t.key[i])) : 0.0;
    t.root = build_level(pts, 0, t.dims);
    index_->fam[static_cast<std::size_t>(std::get<0>(k))].push_back(std::move(t));
  }
}

CalibrationTables CalibrationTables::from_points(std::vector<KernelPoint> points, const GpuSpec& gpu) {
  CalibrationTables t;
  t.gpu_ = gpu;
  auto bf = gpu.peak_flops.find(Dtype::bf16);
  auto fp = gpu.peak_flops.find(Dtype::fp16);
  t.fp16_as_bf16_ = bf != gpu.peak_flops.end() && fp != gpu.peak_flops.end() && bf->second == fp->second;
  t.points_ = std::move(points);
  t.build();
  return t;
}

CalibrationTables CalibrationTables::load(const std::string& dir, const GpuSpec& gpu) {
  std::vector<KernelPoint> pts;
  for (int f = 0; f < kNumKernelFamilies; ++f) {
    auto v = read_family(dir, static_cast<KernelFamily>(f));
    pts.insert(pts.end(), std::make_move_iterator(v.begin()), std::make_move_iterator(v.end()));
  }
  auto t = from_points(std::move(pts), gpu);
  t.dir_ = dir;
  t.ceilings_ = read_ceilings(dir);
  return t;
}

CalibrationTables CalibrationTables::without(const std::function<bool(const KernelPoint&)>& drop) const {
  std::vector<KernelPoint> keep;
  keep.reserve(points_.size());
  for (const auto& p : points_) {
    if (!drop(p)) keep.push_back(p);
  }
  auto t = from_points(std::move(keep), gpu_);
  t.dir_ = dir_;
  t.ceilings_ = ceilings_;
  return t;
}

std::size_t CalibrationTables::count(KernelFamily f) const {
  return static_cast<std::size_t>(std::count_if(points_.begin(), points_.end(), [&](const KernelPoint& p) { return p.family == f; }));
}

std::string CalibrationTables::summary() const {
  std::string s;
  for (int f = 0; f < kNumKernelFamilies; ++f) {
    auto n = count(static_cast<KernelFamily>(f));
    if (n == 0) continue;
    if (!s.empty()) s += ", ";
    s += fmt::format("{} {}", kernel_family_name(static_cast<KernelFamily>(f)), n);
  }
  return s.empty() ? "no measured points" : s + " points";
}

Op CalibrationTables::reference_op(KernelFamily f, Dtype dtype, const std::array<std::int64_t, 3>& key,
                                   const std::array<double, 3>& x) {
  auto i = [](double v) { return std::max<std::int64_t>(1, std::llround(v)); };
  Precision prec = Precision::uniform(dtype == Dtype::fp32 ? Dtype::bf16 : dtype);
  if (dtype == Dtype::fp32) prec = Precision{Dtype::fp32, Dtype::fp32, Dtype::fp32};
  ModelSpec m;
  m.n_heads = key[0];
  switch (f) {
    case KernelFamily::gemm: return make_gemm("gemm", i(x[0]), key[0], key[1], prec, 1);
    case KernelFamily::attn_decode:
      m.n_kv_heads = key[1];
      m.head_dim = key[2];
      return make_decode_attention(m, prec, 1, i(x[0]), i(x[0]) * i(x[1]), 1);
    case KernelFamily::attn_prefill:
      m.n_kv_heads = key[1];
      m.head_dim = key[2];
      return make_prefill_attention(m, prec, 1, i(x[0]), 0, 1);
    case KernelFamily::attn_shared:
      m.n_kv_heads = key[1];
      m.head_dim = key[2];
      return make_shared_attention(m, prec, 1, SharedChunkGroup{i(x[1]), i(x[0]), i(x[2])}, 1);
    case KernelFamily::elementwise: {
      const auto& e = kElt[std::clamp<std::int64_t>(key[0], 0, 3)];
      return make_elementwise(e.op_name, i(x[1]), i(x[0]), e.reads, e.writes, e.flops, prec, 1);
    }
    case KernelFamily::router:
      // The profiler's router is Llama's GQA group of 4 (n_kv_heads = n_heads / 4), top_k = n/4.
      m.n_kv_heads = std::max<std::int64_t>(1, key[0] / 4);
      m.head_dim = key[1];
      return make_router(m, prec, 1, i(x[0]), i(x[1]), std::max<std::int64_t>(1, i(x[1]) / 4), 1);
    case KernelFamily::merge:
      m.n_kv_heads = key[0];
      m.head_dim = key[1];
      return make_merge(m, prec, 1, i(x[0]), i(x[1]), 1);
  }
  return Op{};
}

// ------------------------------------------------------------------------------------------ lookup

namespace {

// Operators that only move data (gathers, scatters, concatenations, cache writes).
bool is_copy(std::string_view s) {
  return s == "embedding" || s == "kv_append" || s == "shared_gather" || s.rfind("merge_scatter", 0) == 0 ||
         s.rfind("merge_concat", 0) == 0;
}

// Maps an Op onto the tables; false when no family can answer it.
bool make_query(const Op& op, bool fp16_as_bf16, Query& q) {
  if ((op.cls == OpClass::elementwise || op.cls == OpClass::merge) && is_copy(op.name)) {
    // A copy: the `add` table at the same shape, scaled by roofline(copy) / roofline(add).
    q.fam = KernelFamily::elementwise;
    q.dtype = Dtype::bf16;
    q.key = {static_cast<std::int64_t>(EltKernel::add), 0, 0};
    q.x = {static_cast<double>(op.n), static_cast<double>(op.m), 0};
    q.scale_from_op = true;
    return op.n >= 1 && op.m >= 1;
  }
  Dtype d = op.math;
  if (d == Dtype::fp16 && fp16_as_bf16) d = Dtype::bf16;
  auto pos = [](double v) { return v >= 1.0; };
  switch (op.cls) {
    case OpClass::gemm:
      q.fam = KernelFamily::gemm;
      q.dtype = d;
      q.key = {op.n, op.k, 0};
      q.x = {static_cast<double>(op.m), 0, 0};
      return op.m >= 1 && op.n >= 1 && op.k >= 1;
    case OpClass::attn_decode:
      q.fam = KernelFamily::attn_decode;
      q.dtype = d;
      q.key = {op.heads, op.kv_heads, op.head_dim};
      q.x = {static_cast<double>(op.batch), static_cast<double>(op.ctx), 0};
      return pos(q.x[0]) && pos(q.x[1]) && op.heads >= 1 && op.kv_heads >= 1;
    case OpClass::attn_prefill: {
      q.fam = KernelFamily::attn_prefill;
      q.dtype = d;
      q.key = {op.heads, op.kv_heads, op.head_dim};
      double m = static_cast<double>(op.m), c = static_cast<double>(op.ctx);
      q.x = {std::sqrt(2.0 * m * c + m * m), 0, 0};  // a causal prompt with the same FLOPs
      return pos(q.x[0]) && op.heads >= 1 && op.kv_heads >= 1;
    }
    case OpClass::attn_shared:
      q.fam = KernelFamily::attn_shared;
      q.dtype = d;
      q.key = {op.heads, op.kv_heads, op.head_dim};
      q.x = {static_cast<double>(op.chunk), static_cast<double>(op.n_chunks), static_cast<double>(op.queries)};
      return pos(q.x[0]) && pos(q.x[1]) && pos(q.x[2]) && op.heads >= 1 && op.kv_heads >= 1;
    case OpClass::router:
      q.fam = KernelFamily::router;
      q.dtype = Dtype::bf16;
      q.key = {op.heads, op.head_dim, 0};
      q.x = {static_cast<double>(op.batch), static_cast<double>(op.n_chunks), 0};
      return (d == Dtype::bf16) && pos(q.x[0]) && pos(q.x[1]);
    case OpClass::merge:
      if (op.name != "merge") return false;
      q.fam = KernelFamily::merge;
      q.dtype = Dtype::bf16;
      q.key = {op.heads, op.head_dim, 0};
      q.x = {static_cast<double>(op.batch), static_cast<double>(op.k), 0};
      return pos(q.x[0]) && pos(q.x[1]);
    case OpClass::elementwise: {
      q.fam = KernelFamily::elementwise;
      q.dtype = d;
      q.x = {static_cast<double>(op.n), static_cast<double>(op.m), 0};
      if (!pos(q.x[0]) || !pos(q.x[1])) return false;
      std::string_view s = op.name;
      EltKernel e = EltKernel::add;
      if (s == "rmsnorm" || s == "final_norm") e = EltKernel::rmsnorm;
      else if (s == "rope") e = EltKernel::rope;
      else if (s == "silu_mul") e = EltKernel::silu_mul;
      else if (s == "residual_add") e = EltKernel::add;
      else return false;
      q.key = {static_cast<std::int64_t>(e), 0, 0};
      return true;
    }
    case OpClass::comm: return false;
  }
  return false;
}

struct Evaluator {
  const GpuSpec& gpu;
  KernelFamily fam;
  Dtype dtype;
  const std::array<std::int64_t, 3>& key;
  int dims;
  std::array<double, 3> c;  // the coordinates being evaluated (outer ones set to grid rows)
  bool clamped = false;

  double roof(const std::array<double, 3>& at) const {
    return roofline_terms(gpu, CalibrationTables::reference_op(fam, dtype, key, at)).total();
  }

  // log(seconds) of the sub-grid L (axis `a`) at c[a..].
  double eval(const Level& L, int a) {
    const std::size_t n = L.x.size();
    const double xq = c[a];
    const double lq = std::log(xq);
    auto child = [&](std::size_t i) {
      if (a + 1 == dims) return L.lt[i];
      const double saved = c[a];
      c[a] = L.x[i];
      double r = eval(L.kids[i], a + 1);
      c[a] = saved;
      return r;
    };
    constexpr double eps = 1e-12;
    if (n == 1 || lq <= L.lx.front() + eps || lq >= L.lx.back() - eps) {
      std::size_t e = (n == 1 || lq <= L.lx.front() + eps) ? 0 : n - 1;
      double r = child(e);
      if (std::abs(lq - L.lx[e]) > eps) {
        clamped = true;
        auto at = c;
        auto edge = c;
        edge[a] = L.x[e];
        r += std::log(roof(at)) - std::log(roof(edge));
      }
      return r;
    }
    std::size_t i = static_cast<std::size_t>(std::upper_bound(L.lx.begin(), L.lx.end(), lq) - L.lx.begin()) - 1;
    double w = (lq - L.lx[i]) / (L.lx[i + 1] - L.lx[i]);
    if (w <= eps) return child(i);
    if (w >= 1.0 - eps) return child(i + 1);
    return (1.0 - w) * child(i) + w * child(i + 1);
  }
};

}  // namespace

namespace {
struct Found {
  const KeyTable* table = nullptr;
  bool exact = false;
};

Found find_table(const std::vector<KeyTable>& tabs, const Query& q) {
  Found f;
  double best = 0;
  for (const auto& t : tabs) {
    if (t.dtype != q.dtype) continue;
    if (t.key == q.key) return {&t, true};
    if (q.fam == KernelFamily::elementwise) continue;  // op kinds are not "near" each other
    if (is_attention(q.fam) && t.key[2] != q.key[2]) continue;  // same head_dim only
    double dist = 0;
    for (int i = 0; i < 3; ++i) {
      if (q.key[i] > 0 && t.key[i] > 0) dist += std::abs(std::log(static_cast<double>(q.key[i])) - t.lkey[i]);
    }
    if (!f.table || dist < best) {
      f.table = &t;
      best = dist;
    }
  }
  return f;
}
}  // namespace

std::optional<double> CalibrationTables::lookup(const Op& op) const {
  if (!index_) return std::nullopt;
  Query q;
  if (!make_query(op, fp16_as_bf16_, q)) return std::nullopt;
  Found f = find_table(index_->fam[static_cast<std::size_t>(q.fam)], q);
  if (!f.table) return std::nullopt;
  Evaluator ev{gpu_, q.fam, f.table->dtype, f.table->key, f.table->dims, q.x};
  double t = std::exp(ev.eval(f.table->root, 0));
  if (!f.exact || q.scale_from_op) {
    t *= roofline_terms(gpu_, op).total() / ev.roof(q.x);
  }
  return t;
}

bool CalibrationTables::has_tables(KernelFamily f, Dtype math) const {
  if (!index_) return false;
  if (math == Dtype::fp16 && fp16_as_bf16_) math = Dtype::bf16;
  const auto& tabs = index_->fam[static_cast<std::size_t>(f)];
  return std::any_of(tabs.begin(), tabs.end(), [&](const KeyTable& t) { return t.dtype == math; });
}

bool CalibrationTables::covers(const Op& op) const {
  if (!index_) return false;
  Query q;
  if (!make_query(op, fp16_as_bf16_, q)) return false;
  Found f = find_table(index_->fam[static_cast<std::size_t>(q.fam)], q);
  if (!f.table || !f.exact || q.scale_from_op) return false;
  Evaluator ev{gpu_, q.fam, f.table->dtype, f.table->key, f.table->dims, q.x};
  ev.eval(f.table->root, 0);
  return !ev.clamped;
}

}  // namespace moska
