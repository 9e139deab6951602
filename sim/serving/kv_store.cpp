#include "sim/serving/kv_store.hpp"

#include <fmt/format.h>

#include "sim/util/error.hpp"

namespace moska {

std::string_view kv_tier_name(KvTier t) {
  switch (t) {
    case KvTier::hbm: return "hbm";
    case KvTier::dram: return "dram";
    case KvTier::ssd: return "ssd";
  }
  return "?";
}

KvStore::KvStore(const KvStoreConfig& cfg) : cfg_(cfg) {
  for (int t = 0; t < kKvTiers; ++t) {
    const auto& s = cfg.tiers[t];
    auto name = kv_tier_name(static_cast<KvTier>(t));
    if (s.capacity_blocks < 0) throw InputError(fmt::format("kv store: {} capacity must be >= 0 blocks", name));
    if (!(s.read_bw_bps > 0)) throw InputError(fmt::format("kv store: {} read bandwidth must be > 0", name));
    if (!(s.latency_s >= 0)) throw InputError(fmt::format("kv store: {} latency must be >= 0", name));
  }
  if (!(cfg.block_bytes >= 0)) throw InputError("kv store: block bytes must be >= 0");
}

std::optional<KvTier> KvStore::tier_of(std::uint64_t h) const {
  auto it = index_.find(h);
  if (it == index_.end()) return std::nullopt;
  return static_cast<KvTier>(nodes_[it->second].tier);
}

std::vector<std::uint64_t> KvStore::lru_order(KvTier t) const {
  std::vector<std::uint64_t> out;
  for (auto n = lists_[idx(t)].head; n != kNil; n = nodes_[n].next) out.push_back(nodes_[n].hash);
  return out;
}

void KvStore::link_front(std::uint32_t n) {
  auto& node = nodes_[n];
  auto& l = lists_[node.tier];
  node.prev = kNil;
  node.next = l.head;
  if (l.head != kNil) nodes_[l.head].prev = n;
  l.head = n;
  if (l.tail == kNil) l.tail = n;
  node.linked = true;
}

void KvStore::unlink(std::uint32_t n) {
  auto& node = nodes_[n];
  if (!node.linked) return;
  auto& l = lists_[node.tier];
  if (node.prev != kNil) nodes_[node.prev].next = node.next; else l.head = node.next;
  if (node.next != kNil) nodes_[node.next].prev = node.prev; else l.tail = node.prev;
  node.prev = node.next = kNil;
  node.linked = false;
}

void KvStore::touch(std::uint32_t n) {
  unlink(n);
  link_front(n);
}

int KvStore::next_tier(int t) const {
  for (int u = t + 1; u < kKvTiers; ++u)
    if (cfg_.tiers[u].capacity_blocks > 0) return u;
  return kKvTiers;
}

void KvStore::place(std::uint32_t n, int t) {
  nodes_[n].tier = static_cast<std::uint8_t>(t);
  ++used_[t];
  link_front(n);
}

void KvStore::drop(std::uint32_t n) {
  unlink(n);
  index_.erase(nodes_[n].hash);
  nodes_[n] = Node{};
  free_.push_back(n);
  ++stats_.evicted;
}

bool KvStore::make_room(int t) {
  if (used_[t] < cfg_.tiers[t].capacity_blocks) return true;
  auto victim = lists_[t].tail;
  if (victim == kNil) return false;
  unlink(victim);
  --used_[t];
  for (int u = next_tier(t); u < kKvTiers; u = next_tier(u)) {
    if (make_room(u)) {
      place(victim, u);
      return true;
    }
  }
  drop(victim);
  return true;
}

KvLookup KvStore::peek(std::span<const std::uint64_t> hashes) const {
  KvLookup r;
  for (auto h : hashes) {
    auto it = index_.find(h);
    if (it == index_.end()) break;
    auto t = nodes_[it->second].tier;
    r.tiers.push_back(static_cast<KvTier>(t));
    ++r.per_tier[t];
  }
  r.prefix_blocks = static_cast<std::int64_t>(r.tiers.size());
  return r;
}

KvLookup KvStore::lookup(std::span<const std::uint64_t> hashes) {
  KvLookup r = peek(hashes);
  ++stats_.lookups;
  stats_.blocks_looked_up += hashes.size();
  for (int t = 0; t < kKvTiers; ++t) stats_.hit[t] += static_cast<std::uint64_t>(r.per_tier[t]);
  stats_.missed += hashes.size() - static_cast<std::uint64_t>(r.prefix_blocks);
  for (auto i = r.prefix_blocks; i-- > 0;) {
    auto n = index_.find(hashes[static_cast<std::size_t>(i)])->second;
    if (cfg_.promote_on_hit && nodes_[n].tier != 0 && cfg_.tiers[0].capacity_blocks > 0) {
      int old = nodes_[n].tier;
      unlink(n);
      --used_[old];
      if (make_room(0)) place(n, 0); else place(n, old);
    } else {
      touch(n);
    }
  }
  return r;
}

KvInsert KvStore::insert(std::span<const std::uint64_t> hashes) {
  KvInsert r;
  auto evicted_before = stats_.evicted;
  int top = cfg_.tiers[0].capacity_blocks > 0 ? 0 : next_tier(0);
  // Pass 1: held blocks are touched (moved up where room can be made) before any new block needs
  // room, so a chain never evicts its own cached prefix to make room for its new leaves.
  for (auto i = hashes.size(); i-- > 0;) {
    auto it = index_.find(hashes[i]);
    if (it == index_.end()) continue;
    ++r.present;
    auto n = it->second;
    int old = nodes_[n].tier;
    if (old == top) {
      touch(n);
      continue;
    }
    unlink(n);
    --used_[old];
    if (make_room(top)) place(n, top); else place(n, old);
  }
  // Pass 2: new blocks, last first.
  for (auto i = hashes.size(); i-- > 0;) {
    auto h = hashes[i];
    if (index_.count(h)) continue;
    if (top >= kKvTiers || !make_room(top)) {
      ++r.failed;
      continue;
    }
    std::uint32_t n;
    if (!free_.empty()) {
      n = free_.back();
      free_.pop_back();
    } else {
      n = static_cast<std::uint32_t>(nodes_.size());
      nodes_.emplace_back();
    }
    nodes_[n].hash = h;
    index_.emplace(h, n);
    place(n, top);
    ++r.inserted;
  }
  // Pass 3: the chain's recency order, root most recent.
  if (r.present > 0 && r.inserted > 0)
    for (auto i = hashes.size(); i-- > 0;) {
      auto it = index_.find(hashes[i]);
      if (it != index_.end()) touch(it->second);
    }
  r.evicted = static_cast<std::int64_t>(stats_.evicted - evicted_before);
  return r;
}

double KvStore::load_time_s(const KvLookup& l) const {
  double s = 0;
  for (int t = 0; t < kKvTiers; ++t) {
    if (l.per_tier[t] == 0) continue;
    const auto& spec = cfg_.tiers[t];
    s += static_cast<double>(l.per_tier[t]) * cfg_.block_bytes / spec.read_bw_bps + spec.latency_s;
  }
  return s;
}

}  // namespace moska
