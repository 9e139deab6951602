#include "sim/serving/scenario.hpp"

#include <cmath>

#include <fmt/format.h>

#include "sim/engine/time.hpp"
#include "sim/util/checked.hpp"
#include "sim/util/error.hpp"
#include "sim/util/json_reader.hpp"
#include "sim/util/paths.hpp"

namespace moska {

namespace {

// SLO bounds are seconds; one far above any serving SLO was most likely written in milliseconds.
double slo_bound(const JsonReader& r, const std::string& key, double max_s) {
  const double v = r.number(key);
  if (!(v > 0)) r.fail(key, fmt::format("a positive number of seconds (got {})", v));
  if (v > max_s) r.fail(key, fmt::format("seconds, at most {} (got {}: milliseconds?)", max_s, v));
  return v;
}

RoutingSpec parse_routing(const JsonReader& r) {
  RoutingSpec s;
  auto skew = r.string_or("skew", "uniform");
  if (skew == "uniform") s.skew = RoutingSkew::uniform;
  else if (skew == "zipf") s.skew = RoutingSkew::zipf;
  else if (skew == "hot") s.skew = RoutingSkew::hot;
  else r.fail("skew", "one of uniform, zipf, hot");
  s.zipf_s = r.number_in_or("zipf_s", 0, kMaxZipfExponent, 1.0);
  s.hot_fraction = r.number_or("hot_fraction", 0.1);
  s.hot_mass = r.number_or("hot_mass", 0.9);
  if (!(s.hot_fraction > 0 && s.hot_fraction <= 1)) r.fail("hot_fraction", "a fraction in (0, 1]");
  if (!(s.hot_mass >= 0 && s.hot_mass <= 1)) r.fail("hot_mass", "a fraction in [0, 1]");
  r.finish();
  return s;
}

}  // namespace

Scenario parse_scenario(const nlohmann::json& j, const std::string& where, const std::filesystem::path& base_dir,
                        const std::vector<std::string>& sections) {
  JsonReader r(j, where);
  Scenario s;
  s.file = where;
  s.base_dir = base_dir;
  s.name = r.string_or("name", "unnamed");
  s.seed = static_cast<std::uint64_t>(r.integer_or("seed", 0, 1));
  r.string_or("description", "");
  s.model = r.string_or("model", s.model);
  if (r.has("precision")) {
    auto p = r.object("precision");
    s.precision.weights = parse_dtype(p.string("weights"), where + ": key 'precision.weights'");
    s.precision.kv = parse_dtype(p.string("kv"), where + ": key 'precision.kv'");
    s.precision.act = parse_dtype(p.string_or("act", "bf16"), where + ": key 'precision.act'");
    p.finish();
  } else {
    s.precision = Precision::uniform(parse_dtype(r.string_or("dtype", "bf16"), where + ": key 'dtype'"));
  }
  s.system = r.string("system");
  for (const auto& p : r.array_of_objects("pools")) {
    PoolSpec ps;
    ps.name = p.string_or("name", fmt::format("pool{}", s.pools.size()));
    ps.role = p.string_or("role", "serve");
    if (ps.role != "serve" && ps.role != "unique" && ps.role != "shared" && ps.role != "prefill" && ps.role != "decode") {
      p.fail("role", "one of serve, unique, shared, prefill, decode");
    }
    ps.hw = p.string("hw");
    ps.instances = p.int32("instances", 1, kMaxPoolInstances);
    ps.tp = p.int32_or("tp", 1, 1, kMaxTp);
    p.finish();
    // GPUs of the pool, as an int (PoolStats::gpus): instances x tp must fit.
    checked_narrow<int>(checked_mul<std::int64_t>(ps.instances, ps.tp, where + ": pool GPUs (instances x tp)"),
                        where + ": pool GPUs (instances x tp)");
    s.pools.push_back(ps);
  }
  if (s.pools.empty()) r.fail("pools", "at least one pool");
  if (r.has("shared")) {
    auto sh = r.object("shared");
    if (sh.has("modules")) {
      if (sh.has("tokens")) sh.fail("tokens", "to be absent when 'modules' is given (the library sets it)");
      auto m = sh.object("modules");
      auto& lib = s.shared.modules;
      lib.count = m.integer("count", 1, kMaxTokenCount);
      lib.tokens = m.integer("tokens", 1, kMaxTokenCount);
      lib.per_request = m.integer("per_request", 1, kMaxTokenCount);
      if (lib.per_request > lib.count) m.fail("per_request", "at most 'count'");
      lib.recompute_tokens = m.integer_or("recompute_tokens", 0, 16, kMaxTokenCount);
      if (lib.recompute_tokens > lib.tokens) m.fail("recompute_tokens", "at most the module's 'tokens'");
      if (m.has("popularity")) lib.popularity = parse_routing(m.object("popularity"));
      m.finish();
      s.shared.tokens = checked_mul(lib.count, lib.tokens, where + ": shared.modules count x tokens");
      if (s.shared.tokens > kMaxTokenCount) m.fail("tokens", fmt::format("count x tokens at most {}", kMaxTokenCount));
    } else if (sh.has("corpora")) {
      if (sh.has("tokens")) sh.fail("tokens", "to be absent when 'corpora' is given (their sum is used)");
      for (const auto& c : sh.array_of_objects("corpora")) {
        s.shared.corpus_tokens.push_back(c.integer("tokens", 1, kMaxTokenCount));
        double w = c.number_or("weight", 1.0);
        if (!(w > 0 && w <= 1e12)) c.fail("weight", "a positive popularity weight, at most 1e12");
        s.shared.corpus_weights.push_back(w);
        c.finish();
        s.shared.tokens = checked_add(s.shared.tokens, s.shared.corpus_tokens.back(), where + ": shared.corpora tokens (sum)");
      }
      if (s.shared.tokens > kMaxTokenCount) {
        sh.fail("corpora", fmt::format("corpora of at most {} tokens in all (got {})", kMaxTokenCount, s.shared.tokens));
      }
      if (s.shared.corpus_tokens.empty()) sh.fail("corpora", "at least one corpus {\"tokens\": N, \"weight\": w}");
    } else {
      s.shared.tokens = sh.integer("tokens", 0, kMaxTokenCount);
      if (s.shared.tokens > 0) {
        s.shared.corpus_tokens = {s.shared.tokens};
        s.shared.corpus_weights = {1.0};
      }
    }
    s.shared.chunk_tokens = sh.integer_or("chunk_tokens", 1, 4096, kMaxTokenCount);
    s.shared.sparsity = sh.number_or("sparsity", 0.0);
    if (!(s.shared.sparsity >= 0 && s.shared.sparsity < 1)) sh.fail("sparsity", "a fraction in [0, 1)");
    s.shared.attach_fraction = sh.number_or("attach_fraction", 1.0);
    if (!(s.shared.attach_fraction >= 0 && s.shared.attach_fraction <= 1)) sh.fail("attach_fraction", "a fraction in [0, 1]");
    if (sh.has("routing")) s.shared.routing = parse_routing(sh.object("routing"));
    sh.finish();
  }
  if (r.has("scheduler")) {
    auto sc = r.object("scheduler");
    s.scheduler.max_batch = sc.integer_or("max_batch", 1, s.scheduler.max_batch, kMaxRequestTokens);
    s.scheduler.max_batched_tokens = sc.integer_or("max_batched_tokens", 1, s.scheduler.max_batched_tokens, kMaxRequestTokens);
    s.scheduler.chunked_prefill = sc.boolean_or("chunked_prefill", true);
    s.scheduler.dispatch = sc.string_or("dispatch", s.scheduler.dispatch);
    if (s.scheduler.dispatch != "least-loaded" && s.scheduler.dispatch != "round-robin") {
      sc.fail("dispatch", "one of least-loaded, round-robin");
    }
    s.scheduler.iteration_overhead_s = sc.number_in_or("iteration_overhead_s", 0, kMaxOverheadSeconds, 0.0, "seconds");
    s.scheduler.micro_batches = sc.int32_or("micro_batches", 1, s.scheduler.micro_batches, kMaxMicroBatches);
    s.scheduler.kv_memory_fraction = sc.number_or("kv_memory_fraction", s.scheduler.kv_memory_fraction);
    if (!(s.scheduler.kv_memory_fraction > 0 && s.scheduler.kv_memory_fraction <= 1)) {
      sc.fail("kv_memory_fraction", "a fraction in (0, 1]");
    }
    s.scheduler.prefix_caching = sc.boolean_or("prefix_caching", false);
    s.scheduler.block_tokens = sc.integer_or("block_tokens", 1, s.scheduler.block_tokens, kMaxRequestTokens);
    sc.finish();
  }
  s.workload = r.raw("workload");
  if (!s.workload.is_object() || (s.workload.contains("generator") == s.workload.contains("trace")) || s.workload.size() != 1) {
    r.fail("workload", "an object with exactly one of \"generator\" or \"trace\"");
  }
  // 0 = none; else the run stops there, so it must be a time the clock can reach.
  s.time_limit_s = r.number_in_or("time_limit_s", 0, kClockRangeSeconds / 2, 0.0, "seconds");
  for (const auto& name : sections) {
    if (r.has(name)) s.sections[name] = r.raw(name);
  }
  if (r.has("slo")) {
    auto slo = r.object("slo");
    if (slo.has("ttft_s")) s.slo.ttft_s = slo_bound(slo, "ttft_s", kMaxSloTtftSeconds);
    if (slo.has("tbt_s")) s.slo.tbt_s = slo_bound(slo, "tbt_s", kMaxSloTbtSeconds);
    slo.finish();
  }
  r.finish();
  return s;
}

}  // namespace moska
