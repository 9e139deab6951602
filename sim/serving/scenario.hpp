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
#include "sim/serving/engine_profile.hpp"
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

// How an instance batches requests and holds their KV (README "Schedulers"): each a named policy.
//   vllm-v1  decodes first, then prefill chunks to the token budget (chunked prefill always on);
//            KV blocks allocated as tokens arrive; when they run out the last admitted request is
//            preempted (recompute, or swap to host); no admission in a step that preempted.
//   vllm-v0  prefill-only iterations (whole prompts, admitted if their blocks fit above a 1%
//            watermark), else a decode step; on-demand blocks and preemption as above; multi-step.
//   sglang   prefill-first iterations, prompts chunked to the budget; admission reserves the prompt
//            plus new_token_ratio x the remaining output of every running request (the ratio decays
//            per decode step); token-granular KV; retraction (the request with fewest outputs first).
//   sarathi  stall-free batching (decodes, then prefill chunks to the budget), a prompt's blocks
//            allocated at admission above the watermark, decode blocks on demand, preemption.
//   orca     iteration-level batching without chunking; reserves prompt + output at admission.
//   trtllm   TensorRT-LLM's GUARANTEED_NO_EVICT: reserves prompt + output at admission (the true
//            output length stands for max_tokens), never preempts; chunked context optional.
enum class BatchPolicy : std::uint8_t { vllm_v1, vllm_v0, sglang, sarathi, orca, trtllm };

const char* policy_name(BatchPolicy p);
// KV blocks allocated as tokens arrive (preemption when they run out), vs reserved at admission.
inline bool on_demand_kv(BatchPolicy p) { return p != BatchPolicy::orca && p != BatchPolicy::trtllm; }
// Iterations either prefill (new prompts) or decode, never both.
inline bool prefill_first(BatchPolicy p) { return p == BatchPolicy::vllm_v0 || p == BatchPolicy::sglang; }

struct SchedulerSpec {
  BatchPolicy policy = BatchPolicy::vllm_v1;  // parse_scenario fills the policy's defaults below
  std::int64_t max_batch = 1024;           // sequences per iteration (max_num_seqs)
  std::int64_t max_batched_tokens = 8192;  // token budget per iteration (chunked prefill)
  bool chunked_prefill = true;
  std::string dispatch = "least-loaded";   // or "round-robin", "prefix-aware" (with prefix_caching)
  double iteration_overhead_s = 0.0;       // scheduler CPU time per iteration, beyond the GPU profile's
  int micro_batches = 1;                   // moska-disagg: micro-batches in flight across the two pools (each re-reads what it touches)
  double kv_memory_fraction = 0.9;         // share of HBM left after weights that KV may use (TRT-LLM's
                                           // free_gpu_memory_fraction); unused when gpu_memory_utilization > 0
  // vLLM's gpu_memory_utilization / SGLang's mem_fraction_static: the share of the GPU's total HBM
  // the engine may use for weights, activations and KV together; 0 = use kv_memory_fraction.
  double gpu_memory_utilization = 0.0;
  // Automatic prefix caching (vLLM): each instance keeps finished prompts' KV blocks, keyed by the
  // trace's chained block hashes, in the HBM its running requests do not use; a request's cached
  // prefix is not prefilled again.
  bool prefix_caching = false;
  std::int64_t block_tokens = 512;         // tokens per hashed block (Mooncake traces: 512)
  std::int64_t kv_block_tokens = 16;       // on-demand policies: tokens per KV block (vLLM 16, SGLang 1)
  bool preempt_swap = false;               // preempted requests' KV goes to host memory over PCIe
  int multi_step = 1;                      // decode steps per scheduling round (vLLM V0 num_scheduler_steps)
  double admission_watermark = 0.01;       // vllm-v0 / sarathi: share of KV blocks kept free at admission
  EngineProfile engine;                    // costs outside the GPU step and memory terms (none by default)
};

struct Scenario {
  std::string name;
  std::string file;  // where it came from ("" if built in)
  std::uint64_t seed = 1;
  std::string model = "llama-3.1-8b";
  Precision precision;
  // Attention kernels the GPUs' measured tables are of (sim/cost: flash2, cudnn, eager, flex); an
  // unmeasured backend on a GPU is an input error naming those it has.
  std::string attention_backend = "flash2";
  std::string system;  // a registered system's name (sim/systems/ checks it)
  std::vector<PoolSpec> pools;
  SharedSpec shared;
  SchedulerSpec scheduler;
  nlohmann::json workload;        // {"generator": {...}} or {"trace": {...}} (+ "max_concurrency")
  // Closed-loop clients (`vllm bench serve --max-concurrency C`): at most C requests in flight; a
  // request is sent at its arrival time or, if C are in flight, when one of them finishes. 0 = open loop.
  std::int64_t max_concurrency = 0;
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
