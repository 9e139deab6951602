#pragma once
// Infinite-LLM v2's gManager planner (seed-systems.md A.2.5, A.3.6; the form is reconstructed, the
// thresholds are the scenario's): debtors are instances running fewer than `debtor_batch` decodes
// while requests wait for memory; creditors use less than `creditor_util` of their KV memory. Taking
// debtors by ascending batch, it considers moving k blocks of the debtor's longest request (most
// local blocks) to each creditor (most free memory first), k in {1/4, 1/2, 1} of what may move, and
// keeps the move that most raises the pair's predicted throughput (decodes per second of each, from
// the same step costing the simulation uses: the debtor admits waiting requests into the freed
// memory, its step gains a remote holder; the creditor's step gains the hosted micro-attention).
#include <cstdint>
#include <vector>

#include "sim/systems/infinite_llm/step.hpp"

namespace moska::infinite_llm {

struct Move {
  std::uint32_t r = 0;
  int debtor = 0, creditor = 0;
  std::int64_t blocks = 0;
  double gain = 0;    // predicted decodes per second, the pair's
  double step_s = 0;  // the debtor's decode step now (the migration moves migrate_tokens_per_step per step)
};

// A move is at most what the throttle carries in one planner period (the next round replans the rest).
// One round over the gManager's view (its last heartbeat); each debtor at most one move, each move
// counted against the creditor's room so later moves see it. `busy[d]`: d has a move in flight.
std::vector<Move> plan_moves(const StepContext& c, const Ledger& led, std::int64_t max_batch, const std::vector<int>& busy);

// Predicted decodes per second of instance i with `extra_decodes` more decodes reading
// `extra_kv` more tokens, `out_blocks` more of its blocks on `creditor` (one more holder share) and
// `in_blocks` more blocks hosted for `debtor`.
double predicted_rate(const StepContext& c, const Ledger& led, int i, std::int64_t extra_decodes, std::int64_t extra_kv,
                      int creditor, std::int64_t out_blocks, int debtor, std::int64_t in_blocks);

}  // namespace moska::infinite_llm
