// universal-moska against baselines that attend the same tokens: in a module-library scenario every
// system's request attends the modules it composed (not the whole library), and universal MoSKA's
// recomputed leading tokens, held in the request's KV, are read by its decode.
#include <catch2/catch.hpp>

#include "sim/serving/scenario.hpp"
#include "tests/system_helpers.hpp"

using namespace moska;

namespace {
// 64 modules of 16,384 tokens (a 1M-token library), 4 composed per request by Zipf popularity, 32
// leading tokens of each recomputed; 4K chunks, 75% sparsity.
Scenario scenario(const std::string& system) {
  auto j = nlohmann::json::parse(R"({
    "name": "library test", "model": "llama-3.1-8b", "dtype": "fp8",
    "pools": [{"name": "node", "role": "serve", "hw": "h100-sxm", "instances": 1, "tp": 8}],
    "shared": {"chunk_tokens": 4096, "sparsity": 0.75,
               "modules": {"count": 64, "tokens": 16384, "per_request": 4, "recompute_tokens": 32,
                           "popularity": {"skew": "zipf", "zipf_s": 1.0}}},
    "workload": {"generator": {"requests": 1, "arrival": {"process": "burst"},
                 "input_tokens": {"dist": "constant", "value": 1}, "output_tokens": {"dist": "constant", "value": 1}}}
  })");
  j["system"] = system;
  return parse_scenario(j, "<test>", ".");
}
}  // namespace

TEST_CASE("universal-moska: every system attends the request's 4 composed modules, not the 1M-token library") {
  const std::int64_t ctx = 4096;
  // By hand: 4 modules x 16,384 = 65,536 tokens composed per request; the library is 1,048,576.
  // vllm holds and reads its own copy of them; prefix-cache reads them from the one stored library.
  auto vllm = test::configure(scenario("vllm"));
  CHECK(vllm.sys->tokens_per_request(ctx) == ctx + 65536);
  CHECK(vllm.sys->read_per_request(ctx) == ctx + 65536);
  auto pc = test::configure(scenario("prefix-cache"));
  CHECK(pc.sys->tokens_per_request(ctx) == ctx);
  CHECK(pc.sys->read_per_request(ctx) == ctx + 65536);
  CHECK(pc.sys->shared_tokens() == 1048576);
  // sparse: 25% of its modules' 16 chunks = 4 chunks = 16,384 tokens.
  auto sp = test::configure(scenario("sparse"));
  CHECK(sp.sys->read_per_request(ctx) == ctx + 16384);
  // cascade: each composed module is one segment (its 4 chunks in one launch, one partial): a
  // request merges 4 + 1 partials; 100 requests x 4 modules x 4 chunks = 1,600 (chunk, query) pairs
  // in the launches (expected counts, rounded per popularity band).
  auto cc = test::configure(scenario("cascade"));
  const auto s = cc.route(100);
  std::int64_t pairs = 0;
  for (const auto& g : s.groups) pairs += g.n_chunks * g.queries;
  CHECK(s.segments == 4);
  CHECK(s.top_k == 16);
  CHECK(pairs == Approx(1600).epsilon(0.05));
}

TEST_CASE("universal-moska: the recomputed leading tokens are held and read in decode") {
  // 4 modules x 32 recomputed tokens = 128 tokens of the request's own KV, read every decode step
  // like the rest of it; its top-k chunks go to the batched launches.
  auto um = test::configure(scenario("universal-moska"));
  CHECK(um.sys->tokens_per_request(4096) == 4096 + 128);
  CHECK(um.sys->read_per_request(4096) == 4096 + 128);
  // The baselines recompute nothing (vllm prefills its own copy whole).
  auto vllm = test::configure(scenario("vllm"));
  CHECK(vllm.sys->tokens_per_request(0) == 65536);
}
