#include <catch2/catch.hpp>

#include <vector>

#include "sim/engine/simulator.hpp"
#include "sim/hw/link.hpp"
#include "sim/util/error.hpp"

using namespace moska;

// 1 GB/s = 1 byte/ns and 1 us latency keep the hand arithmetic in nanoseconds.
TEST_CASE("link: one transfer alone ends at latency + bytes / bandwidth") {
  Simulator sim;
  Link link(sim, 1e9, 1e-6);
  TimeNs done = -1;
  link.start(1000, [&] { done = sim.now(); });
  sim.run();
  REQUIRE(done == 2000);
  REQUIRE(link.delivered() == 1);
  REQUIRE(link.in_flight() == 0);
}

TEST_CASE("link: two equal transfers started together end together at latency + 2B / bw") {
  Simulator sim;
  Link link(sim, 1e9, 1e-6);
  std::vector<TimeNs> done;
  link.start(1000, [&] { done.push_back(sim.now()); });
  link.start(1000, [&] { done.push_back(sim.now()); });
  sim.run();
  REQUIRE(done == std::vector<TimeNs>{3000, 3000});
}

TEST_CASE("link: a second transfer started halfway through the first shares the rest") {
  // A: 1000 B at t=0. B: 1000 B at t=500, when A has 500 B left.
  // From 500 both get 0.5 B/ns: A's 500 B drain at 500 + 1000 = 1500, delivered at 2500.
  // B has sent 500 B by 1500; its last 500 B go alone at 1 B/ns: drain at 2000, delivered 3000.
  Simulator sim;
  Link link(sim, 1e9, 1e-6);
  TimeNs a = -1, b = -1;
  link.start(1000, [&] { a = sim.now(); });
  sim.schedule_at(500, [&] { link.start(1000, [&] { b = sim.now(); }); });
  sim.run();
  REQUIRE(a == 2500);
  REQUIRE(b == 3000);
}

TEST_CASE("link: three transfers of different sizes, processor sharing by hand") {
  // bw 1 B/ns, no latency. At 0: A=300, B=600, C=900. Three share 1/3 B/ns each:
  // A drains at 900 (B, C have 300 and 600 left). Two share: B drains at 900 + 600 = 1500
  // (C has 300 left). C alone: drains at 1800.
  Simulator sim;
  Link link(sim, 1e9, 0);
  TimeNs a = -1, b = -1, c = -1;
  link.start(300, [&] { a = sim.now(); });
  link.start(600, [&] { b = sim.now(); });
  link.start(900, [&] { c = sim.now(); });
  sim.run();
  REQUIRE(a == 900);
  REQUIRE(b == 1500);
  REQUIRE(c == 1800);
  REQUIRE(link.bytes_started() == 1800);
}

TEST_CASE("link: an empty transfer pays only the latency; bad parameters are input errors") {
  Simulator sim;
  Link link(sim, 1e9, 1e-6);
  TimeNs done = -1;
  sim.schedule_at(100, [&] { link.start(0, [&] { done = sim.now(); }); });
  sim.run();
  REQUIRE(done == 1100);
  REQUIRE_THROWS_AS(Link(sim, 0, 0), InputError);
  REQUIRE_THROWS_AS(Link(sim, 1e9, -1), InputError);
  REQUIRE_THROWS_AS(link.start(-1, nullptr), InputError);
}
