#include "sim/systems/infinite_llm/planner.hpp"

#include <algorithm>

namespace moska::infinite_llm {

double predicted_rate(const StepContext& c, const Ledger& led, int i, std::int64_t extra_decodes, std::int64_t extra_kv,
                      int creditor, std::int64_t out_blocks, int debtor, std::int64_t in_blocks) {
  const auto& in = led.instance(i);
  BatchSpec b;
  b.decode_requests = in.running().count() + extra_decodes;
  if (b.decode_requests <= 0) return 0;
  const std::int64_t remote = (led.remote_decode_blocks(i) + out_blocks) * led.block_tokens();
  b.decode_kv_tokens = std::max(b.decode_requests, in.running().kv_tokens() + extra_kv - remote);
  std::vector<Share> holders = led.holders(i), hosted = led.hosted(i);
  if (out_blocks > 0) holders.push_back({creditor, 1, out_blocks});
  if (in_blocks > 0) hosted.push_back({debtor, 1, in_blocks});
  const StepResult r = step_cost(c, i, b, holders, hosted);
  return static_cast<double>(b.decode_requests) / (r.seconds + c.iteration_overhead_s);
}

std::vector<Move> plan_moves(const StepContext& c, const Ledger& led, std::int64_t max_batch, const std::vector<int>& busy) {
  const int n = led.instances();
  const std::int64_t B = led.block_tokens();
  std::vector<int> debtors, creditors;
  for (int i = 0; i < n; ++i) {
    const auto& in = led.instance(i);
    if (in.running().count() < c.opt.debtor_batch && in.waiting_count() > 0 && in.lent_blocks() == 0 &&
        busy[static_cast<std::size_t>(i)] == 0) {
      debtors.push_back(i);
    }
    const double used = 1.0 - static_cast<double>(led.seen_free(i)) / static_cast<double>(std::max<std::int64_t>(1, in.kv_blocks()));
    if (used < c.opt.creditor_util && in.borrowed_blocks() == 0) creditors.push_back(i);
  }
  std::stable_sort(debtors.begin(), debtors.end(), [&](int a, int b) {
    return led.instance(a).running().count() < led.instance(b).running().count();
  });
  std::stable_sort(creditors.begin(), creditors.end(), [&](int a, int b) { return led.seen_free(a) > led.seen_free(b); });
  std::vector<std::int64_t> room(static_cast<std::size_t>(n), 0);
  for (int j : creditors) room[static_cast<std::size_t>(j)] = std::min(led.seen_free(j), led.lendable(j));
  std::vector<Move> moves;
  for (int d : debtors) {
    const std::uint32_t r = led.longest(d);
    if (r == UINT32_MAX) continue;
    const std::int64_t local = led.local_blocks(r);
    const auto& in = led.instance(d);
    const double mean_wait = static_cast<double>(in.queued()) / static_cast<double>(std::max<std::int64_t>(1, in.waiting_count()));
    const double base_d = predicted_rate(c, led, d, 0, 0, 0, 0, 0, 0);
    if (base_d <= 0) continue;
    const double step_s = static_cast<double>(in.running().count()) / base_d;
    const auto per_period = static_cast<std::int64_t>(c.opt.planner_period_s / step_s *
                                                      static_cast<double>(c.opt.migrate_tokens_per_step) / static_cast<double>(B));
    Move best;
    for (int j : creditors) {
      if (j == d || led.owed(j, d) > 0) continue;
      const std::int64_t kmax = std::min({local - 1, room[static_cast<std::size_t>(j)], per_period});
      if (kmax <= 0) continue;
      const double base_c = predicted_rate(c, led, j, 0, 0, 0, 0, 0, 0);
      for (const std::int64_t k : {kmax / 4, kmax / 2, kmax}) {
        if (k <= 0) continue;
        // The freed memory admits waiting requests of the mean waiting size, up to the batch cap.
        auto admit = static_cast<std::int64_t>(static_cast<double>(k * B) / std::max(1.0, mean_wait));
        admit = std::min({admit, in.waiting_count(), std::max<std::int64_t>(0, max_batch - in.running().count())});
        const auto extra_kv = static_cast<std::int64_t>(static_cast<double>(admit) * mean_wait);
        const double gain = predicted_rate(c, led, d, admit, extra_kv, j, k, 0, 0) +
                            predicted_rate(c, led, j, 0, 0, 0, 0, d, k) - base_d - base_c;
        if (gain > best.gain) best = Move{r, d, j, k, gain, step_s};
      }
    }
    if (best.gain > 0) {
      room[static_cast<std::size_t>(best.creditor)] -= best.blocks;
      moves.push_back(best);
    }
  }
  return moves;
}

}  // namespace moska::infinite_llm
