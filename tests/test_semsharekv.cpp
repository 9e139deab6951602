// SemShareKV against hand-derived values: recompute FLOPs of a schedule, retained KV of a decay rate,
// hit/miss decisions on a hand-built trace, its prefill cost against prefills measured on an H200,
// and the similarity fields of workloads.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "sim/model/reuse_ops.hpp"
#include "sim/serving/workload_loader.hpp"
#include "sim/systems/semsharekv/schedule.hpp"
#include "sim/systems/semsharekv/store.hpp"
#include "sim/systems/system.hpp"
#include "sim/util/error.hpp"
#include "sim/util/paths.hpp"
#include "sim/workload/generator.hpp"
#include "sim/workload/trace.hpp"

using namespace moska;
using namespace moska::semsharekv;

namespace {
nlohmann::json scenario(const std::string& policy) {
  auto j = nlohmann::json::parse(R"({
    "name": "t", "seed": 1, "model": "llama-3.1-8b", "dtype": "bf16", "system": "semsharekv",
    "pools": [{"name": "g", "role": "serve", "hw": "h200", "instances": 1, "tp": 1}],
    "scheduler": {"max_batch": 64, "max_batched_tokens": 16384},
    "semsharekv": {"threshold": 0.8, "store": {"capacity_gib": 64}, "load": {"bandwidth_gbps": 50}},
    "workload": {"generator": {"requests": 1, "arrival": {"process": "constant", "rate_per_s": 1},
                 "input_tokens": {"dist": "constant", "value": 1000}, "output_tokens": {"dist": "constant", "value": 1}}}
  })");
  j["semsharekv"]["policy"] = policy;
  return j;
}
double counter(const RunResult& r, const std::string& k) {
  for (const auto& [name, v] : r.counters) {
    if (name == k) return v;
  }
  FAIL("no counter " << k);
  return 0;
}
Request req(std::uint64_t id, double t_s, std::int64_t in, std::int32_t family, double sim) {
  Request r;
  r.id = id;
  r.arrival_ns = std::llround(t_s * 1e9);
  r.input_tokens = in;
  r.output_tokens = 1;
  r.family = family;
  r.similarity = sim;
  return r;
}
}  // namespace

TEST_CASE("semsharekv: recompute FLOPs of a schedule, by hand and from the operator list") {
  const auto m = load_model("llama-3.1-8b");
  // Layer 0 recomputes all 1000 tokens, layers 1..31 recompute 100 (10%).
  RecomputeSchedule s{1, 0.1, 1.0, 0.1};
  // Per recomputed row and layer: 2 x (q 4096x4096 + k,v 2x4096x1024 + o 4096x4096 + MLP 3x4096x14336).
  const double per_row = 2.0 * (2 * 4096.0 * 4096 + 2 * 4096.0 * 1024 + 3 * 4096.0 * 14336);
  REQUIRE(per_row == 436207616.0);
  // Attention: 4 x 32 heads x 128 per (query, key): layer 0 causal 1000*1001/2 pairs, then 100 x 1000.
  const double pair = 4.0 * 32 * 128;
  const double hand = per_row * (1000 + 31 * 100) + pair * (1000.0 * 1001 / 2 + 31 * 100.0 * 1000);
  REQUIRE(recompute_flops(m, s, 1000, 0.0) == Approx(hand).epsilon(1e-12));
  // The iteration's operators carry the same GEMM and attention FLOPs (plus the LM head's row).
  std::vector<std::int64_t> rows(32, 100);
  ReuseBatch b;
  b.reuse.push_back({1000, 0, 1, rows});
  std::vector<Op> ops;
  append_reuse_iteration_ops(m, Precision::uniform(Dtype::bf16), b, 1, AttentionImpl::flash, ops);
  double f = 0;
  for (const auto& op : ops) {
    if ((op.cls == OpClass::gemm && op.name != "lm_head") || op.cls == OpClass::attn_prefill) f += op.flops * static_cast<double>(op.count);
  }
  REQUIRE(f == Approx(hand).epsilon(1e-12));
  // The reference KV of the 1000 positions is gathered in the 31 partial layers (K and V, bf16).
  double gathered = 0;
  for (const auto& op : ops) {
    if (op.name == "kv_gather") gathered += op.bytes * static_cast<double>(op.count);
  }
  REQUIRE(gathered == 31 * 2 * (1000.0 * 1024 * 2) * 2);
  // CacheBlend-style: 40% of the tokens have no reusable chunk: rows = round(1000 x (0.4 + 0.6 x 0.1)) = 460.
  REQUIRE(s.rows(5, 1000, 0.4) == 460);
  // The last token is always recomputed, however small the share.
  REQUIRE(RecomputeSchedule{1, 0.0, 1.0, 0.0}.rows(3, 1000, 0.0) == 1);
}

