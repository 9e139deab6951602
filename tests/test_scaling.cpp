// `moska-sim scaling` against hand-derived capacities and the physics it must show.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <string>

#include "sim/model/model_spec.hpp"
#include "sim/analysis/scaling.hpp"
#include "tests/system_helpers.hpp"
#include "sim/util/error.hpp"

using namespace moska;

namespace {
// Hand constants (not read from the simulator):
//   H100 SXM HBM, hw_profiles/h100-sxm.json: 81559 MiB = 85,520,809,984 bytes.
//   Llama-3.1-8B parameters: embedding + LM head 2 x 128256 x 4096 = 1,050,673,152; per layer
//   q,k,v 4096 x (4096 + 2 x 1024) + o 4096 x 4096 + gate/up/down 3 x 4096 x 14336 + 2 norms x 4096
//   = 218,112,000, x 32 = 6,979,584,000; final norm 4096: 8,030,261,248 parameters = bytes in FP8.
//   FP8 KV per token: 2 (K,V) x 32 layers x 8 heads x 128 x 1 byte = 65,536 bytes.
constexpr double kHbm = 85520809984.0;
constexpr double kWeightsFp8 = 8030261248.0;
constexpr double kKvTok = 65536.0;
constexpr std::int64_t k1M = 1048576;

nlohmann::json scenario(int serve_tp, std::int64_t shared_tokens) {
  auto j = nlohmann::json::parse(R"({
    "name": "scaling test", "model": "llama-3.1-8b", "dtype": "fp8", "system": "moska",
    "pools": [{"name": "node", "role": "serve", "hw": "h100-sxm", "instances": 1, "tp": 1},
              {"name": "unique", "role": "unique", "hw": "h100-sxm", "instances": 4, "tp": 1},
              {"name": "shared", "role": "shared", "hw": "h100-sxm", "instances": 4, "tp": 1}],
    "shared": {"tokens": 0, "chunk_tokens": 4096, "sparsity": 0.75},
    "workload": {"generator": {"requests": 1, "arrival": {"process": "burst"},
                 "input_tokens": {"dist": "constant", "value": 1}, "output_tokens": {"dist": "constant", "value": 1}}}
  })");
  j["pools"][0]["tp"] = serve_tp;
  j["shared"]["tokens"] = shared_tokens;
  j["model"] = test::long_context_model();  // capacity arithmetic past 128K without context parallelism
  return j;
}
ScalingResult analyse(const nlohmann::json& j, std::int64_t ctx, std::vector<std::string> systems = {},
                      std::int64_t max_batch = 0, const std::string& baseline = "") {
  ScalingOptions o;
  o.ctx = ctx;
  o.systems = std::move(systems);
  o.max_batch = max_batch;
  o.baseline = baseline;
  return scaling_analysis(parse_scenario(j, "<test>", "."), o);
}
const ScalingRow& row(const ScalingResult& r, const std::string& name) {
  for (const auto& x : r.rows) {
    if (x.system == name) return x;
  }
  FAIL("no row " << name);
  return r.rows.front();
}
}  // namespace

TEST_CASE("scaling: the hand constants match the model and hardware files") {
  auto m = load_model("llama-3.1-8b");
  REQUIRE(m.weight_bytes(Dtype::fp8) == kWeightsFp8);
  REQUIRE(m.kv_bytes_per_token(Dtype::fp8) == kKvTok);
  REQUIRE(load_hardware("h100-sxm").gpu.hbm_bytes == kHbm);
}

TEST_CASE("scaling: one H100, 1M shared tokens: prefix-cache's batch by hand, vllm does not fit") {
  auto j = scenario(1, k1M);
  // (HBM - weights - 1M shared tokens x 64 KiB) x 0.9 usable, in 64 KiB tokens, then whole requests.
  const auto free_tokens = static_cast<std::int64_t>(((kHbm - kWeightsFp8 - k1M * kKvTok) * 0.9) / kKvTok);
  REQUIRE(free_tokens == 120452);  // 8,771,072,000 B x 0.9 / 65,536
  for (std::int64_t ctx : {65536, 16384}) {
    auto r = analyse(j, ctx, {"vllm", "prefix-cache", "cascade", "sparse", "moska"});
    INFO("ctx " << ctx);
    const auto& pc = row(r, "prefix-cache");
    REQUIRE(pc.fits);
    REQUIRE(pc.capacity_tokens == free_tokens);
    REQUIRE(pc.batch == free_tokens / ctx);  // 1 at 64K, 7 at 16K
    REQUIRE(pc.tokens_per_request == ctx);
    REQUIRE(pc.read_per_request == ctx + k1M);  // reads the whole stored copy itself
    REQUIRE(row(r, "sparse").read_per_request == ctx + k1M / 4);  // its top-64 of 256 chunks
    REQUIRE(row(r, "moska").read_per_request == ctx);             // shared chunks read in the batched launches
    // vllm stores no shared copy, but each request needs its own: 64K + 1M tokens > (HBM - weights) x 0.9.
    const auto& v = row(r, "vllm");
    REQUIRE_FALSE(v.fits);
    REQUIRE(v.batch == 0);
    REQUIRE(v.tokens_per_request == ctx + k1M);
    REQUIRE(static_cast<std::int64_t>((kHbm - kWeightsFp8) * 0.9 / kKvTok) < ctx + k1M);
    // With vllm out, prefix-cache (the first baseline that fits) is the reference.
    REQUIRE(r.baseline == "prefix-cache");
    REQUIRE(pc.normalized == Approx(1.0));
  }
  REQUIRE(analyse(j, 65536, {"prefix-cache"}).rows[0].batch == 1);
  REQUIRE(analyse(j, 16384, {"prefix-cache"}).rows[0].batch == 7);
}

