#include "sim/systems/mooncake/admission.hpp"

#include <algorithm>
#include <cmath>

namespace moska::mooncake {

void OutputLengths::finished(std::int64_t len) {
  const auto k = static_cast<std::size_t>(std::max<std::int64_t>(0, len) / kBin);
  if (deaths_.size() <= k) deaths_.resize(k + 1, 0);
  ++deaths_[k];
  ++finished_n_;
}

void OutputLengths::refit(const std::vector<double>& running_made) {
  // At risk in bin k: finished with length >= k x kBin, and running with made >= k x kBin (a running
  // request has outlived what it made). S after bin k = prod_{j <= k} (1 - deaths_j / at_risk_j).
  std::size_t bins = deaths_.size();
  censored_.assign(bins, 0);
  for (double m : running_made) {
    const auto k = static_cast<std::size_t>(std::max(0.0, m) / static_cast<double>(kBin));
    if (k >= censored_.size()) censored_.resize(k + 1, 0);
    ++censored_[k];
  }
  bins = std::max(bins, censored_.size());
  censored_.resize(bins, 0);
  std::int64_t at_risk = finished_n_ + static_cast<std::int64_t>(running_made.size());
  surv_.assign(bins, 0.0);
  double s = 1.0;
  mean_ = 0;
  for (std::size_t k = 0; k < bins; ++k) {
    const std::int64_t d = k < deaths_.size() ? deaths_[k] : 0;
    const double before = s;
    if (at_risk > 0) s *= 1.0 - static_cast<double>(d) / static_cast<double>(at_risk);
    surv_[k] = s;
    mean_ += static_cast<double>(kBin) * (before + s) / 2;  // linear within the bin
    at_risk -= d + censored_[k];
  }
}

double OutputLengths::survival(double tokens) const {
  if (tokens <= 0) return 1.0;
  const double x = tokens / static_cast<double>(kBin);
  const auto k = static_cast<std::size_t>(x);
  if (k >= surv_.size()) return 0.0;  // past the longest seen: no evidence it goes on
  const double lo = k == 0 ? 1.0 : surv_[k - 1];
  return lo + (surv_[k] - lo) * (x - static_cast<double>(k));
}

DecodeLoad::DecodeLoad(const Cluster& c, const std::vector<Request>& reqs, double prior_output_tokens)
    : c_(c), reqs_(reqs), prior_(prior_output_tokens), started_(c.D.size()), waiting_n_(c.D.size(), 0),
      waiting_kv_(c.D.size(), 0), is_waiting_(reqs.size(), 0) {}

void DecodeLoad::waiting(int d, std::uint32_t r) {
  ++waiting_n_[static_cast<std::size_t>(d)];
  waiting_kv_[static_cast<std::size_t>(d)] += reqs_[r].input_tokens;
  is_waiting_[r] = 1;
}

void DecodeLoad::joined(int instance, std::uint32_t r, TimeNs now) {
  const auto d = static_cast<std::size_t>(instance);
  if (is_waiting_[r]) {
    is_waiting_[r] = 0;
    --waiting_n_[d];
    waiting_kv_[d] -= reqs_[r].input_tokens;
  }
  started_[d].push_back({r, now});
}

void DecodeLoad::left(int instance, std::uint32_t r) {
  auto& s = started_[static_cast<std::size_t>(instance)];
  auto it = std::find_if(s.begin(), s.end(), [r](const auto& p) { return p.first == r; });
  *it = s.back();
  s.pop_back();
}

double DecodeLoad::made(const std::pair<std::uint32_t, TimeNs>& run, TimeNs now, int d) const {
  // One token came from the prefill; then one per step of its instance since it joined.
  const double step = std::max(c_.D[static_cast<std::size_t>(d)].inst->last_step_s(), 1e-6);
  return 1.0 + ns_to_seconds(now - run.second) / step;
}

void DecodeLoad::refit(TimeNs now) {
  if (fitted_at_ == now) return;
  fitted_at_ = now;
  made_.clear();
  for (std::size_t d = 0; d < started_.size(); ++d) {
    for (const auto& run : started_[d]) made_.push_back(made(run, now, static_cast<int>(d)));
  }
  lengths_.refit(made_);
}

double DecodeLoad::expected_output(TimeNs now) {
  if (lengths_.finished_count() < kMinFinished) return prior_;
  refit(now);
  return std::max(1.0, lengths_.mean());
}

bool DecodeLoad::overloaded_now(int d, std::int64_t ctx, double tbt_slo_s, TimeNs now) {
  const auto i = static_cast<std::size_t>(d);
  const auto& dn = c_.D[i];
  const auto& di = *dn.inst;
  const double out = expected_output(now);
  // KV: what it holds, the prompts waiting there or in prefill for it, each with the output expected
  // of it, and this request's.
  const double pending = static_cast<double>(waiting_n_[i] + dn.incoming);
  const double held = static_cast<double>(di.reserved() + waiting_kv_[i] + dn.incoming_kv) + pending * out;
  if (held + static_cast<double>(ctx) + out > static_cast<double>(c_.decode_capacity)) return true;
  // TBT: its next step with the requests waiting there and this one.
  const std::int64_t count = di.running().count() + waiting_n_[i] + 1;
  const std::int64_t kv = di.running().kv_tokens() + waiting_kv_[i] + ctx + 1;
  return c_.decode->step_s(count, kv) > tbt_slo_s;
}

double DecodeLoad::predicted_ratio(int d, std::int64_t ctx, double tbt_slo_s, TimeNs now, TimeNs at, bool& kv_over) {
  const bool prior = lengths_.finished_count() < kMinFinished;
  if (!prior) refit(now);
  const double out = prior ? prior_ : std::max(1.0, lengths_.mean());
  double ratio_sum = 0;
  kv_over = false;
  for (std::size_t i = 0; i < c_.D.size(); ++i) {
    const auto& dn = c_.D[i];
    const double step = std::max(dn.inst->last_step_s(), 1e-6);
    const double ahead = ns_to_seconds(at - now) / step;
    // Requests in prefill or waiting here will have joined; running ones remain with the
    // probability that their output goes past what they will have made.
    double count = static_cast<double>(dn.incoming + waiting_n_[i]);
    double kv = static_cast<double>(dn.incoming_kv + waiting_kv_[i]);
    double held = kv + count * out;
    for (const auto& run : started_[i]) {
      const double m = made(run, now, static_cast<int>(i));
      double p;
      if (prior) {
        p = m + ahead < prior_ ? 1.0 : 0.0;  // every request makes the prior mean (Mooncake's uniform t_d)
      } else {
        const double alive = lengths_.survival(m);
        p = alive > 0 ? lengths_.survival(m + ahead) / alive : 0.0;
      }
      const double ctx_r = static_cast<double>(reqs_[run.first].input_tokens) + m + ahead;
      count += p;
      kv += p * ctx_r;
      held += p * std::max(ctx_r, static_cast<double>(reqs_[run.first].input_tokens) + out);
    }
    if (static_cast<int>(i) == d) {
      count += 1;
      kv += static_cast<double>(ctx);
      held += static_cast<double>(ctx) + out;
      kv_over = held > static_cast<double>(c_.decode_capacity);
    }
    const auto n = std::llround(count);
    ratio_sum += n > 0 ? c_.decode->step_s(n, std::llround(kv) + n) / tbt_slo_s : 0.0;
  }
  return ratio_sum / static_cast<double>(c_.D.size());
}

}  // namespace moska::mooncake
