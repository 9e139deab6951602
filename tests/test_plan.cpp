// `plan`: the answer checked by hand (its run command meets the SLOs; the next-cheaper point of the
// cost-vs-capacity frontier does not), the pruning by hand, determinism over threads, and the
// Perfetto trace's structure. On the committed sample of the Azure code trace
// (workloads/fixtures/azure_code_head1000.csv), Llama-3.1-70B bf16 on H100s.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli_run.hpp"
#include "sim/analysis/plan.hpp"
#include "sim/cli/overrides.hpp"
#include "sim/model/model_spec.hpp"
#include "sim/hw/gpu.hpp"
#include "sim/serving/workload_loader.hpp"
#include "sim/systems/system.hpp"

using namespace moska;

namespace {

const char* kScenario = "plan-azure-code-70b-sample";

PlanSpec sample_spec() {
  PlanSpec spec;
  std::string where;
  std::filesystem::path base;
  spec.base = cli::scenario_json_with_overrides(kScenario, {}, where, base);
  spec.where = where;
  spec.base_dir = base;
  spec.scenario_arg = kScenario;
  spec.rate = 4;
  spec.criterion.slo = {2.0, 0.1};
  spec.criterion.target = 0.9;
  const auto hw = load_hardware("h100-sxm");
  spec.gpus = {{"h100-sxm", hw.price_usd_per_gpu_hour, hw.price_source, 0}};
  spec.systems = {"vllm"};
  spec.token_budgets = {512, 1024};
  spec.max_gpus = 32;
  return spec;
}

PlanResult run_plan(PlanSearch& s) {
  for (;;) {
    auto round = s.next_round();
    if (round.empty()) break;
    std::vector<std::string> out;
    for (const auto& t : round) out.push_back(s.run(t));
    s.commit(round, out);
  }
  return s.result();
}

// The candidate's run, rebuilt from its printed --set arguments as `run` would, at `rate`.
SloResult run_point(const PlanSearch& s, const PlanCandidate& c, double rate) {
  std::vector<std::string> sets = s.spec().sets;
  for (const auto& x : s.candidate_sets(c, rate)) sets.push_back(x);
  const Scenario sc = cli::scenario_with_overrides(kScenario, sets);
  const auto reqs = load_workload(sc);
  return evaluate_slo(simulate(sc, reqs), {2.0, 0.1});
}

}  // namespace

TEST_CASE("plan: the answer's run command meets the SLOs and the next-cheaper frontier point does not") {
  PlanSearch s(sample_spec());
  const PlanResult r = run_plan(s);
  REQUIRE(r.answer >= 0);
  const auto& a = r.candidates[static_cast<std::size_t>(r.answer)];
  // Its run, as a user would type it (--set pools=[...], the trace's speedup), meets 90%.
  const SloResult at = run_point(s, a, 4);
  CHECK(at.attainment >= 0.9);
  // On the frontier, and the point before it is cheaper and misses at the target load.
  auto it = std::find(r.capacity_frontier.begin(), r.capacity_frontier.end(), r.answer);
  REQUIRE(it != r.capacity_frontier.end());
  REQUIRE(it != r.capacity_frontier.begin());
  const auto& prev = r.candidates[static_cast<std::size_t>(*(it - 1))];
  CHECK(prev.cost < a.cost);
  const SloResult below = run_point(s, prev, 4);
  CHECK(below.attainment < 0.9);
  // Its capacity (the bisection's highest passing load) is below the target and the answer's above.
  CHECK(prev.capacity < 4);
  CHECK(a.capacity >= 4);
  // Every configuration cheaper than the answer that was simulated at the target missed it.
  for (const auto& c : r.candidates) {
    if (c.cost < a.cost && c.simulated) CHECK_FALSE(c.meets);
  }
  // The printed command carries the same --set arguments.
  const std::string cmd = plan_run_command(s, a, 4);
  CHECK(cmd.find("moska-sim run plan-azure-code-70b-sample --set system=vllm --set 'pools=[") == 0);
  CHECK(cmd.find("--slo-ttft 2 --slo-tbt 0.1") != std::string::npos);
}

