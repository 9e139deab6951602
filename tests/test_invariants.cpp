// Invariants at scale (issue 18): runs of 10^5 requests through the serving loop, and 10^6 events
// through the engine, checked for conservation and sanity with quantities derived here, not read
// back from the code that produced them:
//   - every request is finished, rejected or unfinished, and unfinished only when a time limit cut
//     the run (rejections by cause add up to the rejections);
//   - per request, arrival <= first token <= finish, and the record's lengths are the request's;
//   - simulated time never goes backwards (the engine's clock, event by event);
//   - HBM in use never above what the pool holds: weights + kv_memory_fraction of the rest;
//   - no NaN or infinity in any output (summary JSON, table, per-request CSV).
#include <catch2/catch.hpp>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/engine/rng.hpp"
#include "sim/engine/simulator.hpp"
#include "sim/hw/gpu.hpp"
#include "sim/metrics/metrics.hpp"
#include "sim/model/model_spec.hpp"
#include "sim/serving/workload_loader.hpp"
#include "sim/systems/system.hpp"

using namespace moska;

namespace {

// Every number in a JSON document, with its path.
void numbers_of(const nlohmann::json& j, const std::string& path, std::vector<std::pair<std::string, double>>& out) {
  if (j.is_number()) {
    out.emplace_back(path, j.get<double>());
  } else if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) numbers_of(it.value(), path + "." + it.key(), out);
  } else if (j.is_array()) {
    for (std::size_t i = 0; i < j.size(); ++i) numbers_of(j[i], path + "[" + std::to_string(i) + "]", out);
  }
}

struct Checked {
  std::int64_t finished = 0, rejected = 0, unfinished = 0;
};

// The checks every run gets; returns the counts it found.
Checked check_run(const Scenario& sc, const std::vector<Request>& reqs, const RunResult& r) {
  REQUIRE(r.requests.size() == reqs.size());
  Checked c;
  const TimeNs limit = sc.time_limit_s > 0 ? static_cast<TimeNs>(std::llround(sc.time_limit_s * 1e9)) : kTimeNever;
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    const auto& q = r.requests[i];
    const auto& in = reqs[i];
    // The record is the request's.
    if (q.arrival != in.arrival_ns || q.input_tokens != in.input_tokens || q.output_tokens != in.output_tokens) {
      FAIL("request " << i << ": record differs from the request");
    }
    if (q.rejected) {
      ++c.rejected;
      if (q.finish >= 0) FAIL("request " << i << " rejected and finished");
      continue;
    }
    if (q.finish < 0) {
      ++c.unfinished;
      if (q.first_token >= 0 && q.first_token < q.arrival) FAIL("request " << i << ": first token before arrival");
      continue;
    }
    ++c.finished;
    if (!(q.arrival <= q.first_token && q.first_token <= q.finish)) {
      FAIL("request " << i << ": arrival " << q.arrival << ", first token " << q.first_token << ", finish " << q.finish);
    }
    if (q.finish > limit) FAIL("request " << i << " finished after the time limit");
  }
  CHECK(c.finished + c.rejected + c.unfinished == static_cast<std::int64_t>(reqs.size()));
  // Unfinished only when a time limit stopped the run.
  if (sc.time_limit_s == 0) CHECK(c.unfinished == 0);
  if (sc.time_limit_s > 0) CHECK(r.sim_seconds <= sc.time_limit_s + 1e-9);

  // No NaN or infinity anywhere in the outputs.
  const Summary s = summarize(r, SloSpec{30, 0.1});
  CHECK(s.finished == c.finished);
  CHECK(s.rejected == c.rejected);
  CHECK(s.unfinished == c.unfinished);
  std::vector<std::pair<std::string, double>> nums;
  numbers_of(summary_json(r, s), "", nums);
  CHECK(nums.size() > 30);
  for (const auto& [path, x] : nums) {
    if (!std::isfinite(x)) FAIL("summary " << path << " = " << x);
  }
  const std::string table = summary_table(r, s);
  CHECK(table.find("nan") == std::string::npos);
  CHECK(table.find("inf") == std::string::npos);
  for (const auto& f : summary_row(s)) {
    CHECK(f.find("nan") == std::string::npos);
    CHECK(f.find("inf") == std::string::npos);
  }
  // One file per test process: ctest runs test cases in parallel processes.
  const std::string csv = "/tmp/moska_invariants_requests_" + std::to_string(::getpid()) + ".csv";
  write_requests_csv(r, csv);
  std::ifstream in(csv);
  std::string line;
  std::getline(in, line);
  std::size_t rows = 0;
  while (std::getline(in, line)) {
    ++rows;
    std::istringstream ls(line);
    std::string field;
    for (int col = 0; col < 5 && std::getline(ls, field, ','); ++col) {
      const double x = std::stod(field);
      if (!std::isfinite(x)) FAIL("requests.csv row " << rows << ": " << line);
    }
  }
  CHECK(rows == reqs.size());
  std::remove(csv.c_str());
  return c;
}

