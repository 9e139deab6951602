#pragma once
// A request's TBT as Mooncake measures it (FAST'25 §5.1: "the TBT is calculated as the average of
// the longest 10% of the token arrival intervals"): the mean of the slowest fraction p of its gaps
// between consecutive tokens, exact, for every finished request with >= 2 output tokens.
//
// Kept O(1) per decode step: an instance appends the end time of each decode step to a StepClock
// (one int64 per step, trimmed behind the oldest running decode), and a request's gaps are read off
// it when its decode leaves the instance (finish or preemption): the first gap of a stretch runs
// from its previous token (its first token, made elsewhere or by the prefill; its last token before
// a preemption), each later one is the time between two step ends. The selection (nth_element over
// the request's gaps) costs O(output tokens) once per request, when it finishes.
#include <cstdint>
#include <deque>
#include <unordered_map>
#include <vector>

#include "sim/engine/time.hpp"

namespace moska {

// How many of `gaps` gaps the slowest fraction covers: ceil(fraction x gaps), at least 1 (0 when
// there is no gap). The fraction is in (0, 1].
std::int64_t slowest_count(double fraction, std::int64_t gaps);
// The mean of the `k` largest values of `gaps` (reordered); 0 when empty. k is clamped to the size.
double slowest_mean(std::vector<double>& gaps, std::int64_t k);

// End times of one instance's decode steps, numbered 1, 2, ... (step s ends at end(s)).
class StepClock {
 public:
  void push(TimeNs end) { ends_.push_back(end); }
  std::uint64_t last() const { return base_ + ends_.size(); }  // the last step pushed (0 = none)
  TimeNs end(std::uint64_t step) const { return ends_[static_cast<std::size_t>(step - base_ - 1)]; }
  // Forget the steps before `step` (no running decode reads them any more).
  void forget_before(std::uint64_t step);
  std::size_t held() const { return ends_.size(); }

 private:
  std::uint64_t base_ = 0;  // steps forgotten
  std::deque<TimeNs> ends_;
};

// Per-request slowest-fraction TBT of a run, written into `out` (indexed by request; -1 = none).
class TailTbtRecorder {
 public:
  TailTbtRecorder(double fraction, std::vector<double>& out) : fraction_(fraction), out_(out) {}
  double fraction() const { return fraction_; }
  // Request r decoded in steps first..last of `clock` (first <= last); its gap before step first's
  // token ran from `from`. `finished`: that was its last token.
  void stretch(std::uint32_t r, TimeNs from, const StepClock& clock, std::uint64_t first, std::uint64_t last, bool finished);
  // One gap outside a decode stretch (the token a recomputed prefill makes after a preemption).
  void gap(std::uint32_t r, double gap_s, bool finished);

 private:
  void close(std::uint32_t r);
  double fraction_;
  std::vector<double>& out_;
  std::vector<double> scratch_;                                   // the finishing request's gaps (reused)
  std::unordered_map<std::uint32_t, std::vector<double>> open_;  // gaps of requests preempted before finishing
};

}  // namespace moska
