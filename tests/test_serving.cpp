// The serving loop against hand-derived values and invariants.
#include <catch2/catch.hpp>

#include <cmath>

#include "sim/cost/cost_model.hpp"
#include "sim/cost/roofline.hpp"
#include "sim/model/model_spec.hpp"
#include "sim/cli/overrides.hpp"
#include "sim/serving/pool_layout.hpp"
#include "tests/system_helpers.hpp"
#include "sim/systems/system.hpp"
#include "sim/serving/workload_loader.hpp"

using namespace moska;

namespace {
nlohmann::json base(const std::string& system, std::int64_t shared_tokens) {
  auto j = nlohmann::json::parse(R"({
    "name": "test", "seed": 3, "model": "llama-3.1-8b", "dtype": "fp8",
    "pools": [{"name": "gpus", "role": "serve", "hw": "h100-sxm", "instances": 1, "tp": 8}],
    "shared": {"tokens": 0, "chunk_tokens": 4096, "sparsity": 0.75},
    "scheduler": {"max_batch": 256, "max_batched_tokens": 8192},
    "workload": {"generator": {"requests": 200, "arrival": {"process": "poisson", "rate_per_s": 50},
                 "input_tokens": {"dist": "uniform", "min": 256, "max": 2048},
                 "output_tokens": {"dist": "uniform", "min": 16, "max": 128}}}
  })");
  j["system"] = system;
  j["shared"]["tokens"] = shared_tokens;
  j["model"] = test::long_context_model();  // contexts past 128K without context parallelism
  return j;
}
RunResult run_json(const nlohmann::json& j) {
  auto sc = parse_scenario(j, "<test>", ".");
  return simulate(sc, load_workload(sc));
}
}  // namespace

TEST_CASE("serving: one request's TTFT and end-to-end are the sum of its iterations") {
  auto j = base("vllm", 0);
  j["pools"][0]["tp"] = 1;
  j["dtype"] = "bf16";
  j["workload"] = nlohmann::json::parse(R"({"generator": {"requests": 1, "arrival": {"process": "constant", "rate_per_s": 1},
      "input_tokens": {"dist": "constant", "value": 1000}, "output_tokens": {"dist": "constant", "value": 5}}})");
  auto r = run_json(j);
  REQUIRE(r.requests.size() == 1);
  const auto& q = r.requests[0];
  // By hand: one prefill iteration of 1000 tokens, then 4 decode iterations of batch 1 whose KV
  // grows 1001, 1002, 1003, 1004 (the prompt plus the tokens generated so far).
  auto m = load_model("llama-3.1-8b");
  CostModel cm(load_hardware("h100-sxm"));
  auto p = Precision::uniform(Dtype::bf16);
  BatchSpec pre;
  pre.prefills.push_back({1000, 0});
  double ttft = ns_to_seconds(seconds_to_ns(cm.iteration(build_iteration_ops(m, p, pre)).seconds));
  double e2e = ttft;
  for (int t = 1; t <= 4; ++t) {
    BatchSpec d;
    d.decode_requests = 1;
    d.decode_kv_tokens = 1000 + t;
    e2e += ns_to_seconds(seconds_to_ns(cm.iteration(build_iteration_ops(m, p, d)).seconds));
  }
  REQUIRE(ns_to_seconds(q.first_token - q.arrival) == Approx(ttft).epsilon(1e-6));
  REQUIRE(ns_to_seconds(q.finish - q.arrival) == Approx(e2e).epsilon(1e-6));
  REQUIRE(r.iterations == 5);
}

TEST_CASE("serving: every request finishes or is rejected, memory stays within HBM, for every system") {
  for (std::string sys : {"vllm", "prefix-cache", "cascade", "sparse", "moska"}) {
    auto j = base(sys, 65536);
    auto r = run_json(j);
    auto s = summarize(r);
    INFO(sys);
    REQUIRE(s.finished + s.rejected == s.requests);
    REQUIRE(s.unfinished == 0);
    REQUIRE(s.pools[0].hbm_used_peak <= 1.0);
    REQUIRE(s.max_batch <= 256);
    for (const auto& q : r.requests) {
      if (q.rejected) continue;
      REQUIRE(q.first_token >= q.arrival);
      REQUIRE(q.finish >= q.first_token);
    }
  }
}