TEST_CASE("semsharekv: retained KV of an exponential decay, by the geometric sum") {
  const auto m = load_model("llama-3.1-8b");
  Retention r{1.0, 0.9, 0.0};
  // keep_l = 0.9^l over 32 layers: mean = (1 - 0.9^32) / (32 x 0.1) = 0.30177...
  const double mean = (1 - std::pow(0.9, 32)) / (32 * 0.1);
  REQUIRE(mean == Approx(0.30177).epsilon(1e-4));
  REQUIRE(r.kept_tokens(m, 1000) == std::llround(1000 * mean));
  REQUIRE(r.kept_tokens(m, 1000) == 302);
  // In bytes: 302 tokens x 128 KiB, against 1000 x 128 KiB held by a full prefill.
  REQUIRE(static_cast<double>(r.kept_tokens(m, 1000)) * m.kv_bytes_per_token(Dtype::bf16) == 302.0 * 131072);
  // gamma = 0.962 keeps 58.4% (the 42% reduction of the paper's headline, README "SemShareKV").
  REQUIRE(Retention{1.0, 0.962, 0.0}.kept_tokens(m, 10000) == std::llround(10000 * (1 - std::pow(0.962, 32)) / (32 * 0.038)));
}

TEST_CASE("semsharekv: hit and miss decisions on a hand-built trace") {
  auto sc = parse_scenario_for_systems(scenario("semantic"), "<test>", ".");
  // Requests 1 s apart (each prefill and its copy to the store end well within that).
  std::vector<Request> rs = {
      req(0, 0, 1000, 0, 1.0),   // family 0's first prompt: nothing stored -> miss (no reference)
      req(1, 1, 1000, 0, 0.9),   // similar to it -> hit
      req(2, 2, 1000, 0, 0.7),   // below the threshold -> miss
      req(3, 3, 1000, 1, 0.95),  // family 1 never seen -> miss
      req(4, 4, 1000, -1, 0.0),  // no family -> miss
      req(5, 5, 1000, 1, 0.8),   // exactly at the threshold -> hit
  };
  const auto r = simulate(sc, rs);
  REQUIRE(counter(r, "reuse_hits") == 2);
  REQUIRE(counter(r, "miss_no_reference") == 2);
  REQUIRE(counter(r, "miss_below_threshold") == 1);
  REQUIRE(counter(r, "miss_no_family") == 1);
  // A hit loads its reference's KV: 2 x 1000 tokens x 128 KiB.
  REQUIRE(counter(r, "reference_load_gb") == Approx(2 * 1000 * 131072.0 / 1e9));
  // A hit's TTFT: host cost + 1000 x 128 KiB over 50 GB/s + its partial prefill; a miss's: host cost + full prefill.
  const double t_hit = ns_to_seconds(r.requests[1].first_token - r.requests[1].arrival);
  const double t_miss = ns_to_seconds(r.requests[2].first_token - r.requests[2].arrival);
  REQUIRE(t_hit < t_miss);
  REQUIRE(t_hit > 0.0164 + 1000 * 131072.0 / 50e9);

  // CacheBlend: no threshold; a chunk of 4 sentences is reused when all 4 are kept (s^4 of the tokens).
  auto cb = parse_scenario_for_systems(scenario("cacheblend"), "<test>", ".");
  const auto rc = simulate(cb, rs);
  REQUIRE(counter(rc, "reuse_hits") == 3);  // requests 1, 2 and 5
  // Recomputed share of the hits: layer 0 in full, then (1 - s^4) + s^4 x 0.15 of each (rounded rows).
  double want = 0;
  for (double s : {0.9, 0.7, 0.8}) {
    const double u = std::pow(s, 4);
    want += (1000 + 31 * std::llround(1000 * ((1 - u) + u * 0.15))) / 32000.0;
  }
  REQUIRE(counter(rc, "hit_recomputed_share") == Approx(want / 3).epsilon(1e-9));
}

