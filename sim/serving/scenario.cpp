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

const char* policy_name(BatchPolicy p) {
  switch (p) {
    case BatchPolicy::vllm_v1: return "vllm-v1";
    case BatchPolicy::vllm_v0: return "vllm-v0";
    case BatchPolicy::sglang: return "sglang";
    case BatchPolicy::sarathi: return "sarathi";
    case BatchPolicy::orca: return "orca";
    case BatchPolicy::trtllm: return "trtllm";
  }
  return "?";
}

namespace {

// vLLM V1's scheduler: what the most used open engine runs today (README "Schedulers").
// A relative path (one with a '/' or ending in .json) that exists beside the scenario file is taken
// from there; names and other paths are resolved as usual (data folders, working directory).
std::string beside(const std::string& name_or_path, const std::filesystem::path& base_dir) {
  const std::filesystem::path p(name_or_path);
  if ((name_or_path.find('/') == std::string::npos && p.extension() != ".json") || p.is_absolute()) return name_or_path;
  const auto candidate = base_dir / p;
  return std::filesystem::exists(candidate) ? candidate.lexically_normal().string() : name_or_path;
}

constexpr BatchPolicy kDefaultPolicy = BatchPolicy::vllm_v1;

BatchPolicy parse_policy(const JsonReader& r, const std::string& key) {
  const std::string v = r.string(key);
  for (auto p : {BatchPolicy::vllm_v1, BatchPolicy::vllm_v0, BatchPolicy::sglang, BatchPolicy::sarathi, BatchPolicy::orca,
                 BatchPolicy::trtllm}) {
    if (v == policy_name(p)) return p;
  }
  r.fail(key, fmt::format("one of vllm-v1, vllm-v0, sglang, sarathi, orca, trtllm (got \"{}\")", v));
}

// Each policy's defaults (README "Schedulers" gives their sources); the engine profile and then the
// scenario override them key by key.
SchedulerSpec policy_defaults(BatchPolicy p) {
  SchedulerSpec s;
  s.policy = p;
  switch (p) {
    case BatchPolicy::vllm_v1:  // 1024 sequences, 8192 tokens: vLLM >= 0.8 serving on >= 70 GiB GPUs
      break;
    case BatchPolicy::vllm_v0:  // 256 sequences (V0's default), whole prompts
      s.max_batch = 256;
      s.chunked_prefill = false;
      break;
    case BatchPolicy::sglang:  // chunked_prefill_size 8192 on 35-160 GB GPUs, token-granular KV
      s.kv_block_tokens = 1;
      break;
    case BatchPolicy::sarathi:  // the paper's strict-SLO token budget
      s.max_batch = 256;
      s.max_batched_tokens = 512;
      break;
    case BatchPolicy::orca:
      s.max_batch = 256;
      s.chunked_prefill = false;
      break;
    case BatchPolicy::trtllm:  // the simulator's defaults before named policies (TensorRT-LLM's own: engine profiles)
      s.max_batch = 256;
      break;
  }
  return s;
}

// The scheduler keys an engine profile may set as well as a scenario.
void apply_scheduler_keys(const JsonReader& sc, SchedulerSpec& s) {
  s.max_batch = sc.integer_or("max_batch", 1, s.max_batch, kMaxRequestTokens);
  s.max_batched_tokens = sc.integer_or("max_batched_tokens", 1, s.max_batched_tokens, kMaxRequestTokens);
  s.chunked_prefill = sc.boolean_or("chunked_prefill", s.chunked_prefill);
  s.kv_memory_fraction = sc.number_or("kv_memory_fraction", s.kv_memory_fraction);
  if (!(s.kv_memory_fraction > 0 && s.kv_memory_fraction <= 1)) sc.fail("kv_memory_fraction", "a fraction in (0, 1]");
  s.gpu_memory_utilization = sc.number_or("gpu_memory_utilization", s.gpu_memory_utilization);
  if (!(s.gpu_memory_utilization >= 0 && s.gpu_memory_utilization <= 1)) {
    sc.fail("gpu_memory_utilization", "a fraction in (0, 1] of the GPU's HBM (0 = use kv_memory_fraction)");
  }
  s.kv_block_tokens = sc.integer_or("kv_block_tokens", 1, s.kv_block_tokens, 65536);
  if (sc.has("preemption")) {
    const auto m = sc.string("preemption");
    if (m != "recompute" && m != "swap") sc.fail("preemption", "\"recompute\" or \"swap\"");
    s.preempt_swap = m == "swap";
  }
  s.multi_step = sc.int32_or("multi_step", 1, s.multi_step, 1024);
  s.admission_watermark = sc.number_or("admission_watermark", s.admission_watermark);
  if (!(s.admission_watermark >= 0 && s.admission_watermark < 1)) sc.fail("admission_watermark", "a fraction in [0, 1)");
}

SchedulerSpec parse_scheduler(const JsonReader& sc, const std::filesystem::path& base_dir) {
  EngineProfile engine;
  if (sc.has("engine")) engine = load_engine_profile(beside(sc.string("engine"), base_dir));
  const JsonReader er(engine.scheduler, engine.file, "scheduler");
  BatchPolicy policy = kDefaultPolicy;
  if (sc.has("policy")) policy = parse_policy(sc, "policy");
  else if (er.has("policy")) policy = parse_policy(er, "policy");
  SchedulerSpec s = policy_defaults(policy);
  if (er.has("policy")) er.string("policy");
  apply_scheduler_keys(er, s);
  er.finish();
  apply_scheduler_keys(sc, s);
  s.engine = std::move(engine);
  s.dispatch = sc.string_or("dispatch", s.dispatch);
  if (s.dispatch != "least-loaded" && s.dispatch != "round-robin" && s.dispatch != "prefix-aware") {
    sc.fail("dispatch", "one of least-loaded, round-robin, prefix-aware");
  }
  s.iteration_overhead_s = sc.number_in_or("iteration_overhead_s", 0, kMaxOverheadSeconds, 0.0, "seconds");
  s.micro_batches = sc.int32_or("micro_batches", 1, s.micro_batches, kMaxMicroBatches);
  s.prefix_caching = sc.boolean_or("prefix_caching", false);
  s.block_tokens = sc.integer_or("block_tokens", 1, s.block_tokens, kMaxRequestTokens);
  if (!on_demand_kv(s.policy) && (s.preempt_swap || sc.has("kv_block_tokens"))) {
    sc.fail(s.preempt_swap ? "preemption" : "kv_block_tokens",
            fmt::format("no setting: policy {} reserves KV at admission and never preempts", policy_name(s.policy)));
  }
  if (s.policy == BatchPolicy::sarathi && !s.chunked_prefill) {
    sc.fail("chunked_prefill", "true: policy sarathi chunks prompts to the token budget (stall-free batching)");
  }
  if (s.multi_step > 1 && s.policy != BatchPolicy::vllm_v0) {
    sc.fail("multi_step", fmt::format("1: multi-step scheduling is vLLM V0's (policy vllm-v0), not {}'s", policy_name(s.policy)));
  }
  sc.finish();
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
  s.model = beside(r.string_or("model", s.model), base_dir);
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
  s.attention_backend = r.string_or("attention_backend", s.attention_backend);
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
  static const nlohmann::json kNoScheduler = nlohmann::json::object();
  s.scheduler = parse_scheduler(r.has("scheduler") ? r.object("scheduler") : JsonReader(kNoScheduler, where, "scheduler"), base_dir);
  s.workload = r.raw("workload");
  if (!s.workload.is_object() || (s.workload.contains("generator") == s.workload.contains("trace")) ||
      s.workload.size() != 1 + (s.workload.contains("max_concurrency") ? 1u : 0u)) {
    r.fail("workload", "an object with exactly one of \"generator\" or \"trace\" (and optionally \"max_concurrency\")");
  }
  if (s.workload.contains("max_concurrency")) {
    const auto& c = s.workload["max_concurrency"];
    if (!c.is_number_integer() || c.get<std::int64_t>() < 0) r.fail("workload.max_concurrency", "an integer >= 0 (0 = open loop)");
    s.max_concurrency = c.get<std::int64_t>();
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
    // Mooncake's per-request TBT: the mean of the slowest p% of its token gaps (tracked in the run).
    if (slo.has("tbt_slowest_percent")) s.slo.tbt_slowest_fraction = slo.number_in_or("tbt_slowest_percent", 1e-9, 100, 0) / 100;
    slo.finish();
  }
  r.finish();
  return s;
}

}  // namespace moska