Scenario scenario(const std::string& text) {
  static std::vector<nlohmann::json> keep;  // parse_scenario keeps references into the JSON
  keep.push_back(nlohmann::json::parse(text));
  return parse_scenario_for_systems(keep.back(), "invariants.json", MOSKA_SOURCE_DIR "/workloads");
}

}  // namespace

TEST_CASE("invariants: 10^5 requests through vllm with rejections and a time limit conserve every request") {
  // Prompts up to 129,000 tokens (within the model's 128K context): those beyond an instance's KV
  // capacity (~0.05 x (2 x 80 GB - 16 GB) / 128 KiB ~ 55K tokens) can never fit and are rejected;
  // the time limit leaves the tail unfinished.
  const double kv_fraction = 0.05;
  auto sc = scenario(R"({
    "name": "invariants vllm", "seed": 5, "model": "llama-3.1-8b", "dtype": "bf16", "system": "vllm",
    "pools": [{"name": "gpus", "role": "serve", "hw": "h100-sxm", "instances": 3, "tp": 2}],
    "scheduler": {"max_batch": 128, "max_batched_tokens": 8192, "kv_memory_fraction": 0.05},
    "time_limit_s": 12000,
    "workload": {"generator": {"requests": 100000,
      "arrival": {"process": "gamma", "rate_per_s": 6, "cv": 2},
      "input_tokens": {"dist": "lognormal", "mean": 3000, "sigma": 2, "min": 1, "max": 129000},
      "output_tokens": {"dist": "zipf", "min": 1, "max": 2000, "s": 0.8}}}
  })");
  const auto reqs = load_workload(sc);
  REQUIRE(reqs.size() == 100000);
  const RunResult r = simulate(sc, reqs);
  const Checked c = check_run(sc, reqs, r);
  CHECK(c.rejected > 0);
  CHECK(c.unfinished > 0);
  CHECK(c.finished > 50000);
  // A request that arrived is rejected exactly when it could never fit: prompt + output above one
  // instance's KV (checked on arrival, so requests the time limit kept from arriving are neither).
  const auto model = load_model("llama-3.1-8b");
  const auto hw = load_hardware("h100-sxm");
  const double group_hbm = 2 * hw.gpu.hbm_bytes;
  const double weights = model.weight_bytes(Dtype::bf16);
  const double capacity_tokens = (group_hbm - weights) * kv_fraction / model.kv_bytes_per_token(Dtype::bf16);
  for (std::size_t i = 0; i < reqs.size() && ns_to_seconds(reqs[i].arrival_ns) < sc.time_limit_s; ++i) {
    const double need = static_cast<double>(reqs[i].input_tokens + reqs[i].output_tokens);
    if (r.requests[i].rejected && need < 0.99 * capacity_tokens) FAIL("request " << i << " rejected though it fits");
    if (!r.requests[i].rejected && need > 1.01 * capacity_tokens) FAIL("request " << i << " admitted though it cannot fit");
  }
  // HBM in use never above weights + the KV share of the rest.
  REQUIRE(r.pools.size() == 1);
  const double bound = (weights + kv_fraction * (group_hbm - weights)) / group_hbm;
  CHECK(r.pools[0].peak_mem_fraction <= bound + 1e-9);
  CHECK(r.pools[0].peak_mem_fraction > 0.5 * bound);  // and it was actually used
}

