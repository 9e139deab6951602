#pragma once
// The running decodes of one instance, advanced one token per iteration in O(1) amortised: only
// their count, the sum of their KV lengths and a min-heap of the iteration at which each finishes
// are kept (every running decode appends one token per iteration, so a request's KV length is
// base + iterations since it joined). Used by BatchingInstance.
#include <cstdint>
#include <queue>
#include <vector>

namespace moska {

class DecodeSet {
 public:
  // Request r joins after iteration `iter` with `kv` tokens (its prompt, + shared tokens it reads
  // itself, + the token just made) and `steps` decode iterations to run (>= 1).
  void add(std::uint32_t r, std::int64_t kv, std::uint64_t iter, std::int64_t steps) {
    kv_ += kv;
    ++count_;
    heap_.push({iter + static_cast<std::uint64_t>(steps), r, kv - static_cast<std::int64_t>(iter)});
  }
  // Iteration `iter` ended: every running decode appended one token; requests whose last step it
  // was leave (their KV is released), and `done(r)` is called for each in finishing order.
  template <class F>
  void end_iteration(std::uint64_t iter, F&& done) {
    kv_ += count_;
    while (!heap_.empty() && heap_.top().finish <= iter) {
      const Entry e = heap_.top();
      heap_.pop();
      kv_ -= e.kv_offset + static_cast<std::int64_t>(iter);
      --count_;
      done(e.r);
    }
  }
  std::int64_t count() const { return count_; }
  std::int64_t kv_tokens() const { return kv_; }
  bool empty() const { return count_ == 0; }

 private:
  struct Entry {
    std::uint64_t finish;
    std::uint32_t r;
    std::int64_t kv_offset;  // KV length at iteration i is kv_offset + i
    bool operator>(const Entry& o) const { return finish != o.finish ? finish > o.finish : r > o.r; }
  };
  std::int64_t count_ = 0, kv_ = 0;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap_;
};

}  // namespace moska
