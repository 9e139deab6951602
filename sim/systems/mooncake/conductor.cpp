#include "sim/systems/mooncake/conductor.hpp"

#include <algorithm>

namespace moska::mooncake {

void Conductor::holdings(const Request& q) {
  const auto nP = static_cast<int>(c_.P.size());
  best_ = 0;
  best_at_ = -1;
  if (held_.size() != static_cast<std::size_t>(nP)) held_.resize(static_cast<std::size_t>(nP));
  if (q.block_hashes.empty()) {
    // Nothing to look up; only clear what an earlier request left (most traces: nothing).
    if (dirty_) {
      for (auto& h : held_) h = KvLookup{};
      dirty_ = false;
    }
    return;
  }
  dirty_ = true;
  for (int p = 0; p < nP; ++p) {
    held_[static_cast<std::size_t>(p)] = c_.P[static_cast<std::size_t>(p)]->store.peek(q.block_hashes);
    if (held_[static_cast<std::size_t>(p)].prefix_blocks > best_) {
      best_ = held_[static_cast<std::size_t>(p)].prefix_blocks;
      best_at_ = p;
    }
  }
}

double Conductor::predicted_prefill(const Request& q, int p, std::int64_t fetched) const {
  KvLookup lk = held_[static_cast<std::size_t>(p)];
  lk.prefix_blocks += fetched;
  lk.per_tier[static_cast<int>(KvTier::dram)] += fetched;
  const std::int64_t cached = cached_tokens(q, lk.prefix_blocks);
  return std::max(c_.prefill->cost(q.input_tokens - cached, cached).latency,
                  c_.P[static_cast<std::size_t>(p)]->store.load_time_s(lk));
}

void Conductor::least_ttft(const Request& q, TimeNs now, bool global, Placement& out) const {
  // Least predicted TTFT = queue + (fetch of a longer remote prefix, overlapping the queue) + prefill.
  for (int p = 0; p < static_cast<int>(c_.P.size()); ++p) {
    const auto& node = *c_.P[static_cast<std::size_t>(p)];
    const double qs = node.pipe.queue_s(now);
    const std::int64_t lb = held_[static_cast<std::size_t>(p)].prefix_blocks;
    double ttft = qs + predicted_prefill(q, p, 0);
    std::int64_t fetch = 0;
    if (global && best_ > lb && (lb == 0 || static_cast<double>(best_) / static_cast<double>(lb) >= c_.opt.balance_threshold)) {
      const auto& src = c_.P[static_cast<std::size_t>(best_at_)]->nic;
      const double xfer =
          static_cast<double>(best_ - lb) * c_.block_bytes * static_cast<double>(src.in_flight() + 1) / src.bandwidth_bps() +
          src.latency_s();
      const double t2 = std::max(qs, xfer) + predicted_prefill(q, p, best_ - lb);
      if (t2 < ttft) {
        ttft = t2;
        fetch = best_ - lb;
      }
    }
    if (p == 0 || ttft < out.ttft_s) {
      out.ttft_s = ttft;
      out.prefill = p;
      out.fetch_blocks = fetch;
    }
  }
}

int Conductor::least_queue(TimeNs now) const {
  int pick = 0;
  double lo = 0;
  for (int p = 0; p < static_cast<int>(c_.P.size()); ++p) {
    const double qs = c_.P[static_cast<std::size_t>(p)]->pipe.queue_s(now);
    if (p == 0 || qs < lo) {
      lo = qs;
      pick = p;
    }
  }
  return pick;
}

int Conductor::fastest_decode(const Request& q) const {
  // The least predicted step time with this request added, among those with room for its prompt
  // (outputs are not known: KV held + prompts on their way; an instance without room only if none
  // has it: the least loaded).
  int pick = -1;
  double best = 0;
  for (int d = 0; d < static_cast<int>(c_.D.size()); ++d) {
    const auto& dn = c_.D[static_cast<std::size_t>(d)];
    const auto& di = *dn.inst;
    const std::int64_t load = di.reserved() + dn.incoming_kv;
    const bool room = load + q.input_tokens <= c_.decode_capacity;
    const double t = c_.decode->step_s(di.running().count() + dn.incoming + 1,
                                       di.running().kv_tokens() + dn.incoming_kv + q.input_tokens + 1) +
                     (room ? 0.0 : 1e9 + static_cast<double>(load));
    if (pick < 0 || t < best) {
      best = t;
      pick = d;
    }
  }
  return pick;
}

Placement Conductor::place(const Request& q, TimeNs now) {
  holdings(q);
  Placement out;
  switch (c_.opt.policy) {
    case Policy::random: out.prefill = static_cast<int>(rng_.below(static_cast<std::uint64_t>(c_.P.size()))); break;
    case Policy::load_balance: out.prefill = least_queue(now); break;
    case Policy::global:
    case Policy::local: least_ttft(q, now, c_.opt.policy == Policy::global, out); break;
  }
  if (c_.opt.policy == Policy::random || c_.opt.policy == Policy::load_balance) {
    out.ttft_s = c_.P[static_cast<std::size_t>(out.prefill)]->pipe.queue_s(now) + predicted_prefill(q, out.prefill, 0);
  }
  out.local_blocks = held_[static_cast<std::size_t>(out.prefill)].prefix_blocks;
  if (out.fetch_blocks > 0) out.fetch_from = best_at_;
  out.decode = fastest_decode(q);
  return out;
}

}  // namespace moska::mooncake
