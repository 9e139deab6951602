// The engine's API server (sim/serving/api_server.*): requests being ingested share the server
// (processor sharing) in the time the output stream leaves free; the stream processes the engine's
// steps in order. Every expected time is derived by hand from the rules; every engine iteration of
// the harness takes kStep = 10 ms.
#include <catch2/catch.hpp>

#include "tests/serving_harness.hpp"

using namespace moska;
using test::at;
using test::kStep;
using test::req;

TEST_CASE("api server: requests being ingested share it; a later one finishes later") {
  // request_s 5 ms, nothing charged on the way out. r0 at 0, r1 at 2 ms, one output token each.
  // r0 alone 0..2 ms (2 ms of its 5); then both at half speed: r0's 3 ms left take 6 ms, done at
  // 8 ms, when r1 has had 3 ms; r1 alone again, 2 ms: done at 10 ms.
  // Engine: r0 prefilled 8..18 ms (seen at 18); r1 queued at 10 ms, prefilled 18..28 ms.
  auto r = test::replay_engine("api-share", {{"request_s", 0.005}}, {req(0, 0, 10, 1), req(1, 0.002, 10, 1)});
  CHECK(at(r, 0, false) == Approx(0.018));
  CHECK(at(r, 1, false) == Approx(0.028));
  REQUIRE(r.steps.size() == 2);
  CHECK(r.steps[0].prefills.size() == 1);
}

TEST_CASE("api server: a burst of N equal requests reaches the engine together after N x request_s") {
  // 100 requests of 10 prompt tokens and one output token at t = 0, request_s 1 ms: each gets 1/100
  // of the server, all are in at 100 ms and prefilled in one iteration (1000 tokens), seen at 110 ms.
  auto r = test::replay_engine("api-burst", {{"request_s", 0.001}}, test::identical(100, 10, 1));
  REQUIRE(r.steps.size() == 1);
  CHECK(r.steps[0].prefills.size() == 100);
  for (std::size_t i = 0; i < 100; ++i) CHECK(at(r, i, false) == Approx(0.1 + kStep));
}

TEST_CASE("api server: the output stream goes first; ingestion waits while it has work") {
  // request_s 5 ms, token_s 1 ms. r0 (10 prompt tokens, 3 output) at 0: in at 5 ms, prefilled
  // 5..15 (token seen at 16), decode steps 15..25 (seen 26) and 25..35 (seen 36). r1 (10, 1) at
  // 24 ms: ingested 24..25, paused while the stream takes r0's second token (25..26), then its
  // last 4 ms: in at 30 ms; the engine is busy until 35; r1 prefilled 35..45, seen at 46 ms.
  auto r = test::replay_engine("api-priority", {{"request_s", 0.005}, {"token_s", 0.001}},
                               {req(0, 0, 10, 3), req(1, 0.024, 10, 1)});
  CHECK(at(r, 0, false) == Approx(0.016));
  CHECK(at(r, 0, true) == Approx(0.036));
  CHECK(at(r, 1, false) == Approx(0.046));
  CHECK(ns_to_seconds(r.out.requests[1].first_token - r.out.requests[1].arrival) == Approx(0.022));
}

TEST_CASE("api server: the stream is a FIFO of the engine's steps at token_s a token") {
  // No ingestion cost; token_s 6 ms: 2 requests of 10 prompt tokens and 2 output tokens at t = 0.
  // Step 1 (0..10 ms) makes their 2 first tokens: the stream takes 10..22 ms; step 2 (10..20) their
  // 2 last: the stream is still busy, 22..34 ms. TTFT 22 ms and the last tokens at 34 ms for both
  // (each step's output is seen when the server has done all of it).
  auto r = test::replay_engine("api-fifo", {{"token_s", 0.006}}, test::identical(2, 10, 2));
  REQUIRE(r.steps.size() == 2);
  for (std::size_t i = 0; i < 2; ++i) {
    CHECK(at(r, i, false) == Approx(0.022));
    CHECK(at(r, i, true) == Approx(0.034));
  }
  CHECK(r.out.sim_seconds == Approx(0.034));
}

TEST_CASE("api server: closed-loop clients send their next request when the last token is seen") {
  // One client, request_s 2 ms, latency_s 1 ms, three requests of one output token: each is in
  // after 2 ms, prefilled in 10 ms, seen 1 ms later; the next is sent then. 13 ms a request.
  auto r = test::replay_engine("api-closed", {{"request_s", 0.002}, {"latency_s", 0.001}}, test::identical(3, 10, 1), 1);
  for (std::size_t i = 0; i < 3; ++i) {
    CHECK(ns_to_seconds(r.out.requests[i].arrival) == Approx(0.013 * static_cast<double>(i)));
    CHECK(at(r, i, true) == Approx(0.013 * static_cast<double>(i + 1)));
  }
}
