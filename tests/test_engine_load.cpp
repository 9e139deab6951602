// Load as benchmark tools make it (closed-loop clients, ShareGPT-like lengths) and what an engine
// costs outside the GPU step (its API server, its per-round CPU work, its memory), against values
// derived by hand; and what a run that served nothing says.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>

#include "sim/cost/cost_model.hpp"
#include "sim/hw/gpu.hpp"
#include "sim/model/model_spec.hpp"
#include "sim/model/operators.hpp"
#include "sim/serving/engine_profile.hpp"
#include "sim/serving/workload_loader.hpp"
#include "sim/systems/system.hpp"
#include "sim/workload/generator.hpp"
#include "tests/cli_run.hpp"
#include "tests/serving_harness.hpp"

using namespace moska;
using test::engine_file;
using test::identical;
using test::kStep;
using test::req;

namespace {


}  // namespace

TEST_CASE("closed loop: C clients of identical requests in lockstep give exactly C / W requests per second") {
  // 40 requests of 10 prompt and 5 output tokens, 4 clients. Each round: one prefill iteration for
  // the 4 and 4 decode steps, 5 x 10 ms = 50 ms, after which the 4 next are sent. W = 50 ms, 10
  // rounds: 0.5 s, 80 requests/s = C / W (Little's law with no think time).
  auto r = test::replay(R"({"policy": "vllm-v1"})", 100000, identical(40, 10, 5), 4);
  const auto s = summarize(r.out);
  CHECK(s.finished == 40);
  CHECK(r.out.sim_seconds == Approx(0.5));
  CHECK(s.requests_per_s == Approx(4 / 0.05));
  CHECK(s.e2e_mean == Approx(0.05));
  for (int i = 0; i < 40; ++i) CHECK(ns_to_seconds(r.out.requests[static_cast<std::size_t>(i)].arrival) == Approx((i / 4) * 0.05));
}

TEST_CASE("closed loop: on a real deployment, throughput = clients / mean latency, never more in flight") {
  auto j = nlohmann::json::parse(R"({"name": "c", "seed": 5, "model": "llama-3.1-8b", "dtype": "bf16", "system": "vllm",
      "pools": [{"name": "g", "role": "serve", "hw": "h100-sxm", "instances": 1, "tp": 1}],
      "scheduler": {"policy": "vllm-v1"},
      "workload": {"max_concurrency": 16, "generator": {"requests": 3000, "arrival": {"process": "burst"},
                   "lengths": {"dist": "sharegpt", "input_mean": 217, "output_mean": 201}}}})");
  const auto sc = parse_scenario_for_systems(j, "<test>", ".");
  const auto out = simulate(sc, load_workload(sc));
  const auto s = summarize(out);
  REQUIRE(s.finished == 3000);
  // Little: lambda = N / W, with N = 16 in flight all the time but while the last 15 drain (a
  // tail of about one request's latency in ~190 rounds): within 2%.
  const double little = 16.0 / s.e2e_mean;
  CHECK(s.requests_per_s == Approx(little).epsilon(0.02));
  // At every send, at most 16 requests are in flight; each request after the first 16 is sent at
  // the moment another one finished.
  std::map<TimeNs, int> finishes;
  for (const auto& q : out.requests) ++finishes[q.finish];
  for (std::size_t i = 0; i < out.requests.size(); ++i) {
    const TimeNs t = out.requests[i].arrival;
    int in_flight = 0;
    for (const auto& q : out.requests) in_flight += q.arrival <= t && q.finish > t;
    CHECK(in_flight <= 16);
    if (i >= 16) CHECK(finishes.count(t) == 1);
  }
}

