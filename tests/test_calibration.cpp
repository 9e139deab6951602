// Measured tables: interpolation on tables written here, strict CSV reading, the fallback rule,
// and the model against the H100 measurements (hw_profiles/h100-sxm).
#include <catch2/catch.hpp>

#include "tests/cli_run.hpp"

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "sim/cost/calibration.hpp"
#include "sim/cost/cost_model.hpp"
#include "sim/analysis/predict.hpp"
#include "sim/cost/roofline.hpp"
#include "sim/analysis/validate.hpp"
#include "sim/hw/gpu.hpp"
#include "sim/model/model_spec.hpp"
#include "sim/util/error.hpp"

using namespace moska;

namespace {

KernelPoint gemm_point(std::int64_t m, std::int64_t n, std::int64_t k, double us) {
  KernelPoint p;
  p.family = KernelFamily::gemm;
  p.dtype = Dtype::bf16;
  p.key = {n, k, 0};
  p.x = {static_cast<double>(m), 0, 0};
  p.dims = 1;
  p.seconds = us * 1e-6;
  p.where = "test";
  return p;
}

KernelPoint decode_point(std::int64_t batch, std::int64_t ctx, double us) {
  KernelPoint p;
  p.family = KernelFamily::attn_decode;
  p.dtype = Dtype::bf16;
  p.key = {32, 8, 128};
  p.x = {static_cast<double>(batch), static_cast<double>(ctx), 0};
  p.dims = 2;
  p.seconds = us * 1e-6;
  p.where = "test";
  return p;
}

const Precision kBf16 = Precision::uniform(Dtype::bf16);

std::string temp_dir(const std::string& name) {
  auto d = std::filesystem::temp_directory_path() / ("moska_test_cal_" + name);
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d.string();
}

using moska::test::run;

}  // namespace

TEST_CASE("calibration: log-log interpolation is exact at grid points and linear in log between them") {
  auto gpu = load_hardware("h100-sxm").gpu;
  auto t = CalibrationTables::from_points({gemm_point(1, 4096, 4096, 10.0), gemm_point(4, 4096, 4096, 40.0),
                                           gemm_point(16, 4096, 4096, 50.0)},
                                          gpu);
  auto at = [&](std::int64_t m) { return *t.lookup(make_gemm("o", m, 4096, 4096, kBf16, 1)) * 1e6; };
  REQUIRE(at(1) == Approx(10.0));
  REQUIRE(at(4) == Approx(40.0));
  REQUIRE(at(16) == Approx(50.0));
  // By hand: log 2 is halfway between log 1 and log 4, so log t is halfway between log 10 and log 40.
  REQUIRE(at(2) == Approx(20.0));
  REQUIRE(at(8) == Approx(std::sqrt(40.0 * 50.0)));
  REQUIRE(t.covers(make_gemm("o", 3, 4096, 4096, kBf16, 1)));
  REQUIRE_FALSE(t.covers(make_gemm("o", 32, 4096, 4096, kBf16, 1)));

  // Two axes: at the middle of a 2x2 cell the time is the geometric mean of the corners.
  auto d = CalibrationTables::from_points({decode_point(1, 1024, 10), decode_point(1, 4096, 20),
                                           decode_point(4, 1024, 30), decode_point(4, 4096, 80)},
                                          gpu);
  ModelSpec m;
  m.n_heads = 32;
  m.n_kv_heads = 8;
  m.head_dim = 128;
  auto dec = [&](std::int64_t b, std::int64_t ctx) { return *d.lookup(make_decode_attention(m, kBf16, 1, b, b * ctx, 1)) * 1e6; };
  REQUIRE(dec(4, 4096) == Approx(80.0));
  REQUIRE(dec(2, 2048) == Approx(std::pow(10.0 * 20 * 30 * 80, 0.25)));
  REQUIRE(dec(1, 2048) == Approx(std::sqrt(10.0 * 20)));
}

TEST_CASE("calibration: outside the grid and for unmeasured keys the nearest point is scaled by the roofline") {
  auto gpu = load_hardware("h100-sxm").gpu;
  auto t = CalibrationTables::from_points({gemm_point(1, 4096, 4096, 20.0), gemm_point(1024, 4096, 4096, 60.0)}, gpu);
  auto roof = [&](const Op& op) { return roofline_terms(gpu, op).total(); };
  // m beyond the grid: t(1024) x roofline(m) / roofline(1024).
  Op big = make_gemm("o", 4096, 4096, 4096, kBf16, 1);
  Op edge = make_gemm("o", 1024, 4096, 4096, kBf16, 1);
  REQUIRE(*t.lookup(big) == Approx(60e-6 * roof(big) / roof(edge)));
  // A key that was not measured (a TP-2 shard): the nearest key's curve, scaled.
  Op shard = make_gemm("o", 1, 2048, 4096, kBf16, 1);
  Op near = make_gemm("o", 1, 4096, 4096, kBf16, 1);
  REQUIRE(*t.lookup(shard) == Approx(20e-6 * roof(shard) / roof(near)));
  // No table of that dtype (fp8 GEMM, fp8 attention): pure roofline.
  REQUIRE_FALSE(t.lookup(make_gemm("o", 1, 4096, 4096, Precision::uniform(Dtype::fp8), 1)).has_value());
  REQUIRE_FALSE(t.lookup(make_allreduce(1 << 20, 2, 1)).has_value());
}

