#pragma once
// A tiered KV-cache store keyed by chained prefix-block hashes (Mooncake: 512-token blocks; a hash
// id covers its block and every block before it, so a request's cached prefix is the longest run
// of its hash ids, from the first, that the store holds).
//
// Tiers, fastest first: HBM, host DRAM, SSD; each has a capacity in blocks (0 = tier absent), a
// read bandwidth and a latency. New blocks go to HBM; a full tier demotes its least recently used
// block to the next present tier (HBM -> DRAM -> SSD -> out of the store).
//
// Order conventions (they decide which block goes first, so they are part of the contract):
//   - insert() and lookup() walk a chain from its LAST block to its FIRST, so after either call a
//     chain's first block is the most recently used and its leaves are evicted before its root
//     (evicting a root first would strand every block after it);
//   - a block demoted to a lower tier becomes that tier's most recently used block.
//
// Cost: O(1) average per block (one hash map + intrusive doubly linked LRU lists over a node pool).
// Deterministic: the hash map is only probed, never iterated.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace moska {

enum class KvTier : std::uint8_t { hbm = 0, dram = 1, ssd = 2 };
inline constexpr int kKvTiers = 3;
std::string_view kv_tier_name(KvTier t);

struct KvTierSpec {
  std::int64_t capacity_blocks = 0;  // 0 = tier absent
  double read_bw_bps = 1;            // bytes/s (> 0)
  double latency_s = 0;              // paid once per load that reads this tier
};

struct KvStoreConfig {
  std::array<KvTierSpec, kKvTiers> tiers{};  // indexed by KvTier
  double block_bytes = 0;                    // block_tokens x model KV bytes per token
  bool promote_on_hit = false;               // lookup() moves hit blocks up to HBM
};

struct KvLookup {
  std::int64_t prefix_blocks = 0;            // longest cached prefix, in blocks
  std::vector<KvTier> tiers;                 // where each of those blocks sits (before promotion)
  std::array<std::int64_t, kKvTiers> per_tier{};  // count of prefix blocks per tier
};

struct KvInsert {
  std::int64_t inserted = 0;  // new blocks placed in HBM
  std::int64_t present = 0;   // blocks already held (touched, and moved up to HBM where there was room)
  std::int64_t failed = 0;    // blocks that could not be placed: the store has no tier
  std::int64_t evicted = 0;   // blocks pushed out of the store (from its last tier) by this call
  bool ok() const { return failed == 0; }
};

struct KvStoreStats {
  std::uint64_t lookups = 0;
  std::uint64_t blocks_looked_up = 0;
  std::array<std::uint64_t, kKvTiers> hit{};  // prefix blocks found, per tier
  std::uint64_t missed = 0;                   // looked up but not in the cached prefix
  std::uint64_t evicted = 0;                  // blocks pushed out of the store
  std::uint64_t hits() const { return hit[0] + hit[1] + hit[2]; }
  double hit_rate() const { return blocks_looked_up ? double(hits()) / double(blocks_looked_up) : 0.0; }
};

class KvStore {
 public:
  // Throws InputError on negative capacities, non-positive bandwidths, negative latency or block size.
  explicit KvStore(const KvStoreConfig& cfg);

  // Longest cached prefix of `hashes`; stops at the first hash not held. Touches the hit blocks
  // (LRU), counts statistics, and promotes them to HBM if the config says so.
  KvLookup lookup(std::span<const std::uint64_t> hashes);
  // Same answer without touching, counting or promoting anything.
  KvLookup peek(std::span<const std::uint64_t> hashes) const;

  // Places every block of `hashes` in HBM (new ones) or touches it (held ones, moving them to HBM
  // where room can be made). See the order conventions above.
  KvInsert insert(std::span<const std::uint64_t> hashes);

  // Seconds to read a looked-up prefix: sum over tiers holding some of it of
  // blocks x block_bytes / tier bandwidth + tier latency.
  double load_time_s(const KvLookup& l) const;

  bool contains(std::uint64_t h) const { return index_.count(h) != 0; }
  std::optional<KvTier> tier_of(std::uint64_t h) const;
  std::int64_t size(KvTier t) const { return used_[idx(t)]; }
  std::int64_t capacity(KvTier t) const { return cfg_.tiers[idx(t)].capacity_blocks; }
  // Blocks of a tier, most recently used first (for tests and debugging; O(n)).
  std::vector<std::uint64_t> lru_order(KvTier t) const;
  const KvStoreStats& stats() const { return stats_; }
  const KvStoreConfig& config() const { return cfg_; }

 private:
  static constexpr std::uint32_t kNil = UINT32_MAX;
  struct Node {
    std::uint64_t hash = 0;
    std::uint32_t prev = kNil, next = kNil;
    std::uint8_t tier = 0;
    bool linked = false;  // on its tier's LRU list
  };
  struct List {
    std::uint32_t head = kNil, tail = kNil;  // head = most recently used
  };
  static int idx(KvTier t) { return static_cast<int>(t); }

  void link_front(std::uint32_t n);
  void unlink(std::uint32_t n);
  void touch(std::uint32_t n);
  // Makes one free slot in tier `t`, demoting down the chain. Returns false if it cannot (the tier
  // holds no block to demote).
  bool make_room(int t);
  // Moves node n (already removed from its tier's accounting) into tier t as MRU; room must exist.
  void place(std::uint32_t n, int t);
  void drop(std::uint32_t n);
  int next_tier(int t) const;  // next present tier below t, or kKvTiers

  KvStoreConfig cfg_;
  std::vector<Node> nodes_;
  std::vector<std::uint32_t> free_;
  std::unordered_map<std::uint64_t, std::uint32_t> index_;
  std::array<List, kKvTiers> lists_{};
  std::array<std::int64_t, kKvTiers> used_{};
  KvStoreStats stats_;
};

}  // namespace moska
