#pragma once
// Global dispatch of requests over a pool's instances: round robin, or the least loaded (KV tokens
// reserved and queued; ties to the lowest index).
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

namespace moska {

class Dispatcher {
 public:
  // `policy`: "least-loaded" or "round-robin" (validated with the scenario).
  explicit Dispatcher(const std::string& policy) : round_robin_(policy == "round-robin") {}

  // The instance for the next request; `Instance` has load().
  template <class Instance>
  std::size_t pick(const std::vector<std::unique_ptr<Instance>>& instances) {
    if (instances.size() == 1) return 0;
    if (round_robin_) return next_++ % instances.size();
    std::size_t best = 0;
    double best_load = instances[0]->load();
    for (std::size_t i = 1; i < instances.size(); ++i) {
      const double l = instances[i]->load();
      if (l < best_load) {
        best_load = l;
        best = i;
      }
    }
    return best;
  }

 private:
  bool round_robin_;
  std::size_t next_ = 0;
};

}  // namespace moska
