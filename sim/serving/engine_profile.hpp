#pragma once
// A serving engine's costs outside the GPU step and its memory terms (hw_profiles/engines/<name>.json,
// every value {"value", "source"}), plus the scheduler defaults it runs with. A scenario names one
// with "scheduler": {"engine": "<name>"}; without one nothing is charged outside the GPU step.
#include <string>

#include <nlohmann/json.hpp>

namespace moska {

struct EngineProfile {
  std::string name;  // "" = none
  std::string file;
  // The API server (sim/serving/api_server.hpp), one Python event loop: each request costs it
  // request_s when it arrives (HTTP, chat template, tokenisation; the requests being taken in share
  // it) before it reaches the engine's queue, and each engine step's output tokens cost it token_s
  // each (detokenising, streaming a chunk) before the client sees them, and each finished request
  // done_s (its last chunk, usage, closing the stream), in step order.
  // latency_s: a fixed delay on every token's way to the client (IPC and network hops).
  double request_s = 0;
  double token_s = 0;
  double done_s = 0;
  double latency_s = 0;
  // Per scheduling round (an iteration, or a multi-step round of decode steps): scheduling,
  // preparing inputs, sampling and processing outputs, seconds, + per sequence in the round.
  double iteration_s = 0;
  double iteration_per_seq_s = 0;
  // The round's CPU work overlaps the GPU step (async scheduling): the step lasts
  // max(GPU, CPU) instead of GPU + CPU.
  bool overlap = false;
  // Memory per GPU besides weights and KV: the peak activations of one forward pass of the token
  // budget (as vLLM's profile run measures it), CUDA context / NCCL / workspaces, CUDA graphs.
  bool activation_reserve = false;
  double non_torch_bytes = 0;
  double cuda_graph_bytes = 0;
  // Kernels the engine runs that differ from the measured tables: "kernels": {"fp8_kv_attention":
  // "roofline"} when its FP8-KV attention is not the profiler's Triton kernel (TensorRT-LLM's XQA).
  bool fp8_kv_attention_roofline = false;
  // "kernels": {"fused_fp8_quant": true}: FP8 GEMM inputs are quantised inside the kernel before them.
  bool fused_fp8_quant = false;
  // The profile's "scheduler" section, flattened to plain values (validated as scenario keys).
  nlohmann::json scheduler = nlohmann::json::object();
};

// Loads hw_profiles/engines/<name>.json (or a path). Throws InputError naming the file and the key.
EngineProfile load_engine_profile(const std::string& name_or_path);

}  // namespace moska
