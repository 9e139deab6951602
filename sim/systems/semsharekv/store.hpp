#pragma once
// SemShareKV's reference store: every prompt served is kept in host DRAM (its KV of every layer and its
// token embeddings, the "E cache"), least recently used first out when the capacity is reached. A new
// prompt is compared with every stored one (LSH over RoPE'd token embeddings); the best match becomes
// its reference when the similarity reaches the threshold.
//
// What the simulator knows of similarity is the workload's: a request of family f has similarity s to
// the family's earlier prompts (Request::family, ::similarity). The store therefore holds, per family,
// its stored prompts; the best candidate of a request is its family's most recently stored prompt
// (they are all at similarity s), a hit when one is held and s >= threshold; other families' prompts
// are below any useful threshold. O(1) per operation (a list and a hash map).
#include <cstdint>
#include <list>
#include <optional>
#include <unordered_map>

namespace moska::semsharekv {

struct StoredPrompt {
  std::int32_t family = -1;
  std::int64_t tokens = 0;
  double bytes = 0;
};

class ReferenceStore {
 public:
  explicit ReferenceStore(double capacity_bytes) : capacity_(capacity_bytes) {}

  // The reference a prompt of `family` would reuse (its family's most recently stored prompt), or
  // nothing; touches it (LRU).
  std::optional<StoredPrompt> find(std::int32_t family);
  // Keeps a served prompt, evicting least recently used prompts until it fits; a prompt larger than
  // the whole store is not kept (returns false).
  bool insert(std::int32_t family, std::int64_t tokens, double bytes);

  std::int64_t prompts() const { return static_cast<std::int64_t>(lru_.size()); }
  std::int64_t tokens() const { return tokens_; }
  double bytes() const { return bytes_; }
  double capacity_bytes() const { return capacity_; }
  std::int64_t evicted() const { return evicted_; }

 private:
  using List = std::list<StoredPrompt>;  // front = most recently used
  void evict_one();

  double capacity_;
  List lru_;
  // Per family, its most recently used entry and how many it has (an evicted family entry that was
  // the newest is replaced by the next of that family, found by a scan only then: rare).
  struct Family {
    List::iterator newest;
    std::int64_t count = 0;
  };
  std::unordered_map<std::int32_t, Family> families_;
  double bytes_ = 0;
  std::int64_t tokens_ = 0, evicted_ = 0;
};

}  // namespace moska::semsharekv
