// The model's max_context is checked, and context parallelism (a CP group of TP groups, each holding
// a stripe of every context, queries and partials passed around a ring) is how a longer span runs:
// its capacity, the rank's reads and the ring's time against hand calculations.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "sim/serving/scenario.hpp"
#include "sim/serving/workload_loader.hpp"
#include "sim/util/error.hpp"
#include "sim/util/paths.hpp"
#include "tests/system_helpers.hpp"

using namespace moska;

namespace {
// Hand constants: H100 SXM HBM 81,559 MiB = 85,520,809,984 bytes; NVLink latency 3 us (per hop);
// Llama-3.1-8B max_context 131,072 (its Hugging Face config); FP8 weights 8,030,261,248 bytes, every
// matrix but the embedding table (128,256 x 4,096) read per pass; FP8 KV 64 KiB per token; a query
// is 32 heads x 128 bf16 = 8,192 bytes, a partial 32 x (128 bf16 + an fp32 LSE) = 8,320 bytes.
constexpr double kHbm = 85520809984.0, kWeights = 8030261248.0, kKvTok = 65536.0, kNvlinkLat = 3e-6;
constexpr double kWeightsRead = kWeights - 128256.0 * 4096;
constexpr double L = 32;

nlohmann::json base(const std::string& system, std::int64_t shared, int instances, int tp, int cp) {
  auto j = nlohmann::json::parse(R"({
    "name": "cp test", "model": "llama-3.1-8b", "dtype": "fp8",
    "pools": [{"name": "gpus", "role": "serve", "hw": "h100-sxm", "instances": 1, "tp": 1}],
    "shared": {"tokens": 0, "chunk_tokens": 4096, "sparsity": 0.75},
    "workload": {"generator": {"requests": 4, "arrival": {"process": "burst"},
                 "input_tokens": {"dist": "constant", "value": 1024}, "output_tokens": {"dist": "constant", "value": 8}}}
  })");
  j["system"] = system;
  j["shared"]["tokens"] = shared;
  j["pools"][0]["instances"] = instances;
  j["pools"][0]["tp"] = tp;
  if (cp > 0) j["context_parallel"] = {{"degree", cp}};
  return j;
}
Scenario parse(const nlohmann::json& j) { return parse_scenario_for_systems(j, "cp.json", "."); }

// The H100 profile with NVLink slowed to `bps` per GPU (roofline only).
std::string slow_nvlink_profile(double bps) {
  return test::h100_profile_with("h100-slow-nvlink", [&](nlohmann::json& j) { j["gpu"]["nvlink_bandwidth_bps"]["value"] = bps; });
}
}  // namespace

TEST_CASE("max_context: a span past the model's max_context is an input error unless context-parallel") {
  // 1M shared tokens + a request's own > 131,072 on one TP8 group: refused, naming the key to set.
  auto j = base("moska", 1048576, 1, 8, 0);
  REQUIRE_THROWS_WITH(test::configure(parse(j)), Catch::Contains("max_context 131072") &&
                                                     Catch::Contains("context_parallel.degree") &&
                                                     Catch::Contains("cp.json"));
  // The same context over 2 TP4 groups as one CP group runs.
  auto ok = base("moska", 1048576, 2, 4, 2);
  const auto r = simulate(parse(ok), load_workload(parse(ok)));
  REQUIRE(r.requests.size() == 4);
  // A request whose own prompt + output (131,080) and the 4,096-token shared context pass 131,072:
  // refused at the start of the run, naming the request.
  auto own = base("moska", 4096, 1, 8, 0);
  own["workload"]["generator"]["input_tokens"]["value"] = 131072;
  const auto sc = parse(own);
  REQUIRE_THROWS_WITH(simulate(sc, load_workload(sc)), Catch::Contains("request 0 (prompt 131072, output 8)") &&
                                                            Catch::Contains("135176 tokens"));
  // A degree that does not divide the pool's TP groups is refused.
  REQUIRE_THROWS_WITH(test::configure(parse(base("moska", 1048576, 3, 1, 2))), Catch::Contains("context_parallel.degree"));
  // moska-disagg serves the shared span across its pools (the shared pool stripes it).
  auto dis = base("moska-disagg", 1048576, 1, 1, 0);
  dis["pools"] = nlohmann::json::parse(R"([{"name": "u", "role": "unique", "hw": "h100-sxm", "instances": 1, "tp": 1},
                                          {"name": "s", "role": "shared", "hw": "h100-sxm", "instances": 2, "tp": 1}])");
  REQUIRE_NOTHROW(test::configure(parse(dis)));
  // ... but a request's own tokens live on one unique GPU.
  dis["workload"]["generator"]["input_tokens"]["value"] = 131072;
  const auto dsc = parse(dis);
  REQUIRE_THROWS_WITH(simulate(dsc, load_workload(dsc)), Catch::Contains("own tokens live on one unique group"));
}

