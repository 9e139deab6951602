#pragma once
// Mooncake's Conductor (FAST'25 §5): for each request, the prefill instance with the least predicted
// TTFT (queue + fetch of a longer cached prefix from another instance + prefill of the rest, the
// store load overlapping the compute), and the decode instance whose next step would be fastest.
#include <cstdint>
#include <vector>

#include "sim/engine/rng.hpp"
#include "sim/systems/mooncake/cluster.hpp"
#include "sim/workload/request.hpp"

namespace moska::mooncake {

struct Placement {
  int prefill = 0;
  double ttft_s = 0;              // predicted
  std::int64_t local_blocks = 0;  // prefix blocks the chosen instance holds
  std::int64_t fetch_blocks = 0;  // blocks it fetches from `fetch_from`
  int fetch_from = -1;
  int decode = -1;
};

class Conductor {
 public:
  Conductor(const Cluster& c, std::uint64_t seed) : c_(c), rng_(seed) {}
  Placement place(const Request& q, TimeNs now);
  // Prompt tokens the prefill need not compute when `blocks` of its prefix are cached (at least the
  // last token is computed: it makes the logits).
  std::int64_t cached_tokens(const Request& q, std::int64_t blocks) const {
    return std::min(blocks * c_.block_tokens, q.input_tokens - 1);
  }

 private:
  // The prefix each prefill instance holds (blocks, and in which tiers), and the longest.
  void holdings(const Request& q);
  // Prefill latency on p with its prefix read from its store, `fetched` more blocks landed in DRAM.
  double predicted_prefill(const Request& q, int p, std::int64_t fetched) const;
  void least_ttft(const Request& q, TimeNs now, bool global, Placement& out) const;
  int least_queue(TimeNs now) const;
  int fastest_decode(const Request& q) const;

  const Cluster& c_;
  Rng rng_;
  std::vector<KvLookup> held_;
  bool dirty_ = true;  // held_ holds an earlier request's lookups
  std::int64_t best_ = 0;
  int best_at_ = -1;
  double uncached_s_ = 0;
 // predicted_prefill(q, p, 0) of an instance holding none of q's prefix
};

}  // namespace moska::mooncake
