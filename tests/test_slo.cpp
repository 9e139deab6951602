// SLO metrics and `moska-sim capacity` against hand-computed values.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "sim/cost/cost_model.hpp"
#include "sim/metrics/metrics.hpp"
#include "sim/metrics/slo.hpp"
#include "sim/model/model_spec.hpp"
#include "sim/model/operators.hpp"
#include "sim/serving/scenario.hpp"
#include "sim/util/error.hpp"
#include "tests/cli_run.hpp"

using namespace moska;
using moska::test::run;

namespace {

constexpr TimeNs kS = 1'000'000'000;  // one second in ns

RequestRecord rec(TimeNs arrival, TimeNs first, TimeNs finish, int out, bool rejected = false) {
  RequestRecord q;
  q.arrival = arrival;
  q.first_token = first;
  q.finish = finish;
  q.input_tokens = 100;
  q.output_tokens = out;
  q.rejected = rejected;
  return q;
}

std::string write_file(const std::string& name, const std::string& content) {
  std::string path = "/tmp/moska_test_slo_" + name;
  std::ofstream(path) << content;
  return path;
}

// One llama-3.1-8b bf16 instance on one H100 serving N requests of 1000 prompt tokens and one output
// token, at constant arrivals: each request is one prefill iteration and nothing else.
std::string prefill_only_scenario(int requests, double rate) {
  return fmt::format(R"({{"name": "prefill only", "seed": 3, "model": "llama-3.1-8b", "dtype": "bf16", "system": "vllm",
    "pools": [{{"name": "gpu", "role": "serve", "hw": "h100-sxm", "instances": 1, "tp": 1}}],
    "scheduler": {{"max_batch": 256, "max_batched_tokens": 1000}},
    "workload": {{"generator": {{"requests": {}, "arrival": {{"process": "constant", "rate_per_s": {}}},
      "input_tokens": {{"dist": "constant", "value": 1000}}, "output_tokens": {{"dist": "constant", "value": 1}}}}}}}})",
                     requests, rate);
}

// The prefill of 1000 tokens, as the serving loop schedules it (rounded up to whole ns).
double prefill_1000_seconds() {
  auto m = load_model("llama-3.1-8b");
  CostModel cm(load_hardware("h100-sxm"));
  BatchSpec pre;
  pre.prefills.push_back({1000, 0});
  double t = cm.iteration(build_iteration_ops(m, Precision::uniform(Dtype::bf16), pre)).seconds;
  return static_cast<double>(seconds_to_ns(t)) / 1e9;
}

}  // namespace

