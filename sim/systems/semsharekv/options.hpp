#pragma once
// The scenario's "semsharekv" section (all keys optional; unknown keys are errors). Defaults and the
// sources of the measured ones: README "SemShareKV".
#include <cstdint>
#include <string>

#include "sim/model/reuse_ops.hpp"
#include "sim/serving/scenario.hpp"
#include "sim/systems/semsharekv/schedule.hpp"

namespace moska::semsharekv {

enum class Policy {
  semantic,    // SemShareKV: fuzzy match of a similar prompt, decaying recompute, decaying retained KV
  cacheblend,  // CacheBlend-style: exact chunks reused, a fixed ratio recomputed, all KV kept
  full,        // no reuse: every prompt prefilled in full (vllm's prefill, with the attention switch)
};

struct Options {
  Policy policy = Policy::semantic;
  std::string policy_name = "semantic";
  AttentionImpl attention = AttentionImpl::flash;
  // Eager kernels (materialised scores) reach this share of the HBM bandwidth (measured on the H200,
  // PyTorch 2.11: results/semsharekv_validation); their matrix products the GEMM efficiency.
  double eager_memory_efficiency = 0.57;
  // and each costs this much beyond its roofline time inside a CUDA graph (fitted to the smallest
  // measured eager partial prefill, 512 tokens at r = 0.05; the other measurements are predictions).
  double eager_kernel_overhead_s = 3.5e-6;
  double threshold = 0.8;  // similarity at or above which a stored prompt is reused
  RecomputeSchedule recompute;
  Retention retain{1.0, 0.962, 0.0};
  // CacheBlend: share of reused tokens recomputed, layers recomputed in full (its check layer), and
  // sentences per reusable chunk (a chunk is reused when none of its sentences was rewritten).
  double cacheblend_ratio = 0.15;
  std::int64_t cacheblend_check_layers = 1;
  std::int64_t chunk_sentences = 4;
  // Reference store in host DRAM (whole deployment), and prompts held from the start.
  double store_bytes = 256.0 * 1024 * 1024 * 1024;
  bool preload = false;
  // Host work per request before its prefill (one thread per instance, in arrival order):
  //   fixed_s + search_s_per_prompt x stored prompts (every request) + match_s_per_pair x L x L_ref (a hit).
  double fixed_s = 0.0164;
  double search_s_per_prompt = 2e-6;
  double match_s_per_pair = 0.0;
  double cacheblend_fixed_s = 0.0;
  // Reference KV loaded host -> GPU: bandwidth (0 = the hardware profile's PCIe) and latency per load.
  double load_bw_bps = 0;
  double load_latency_s = 0;
};

// Reads sc.sections["semsharekv"] (defaults when absent); throws InputError naming the key.
Options parse_options(const Scenario& sc);

}  // namespace moska::semsharekv
