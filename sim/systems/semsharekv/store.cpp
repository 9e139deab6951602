#include "sim/systems/semsharekv/store.hpp"

namespace moska::semsharekv {

std::optional<StoredPrompt> ReferenceStore::find(std::int32_t family) {
  if (family < 0) return std::nullopt;
  auto it = families_.find(family);
  if (it == families_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second.newest);
  return *it->second.newest;
}

void ReferenceStore::evict_one() {
  auto last = std::prev(lru_.end());
  if (last->family >= 0) {
    // Every other prompt of its family is less recently used than the family's newest, so the back
    // of the list is the newest only when it is the family's last prompt.
    auto f = families_.find(last->family);
    if (--f->second.count == 0) families_.erase(f);
  }
  bytes_ -= last->bytes;
  tokens_ -= last->tokens;
  ++evicted_;
  lru_.erase(last);
}

bool ReferenceStore::insert(std::int32_t family, std::int64_t tokens, double bytes) {
  if (bytes > capacity_) return false;
  while (!lru_.empty() && bytes_ + bytes > capacity_) evict_one();
  lru_.push_front({family, tokens, bytes});
  bytes_ += bytes;
  tokens_ += tokens;
  if (family >= 0) {
    auto& f = families_[family];
    f.newest = lru_.begin();
    ++f.count;
  }
  return true;
}

}  // namespace moska::semsharekv
