#pragma once
// Mooncake's admission control (FAST'25 §6): whether a decode instance would be overloaded by one
// more request (its KV does not fit, or its next step would break the TBT SLO), now or at the time
// the request would reach it. The prediction-based policy judges the load expected then: each
// running request remains with the probability that its output is longer than what it has made
// plus the steps until then (the survival function of finished requests' output lengths), and the
// requests already assigned join.
#include <cstdint>
#include <utility>
#include <vector>

#include "sim/serving/batching_instance.hpp"
#include "sim/systems/mooncake/cluster.hpp"
#include "sim/workload/request.hpp"

namespace moska::mooncake {

class DecodeLoad final : public DecodeObserver {
 public:
  DecodeLoad(const Cluster& c, const std::vector<Request>& reqs, double prior_output_tokens, bool track);
  // DecodeObserver: decode start of each running request, per decode instance.
  void joined(int instance, std::uint32_t r, TimeNs now) override;
  void left(int instance, std::uint32_t r) override;
  // A request finished with `output` tokens.
  void finished(std::int64_t output);

  // Would a request of `ctx` KV tokens reserving `reserve` overload decode instance d? `predict_at`
  // >= 0: judged on the load expected at that time; else on the load now.
  bool overloaded(int d, std::int64_t ctx, std::int64_t reserve, double tbt_slo_s, TimeNs now, TimeNs predict_at) const;

 private:
  double mean_output() const;
  // Probability that a request which has made `made` tokens makes more than `made + ahead`.
  double survives(double made, double ahead) const;
  // Output lengths of finished requests (a Fenwick tree of counts by length).
  void add_output(std::int64_t len);
  std::int64_t outputs_at_most(std::int64_t len) const;

  const Cluster& c_;
  const std::vector<Request>& reqs_;
  double prior_;
  bool track_;
  std::vector<std::vector<std::pair<std::uint32_t, TimeNs>>> started_;  // per decode instance
  std::vector<std::int64_t> out_hist_;
  double out_tokens_sum_ = 0;
  std::int64_t out_tokens_n_ = 0;
};

}  // namespace moska::mooncake
