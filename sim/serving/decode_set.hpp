#pragma once
// The running decodes of one instance, advanced one token per decode step in O(1) amortised: only
// their count, the sums of their KV lengths and remaining steps, and a min-heap of the step at which
// each finishes are kept (every running decode appends one token per step, so a request's KV length
// is base + steps since it joined). With KV blocks of B tokens it also counts the blocks they hold:
// a decode needs a new block in the step whose appended token starts one, and since all advance
// together that is decided by (held tokens - step) mod B, counted per residue. A decode may leave
// early (preemption): its heap entry is then left behind and skipped by its epoch. Used by
// BatchingInstance.
#include <cstdint>
#include <queue>
#include <vector>

namespace moska {

class DecodeSet {
 public:
  // block_tokens > 0: count the KV blocks the decodes hold.
  explicit DecodeSet(std::int64_t block_tokens = 0)
      : B_(block_tokens), phase_(static_cast<std::size_t>(block_tokens > 0 ? block_tokens : 0), 0) {}

  // Request r joins after decode step `step`: its next step reads `kv` tokens and leaves it holding
  // `held` (the token that step appends included); it runs `steps` steps (>= 1). `epoch` tags its entry.
  void add(std::uint32_t r, std::int64_t kv, std::int64_t held, std::uint64_t step, std::int64_t steps, std::uint32_t epoch) {
    const auto s = static_cast<std::int64_t>(step);
    kv_ += kv;
    finish_sum_ += s + steps;
    ++count_;
    if (B_ > 0) {
      blocks_ += ceil_div(held - 1);
      ++phase_[residue(held - s)];
    }
    heap_.push({step + static_cast<std::uint64_t>(steps), r, epoch, kv - s, held - s});
  }
  // Blocks the running decodes must add in the next `steps` steps after step `step` (those whose
  // appended token starts a block).
  std::int64_t new_blocks(std::uint64_t step, int steps = 1) const {
    if (B_ <= 0) return 0;
    std::int64_t n = 0;
    for (int k = 0; k < steps; ++k) n += phase_[residue(1 - static_cast<std::int64_t>(step) - k)];
    return n;
  }
  void allocate(std::int64_t blocks) { blocks_ += blocks; }
  // A decode that joined with (kv, held) after step `joined` and has not finished leaves before the
  // step after `step`; `allocated`: that step's block was already counted (allocate) for it.
  void remove(std::int64_t kv, std::int64_t held, std::uint64_t joined, std::int64_t steps, std::uint64_t step, bool allocated) {
    const auto j = static_cast<std::int64_t>(joined), s = static_cast<std::int64_t>(step);
    const std::int64_t kv_off = kv - j, held_off = held - j;
    kv_ -= kv_off + s;
    finish_sum_ -= j + steps;
    --count_;
    if (B_ > 0) {
      blocks_ -= ceil_div(held_off + s - (allocated ? 0 : 1));
      --phase_[residue(held_off)];
    }
  }
  // Decode step `step` ended: every running decode appended one token; those whose last step it
  // was leave (their KV is released) and `done(r)` is called for each in finishing order. Entries
  // for which alive(r, epoch) is false left earlier and are dropped.
  template <class Alive, class F>
  void end_step(std::uint64_t step, Alive&& alive, F&& done) {
    kv_ += count_;
    const auto s = static_cast<std::int64_t>(step);
    while (!heap_.empty() && heap_.top().finish <= step) {
      const Entry e = heap_.top();
      heap_.pop();
      if (!alive(e.r, e.epoch)) continue;
      kv_ -= e.kv_offset + s;
      finish_sum_ -= static_cast<std::int64_t>(e.finish);
      --count_;
      if (B_ > 0) {
        blocks_ -= ceil_div(e.held_offset + s - 1);
        --phase_[residue(e.held_offset)];
      }
      done(e.r);
    }
  }
  std::int64_t count() const { return count_; }
  std::int64_t kv_tokens() const { return kv_; }
  std::int64_t blocks() const { return blocks_; }
  // Decode steps still to run, summed over the running decodes, after step `step`.
  std::int64_t remaining(std::uint64_t step) const { return finish_sum_ - count_ * static_cast<std::int64_t>(step); }
  bool empty() const { return count_ == 0; }

 private:
  struct Entry {
    std::uint64_t finish;
    std::uint32_t r;
    std::uint32_t epoch;
    std::int64_t kv_offset;    // KV read at the step after step i: kv_offset + i
    std::int64_t held_offset;  // KV held after that step: held_offset + i
    bool operator>(const Entry& o) const { return finish != o.finish ? finish > o.finish : r > o.r; }
  };
  std::int64_t ceil_div(std::int64_t x) const { return x <= 0 ? 0 : (x + B_ - 1) / B_; }
  std::size_t residue(std::int64_t x) const { return static_cast<std::size_t>(((x % B_) + B_) % B_); }

  std::int64_t B_;
  std::int64_t count_ = 0, kv_ = 0, finish_sum_ = 0, blocks_ = 0;
  std::vector<std::int64_t> phase_;  // per (held_offset mod B): running decodes
  std::priority_queue<Entry, std::vector<Entry>, std::greater<>> heap_;
};

}  // namespace moska
