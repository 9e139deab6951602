#include "sim/cost/calibration.hpp"

#include <algorithm>
#include <atomic>
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
    case KernelFamily::merge_fast: return "merge_fast";
    case KernelFamily::attn_decode_lse: return "attn_decode_lse";
    case KernelFamily::attn_partial: return "attn_partial";
    case KernelFamily::kv_gather: return "kv_gather";
    case KernelFamily::moe: return "moe";
    case KernelFamily::moe_gemm: return "moe_gemm";
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
    case KernelFamily::merge_fast: return "merge_fast.csv";
    case KernelFamily::attn_decode_lse: return "attn_decode_lse.csv";
    case KernelFamily::attn_partial: return "attn_partial.csv";
    case KernelFamily::kv_gather: return "kv_gather.csv";
    case KernelFamily::moe: return "moe.csv";
    case KernelFamily::moe_gemm: return "moe_gemm.csv";
  }
  return "?";
}

bool is_attention_family(KernelFamily f) {
  return f == KernelFamily::attn_decode || f == KernelFamily::attn_prefill || f == KernelFamily::attn_shared ||
         f == KernelFamily::attn_decode_lse || f == KernelFamily::attn_partial;
}

namespace {
constexpr const char* kEltNames[] = {"rmsnorm", "rope", "silu_mul", "add", "fp8_quant"};
constexpr const char* kMoeNames[] = {"topk", "permute", "combine"};
}  // namespace

const char* elt_kernel_name(EltKernel e) {
  auto i = static_cast<std::size_t>(e);
  return i < std::size(kEltNames) ? kEltNames[i] : "?";
}