TEST_CASE("calibration: an H100 GEMM shape that was not measured falls back between roofline and 2x roofline") {
  auto hw = load_hardware("h100-sxm");
  auto t = CalibrationTables::load(hw.calibration_dir, hw.gpu);
  for (auto [m, n, k] : {std::array<std::int64_t, 3>{1, 3072, 4096}, {64, 7000, 3000}, {4096, 3072, 4096},
                         {32768, 6144, 4096}, {8, 5000, 16384}}) {
    Op op = make_gemm("x", m, n, k, kBf16, 1);
    INFO("m=" << m << " n=" << n << " k=" << k);
    REQUIRE_FALSE(t.covers(op));
    auto v = t.lookup(op);
    REQUIRE(v.has_value());
    double r = roofline_terms(hw.gpu, op).total();
    REQUIRE(*v >= r);
    REQUIRE(*v <= 2 * r);
  }
}

TEST_CASE("calibration: a malformed CSV line is an InputError naming file:line; a missing file is no family") {
  auto gpu = load_hardware("h100-sxm").gpu;
  auto dir = temp_dir("bad");
  std::ofstream(dir + "/gemm.csv") << "dtype,m,n,k,time_us,method\nbf16,1,4096,4096,10.0,graph\nbf16,2,4096,4096,abc,graph\n";
  REQUIRE_THROWS_WITH(CalibrationTables::load(dir, gpu), Catch::Contains("gemm.csv:3") && Catch::Contains("time_us"));
  std::ofstream(dir + "/gemm.csv") << "dtype,m,n,k,time_us,method\nbf16,1,4096,4096,10.0\n";
  REQUIRE_THROWS_WITH(CalibrationTables::load(dir, gpu), Catch::Contains("gemm.csv:2"));
  std::ofstream(dir + "/gemm.csv") << "dtype,m,n,k,time,method\n";
  REQUIRE_THROWS_WITH(CalibrationTables::load(dir, gpu), Catch::Contains("gemm.csv:1"));
  std::ofstream(dir + "/gemm.csv") << "dtype,m,n,k,time_us,method\nbf16,1,4096,4096,10.0,graph\nbf16,1,4096,4096,11.0,graph\n";
  REQUIRE_THROWS_WITH(CalibrationTables::load(dir, gpu), Catch::Contains("gemm.csv:3") && Catch::Contains("gemm.csv:2"));
  std::ofstream(dir + "/gemm.csv") << "dtype,m,n,k,time_us,method\nbf16,1,4096,4096,10.0,graph\n";
  std::ofstream(dir + "/elementwise.csv") << "op,dtype,tokens,hidden,time_us,method\nlayernorm,bf16,1,4096,3.0,graph\n";
  REQUIRE_THROWS_WITH(CalibrationTables::load(dir, gpu), Catch::Contains("elementwise.csv:2"));
  std::filesystem::remove(dir + "/elementwise.csv");
  auto t = CalibrationTables::load(dir, gpu);
  REQUIRE(t.count(KernelFamily::gemm) == 1);
  REQUIRE(t.count(KernelFamily::attn_decode) == 0);
  ModelSpec m;
  m.n_heads = 32;
  m.n_kv_heads = 8;
  m.head_dim = 128;
  REQUIRE_FALSE(t.lookup(make_decode_attention(m, kBf16, 1, 4, 4096, 1)).has_value());
}

TEST_CASE("calibration: predict on h100-sxm answers > 90% of the time from measured tables for the documented forms") {
  PredictRequest dec;
  dec.batch = 32;
  dec.ctx = 8192;
  PredictRequest pre;
  pre.prefill_tokens = 8192;
  PredictRequest mos;
  mos.batch = 64;
  mos.ctx = 2048;
  mos.shared_tokens = 131072;
  mos.chunk_tokens = 4096;
  mos.sparsity = 0.75;
  for (const auto& req : {dec, pre, mos}) {
    auto r = predict(req);
    INFO(r.mode << " " << r.cost_basis);
    REQUIRE(r.cost.measured_fraction > 0.9);
    REQUIRE(r.cost_basis.rfind("calibrated", 0) == 0);
  }
}

TEST_CASE("calibration: every H100 composite iteration is predicted within 10%, median within 5%") {
  // composite.csv holds whole Llama-3.1-8B iterations measured on the GPU (CUDA graph replays);
  // validate() predicts each through predict(), as `moska-sim predict` does.
  auto r = validate("h100-sxm");
  std::ifstream in(std::string(MOSKA_SOURCE_DIR) + "/hw_profiles/h100-sxm/composite.csv");
  std::string line;
  std::size_t rows = 0;
  std::getline(in, line);
  while (std::getline(in, line)) rows += !line.empty();
  REQUIRE(r.composites.size() == rows);
  std::vector<double> errs;
  for (const auto& c : r.composites) {
    double e = std::abs(c.predicted_s - c.measured_s) / c.measured_s;
    INFO(c.where << ": measured " << c.measured_s * 1e3 << " ms, predicted " << c.predicted_s * 1e3 << " ms");
    REQUIRE(e < 0.10);
    errs.push_back(e);
  }
  std::sort(errs.begin(), errs.end());
  REQUIRE(errs[errs.size() / 2] <= 0.05);
  // The held-out kernel shapes, predicted from tables without them, are within 5% at the median.
  REQUIRE(r.held_out_all.count > 500);
  REQUIRE(r.held_out_all.median_ape < 5.0);
}

TEST_CASE("cli: validate prints the accuracy tables; a GPU without measurements has nothing to validate") {
  auto a = run("validate --hw a100-80gb");
  REQUIRE(a.rc == 0);
  REQUIRE(a.out.find("nothing to validate") != std::string::npos);
  auto j = run("validate --hw h100-sxm --json");
  REQUIRE(j.rc == 0);
  auto v = nlohmann::json::parse(j.out);
  REQUIRE(v["composites"].size() == 66);
  REQUIRE(v["kernels_leave_one_out"].size() == 8);  // 7 families + all
}