TEST_CASE("engine: the API server takes requests in together and streams tokens in step order") {
  // request_s 5 ms, token_s 1 ms, done_s 0.5 ms; two one-token requests of 10 prompt tokens at t = 0.
  // Both are ingested side by side (processor sharing): each has had its 5 ms at 10 ms, when both
  // reach the engine; one prefill iteration 10..20 ms; their tokens and finishes cost the server
  // 2 x 1.5 ms: both seen at 23 ms. (tests/test_api_server.cpp has the rest of the server's rules.)
  const auto e = engine_file("ps", {{"request_s", 0.005}, {"token_s", 0.001}, {"done_s", 0.0005}});
  auto r = test::replay(R"({"policy": "vllm-v1", "engine": ")" + e + "\"}", 100000, identical(2, 10, 1));
  CHECK(test::at(r, 0, false) == Approx(0.023));
  CHECK(test::at(r, 1, false) == Approx(0.023));
  CHECK(r.out.sim_seconds == Approx(0.023));
  // latency_s shifts every token the client sees, not the engine.
  const auto l = engine_file("latency", {{"latency_s", 0.003}});
  auto d = test::replay(R"({"policy": "vllm-v1", "engine": ")" + l + "\"}", 100000, identical(1, 10, 3));
  CHECK(test::at(d, 0, false) == Approx(kStep + 0.003));
  CHECK(test::at(d, 0, true) == Approx(3 * kStep + 0.003));
}

TEST_CASE("engine: per-round CPU time, serial or overlapped with the GPU step, once per multi-step round") {
  // One request, 10 prompt tokens, 3 output tokens: a prefill and 2 decode steps of one sequence.
  const auto serial = engine_file("serial", {{"iteration_s", 0.002}, {"iteration_per_seq_s", 0.001}});
  auto a = test::replay(R"({"policy": "vllm-v1", "engine": ")" + serial + "\"}", 100000, identical(1, 10, 3));
  CHECK(test::at(a, 0, true) == Approx(3 * (kStep + 0.003)));  // 13 ms each
  const auto over = engine_file("overlap", {{"iteration_s", 0.005}, {"iteration_per_seq_s", 0.001}, {"overlap", true}});
  auto b = test::replay(R"({"policy": "vllm-v1", "engine": ")" + over + "\"}", 100000, identical(1, 10, 3));
  CHECK(test::at(b, 0, true) == Approx(3 * kStep));  // max(10 ms, 6 ms)
  // vLLM V0, rounds of 2 decode steps: the prefill (13 ms), the round's first step (13 ms), its
  // second without scheduling (10 ms).
  auto c = test::replay(R"({"policy": "vllm-v0", "multi_step": 2, "engine": ")" + serial + "\"}", 100000, identical(1, 10, 3));
  CHECK(test::at(c, 0, true) == Approx(2 * (kStep + 0.003) + kStep));
}

TEST_CASE("engine: per-sequence CPU time per round grows with the batch, and multi-step amortises it") {
  // vLLM V0 (hw_profiles/engines/vllm-0.6.json, iteration_per_seq_s; Lambda's v0.6.0 rows 101-104 of
  // results/serving_validation). 2 identical requests of 10 prompt and 5 output tokens, 1 ms of CPU
  // per sequence per scheduling round. Their prefill-only step: 10 + 2 x 1 = 12 ms, first tokens at 12 ms.
  const auto e = engine_file("per_seq", {{"iteration_per_seq_s", 0.001}});
  const auto tpot = [](const test::Replay& r, std::size_t i) {
    return (test::at(r, i, true) - test::at(r, i, false)) / 4.0;
  };
  // One step per round: 4 decode steps of 10 + 2 = 12 ms; TPOT 12 ms.
  auto one = test::replay(R"({"policy": "vllm-v0", "multi_step": 1, "engine": ")" + e + "\"}", 100000, identical(2, 10, 5));
  // One round of 4 steps: its first step pays the 2 ms, the next 3 are 10 ms: 42 / 4 = 10.5 ms.
  auto four = test::replay(R"({"policy": "vllm-v0", "multi_step": 4, "engine": ")" + e + "\"}", 100000, identical(2, 10, 5));
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(test::at(one, i, false) == Approx(0.012));
    CHECK(tpot(one, i) == Approx(0.012));
    CHECK(test::at(four, i, false) == Approx(0.012));
    CHECK(tpot(four, i) == Approx(0.0105));
  }
}

