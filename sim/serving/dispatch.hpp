#pragma once
// Global dispatch of requests over a pool's instances: round robin, the least loaded (KV tokens
// reserved and queued; ties to the lowest index), or prefix-aware: the least load minus the prompt
// tokens the instance's prefix cache already holds (a router that sends a conversation's next turn
// where its prefix is cached unless that instance is busier by more than the prefill it saves, as
// the vLLM production stack's and llm-d's prefix-aware routers do; ties to the lowest index).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace moska {

class Dispatcher {
 public:
  // `policy`: "least-loaded" or "round-robin" (validated with the scenario).
  explicit Dispatcher(const std::string& policy)
      : round_robin_(policy == "round-robin"), prefix_aware_(policy == "prefix-aware") {}

  // The instance for the next request, whose prompt has these prefix-block hashes; `Instance` has
  // load() and cached_prefix_tokens(hashes).
  template <class Instance>
  std::size_t pick(const std::vector<std::unique_ptr<Instance>>& instances, const std::vector<std::uint64_t>& hashes = {}) {
    if (instances.size() == 1) return 0;
    if (round_robin_) return next_++ % instances.size();
    const bool prefix = prefix_aware_ && !hashes.empty();
    auto score = [&](std::size_t i) {
      return instances[i]->load() - (prefix ? static_cast<double>(instances[i]->cached_prefix_tokens(hashes)) : 0.0);
    };
    std::size_t best = 0;
    double best_load = score(0);
    for (std::size_t i = 1; i < instances.size(); ++i) {
      const double l = score(i);
      if (l < best_load) {
        best_load = l;
        best = i;
      }
    }
    return best;
  }

 private:
  bool round_robin_, prefix_aware_;
  std::size_t next_ = 0;
};

}  // namespace moska
