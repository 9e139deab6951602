#pragma once
// A scenario file: model, precision, system, pools of GPUs, shared context, scheduler, workload.
// Validated on load; `apply_override` lets sweeps change any key before parsing.
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/metrics/slo.hpp"
#include "sim/serving/routing.hpp"
#include "sim/util/dtype.hpp"
#include "sim/workload/request.hpp"

namespace moska {

// Ranges of scenario numbers (beyond them a value is a typo or a unit mistake, and would overflow a
// count or the clock later). Token counts of a scenario (shared tokens, chunks, modules) are at
// most 2^48, so that sums and products with a request's tokens (< 2^31) stay inside int64.
inline constexpr std::int64_t kMaxTokenCount = std::int64_t{1} << 48;
inline constexpr int kMaxPoolInstances = 1 << 20;
inline constexpr int kMaxTp = 4096;
inline constexpr int kMaxMicroBatches = 4096;
inline constexpr double kMaxOverheadSeconds = 60;   // scheduler.iteration_overhead_s
inline constexpr double kMaxZipfExponent = 100;
inline constexpr double kMaxSloTtftSeconds = 600;   // slo.ttft_s, --slo-ttft
inline constexpr double kMaxSloTbtSeconds = 10;     // slo.tbt_s, --slo-tbt

struct PoolSpec {
  std::string name;
  std::string role;  // "serve" (colocated replicas), "unique" and "shared" (moska-disagg), "prefill" and "decode" (mooncake)
  std::string hw;
  int instances = 1;  // TP groups in the pool
  int tp = 1;         // GPUs per TP group
};

// Universal MoSKA: the shared KV is a library of position-independent modules; each request
// composes `per_request` of them, chosen by popularity, and recomputes `recompute_tokens` leading
// tokens of each (EPIC's fix of the attention sink) during its prefill.
struct ModuleLibrary {
  std::int64_t count = 0;  // 0 = no library
  std::int64_t tokens = 0;  // per module
  std::int64_t per_request = 1;
  std::int64_t recompute_tokens = 16;
  RoutingSpec popularity;
};

struct SharedSpec {
  std::int64_t tokens = 0;        // 0 = no shared context; the sum over corpora (or count x tokens of a library)
  // Independent shared corpora and their popularity (share of sharing requests attending each).
  // "tokens": N is one corpus of weight 1.
  std::vector<std::int64_t> corpus_tokens;
  std::vector<double> corpus_weights;
  ModuleLibrary modules;
  std::int64_t chunk_tokens = 4096;
  double sparsity = 0.0;          // fraction of chunks each request skips
  double attach_fraction = 1.0;   // share of requests that attend the shared context
  RoutingSpec routing;
};

struct SchedulerSpec {
  std::int64_t max_batch = 256;            // sequences per iteration
  std::int64_t max_batched_tokens = 8192;  // token budget per iteration (chunked prefill)
  bool chunked_prefill = true;
  std::string dispatch = "least-loaded";   // or "round-robin"
  double iteration_overhead_s = 0.0;       // scheduler CPU time per iteration, beyond the GPU profile's
  int micro_batches = 1;                   // moska-disagg: micro-batches in flight across the two pools (each re-reads what it touches)
  double kv_memory_fraction = 0.9;         // share of HBM left after weights that KV may use
  // Automatic prefix caching (vLLM): each instance keeps finished prompts' KV blocks, keyed by the
  // trace's chained block hashes, in the HBM its running requests do not use; a request's cached
  // prefix is not prefilled again.
  bool prefix_caching = false;
  std::int64_t block_tokens = 512;         // tokens per hashed block (Mooncake traces: 512)
};

struct Scenario {
  std::string name;
  std::string file;  // where it came from ("" if built in)
  std::uint64_t seed = 1;
  std::string model = "llama-3.1-8b";
  Precision precision;
  std::string system;  // a registered system's name (sim/systems/ checks it)
  std::vector<PoolSpec> pools;
  SharedSpec shared;
  SchedulerSpec scheduler;
  nlohmann::json workload;        // {"generator": {...}} or {"trace": {...}}
  std::filesystem::path base_dir;  // relative trace paths resolve against it
  double time_limit_s = 0;         // 0 = run to completion
  SloSpec slo;                     // "slo": {"ttft_s", "tbt_s"}; 0 = unbounded
  // Top-level objects that only some systems read (e.g. "mooncake"), raw: the system validates its own.
  std::map<std::string, nlohmann::json> sections;
};

// Validates every key; `sections` are the top-level objects kept raw for the systems that read them
// (sim/systems/ passes the registered ones).
Scenario parse_scenario(const nlohmann::json& j, const std::string& where, const std::filesystem::path& base_dir,
                        const std::vector<std::string>& sections = {});

}  // namespace moska