TEST_CASE("slo: a request's mean TBT is (finish - first token) / (output tokens - 1)") {
  // First token at 1.0 s, tenth at 1.9 s: 9 gaps of 0.1 s.
  auto q = rec(0, 1 * kS, 1'900'000'000, 10);
  REQUIRE(request_mean_tbt_s(q) == Approx(0.1).epsilon(1e-12));
  REQUIRE(request_ttft_s(q) == 1.0);
  // Arrival at 0.5 s, first token at 0.75 s, 5 tokens by 1.55 s: 4 gaps of 0.2 s.
  auto q2 = rec(kS / 2, 750'000'000, 1'550'000'000, 5);
  REQUIRE(request_mean_tbt_s(q2) == Approx(0.2).epsilon(1e-12));
  REQUIRE(request_ttft_s(q2) == Approx(0.25).epsilon(1e-12));
  // No TBT: one output token, rejected, unfinished.
  REQUIRE(request_mean_tbt_s(rec(0, kS, kS, 1)) == -1);
  REQUIRE(request_mean_tbt_s(rec(0, -1, -1, 10, true)) == -1);
  REQUIRE(request_mean_tbt_s(rec(0, kS, -1, 10)) == -1);
  REQUIRE(request_ttft_s(rec(0, -1, -1, 10, true)) == -1);
}

TEST_CASE("slo: rejected, TTFT miss, TBT miss and one good request give attainment 1/4") {
  RunResult r;
  r.sim_seconds = 10;
  r.requests.push_back(rec(0, -1, -1, 5, true));                                // rejected
  r.requests.push_back(rec(0, 1'500'000'000, 1'950'000'000, 10));              // TTFT 1.5 s > 1; TBT 0.05
  r.requests.push_back(rec(1 * kS, 1'500'000'000, 2'300'000'000, 5));          // TTFT 0.5; TBT 0.8/4 = 0.2 > 0.1
  r.requests.push_back(rec(2 * kS, 2'250'000'000, 3'850'000'000, 21));         // TTFT 0.25; TBT 1.6/20 = 0.08
  auto s = evaluate_slo(r, {1.0, 0.1});
  REQUIRE(s.enabled);
  REQUIRE(s.requests == 4);
  REQUIRE(s.met == 1);
  REQUIRE(s.attainment == 0.25);
  REQUIRE(s.missed_ttft == 1);
  REQUIRE(s.missed_tbt == 1);
  REQUIRE(s.rejected == 1);
  REQUIRE(s.unfinished == 0);
  REQUIRE(s.goodput_requests_per_s == Approx(0.1));  // 1 request in 10 s
  REQUIRE(s.goodput_tokens_per_s == Approx(2.1));    // its 21 tokens in 10 s
  // TTFT only: the TBT miss now meets it (2 of 4); TBT only: the TTFT miss meets it (2 of 4).
  REQUIRE(evaluate_slo(r, {1.0, 0}).attainment == 0.5);
  REQUIRE(evaluate_slo(r, {0, 0.1}).met == 2);
  REQUIRE(evaluate_slo(r, {0, 0.1}).goodput_tokens_per_s == Approx((10 + 21) / 10.0));
  // No bound: not enabled; nothing can miss.
  auto none = evaluate_slo(r, {});
  REQUIRE_FALSE(none.enabled);
  REQUIRE(none.met == 3);
}

TEST_CASE("slo: bounds are inclusive, one-token requests have no TBT, unfinished requests miss") {
  RunResult r;
  r.sim_seconds = 40;
  r.requests.push_back(rec(0, 30 * kS, 30'900'000'000, 10));     // TTFT exactly 30 s, TBT exactly 0.1 s: met
  r.requests.push_back(rec(kS, 6 * kS, 6 * kS, 1));              // one token: only TTFT (5 s) counts: met
  r.requests.push_back(rec(0, kS, -1, 10));                      // unfinished: a miss
  r.requests.push_back(rec(0, 30 * kS + 1, 30 * kS + 1 + 10'000'000, 2));  // TTFT 30 s + 1 ns: a miss
  auto s = evaluate_slo(r, {30, 0.1});
  REQUIRE(s.met == 2);
  REQUIRE(s.attainment == 0.5);
  REQUIRE(s.unfinished == 1);
  REQUIRE(s.missed_ttft == 1);
  REQUIRE(s.missed_tbt == 0);
  REQUIRE(s.goodput_tokens_per_s == Approx(11 / 40.0));
  // A TBT bound just under 0.1 s: the first misses on TBT, the last (TBT 0.01 s) has no TTFT bound now.
  auto t = evaluate_slo(r, {0, 0.0999});
  REQUIRE(t.missed_tbt == 1);
  REQUIRE(t.met == 2);
  REQUIRE(t.missed_ttft == 0);
}

TEST_CASE("slo: summary has per-request TBT percentiles, the SLO block, and stable CSV columns") {
  RunResult r;
  r.sim_seconds = 100;
  // Eleven finished requests with mean TBTs 0.01 .. 0.11 s (9 gaps each), in shuffled order, plus a
  // one-token request and a rejected one, which have none.
  for (int k : {7, 3, 11, 1, 5, 9, 2, 10, 4, 8, 6}) {
    TimeNs first = k * kS;
    r.requests.push_back(rec(0, first, first + 9 * k * 10'000'000, 10));
  }
  r.requests.push_back(rec(0, kS, kS, 1));
  r.requests.push_back(rec(0, -1, -1, 4, true));
  auto s = summarize(r);
  // Sorted 0.01..0.11: p50 is index round(0.5 * 10) = 5 -> 0.06; p90 index 9 -> 0.10; p99 index
  // round(9.9) = 10 -> 0.11; mean 0.06.
  REQUIRE(s.req_tbt_p50 == Approx(0.06));
  REQUIRE(s.req_tbt_p90 == Approx(0.10));
  REQUIRE(s.req_tbt_p99 == Approx(0.11));
  REQUIRE(s.req_tbt_mean == Approx(0.06));
  REQUIRE(s.tbt_p90 == 0);  // the token-weighted TBT comes from token_gaps, which this run has none of
  REQUIRE_FALSE(s.slo.enabled);
  auto j = summary_json(r, s);
  REQUIRE(j["req_tbt_s"]["p90"].get<double>() == Approx(0.10));
  REQUIRE_FALSE(j.contains("slo"));
  auto cols = summary_columns();
  auto row = summary_row(s);
  REQUIRE(row.size() == cols.size());
  auto col = [&](const std::string& name) {
    auto it = std::find(cols.begin(), cols.end(), name);
    REQUIRE(it != cols.end());
    return static_cast<std::size_t>(it - cols.begin());
  };
  REQUIRE(row[col("slo_attainment")].empty());
  REQUIRE(row[col("req_tbt_p90_s")] == "0.1");

  // TTFT <= 6 s meets k = 1..6 and the one-token request (TTFT 1 s): 7 of 13.
  auto t = summarize(r, {6, 0});
  REQUIRE(t.slo.enabled);
  REQUIRE(t.slo.met == 7);
  REQUIRE(t.slo.attainment == Approx(7 / 13.0));
  REQUIRE(t.slo.goodput_requests_per_s == Approx(0.07));
  auto tj = summary_json(r, t);
  REQUIRE(tj["slo"]["attainment"].get<double>() == Approx(7 / 13.0));
  REQUIRE(tj["slo"]["tbt_s"].is_null());
  REQUIRE(tj["slo"]["missed_ttft"].get<int>() == 5);
  auto trow = summary_row(t);
  REQUIRE(trow.size() == cols.size());
  REQUIRE(trow[col("slo_met")] == "7");
  REQUIRE(trow[col("goodput_req_per_s")] == "0.07");
  REQUIRE(summary_table(r, t).find("attainment 53.8% (7 of 13 requests met it)") != std::string::npos);
}

TEST_CASE("slo: the scenario's \"slo\" key is strict") {
  auto j = nlohmann::json::parse(prefill_only_scenario(11, 10));
  REQUIRE(parse_scenario(j, "<t>", ".").slo.ttft_s == 0);
  j["slo"] = {{"ttft_s", 30}, {"tbt_s", 0.1}};
  auto sc = parse_scenario(j, "<t>", ".");
  REQUIRE(sc.slo.ttft_s == 30);
  REQUIRE(sc.slo.tbt_s == 0.1);
  j["slo"] = {{"ttft_s", 30}, {"tbt", 0.1}};
  REQUIRE_THROWS_WITH(parse_scenario(j, "<t>", "."), Catch::Contains("tbt"));
  j["slo"] = {{"ttft_s", 0}};
  REQUIRE_THROWS_AS(parse_scenario(j, "<t>", "."), InputError);
  j["slo"] = {{"tbt_s", -1}};
  REQUIRE_THROWS_AS(parse_scenario(j, "<t>", "."), InputError);
  j["slo"] = 5;
  REQUIRE_THROWS_AS(parse_scenario(j, "<t>", "."), InputError);
}

TEST_CASE("slo: run takes the scenario's SLO, and --slo-ttft/--slo-tbt override it") {
  // Rate 10/s, prefill T ~ 27 ms: no queueing, every TTFT is T (derived in the capacity test below).
  const double t = prefill_1000_seconds();
  auto j = nlohmann::json::parse(prefill_only_scenario(11, 10));
  j["slo"] = {{"ttft_s", 30}};
  auto path = write_file("run.json", j.dump());
  auto a = run("run " + path + " --json");
  INFO(a.out);
  REQUIRE(a.rc == 0);
  auto aj = nlohmann::json::parse(a.out);
  REQUIRE(aj["slo"]["ttft_s"].get<double>() == 30);
  REQUIRE(aj["slo"]["attainment"].get<double>() == 1.0);
  REQUIRE(aj["slo"]["goodput_requests_per_s"].get<double>() == Approx(11 / (1.0 + t)));  // last ends at 1 s + T
  // A bound just under T: every request misses.
  auto b = run("run " + path + fmt::format(" --json --slo-ttft {:.17g}", t * 0.999));
  REQUIRE(b.rc == 0);
  auto bj = nlohmann::json::parse(b.out);
  REQUIRE(bj["slo"]["attainment"].get<double>() == 0);
  REQUIRE(bj["slo"]["missed_ttft"].get<int>() == 11);
  // No SLO anywhere: no block.
  auto c = run("run " + write_file("run_noslo.json", prefill_only_scenario(11, 10)) + " --json");
  REQUIRE(c.rc == 0);
  REQUIRE_FALSE(nlohmann::json::parse(c.out).contains("slo"));
  auto table = run("run " + path + " --slo-tbt 0.05");
  REQUIRE(table.rc == 0);
  REQUIRE(table.out.find("SLO: TTFT <= 30 s, mean TBT per request <= 0.05 s") != std::string::npos);
  REQUIRE(table.out.find("attainment 100.0% (11 of 11 requests met it)") != std::string::npos);
}

TEST_CASE("capacity: prefill-only constant arrivals: the answer brackets the hand-derived rate") {
  // Each request is one prefill of T seconds. Arriving every 1/rate < T, request i (from 0) waits for
  // the i before it: TTFT_i = (i + 1) T - i / rate, largest for the last, i = N - 1. With
  // TTFT <= B required of all N (attainment 1), the highest rate is rate* = 1 / (T - (B - T) / (N - 1)).
  const double t = prefill_1000_seconds();
  REQUIRE(t > 0.005);
  const int n = 11;
  auto path = write_file("cap.json", prefill_only_scenario(n, 10));
  auto capacity = [&](double bound, double tol) {
    auto r = run(fmt::format("capacity {} --slo-ttft {:.17g} --attainment 1 --tol {} --json", path, bound, tol));
    INFO(r.out);
    REQUIRE(r.rc == 0);
    return nlohmann::json::parse(r.out);
  };
  const double tol = 0.01;
  for (double factor : {1.5, 1.2}) {
    const double bound = factor * t;
    const double expected = 1 / (t - (bound - t) / (n - 1));
    auto j = capacity(bound, tol);
    INFO(j.dump(1));
    REQUIRE(j["knob"] == "rate");
    REQUIRE(j["status"] == "ok");
    double c = j["capacity"]["knob"].get<double>();
    // Bisection stops with c passing and hi = fails_at_knob failing, hi <= c (1 + tol): so
    // rate* / (1 + tol) < c <= rate* (up to the ns rounding of arrivals and iterations).
    REQUIRE(c <= expected * (1 + 1e-6));
    REQUIRE(c > expected / (1 + tol) * (1 - 1e-6));
    double hi = j["capacity"]["fails_at_knob"].get<double>();
    REQUIRE(hi > expected * (1 - 1e-6));
    REQUIRE(hi <= c * (1 + tol) * (1 + 1e-12));
    REQUIRE(j["capacity"]["attainment"].get<double>() == 1.0);
    // Constant arrivals: (N - 1) / span is the rate itself.
    REQUIRE(j["capacity"]["requests_per_s"].get<double>() == Approx(c).epsilon(1e-6));
    // Every probe above rate* misses, every probe below passes (the curve is monotone here).
    for (const auto& p : j["probes"]) {
      double x = p["knob"].get<double>();
      if (x < expected * (1 - 1e-6)) REQUIRE(p["pass"].get<bool>());
      if (x > expected * (1 + 1e-6)) REQUIRE_FALSE(p["pass"].get<bool>());
    }
    // And `run` agrees: attainment 1 at c, below 1 at c (1 + 2 tol).
    auto at = run(fmt::format("run {} --set rate={:.17g} --slo-ttft {:.17g} --json", path, c, bound));
    REQUIRE(nlohmann::json::parse(at.out)["slo"]["attainment"].get<double>() == 1.0);
    auto above = run(fmt::format("run {} --set rate={:.17g} --slo-ttft {:.17g} --json", path, c * (1 + 2 * tol), bound));
    REQUIRE(nlohmann::json::parse(above.out)["slo"]["attainment"].get<double>() < 1.0);
  }
  // Stricter SLO, lower capacity: rate*(1.2 T) = 1 / (0.98 T) < rate*(1.5 T) = 1 / (0.95 T).
  double strict = capacity(1.2 * t, tol)["capacity"]["knob"].get<double>();
  double loose = capacity(1.5 * t, tol)["capacity"]["knob"].get<double>();
  REQUIRE(strict < loose);
  // A bound below T is missed at any rate: no capacity. From rate 10 < 1/T down there is no
  // queueing, every TTFT is T and attainment 0: after the first probe, 3 halvings that change
  // nothing stop the search (4 probes: 10, 5, 2.5, 1.25).
  auto none = capacity(0.9 * t, tol);
  REQUIRE(none["status"] == "below_lo_plateau");
  REQUIRE(none["capacity"].is_null());
  REQUIRE(none["probes"].size() == 4);
  REQUIRE(none["probes"][3]["knob"].get<double>() == 1.25);
  // Starting far above capacity (1000/s, attainment 0 but TTFT falling with the load), halving goes
  // on past equal attainments until it passes, then bisects to the same bracket.
  auto far = run(fmt::format("capacity {} --slo-ttft {:.17g} --attainment 1 --lo 1000 --json", path, 1.5 * t));
  REQUIRE(far.rc == 0);
  auto fj = nlohmann::json::parse(far.out);
  REQUIRE(fj["status"] == "ok");
  const double expected15 = 1 / (0.95 * t);
  REQUIRE(fj["capacity"]["knob"].get<double>() <= expected15 * (1 + 1e-6));
  REQUIRE(fj["capacity"]["knob"].get<double>() > expected15 / 1.02 * (1 - 1e-6));
  // Half of the requests may miss: request i meets TTFT <= B while i <= (B - T) / (T - 1/rate); 6 of
  // 11 (>= 0.5) need i = 5 to meet: rate* = 1 / (T - (B - T) / 5), above the all-must-meet answer.
  auto half = run(fmt::format("capacity {} --slo-ttft {:.17g} --attainment 0.5 --tol {} --json", path, 1.5 * t, tol));
  REQUIRE(half.rc == 0);
  double c_half = nlohmann::json::parse(half.out)["capacity"]["knob"].get<double>();
  double expected_half = 1 / (t - 0.5 * t / 5);
  REQUIRE(c_half <= expected_half * (1 + 1e-6));
  REQUIRE(c_half > expected_half / (1 + tol) * (1 - 1e-6));
}

TEST_CASE("capacity: a trace workload is scaled by speedup, with the same hand-derived answer") {
  // The prefill-only case again, as a trace: N = 20 requests of 1000 tokens and one output token,
  // 0.1 s apart. Speedup s makes the rate 10 s per second, so with TTFT <= 1.5 T required of all,
  // s* = rate* / 10 = 1 / (10 (T - 0.5 T / 19)).
  const double t = prefill_1000_seconds();
  std::string trace;
  for (int i = 0; i < 20; ++i) trace += fmt::format("{{\"arrival_s\": {}, \"input_tokens\": 1000, \"output_tokens\": 1}}\n", i / 10.0);
  auto trace_path = write_file("trace.jsonl", trace);
  auto scenario = [&](const std::string& path, const std::string& slo) {
    return R"({"name": "trace", "model": "llama-3.1-8b", "dtype": "bf16", "system": "vllm",
      "pools": [{"name": "gpu", "role": "serve", "hw": "h100-sxm", "instances": 1, "tp": 1}],
      "scheduler": {"max_batch": 256, "max_batched_tokens": 1000},
      "workload": {"trace": {"path": ")" + path + R"("}}, "slo": )" + slo + "}";
  };
  auto path = write_file("trace.json", scenario(trace_path, fmt::format(R"({{"ttft_s": {:.17g}}})", 1.5 * t)));
  const double tol = 0.02;
  auto r = run("capacity " + path + " --attainment 1 --json");
  INFO(r.out);
  REQUIRE(r.rc == 0);
  auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["knob"] == "speedup");
  REQUIRE(j["probes"][0]["knob"].get<double>() == 1.0);  // starts at the trace's own speed
  REQUIRE(j["status"] == "ok");
  const double expected = 1 / (10 * (t - 0.5 * t / 19));
  double c = j["capacity"]["knob"].get<double>();
  REQUIRE(c <= expected * (1 + 1e-6));
  REQUIRE(c > expected / (1 + tol) * (1 - 1e-6));
  // 19 gaps of 0.1 / c seconds: (N - 1) / span = 10 c requests per second.
  REQUIRE(j["capacity"]["requests_per_s"].get<double>() == Approx(10 * c).epsilon(1e-6));
  auto table = run("capacity " + path + " --attainment 1");
  REQUIRE(table.rc == 0);
  REQUIRE(table.out.find(fmt::format("capacity: speedup {:.6g} = {:.6g} requests/s", c, 10 * c)) != std::string::npos);
  // Deterministic: the same command prints the same thing.
  REQUIRE(run("capacity " + path + " --attainment 1").out == table.out);
  // A few requests that arrive within 0.25 s and need ~30 ms of prefill meet a 0.5 s TTFT at any
  // speed: the search gives up after 20 doublings and says so.
  auto fixture = write_file("trace_small.json", scenario(std::string(MOSKA_SOURCE_DIR) + "/workloads/fixtures/moska_small.jsonl",
                                                         R"({"ttft_s": 0.5})"));
  auto above = run("capacity " + fixture + " --json");
  REQUIRE(above.rc == 0);
  auto aj = nlohmann::json::parse(above.out);
  REQUIRE(aj["status"] == "above_hi");
  REQUIRE(aj["capacity"].is_null());
}

TEST_CASE("capacity: bad flags are input errors (exit 2, one line naming the flag)") {
  auto path = write_file("err.json", prefill_only_scenario(11, 10));
  auto expect = [&](const std::string& args, const std::string& message) {
    auto r = run("capacity " + path + " " + args);
    INFO(args << "\n" << r.out);
    REQUIRE(r.rc == 2);
    REQUIRE(r.out.find(message) != std::string::npos);
  };
  expect("--slo-ttft 1 --attainment 1.5", "--attainment 1.5: expected a share in (0, 1]");
  expect("--slo-ttft 1 --attainment 0", "--attainment 0: expected a number > 0");
  expect("--slo-ttft -1", "--slo-ttft -1: expected a number >= 0");
  expect("--slo-ttft 1 --slo-tbt x", "--slo-tbt x: expected a number >= 0");
  expect("--slo-ttft 1 --lo 4 --hi 2", "expected lo < hi");
  expect("--slo-ttft 1 --lo 3 --hi 3", "expected lo < hi");
  expect("--slo-ttft 1 --lo -3", "--lo -3: expected a number > 0");
  expect("--slo-ttft 1 --tol 0", "--tol 0: expected a number > 0");
  expect("--slo-ttft 1 --tol 1", "--tol 1: expected a relative tolerance in (0, 1)");
  expect("", "capacity needs an SLO");
  expect("--slo-ttft 0", "capacity needs an SLO");
  expect("--slo-ttft 1 --knob speedup", "--knob speedup: the scenario's workload is a generator");
  expect("--slo-ttft 1 --knob load", "--knob load: expected speedup or rate");
  // One burst at t = 0 has no rate to scale.
  expect("--slo-ttft 1 --set workload.generator.arrival.process=burst", "does not change the load");
  auto r = run("run " + path + " --slo-tbt -0.1");
  REQUIRE(r.rc == 2);
  REQUIRE(r.out.find("--slo-tbt -0.1: expected a number >= 0") != std::string::npos);
}

TEST_CASE("slo: sweep fills the SLO columns from the scenario's slo, which --set can sweep") {
  // A TTFT bound of 1 ns no request can meet, and one of 600 s (the largest allowed) every finished request meets
  // (the 500 requests all finish at this light load): attainment 0 and 1.
  auto r = moska::test::run(
      "sweep mooncake-conversation --set workload.trace.path=fixtures/mooncake_conversation_head500.jsonl "
      "--set slo.ttft_s=1e-9,600 --set slo.tbt_s=10 --jobs 1");
  REQUIRE(r.rc == 0);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  std::istringstream in(r.out);
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::string x;
    std::istringstream ls(line);
    while (std::getline(ls, x, ',')) f.push_back(x);
    rows.push_back(f);
  }
  REQUIRE(rows.size() == 3);
  const auto col = static_cast<std::size_t>(std::find(rows[0].begin(), rows[0].end(), "slo_attainment") - rows[0].begin());
  REQUIRE(col < rows[0].size());
  CHECK(std::stod(rows[1][col]) == 0.0);
  CHECK(std::stod(rows[2][col]) == 1.0);
}