TEST_CASE("engine memory: gpu_memory_utilization of total HBM minus weights, activations at the budget, CUDA context") {
  // Llama-3.1-8B (config.json): 32 layers, hidden 4096, 32 heads, 8 KV heads of 128, FFN 14336,
  // vocabulary 128256, untied: 8,030,261,248 parameters, bf16 weights 16,060,522,496 bytes.
  const double params = 32.0 * (4096.0 * (4096 + 2 * 1024) + 4096.0 * 4096 + 3.0 * 4096 * 14336 + 2 * 4096) +
                        2.0 * 128256 * 4096 + 4096;
  REQUIRE(params == 8030261248.0);
  const double hbm = 85520809984.0;  // H100 80GB, nvidia-smi
  // vLLM's profile run of 8192 tokens: per token 2 x hidden + q + k + v + gate + up, bf16; fp32
  // logits and probabilities for min(8192, 1024) rows.
  const double act = 8192.0 * 2 * (2 * 4096 + 4096 + 2 * 1024 + 2 * 14336) + 1024.0 * 128256 * 4 * 2;
  const double non_torch = 0.5 * 1024 * 1024 * 1024;
  const double kv_per_token = 2.0 * 32 * 8 * 128 * 2;  // K and V, 32 layers, bf16
  auto expected = static_cast<std::int64_t>((0.9 * hbm - 2 * params - act - non_torch) / kv_per_token);
  expected -= expected % 16;
  const auto e = engine_file("memory", nlohmann::json::object(),
                             {{"activation_reserve", true}, {"non_torch_bytes", non_torch}});
  auto j = nlohmann::json::parse(R"({"name": "m", "model": "llama-3.1-8b", "dtype": "bf16", "system": "vllm",
      "pools": [{"name": "g", "role": "serve", "hw": "h100-sxm", "instances": 1, "tp": 1}],
      "scheduler": {"policy": "vllm-v1", "gpu_memory_utilization": 0.9},
      "workload": {"generator": {"requests": 1, "arrival": {"process": "burst"},
                   "input_tokens": {"dist": "constant", "value": 8}, "output_tokens": {"dist": "constant", "value": 2}}}})");
  j["scheduler"]["engine"] = e;
  const auto sc = parse_scenario_for_systems(j, "<test>", ".");
  const auto out = simulate(sc, load_workload(sc));
  CHECK(out.pools.at(0).kv_capacity_tokens == expected);
  CHECK(out.pools.at(0).kv_block_tokens == 16);
  // Without the engine's terms: 0.9 x HBM - weights, in whole blocks.
  j["scheduler"].erase("engine");
  const auto sc2 = parse_scenario_for_systems(j, "<test>", ".");
  auto plain = static_cast<std::int64_t>((0.9 * hbm - 2 * params) / kv_per_token);
  plain -= plain % 16;
  CHECK(simulate(sc2, load_workload(sc2)).pools.at(0).kv_capacity_tokens == plain);
}

