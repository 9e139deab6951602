#pragma once
// ShareGPT-like request lengths, as `vllm bench serve --dataset-name sharegpt` samples them: the
// first turn of a conversation is the prompt, the second the output; pairs with a prompt or an
// output under `min` tokens, a prompt over `max_input` or a total over `max_total` are dropped
// (vLLM's is_valid_sequence: 4, 1024, 2048; docs/research/sharegpt-lengths.md). The dataset itself is
// not shipped: prompt and output lengths are drawn from two independent lognormals whose medians are
// solved so that the means AFTER the filter are the published ones (`input_mean`, `output_mean`:
// mean printed totals / requests of real runs; ~217 / ~201 tokens for Llama-3 and Qwen3 tokenizers).
// The spreads (sigma of the log) are assumptions; see README "Workloads".
#include <cstdint>
#include <string>

#include "sim/engine/rng.hpp"

namespace moska {

struct ShareGptLengths {
  double input_mean = 217;    // tokens, after the filter
  double output_mean = 201;   // tokens, after the filter
  double input_sigma = 1.1;   // of ln(prompt tokens), before the filter
  double output_sigma = 0.9;  // of ln(output tokens), before the filter
  std::int64_t min = 4;
  std::int64_t max_input = 1024;
  std::int64_t max_total = 2048;
};

// "" when the spec can be met, else what is wrong with it ("input_mean 2000 is not below max_input").
std::string check_sharegpt(const ShareGptLengths& s);

// Draws (prompt, output) pairs that pass the filter; the log-medians are solved once, deterministically.
class ShareGptSampler {
 public:
  explicit ShareGptSampler(const ShareGptLengths& spec);
  // Draws until a pair passes; prompt lengths from `in`, output lengths from `out`.
  void draw(Rng& in, Rng& out, std::int64_t& prompt, std::int64_t& output) const;
  double mu_input() const { return mu_in_; }
  double mu_output() const { return mu_out_; }

 private:
  ShareGptLengths s_;
  double mu_in_ = 0, mu_out_ = 0;
};

}  // namespace moska
