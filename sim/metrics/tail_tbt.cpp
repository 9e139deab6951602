#include "sim/metrics/tail_tbt.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace moska {

std::int64_t slowest_count(double fraction, std::int64_t gaps) {
  if (gaps <= 0) return 0;
  // ceil(fraction x gaps), computed so that 0.1 x 10 is 1 and not 2 (0.1 is not exact in binary).
  const double x = fraction * static_cast<double>(gaps);
  auto k = static_cast<std::int64_t>(std::ceil(x - 1e-9 * std::max(1.0, x)));
  return std::clamp<std::int64_t>(k, 1, gaps);
}

double slowest_mean(std::vector<double>& gaps, std::int64_t k) {
  if (gaps.empty() || k <= 0) return 0;
  const auto n = static_cast<std::int64_t>(gaps.size());
  k = std::min(k, n);
  // The k largest end up in front (in no particular order); summed in sorted order for determinism.
  std::nth_element(gaps.begin(), gaps.begin() + (k - 1), gaps.end(), std::greater<>());
  std::sort(gaps.begin(), gaps.begin() + k, std::greater<>());
  double sum = 0;
  for (std::int64_t i = 0; i < k; ++i) sum += gaps[static_cast<std::size_t>(i)];
  return sum / static_cast<double>(k);
}

void StepClock::forget_before(std::uint64_t step) {
  while (!ends_.empty() && base_ + 1 < step) {
    ends_.pop_front();
    ++base_;
  }
}

void TailTbtRecorder::stretch(std::uint32_t r, TimeNs from, const StepClock& clock, std::uint64_t first,
                              std::uint64_t last, bool finished) {
  auto it = open_.find(r);
  std::vector<double>& g = it != open_.end() ? it->second : (finished ? scratch_ : open_[r]);
  if (&g == &scratch_) g.clear();
  TimeNs prev = from;
  for (std::uint64_t s = first; s <= last; ++s) {
    const TimeNs e = clock.end(s);
    g.push_back(ns_to_seconds(e - prev));
    prev = e;
  }
  if (finished) close(r);
}

void TailTbtRecorder::gap(std::uint32_t r, double gap_s, bool finished) {
  auto it = open_.find(r);
  std::vector<double>& g = it != open_.end() ? it->second : (finished ? scratch_ : open_[r]);
  if (&g == &scratch_) g.clear();
  g.push_back(gap_s);
  if (finished) close(r);
}

void TailTbtRecorder::close(std::uint32_t r) {
  auto it = open_.find(r);
  std::vector<double>& g = it != open_.end() ? it->second : scratch_;
  out_[r] = slowest_mean(g, slowest_count(fraction_, static_cast<std::int64_t>(g.size())));
  if (it != open_.end()) open_.erase(it);
}

}  // namespace moska
