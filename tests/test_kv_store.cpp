#include <catch2/catch.hpp>

#include <vector>

#include "sim/serving/kv_store.hpp"
#include "sim/util/error.hpp"

using namespace moska;
using H = std::vector<std::uint64_t>;

namespace {
// Block 1000 bytes; HBM 1 MB/s + 1 ms, DRAM 100 kB/s + 10 ms, SSD 10 kB/s + 100 ms.
KvStoreConfig cfg(std::int64_t hbm, std::int64_t dram, std::int64_t ssd, bool promote = false) {
  KvStoreConfig c;
  c.tiers[0] = {hbm, 1e6, 1e-3};
  c.tiers[1] = {dram, 1e5, 1e-2};
  c.tiers[2] = {ssd, 1e4, 1e-1};
  c.block_bytes = 1000;
  c.promote_on_hit = promote;
  return c;
}
}  // namespace

TEST_CASE("kv store: prefix match stops at the first missing hash, statistics count it") {
  KvStore s(cfg(8, 0, 0));
  REQUIRE(s.insert(H{1, 2, 3}).inserted == 3);
  auto a = s.lookup(H{1, 2, 9, 3});  // 3 is held but after a miss: not part of the prefix
  REQUIRE(a.prefix_blocks == 2);
  REQUIRE(a.tiers == std::vector<KvTier>{KvTier::hbm, KvTier::hbm});
  auto b = s.lookup(H{9, 1});
  REQUIRE(b.prefix_blocks == 0);
  REQUIRE(b.tiers.empty());
  REQUIRE(s.lookup(H{1, 2, 3}).prefix_blocks == 3);
  const auto& st = s.stats();
  REQUIRE(st.lookups == 3);
  REQUIRE(st.blocks_looked_up == 9);
  REQUIRE(st.hit[0] == 5);
  REQUIRE(st.hit[1] == 0);
  REQUIRE(st.missed == 4);
  REQUIRE(st.hit_rate() == Approx(5.0 / 9.0));
  // peek answers the same and counts nothing
  REQUIRE(s.peek(H{1, 2, 9}).prefix_blocks == 2);
  REQUIRE(s.stats().lookups == 3);
}

TEST_CASE("kv store: LRU order, chains walked last block first, touch on hit") {
  KvStore s(cfg(3, 0, 0));
  s.insert(H{1, 2, 3});
  REQUIRE(s.lru_order(KvTier::hbm) == H{1, 2, 3});  // root most recent, leaf least
  s.lookup(H{3});
  REQUIRE(s.lru_order(KvTier::hbm) == H{3, 1, 2});
  auto r = s.insert(H{4});
  REQUIRE(r.inserted == 1);
  REQUIRE(r.evicted == 1);
  REQUIRE_FALSE(s.contains(2));
  REQUIRE(s.lru_order(KvTier::hbm) == H{4, 3, 1});
  auto p = s.insert(H{1, 5});  // 1 present: touched first; 5 new, evicts the LRU (3), not 1
  REQUIRE(p.present == 1);
  REQUIRE(p.inserted == 1);
  REQUIRE(s.lru_order(KvTier::hbm) == H{1, 5, 4});
  REQUIRE_FALSE(s.contains(3));
  REQUIRE(s.stats().evicted == 2);
}