TEST_CASE("workload: ShareGPT-like lengths pass vLLM's filter and have the published means after it") {
  GeneratorSpec g;
  g.requests = 200000;
  g.arrival.process = ArrivalSpec::Process::burst;
  g.lengths = ShareGptLengths{};
  g.lengths->input_mean = 217.4;
  g.lengths->output_mean = 201.4;
  g.seed = 3;
  const auto reqs = generate(g);
  double in = 0, out = 0;
  for (const auto& q : reqs) {
    REQUIRE(q.input_tokens >= 4);
    REQUIRE(q.input_tokens <= 1024);
    REQUIRE(q.output_tokens >= 4);
    REQUIRE(q.input_tokens + q.output_tokens <= 2048);
    in += static_cast<double>(q.input_tokens);
    out += static_cast<double>(q.output_tokens);
  }
  // GPUStack's 1000 ShareGPT prompts (Qwen3 tokenizer): 217.4 in, 201.4 out per request.
  CHECK(in / static_cast<double>(reqs.size()) == Approx(217.4).epsilon(0.01));
  CHECK(out / static_cast<double>(reqs.size()) == Approx(201.4).epsilon(0.01));
  CHECK(generate(g)[12345].input_tokens == reqs[12345].input_tokens);  // deterministic
  g.lengths->input_mean = 2000;  // cannot be the mean of prompts capped at 1024
  CHECK_THROWS_WITH(generate(g), Catch::Contains("input_mean"));
}

TEST_CASE("cli: a run that serves nothing says why, prints no latencies and exits 1; sweep rows carry the status") {
  const auto path = std::filesystem::temp_directory_path() / "moska-test-nothing-served.json";
  // 120K-token prompts (within the model's 128K context) against ~24K tokens of KV (5% of 64 GB).
  std::ofstream(path) << R"({"name": "too long", "model": "llama-3.1-8b", "dtype": "bf16", "system": "vllm",
      "pools": [{"name": "g", "role": "serve", "hw": "h100-sxm", "instances": 1, "tp": 1}],
      "scheduler": {"kv_memory_fraction": 0.05},
      "workload": {"generator": {"requests": 3, "arrival": {"process": "burst"},
                   "input_tokens": {"dist": "constant", "value": 120000}, "output_tokens": {"dist": "constant", "value": 8}}}})";
  auto r = test::run("run " + path.string() + " --json");
  CHECK(r.rc == 1);
  CHECK_THAT(r.out, Catch::Contains("nothing was served: none_served: 3 of 3 requests rejected (kv_never_fits 3)"));
  CHECK_THAT(r.out, Catch::Contains("\"mean\": null"));
  auto t = test::run("run " + path.string());
  CHECK(t.rc == 1);
  CHECK_THAT(t.out, Catch::Contains("(no request finished)"));
  auto s = test::run("sweep " + path.string() + " --set requests=2,3 --jobs 1");
  CHECK(s.rc == 0);
  CHECK_THAT(s.out, Catch::Contains("\n2,none_served,2,0,2,0,"));
}

TEST_CASE("scenario: scheduler keys are checked against the policy") {
  auto bad = [](const std::string& sched) {
    auto j = nlohmann::json::parse(R"({"name": "t", "system": "vllm", "pools": [{"hw": "h100-sxm", "instances": 1}],
        "workload": {"generator": {}}})");
    j["scheduler"] = nlohmann::json::parse(sched);
    return parse_scenario(j, "f.json", ".");
  };
  CHECK_THROWS_WITH(bad(R"({"policy": "fifo"})"), Catch::Contains("key 'scheduler.policy'"));
  CHECK_THROWS_WITH(bad(R"({"policy": "vllm-v1", "multi_step": 4})"), Catch::Contains("multi_step"));
  CHECK_THROWS_WITH(bad(R"({"policy": "trtllm", "preemption": "swap"})"), Catch::Contains("reserves KV at admission"));
  CHECK_THROWS_WITH(bad(R"({"policy": "sarathi", "chunked_prefill": false})"), Catch::Contains("chunks prompts"));
  CHECK_THROWS_WITH(bad(R"({"gpu_memory_utilization": 1.5})"), Catch::Contains("gpu_memory_utilization"));
  CHECK_THROWS_WITH(bad(R"({"engine": "no-such-engine"})"), Catch::Contains("unknown engine profile 'no-such-engine'"));
  // Every shipped engine profile loads, names a policy and gives each value a source.
  for (const auto& e : std::filesystem::directory_iterator(std::string(MOSKA_SOURCE_DIR) + "/hw_profiles/engines")) {
    INFO(e.path());
    const auto s = bad(nlohmann::json({{"engine", e.path().string()}}).dump()).scheduler;
    CHECK(s.engine.name == e.path().stem().string());
  }
}

