#pragma once
// Mooncake's admission control (arXiv 2407.00079 v3 §7, FAST'25 Algorithm 1): whether a decode
// instance, or the decode pool, would be overloaded by one more request, judged without knowing any
// request's output length (no oracle):
//   - now (early rejection, and the baseline's test at the hand-off): the chosen instance's next
//     step with the request added, against the TBT SLO, and its KV: blocks held + prompts waiting or
//     in prefill for it + this prompt and its expected output, against its capacity;
//   - at the time the request would reach decode (prediction-based, over the pool, as v3 §7.4 states
//     it: "the average TBT ratio of all decoding instances to l_tbt"): each running request is still
//     there with the probability that its output goes on past what it will have made by then; the
//     requests in prefill or waiting for a slot will have joined.
// Output lengths come from the requests seen so far, finished or not (OutputLengths: a Kaplan-Meier
// estimate, running requests censored at what they have made).
#include <cstdint>
#include <utility>
#include <vector>

#include "sim/serving/batching_instance.hpp"
#include "sim/systems/mooncake/cluster.hpp"
#include "sim/workload/request.hpp"

namespace moska::mooncake {

// The distribution of output lengths of the requests seen so far: finished ones are observed,
// running ones are censored at the tokens they have made. Kaplan-Meier over bins of kBin tokens.
class OutputLengths {
 public:
  static constexpr std::int64_t kBin = 16;
  void finished(std::int64_t len);
  // Re-estimate with these running requests' tokens made so far (censored observations).
  void refit(const std::vector<double>& running_made);
  // P(output > tokens).
  double survival(double tokens) const;
  // Mean output (the area under the survival curve, up to the longest seen).
  double mean() const { return mean_; }
  std::int64_t finished_count() const { return finished_n_; }

 private:
  std::vector<std::int64_t> deaths_;  // finished requests by bin of their length
  std::vector<double> surv_;          // surv_[k]: P(output >= (k + 1) x kBin)
  std::vector<std::int64_t> censored_;  // scratch: running requests by bin of tokens made
  std::int64_t finished_n_ = 0;
  double mean_ = 0;
};

class DecodeLoad final : public DecodeObserver {
 public:
  DecodeLoad(const Cluster& c, const std::vector<Request>& reqs, double prior_output_tokens);
  // DecodeObserver: a request starts / stops decoding on a decode instance.
  void joined(int instance, std::uint32_t r, TimeNs now) override;
  void left(int instance, std::uint32_t r) override;
  // A request is handed to decode instance d and waits there for a slot.
  void waiting(int d, std::uint32_t r);
  // A request finished with `output` tokens.
  void finished(std::int64_t output) { lengths_.finished(output); }

  // The output length expected of a request that has not started decoding (the prior until
  // kMinFinished requests have finished).
  double expected_output(TimeNs now);
  // Would one more request with a `ctx`-token prompt overload decode instance d now?
  bool overloaded_now(int d, std::int64_t ctx, double tbt_slo_s, TimeNs now);
  // Prediction-based, over the pool: the mean over decode instances of (expected step at `at`) /
  // TBT SLO, with this request on instance d; `kv_over`: d's expected KV would pass its capacity.
  double predicted_ratio(int d, std::int64_t ctx, double tbt_slo_s, TimeNs now, TimeNs at, bool& kv_over);

  static constexpr std::int64_t kMinFinished = 100;

 private:
  void refit(TimeNs now);
  double made(const std::pair<std::uint32_t, TimeNs>& run, TimeNs now, int d) const;

  const Cluster& c_;
  const std::vector<Request>& reqs_;
  double prior_;
  OutputLengths lengths_;
  TimeNs fitted_at_ = -1;
  std::vector<double> made_;  // scratch
  std::vector<std::vector<std::pair<std::uint32_t, TimeNs>>> started_;  // per decode instance: running, since
  std::vector<std::int64_t> waiting_n_, waiting_kv_;                   // per decode instance: handed over, not yet decoding
  std::vector<std::uint8_t> is_waiting_;                               // per request
};

}  // namespace moska::mooncake
