#include "sim/systems/mooncake/admission.hpp"

#include <algorithm>
#include <cmath>

namespace moska::mooncake {

DecodeLoad::DecodeLoad(const Cluster& c, const std::vector<Request>& reqs, double prior_output_tokens, bool track)
    : c_(c), reqs_(reqs), prior_(prior_output_tokens), track_(track), started_(c.D.size()) {
  if (track_) {
    std::int64_t longest = 1;
    for (const auto& q : reqs) longest = std::max(longest, q.output_tokens);
    out_hist_.assign(static_cast<std::size_t>(longest) + 2, 0);
  }
}

void DecodeLoad::joined(int instance, std::uint32_t r, TimeNs now) {
  started_[static_cast<std::size_t>(instance)].push_back({r, now});
}

void DecodeLoad::left(int instance, std::uint32_t r) {
  auto& s = started_[static_cast<std::size_t>(instance)];
  auto it = std::find_if(s.begin(), s.end(), [r](const auto& p) { return p.first == r; });
  *it = s.back();
  s.pop_back();
}

void DecodeLoad::finished(std::int64_t output) {
  out_tokens_sum_ += static_cast<double>(output);
  ++out_tokens_n_;
  if (track_) add_output(output);
}

void DecodeLoad::add_output(std::int64_t len) {
  for (auto i = static_cast<std::size_t>(len); i < out_hist_.size(); i += i & (~i + 1)) ++out_hist_[i];
}

std::int64_t DecodeLoad::outputs_at_most(std::int64_t len) const {
  std::int64_t n = 0;
  for (auto i = static_cast<std::size_t>(std::clamp<std::int64_t>(len, 0, static_cast<std::int64_t>(out_hist_.size()) - 1)); i > 0;
       i -= i & (~i + 1))
    n += out_hist_[i];
  return n;
}

double DecodeLoad::mean_output() const {
  return out_tokens_n_ ? out_tokens_sum_ / static_cast<double>(out_tokens_n_) : prior_;
}

double DecodeLoad::survives(double made, double ahead) const {
  // Until enough requests have finished, every request is assumed to make the prior mean
  // (`predicted_output_tokens`; Mooncake's uniform-decode-time assumption).
  if (out_tokens_n_ < 100) return made + ahead < mean_output() ? 1.0 : 0.0;
  const auto a = static_cast<std::int64_t>(made), b = static_cast<std::int64_t>(made + ahead);
  const double alive_now = static_cast<double>(out_tokens_n_ - outputs_at_most(a));
  if (alive_now <= 0) return 0.0;  // longer than any finished request: no evidence it goes on
  return static_cast<double>(out_tokens_n_ - outputs_at_most(b)) / alive_now;
}

bool DecodeLoad::overloaded(int d, std::int64_t ctx, std::int64_t reserve, double tbt_slo_s, TimeNs now,
                            TimeNs predict_at) const {
  const auto& dn = c_.D[static_cast<std::size_t>(d)];
  const auto& di = *dn.inst;
  double count = static_cast<double>(di.running().count()), kv = static_cast<double>(di.running().kv_tokens());
  double held = static_cast<double>(di.reserved() + di.queued());  // KV reserved by running and waiting requests
  if (predict_at >= 0) {
    // The expected load when this request would reach decode: each running request is still there
    // with the probability that its output is longer than what it has made plus the steps until
    // then (at the current step time); the requests already assigned here will have joined.
    const double step = std::max(di.last_step_s(), 1e-6);
    const double ahead = ns_to_seconds(predict_at - now) / step;
    count = static_cast<double>(dn.incoming);
    kv = static_cast<double>(dn.incoming_kv);
    held = static_cast<double>(di.queued() + dn.incoming_reserve);
    for (const auto& [r, t0] : started_[static_cast<std::size_t>(d)]) {
      const double made = 1.0 + ns_to_seconds(now - t0) / step;
      const double p = survives(made, ahead);
      count += p;
      kv += p * (static_cast<double>(reqs_[r].input_tokens) + made + ahead);
      held += p * static_cast<double>(reqs_[r].input_tokens + reqs_[r].output_tokens);
    }
  }
  if (held + static_cast<double>(reserve) > static_cast<double>(c_.decode_capacity)) return true;
  return c_.decode->step_s(std::llround(count) + 1, std::llround(kv) + ctx + 1) > tbt_slo_s;
}

}  // namespace moska::mooncake