TEST_CASE("plan: pruning by hand (memory, constraints) and the throughput bound holds") {
  PlanSpec spec = sample_spec();
  PlanSearch s(spec);
  const PlanResult r = run_plan(s);
  // Llama-3.1-70B in bf16 is 2 bytes x ~70.6e9 parameters = ~141 GB: more than one H100's 85.5 GB,
  // less than two. TP 1..8 within a node, 32 GPUs at most: TP1 has 32 instance counts, TP2 16,
  // TP4 8, TP8 4, each with 2 token budgets: 120 configurations, the 64 of TP1 do not fit.
  const auto m = load_model("llama-3.1-70b");
  REQUIRE(m.weight_bytes(Dtype::bf16) > 85.52e9);
  REQUIRE(m.weight_bytes(Dtype::bf16) < 2 * 85.52e9);
  CHECK(r.space == 120);
  CHECK(r.pruned_memory == 64);
  for (const auto& c : r.candidates) CHECK(c.tp >= 2);
  // Whatever was searched never exceeds its bound.
  for (const auto& c : r.candidates) {
    if (c.capacity_searched && c.capacity_status == "ok") CHECK(c.capacity <= c.capacity_bound);
  }
  // A budget of $30/h keeps 10 GPUs at most ($3.00 each): configurations above it are not run.
  spec.budget = 30;
  PlanSearch b(spec);
  const PlanResult rb = run_plan(b);
  CHECK(rb.pruned_constraints > 0);
  for (const auto& c : rb.candidates) CHECK(c.gpus <= 10);
  CHECK(rb.answer < 0);  // nothing of 10 H100s meets 4 requests/s (the answer above needs 20)
}

TEST_CASE("plan: the constraints a user states (GPUs available, node size, whole nodes, fixed TP) shape the space") {
  // Enumeration only (the constructor): no simulation needed to check what is searched.
  auto enumerate = [](const PlanSpec& spec) { return PlanSearch(spec).result(); };
  {
    PlanSpec spec = sample_spec();
    spec.gpus[0].available = 12;  // at most 12 H100s: TP1 12, TP2 6, TP4 3, TP8 1 instance counts, x 2 budgets
    const auto r = enumerate(spec);
    CHECK(r.space == (12 + 6 + 3 + 1) * 2);
    for (const auto& c : r.candidates) CHECK(c.gpus <= 12);
  }
  {
    PlanSpec spec = sample_spec();
    spec.node_size = 4;  // TP 1, 2, 4 only: 32 + 16 + 8 instance counts, x 2 budgets
    const auto r = enumerate(spec);
    CHECK(r.space == (32 + 16 + 8) * 2);
    for (const auto& c : r.candidates) CHECK(c.tp <= 4);
  }
  {
    PlanSpec spec = sample_spec();
    spec.fixed_tp = 4;  // 1..8 instances of TP4, x 2 budgets
    const auto r = enumerate(spec);
    CHECK(r.space == 8 * 2);
    CHECK(r.pruned_memory == 0);
    for (const auto& c : r.candidates) CHECK(c.tp == 4);
  }
  {
    PlanSpec spec = sample_spec();
    spec.whole_nodes = true;  // 8, 16, 24, 32 GPUs: of TP2's 16 instance counts 4 stay, TP4 4 of 8, TP8 all 4
    const auto r = enumerate(spec);
    std::size_t kept = 0;
    for (const auto& c : r.candidates) {
      CHECK(c.gpus % 8 == 0);
      kept += c.tp >= 2 ? 1 : 0;
    }
    CHECK(kept == (4 + 4 + 4) * 2);
    CHECK(r.pruned_constraints == ((16 - 4) + (8 - 4)) * 2);  // TP1's 64 are counted as not fitting first
  }
}