const char* moe_kernel_name(MoeKernel e) {
  auto i = static_cast<std::size_t>(e);
  return i < std::size(kMoeNames) ? kMoeNames[i] : "?";
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

std::vector<CsvRow> read_csv_strict(const std::string& path, const std::vector<std::string>& columns,
                                    const std::vector<std::string>& optional) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot be read", path));
  std::string line;
  if (!std::getline(in, line)) throw InputError(fmt::format("{}:1: empty file: expected a header line", path));
  auto header = split_commas(strip_cr(line));
  std::vector<std::string> all = columns;
  all.insert(all.end(), optional.begin(), optional.end());
  auto expected = [&] {
    return optional.empty() ? fmt::format("{}", fmt::join(columns, ","))
                            : fmt::format("{} (optional: {})", fmt::join(columns, ","), fmt::join(optional, ","));
  };
  std::vector<std::size_t> pos(all.size(), header.size());
  for (std::size_t h = 0; h < header.size(); ++h) {
    auto it = std::find(all.begin(), all.end(), header[h]);
    if (it == all.end() || pos[static_cast<std::size_t>(it - all.begin())] != header.size()) {
      throw InputError(fmt::format("{}:1: header column '{}' is unknown or repeated: expected the columns {}", path,
                                   header[h], expected()));
    }
    pos[static_cast<std::size_t>(it - all.begin())] = h;
  }
  for (std::size_t c = 0; c < columns.size(); ++c) {
    if (pos[c] == header.size()) {
      throw InputError(fmt::format("{}:1: header lacks column '{}': expected the columns {}", path, columns[c],
                                   expected()));
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
                                   header.size(), fmt::join(header, ",")));
    }
    CsvRow r;
    r.line = n;
    r.fields.resize(all.size());
    for (std::size_t c = 0; c < all.size(); ++c) {
      if (pos[c] != header.size()) r.fields[c] = f[pos[c]];
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

std::int64_t csv_int(const CsvRow& r, std::size_t i, const std::string& file, const std::string& col,
                     std::int64_t min_value, std::int64_t max_value) {
  const std::string& s = r.fields[i];
  std::int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < min_value || v > max_value) {
    bad_field(file, r.line, col, s,
              max_value == INT64_MAX ? fmt::format("an integer >= {}", min_value)
                                     : fmt::format("an integer in {}..{}", min_value, max_value));
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

// ------------------------------------------------------------------------------------------ the table reader

namespace {

// What a column of a family's CSV is: the dtype, one of the key numbers (or the key's op name), one
// of the grid axes, the time, the timing method, or a number that is read (checked) but not used.
enum class Role { dtype, key0, key1, key2, key3, op, x0, x1, x2, time_us, method, unused };
struct Col {
  const char* name;
  Role role;
};
struct Schema {
  KernelFamily fam;
  std::vector<const char*> files;  // the CSVs holding this family (in a folder)
  std::vector<Col> cols;
  int dims;
  const char* const* op_names = nullptr;  // Role::op: names in key order
  std::size_t n_op_names = 0;
  bool heads = false;  // key0 = n_heads, key1 = n_kv_heads: a divisor
};

const std::vector<Schema>& schemas() {
  static const std::vector<Col> heads = {{"n_heads", Role::key0}, {"n_kv_heads", Role::key1}, {"head_dim", Role::key2}};
  auto with = [](std::vector<Col> a, const std::vector<Col>& b) {
    a.insert(a.end(), b.begin(), b.end());
    a.push_back({"time_us", Role::time_us});
    a.push_back({"method", Role::method});
    return a;
  };
  static const std::vector<Schema> s = {
      {KernelFamily::gemm, {"gemm.csv"}, with({{"dtype", Role::dtype}, {"m", Role::x0}, {"n", Role::key0}, {"k", Role::key1}}, {}), 1},
      {KernelFamily::attn_decode, {"attn_decode.csv"}, with({{"dtype", Role::dtype}, {"batch", Role::x0}, {"ctx", Role::x1}}, heads), 2, nullptr, 0, true},
      {KernelFamily::attn_prefill, {"attn_prefill.csv"}, with({{"dtype", Role::dtype}, {"seq", Role::x0}}, heads), 1, nullptr, 0, true},
      {KernelFamily::attn_shared, {"attn_shared.csv"},
       with({{"dtype", Role::dtype}, {"n_chunks", Role::x1}, {"chunk", Role::x0}, {"queries", Role::x2}}, heads), 3, nullptr, 0, true},
      {KernelFamily::elementwise, {"elementwise.csv", "fp8_quant.csv"},
       with({{"op", Role::op}, {"dtype", Role::dtype}, {"tokens", Role::x1}, {"hidden", Role::x0}}, {}), 2, kEltNames,
       std::size(kEltNames)},
      {KernelFamily::router, {"router.csv"},
       with({{"batch", Role::x0}, {"n_chunks", Role::x1}, {"n_heads", Role::key0}, {"head_dim", Role::key1}, {"top_k", Role::unused}}, {}), 2},
      {KernelFamily::merge, {"merge.csv"},
       with({{"batch", Role::x0}, {"n_heads", Role::key0}, {"head_dim", Role::key1}, {"n_parts", Role::x1}}, {}), 2},
      {KernelFamily::merge_fast, {"merge_fast.csv"},
       with({{"batch", Role::x0}, {"n_heads", Role::key0}, {"head_dim", Role::key1}, {"n_parts", Role::x1}}, {}), 2},
      {KernelFamily::attn_decode_lse, {"attn_decode_lse.csv"}, with({{"dtype", Role::dtype}, {"batch", Role::x0}, {"ctx", Role::x1}}, heads), 2, nullptr, 0, true},
      {KernelFamily::attn_partial, {"attn_partial.csv"}, with({{"dtype", Role::dtype}, {"keys", Role::x0}, {"queries", Role::x1}}, heads), 2, nullptr, 0, true},
      {KernelFamily::kv_gather, {"kv_gather.csv"}, with({{"dtype", Role::dtype}, {"tokens", Role::x0}, {"kv_width", Role::key0}}, {}), 1},
      {KernelFamily::moe, {"moe.csv"},
       with({{"op", Role::op}, {"dtype", Role::dtype}, {"tokens", Role::x0}, {"hidden", Role::key1}, {"n_experts", Role::key2}, {"top_k", Role::key3}}, {}),
       1, kMoeNames, std::size(kMoeNames)},
      {KernelFamily::moe_gemm, {"moe_gemm.csv"},
       with({{"dtype", Role::dtype}, {"tokens", Role::x0}, {"n", Role::key0}, {"k", Role::key1}, {"n_experts", Role::key2}, {"top_k", Role::key3}}, {}), 1},
  };
  return s;
}

// A measured kernel's shape numbers (tokens, heads, experts, top-k, ...) are below 2^31: larger is a
// typo, and products of two such numbers (routed rows = tokens x top_k) must fit 64 bits.
constexpr std::int64_t kMaxShapeInt = (std::int64_t{1} << 31) - 1;

Dtype csv_dtype(const CsvRow& r, std::size_t i, const std::string& file) {
  const std::string& s = r.fields[i];
  if (s == "bf16") return Dtype::bf16;
  if (s == "fp16") return Dtype::fp16;
  if (s == "fp8") return Dtype::fp8;
  if (s == "fp32") return Dtype::fp32;
  bad_field(file, r.line, "dtype", s, "one of bf16, fp16, fp8, fp32");
}

// Every point of one file of a family, read by the family's schema.
std::vector<KernelPoint> read_table(const std::string& path, const std::string& folder, const Schema& sc) {
  std::vector<std::string> names;
  for (const auto& c : sc.cols) names.emplace_back(c.name);
  std::vector<KernelPoint> pts;
  for (const auto& r : read_csv_strict(path, names)) {
    KernelPoint p;
    p.family = sc.fam;
    p.dims = sc.dims;
    p.where = fmt::format("{}:{}", path, r.line);
    p.folder = folder;
    for (std::size_t i = 0; i < sc.cols.size(); ++i) {
      const auto& c = sc.cols[i];
      switch (c.role) {
        case Role::dtype: p.dtype = csv_dtype(r, i, path); break;
        case Role::key0: case Role::key1: case Role::key2: case Role::key3:
          p.key[static_cast<std::size_t>(c.role) - static_cast<std::size_t>(Role::key0)] = csv_int(r, i, path, c.name, 1, kMaxShapeInt);
          break;
        case Role::op: {
          auto it = std::find_if(sc.op_names, sc.op_names + sc.n_op_names, [&](const char* s) { return r.fields[i] == s; });
          if (it == sc.op_names + sc.n_op_names) {
            std::vector<std::string> ok(sc.op_names, sc.op_names + sc.n_op_names);
            bad_field(path, r.line, c.name, r.fields[i], fmt::format("one of {}", fmt::join(ok, ", ")));
          }
          p.key[0] = it - sc.op_names;
          break;
        }
        case Role::x0: case Role::x1: case Role::x2:
          p.x[static_cast<std::size_t>(c.role) - static_cast<std::size_t>(Role::x0)] =
              static_cast<double>(csv_int(r, i, path, c.name, 1, kMaxShapeInt));
          break;
        case Role::time_us: p.seconds = csv_number(r, i, path, c.name, true) * 1e-6; break;
        case Role::method:
          if (r.fields[i] != "graph" && r.fields[i] != "events") bad_field(path, r.line, c.name, r.fields[i], "graph or events");
          break;
        case Role::unused: csv_int(r, i, path, c.name, 0, kMaxShapeInt); break;
      }
    }
    if (sc.heads && p.key[0] % p.key[1] != 0) {
      auto i = static_cast<std::size_t>(std::find_if(sc.cols.begin(), sc.cols.end(), [](const Col& c) { return c.role == Role::key1; }) - sc.cols.begin());
      bad_field(path, r.line, "n_kv_heads", r.fields[i], "a divisor of n_heads");
    }
    pts.push_back(std::move(p));
  }
  return pts;
}

const Schema& schema_of(KernelFamily f) {
  for (const auto& s : schemas()) {
    if (s.fam == f) return s;
  }
  throw std::logic_error("no schema");
}

// A family's points in `dir`/`folder` (every file of its schema that exists; none: not covered).
std::vector<KernelPoint> read_family(const std::string& dir, const std::string& folder, KernelFamily fam) {
  std::vector<KernelPoint> pts;
  const auto& sc = schema_of(fam);
  for (const char* file : sc.files) {
    auto path = (std::filesystem::path(dir) / folder / file).lexically_normal().string();
    if (!std::filesystem::exists(path)) continue;
    auto v = read_table(path, folder, sc);
    pts.insert(pts.end(), std::make_move_iterator(v.begin()), std::make_move_iterator(v.end()));
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

bool has_attention_csv(const std::filesystem::path& folder) {
  for (const auto& s : schemas()) {
    if (!is_attention_family(s.fam)) continue;
    for (const char* f : s.files) {
      if (std::filesystem::exists(folder / f)) return true;
    }
  }
  return false;
}

// The elementwise kernels as our operators (reads, writes, flops per element: as operators.cpp
// emits them), so a measured point and an emitted Op of the same name have the same roofline.
struct EltShape {
  const char* op_name;
  double reads, writes, flops;
};
constexpr EltShape kElt[] = {{"rmsnorm", 1, 1, 4}, {"rope", 1, 1, 6}, {"silu_mul", 2, 1, 5}, {"residual_add", 2, 1, 1},
                             {"fp8_quant", 1, 0.5, 1}};
constexpr const char* kMoeOps[] = {"moe_topk", "moe_permute", "moe_combine"};

}  // namespace

std::vector<std::string> CalibrationTables::backends(const std::string& dir) {
  std::vector<std::string> out;
  if (dir.empty() || !std::filesystem::is_directory(dir)) return out;
  if (has_attention_csv(dir)) out.emplace_back(kDefaultAttnBackend);
  std::vector<std::string> subs;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (!e.is_directory()) continue;
    auto name = e.path().filename().string();
    if (name == "fp8" || name == kDefaultAttnBackend) continue;
    if (has_attention_csv(e.path())) subs.push_back(name);
  }
  std::sort(subs.begin(), subs.end());
  out.insert(out.end(), subs.begin(), subs.end());
  return out;
}

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
  std::array<std::int64_t, 4> key{};
  std::array<double, 4> lkey{};
  int dims = 1;
  double floor_s = 0;  // the kernel's fixed latency: min over the points of (time - roofline), >= 0
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
  std::array<std::int64_t, 4> key{};
  std::array<double, 3> x{};
  bool scale_from_op = false;  // a copy answered by the add table: scale by roofline(op)/roofline(add)
};

}  // namespace

struct CalibrationTables::Index {
  std::array<std::vector<KeyTable>, kNumKernelFamilies> fam;
  // Unique per index built in this process: find_table's cache is keyed by it, never by an address
  // that a later index could reuse.
  std::uint64_t serial = next_serial();
  static std::uint64_t next_serial() {
    static std::atomic<std::uint64_t> n{0};
    return ++n;
  }
};

CalibrationTables::CalibrationTables() = default;
CalibrationTables::~CalibrationTables() = default;
CalibrationTables::CalibrationTables(CalibrationTables&&) noexcept = default;
CalibrationTables& CalibrationTables::operator=(CalibrationTables&&) noexcept = default;

void CalibrationTables::build() {
  index_ = std::make_unique<Index>();
  // Group points by (family, dtype, key).
  std::map<std::tuple<int, int, std::array<std::int64_t, 4>>, std::vector<const KernelPoint*>> groups;
  for (const auto& p : points_) groups[{static_cast<int>(p.family), static_cast<int>(p.dtype), p.key}].push_back(&p);
  for (auto& [k, pts] : groups) {
    KeyTable t;
    t.dtype = pts.front()->dtype;
    t.key = pts.front()->key;
    t.dims = pts.front()->dims;
    for (std::size_t i = 0; i < t.key.size(); ++i) t.lkey[i] = t.key[i] > 0 ? std::log(static_cast<double>(t.key[i])) : 0.0;
    t.root = build_level(pts, 0, t.dims);
    double fl = -1;
    for (const auto* p : pts) {
      const double ex = p->seconds - roofline_terms(gpu_, reference_op(p->family, p->dtype, p->key, p->x)).total();
      if (fl < 0 || ex < fl) fl = ex;
    }
    t.floor_s = std::max(0.0, fl);
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

CalibrationTables CalibrationTables::load(const std::string& dir, const GpuSpec& gpu, const std::string& backend) {
  const std::string be = backend.empty() ? std::string(kDefaultAttnBackend) : backend;
  const bool default_be = be == kDefaultAttnBackend;
  if (!default_be) {
    auto have = backends(dir);
    if (be == "fp8" || std::find(have.begin(), have.end(), be) == have.end()) {
      throw InputError(fmt::format("attention backend '{}': no tables for {} ({} has none); measured backends: {}", be,
                                   gpu.name, (std::filesystem::path(dir) / be).string(),
                                   have.empty() ? std::string("none") : fmt::format("{}", fmt::join(have, ", "))));
    }
  }
  std::vector<KernelPoint> pts;
  for (int f = 0; f < kNumKernelFamilies; ++f) {
    const auto fam = static_cast<KernelFamily>(f);
    const std::string folder = is_attention_family(fam) && !default_be ? be : std::string();
    auto v = read_family(dir, folder, fam);
    if (is_attention_family(fam)) {
      // FP8-KV attention (fp8/) for every backend whose own tables have no fp8 rows.
      const bool own_fp8 = std::any_of(v.begin(), v.end(), [](const KernelPoint& p) { return p.dtype == Dtype::fp8; });
      if (!own_fp8) {
        for (auto& p : read_family(dir, "fp8", fam)) {
          if (p.dtype == Dtype::fp8) v.push_back(std::move(p));
        }
      }
    }
    pts.insert(pts.end(), std::make_move_iterator(v.begin()), std::make_move_iterator(v.end()));
  }
  auto t = from_points(std::move(pts), gpu);
  t.dir_ = dir;
  t.backend_ = be;
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
  t.backend_ = backend_;
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

Op CalibrationTables::reference_op(KernelFamily f, Dtype dtype, const std::array<std::int64_t, 4>& key,
                                   const std::array<double, 3>& x) {
  auto i = [](double v) { return std::max<std::int64_t>(1, std::llround(v)); };
  Precision prec = Precision::uniform(dtype == Dtype::fp32 ? Dtype::bf16 : dtype);
  if (dtype == Dtype::fp32) prec = Precision{Dtype::fp32, Dtype::fp32, Dtype::fp32};
  // FP8 attention tables: bf16 queries and outputs, e4m3 K and V.
  if (dtype == Dtype::fp8 && is_attention_family(f)) prec = Precision{Dtype::bf16, Dtype::fp8, Dtype::bf16};
  ModelSpec m;
  m.n_heads = key[0];
  switch (f) {
    case KernelFamily::gemm: return make_gemm("gemm", i(x[0]), key[0], key[1], prec, 1);
    case KernelFamily::attn_decode:
    case KernelFamily::attn_decode_lse: {
      m.n_kv_heads = key[1];
      m.head_dim = key[2];
      return f == KernelFamily::attn_decode ? make_decode_attention(m, prec, 1, i(x[0]), i(x[0]) * i(x[1]), 1)
                                            : make_micro_attention(m, prec, 1, i(x[0]), i(x[0]) * i(x[1]), 1);
    }
    case KernelFamily::attn_prefill:
      m.n_kv_heads = key[1];
      m.head_dim = key[2];
      return make_prefill_attention(m, prec, 1, i(x[0]), 0, 1);
    case KernelFamily::attn_partial:
      m.n_kv_heads = key[1];
      m.head_dim = key[2];
      return make_partial_attention(m, prec, 1, i(x[1]), i(x[0]), 1);
    case KernelFamily::attn_shared:
      m.n_kv_heads = key[1];
      m.head_dim = key[2];
      return make_shared_attention(m, prec, 1, SharedChunkGroup{i(x[1]), i(x[0]), i(x[2])}, 1);
    case KernelFamily::elementwise: {
      const auto& e = kElt[std::clamp<std::int64_t>(key[0], 0, static_cast<std::int64_t>(std::size(kElt)) - 1)];
      if (std::string_view(e.op_name) == "fp8_quant") return make_fp8_quant(i(x[1]), i(x[0]), prec, 1);
      return make_elementwise(e.op_name, i(x[1]), i(x[0]), e.reads, e.writes, e.flops, prec, 1);
    }
    case KernelFamily::router:
      // The profiler's router is Llama's GQA group of 4 (n_kv_heads = n_heads / 4), top_k = n/4.
      m.n_kv_heads = std::max<std::int64_t>(1, key[0] / 4);
      m.head_dim = key[1];
      return make_router(m, prec, 1, i(x[0]), i(x[1]), std::max<std::int64_t>(1, i(x[1]) / 4), 1);
    case KernelFamily::merge:
    case KernelFamily::merge_fast:
      m.n_kv_heads = key[0];
      m.head_dim = key[1];
      return make_merge(m, prec, 1, i(x[0]), i(x[1]), 1, f == KernelFamily::merge ? "merge_ref" : "merge");
    case KernelFamily::kv_gather:
      m.n_kv_heads = 1;
      m.head_dim = key[0];
      return make_kv_gather(m, prec, 1, i(x[0]), 1);
    case KernelFamily::moe:
      return make_moe_op(kMoeOps[std::clamp<std::int64_t>(key[0], 0, 2)], i(x[0]), key[1], key[2], key[3], prec, 1);
    case KernelFamily::moe_gemm: return make_grouped_gemm("expert", i(x[0]), key[0], key[1], key[2], key[3], prec, 1);
  }
  return Op{};
}

// ------------------------------------------------------------------------------------------ lookup

namespace {

// Operators that only move data (gathers, scatters, concatenations, cache writes).
bool is_copy(std::string_view s) {
  return s == "embedding" || s == "kv_append" || s == "kv_scatter" || s == "hidden_gather" || s == "shared_gather" ||
         s.rfind("merge_scatter", 0) == 0 || s.rfind("merge_concat", 0) == 0;
}

// Maps an Op onto the tables; false when no family can answer it.
bool make_query(const Op& op, bool fp16_as_bf16, Query& q) {
  if ((op.cls == OpClass::elementwise || op.cls == OpClass::merge) && is_copy(op.name)) {
    // A copy: the `add` table at the same shape, scaled by roofline(copy) / roofline(add).
    q.fam = KernelFamily::elementwise;
    q.dtype = Dtype::bf16;
    q.key = {static_cast<std::int64_t>(EltKernel::add), 0, 0, 0};
    q.x = {static_cast<double>(op.n), static_cast<double>(op.m), 0};
    q.scale_from_op = true;
    return op.n >= 1 && op.m >= 1;
  }
  Dtype d = op.math;
  if (d == Dtype::fp16 && fp16_as_bf16) d = Dtype::bf16;
  auto pos = [](double v) { return v >= 1.0; };
  auto heads = [&] { return std::array<std::int64_t, 4>{op.heads, op.kv_heads, op.head_dim, 0}; };
  switch (op.cls) {
    case OpClass::gemm:
      q.dtype = d;
      if (op.experts > 0) {
        q.fam = KernelFamily::moe_gemm;
        q.key = {op.n, op.k, op.experts, op.top_k};
      } else {
        q.fam = KernelFamily::gemm;
        q.key = {op.n, op.k, 0, 0};
      }
      q.x = {static_cast<double>(op.m), 0, 0};
      return op.m >= 1 && op.n >= 1 && op.k >= 1;
    case OpClass::attn_decode:
      q.fam = op.name == "attn_decode_lse" ? KernelFamily::attn_decode_lse : KernelFamily::attn_decode;
      q.dtype = d;
      q.key = heads();
      q.x = {static_cast<double>(op.batch), static_cast<double>(op.ctx), 0};
      return pos(q.x[0]) && pos(q.x[1]) && op.heads >= 1 && op.kv_heads >= 1;
    case OpClass::attn_prefill: {
      q.dtype = d;
      q.key = heads();
      if (op.name == "attn_partial") {
        q.fam = KernelFamily::attn_partial;
        q.x = {static_cast<double>(op.ctx), static_cast<double>(op.m), 0};
        return pos(q.x[0]) && pos(q.x[1]) && op.heads >= 1 && op.kv_heads >= 1;
      }
      q.fam = KernelFamily::attn_prefill;
      double m = static_cast<double>(op.m), c = static_cast<double>(op.ctx);
      q.x = {std::sqrt(2.0 * m * c + m * m), 0, 0};  // a causal prompt with the same FLOPs
      return pos(q.x[0]) && op.heads >= 1 && op.kv_heads >= 1;
    }
    case OpClass::attn_shared:
      q.fam = KernelFamily::attn_shared;
      q.dtype = d;
      q.key = heads();
      q.x = {static_cast<double>(op.chunk), static_cast<double>(op.n_chunks), static_cast<double>(op.queries)};
      return pos(q.x[0]) && pos(q.x[1]) && pos(q.x[2]) && op.heads >= 1 && op.kv_heads >= 1;
    case OpClass::router:
      q.fam = KernelFamily::router;
      q.dtype = Dtype::bf16;
      q.key = {op.heads, op.head_dim, 0, 0};
      q.x = {static_cast<double>(op.batch), static_cast<double>(op.n_chunks), 0};
      return (d == Dtype::bf16) && pos(q.x[0]) && pos(q.x[1]);
    case OpClass::merge:
      if (op.name == "merge") q.fam = KernelFamily::merge_fast;
      else if (op.name == "merge_ref") q.fam = KernelFamily::merge;
      else return false;
      q.dtype = Dtype::bf16;
      q.key = {op.heads, op.head_dim, 0, 0};
      q.x = {static_cast<double>(op.batch), static_cast<double>(op.k), 0};
      return pos(q.x[0]) && pos(q.x[1]);
    case OpClass::moe: {
      q.fam = KernelFamily::moe;
      q.dtype = Dtype::bf16;
      auto it = std::find_if(std::begin(kMoeOps), std::end(kMoeOps), [&](const char* s) { return op.name == s; });
      if (it == std::end(kMoeOps)) return false;
      q.key = {it - std::begin(kMoeOps), op.n, op.experts, op.top_k};
      q.x = {static_cast<double>(op.m), 0, 0};
      return (d == Dtype::bf16) && pos(q.x[0]) && op.n >= 1 && op.experts >= 1 && op.top_k >= 1;
    }
    case OpClass::elementwise: {
      if (op.name == "kv_gather") {
        q.fam = KernelFamily::kv_gather;
        q.dtype = d;
        q.key = {op.n, 0, 0, 0};
        q.x = {static_cast<double>(op.m), 0, 0};
        return pos(q.x[0]) && op.n >= 1;
      }
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
      else if (s == "fp8_quant") e = EltKernel::fp8_quant;
      else return false;
      q.key = {static_cast<std::int64_t>(e), 0, 0, 0};
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
  const std::array<std::int64_t, 4>& key;
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

struct Found {
  const KeyTable* table = nullptr;
  bool exact = false;
};

Found find_table_uncached(const std::vector<KeyTable>& tabs, const Query& q) {
  Found f;
  double best = 0;
  for (const auto& t : tabs) {
    if (t.dtype != q.dtype) continue;
    if (t.key == q.key) return {&t, true};
    // Op kinds are not "near" each other; attention only near the same head_dim.
    if ((q.fam == KernelFamily::elementwise || q.fam == KernelFamily::moe) && t.key[0] != q.key[0]) continue;
    if (is_attention_family(q.fam) && t.key[2] != q.key[2]) continue;
    double dist = 0;
    for (std::size_t i = 0; i < q.key.size(); ++i) {
      if (q.key[i] > 0 && t.key[i] > 0) dist += std::abs(std::log(static_cast<double>(q.key[i])) - t.lkey[i]);
    }
    if (!f.table || dist < best) {
      f.table = &t;
      best = dist;
    }
  }
  return f;
}

// The table answering a query depends only on (tables, family, dtype, key): a serving run asks the
// same few keys millions of times (decode attention every step), and choosing the nearest table of
// an unmeasured head layout costs four logs per table. A small per-thread cache remembers the last
// answers (the tables never change once loaded; the cache holds no ownership).
Found find_table(std::uint64_t serial, const std::vector<KeyTable>& tabs, const Query& q) {
  struct Entry {
    std::uint64_t serial = 0;
    KernelFamily fam{};
    Dtype dtype{};
    std::array<std::int64_t, 4> key{};
    Found found;
  };
  constexpr std::size_t kEntries = 16;
  thread_local std::array<Entry, kEntries> cache{};
  thread_local std::size_t next = 0;
  for (const auto& e : cache) {
    if (e.serial == serial && e.fam == q.fam && e.dtype == q.dtype && e.key == q.key) return e.found;
  }
  const Found f = find_table_uncached(tabs, q);
  cache[next] = Entry{serial, q.fam, q.dtype, q.key, f};
  next = (next + 1) % kEntries;
  return f;
}

}  // namespace

std::optional<KernelFamily> CalibrationTables::family_of(const Op& op) const {
  Query q;
  if (!make_query(op, fp16_as_bf16_, q)) return std::nullopt;
  if (q.fam == KernelFamily::attn_decode_lse && index_ && index_->fam[static_cast<std::size_t>(q.fam)].empty()) {
    return KernelFamily::attn_decode;
  }
  return q.fam;
}

std::optional<double> CalibrationTables::lookup(const Op& op) const {
  if (!index_) return std::nullopt;
  Query q;
  if (!make_query(op, fp16_as_bf16_, q)) return std::nullopt;
  // The micro-attention (decode returning the LSE) where the backend measured only plain decode.
  if (q.fam == KernelFamily::attn_decode_lse && index_->fam[static_cast<std::size_t>(q.fam)].empty()) {
    q.fam = KernelFamily::attn_decode;
  }
  Found f = find_table(index_->serial, index_->fam[static_cast<std::size_t>(q.fam)], q);
  if (!f.table) return std::nullopt;
  Evaluator ev{gpu_, q.fam, f.table->dtype, f.table->key, f.table->dims, q.x};
  double t = std::exp(ev.eval(f.table->root, 0));
  if (!f.exact && is_attention_family(q.fam)) {
    // Another head layout (a TP shard's heads): the roofline ratio, with the kernel's fixed latency
    // (the table's smallest excess over the roofline) added to both sides, so a latency-bound small
    // shape is not scaled as if it were bandwidth-bound.
    const double c = f.table->floor_s;
    t *= (roofline_terms(gpu_, op).total() + c) / (ev.roof(q.x) + c);
  } else if (!f.exact || q.scale_from_op) {
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
  if (q.fam == KernelFamily::attn_decode_lse && index_->fam[static_cast<std::size_t>(q.fam)].empty()) {
    q.fam = KernelFamily::attn_decode;
  }
  Found f = find_table(index_->serial, index_->fam[static_cast<std::size_t>(q.fam)], q);
  if (!f.table || !f.exact || q.scale_from_op) return false;
  Evaluator ev{gpu_, q.fam, f.table->dtype, f.table->key, f.table->dims, q.x};
  ev.eval(f.table->root, 0);
  return !ev.clamped;
}

}  // namespace moska
