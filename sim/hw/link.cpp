#include "sim/hw/link.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "sim/util/error.hpp"

namespace moska {

Link::Link(Simulator& sim, double bw_bps, double latency_s, std::string name)
    : sim_(sim), bw_(bw_bps), latency_s_(latency_s), latency_ns_(seconds_to_ns(latency_s)), name_(std::move(name)) {
  if (!(bw_bps > 0) || !std::isfinite(bw_bps)) throw InputError(fmt::format("{}: bandwidth must be > 0 and finite", name_));
  if (!(latency_s >= 0) || !std::isfinite(latency_s)) throw InputError(fmt::format("{}: latency must be >= 0", name_));
  v_at_ = sim_.now();
}

void Link::advance() {
  TimeNs now = sim_.now();
  if (!active_.empty() && now > v_at_)
    v_ += static_cast<double>(now - v_at_) * 1e-9 * bw_ / static_cast<double>(active_.size());
  v_at_ = now;
}

void Link::reschedule() {
  if (next_event_.valid()) {
    sim_.cancel(next_event_);
    next_event_ = EventId{};
  }
  if (active_.empty()) return;
  double remaining = std::max(0.0, active_.begin()->finish_tag - v_);
  double secs = remaining * static_cast<double>(active_.size()) / bw_;
  // Whole nanoseconds, rounded to the nearest (an exact quotient must not gain a nanosecond from
  // floating-point noise); on_drain() tolerates the sub-nanosecond difference.
  auto dt = static_cast<TimeNs>(std::llround(secs * 1e9));
  next_event_ = sim_.schedule_at(sim_.now() + dt, [this] { on_drain(); });
}

std::uint64_t Link::start(double bytes, Done on_done) {
  if (!(bytes >= 0) || !std::isfinite(bytes)) throw InputError(fmt::format("{}: transfer size must be >= 0 bytes", name_));
  advance();
  std::uint64_t id = next_id_++;
  bytes_started_ += bytes;
  active_.insert(Active{v_ + bytes, id});
  callbacks_.emplace(id, std::move(on_done));
  reschedule();
  return id;
}

void Link::on_drain() {
  next_event_ = EventId{};
  advance();
  // The transfer this event was scheduled for drains now, and so does any other whose tag is
  // within rounding of V (equal transfers started together end together).
  double tol = 1e-9 * std::max(1.0, std::abs(v_)) + bw_ * 1e-9 / static_cast<double>(active_.size());
  bool first = true;
  while (!active_.empty() && (first || active_.begin()->finish_tag <= v_ + tol)) {
    first = false;
    auto id = active_.begin()->id;
    v_ = std::max(v_, active_.begin()->finish_tag);
    active_.erase(active_.begin());
    auto it = callbacks_.find(id);
    Done cb = std::move(it->second);
    callbacks_.erase(it);
    sim_.schedule_in(latency_ns_, [this, cb = std::move(cb)] {
      ++delivered_;
      if (cb) cb();
    });
  }
  reschedule();
}

}  // namespace moska
