#pragma once
// One Infinite-LLM instance's iteration: the colocated step of its batch over the KV it holds
// itself, plus DistAttention's remote path per layer (the slower of the local attention and each
// holder's query -> micro-attention -> partials, then the merge), the micro-attention it runs for
// other instances' requests whose blocks it holds (charged to its own GPU), the remote past of
// prefill chunks (queries shipped or KV pulled, whichever is cheaper per layer), and the copy of KV
// being moved out (overlapped with the step). The planner asks the same function what a move would do.
#include <cstdint>
#include <vector>

#include "sim/serving/iteration.hpp"
#include "sim/serving/scenario.hpp"
#include "sim/systems/infinite_llm/dist_attention.hpp"
#include "sim/systems/infinite_llm/ledger.hpp"
#include "sim/systems/infinite_llm/options.hpp"

namespace moska::infinite_llm {

struct StepContext {
  const StepCostModel* step = nullptr;
  const DistAttention* da = nullptr;
  const Ledger* ledger = nullptr;
  Options opt;
  double iteration_overhead_s = 0;  // the scheduler's, beyond the GPU profile's
  int stages = 1;                   // pipeline stages of an instance (activations sent between them)
  int stages_per_node = 1;          // of those, how many one node holds (boundaries past them cross the NIC)
  mutable std::vector<BatchSpec> micro;  // scratch: the step's micro-batches
  mutable std::vector<double> micro_s;   // scratch: their whole-model times
  std::vector<int> migrating;       // per instance: moves of its KV in progress
  std::vector<char> migrating_cross;  // per instance: one of them crosses nodes
};

// Seconds and work (whole instance) of one step of instance i: `batch` (its decodes' KV as held on
// i), its decodes' blocks held by `holders`, the blocks it holds for `hosted` debtors.
struct StepResult {
  double seconds = 0, flops = 0, bytes = 0;
};
StepResult step_cost(const StepContext& c, int i, const BatchSpec& batch, const std::vector<Share>& holders,
                     const std::vector<Share>& hosted);

class InstanceModel final : public IterationModel {
 public:
  InstanceModel(const StepContext& c, int i) : c_(c), i_(i) {}
  void route(const std::vector<std::int64_t>&, SharedAttention&) const override {}
  void cost(const BatchSpec& batch, IterStats& out) const override;

 private:
  const StepContext& c_;
  int i_;
  mutable BatchSpec local_;  // scratch
};

}  // namespace moska::infinite_llm
