// The batching policies (sim/serving/batching_instance.*) on hand-built traces: one instance, a cost
// model that takes a constant time per iteration and records every batch, KV blocks small enough
// to count by hand. Every expected value below is derived in the comments, not read off a run.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "tests/serving_harness.hpp"

using namespace moska;

using test::at;
using test::kStep;
using test::req;
using test::replay;
using test::Replay;
using test::Step;

// Two requests of 32 prompt tokens and 40 output tokens, both at t = 0, KV blocks of 16 tokens.
// Iteration 1 prefills both (2 blocks each). Decode step k leaves a request holding 32 + k tokens,
// i.e. ceil((32 + k) / 16) blocks: 3 from k = 1, 4 from k = 17, 5 from k = 33 (at most 5: 32 + 39
// = 71 tokens). So both together need 6, 8, then 10 blocks from decode step 33 on.
TEST_CASE("schedulers: vLLM V1 preempts when, and only when, the KV blocks run out") {
  const std::vector<Request> two = {req(0, 0, 32, 40), req(1, 0, 32, 40)};
  const std::string v1 = R"({"policy": "vllm-v1", "kv_block_tokens": 16})";
  SECTION("10 blocks: both grow to 5 blocks, nothing is preempted") {
    auto r = replay(v1, 160, two);
    CHECK(r.out.preempted_recompute == 0);
    CHECK(r.out.iterations == 40);  // 1 prefill + 39 decode steps, both together
    CHECK(at(r, 1, true) == Approx(40 * kStep));
  }
  SECTION("9 blocks: decode step 33 needs 10; the later request is preempted there, not before") {
    auto r = replay(v1, 144, two);
    REQUIRE(r.out.preempted_recompute == 1);
    // Iteration 34 (decode step 33) runs only request 0, which reads its 32 prompt tokens and 33 made.
    for (std::size_t i = 1; i < 33; ++i) CHECK(r.steps[i].decodes == 2);
    CHECK(r.steps[33].decodes == 1);
    CHECK(r.steps[33].decode_kv == 32 + 33);
    // Request 1 held 32 + 33 - 1 = 64 tokens = 4 full blocks, left in V1's prefix cache. Until request
    // 0 ends (iteration 40) its 5 blocks of 65 tokens do not fit the 4 free blocks. Only 1 block was
    // allocated since (request 0's fifth), no more than the 1 block free ahead of the cached ones, so
    // nothing was evicted: iteration 41 recomputes 1 token (65 - 64 restored) and makes token 34;
    // 6 decode steps make 35..40.
    CHECK(r.out.recomputed_tokens == 0);
    CHECK(r.steps[40].prefills.size() == 1);
    CHECK(r.steps[40].prefills[0].new_tokens == 1);
    CHECK(r.steps[40].prefills[0].past_tokens == 64);
    CHECK(r.out.iterations == 47);
    CHECK(at(r, 0, true) == Approx(40 * kStep));
    CHECK(at(r, 1, true) == Approx(47 * kStep));
  }
  SECTION("a longer prompt fills the blocks sooner: 48-token prompts run out at decode step 17") {
    // 48 + k tokens: 4 blocks from k = 1, 5 from k = 17; two requests need 10 > 9 at k = 17.
    auto r = replay(v1, 144, {req(0, 0, 48, 40), req(1, 0, 48, 40)});
    REQUIRE(r.out.preempted_recompute == 1);
    CHECK(r.steps[16].decodes == 2);
    CHECK(r.steps[17].decodes == 1);
  }
}

