#pragma once
// The scenario's "mooncake" section (all keys optional; unknown keys are errors).
#include <cstdint>
#include <string>

#include "sim/serving/scenario.hpp"

namespace moska::mooncake {

enum class Policy { global, local, load_balance, random };
enum class Admission { none, decode, baseline, early, predicted };

struct Options {
  Policy policy = Policy::global;
  // Global policy: fetch a longer prefix from the instance holding it when
  // remote prefix / local prefix >= this ratio (a local prefix of 0 always qualifies).
  double balance_threshold = 1.0;
  Admission admission = Admission::none;
  std::string admission_name = "none";
  double dram_gib = -1;            // KV store per prefill instance in host DRAM; < 0: the instance's share of the node's DRAM
  double ssd_gib = 0;              // SSD tier per prefill instance (0 = none)
  bool layerwise = true;           // stream KV to decode layer by layer during prefill
  int cpp_nodes = 1;               // chunked pipeline parallelism: prefill instances per pipeline group
  std::int64_t cpp_chunk_tokens = 8192;
  double sample_interval_s = 1.0;  // load timeline sampling (0 = none)
  double predicted_output_tokens = 256;  // prior mean output length of the predictor, until requests finish
};

// Reads sc.sections["mooncake"] (defaults when absent); throws InputError naming the key.
Options parse_options(const Scenario& sc);

}  // namespace moska::mooncake
