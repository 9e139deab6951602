#pragma once
// What one iteration of an instance costs, as the serving loop accounts it: its duration and the
// work it charges to each pool it runs on (a disaggregated step runs on two pools at once), and the
// interface a system gives each instance to turn a batch into that.
#include <cstdint>
#include <vector>

#include "sim/model/operators.hpp"

namespace moska {

// Work of one iteration on one pool: FLOPs and bytes of the whole pool, and how many of its TP
// groups the iteration keeps busy (busy time += seconds x groups).
struct PoolCharge {
  int pool = 0;
  double flops = 0, bytes = 0;
  double groups = 1;
  double measured_s = 0;  // of one group's step, the seconds measured kernel tables answered
};

struct IterStats {
  double seconds = 0;
  std::vector<PoolCharge> charges;  // kept by the caller between steps: refilled, not reallocated
  void charge(int pool, double flops, double bytes, double groups = 1, double measured_s = 0) {
    charges.push_back({pool, flops, bytes, groups, measured_s});
  }
};

// How one instance's batches become time and work: the system's physics for that instance.
class IterationModel {
 public:
  virtual ~IterationModel() = default;
  // The step's shared-chunk attention, given how many routed queries (decode requests and prefill
  // tokens) each corpus has this step; called only when some query is routed.
  virtual void route(const std::vector<std::int64_t>& routed_per_corpus, SharedAttention& out) const = 0;
  // Fills `out` (its charges cleared first) with the duration and work of one iteration of `batch`.
  virtual void cost(const BatchSpec& batch, IterStats& out) const = 0;
};

}  // namespace moska
