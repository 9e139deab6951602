#include "sim/analysis/validate.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include "sim/cost/calibration.hpp"
#include "sim/analysis/predict.hpp"
#include "sim/cost/roofline.hpp"
#include "sim/hw/gpu.hpp"
#include "sim/model/model_spec.hpp"
#include "sim/model/operators.hpp"
#include "sim/util/error.hpp"
#include "sim/util/json_reader.hpp"

namespace moska {

namespace {

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  std::size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

double ape(double measured, double predicted) { return 100.0 * std::abs(predicted - measured) / measured; }

bool one_of(double v, std::initializer_list<double> set) {
  return std::find(set.begin(), set.end(), v) != set.end();
}

// The profiler's off-grid sizes (tools/profile_kernels.py), used as a held-out set.
bool held_out(const KernelPoint& p) {
  switch (p.family) {
    case KernelFamily::gemm: return one_of(p.x[0], {3, 24, 96, 384, 1536, 6144, 12288});
    case KernelFamily::attn_decode: return one_of(p.x[1], {3000, 24576});
    case KernelFamily::attn_prefill: return one_of(p.x[0], {3000, 12000});
    case KernelFamily::attn_shared: return one_of(p.x[2], {3, 48, 384});
    case KernelFamily::elementwise: return one_of(p.x[1], {48, 3000});
    case KernelFamily::moe:
    case KernelFamily::moe_gemm: return one_of(p.x[0], {3, 24, 96, 384, 3000});
    case KernelFamily::attn_partial: return one_of(p.x[0], {3072});
    case KernelFamily::kv_gather: return one_of(p.x[0], {3072});
    case KernelFamily::attn_decode_lse: return one_of(p.x[1], {2048, 65536});
    default: return false;
  }
}

std::string label(const KernelPoint& p) {
  auto i = [](double v) { return static_cast<long long>(std::llround(v)); };
  switch (p.family) {
    case KernelFamily::gemm:
      return fmt::format("{} m={} n={} k={}", dtype_name(p.dtype), i(p.x[0]), p.key[0], p.key[1]);
    case KernelFamily::attn_decode:
    case KernelFamily::attn_decode_lse:
      return fmt::format("b={} ctx={} h={}/{}", i(p.x[0]), i(p.x[1]), p.key[0], p.key[1]);
    case KernelFamily::attn_partial:
      return fmt::format("m={} L={} h={}/{}", i(p.x[1]), i(p.x[0]), p.key[0], p.key[1]);
    case KernelFamily::merge_fast: return fmt::format("b={} parts={} h={}", i(p.x[0]), i(p.x[1]), p.key[0]);
    case KernelFamily::kv_gather: return fmt::format("t={} w={}", i(p.x[0]), p.key[0]);
    case KernelFamily::moe:
      return fmt::format("{} t={}", moe_kernel_name(static_cast<MoeKernel>(p.key[0])), i(p.x[0]));
    case KernelFamily::moe_gemm: return fmt::format("t={} n={} k={}", i(p.x[0]), p.key[0], p.key[1]);
    case KernelFamily::attn_prefill: return fmt::format("seq={} h={}/{}", i(p.x[0]), p.key[0], p.key[1]);
    case KernelFamily::attn_shared:
      return fmt::format("chunks={} chunk={} q={} h={}/{}", i(p.x[1]), i(p.x[0]), i(p.x[2]), p.key[0], p.key[1]);
    case KernelFamily::elementwise:
      return fmt::format("{} t={} h={}", elt_kernel_name(static_cast<EltKernel>(p.key[0])), i(p.x[1]), i(p.x[0]));
    case KernelFamily::router: return fmt::format("b={} n={}", i(p.x[0]), i(p.x[1]));
    case KernelFamily::merge: return fmt::format("b={} parts={}", i(p.x[0]), i(p.x[1]));
  }
  return "?";
}

Op point_op(const KernelPoint& p) { return CalibrationTables::reference_op(p.family, p.dtype, p.key, p.x); }

std::string composite_label(const CompositeCheck& c) {
  std::string tag;
  if (c.model != "llama-3.1-8b") tag += " " + c.model;
  if (c.tp > 1) tag += fmt::format(" tp{}", c.tp);
  if (c.backend != "flash2") tag += " " + c.backend;
  if (c.dtype != "bf16") tag += " " + c.dtype;
  if (c.kind == "moska" && c.merge == "fast") tag += " fast";
  if (c.kind == "prefill" || c.kind == "prefill-shard") return fmt::format("{}{} {}", c.kind, tag, c.prefill);
  if (c.kind == "partial") return fmt::format("partial{} P={} r={:g}", tag, c.prefill, c.recompute);
  if (c.kind == "decode" || c.kind == "decode-shard") return fmt::format("{}{} b={} ctx={}", c.kind, tag, c.batch, c.ctx);
  return fmt::format("moska{} b={} shared={} sp={:g}", tag, c.batch, c.shared, c.sparsity);
}

// The step's shape, six columns from `first`: batch, ctx, prefill, shared, chunk, sparsity.
void read_step_shape(const CsvRow& row, std::size_t first, const std::string& path, CompositeCheck& c) {
  c.batch = csv_int(row, first, path, "batch", 1);
  c.ctx = csv_int(row, first + 1, path, "ctx", 0);
  c.prefill = csv_int(row, first + 2, path, "prefill", 0);
  c.shared = csv_int(row, first + 3, path, "shared", 0);
  c.chunk = csv_int(row, first + 4, path, "chunk", 0);
  c.sparsity = csv_number(row, first + 5, path, "sparsity", false);
}

// The family a composite is reported in: its kind, then what differs from Llama-3.1-8B bf16 flash2.
std::string composite_group(const CompositeCheck& c) {
  std::string g = c.kind;
  if (c.model != "llama-3.1-8b") g = c.model + " " + g;
  if (c.backend != "flash2") g += " " + c.backend;
  if (c.dtype != "bf16") g += " " + c.dtype;
  if (c.kind == "moska" && c.merge == "fast") g += " fast";
  return g;
}

// The profiler times some decode rows whose KV would not fit in HBM by rotating 2-4 KV buffers
// (meta.json notes.composite.kv_alloc); predict() refuses such a batch. Time does not depend on
// capacity, so composites are predicted against a copy of the profile whose only change is a
// capacity large enough for every row (and the tables folder given as an absolute path).
class UnboundedProfile {
 public:
  explicit UnboundedProfile(const HardwareProfile& hw) {
    auto j = load_json_file(hw.path);
    j["gpu"]["hbm_bytes"]["value"] = 1e18;
    j["gpu"]["hbm_bytes"]["source"] = "moska-sim validate: capacity check lifted (composites with rotated KV buffers)";
    j["calibration"] = std::filesystem::absolute(hw.calibration_dir).string();
    path_ = (std::filesystem::temp_directory_path() /
             fmt::format("moska-validate-{}-{}.json", static_cast<long>(::getpid()), hw.gpu.name))
                .string();
    std::ofstream(path_) << j.dump(1);
  }
  ~UnboundedProfile() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  UnboundedProfile(const UnboundedProfile&) = delete;
  UnboundedProfile& operator=(const UnboundedProfile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace

ErrorStats error_stats(const std::string& name, const std::vector<double>& measured, const std::vector<double>& predicted,
                       const std::vector<std::string>& labels) {
  ErrorStats s;
  s.name = name;
  s.count = measured.size();
  std::vector<double> e;
  for (std::size_t i = 0; i < measured.size(); ++i) {
    e.push_back(ape(measured[i], predicted[i]));
    if (e.back() >= s.max_ape) {
      s.max_ape = e.back();
      if (i < labels.size()) s.worst = labels[i];
    }
  }
  s.median_ape = median(e);
  return s;
}

ValidationReport validate(const std::string& hw_name) {
  ValidationReport r;
  HardwareProfile hw = load_hardware(hw_name);
  r.hw = hw.gpu.name;
  r.profile_path = hw.path;
  r.tables_dir = hw.calibration_dir;
  if (hw.calibration_dir.empty()) return r;
  const GpuSpec& gpu = hw.gpu;
  auto tables = CalibrationTables::load(hw.calibration_dir, gpu);
  r.tables_summary = tables.summary();

  // ---- kernels: leave-one-out per family, then the held-out shapes; per attention backend (each
  // backend's own folder) and FP8 KV (fp8/, validated once, with the default backend's tables).
  std::vector<double> all_m, all_p, ho_m, ho_p;
  auto backends = CalibrationTables::backends(hw.calibration_dir);
  if (std::find(backends.begin(), backends.end(), kDefaultAttnBackend) == backends.end()) {
    backends.insert(backends.begin(), kDefaultAttnBackend);
  }
  for (const auto& be : backends) {
    const bool dflt = be == kDefaultAttnBackend;
    auto bt = dflt ? CalibrationTables() : CalibrationTables::load(hw.calibration_dir, gpu, be);
    const auto& source = dflt ? tables : bt;
    for (const std::string& folder : {std::string(dflt ? "" : be), std::string(dflt ? "fp8" : "-")}) {
      for (int fi = 0; fi < kNumKernelFamilies; ++fi) {
        auto fam = static_cast<KernelFamily>(fi);
        std::vector<KernelPoint> pts;
        for (const auto& p : source.points()) {
          if (p.family == fam && p.folder == folder) pts.push_back(p);
        }
        if (pts.empty()) continue;
        const std::string name = folder.empty() ? kernel_family_name(fam) : folder + "/" + kernel_family_name(fam);
        std::vector<double> m, pr;
        std::vector<std::string> labels;
        for (std::size_t i = 0; i < pts.size(); ++i) {
          std::vector<KernelPoint> rest;
          rest.reserve(pts.size() - 1);
          for (std::size_t j = 0; j < pts.size(); ++j) {
            if (j != i) rest.push_back(pts[j]);
          }
          auto tt = CalibrationTables::from_points(std::move(rest), gpu);
          Op op = point_op(pts[i]);
          auto v = tt.lookup(op);
          m.push_back(pts[i].seconds);
          pr.push_back(v ? *v : roofline_terms(gpu, op).total());
          labels.push_back(label(pts[i]));
        }
        r.kernels.push_back(error_stats(name, m, pr, labels));
        all_m.insert(all_m.end(), m.begin(), m.end());
        all_p.insert(all_p.end(), pr.begin(), pr.end());

        std::vector<KernelPoint> train;
        std::vector<const KernelPoint*> test;
        for (const auto& p : pts) {
          if (held_out(p)) test.push_back(&p);
          else train.push_back(p);
        }
        if (test.empty()) continue;
        auto tt = CalibrationTables::from_points(std::move(train), gpu);
        std::vector<double> hm, hp;
        std::vector<std::string> hl;
        for (const auto* p : test) {
          Op op = point_op(*p);
          auto v = tt.lookup(op);
          hm.push_back(p->seconds);
          hp.push_back(v ? *v : roofline_terms(gpu, op).total());
          hl.push_back(label(*p));
        }
        r.held_out.push_back(error_stats(name, hm, hp, hl));
        ho_m.insert(ho_m.end(), hm.begin(), hm.end());
        ho_p.insert(ho_p.end(), hp.begin(), hp.end());
      }
    }
  }
  r.kernels_all = error_stats("all", all_m, all_p);
  r.held_out_all = error_stats("held-out", ho_m, ho_p);

  // ---- composites: whole iterations through predict() (as the measurement ran them).
  std::string cpath = (std::filesystem::path(hw.calibration_dir) / "composite.csv").string();
  std::string xpath = (std::filesystem::path(hw.calibration_dir) / "composite_ext.csv").string();
  if (std::filesystem::exists(cpath) || std::filesystem::exists(xpath)) {
    UnboundedProfile unbounded(hw);
    auto run = [&](CompositeCheck& c) {
      PredictRequest req;
      req.model = c.model;
      req.hw = unbounded.path();
      req.dtype = c.dtype;
      req.kv_dtype = c.kv_dtype;
      req.attn_backend = c.backend;
      req.merge = c.merge;
      const bool shard = c.kind == "decode-shard" || c.kind == "prefill-shard";
      req.tp = c.tp;
      if (c.kind == "partial") {
        // A partial-recompute prefill: the operator list of sim/model, costed directly.
        ModelSpec m = load_model(c.model);
        Precision prec = Precision::uniform(parse_dtype(c.dtype, "dtype"));
        prec.kv = parse_dtype(c.kv_dtype, "kv_dtype");
        const auto rec = std::max<std::int64_t>(1, std::llround(c.recompute * static_cast<double>(c.prefill)));
        auto ops = build_partial_recompute_ops(m, prec, c.prefill, rec, c.tp);
        auto hwp = load_hardware(unbounded.path());
        CostModel cal(hwp, true, CostOptions{c.backend});
        auto ic = cal.iteration(ops);
        c.predicted_s = ic.seconds;
        c.measured_share = ic.measured_fraction;
        c.roofline_s = CostModel(hwp, false).iteration(ops).seconds;
        return;
      }
      if (c.kind == "prefill" || c.kind == "prefill-shard") {
        req.prefill_tokens = c.prefill;
        req.batch = c.batch;
        req.ctx = c.ctx;
      } else {
        // The profiler's ctx is the KV length including the new token, as --ctx is.
        req.batch = c.batch;
        req.ctx = c.ctx;
        if (c.kind == "moska") {
          req.shared_tokens = c.shared;
          req.chunk_tokens = c.chunk;
          req.sparsity = c.sparsity;
        }
      }
      // A TP rank measured alone ran no collective: its prediction is the rank's kernels.
      auto cal = predict(req);
      const auto comm = static_cast<std::size_t>(OpClass::comm);
      c.predicted_s = cal.cost.seconds - (shard ? cal.cost.by_class_s[comm] : 0.0);
      c.measured_share = cal.cost.measured_fraction;
      req.use_calibration = false;
      auto rf = predict(req);
      c.roofline_s = rf.cost.seconds - (shard ? rf.cost.by_class_s[comm] : 0.0);
    };
    if (std::filesystem::exists(cpath)) {
      auto rows = read_csv_strict(cpath, {"kind", "batch", "ctx", "prefill", "shared", "chunk", "sparsity", "dtype",
                                          "time_us", "time_us_eager"});
      for (const auto& row : rows) {
        CompositeCheck c;
        c.kind = row.fields[0];
        if (c.kind != "decode" && c.kind != "prefill" && c.kind != "moska") {
          throw InputError(fmt::format("{}:{}: column 'kind' is '{}': expected decode, prefill or moska", cpath, row.line,
                                       c.kind));
        }
        c.model = r.composite_model;
        read_step_shape(row, 1, cpath, c);
        c.dtype = c.kv_dtype = row.fields[7];
        c.merge = "reference";  // composite.csv's MoSKA iterations ran the unfused PyTorch merge
        c.measured_s = csv_number(row, 8, cpath, "time_us", true) * 1e-6;
        c.where = fmt::format("{}:{}", cpath, row.line);
        c.group = composite_group(c);
        run(c);
        r.composites.push_back(c);
      }
    }
    if (std::filesystem::exists(xpath)) {
      auto rows = read_csv_strict(xpath, {"kind", "model", "backend", "dtype", "kv_dtype", "tp", "batch", "ctx", "prefill",
                                          "shared", "chunk", "sparsity", "recompute", "merge", "time_us", "time_us_eager"});
      for (const auto& row : rows) {
        CompositeCheck c;
        c.kind = row.fields[0];
        static const std::vector<std::string> kinds = {"decode", "prefill", "moska", "partial", "decode-shard", "prefill-shard"};
        if (std::find(kinds.begin(), kinds.end(), c.kind) == kinds.end()) {
          throw InputError(fmt::format("{}:{}: column 'kind' is '{}': expected {}", xpath, row.line, c.kind,
                                       fmt::join(kinds, ", ")));
        }
        c.model = row.fields[1];
        c.backend = row.fields[2];
        c.dtype = row.fields[3];
        c.kv_dtype = row.fields[4];
        c.tp = static_cast<int>(csv_int(row, 5, xpath, "tp", 1));
        read_step_shape(row, 6, xpath, c);
        c.recompute = csv_number(row, 12, xpath, "recompute", false);
        c.merge = row.fields[13] == "-" ? "fast" : row.fields[13];
        c.measured_s = csv_number(row, 14, xpath, "time_us", true) * 1e-6;
        c.where = fmt::format("{}:{}", xpath, row.line);
        c.group = composite_group(c);
        run(c);
        r.composites.push_back(c);
      }
    }
    std::vector<std::string> groups;
    for (const auto& c : r.composites) {
      if (std::find(groups.begin(), groups.end(), c.group) == groups.end()) groups.push_back(c.group);
    }
    groups.push_back("all");
    for (const auto& g : groups) {
      std::vector<double> m, p, q;
      std::vector<std::string> l;
      for (const auto& c : r.composites) {
        if (g != "all" && c.group != g) continue;
        m.push_back(c.measured_s);
        p.push_back(c.predicted_s);
        q.push_back(c.roofline_s);
        l.push_back(composite_label(c));
      }
      r.composite_stats.push_back(error_stats(g, m, p, l));
      r.roofline_stats.push_back(error_stats(g, m, q, l));
    }
  }

  // ---- the roofline fallback's parameters, as the measurements give them.
  const auto& rp = gpu.roofline;
  for (const auto& c : tables.ceilings()) {
    if (c.kind == "gemm_bf16" && gpu.peak_flops.count(Dtype::bf16)) {
      r.fit.push_back({"gemm_compute_efficiency", rp.gemm_compute_eff, c.rate / gpu.peak(Dtype::bf16),
                       fmt::format("ceilings.csv gemm_bf16: 8192^3 at {:.0f} TFLOP/s / {:.1f} peak", c.rate / 1e12,
                                   gpu.peak(Dtype::bf16) / 1e12)});
    }
    if (c.kind == "copy") {
      r.fit.push_back({"memory_efficiency", rp.memory_eff, c.rate / gpu.hbm_bw_bps,
                       fmt::format("ceilings.csv copy: {:.2f} TB/s / {:.2f} TB/s", c.rate / 1e12, gpu.hbm_bw_bps / 1e12)});
    }
  }
  {
    // Attention: achieved/peak of the largest causal prefill of each head configuration.
    std::vector<double> eff;
    std::vector<const KernelPoint*> best;
    for (const auto& p : tables.points()) {
      if (p.family != KernelFamily::attn_prefill || p.dtype != Dtype::bf16) continue;
      auto it = std::find_if(best.begin(), best.end(), [&](const KernelPoint* b) { return b->key == p.key; });
      if (it == best.end()) best.push_back(&p);
      else if (p.x[0] > (*it)->x[0]) *it = &p;
    }
    for (const auto* p : best) eff.push_back(point_op(*p).flops / p->seconds / gpu.peak(Dtype::bf16));
    if (!eff.empty()) {
      r.fit.push_back({"attention_compute_efficiency", rp.attn_compute_eff, median(eff),
                       fmt::format("attn_prefill.csv: median over {} head configs of the largest prompt's causal FLOPs / time / peak",
                                   eff.size())});
    }
  }
  {
    // Per-kernel overhead: the time of one tiny kernel (add of <= 64 tokens, graph-timed) less its
    // memory time at the copy ceiling.
    std::vector<double> ov;
    double bw = gpu.hbm_bw_bps * rp.memory_eff;
    for (const auto& p : tables.points()) {
      if (p.family == KernelFamily::elementwise && p.key[0] == static_cast<std::int64_t>(EltKernel::add) && p.x[1] <= 64) {
        ov.push_back(p.seconds - point_op(p).bytes / bw);
      }
    }
    if (!ov.empty()) {
      r.fit.push_back({"kernel_overhead_s", rp.kernel_overhead_s, median(ov),
                       fmt::format("elementwise.csv: median over the {} `add` kernels of <= 64 tokens of time - bytes/bandwidth",
                                   ov.size())});
    }
  }
  {
    // Per-iteration overhead: what the batch-1 decode iterations (the smallest, so the ones where it
    // shows most) take beyond the sum of their predicted kernels. Information only: the profile
    // value is not set from it (the composites are the validation set).
    std::vector<double> res;
    for (const auto& c : r.composites) {
      if (c.group == "decode" && c.batch == 1) res.push_back(c.measured_s - (c.predicted_s - rp.iteration_overhead_s));
    }
    if (!res.empty()) {
      r.fit.push_back({"iteration_overhead_s", rp.iteration_overhead_s, median(res),
                       fmt::format("composite.csv: median over the {} batch-1 decode rows of measured - predicted "
                                   "kernels (information only)",
                                   res.size())});
    }
  }
  return r;
}

std::string validate_table(const ValidationReport& r) {
  std::string out;
  auto line = [&](const std::string& s) { out += s + "\n"; };
  if (r.tables_dir.empty()) {
    line(fmt::format("moska-sim validate: {} has no kernel measurements (no \"calibration\" folder in {}): nothing to "
                     "validate. Its predictions are roofline only; see tools/PROFILING.md to measure it.",
                     r.hw, r.profile_path));
    return out;
  }
  auto rel = [](const std::string& p) {
    auto root = std::filesystem::path(MOSKA_SOURCE_DIR);
    auto rp = std::filesystem::path(p).lexically_relative(root);
    return rp.empty() || rp.string().rfind("..", 0) == 0 ? p : rp.string();
  };
  line(fmt::format("moska-sim validate: {} — measured tables in {} ({})", r.hw, rel(r.tables_dir), r.tables_summary));
  line("APE = |predicted - measured| / measured");
  line("");
  auto stats_head = [&](const std::string& what) {
    line(what);
    line(fmt::format("  {:<24} {:>6} {:>11} {:>9}  {}", "family", "points", "median APE", "max APE", "worst point"));
  };
  auto stats_row = [&](const ErrorStats& s) {
    line(fmt::format("  {:<24} {:>6} {:>10.1f}% {:>8.1f}%  {}", s.name, s.count, s.median_ape, s.max_ape, s.worst));
  };
  stats_head("kernels, leave-one-out (each point predicted from its family's tables without that point):");
  for (const auto& s : r.kernels) stats_row(s);
  stats_row(r.kernels_all);
  line("");
  stats_head("held-out shapes (gemm m 3,24,96,384,1536,6144,12288; decode ctx 3000,24576; prefill seq 3000,12000;\n"
             "  shared queries 3,48,384; elementwise tokens 48,3000; moe tokens 3,24,96,384,3000; partial and kv_gather\n"
             "  L 3072; decode_lse ctx 2048,65536), predicted from tables without any of them:");
  for (const auto& s : r.held_out) stats_row(s);
  stats_row(r.held_out_all);
  if (!r.composites.empty()) {
    line("");
    line("composite iterations (CUDA-graph time) predicted through `predict`, as each ran (model, backend, dtypes,");
    line("  TP, merge); composite.csv: Llama-3.1-8B bf16 flash2 (MoSKA with the reference merge); composite_ext.csv: the rest:");
    line(fmt::format("  {:<28} {:>6} {:>11} {:>9}   {:>12} {:>9}", "family", "points", "median APE", "max APE",
                     "roofline med", "rf max"));
    for (std::size_t i = 0; i < r.composite_stats.size(); ++i) {
      const auto& c = r.composite_stats[i];
      const auto& f = r.roofline_stats[i];
      line(fmt::format("  {:<28} {:>6} {:>10.1f}% {:>8.1f}%   {:>11.1f}% {:>8.1f}%", c.name, c.count, c.median_ape,
                       c.max_ape, f.median_ape, f.max_ape));
    }
    line("");
    line(fmt::format("  {:<44} {:>12} {:>12} {:>7} {:>12} {:>7} {:>9}", "point", "measured ms", "predicted ms", "APE",
                     "roofline ms", "APE", "measured"));
    for (const auto& c : r.composites) {
      line(fmt::format("  {:<44} {:>12.3f} {:>12.3f} {:>6.1f}% {:>12.3f} {:>6.1f}% {:>8.0f}%", composite_label(c),
                       c.measured_s * 1e3, c.predicted_s * 1e3,
                       100 * (c.predicted_s - c.measured_s) / c.measured_s, c.roofline_s * 1e3,
                       100 * (c.roofline_s - c.measured_s) / c.measured_s, 100 * c.measured_share));
    }
  }
  if (!r.fit.empty()) {
    line("");
    line("roofline fallback parameters (hardware profile vs what the measurements give):");
    line(fmt::format("  {:<30} {:>12} {:>12}  {}", "key", "profile", "measured", "how"));
    for (const auto& f : r.fit) {
      line(fmt::format("  {:<30} {:>12.4g} {:>12.4g}  {}", f.key, f.profile, f.fitted, f.how));
    }
  }
  return out;
}

nlohmann::json validate_json(const ValidationReport& r) {
  nlohmann::json j;
  j["hw"] = r.hw;
  j["profile"] = r.profile_path;
  if (r.tables_dir.empty()) {
    j["tables"] = nullptr;
    j["note"] = "no kernel measurements for this GPU: nothing to validate (predictions are roofline only)";
    return j;
  }
  j["tables"] = r.tables_dir;
  j["tables_summary"] = r.tables_summary;
  auto stats = [](const ErrorStats& s) {
    return nlohmann::json{{"name", s.name}, {"count", s.count}, {"median_ape_pct", s.median_ape},
                          {"max_ape_pct", s.max_ape}, {"worst", s.worst}};
  };
  j["kernels_leave_one_out"] = nlohmann::json::array();
  for (const auto& s : r.kernels) j["kernels_leave_one_out"].push_back(stats(s));
  j["kernels_leave_one_out"].push_back(stats(r.kernels_all));
  j["held_out"] = nlohmann::json::array();
  for (const auto& s : r.held_out) j["held_out"].push_back(stats(s));
  j["held_out"].push_back(stats(r.held_out_all));
  j["composite_model"] = r.composite_model;
  j["composites"] = nlohmann::json::array();
  for (const auto& c : r.composites) {
    j["composites"].push_back({{"kind", c.kind}, {"group", c.group}, {"model", c.model}, {"backend", c.backend},
                               {"dtype", c.dtype}, {"kv_dtype", c.kv_dtype}, {"tp", c.tp}, {"merge", c.merge},
                               {"recompute", c.recompute}, {"batch", c.batch}, {"ctx", c.ctx}, {"prefill", c.prefill},
                               {"shared", c.shared}, {"chunk", c.chunk}, {"sparsity", c.sparsity},
                               {"measured_s", c.measured_s}, {"predicted_s", c.predicted_s},
                               {"roofline_s", c.roofline_s}, {"measured_share", c.measured_share},
                               {"where", c.where}});
  }
  j["composite_stats"] = nlohmann::json::array();
  for (const auto& s : r.composite_stats) j["composite_stats"].push_back(stats(s));
  j["roofline_only_stats"] = nlohmann::json::array();
  for (const auto& s : r.roofline_stats) j["roofline_only_stats"].push_back(stats(s));
  j["fit"] = nlohmann::json::array();
  for (const auto& f : r.fit) {
    j["fit"].push_back({{"key", f.key}, {"profile", f.profile}, {"measured", f.fitted}, {"how", f.how}});
  }
  return j;
}

}  // namespace moska