TEST_CASE("kv store: eviction cascades HBM to DRAM to SSD to out") {
  KvStore s(cfg(2, 2, 2));
  s.insert(H{1, 2});
  s.insert(H{3, 4});
  REQUIRE(s.lru_order(KvTier::hbm) == H{3, 4});
  REQUIRE(s.lru_order(KvTier::dram) == H{1, 2});
  s.insert(H{5, 6});
  REQUIRE(s.lru_order(KvTier::hbm) == H{5, 6});
  REQUIRE(s.lru_order(KvTier::dram) == H{3, 4});
  REQUIRE(s.lru_order(KvTier::ssd) == H{1, 2});
  auto r = s.insert(H{7, 8});
  REQUIRE(r.inserted == 2);
  REQUIRE(r.evicted == 2);
  REQUIRE(s.lru_order(KvTier::hbm) == H{7, 8});
  REQUIRE(s.lru_order(KvTier::dram) == H{5, 6});
  REQUIRE(s.lru_order(KvTier::ssd) == H{3, 4});
  REQUIRE_FALSE(s.contains(1));
  REQUIRE_FALSE(s.contains(2));
  REQUIRE(s.size(KvTier::hbm) == 2);
  REQUIRE(s.size(KvTier::dram) == 2);
  REQUIRE(s.size(KvTier::ssd) == 2);
  REQUIRE(s.tier_of(5) == KvTier::dram);
  REQUIRE(s.tier_of(3) == KvTier::ssd);
  REQUIRE_FALSE(s.tier_of(1).has_value());
}

TEST_CASE("kv store: load time sums blocks times size over bandwidth plus latency per tier") {
  KvStore s(cfg(2, 2, 2));
  s.insert(H{1, 2});
  s.insert(H{3, 4});
  s.insert(H{5, 6});  // HBM {5,6}, DRAM {3,4}, SSD {1,2}
  auto l = s.peek(H{5, 3, 4, 1, 9});
  REQUIRE(l.prefix_blocks == 4);
  REQUIRE(l.tiers == std::vector<KvTier>{KvTier::hbm, KvTier::dram, KvTier::dram, KvTier::ssd});
  REQUIRE(l.per_tier == std::array<std::int64_t, 3>{1, 2, 1});
  // HBM 1000/1e6 + 1e-3 = 0.002; DRAM 2000/1e5 + 1e-2 = 0.03; SSD 1000/1e4 + 0.1 = 0.2
  REQUIRE(s.load_time_s(l) == Approx(0.232));
  REQUIRE(s.load_time_s(s.peek(H{9})) == 0.0);
  auto st = s.lookup(H{5, 3, 4, 1, 9});
  REQUIRE(s.stats().hit[0] == 1);
  REQUIRE(s.stats().hit[1] == 2);
  REQUIRE(s.stats().hit[2] == 1);
  REQUIRE(s.stats().missed == 1);
  REQUIRE(st.prefix_blocks == 4);
  REQUIRE(s.tier_of(1) == KvTier::ssd);  // no promotion by default
}

TEST_CASE("kv store: promotion of hit blocks to HBM only when asked") {
  for (bool promote : {false, true}) {
    KvStore s(cfg(1, 1, 0, promote));
    s.insert(H{1});
    s.insert(H{2});
    REQUIRE(s.tier_of(1) == KvTier::dram);
    auto l = s.lookup(H{1});
    REQUIRE(l.tiers == std::vector<KvTier>{KvTier::dram});
    if (promote) {
      REQUIRE(s.tier_of(1) == KvTier::hbm);
      REQUIRE(s.tier_of(2) == KvTier::dram);
    } else {
      REQUIRE(s.tier_of(1) == KvTier::dram);
      REQUIRE(s.tier_of(2) == KvTier::hbm);
    }
  }
}

TEST_CASE("kv store: re-inserting a held block moves it up to HBM") {
  KvStore s(cfg(1, 2, 0));
  s.insert(H{1});
  s.insert(H{2});
  REQUIRE(s.tier_of(1) == KvTier::dram);
  auto r = s.insert(H{1});
  REQUIRE(r.present == 1);
  REQUIRE(r.inserted == 0);
  REQUIRE(s.tier_of(1) == KvTier::hbm);
  REQUIRE(s.tier_of(2) == KvTier::dram);
}

TEST_CASE("kv store: bad configuration is an input error") {
  auto c = cfg(1, 1, 1);
  c.tiers[1].read_bw_bps = 0;
  REQUIRE_THROWS_AS(KvStore(c), InputError);
  c = cfg(-1, 1, 1);
  REQUIRE_THROWS_AS(KvStore(c), InputError);
}