TEST_CASE("scaling: a shared context larger than the node does not fit, with the simulator's reason") {
  auto r = analyse(scenario(8, 16 * k1M), 65536);  // 16M FP8 tokens = 1 TiB > 8 x 80 GB
  for (const auto& x : r.rows) {
    INFO(x.system);
    REQUIRE_FALSE(x.fits);
    REQUIRE(x.batch == 0);
    REQUIRE_FALSE(x.why.empty());
  }
  REQUIRE(r.baseline.empty());
  REQUIRE(row(r, "moska").why.find("does not fit") != std::string::npos);
  REQUIRE(row(r, "moska-disagg").why.find("shared KV") != std::string::npos);
}

TEST_CASE("scaling: step is the system's cost of the full batch; throughput and utilisation follow from it") {
  auto j = scenario(8, k1M);
  auto r = analyse(j, 65536);
  Scenario sc = parse_scenario(j, "<test>", ".");
  for (const auto& x : r.rows) {
    INFO(x.system);
    REQUIRE(x.fits);
    sc.system = x.system;
    const auto cm = test::configure(sc);
    BatchSpec b;
    const std::int64_t per_instance = x.batch / x.logical_instances;
    b.decode_requests = per_instance;
    b.decode_kv_tokens = per_instance * x.read_per_request;
    // Routed to batched launches, or (sparse) scored per request: the deployment's route says which.
    const bool routed = x.system == "moska" || x.system == "cascade" || x.system == "moska-disagg" || x.system == "sparse";
    if (routed) b.shared = cm.route(per_instance);
    auto st = cm.cost(b);
    REQUIRE(x.step_s == Approx(st.seconds));
    REQUIRE(x.tokens_per_s == Approx(static_cast<double>(x.batch) / st.seconds));
    REQUIRE(x.tokens_per_s_per_gpu == Approx(x.tokens_per_s / 8));
    REQUIRE(x.gpus == 8);
    const auto ps = cm.sys->pool_stats();
    for (std::size_t i = 0; i < x.pools.size(); ++i) {
      const auto flops = test::charged(st, static_cast<int>(i), true), bytes = test::charged(st, static_cast<int>(i), false);
      REQUIRE(x.pools[i].mfu == Approx(flops / (st.seconds * ps[i].gpus * ps[i].peak_flops_per_gpu)));
      REQUIRE(x.pools[i].hbm_bw_util == Approx(bytes / (st.seconds * ps[i].gpus * ps[i].hbm_bw_per_gpu)));
      REQUIRE(x.pools[i].mfu > 0);
      REQUIRE(x.pools[i].mfu < 1);
      REQUIRE(x.pools[i].hbm_bw_util < 1);
      REQUIRE(x.pools[i].hbm_capacity_util <= 1);
    }
  }
  // Node TP8: (8 x HBM - weights - 64 GiB) x 0.9 / 64 KiB tokens, 64K per request.
  const auto node_tokens = static_cast<std::int64_t>((8 * kHbm - kWeightsFp8 - k1M * kKvTok) * 0.9 / kKvTok);
  REQUIRE(row(r, "moska").batch == node_tokens / 65536);
  // vllm: (8 x HBM - weights) x 0.9 over 64K + 1M tokens each.
  REQUIRE(row(r, "vllm").batch == static_cast<std::int64_t>((8 * kHbm - kWeightsFp8) * 0.9 / kKvTok) / (65536 + k1M));
  // moska-disagg: 4 unique H100s each hold (HBM - weights) x 0.9 of unique KV, whole requests per GPU;
  // the shared pool holds the 64 GiB once.
  const auto& d = row(r, "moska-disagg");
  REQUIRE(d.kv_groups == 4);
  REQUIRE(d.batch == 4 * (static_cast<std::int64_t>((kHbm - kWeightsFp8) * 0.9 / kKvTok) / 65536));
  REQUIRE(d.pools.size() == 2);
  REQUIRE(d.pools[1].hbm_capacity_util == Approx(k1M * kKvTok / (4 * kHbm)));
  // The physics: at the same 8 GPUs and batch, batching the shared attention beats reading it per
  // request, and sparsity on top of batching beats batching alone.
  REQUIRE(r.baseline == "vllm");
  REQUIRE(row(r, "moska").tokens_per_s > row(r, "cascade").tokens_per_s);
  REQUIRE(row(r, "cascade").tokens_per_s > row(r, "prefix-cache").tokens_per_s);
  REQUIRE(row(r, "sparse").tokens_per_s > row(r, "prefix-cache").tokens_per_s);
  REQUIRE(row(r, "prefix-cache").batch > row(r, "vllm").batch);
  REQUIRE(row(r, "vllm").normalized == Approx(1.0));
  REQUIRE(row(r, "moska").normalized == Approx(row(r, "moska").tokens_per_s / row(r, "vllm").tokens_per_s));
  // prefix-cache reads 1M shared tokens per request: bandwidth-bound, compute idle.
  REQUIRE(row(r, "prefix-cache").pools[0].hbm_bw_util > 0.5);
  REQUIRE(row(r, "prefix-cache").pools[0].mfu < 0.05);
}