TEST_CASE("token gaps: token-weighted mean and percentiles in bounded memory") {
  TokenGaps g;
  CHECK(g.percentiles({0.5})[0] == 0);
  // 3 tokens waited 10 ms, 1 waited 20 ms, 1 waited 500 ms: 5 tokens, mean (0.03 + 0.02 + 0.5) / 5.
  g.add(0.01f, 3);
  g.add(0.02f, 1);
  g.add(0.5f, 1);
  CHECK(g.tokens() == 5);
  CHECK(g.mean() == Approx((3 * double(0.01f) + double(0.02f) + double(0.5f)) / 5));
  // Cumulative tokens 3, 4, 5: p50 (2.5) is in the first bin, p70 (3.5) the second, p90 (4.5) the third.
  auto p = g.percentiles({0.5, 0.7, 0.9});
  CHECK(p[0] == double(0.01f));
  CHECK(p[1] == double(0.02f));
  CHECK(p[2] == double(0.5f));
  // Gaps within 2^-15 of each other share a bin, which answers with the smaller; the bins stay few.
  TokenGaps h;
  for (int i = 0; i < 100000; ++i) h.add(1.0f + 1e-5f * static_cast<float>(i % 2), 1);
  CHECK(h.bins() == 1);
  CHECK(h.percentiles({0.99})[0] == 1.0);
  CHECK(h.mean() == Approx(1.000005));
}

TEST_CASE("capacity: --criterion p90 judges P90 TTFT and token-level TBT; a bad criterion exits 2") {
  auto bad = moska::test::run("capacity default --slo-ttft 2 --criterion median");
  CHECK(bad.rc == 2);
  CHECK(bad.out.find("--criterion") != std::string::npos);
  // With only a TTFT bound, p90 passes a load exactly when P90 TTFT <= the bound: the capacity's
  // own probe meets it and the next probe above misses it.
  auto r = moska::test::run("capacity default --set requests=300 --slo-ttft 1 --criterion p90 --json");
  REQUIRE(r.rc == 0);
  auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["status"] == "ok");
  CHECK(j["criterion"] == "p90");
  const double cap = j["capacity"]["knob"].get<double>(), fails = j["capacity"]["fails_at_knob"].get<double>();
  for (const auto& p : j["probes"]) {
    if (p["knob"].get<double>() == cap) CHECK(p["ttft_p90_s"].get<double>() <= 1.0);
    if (p["knob"].get<double>() == fails) CHECK(p["ttft_p90_s"].get<double>() > 1.0);
  }
}
