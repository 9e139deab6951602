// cascade (Hydragen, FlashInfer cascade): the shared prefix attended as one segment by every query
// of the step, and one merge of that partial with the unique one, against hand calculations.
#include <catch2/catch.hpp>

#include "sim/serving/scenario.hpp"
#include "tests/system_helpers.hpp"

using namespace moska;

namespace {
// Hand constants (hw_profiles/h100-sxm.json): FP8 dense peak 1,978.9 TFLOP/s, attention at 0.36 of
// it (the roofline's attention efficiency: FP8 attention has no measured table), HBM 3.35 TB/s at
// 0.90, 1.3 us per kernel. Llama-3.1-8B: 32 layers, 32 query heads, 8 KV heads of 128; FP8 KV 64 KiB
// per token.
constexpr double kAttnFlops = 1978.9e12 * 0.36, kBw = 3.35e12 * 0.90, kKernel = 1.3e-6;
constexpr double L = 32, Hq = 32, D = 128, kKvTok = 65536;

Scenario scenario(const std::string& system, std::int64_t shared) {
  auto j = nlohmann::json::parse(R"({
    "name": "cascade test", "model": "llama-3.1-8b", "dtype": "fp8",
    "pools": [{"name": "gpu", "role": "serve", "hw": "h100-sxm", "instances": 1, "tp": 1}],
    "shared": {"tokens": 0, "chunk_tokens": 4096, "sparsity": 0.75},
    "workload": {"generator": {"requests": 1, "arrival": {"process": "burst"},
                 "input_tokens": {"dist": "constant", "value": 1}, "output_tokens": {"dist": "constant", "value": 1}}}
  })");
  j["system"] = system;
  j["shared"]["tokens"] = shared;
  return parse_scenario(j, "<test>", ".");
}
}  // namespace

TEST_CASE("cascade: the shared prefix is one segment attended by every query, and one merge") {
  const auto cm = test::configure(scenario("cascade", 65536));
  const auto s = cm.route(64);
  // Hydragen / FlashInfer cascade: the 65,536-token prefix (16 stored chunks of 4K) is one segment
  // that all 64 queries attend in one launch, which reduces its chunks' partials itself; each
  // request merges two partials (shared + unique), not 16 + 1; nothing is routed.
  REQUIRE(s.groups.size() == 1);
  CHECK(s.segments == 1);
  CHECK(s.groups[0].n_chunks * s.groups[0].chunk_tokens == 65536);
  CHECK(s.groups[0].queries == 64);
  std::vector<Op> ops;
  append_shared_ops(load_model("llama-3.1-8b"), Precision::uniform(Dtype::fp8), s, 1, ops);
  int merges = 0, routers = 0, launches = 0;
  for (const auto& op : ops) {
    if (op.name == "merge") {
      ++merges;
      CHECK(op.k == 2);
    }
    if (op.name == "shared_gather") CHECK(op.m == 64);  // each query gathered once, not once per chunk
    if (op.cls == OpClass::router) ++routers;
    if (op.cls == OpClass::attn_shared) ++launches;
  }
  CHECK(merges == 1);
  CHECK(routers == 0);
  CHECK(launches == 1);
}

TEST_CASE("cascade: the shared part of a decode step is the segment's attention, by hand") {
  // 64 requests, 4K tokens of their own each, against a 64K-token shared prefix on one H100 in FP8.
  const auto cm = test::configure(scenario("cascade", 65536));
  BatchSpec b;
  b.decode_requests = 64;
  b.decode_kv_tokens = 64 * 4096;
  const double without = cm.cost(b).seconds;
  b.shared = cm.route(64);
  const double with = cm.cost(b).seconds;
  // By hand: per layer, 4 x 64 queries x 32 heads x 128 x 65,536 keys = 68.7 GFLOP, i.e. 2.20 TFLOP
  // over 32 layers: 3.09 ms at 712 TFLOP/s; the segment's K and V (4.29 GB) take 1.42 ms at
  // 3.02 TB/s, so the launch is compute-bound. The gather of 64 queries and the merge of two partials
  // per request are ~1 MB a layer (~0.1 ms over the step, a few kernels per layer).
  const double flops = 4 * 64 * Hq * D * 65536 * L;
  const double attn = std::max(flops / kAttnFlops, 65536 * kKvTok / kBw) + L * kKernel;
  REQUIRE(attn == Approx(3.13e-3).epsilon(0.01));
  // The rest: gather, scatter, concat and merge, 6 small kernels a layer (at most ~10 us each).
  CHECK(with - without >= attn);
  CHECK(with - without <= attn + L * 6 * 10e-6);
}