TEST_CASE("schedulers: recompute without a prefix cache, and swap to host memory") {
  const std::vector<Request> two = {req(0, 0, 32, 40), req(1, 0, 32, 40)};
  SECTION("sarathi recomputes all 64 tokens of the preempted request once request 0 is done") {
    auto r = replay(R"({"policy": "sarathi", "admission_watermark": 0})", 144, two);
    REQUIRE(r.out.preempted_recompute == 1);
    CHECK(r.out.recomputed_tokens == 64);
    // Iteration 41: a whole re-prefill of 32 + 33 = 65 tokens, which makes token 34.
    CHECK(r.steps[40].prefills.size() == 1);
    CHECK(r.steps[40].prefills[0].new_tokens == 65);
    CHECK(r.steps[40].prefills[0].past_tokens == 0);
    CHECK(r.out.iterations == 47);
  }
  SECTION("swap: 64 tokens of 1 MB go out at step 34 and back at step 41 over 1 GB/s") {
    auto r = replay(R"({"policy": "vllm-v1", "preemption": "swap"})", 144, two);
    CHECK(r.out.preempted_recompute == 0);
    REQUIRE(r.out.preempted_swap == 1);
    CHECK(r.out.swapped_bytes == Approx(2 * 64 * 1e6));
    // Swapped back in when request 0 has left (iteration 41), it decodes its 7 last tokens there
    // and in the 6 steps after; iterations 34 and 41 each carry 64 ms of PCIe traffic.
    CHECK(r.out.iterations == 47);
    CHECK(r.steps[40].decodes == 1);
    CHECK(r.steps[40].prefills.empty());
    CHECK(at(r, 0, true) == Approx(40 * kStep + 0.064));
    CHECK(at(r, 1, true) == Approx(47 * kStep + 2 * 0.064));
  }
}

TEST_CASE("schedulers: TensorRT-LLM's reservation never preempts; a request waits for room instead") {
  const std::vector<Request> two = {req(0, 0, 32, 40), req(1, 0, 32, 40)};
  SECTION("prompt + output = 72 each: 144 tokens hold both from the start") {
    auto r = replay(R"({"policy": "trtllm"})", 144, two);
    CHECK(r.out.preempted_recompute + r.out.preempted_swap == 0);
    CHECK(r.out.iterations == 40);
  }
  SECTION("143 tokens: request 1 is admitted when request 0 has finished (iteration 41)") {
    auto r = replay(R"({"policy": "trtllm"})", 143, two);
    CHECK(r.out.preempted_recompute + r.out.preempted_swap == 0);
    CHECK(r.out.iterations == 80);
    CHECK(at(r, 1, false) == Approx(41 * kStep));
  }
}

// r0: 100 prompt tokens, 3 output tokens; r1: 200 prompt tokens, 2 output tokens; both at t = 0;
// a token budget of 256 per iteration; plenty of KV.
TEST_CASE("schedulers: each policy's batches on a hand-built trace") {
  const std::vector<Request> two = {req(0, 0, 100, 3), req(1, 0, 200, 2)};
  auto check = [](const Replay& r, const std::vector<Step>& want) {
    REQUIRE(r.steps.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
      INFO("iteration " << i + 1);
      CHECK(r.steps[i].decodes == want[i].decodes);
      CHECK(r.steps[i].decode_kv == want[i].decode_kv);
      REQUIRE(r.steps[i].prefills.size() == want[i].prefills.size());
      for (std::size_t k = 0; k < want[i].prefills.size(); ++k) {
        CHECK(r.steps[i].prefills[k].new_tokens == want[i].prefills[k].new_tokens);
        CHECK(r.steps[i].prefills[k].past_tokens == want[i].prefills[k].past_tokens);
      }
    }
  };
  // Mixed, chunked (vLLM V1, Sarathi, TensorRT-LLM with chunked context): r0 whole and r1's first 156
  // tokens; then r0's first decode (100 + 1 tokens read) with r1's last 44; then both decode
  // (100 + 2 and 200 + 1 tokens) and finish.
  const std::vector<Step> mixed = {{0, 0, {{100, 0}, {156, 0}}}, {1, 101, {{44, 156}}}, {2, 303, {}}};
  for (const char* p : {"vllm-v1", "sarathi", "trtllm"}) {
    INFO(p);
    check(replay(std::string(R"({"max_batched_tokens": 256, "policy": ")") + p + "\"}", 100000, two), mixed);
  }
  // Orca: whole prompts only, r1 does not fit beside r0 (200 > 156) and runs whole next to r0's decode.
  check(replay(R"({"policy": "orca", "max_batched_tokens": 256})", 100000, two),
        {{0, 0, {{100, 0}}}, {1, 101, {{200, 0}}}, {2, 303, {}}});
  // vLLM V0: prefill-only iterations while prompts wait; r0's decodes wait for r1's prefill.
  check(replay(R"({"policy": "vllm-v0", "max_batched_tokens": 256})", 100000, two),
        {{0, 0, {{100, 0}}}, {0, 0, {{200, 0}}}, {2, 101 + 201, {}}, {1, 102, {}}});
  // SGLang: prefill first, chunked: r1's last 44 tokens run alone before any decode.
  check(replay(R"({"policy": "sglang", "max_batched_tokens": 256})", 100000, two),
        {{0, 0, {{100, 0}, {156, 0}}}, {0, 0, {{44, 156}}}, {2, 101 + 201, {}}, {1, 102, {}}});
  // vLLM V0 multi-step: r2 (50 tokens, 1 output) arrives at 25 ms, during the decode step that starts
  // at 20 ms. One step per round: it is prefilled at once (iteration 4) and r0 ends at iteration 5.
  // Rounds of 2 decode steps: iteration 4 is the round's second step, r2 waits for iteration 5.
  const std::vector<Request> three = {req(0, 0, 100, 3), req(1, 0, 200, 2), req(2, 0.025, 50, 1)};
  check(replay(R"({"policy": "vllm-v0", "max_batched_tokens": 256})", 100000, three),
        {{0, 0, {{100, 0}}}, {0, 0, {{200, 0}}}, {2, 302, {}}, {0, 0, {{50, 0}}}, {1, 102, {}}});
  check(replay(R"({"policy": "vllm-v0", "max_batched_tokens": 256, "multi_step": 2})", 100000, three),
        {{0, 0, {{100, 0}}}, {0, 0, {{200, 0}}}, {2, 302, {}}, {1, 102, {}}, {0, 0, {{50, 0}}}});
}

