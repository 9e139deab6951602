#pragma once
// Batch scaling and throughput at the largest decode batch that fits (MoSKA paper, Fig. 4 and 5).
// For a scenario, a per-request unique context and a list of systems: how many requests' KV each
// system can hold at once (its batch-scaling capability), what one decode step of that full batch
// costs, the throughput it gives, and each pool's MFU and HBM bandwidth / capacity use during it.
// Each row comes from the system itself (System::scaling_row: the capacity and iteration cost its
// serving deployment uses): the steady state of a full decode batch, with no prefill, queueing or
// admission dynamics.
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/serving/scenario.hpp"
#include "sim/systems/system.hpp"

namespace moska {

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
// One row per system, flat columns; pool<i>_* for every pool any row has (pool0 = serve / unique, pool1 = shared; at least two), empty where a row has fewer.
std::vector<std::string> scaling_csv_columns(const ScalingResult& r);
std::vector<std::vector<std::string>> scaling_csv_rows(const ScalingResult& r);

}  // namespace moska