TEST_CASE("serving: tight memory admits fewer at once but still finishes everything") {
  auto j = base("prefix-cache", 917504);  // 224 chunks: 60.1 GB of FP8 shared KV on one GPU
  j["pools"][0]["tp"] = 1;
  j["workload"]["generator"]["arrival"] = {{"process", "burst"}};
  auto r = run_json(j);
  auto s = summarize(r);
  REQUIRE(s.finished == s.requests);
  // By hand: (85.52 GB HBM - 8.03 GB weights - 60.13 GB shared) x 0.9 / 64 KiB = ~238K tokens of KV;
  // requests reserve 272..2176 tokens each, so the 200 of the burst cannot all be in at once ...
  const double hbm = 85520809984.0, fixed = 8.03e9 + 917504.0 * 65536;
  const double cap_bytes = (hbm - fixed) * 0.9;
  REQUIRE(s.max_batch < 200);
  // ... while memory fills: peak use is well past the fixed part, and never past HBM.
  REQUIRE(s.pools[0].hbm_used_peak > (fixed + 0.5 * cap_bytes) / hbm);
  REQUIRE(s.pools[0].hbm_used_peak <= (fixed + cap_bytes) / hbm + 1e-9);
}

TEST_CASE("serving: same scenario and seed give identical results") {
  auto a = run_json(base("moska", 131072));
  auto b = run_json(base("moska", 131072));
  REQUIRE(summary_json(a, summarize(a)).dump() == summary_json(b, summarize(b)).dump());
  for (std::size_t i = 0; i < a.requests.size(); ++i) REQUIRE(a.requests[i].finish == b.requests[i].finish);
}

TEST_CASE("physics: prefix-cache decode is bandwidth-bound and slows with the shared context, MoSKA less") {
  // A saturated decode batch: bytes per step ~ b * S * 64 KiB (FP8 KV), so throughput ~ 1/S.
  auto tput = [](const std::string& sys, std::int64_t S) {
    auto j = base(sys, S);
    j["workload"] = nlohmann::json::parse(R"({"generator": {"requests": 256, "arrival": {"process": "burst"},
      "input_tokens": {"dist": "constant", "value": 512}, "output_tokens": {"dist": "constant", "value": 256}}})");
    return summarize(run_json(j)).output_tokens_per_s;
  };
  double pc1 = tput("prefix-cache", 262144), pc4 = tput("prefix-cache", 1048576);
  double mk1 = tput("moska", 262144), mk4 = tput("moska", 1048576);
  // 4x the shared context: prefix caching loses close to 4x (per-request KV reads dominate). MoSKA at a
  // fixed sparsity attends 4x the chunks too, so its shared FLOPs also grow 4x, but they run as
  // compute-bound GEMMs next to a dense part that does not grow: it loses less, and stays far ahead.
  REQUIRE(pc1 / pc4 > 2.5);
  REQUIRE(mk1 / mk4 < pc1 / pc4);
  REQUIRE(mk4 > 5 * pc4);
}

TEST_CASE("physics: shared-chunk attention turns compute-bound where queries per chunk pass the ridge") {
  auto hw = load_hardware("h100-sxm");
  auto m = load_model("llama-3.1-8b");
  auto p = Precision::uniform(Dtype::bf16);
  // Ridge by hand: (989.4e12 * 0.45) / (3.35e12 * 0.90) = 147.7 FLOP/B. A chunk attended by q requests
  // does 4*q*32*128*C FLOPs on 2*8*128*C*2 bytes: 4q FLOP/B, so it turns at q ~ 37.
  double ridge = 989.4e12 * 0.45 / (3.35e12 * 0.90);
  REQUIRE(ridge / 4.0 == Approx(36.9).epsilon(0.01));
  REQUIRE_FALSE(roofline_terms(hw.gpu, make_shared_attention(m, p, 1, {32, 4096, 16}, 1)).compute_bound());
  REQUIRE(roofline_terms(hw.gpu, make_shared_attention(m, p, 1, {32, 4096, 64}, 1)).compute_bound());
}

TEST_CASE("physics: disaggregation makes the shared pool compute-heavy and the unique pool bandwidth-heavy") {
  auto j = base("moska-disagg", 1048576);
  j["pools"] = nlohmann::json::parse(R"([
      {"name": "unique", "role": "unique", "hw": "h100-sxm", "instances": 4, "tp": 1},
      {"name": "shared", "role": "shared", "hw": "h100-sxm", "instances": 2, "tp": 1}])");
  j["workload"] = nlohmann::json::parse(R"({"generator": {"requests": 1024, "arrival": {"process": "burst"},
      "input_tokens": {"dist": "constant", "value": 4096}, "output_tokens": {"dist": "constant", "value": 1024}}})");
  j["scheduler"]["max_batch"] = 1024;
  auto s = summarize(run_json(j));
  REQUIRE(s.finished == s.requests);
  REQUIRE(s.pools.size() == 2);
  // Decode-dominated (1024 output tokens, 4-5K of unique KV each): the shared pool's batched chunk GEMMs (~256 queries per chunk: 1024 requests x
  // 64 of 256 chunks) run at far higher FLOP/byte than the unique pool's per-request KV reads.
  REQUIRE(s.pools[1].mfu > s.pools[0].mfu);
  double intensity_ratio = (s.pools[1].mfu / s.pools[1].bw_util) / (s.pools[0].mfu / s.pools[0].bw_util);
  REQUIRE(intensity_ratio > 2.0);
}

