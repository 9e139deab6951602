#pragma once
// Batch scaling and throughput at the largest decode batch that fits (MoSKA paper, Fig. 4 and 5).
// For a scenario, a per-request unique context and a list of systems: how many requests' KV each
// system can hold at once (its batch-scaling capability), what one decode step of that full batch
// costs, the throughput it gives, and each pool's MFU and HBM bandwidth / capacity use during it.
// Everything comes from ClusterModel (the serving loop's capacity and iteration cost): this is the
// steady state of a full decode batch, with no prefill, queueing or admission dynamics.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/serving/scenario.hpp"

namespace moska {

struct ScalingOptions {
  std::int64_t ctx = 65536;          // unique KV tokens per request (its own context)
  std::int64_t max_batch = 0;        // cap on the decode batch per logical instance; 0 = none
  std::vector<std::string> systems;  // empty = vllm, prefix-cache, cascade, sparse, moska, moska-disagg
  std::string baseline;              // normalise to this system; "" = vllm, else the first that fits
};

struct ScalingPool {
  std::string name, role, hw;
  int gpus = 0;
  double flops = 0, bytes = 0;   // work of one step, whole pool
  double mfu = 0;                // flops / (step x GPUs x peak of the GEMM dtype)
  double hbm_bw_util = 0;        // bytes / (step x GPUs x HBM bandwidth)
  double hbm_capacity_util = 0;  // weights + shared KV + the batch's KV held, over the pool's HBM
};

struct ScalingRow {
  std::string system;
  bool fits = false;
  std::string why;  // when !fits: the simulator's reason
  int gpus = 0;     // all pools the system uses
  int logical_instances = 0;
  int kv_groups = 0;  // TP groups that hold unique KV (a request's KV lives on one of them)
  std::int64_t capacity_tokens = 0;     // unique-KV tokens, whole cluster
  std::int64_t tokens_per_request = 0;  // KV tokens a request holds (ctx, + its shared copy for vllm)
  std::int64_t read_per_request = 0;    // KV tokens a request's decode reads itself per step
  std::int64_t batch_capability = 0;    // whole cluster, before --max-batch
  std::int64_t batch = 0;               // whole cluster, after --max-batch
  bool capped = false;
  double step_s = 0;
  double tokens_per_s = 0, tokens_per_s_per_gpu = 0;
  double normalized = 0;   // tokens/s per GPU over the baseline's (0 without a baseline)
  double batch_ratio = 0;  // batch over the baseline's
  std::vector<ScalingPool> pools;
};

struct ScalingResult {
  std::string scenario, model;
  std::int64_t ctx = 0, shared_tokens = 0, chunk_tokens = 0;
  double sparsity = 0;
  std::string baseline;  // "" when no system fits
  std::vector<ScalingRow> rows;
};

// Systems that do not fit get a row with fits = false and the reason; other input errors throw.
ScalingResult scaling_analysis(const Scenario& sc, const ScalingOptions& opt);

nlohmann::json scaling_json(const ScalingResult& r);
std::string scaling_table(const ScalingResult& r);
// One row per system, flat columns; pool0_* is the serve / unique pool, pool1_* the shared pool (empty if none).
std::vector<std::string> scaling_csv_columns();
std::vector<std::vector<std::string>> scaling_csv_rows(const ScalingResult& r);

}  // namespace moska
