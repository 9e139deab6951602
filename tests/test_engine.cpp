#include <catch2/catch.hpp>

#include <functional>
#include <vector>

#include "sim/engine/rng.hpp"
#include "sim/engine/simulator.hpp"

using namespace moska;

TEST_CASE("engine: events run in time order, ties in scheduling order") {
  Simulator sim;
  std::vector<int> order;
  sim.schedule_at(30, [&] { order.push_back(3); });
  sim.schedule_at(10, [&] { order.push_back(1); });
  sim.schedule_at(20, [&] { order.push_back(20); });
  sim.schedule_at(20, [&] { order.push_back(21); });
  sim.schedule_at(20, [&] { order.push_back(22); });
  sim.run();
  REQUIRE(order == std::vector<int>{1, 20, 21, 22, 3});
  REQUIRE(sim.now() == 30);
}

TEST_CASE("engine: events scheduled from callbacks at the current time run after earlier ties") {
  Simulator sim;
  std::vector<int> order;
  sim.schedule_at(5, [&] {
    order.push_back(1);
    sim.schedule_in(0, [&] { order.push_back(3); });
  });
  sim.schedule_at(5, [&] { order.push_back(2); });
  sim.run();
  REQUIRE(order == std::vector<int>{1, 2, 3});
}

TEST_CASE("engine: cancel removes a pending event and only once") {
  Simulator sim;
  int ran = 0;
  auto a = sim.schedule_at(10, [&] { ran += 1; });
  sim.schedule_at(20, [&] { ran += 10; });
  REQUIRE(sim.pending() == 2);
  REQUIRE(sim.cancel(a));
  REQUIRE_FALSE(sim.cancel(a));
  REQUIRE(sim.pending() == 1);
  sim.run();
  REQUIRE(ran == 10);
  // A recycled slot must not be cancellable through the stale handle.
  auto b = sim.schedule_at(30, [&] { ran += 100; });
  REQUIRE_FALSE(sim.cancel(a));
  sim.run();
  REQUIRE(ran == 110);
  REQUIRE_FALSE(sim.cancel(b));
}

TEST_CASE("engine: run_until stops at the horizon and advances the clock") {
  Simulator sim;
  int ran = 0;
  sim.schedule_at(10, [&] { ++ran; });
  sim.schedule_at(100, [&] { ++ran; });
  REQUIRE(sim.run_until(50) == 1);
  REQUIRE(sim.now() == 50);
  REQUIRE(ran == 1);
  REQUIRE_THROWS(sim.schedule_at(40, [] {}));
  sim.run();
  REQUIRE(ran == 2);
}

TEST_CASE("engine: a zero-time loop fails at the instant limit instead of hanging") {
  Simulator sim;
  sim.set_instant_limit(1000);
  int runs = 0;
  std::function<void()> again = [&] {
    ++runs;
    sim.schedule_in(0, again);  // wakes itself at the same instant, forever
  };
  sim.schedule_at(5'000'000'000, again);
  CHECK_THROWS_WITH(sim.run(), Catch::Contains("no progress: more than 1000 events at t = 5.000000000 s"));
  CHECK(runs == 1000);  // the 1000 events allowed ran, the 1001st threw
  // Events at one instant up to the limit, then time moves on: no error.
  Simulator ok;
  ok.set_instant_limit(3);
  int n = 0;
  for (int i = 0; i < 3; ++i) ok.schedule_at(7, [&] { ++n; });
  for (int i = 0; i < 3; ++i) ok.schedule_at(8, [&] { ++n; });
  CHECK(ok.run() == 6);
  CHECK(n == 6);
}

TEST_CASE("engine: a large random schedule pops in nondecreasing (time, seq) order") {
  Simulator sim;
  Rng rng(7);
  std::vector<std::pair<TimeNs, int>> seen;
  for (int i = 0; i < 20000; ++i) {
    TimeNs t = static_cast<TimeNs>(rng.below(1000));
    sim.schedule_at(t, [&seen, &sim, i] { seen.emplace_back(sim.now(), i); });
  }
  sim.run();
  REQUIRE(seen.size() == 20000);
  for (std::size_t i = 1; i < seen.size(); ++i) {
    REQUIRE(seen[i - 1].first <= seen[i].first);
    if (seen[i - 1].first == seen[i].first) REQUIRE(seen[i - 1].second < seen[i].second);
  }
}

TEST_CASE("rng: same seed same stream, different seeds differ; moments are right") {
  Rng a(42), b(42), c(43);
  for (int i = 0; i < 100; ++i) REQUIRE(a.next_u64() == b.next_u64());
  REQUIRE(Rng(42).next_u64() != c.next_u64());
  Rng r(1);
  const int n = 200000;
  double sum = 0, sum_exp = 0, sum_n = 0, sum_n2 = 0;
  for (int i = 0; i < n; ++i) {
    sum += r.uniform();
    sum_exp += r.exponential(4.0);
    double x = r.normal(3.0, 2.0);
    sum_n += x;
    sum_n2 += x * x;
  }
  REQUIRE(sum / n == Approx(0.5).margin(0.005));
  REQUIRE(sum_exp / n == Approx(0.25).margin(0.003));
  double mean = sum_n / n;
  REQUIRE(mean == Approx(3.0).margin(0.02));
  REQUIRE(std::sqrt(sum_n2 / n - mean * mean) == Approx(2.0).margin(0.02));
}

TEST_CASE("rng: zipf sampler follows 1/rank^s") {
  ZipfSampler z(10, 1.0);
  double h = 0;
  for (int i = 1; i <= 10; ++i) h += 1.0 / i;
  REQUIRE(z.probability(0) == Approx(1.0 / h));
  REQUIRE(z.probability(9) == Approx(0.1 / h));
  Rng r(3);
  std::vector<int> counts(10);
  for (int i = 0; i < 100000; ++i) counts[z.sample(r)]++;
  REQUIRE(counts[0] / 100000.0 == Approx(1.0 / h).margin(0.01));
  REQUIRE(counts[1] / 100000.0 == Approx(0.5 / h).margin(0.01));
}
