#pragma once
// The scenario's "infinite_llm" section (all keys optional; unknown keys are errors). Where the paper
// gives no number (block size, thresholds, periods, the lending cap) the default is an assumption;
// README "Infinite-LLM" lists them and results/infinite_llm_*/note.md show which move the results.
#include <cstdint>
#include <string>

#include "sim/serving/scenario.hpp"
#include "sim/systems/infinite_llm/pipeline.hpp"

namespace moska::infinite_llm {

// none: vLLM-multi (no KV crosses instances: a request larger than one instance is rejected);
// reactive (v1, DistKV-LLM): blocks borrowed from a creditor when an allocation finds none free;
// planner (v2): borrowing only for requests that can never fit in their instance, plus the
// gManager's periodic planner moving blocks of a debtor's longest request to a creditor.
enum class Lending { none, reactive, planner };
// How a prefill chunk attends its past tokens held elsewhere, per layer.
enum class RemotePrefill { cheaper, ship_queries, pull_kv };

struct Options {
  Lending lending = Lending::reactive;
  std::string lending_name = "reactive";
  double lend_cap = 0.9;           // share of an instance's KV blocks it may lend to others
  bool prefer_same_node = true;    // creditors inside the debtor's node first (topology awareness)
  double heartbeat_s = 0.1;        // rManagers report free memory this often: the gManager's view is this stale
  double planner_period_s = 1.0;   // v2: the planner runs this often
  std::int64_t debtor_batch = 8;   // v2 beta: fewer running decodes (and requests waiting) make a debtor
  double creditor_util = 0.5;      // v2 mu: less of its KV memory in use makes a creditor
  std::int64_t migrate_tokens_per_step = 16;  // v2: KV of this many tokens moved per debtor step
  bool planner_borrows_any = false;  // v2: also borrow at allocation for requests that fit their instance
                                     // (planner + v1's reactive borrowing); false: only for those that never fit
  double inter_node_bw_bps = 0;    // per GPU across nodes; 0: the hardware profile's NIC
  double inter_node_latency_s = -1;  // < 0: the hardware profile's NIC latency
  int pipeline_stages = 1;         // one instance over tp x stages GPUs (vLLM-single); KV of all stages
  int pipeline_microbatches = 1;   // a step's batch cut into this many micro-batches (1: stages serial)
  PipelineSchedule pipeline_schedule = PipelineSchedule::flush;  // pipeline.hpp: flush (GPipe) or steady
  RemotePrefill remote_prefill = RemotePrefill::cheaper;
};

// Reads sc.sections["infinite_llm"] (defaults when absent); throws InputError naming the key.
Options parse_options(const Scenario& sc);

}  // namespace moska::infinite_llm