namespace {

// An engine profile with only this "kernels" section.
std::string kernels_file(const std::string& name, const nlohmann::json& kernels) {
  nlohmann::json k = nlohmann::json::object();
  for (auto& [key, v] : kernels.items()) k[key] = {{"value", v}, {"source", "test"}};
  const auto path = std::filesystem::temp_directory_path() / ("moska-test-kernels-" + name + ".json");
  std::ofstream(path) << nlohmann::json({{"name", name}, {"kernels", k}}).dump();
  return path.string();
}

}  // namespace

TEST_CASE("engine kernels: an FP8-KV attention the tables did not measure is answered by the roofline") {
  const auto e = load_engine_profile(kernels_file("xqa", {{"fp8_kv_attention", "roofline"}}));
  REQUIRE(e.fp8_kv_attention_roofline);
  CHECK_FALSE(load_engine_profile(kernels_file("triton", {{"fp8_kv_attention", "tables"}})).fp8_kv_attention_roofline);
  CHECK_THROWS_WITH(load_engine_profile(kernels_file("bad", {{"fp8_kv_attention", "xqa"}})),
                    Catch::Contains("fp8_kv_attention") && Catch::Contains("roofline"));
  // The H200 has measured FP8-KV decode attention (hw_profiles/h200/fp8/): a batch of 64 at 2K context.
  const auto model = load_model("llama-3.1-8b");
  const Precision fp8 = Precision::uniform(Dtype::fp8);
  const Op op = make_decode_attention(model, fp8, 1, 64, 64 * 2048, 1);
  CostModel tables(load_hardware("h200"), true, CostOptions{"flash2", true});
  CostModel roof(load_hardware("h200"), true, CostOptions{"flash2", false});
  CHECK(tables.op_cost(op).basis == CostBasis::measured);
  const auto c = roof.op_cost(op);
  CHECK(c.basis == CostBasis::roofline);
  // Memory-bound: its bytes at the profile's streaming bandwidth, plus one kernel's overhead.
  const auto& g = roof.gpu();
  CHECK(c.seconds == Approx(op.bytes / (g.hbm_bw_bps * g.roofline.memory_eff) + g.roofline.kernel_overhead_s).epsilon(1e-9));
  // BF16 attention keeps its tables.
  const Op bf = make_decode_attention(model, Precision::uniform(Dtype::bf16), 1, 64, 64 * 2048, 1);
  CHECK(roof.op_cost(bf).basis == CostBasis::measured);
}

TEST_CASE("engine kernels: fused FP8 quantisation drops the separate fp8_quant pass before each FP8 GEMM") {
  const auto model = load_model("llama-3.1-8b");
  Precision p = Precision::uniform(Dtype::fp8);
  auto quant_ops = [&](const Precision& pr) {
    std::vector<Op> ops;
    append_dense_layer_ops(model, pr, 16, 1, model.n_layers, ops);
    append_logit_ops(model, pr, 16, 1, ops);
    std::int64_t n = 0;
    for (const auto& o : ops) n += o.name == "fp8_quant" ? o.count : 0;
    return n;
  };
  // Unfused: one before each of the layer's 4 GEMMs (qkv, o, gate_up, down) and one before lm_head.
  CHECK(quant_ops(p) == 4 * model.n_layers + 1);
  p.fused_fp8_quant = true;
  CHECK(quant_ops(p) == 0);
  CHECK(load_engine_profile(kernels_file("fused", {{"fused_fp8_quant", true}})).fused_fp8_quant);
  CHECK_THROWS_WITH(load_engine_profile(kernels_file("fused-bad", {{"fused_fp8_quant", "yes"}})),
                    Catch::Contains("fused_fp8_quant"));
}