TEST_CASE("semsharekv: policy full with flash attention is vllm's prefill and decode, bit for bit") {
  auto j = scenario("full");
  j["workload"]["generator"] = nlohmann::json::parse(R"({"requests": 300, "arrival": {"process": "poisson", "rate_per_s": 40},
    "input_tokens": {"dist": "uniform", "min": 100, "max": 4000}, "output_tokens": {"dist": "uniform", "min": 1, "max": 200}})");
  auto sc = parse_scenario_for_systems(j, "<test>", ".");
  const auto reqs = load_workload(sc);
  const auto a = simulate(sc, reqs);
  j["system"] = "vllm";
  auto sv = parse_scenario_for_systems(j, "<test>", ".");
  const auto b = simulate(sv, reqs);
  REQUIRE(a.requests.size() == b.requests.size());
  for (std::size_t i = 0; i < a.requests.size(); ++i) {
    REQUIRE(a.requests[i].first_token == b.requests[i].first_token);
    REQUIRE(a.requests[i].finish == b.requests[i].finish);
  }
}

TEST_CASE("semsharekv: a hit's decode reads and holds only the retained KV") {
  auto j = scenario("semantic");
  j["semsharekv"]["retain"] = {{"first", 1.0}, {"decay", 0.9}};
  auto sc = parse_scenario_for_systems(j, "<test>", ".");
  std::vector<Request> rs = {req(0, 0, 1000, 0, 1.0), req(1, 1, 1000, 0, 0.9)};
  rs[1].output_tokens = 3;
  const auto r = simulate(sc, rs);
  REQUIRE(counter(r, "reuse_hits") == 1);
  REQUIRE(counter(r, "hit_kv_kept_share") == Approx(302.0 / 1000));
}

TEST_CASE("semsharekv: the prefill cost predicts the 60 prefills measured on an H200 within 11%") {
  // results/semsharekv_validation: Llama-3.1-8B bf16, full prefills and partial ones (layer 0 full,
  // a share r of the tokens in the other layers, reference KV gathered), flash2 and eager, CUDA graphs.
  std::ifstream in(data_root() / "results/semsharekv_validation/partial_prefill_h200.txt");
  REQUIRE(in.good());
  std::string line;
  std::vector<double> err;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string kind;
    int eager = 0;
    std::int64_t P = 0, m = 0;
    double r = 0, us = 0;
    ls >> kind >> eager >> P >> r >> m >> us;
    auto j = scenario(kind == "full" ? "full" : "semantic");
    j["semsharekv"]["attention"] = eager ? "eager" : "flash";
    j["semsharekv"]["match"] = {{"fixed_s", 0.0}, {"search_s_per_prompt", 0.0}};
    j["semsharekv"]["recompute"] = {{"full_layers", 1}, {"first", r}, {"decay", 1.0}, {"min", r}};
    j["semsharekv"]["store"]["preload"] = true;
    j["semsharekv"]["load"]["bandwidth_gbps"] = 1e9;
    auto sc = parse_scenario_for_systems(j, "<test>", ".");
    Request q = req(0, 0, P, 0, 1.0);
    const auto res = simulate(sc, {q});
    const double pred = ns_to_seconds(res.requests[0].first_token);
    err.push_back(std::abs(pred - us * 1e-6) / (us * 1e-6));
    INFO(line << " predicted " << pred * 1e3 << " ms");
    CHECK(err.back() < 0.11);
  }
  REQUIRE(err.size() == 60);
  std::sort(err.begin(), err.end());
  REQUIRE(err[err.size() / 2] < 0.05);
}

