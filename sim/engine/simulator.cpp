#include "sim/engine/simulator.hpp"

#include <stdexcept>

#include <fmt/format.h>

namespace moska {

namespace {
[[noreturn]] void clock_range(TimeNs now, double ahead_s) {
  throw ClockRangeError(fmt::format(
      "simulated time would pass the clock's range (9.2e9 s, about 292 years): an event {:.6g} s after t = {:.6g} s; "
      "durations or times that long come from the input (a bandwidth, peak or rate far too small, a speed-up or "
      "time limit far too large)",
      ahead_s, ns_to_seconds(now)));
}
}  // namespace

EventId Simulator::schedule_in(TimeNs delay, Callback cb) {
  if (delay < 0) throw std::logic_error("Simulator::schedule_in: negative delay");
  if (delay >= kTimeNever - now_) clock_range(now_, ns_to_seconds(delay));
  return schedule_at(now_ + delay, std::move(cb));
}

// A 4-ary min-heap: shallower than a binary heap, so fewer cache misses per pop.
void Simulator::push(Entry e) {
  heap_.push_back(e);
  std::size_t i = heap_.size() - 1;
  while (i > 0) {
    std::size_t parent = (i - 1) / 4;
    if (!later(heap_[parent], e)) break;
    heap_[i] = heap_[parent];
    i = parent;
  }
  heap_[i] = e;
}

Simulator::Entry Simulator::pop() {
  Entry top = heap_.front();
  Entry last = heap_.back();
  heap_.pop_back();
  std::size_t n = heap_.size();
  if (n > 0) {
    std::size_t i = 0;
    for (;;) {
      std::size_t first = 4 * i + 1;
      if (first >= n) break;
      std::size_t best = first;
      std::size_t end = first + 4 < n ? first + 4 : n;
      for (std::size_t c = first + 1; c < end; ++c) {
        if (later(heap_[best], heap_[c])) best = c;
      }
      if (!later(last, heap_[best])) break;
      heap_[i] = heap_[best];
      i = best;
    }
    heap_[i] = last;
  }
  return top;
}

EventId Simulator::schedule_at(TimeNs at, Callback cb) {
  if (at < now_) throw std::logic_error("Simulator::schedule_at: time in the past");
  if (at == kTimeNever) clock_range(now_, ns_to_seconds(at - now_));
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<std::uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Slot& s = slots_[slot];
  s.cb = std::move(cb);
  s.armed = true;
  push(Entry{at, next_seq_++, slot});
  ++live_;
  return EventId{slot, s.generation};
}

bool Simulator::cancel(EventId id) {
  if (!id.valid() || id.slot >= slots_.size()) return false;
  Slot& s = slots_[id.slot];
  if (!s.armed || s.generation != id.generation) return false;
  // The heap entry stays; it is skipped when popped (lazy deletion keeps cancel O(1)).
  s.armed = false;
  s.cb = nullptr;
  --live_;
  return true;
}

bool Simulator::pop_live(TimeNs limit, Entry& out) {
  while (!heap_.empty()) {
    if (heap_.front().at > limit) return false;
    Entry e = pop();
    Slot& s = slots_[e.slot];
    if (!s.armed) {  // cancelled: recycle the slot now that its heap entry is gone
      ++s.generation;
      free_slots_.push_back(e.slot);
      continue;
    }
    out = e;
    return true;
  }
  return false;
}

void Simulator::fire(const Entry& e) {
  if (e.at != now_ || events_run_ == 0) {
    at_instant_ = 0;
  } else if (instant_limit_ > 0 && at_instant_ >= instant_limit_) {
    throw std::runtime_error(fmt::format("no progress: more than {} events at t = {:.9f} s without the clock moving "
                                         "(a zero-time loop between the simulator's components)",
                                         instant_limit_, ns_to_seconds(now_)));
  }
  ++at_instant_;
  now_ = e.at;
  Slot& s = slots_[e.slot];
  Callback cb = std::move(s.cb);
  s.cb = nullptr;
  s.armed = false;
  ++s.generation;
  free_slots_.push_back(e.slot);
  --live_;
  ++events_run_;
  cb();
}

bool Simulator::step() {
  Entry e;
  if (!pop_live(kTimeNever, e)) return false;
  fire(e);
  return true;
}

std::uint64_t Simulator::run() {
  stopped_ = false;
  std::uint64_t n = 0;
  while (!stopped_ && step()) ++n;
  return n;
}

std::uint64_t Simulator::run_until(TimeNs until) {
  stopped_ = false;
  std::uint64_t n = 0;
  Entry e;
  while (!stopped_ && pop_live(until, e)) {
    fire(e);
    ++n;
  }
  if (!stopped_ && until > now_) now_ = until;
  return n;
}

}  // namespace moska