TEST_CASE("plan: a model that fits no GPU within a node is refused (pipeline parallelism is not modelled)") {
  auto r = test::run("plan plan-azure-code-70b-sample --rate 4 --gpus a100-80gb --node-size 1");
  CHECK(r.rc == 2);
  CHECK(r.out.find("pipeline parallelism") != std::string::npos);
  auto bad = test::run("plan plan-azure-code-70b-sample --rate 0");
  CHECK(bad.rc == 2);
  auto price = test::run("plan plan-azure-code-70b-sample --rate 4 --price nosuchgpu=3");
  CHECK(price.rc == 2);
  // --plots writes into --out: without it, one line and exit 2 (run and plan alike).
  auto plots = test::run("plan plan-azure-code-70b-sample --rate 4 --plots");
  CHECK(plots.rc == 2);
  CHECK(plots.out.find("--plots: needs --out") != std::string::npos);
  auto run_plots = test::run("run --plots");
  CHECK(run_plots.rc == 2);
  CHECK(run_plots.out.find("--plots: needs --out") != std::string::npos);
}

TEST_CASE("plan: the output is the same on one thread and on two") {
  const std::string args = "plan plan-azure-code-70b-sample --rate 4 --gpus h100-sxm --systems vllm --budgets 512,1024 --max-gpus 16 --json";
  auto one = test::shell(std::string(MOSKA_SIM_BINARY) + " " + args + " --jobs 1");
  auto two = test::shell(std::string(MOSKA_SIM_BINARY) + " " + args + " --jobs 2");
  REQUIRE(one.rc == 1);  // nothing of 16 H100s meets it: exit 1, the frontier still printed
  CHECK(one.out == two.out);
  const auto j = nlohmann::json::parse(one.out);
  CHECK(j["answer"].is_null());
  CHECK(j["capacity_frontier"].size() > 0);
}

TEST_CASE("run --trace: a Chrome/Perfetto JSON trace with iterations and each request's phases") {
  const auto path = std::filesystem::temp_directory_path() / ("moska_trace_" + std::to_string(::getpid()) + ".json");
  auto r = test::run("run mooncake-conversation --set workload.trace.path=fixtures/mooncake_conversation_head500.jsonl --trace " +
                     path.string());
  REQUIRE(r.rc == 0);
  std::ifstream in(path);
  const auto j = nlohmann::json::parse(in);
  std::filesystem::remove(path);
  REQUIRE(j.contains("traceEvents"));
  const auto& ev = j["traceEvents"];
  std::map<std::string, int> begins, ends;
  std::map<std::uint64_t, int> depth;  // per request id: nesting must close
  std::set<std::string> phases;
  int iterations = 0, names = 0;
  for (const auto& e : ev) {
    const std::string ph = e["ph"];
    REQUIRE(e.contains("pid"));
    if (ph == "X") {
      ++iterations;
      CHECK(e["dur"].get<double>() >= 0);
      CHECK(e["args"].contains("decodes"));
      CHECK(e["args"].contains("kv_tokens"));
    } else if (ph == "b" || ph == "e") {
      CHECK(e["cat"] == "request");
      const auto id = e["id"].get<std::uint64_t>();
      depth[id] += ph == "b" ? 1 : -1;
      CHECK(depth[id] >= 0);
      (ph == "b" ? begins : ends)[e["name"]]++;
      phases.insert(e["name"].get<std::string>());
    } else if (ph == "M") {
      ++names;
    } else {
      CHECK(ph == "C");
    }
    CHECK((e.contains("ts") && e["ts"].is_number()) == (ph != "M"));  // metadata events carry no time
  }
  CHECK(iterations > 0);
  CHECK(names >= 3);  // the requests, the prefill and decode pools
  for (const auto& [id, d] : depth) CHECK(d == 0);
  CHECK(begins == ends);
  CHECK(begins["request"] == 500);
  for (const char* p : {"queue", "prefill", "transfer", "decode wait", "decode"}) CHECK(phases.count(p) == 1);
}