TEST_CASE("schedulers: a burst's first iteration takes every request that arrived at that instant") {
  // 8 prompts of 10 tokens at t = 0, one output token each, an 8192-token budget: one prefill
  // iteration of all 8 under every policy (the instance starts at the end of the instant).
  for (const char* p : {"vllm-v1", "vllm-v0", "sglang", "sarathi", "orca", "trtllm"}) {
    INFO(p);
    std::vector<Request> eight;
    for (int i = 0; i < 8; ++i) eight.push_back(req(static_cast<std::uint64_t>(i), 0, 10, 1));
    auto r = replay(std::string(R"({"policy": ")") + p + "\"}", 100000, eight);
    REQUIRE(!r.steps.empty());
    CHECK(r.steps.at(0).prefills.size() == 8);
    CHECK(r.steps.size() == 1);
  }
}

TEST_CASE("schedulers: SGLang admits a prompt only if new_token_ratio x the remaining outputs fit beside it") {
  // 2000 KV tokens. At t = 0 the ratio is 0.7. r0 (100 + 1500 out) needs 100 + 0.7 x 1500 = 1150 of
  // 2000: admitted; its chunk takes 100 tokens. r1 (100 + out) then has 1900 - 0.7 x 1500 = 850:
  // admitted if 100 + 0.7 x out <= 850, i.e. out <= 1071.
  auto first = [](std::int64_t out1) {
    return replay(R"({"policy": "sglang"})", 2000, {req(0, 0, 100, 1500), req(1, 0, 100, out1)}).steps.at(0).prefills.size();
  };
  CHECK(first(1000) == 2);
  CHECK(first(1100) == 1);
}

TEST_CASE("schedulers: a request that can never fit is rejected with its reason; the rest are served") {
  auto r = replay(R"({"policy": "vllm-v1"})", 160, {req(0, 0, 32, 40), req(1, 0, 150, 20)});
  CHECK_FALSE(r.out.requests[0].rejected);
  CHECK(r.out.requests[1].rejected);
  CHECK(r.out.reject_reasons.at(r.out.requests[1].reject_reason) == "kv_never_fits");
  const auto s = summarize(r.out);
  CHECK(s.status == "some_not_served");
  REQUIRE(s.rejected_by_reason.size() == 1);
  CHECK(s.rejected_by_reason[0].second == 1);
}
