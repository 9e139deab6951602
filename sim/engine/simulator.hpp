#pragma once
// The discrete-event core: a clock and an event queue ordered by (time, sequence number).
// Events scheduled for the same instant run in the order they were scheduled, so a run is a pure
// function of its inputs. Nothing here knows about LLMs.
#include <cstdint>
#include <functional>
#include <vector>

#include "sim/engine/time.hpp"
#include "sim/util/error.hpp"

namespace moska {

// An event would fall at or beyond the end of the clock's range (2^63 ns): the run cannot be
// simulated. Durations that long come from the input (a tiny bandwidth or peak, a rate or speed-up
// far off), so this is an input error; the message says when and how far ahead.
class ClockRangeError : public InputError {
 public:
  using InputError::InputError;
};

struct EventId {
  std::uint32_t slot = UINT32_MAX;
  std::uint32_t generation = 0;
  bool valid() const { return slot != UINT32_MAX; }
};

class Simulator {
 public:
  using Callback = std::function<void()>;

  TimeNs now() const { return now_; }

  // Schedules `cb` at absolute time `at` (now <= at < kTimeNever). Returns a handle usable with
  // cancel(). A time at or past kTimeNever throws ClockRangeError; one before now is a logic error.
  EventId schedule_at(TimeNs at, Callback cb);
  // At now + delay (delay >= 0); ClockRangeError when that passes the clock's range.
  EventId schedule_in(TimeNs delay, Callback cb);
  // Cancels a pending event; returns false if it already ran or was cancelled.
  bool cancel(EventId id);

  // Runs events until the queue is empty or stop() is called. Returns the number of events run.
  std::uint64_t run();
  // Runs events with time <= `until`, then sets the clock to `until` (if it is later than now).
  std::uint64_t run_until(TimeNs until);
  // Runs exactly one event if there is one. Returns false on an empty queue.
  bool step();
  void stop() { stopped_ = true; }
  // A run that executes more than `n` events at one instant without the clock moving is stuck in a
  // zero-time loop between components (a bug, not an input): the next event past the limit throws
  // std::runtime_error naming the instant. 0 = no limit (the default).
  void set_instant_limit(std::uint64_t n) { instant_limit_ = n; }

  std::size_t pending() const { return live_; }
  std::uint64_t events_run() const { return events_run_; }

 private:
  struct Entry {
    TimeNs at;
    std::uint64_t seq;
    std::uint32_t slot;
  };
  struct Slot {
    Callback cb;
    std::uint32_t generation = 0;
    bool armed = false;
  };
  static bool later(const Entry& a, const Entry& b) {
    return a.at != b.at ? a.at > b.at : a.seq > b.seq;
  }
  void push(Entry e);
  Entry pop();
  bool pop_live(TimeNs limit, Entry& out);
  void fire(const Entry& e);  // advance the clock to it, release its slot, run its callback

  std::vector<Entry> heap_;
  std::vector<Slot> slots_;
  std::vector<std::uint32_t> free_slots_;
  TimeNs now_ = 0;
  std::uint64_t next_seq_ = 0;
  std::uint64_t events_run_ = 0;
  std::size_t live_ = 0;
  std::uint64_t instant_limit_ = 0;
  std::uint64_t at_instant_ = 0;  // events run at now_ so far
  bool stopped_ = false;
};

}  // namespace moska
