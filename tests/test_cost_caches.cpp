// The speed-ups of issue 6 must not change a number: a system's iteration cost (StepCostModel caches
// per-op terms and folds them) against costing the operator lists directly, bit for bit.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

#include "sim/cost/cost_model.hpp"
#include "sim/model/model_spec.hpp"
#include "tests/system_helpers.hpp"

using namespace moska;
using moska::test::Configured;
using moska::test::configure;
using moska::test::charged;

namespace {

nlohmann::json scenario(const std::string& system, const std::string& dtype, int tp) {
  auto j = nlohmann::json::parse(R"({
    "name": "caches", "seed": 3, "model": "llama-3.1-8b",
    "shared": {"tokens": 1048576, "chunk_tokens": 4096, "sparsity": 0.75, "routing": {"skew": "zipf", "zipf_s": 0.9}},
    "scheduler": {"max_batch": 1024, "max_batched_tokens": 16384, "micro_batches": 4},
    "workload": {"generator": {"requests": 1, "arrival": {"process": "burst"},
                 "input_tokens": {"dist": "constant", "value": 100}, "output_tokens": {"dist": "constant", "value": 10}}}
  })");
  j["system"] = system;
  j["dtype"] = dtype;
  j["model"] = moska::test::long_context_model();  // a 1M-token context without context parallelism
  if (system == "moska-disagg") {
    j["pools"] = nlohmann::json::parse(R"([{"name": "u", "role": "unique", "hw": "h100-sxm", "instances": 4, "tp": 1},
                                           {"name": "s", "role": "shared", "hw": "h100-sxm", "instances": 2, "tp": 2}])");
    j["pools"][0]["tp"] = tp;
  } else {
    j["pools"] = nlohmann::json::array({{{"name", "g"}, {"role", "serve"}, {"hw", "h100-sxm"}, {"instances", 2}, {"tp", tp}}});
  }
  if (system == "vllm") j.erase("shared");
  return j;
}

// What the iteration cost was before its caches, from the operator lists (colocated).
double colocated_reference(const ModelSpec& m, const Precision& p, int tp, const CostModel& cm, const BatchSpec& batch) {
  BatchSpec b = batch;
  b.tp = tp;
  auto d = cm.iteration(build_iteration_ops(m, p, b, OpFilter{true, false, false}));
  auto c = cm.iteration(build_iteration_ops(m, p, b, OpFilter{false, true, true}));
  // A system that selects its chunks per request (sparse) has its queries counted but no launches:
  // its selection operators follow the step.
  double selection = 0;
  const auto& s = b.shared;
  if (s.groups.empty() && s.requests > 0) {
    std::vector<Op> ops;
    const auto rows = std::min(s.requests, b.decode_requests);
    append_selection_ops(m, p, rows, s.requests - rows, s.total_chunks, s.top_k, tp, ops);
    for (const auto& op : ops) selection += cm.op_seconds(op) * static_cast<double>(op.count);
  }
  return (d.seconds - d.overhead_s) + c.seconds + selection;
}

std::vector<BatchSpec> batches(const Configured& cl, bool shared) {
  std::vector<BatchSpec> out;
  for (std::int64_t n : {1, 2, 7, 64, 300}) {
    for (std::int64_t ctx : {100, 4097, 30000}) {
      BatchSpec b;
      b.decode_requests = n;
      b.decode_kv_tokens = n * ctx + 3;
      out.push_back(b);
      b.prefills = {{512, 0}, {1, 9000}, {2048, 4096}};
      out.push_back(b);
      if (shared) {
        b.shared = cl.route(n + 2561);
        out.push_back(b);
        b.prefills.clear();
        b.shared = cl.route(n);
        out.push_back(b);
      }
    }
  }
  BatchSpec only_prefill;
  only_prefill.prefills = {{8000, 123}};
  out.push_back(only_prefill);
  out.push_back(BatchSpec{});
  return out;
}

}  // namespace

TEST_CASE("cost caches: colocated iteration cost is bit-identical to costing the operator lists") {
  for (const auto& [system, dtype, tp] : {std::tuple{"vllm", "bf16", 1}, std::tuple{"moska", "fp8", 8},
                                          std::tuple{"moska", "bf16", 2}, std::tuple{"sparse", "bf16", 4}}) {
    CAPTURE(system, dtype, tp);
    auto sc = parse_scenario(scenario(system, dtype, tp), "<test>", ".");
    const auto cl = configure(sc);
    CostModel cm(load_hardware("h100-sxm"));
    const auto bs = batches(cl, sc.shared.tokens > 0);
    for (int pass = 0; pass < 2; ++pass) {  // first pass fills the caches, second reads them
      for (const auto& b : bs) {
        CAPTURE(pass, b.decode_requests, b.decode_kv_tokens, b.prefills.size(), b.shared.requests);
        REQUIRE(cl.cost(b).seconds == colocated_reference(cl.sys->model(), sc.precision, tp, cm, b));
      }
    }
  }
}

TEST_CASE("cost caches: moska-disagg iteration cost is the same on a second asking (cached terms)") {
  auto sc = parse_scenario(scenario("moska-disagg", "fp8", 1), "<test>", ".");
  const auto cl = configure(sc);
  const auto bs = batches(cl, true);
  std::vector<IterStats> first;
  for (const auto& b : bs) first.push_back(cl.cost(b));
  for (std::size_t i = 0; i < bs.size(); ++i) {
    const auto one = configure(sc);  // nothing cached: every term computed for this batch alone
    auto a = one.cost(bs[i]);
    auto c = cl.cost(bs[i]);
    REQUIRE(a.seconds == first[i].seconds);
    REQUIRE(c.seconds == first[i].seconds);
    REQUIRE(charged(c, 0, true) == charged(a, 0, true));
    REQUIRE(charged(c, 1, true) == charged(a, 1, true));
    REQUIRE(charged(c, 1, false) == charged(a, 1, false));
  }
}