TEST_CASE("scenario: unknown keys, bad systems and pools that cannot hold the model are refused") {
  auto j = base("moska", 0);
  j["schedular"] = nlohmann::json::object();
  REQUIRE_THROWS_WITH(parse_scenario(j, "s.json", "."), Catch::Contains("unknown key 'schedular'"));
  auto k = base("nosuch", 0);
  auto sc = parse_scenario(k, "s.json", ".");
  REQUIRE_THROWS_WITH(simulate(sc, {}), Catch::Contains("unknown system 'nosuch'"));
  auto big = base("prefix-cache", 16 * 1048576);  // 1 TiB of FP8 KV on 8 GPUs
  auto sc2 = parse_scenario(big, "s.json", ".");
  REQUIRE_THROWS_WITH(simulate(sc2, {}), Catch::Contains("does not fit"));
  auto o = base("moska", 0);
  cli::apply_override(o, "shared_tokens", "1M");
  REQUIRE(o["shared"]["tokens"] == 1048576);
  cli::apply_override(o, "hw", "h200");
  REQUIRE(o["pools"][0]["hw"] == "h200");
}

TEST_CASE("routing: water-filling keeps k chunks per request and caps popular chunks at 1") {
  RoutingSpec z;
  z.skew = RoutingSkew::zipf;
  z.zipf_s = 1.5;
  ChunkRouter r(64, 16, 4096, z);
  double sum = 0;
  for (double p : r.keep_probability()) {
    REQUIRE(p <= 1.0);
    sum += p;
  }
  REQUIRE(sum == Approx(16.0));
  REQUIRE(r.keep_probability().front() == 1.0);  // the hottest chunk is kept by every request
  // 100 requests: the routed queries add up to about 100 x 16; the hottest group (8 chunks, its
  // mean taken) sees nearly all 100.
  const auto& s = r.route(100);
  std::int64_t total = 0, most = 0;
  for (const auto& g : s.groups) {
    total += g.n_chunks * g.queries;
    most = std::max(most, g.queries);
  }
  REQUIRE(total == Approx(1600).epsilon(0.05));
  REQUIRE(most >= 95);
  REQUIRE(most <= 100);
}

TEST_CASE("universal-moska: modules composed per request, popular ones batched, recompute in prefill") {
  auto j = base("universal-moska", 0);
  j["shared"].erase("tokens");
  j["shared"]["modules"] = nlohmann::json::parse(
      R"({"count": 64, "tokens": 16384, "per_request": 4, "recompute_tokens": 32, "popularity": {"skew": "zipf", "zipf_s": 1.0}})");
  auto sc = parse_scenario(j, "<test>", ".");
  REQUIRE(sc.shared.tokens == 64 * 16384);
  const auto ctx = test::shared_context(sc);
  // By hand: 4 modules x 4 chunks x (1 - 0.75) = 4 chunks = 16384 tokens attended; 4 x 32 recomputed.
  REQUIRE(ctx.attended() == 16384);
  REQUIRE(ctx.recompute_tokens() == 128);
  double kept = 0;
  for (double p : ctx.router()->keep_probability()) kept += p;
  REQUIRE(kept == Approx(4.0));
  auto r = run_json(j);
  auto s = summarize(r);
  REQUIRE(s.finished == s.requests);
  auto no_lib = base("universal-moska", 65536);
  REQUIRE_THROWS_WITH(test::configure(parse_scenario(no_lib, "<t>", ".")), Catch::Contains("module library"));
}

TEST_CASE("cluster: past TP = KV heads, KV heads are replicated, so a group holds more bytes per token") {
  auto j = base("moska", 0);
  const auto m = load_model("llama-3.1-8b");  // 8 KV heads
  // 8 KV heads on 16 GPUs: each GPU keeps one head, 16 in all = 2x the FP8 64 KiB per token.
  REQUIRE(kv_held_per_token(m, Dtype::fp8, 16) == 2.0 * 65536);
  REQUIRE(kv_held_per_token(m, Dtype::fp8, 8) == 65536.0);
  j["pools"][0]["tp"] = 16;
  auto sc = parse_scenario(j, "<t>", ".");
  REQUIRE(make_pool(sc, sc.pools[0], m).kv_held_per_token == 2.0 * 65536);
}

