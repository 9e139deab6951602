#pragma once
// The prefix-cache counters of a run (tokens of prompts found cached, and their share of the tokens
// looked up), summed over a deployment's continuous-batching instances.
#include <memory>
#include <vector>

#include "sim/serving/batching_instance.hpp"

namespace moska {

inline void add_prefix_cache_counters(const std::vector<std::unique_ptr<BatchingInstance>>& instances, RunResult& out) {
  std::int64_t hit = 0, looked = 0;
  for (const auto& inst : instances) {
    hit += inst->prefix_hit_tokens();
    looked += inst->prefix_looked_up_tokens();
  }
  out.counters.push_back({"prefix_cache_hit_tokens", static_cast<double>(hit)});
  out.counters.push_back({"prefix_cache_hit_rate", looked ? static_cast<double>(hit) / static_cast<double>(looked) : 0.0});
}

}  // namespace moska
