#pragma once
// KV memory lent across instances: the hook an on-demand BatchingInstance calls when its KV blocks
// run out, before it preempts anything. A system that lends (e.g. blocks of a request's KV held on
// another instance, attended there) implements it; the instance then counts the blocks as held
// elsewhere (they take none of its memory), and tells the lender when a request leaves (finished,
// preempted) so the lender can return them. Without a lender nothing changes.
#include <cstdint>

namespace moska {

class KvLender {
 public:
  // borrow() for the running decodes' growth this step (the lender picks the requests they count against).
  static constexpr std::uint32_t kRunningDecodes = UINT32_MAX;

  virtual ~KvLender() = default;
  // Instance `instance` needs `blocks` KV blocks more than it has free, for request r's prefill (or
  // kRunningDecodes). True: all of them are now held elsewhere on the instance's behalf; false: none.
  virtual bool borrow(int instance, std::uint32_t r, std::int64_t blocks) = 0;
  // Request r leaves `instance` (finished, preempted, swapped out): its blocks held elsewhere are
  // returned to their lenders; returns how many there were.
  virtual std::int64_t release(int instance, std::uint32_t r) = 0;
};

}  // namespace moska
