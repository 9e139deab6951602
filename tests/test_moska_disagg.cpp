// moska-disagg's step against hand calculations: per layer, the unique pool's attention overlaps the
// queries' trip to the shared pool, the shared attention there and the partials' trip back; the link
// runs each direction at the bandwidth of the side with fewer NICs; micro-batches re-read what they
// touch (the weights on the unique pool, each chunk on the shared pool).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>

#include "sim/model/model_spec.hpp"
#include "sim/serving/scenario.hpp"
#include "sim/util/paths.hpp"
#include "tests/system_helpers.hpp"

using namespace moska;

namespace {
// Hand constants, Llama-3.1-8B: 32 layers, 32 query heads of 128 (a query is 4,096 bf16 values =
// 8,192 bytes; a partial is 32 x (128 bf16 + one fp32 LSE) = 8,320 bytes); FP8 weights: every
// matrix but the embedding table is read once per pass, 8,030,261,248 - 128,256 x 4,096 bytes.
constexpr double L = 32, kQueryBytes = 8192, kPartialBytes = 8320;
constexpr double kWeightsRead = 8030261248.0 - 128256.0 * 4096;

// The H100 profile with its NIC slowed to `nic_bps` per GPU (roofline only).
std::string slow_nic_profile(double nic_bps) {
  return test::h100_profile_with("h100-slow-nic", [&](nlohmann::json& j) { j["node"]["nic_bandwidth_bps"]["value"] = nic_bps; });
}

Scenario scenario(int unique, int shared, int micro_batches, const std::string& hw = "h100-sxm") {
  auto j = nlohmann::json::parse(R"({
    "name": "disagg test", "model": "llama-3.1-8b", "dtype": "fp8", "system": "moska-disagg",
    "pools": [{"name": "unique", "role": "unique", "hw": "", "instances": 1, "tp": 1},
              {"name": "shared", "role": "shared", "hw": "", "instances": 1, "tp": 1}],
    "shared": {"tokens": 65536, "chunk_tokens": 4096, "sparsity": 0.75},
    "scheduler": {"micro_batches": 1},
    "workload": {"generator": {"requests": 1, "arrival": {"process": "burst"},
                 "input_tokens": {"dist": "constant", "value": 1}, "output_tokens": {"dist": "constant", "value": 1}}}
  })");
  j["pools"][0]["instances"] = unique;
  j["pools"][1]["instances"] = shared;
  j["pools"][0]["hw"] = j["pools"][1]["hw"] = hw;
  j["scheduler"]["micro_batches"] = micro_batches;
  return parse_scenario(j, "<test>", ".");
}

IterStats decode(const Scenario& sc, std::int64_t b, std::int64_t ctx) {
  const auto cm = test::configure(sc);
  IterStats st;
  cm.sys->decode_step(b, cm.sys->read_per_request(ctx), st);
  return st;
}
}  // namespace

TEST_CASE("moska-disagg: the link carries each direction at the bandwidth of the side with fewer NICs") {
  // A 20 MB/s NIC per GPU, so the link is all of the step. 64 requests, 4 unique GPUs and 1 shared:
  // per layer 64 queries go to the shared GPU (64 x 8,192 B) and 64 partials come back (64 x 8,320 B),
  // both through the shared GPU's one NIC (the side with fewer NICs), one after the other (the
  // shared attention needs the queries, the merge needs the partials), with a 5 us latency each.
  const double nic = 20e6, lat = 5e-6;
  const auto hw = slow_nic_profile(nic);
  const double per_layer = 64 * kQueryBytes / nic + lat + 64 * kPartialBytes / nic + lat;  // 52.8 ms
  const double hand = L * per_layer;                                                        // 1.690 s
  const auto st = decode(scenario(4, 1, 1, hw), 64, 1024);
  // The rest of the step (weights and KV reads, the shared attention) is ~3 ms, < 0.5%.
  CHECK(st.seconds == Approx(hand).epsilon(0.005));
  // Reversed (1 unique GPU, 4 shared): every query goes to each of the 4 shared GPUs and each returns
  // a partial, 4x the bytes, now through the unique GPU's one NIC.
  const auto rev = decode(scenario(1, 4, 1, hw), 64, 1024);
  CHECK(rev.seconds == Approx(L * (4 * 64 * (kQueryBytes + kPartialBytes) / nic + 2 * lat)).epsilon(0.005));
}

TEST_CASE("moska-disagg: micro-batches pipeline the link's two directions but re-read weights and chunks") {
  // With 4 micro-batches the two directions run side by side (each its own direction of the NICs):
  // per layer the busiest direction carries 4 x 16 partials (the queries slightly less), so the
  // step is L x 4 x 16 x 8,320 B / 20 MB/s = 0.852 s where one batch takes 1.690 s.
  const double nic = 20e6;
  const auto hw = slow_nic_profile(nic);
  const auto st = decode(scenario(4, 1, 4, hw), 64, 1024);
  CHECK(st.seconds == Approx(L * 4 * 16 * kPartialBytes / nic).epsilon(0.01));
  // Bytes: each of the 4 unique GPUs reads its weights once per micro-batch (4 x 4 x 7.50 GB
  // instead of 4 x 7.50 GB); the shared GPU reads each of the 16 chunks (4,096 tokens x 64 KiB) once
  // per micro-batch that has a query for it: 64 requests x 4 chunks / 16 = 16 queries a chunk, 4 in
  // each micro-batch, so 4 x 4.29 GB instead of 4.29 GB.
  const auto one = decode(scenario(4, 1, 1), 64, 1024);
  const auto four = decode(scenario(4, 1, 4), 64, 1024);
  const double unique_more = test::charged(four, 0, false) - test::charged(one, 0, false);
  CHECK(unique_more == Approx(3 * 4 * kWeightsRead).epsilon(0.01));
  // (The queries, partials and merges move the same bytes either way: they scale with the queries.)
  const double chunks = 16 * 4096 * 65536.0;
  CHECK(test::charged(four, 1, false) - test::charged(one, 1, false) == Approx(3 * chunks).epsilon(0.02));
}

TEST_CASE("moska-disagg: with a fast link and a light shared pool the step is the unique pool's work") {
  // 32 requests of 64K tokens each on 4 unique GPUs: per GPU 8 x 64K x 64 KiB = 34 GB of unique KV
  // per step (~11 ms), while the shared pool's 16 chunks take well under a millisecond and the link
  // (50 GB/s) microseconds: the shared path hides under the unique attention, layer by layer, and
  // the step is the unique pool's own work (dense layers, unique attention, router, final merge).
  const auto sc = scenario(4, 1, 1);
  const auto cm = test::configure(sc);
  const auto model = load_model("llama-3.1-8b");
  CostModel cost(load_hardware("h100-sxm"));
  BatchSpec per_gpu;
  per_gpu.decode_requests = 8;
  per_gpu.decode_kv_tokens = 8 * 65536;
  auto ops = build_iteration_ops(model, sc.precision, per_gpu, OpFilter{true, true, false});
  ops.push_back(make_router(model, sc.precision, 1, 8, 16, 4, 32));
  ops.push_back(make_merge(model, sc.precision, 1, 8, 2, 32));  // the unique partial + the shared GPU's one
  const double unique_alone = cost.iteration(ops).seconds;
  IterStats st;
  cm.sys->decode_step(32, 65536, st);
  CHECK(st.seconds == Approx(unique_alone).epsilon(0.01));
}
