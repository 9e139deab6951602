// The scenario `moska-sim run` runs when none is named: the embedded default.
#include "sim/systems/system.hpp"

namespace moska {

nlohmann::json default_scenario_json() {
  return nlohmann::json::parse(R"({
    "name": "default: MoSKA on 8 H100s (2 TP4 groups, context-parallel), FP8 Llama-3.1-8B, 1M shared tokens, 75% sparsity",
    "seed": 1,
    "model": "llama-3.1-8b",
    "dtype": "fp8",
    "system": "moska",
    "pools": [{"name": "gpus", "role": "serve", "hw": "h100-sxm", "instances": 2, "tp": 4}],
    "context_parallel": {"degree": 2},
    "shared": {"tokens": 1048576, "chunk_tokens": 4096, "sparsity": 0.75, "routing": {"skew": "uniform"}},
    "scheduler": {"max_batch": 512, "max_batched_tokens": 16384},
    "workload": {"generator": {"requests": 2000, "seed": 1,
                 "arrival": {"process": "poisson", "rate_per_s": 3},
                 "input_tokens": {"dist": "uniform", "min": 1024, "max": 8192},
                 "output_tokens": {"dist": "uniform", "min": 128, "max": 512}}}
  })");
}

}  // namespace moska
