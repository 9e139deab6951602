// Engine benchmark (not a test): events per second through Simulator (schedule + pop + run a
// callback), against a bare binary heap of (time, seq) pairs as the ceiling. Usage:
//   build/moska_engine_bench [events]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <queue>
#include <vector>

#include "sim/engine/rng.hpp"
#include "sim/engine/simulator.hpp"

using namespace moska;

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 10'000'000;
  const int pending = 1024;  // events in flight, as a busy cluster would hold
  using clk = std::chrono::steady_clock;

  // Simulator: each event schedules the next one a random delay ahead (hold model).
  Simulator sim;
  Rng rng(1);
  long fired = 0;
  std::function<void()> hop = [&] {
    if (++fired + pending <= n) sim.schedule_in(static_cast<TimeNs>(1 + rng.below(1000)), hop);
  };
  for (int i = 0; i < pending; ++i) sim.schedule_at(static_cast<TimeNs>(rng.below(1000)), hop);
  auto t0 = clk::now();
  sim.run();
  double sim_s = std::chrono::duration<double>(clk::now() - t0).count();

  // Ceiling: the same hold model on std::priority_queue of (time, seq), no callbacks.
  using E = std::pair<TimeNs, std::uint64_t>;
  std::priority_queue<E, std::vector<E>, std::greater<>> heap;
  Rng rng2(1);
  std::uint64_t seq = 0;
  for (int i = 0; i < pending; ++i) heap.push({static_cast<TimeNs>(rng2.below(1000)), seq++});
  long popped = 0;
  auto t1 = clk::now();
  while (!heap.empty()) {
    E e = heap.top();
    heap.pop();
    if (++popped + pending <= n) heap.push({e.first + 1 + static_cast<TimeNs>(rng2.below(1000)), seq++});
  }
  double heap_s = std::chrono::duration<double>(clk::now() - t1).count();

  std::printf("events,simulator_s,simulator_events_per_s,bare_heap_s,bare_heap_events_per_s\n");
  std::printf("%ld,%.4f,%.3g,%.4f,%.3g\n", fired, sim_s, fired / sim_s, heap_s, popped / heap_s);
  return 0;
}