TEST_CASE("cluster: moska-disagg splits shared-pool work over its groups instead of repeating it") {
  auto shared_flops = [](int groups) {
    auto j = base("moska-disagg", 1048576);
    j["pools"] = nlohmann::json::array();
    j["pools"].push_back({{"name", "u"}, {"role", "unique"}, {"hw", "h100-sxm"}, {"instances", 4}, {"tp", 1}});
    j["pools"].push_back({{"name", "s"}, {"role", "shared"}, {"hw", "h100-sxm"}, {"instances", groups}, {"tp", 1}});
    const auto sc = parse_scenario(j, "<t>", ".");  // the configured system refers to its pools
    const auto cm = test::configure(sc);
    BatchSpec b;
    b.decode_requests = 512;
    b.decode_kv_tokens = 512 * 4096;
    b.shared = cm.route(512);
    auto st = cm.cost(b);
    return std::pair<double, double>(test::charged(st, 1, true), test::charged(st, 1, false));
  };
  // The same queries against the same chunks: total shared-pool FLOPs and bytes barely depend on
  // the split (before, every group also merged and concatenated all k + 1 partials of every request).
  auto two = shared_flops(2), eight = shared_flops(8);
  REQUIRE(eight.first == Approx(two.first).epsilon(0.1));
  REQUIRE(eight.second == Approx(two.second).epsilon(0.15));
}

TEST_CASE("corpora: several shared corpora with popularity, each routed over its own chunks") {
  auto j = base("sparse", 0);
  j["shared"].erase("tokens");
  j["shared"]["corpora"] = nlohmann::json::parse(R"([{"tokens": 262144, "weight": 3}, {"tokens": 65536, "weight": 1}])");
  auto sc = parse_scenario(j, "<t>", ".");
  REQUIRE(sc.shared.tokens == 262144 + 65536);
  const auto ctx = test::shared_context(sc);
  REQUIRE(ctx.count() == 2);
  // By hand: 64 chunks x 25% = 16 chunks = 65536 tokens; 16 chunks x 25% = 4 chunks = 16384 tokens.
  REQUIRE(ctx.attended(0) == 65536);
  REQUIRE(ctx.attended(1) == 16384);
  REQUIRE(ctx.weight(0) == Approx(0.75));
  j["system"] = "moska";
  const auto mk = test::configure(parse_scenario(j, "<t>", "."));
  const auto s = mk.route(std::vector<std::int64_t>{10, 20});
  std::int64_t routed = 0;
  for (const auto& g : s.groups) routed += g.n_chunks * g.queries;
  REQUIRE(s.requests == 30);
  REQUIRE(routed == 10 * 16 + 20 * 4);
  // Both corpora are stored once: the run finishes everything within memory.
  auto r = run_json(j);
  auto sum = summarize(r);
  REQUIRE(sum.finished == sum.requests);
  REQUIRE(sum.pools[0].hbm_used_peak <= 1.0);
  auto bad = base("moska", 0);
  bad["shared"]["corpora"] = nlohmann::json::array();
  REQUIRE_THROWS_WITH(parse_scenario(bad, "<t>", "."), Catch::Contains("corpora"));
}

TEST_CASE("universal-moska-disagg: the module library lives on the shared pool") {
  auto j = base("universal-moska-disagg", 0);
  j["shared"].erase("tokens");
  j["shared"]["modules"] = nlohmann::json::parse(R"({"count": 64, "tokens": 16384, "per_request": 4})");
  j["pools"] = nlohmann::json::parse(R"([
      {"name": "unique", "role": "unique", "hw": "h100-sxm", "instances": 2, "tp": 1},
      {"name": "shared", "role": "shared", "hw": "h100-sxm", "instances": 2, "tp": 1}])");
  auto r = run_json(j);
  auto s = summarize(r);
  REQUIRE(s.finished == s.requests);
  // 1M tokens of FP8 KV (64 GiB) on 2 shared GPUs: half of their HBM (85.5 GB each) by hand.
  REQUIRE(s.pools[1].hbm_used_peak == Approx(64.0 * 1024 * 1024 * 1024 / (2 * 85520809984.0)).epsilon(0.001));
}
