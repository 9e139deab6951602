// Mooncake's per-request TBT (FAST'25 5.1: the mean of the longest 10% of a request's token gaps)
// and its capacity curve, on hand-built numbers and a hand-built trace whose step times are set by
// the test: every expected value is worked out by hand below.
#include <catch2/catch.hpp>

#include <algorithm>

#include "sim/metrics/tail_tbt.hpp"
#include "sim/systems/system.hpp"
#include "sim/serving/workload_loader.hpp"
#include "sim/util/paths.hpp"
#include "tests/serving_harness.hpp"

using namespace moska;

namespace {

// A step with a prefill chunk takes 1/16 s, a decode-only step 1/64 s (both exact in ns).
constexpr double kPrefillStep = 0.0625, kDecodeStep = 0.015625;

class TwoSpeeds final : public IterationModel {
 public:
  void route(const std::vector<std::int64_t>&, SharedAttention&) const override {}
  void cost(const BatchSpec& b, IterStats& out) const override {
    out.seconds = b.prefills.empty() ? kDecodeStep : kPrefillStep;
    out.charges.clear();
    out.charge(0, 0, 0);
  }
};

Request req(std::uint64_t id, TimeNs at, std::int64_t in, std::int64_t out) {
  Request r;
  r.id = id;
  r.arrival_ns = at;
  r.input_tokens = in;
  r.output_tokens = out;
  return r;
}

}  // namespace

TEST_CASE("tail TBT: the slowest p% of gaps, counted as ceil(p x n)") {
  CHECK(slowest_count(0.1, 10) == 1);  // not 2: 0.1 x 10 is 1 in decimal
  CHECK(slowest_count(0.1, 11) == 2);
  CHECK(slowest_count(0.1, 1) == 1);
  CHECK(slowest_count(0.1, 0) == 0);
  CHECK(slowest_count(1.0, 7) == 7);
  std::vector<double> g;
  for (int i = 1; i <= 20; ++i) g.push_back(i);
  CHECK(slowest_mean(g, slowest_count(0.1, 20)) == Approx(19.5));  // (20 + 19) / 2
  std::vector<double> h = {3, 1, 2};
  CHECK(slowest_mean(h, 3) == Approx(2.0));
}

TEST_CASE("tail TBT: a decode stalled once by another request's prefill") {
  // A (4-token prompt, 11 tokens) arrives at 0: its prefill step ends at 1/16 s (first token).
  // B (4-token prompt, 2 tokens) arrives then: B's prefill shares A's first decode step, which takes
  // 1/16 s; then 9 decode-only steps of 1/64 s. A's 10 gaps: 62.5 ms once and 15.625 ms nine times.
  auto sc = test::scenario(R"({"policy": "vllm-v1"})");
  sc.slo.tbt_slowest_fraction = 0.1;
  const std::vector<Request> reqs = {req(0, 0, 4, 11), req(1, seconds_to_ns(kPrefillStep), 4, 2)};
  TwoSpeeds m;
  test::OneInstance d(1 << 20, m);
  ServingLoop loop(sc, reqs);
  const RunResult r = loop.run(d);
  REQUIRE(r.request_tbt_slowest.size() == 2);
  CHECK(r.request_tbt_slowest[0] == Approx(kPrefillStep));             // slowest 1 of 10 gaps
  CHECK(request_mean_tbt_s(r.requests[0]) == Approx((kPrefillStep + 9 * kDecodeStep) / 10));  // 20.3125 ms
  CHECK(r.request_tbt_slowest[1] == Approx(kDecodeStep));              // B's one gap: a decode step
  // SLO at 30 ms: by its mean gap A meets it, by its slowest 10% it does not.
  SloSpec mean{0, 0.030, 0};
  SloSpec slow{0, 0.030, 0.1};
  CHECK(evaluate_slo(r, mean).met == 2);
  CHECK(evaluate_slo(r, slow).met == 1);
  // Slowest 20%: (62.5 + 15.625) / 2 ms.
  auto sc2 = sc;
  sc2.slo.tbt_slowest_fraction = 0.2;
  ServingLoop loop2(sc2, reqs);
  test::OneInstance d2(1 << 20, m);
  CHECK(loop2.run(d2).request_tbt_slowest[0] == Approx((kPrefillStep + kDecodeStep) / 2));
  // The capacity curve at this load: both meet a bound of 62.5 ms, only B one of 20 ms.
  const auto curve = slo_curve(r, slow, {0.020, 0.0625});
  CHECK(curve[0].met == 1);
  CHECK(curve[1].met == 2);
  CHECK(curve[1].attainment == Approx(1.0));
}

TEST_CASE("tail TBT: slowest 100% is the mean gap on a real trace (gaps add up to first -> last token)") {
  // Mooncake on 500 conversation requests: decode stretches after a KV hand-off, preemptions by
  // recompute on small decode instances; whatever the path, a request's gaps sum to finish - first token.
  auto j = nlohmann::json::parse(R"({
    "name": "t", "seed": 1, "model": "llama-3.1-8b", "dtype": "bf16", "system": "mooncake",
    "pools": [{"name": "p", "role": "prefill", "hw": "h100-sxm", "instances": 2, "tp": 1},
              {"name": "d", "role": "decode", "hw": "h100-sxm", "instances": 1, "tp": 1}],
    "scheduler": {"max_batch": 64, "max_batched_tokens": 8192, "gpu_memory_utilization": 0.3},
    "mooncake": {"sample_interval_s": 0},
    "slo": {"tbt_s": 0.1, "tbt_slowest_percent": 100},
    "workload": {"trace": {"path": "fixtures/mooncake_conversation_head500.jsonl", "max_requests": 200}}
  })");
  const Scenario sc = parse_scenario_for_systems(j, "<test>", data_root() / "workloads");
  const RunResult r = simulate(sc, load_workload(sc));
  std::int64_t checked = 0;
  for (std::size_t i = 0; i < r.requests.size(); ++i) {
    const double m = request_mean_tbt_s(r.requests[i]);
    if (m < 0) continue;
    CHECK(r.request_tbt_slowest[i] == Approx(m).epsilon(1e-9));
    ++checked;
  }
  CHECK(checked > 100);
  CHECK(r.preempted_recompute > 0);  // the path through preemption is exercised
}