TEST_CASE("semsharekv: reference store keeps families, evicts least recently used") {
  ReferenceStore s(300);
  REQUIRE(s.insert(1, 10, 100));
  REQUIRE(s.insert(2, 10, 100));
  REQUIRE(s.insert(1, 20, 100));
  REQUIRE(s.find(1)->tokens == 20);  // the family's newest
  REQUIRE(s.find(2));                // touched: family 1's older prompt is now least recently used
  REQUIRE(s.insert(3, 10, 100));     // evicts family 1's older prompt
  REQUIRE(s.evicted() == 1);
  REQUIRE(s.find(1)->tokens == 20);
  REQUIRE(s.insert(4, 10, 100));  // evicts family 2 (least recently used now)
  REQUIRE_FALSE(s.find(2));
  REQUIRE_FALSE(s.insert(5, 10, 400));  // larger than the store
}

TEST_CASE("semsharekv: family and similarity in our JSONL, strictly") {
  auto t = parse_trace(
      "{\"arrival_s\": 0, \"input_tokens\": 10, \"output_tokens\": 2, \"family\": 3, \"similarity\": 0.85}\n"
      "{\"arrival_s\": 1, \"input_tokens\": 10, \"output_tokens\": 2}\n",
      "t.jsonl");
  REQUIRE(t[0].family == 3);
  REQUIRE(t[0].similarity == 0.85);
  REQUIRE(t[1].family == -1);
  REQUIRE_THROWS_WITH(parse_trace("{\"arrival_s\": 0, \"input_tokens\": 1, \"output_tokens\": 1, \"family\": 1}\n", "t.jsonl"),
                      Catch::Contains("t.jsonl:1") && Catch::Contains("both keys or neither"));
  REQUIRE_THROWS_WITH(parse_trace("{\"arrival_s\": 0, \"input_tokens\": 1, \"output_tokens\": 1, \"family\": 1, \"similarity\": 1.5}\n",
                                  "t.jsonl"),
                      Catch::Contains("above 1"));
}

TEST_CASE("semsharekv: generator families (one length per family, similarity range, shared prefix blocks)") {
  GeneratorSpec g;
  g.requests = 2000;
  g.arrival.rate_per_s = 10;
  g.input_tokens.kind = TokenDist::Kind::uniform;
  g.input_tokens.min = 600;
  g.input_tokens.max = 6000;
  g.output_tokens.value = 5;
  g.families = FamilySpec{};
  g.families->count = 50;
  g.families->similarity_min = 0.6;
  g.families->similarity_max = 0.9;
  const auto rs = generate(g);
  std::vector<std::int64_t> len(50, 0);
  std::vector<const Request*> doc(50, nullptr);
  for (const auto& r : rs) {
    REQUIRE(r.family >= 0);
    auto f = static_cast<std::size_t>(r.family);
    if (!doc[f]) {
      doc[f] = &r;
      len[f] = r.input_tokens;
      REQUIRE(r.similarity == 1.0);
      continue;
    }
    REQUIRE(r.input_tokens == len[f]);
    REQUIRE(r.similarity >= 0.6);
    REQUIRE(r.similarity <= 0.9);
    // Hash ids: the document's up to the first rewritten block, then the member's own.
    REQUIRE(r.block_hashes.size() == static_cast<std::size_t>((r.input_tokens + 511) / 512));
    std::size_t k = 0;
    while (k < r.block_hashes.size() && r.block_hashes[k] == doc[f]->block_hashes[k]) ++k;
    for (std::size_t i = k; i < r.block_hashes.size(); ++i) REQUIRE(r.block_hashes[i] != doc[f]->block_hashes[i]);
  }
  // Deterministic.
  const auto again = generate(g);
  REQUIRE(again[1234].similarity == rs[1234].similarity);
  REQUIRE(again[1234].block_hashes == rs[1234].block_hashes);
}