TEST_CASE("scaling: --max-batch caps the batch; a named baseline; bad input is refused") {
  auto j = scenario(8, k1M);
  auto r = analyse(j, 65536, {"prefix-cache", "moska"}, 32, "moska");
  for (const auto& x : r.rows) {
    REQUIRE(x.batch == 32);
    REQUIRE(x.capped);
    REQUIRE(x.batch_capability > 32);
  }
  REQUIRE(r.baseline == "moska");
  REQUIRE(row(r, "moska").normalized == Approx(1.0));
  REQUIRE(row(r, "prefix-cache").normalized < 1.0);
  REQUIRE_THROWS_AS(analyse(j, 0), InputError);
  REQUIRE_THROWS_AS(analyse(j, 65536, {"nosuch"}), InputError);
  REQUIRE_THROWS_AS(analyse(j, 65536, {"moska"}, 0, "vllm"), InputError);
  // A context no TP group can hold: fits = false with a reason, not an exception.
  auto big = analyse(scenario(1, k1M), 1 << 20, {"moska"});
  REQUIRE_FALSE(big.rows[0].fits);
  REQUIRE(big.rows[0].why.find("room for") != std::string::npos);
}

namespace {
int run_cli(const std::string& args, std::string& out) {
  std::string cmd = std::string(MOSKA_SIM_BINARY) + " " + args + " 2>&1";
  std::array<char, 4096> buf{};
  FILE* p = popen(cmd.c_str(), "r");
  while (p && fgets(buf.data(), buf.size(), p)) out += buf.data();
  int status = p ? pclose(p) : -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
}  // namespace

TEST_CASE("cli: scaling prints a table, JSON and a CSV with a row per system") {
  std::string out;
  REQUIRE(run_cli("scaling --systems prefix-cache,moska --ctx 64K", out) == 0);
  REQUIRE(out.find("tok/s/GPU") != std::string::npos);
  std::string js;
  const std::string csv = "/tmp/moska_test_scaling.csv";
  REQUIRE(run_cli("scaling default --set shared_tokens=2M --json --csv " + csv, js) == 0);
  auto j = nlohmann::json::parse(js);
  REQUIRE(j["rows"].size() == 6);
  REQUIRE(j["shared_tokens"] == 2 * k1M);
  std::ifstream f(csv);
  std::string line;
  int lines = 0;
  while (std::getline(f, line)) ++lines;
  REQUIRE(lines == 7);
  std::string bad;
  REQUIRE(run_cli("scaling --ctx 0", bad) == 2);
  REQUIRE(bad.find("--ctx") != std::string::npos);
}

TEST_CASE("scaling: whole deployments are compared as well as per GPU, so both readings are one command") {
  // vllm on one TP8 node (8 GPUs) against moska-disagg on 12 unique + 4 shared GPUs (16): per GPU the
  // ratio is the tokens/s per GPU over vllm's; per deployment it is the tokens/s over vllm's, i.e. by
  // hand the per-GPU ratio x 16 / 8.
  auto j = scenario(8, k1M);
  j["pools"][1]["instances"] = 12;
  auto r = analyse(j, 65536, {"vllm", "moska-disagg"});
  const auto& v = row(r, "vllm");
  const auto& d = row(r, "moska-disagg");
  REQUIRE(v.fits);
  REQUIRE(d.fits);
  REQUIRE(v.gpus == 8);
  REQUIRE(d.gpus == 16);
  CHECK(v.normalized_deployment == Approx(1.0));
  CHECK(d.normalized == Approx(d.tokens_per_s_per_gpu / v.tokens_per_s_per_gpu));
  CHECK(d.normalized_deployment == Approx(d.normalized * 16.0 / 8.0));
  CHECK(d.normalized_deployment == Approx(d.tokens_per_s / v.tokens_per_s));
  // Printed in the table (x/GPU and x/dep), the JSON and the CSV.
  CHECK(scaling_table(r).find("x/dep") != std::string::npos);
  CHECK(scaling_json(r)["rows"][1]["normalized_deployment"].get<double>() == Approx(d.normalized_deployment));
  const auto cols = scaling_csv_columns(r);
  CHECK(std::find(cols.begin(), cols.end(), "normalized_deployment") != cols.end());
}