TEST_CASE("invariants: 10^5 requests through moska and mooncake (early rejection) conserve every request") {
  SECTION("moska, shared corpora, run to the end") {
    auto sc = scenario(R"({
      "name": "invariants moska", "seed": 2, "model": "llama-3.1-8b", "dtype": "fp8", "system": "moska",
      "pools": [{"name": "gpus", "role": "serve", "hw": "h100-sxm", "instances": 2, "tp": 4}],
      "context_parallel": {"degree": 2},
      "shared": {"corpora": [{"tokens": 262144, "weight": 3}, {"tokens": 65536}], "chunk_tokens": 4096,
                 "sparsity": 0.75, "attach_fraction": 0.7, "routing": {"skew": "zipf", "zipf_s": 1.0}},
      "scheduler": {"max_batch": 256, "max_batched_tokens": 8192},
      "workload": {"generator": {"requests": 100000,
        "arrival": {"process": "poisson", "rate_per_s": 40},
        "input_tokens": {"dist": "uniform", "min": 16, "max": 4096},
        "output_tokens": {"dist": "uniform", "min": 1, "max": 256},
        "corpus": {"count": 2, "popularity": "zipf", "zipf_s": 1.0, "fraction": 0.7}}}
    })");
    const auto reqs = load_workload(sc);
    const RunResult r = simulate(sc, reqs);
    const Checked c = check_run(sc, reqs, r);
    CHECK(c.finished == 100000);
    for (const auto& p : r.pools) CHECK(p.peak_mem_fraction <= 1.0);
  }
  SECTION("mooncake, overloaded, early rejection, time limit") {
    auto sc = scenario(R"({
      "name": "invariants mooncake", "seed": 1, "model": "llama-3-70b-dummy", "dtype": "bf16", "system": "mooncake",
      "pools": [{"name": "prefill", "role": "prefill", "hw": "a800-80gb", "instances": 8, "tp": 8},
                {"name": "decode", "role": "decode", "hw": "a800-80gb", "instances": 8, "tp": 8}],
      "scheduler": {"max_batch": 256, "max_batched_tokens": 16384},
      "mooncake": {"policy": "global-cache-aware", "admission": "early"},
      "slo": {"ttft_s": 30, "tbt_s": 0.1},
      "time_limit_s": 10000,
      "workload": {"generator": {"requests": 100000,
        "arrival": {"process": "poisson", "rate_per_s": 8},
        "input_tokens": {"dist": "lognormal", "mean": 12000, "sigma": 1.0, "min": 64, "max": 126000},
        "output_tokens": {"dist": "uniform", "min": 64, "max": 640}}}
    })");
    const auto reqs = load_workload(sc);
    const RunResult r = simulate(sc, reqs);
    const Checked c = check_run(sc, reqs, r);
    CHECK(c.rejected > 0);
    CHECK(c.unfinished > 0);
    // Rejections by cause add up to the rejections.
    double by_cause = 0;
    for (const auto& [k, v] : r.counters) {
      if (k.rfind("rejected_", 0) == 0) by_cause += v;
    }
    CHECK(by_cause == static_cast<double>(c.rejected));
    for (const auto& p : r.pools) CHECK(p.peak_mem_fraction <= 1.0);
  }
}

TEST_CASE("invariants: the engine's clock never goes backwards over 10^6 events; equal times run in order") {
  Simulator sim;
  Rng rng(42);
  TimeNs last = 0;
  std::uint64_t last_seq_at_time = 0;
  std::uint64_t ran = 0, backwards = 0, out_of_order = 0;
  std::uint64_t scheduled = 0;
  // Each event records its scheduling order; events at one time must run in that order.
  std::function<void(std::uint64_t)> fire = [&](std::uint64_t seq) {
    ++ran;
    if (sim.now() < last) ++backwards;
    if (sim.now() == last && seq < last_seq_at_time) ++out_of_order;
    if (sim.now() != last) last_seq_at_time = 0;
    last = sim.now();
    last_seq_at_time = seq;
    // Each event schedules 0-2 more (delays 0..1 ms, a third of them 0), until 10^6 were scheduled.
    for (int k = static_cast<int>(rng.below(3)); k > 0 && scheduled < 1'000'000; --k) {
      TimeNs delay = rng.below(3) == 0 ? 0 : static_cast<TimeNs>(rng.below(1'000'000));
      const std::uint64_t s = ++scheduled;
      sim.schedule_in(delay, [&fire, s] { fire(s); });
    }
  };
  for (int i = 0; i < 1000; ++i) {
    const std::uint64_t s = ++scheduled;
    sim.schedule_at(static_cast<TimeNs>(rng.below(1000)), [&fire, s] { fire(s); });
  }
  sim.run();
  CHECK(ran == scheduled);
  CHECK(ran > 500'000);
  CHECK(backwards == 0);
  CHECK(out_of_order == 0);
  // Past the clock's range: an input error, not an overflow.
  CHECK_THROWS_AS(sim.schedule_in(kTimeNever - sim.now(), [] {}), ClockRangeError);
  CHECK_THROWS_AS(sim.schedule_at(kTimeNever, [] {}), ClockRangeError);
}