TEST_CASE("context parallelism: a CP group holds the shared KV once, striped, and each request's KV striped") {
  // 2 TP1 ranks, 1M shared tokens: each holds 512K tokens (32 GiB) of it; by hand each has
  // (85.52 - 8.03 - 34.36) GB x 0.9 / 64 KiB = 592,295 tokens of unique KV; the CP group (one logical
  // instance) holds twice that, a request's tokens split over both.
  const auto cm = test::configure(parse(base("moska", 1048576, 2, 1, 2)));
  const double per_rank = (kHbm - kWeights - 524288 * kKvTok) * 0.9 / kKvTok;
  CHECK(cm.sys->logical_instances() == 1);
  CHECK(cm.sys->capacity_tokens() == 2 * static_cast<std::int64_t>(per_rank));
  CHECK(cm.sys->fixed_bytes() == Approx(2 * (kWeights + 524288 * kKvTok)));
  CHECK(cm.sys->instance_hbm_bytes() == Approx(2 * kHbm));
}

TEST_CASE("context parallelism: each rank reads its stripe; the pool reads each context once and the weights per rank") {
  // prefix-cache, 16 requests of 4,096 tokens, each reading the 1M-token stored context, on 2 TP1 ranks:
  // by hand the pool reads 16 x (4,096 + 1,048,576) x 64 KiB = 1.104 TB of KV per step, once over
  // the two ranks, and each rank its weights (2 x 7.50 GB); queries, partials and norms are < 0.1%.
  const auto cm = test::configure(parse(base("prefix-cache", 1048576, 2, 1, 2)));
  IterStats st;
  cm.sys->decode_step(16, cm.sys->read_per_request(4096), st);
  const double hand = 16 * (4096.0 + 1048576.0) * kKvTok + 2 * kWeightsRead;
  CHECK(test::charged(st, 0, false) == Approx(hand).epsilon(0.002));
}

TEST_CASE("context parallelism: the ring passes queries and partials, on NVLink inside a node, by hand") {
  // NVLink slowed to 10 MB/s so that the ring is the step. 2 TP1 ranks (2 GPUs: one node), 64 decode
  // requests: per layer one hop carries the other rank's 32 queries (32 x 8,192 B) and one hop
  // returns 32 partials (32 x 8,320 B), each with a 3 us latency: 32 x (26.2 + 26.6 ms) = 1.692 s;
  // the rest of the step (8 GB of weights, 64 x 4K tokens of KV) is ~5 ms.
  const auto hw = slow_nvlink_profile(10e6);
  auto j = base("moska", 65536, 2, 1, 2);
  j["pools"][0]["hw"] = hw;
  const auto cm = test::configure(parse(j));
  IterStats st;
  cm.sys->decode_step(64, cm.sys->read_per_request(4096), st);
  const double ring = L * (32 * 8192 / 10e6 + kNvlinkLat + 32 * 8320 / 10e6 + kNvlinkLat);
  CHECK(st.seconds == Approx(ring).epsilon(0.005));
  // Two TP8 ranks (16 GPUs) do not fit in an 8-GPU node: the ring runs over the NICs (50 GB/s and
  // 5 us per GPU, hw_profiles/h100-sxm.json), each GPU carrying its 1/8 of the heads: per layer
  // 32 x 1,024 B of queries and 32 x 4 x 260 B of partials.
  const auto sc = parse(base("moska", 65536, 2, 8, 2));
  const auto cp = parse_context_parallel(sc, sc.pools[0], load_hardware("h100-sxm"));
  CHECK_FALSE(cp.over_nvlink);
  const double nic = L * (32 * 1024 / 50e9 + 5e-6 + 32 * 4 * 260 / 50e9 + 5e-6);
  CHECK(cp_exchange_seconds(load_model("llama-3.1-8b"), sc.precision, cp, 8, 64) == Approx(nic));
}
