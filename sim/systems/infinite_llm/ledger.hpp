#pragma once
// The memory side of Infinite-LLM: each instance's rManager (its KV blocks, those it lends, those of
// its requests held elsewhere, a cap on lending), every request's block table (which instances hold
// its blocks), and the gManager's debt ledger (who owes whom) with its heartbeat view of free memory.
//
// Block table: a request's KV blocks in logical order, the first on its home instance (its local
// blocks are that instance's paged blocks, counted by the BatchingInstance), then runs of blocks on
// creditors, one run per creditor, each starting at a physical block id the creditor's rManager gave.
// Borrowing (v1, DistKV-LLM): when an allocation finds no free block the home rManager asks the
// gManager for creditors (most free memory in its last heartbeat, same node first if configured) and
// asks them one at a time; a creditor lends what it has free within its cap. A creditor's allocation
// for a remote request never borrows itself (no cascades), and an instance never borrows from one
// that holds blocks lent by it (no two-way debts; longer cycles are left, as DGFM would find them).
#include <cstdint>
#include <vector>

#include "sim/serving/batching_instance.hpp"
#include "sim/systems/infinite_llm/options.hpp"

namespace moska::infinite_llm {

struct Run {
  int holder = 0;
  std::int64_t first_block = 0;  // physical id on the holder
  std::int64_t blocks = 0;
};

// Blocks and requests of one debtor held by one creditor, counted over the debtor's decoding requests.
struct Share {
  int other = 0;  // the creditor (in holders()) or the debtor (in hosted())
  std::int64_t requests = 0, blocks = 0;
};

struct LedgerCounters {
  std::int64_t borrows = 0, borrowed_blocks = 0, failed_borrows = 0, requests_remote = 0;
  std::int64_t peak_lent_blocks = 0, cross_node_blocks = 0;
};

class Ledger {
 public:
  Ledger(const Options& opt, int instances_per_node, std::int64_t block_tokens);
  void bind(ServingLoop& loop, std::vector<BatchingInstance*> instances);

  int node(int i) const { return i / per_node_; }
  bool same_node(int a, int b) const { return node(a) == node(b); }
  std::int64_t block_tokens() const { return B_; }
  BatchingInstance& instance(int i) const { return *inst_[static_cast<std::size_t>(i)]; }
  int instances() const { return static_cast<int>(inst_.size()); }

  // The gManager's view: every instance's free blocks now (it is this stale until the next).
  void heartbeat();
  std::int64_t seen_free(int i) const { return seen_free_[static_cast<std::size_t>(i)]; }
  // Blocks instance j may still lend: its free blocks within its cap; none while its next waiting
  // request fits in its own memory.
  std::int64_t lendable(int j) const;

  // The borrowing protocol for `blocks` blocks of request r homed on `debtor` (r = the running
  // decodes: counted against its decoding requests with the most local blocks). All or nothing.
  bool borrow(int debtor, std::uint32_t r, std::int64_t blocks);
  // r leaves its home: its runs go back to their holders; returns how many blocks they held.
  std::int64_t release(std::uint32_t r);
  // v2: `blocks` of r's local blocks now live on `creditor` (reserved there before the copy).
  void moved(std::uint32_t r, int creditor, std::int64_t blocks);

  // Running decodes (the instances' DecodeObserver).
  void joined(int i, std::uint32_t r);
  void left(int i, std::uint32_t r);
  // The running decode of instance i with the most blocks on i (UINT32_MAX: none), and them.
  std::uint32_t longest(int i) const;
  std::int64_t local_blocks(std::uint32_t r) const;
  std::int64_t decodes(int i) const { return static_cast<std::int64_t>(running_[static_cast<std::size_t>(i)].size()); }

  const std::vector<Run>& table(std::uint32_t r) const { return table_[r]; }
  std::int64_t remote_blocks(std::uint32_t r) const;
  // Over each instance's decoding requests: blocks held by each creditor, and what it holds for each debtor.
  const std::vector<Share>& holders(int debtor) const { return holders_[static_cast<std::size_t>(debtor)]; }
  const std::vector<Share>& hosted(int creditor) const { return hosted_[static_cast<std::size_t>(creditor)]; }
  std::int64_t remote_decode_blocks(int debtor) const { return remote_active_[static_cast<std::size_t>(debtor)]; }
  // Blocks `creditor` holds for requests homed on `debtor` (decoding or not).
  std::int64_t owed(int debtor, int creditor) const;
  const LedgerCounters& counters() const { return c_; }

 private:
  std::int64_t held_now(std::uint32_t r) const;  // KV tokens r holds now (decoding)
  void add_run(std::uint32_t r, int holder, std::int64_t blocks);
  static void bump(std::vector<Share>& v, int other, std::int64_t requests, std::int64_t blocks);
  void activate(std::uint32_t r, int sign);

  Options opt_;
  int per_node_ = 1;
  std::int64_t B_ = 16;
  ServingLoop* loop_ = nullptr;
  std::vector<BatchingInstance*> inst_;
  std::vector<std::int64_t> seen_free_, next_block_, cap_;
  std::vector<int> order_;  // creditors by free memory in the last heartbeat
  std::vector<std::vector<Run>> table_;
  std::vector<std::int32_t> home_;
  std::vector<std::uint8_t> active_;
  std::vector<std::vector<std::uint32_t>> running_;
  std::vector<std::int32_t> pos_;  // r's index in running_[home]
  std::vector<std::vector<Share>> holders_, hosted_;
  std::vector<std::int64_t> remote_active_;
  std::vector<std::vector<Share>> debts_;  // per debtor: blocks each creditor holds for it (all its requests)
  LedgerCounters c_;
  std::vector<std::pair<int, std::int64_t>> taken_;  // scratch
};

}  // namespace moska::infinite_llm
