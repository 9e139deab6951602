#include "sim/systems/infinite_llm/ledger.hpp"

#include <algorithm>
#include <cmath>

namespace moska::infinite_llm {

Ledger::Ledger(const Options& opt, int instances_per_node, std::int64_t block_tokens)
    : opt_(opt), per_node_(std::max(1, instances_per_node)), B_(std::max<std::int64_t>(1, block_tokens)) {}

void Ledger::bind(ServingLoop& loop, std::vector<BatchingInstance*> instances) {
  loop_ = &loop;
  inst_ = std::move(instances);
  const std::size_t n = inst_.size(), reqs = loop.requests().size();
  seen_free_.assign(n, 0);
  next_block_.assign(n, 0);
  cap_.assign(n, 0);
  running_.assign(n, {});
  holders_.assign(n, {});
  hosted_.assign(n, {});
  remote_active_.assign(n, 0);
  debts_.assign(n, {});
  table_.assign(reqs, {});
  home_.assign(reqs, -1);
  active_.assign(reqs, 0);
  pos_.assign(reqs, -1);
  order_.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    cap_[i] = static_cast<std::int64_t>(std::floor(opt_.lend_cap * static_cast<double>(inst_[i]->kv_blocks())));
    order_[i] = static_cast<int>(i);
  }
  heartbeat();
}

void Ledger::heartbeat() {
  for (std::size_t i = 0; i < inst_.size(); ++i) seen_free_[i] = inst_[i]->free_kv_blocks();
  std::stable_sort(order_.begin(), order_.end(), [&](int a, int b) {
    return seen_free_[static_cast<std::size_t>(a)] > seen_free_[static_cast<std::size_t>(b)];
  });
}

std::int64_t Ledger::lendable(int j) const {
  const auto& in = *inst_[static_cast<std::size_t>(j)];
  // An instance whose next waiting request fits in its own memory lends none (lending must not starve
  // it); one whose next request needs more than its memory lends (else instances that each wait for a
  // request longer than themselves would wait for each other forever).
  const std::uint32_t next = in.first_waiting();
  if (next != UINT32_MAX && (loop_->state(next).reserve + B_ - 1) / B_ <= in.kv_blocks()) return 0;
  return std::max<std::int64_t>(0, std::min(in.free_kv_blocks(), cap_[static_cast<std::size_t>(j)] - in.lent_blocks()));
}

std::int64_t Ledger::held_now(std::uint32_t r) const {
  const auto& s = loop_->state(r);
  const auto& in = *inst_[static_cast<std::size_t>(home_[r])];
  return s.prompt - s.kv_not_read + s.generated + static_cast<std::int64_t>(in.decode_steps() - s.joined_step);
}

std::int64_t Ledger::owed(int debtor, int creditor) const {
  for (const auto& x : debts_[static_cast<std::size_t>(debtor)]) {
    if (x.other == creditor) return x.blocks;
  }
  return 0;
}

std::int64_t Ledger::remote_blocks(std::uint32_t r) const {
  std::int64_t n = 0;
  for (const auto& x : table_[r]) n += x.blocks;
  return n;
}

std::int64_t Ledger::local_blocks(std::uint32_t r) const {
  return (held_now(r) + B_ - 1) / B_ - remote_blocks(r);
}

std::uint32_t Ledger::longest(int i) const {
  std::uint32_t best = UINT32_MAX;
  std::int64_t most = -1;
  for (std::uint32_t r : running_[static_cast<std::size_t>(i)]) {
    const std::int64_t l = local_blocks(r);
    if (l > most) {
      most = l;
      best = r;
    }
  }
  return best;
}

void Ledger::bump(std::vector<Share>& v, int other, std::int64_t requests, std::int64_t blocks) {
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it->other != other) continue;
    it->requests += requests;
    it->blocks += blocks;
    if (it->requests == 0) v.erase(it);
    return;
  }
  v.push_back({other, requests, blocks});
}

void Ledger::activate(std::uint32_t r, int sign) {
  const int d = home_[r];
  for (const auto& x : table_[r]) {
    bump(holders_[static_cast<std::size_t>(d)], x.holder, sign, sign * x.blocks);
    bump(hosted_[static_cast<std::size_t>(x.holder)], d, sign, sign * x.blocks);
    remote_active_[static_cast<std::size_t>(d)] += sign * x.blocks;
  }
}

void Ledger::add_run(std::uint32_t r, int holder, std::int64_t blocks) {
  auto& t = table_[r];
  if (t.empty()) ++c_.requests_remote;
  const int d = home_[r];
  if (!same_node(d, holder)) c_.cross_node_blocks += blocks;
  bool fresh = true;
  for (auto& x : t) {
    if (x.holder == holder) {
      x.blocks += blocks;
      fresh = false;
      break;
    }
  }
  bump(debts_[static_cast<std::size_t>(d)], holder, fresh ? 1 : 0, blocks);
  auto& next = next_block_[static_cast<std::size_t>(holder)];
  if (fresh) t.push_back({holder, next, blocks});
  next += blocks;
  if (active_[r]) {
    bump(holders_[static_cast<std::size_t>(d)], holder, fresh ? 1 : 0, blocks);
    bump(hosted_[static_cast<std::size_t>(holder)], d, fresh ? 1 : 0, blocks);
    remote_active_[static_cast<std::size_t>(d)] += blocks;
  }
  inst_[static_cast<std::size_t>(holder)]->lend(blocks);
  std::int64_t lent = 0;
  for (auto* in : inst_) lent += in->lent_blocks();
  c_.peak_lent_blocks = std::max(c_.peak_lent_blocks, lent);
}

bool Ledger::borrow(int debtor, std::uint32_t r, std::int64_t blocks) {
  if (blocks <= 0) return true;
  // Which requests the blocks count against: r's prefill, or the running decodes with the most
  // local blocks (the tail of a long request spills).
  taken_.clear();
  std::vector<std::pair<std::uint32_t, std::int64_t>> against;
  if (r != KvLender::kRunningDecodes) {
    home_[r] = debtor;
    against.push_back({r, blocks});
  } else {
    std::vector<std::pair<std::int64_t, std::uint32_t>> by_local;
    for (std::uint32_t q : running_[static_cast<std::size_t>(debtor)]) by_local.push_back({local_blocks(q), q});
    std::sort(by_local.begin(), by_local.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second < b.second;
    });
    std::int64_t left = blocks;
    for (const auto& [l, q] : by_local) {
      if (left <= 0) break;
      const std::int64_t take = std::min(left, l);
      if (take > 0) against.push_back({q, take});
      left -= take;
    }
    if (left > 0) {
      ++c_.failed_borrows;
      return false;
    }
  }
  // Creditors in the gManager's order (its last heartbeat), same node first if configured; each
  // checks its own free memory and cap now and lends what it can. Each creditor is asked once (the
  // passes split them by node) and what it can lend depends on it alone, so nothing is held while
  // the rest is asked for: a borrow that fails changes no instance (holding and returning blocks
  // would wake the creditors, which, idle with a request they cannot fit, would borrow, fail and
  // wake this one in turn, forever at one instant).
  std::int64_t left = blocks;
  for (int pass = 0; pass < 2 && left > 0; ++pass) {
    for (int j : order_) {
      if (left <= 0) break;
      if (j == debtor || owed(j, debtor) > 0) continue;  // no two-way debts
      if (opt_.prefer_same_node && (pass == 0) != same_node(debtor, j)) continue;
      if (!opt_.prefer_same_node && pass == 1) break;
      const std::int64_t give = std::min(left, lendable(j));
      if (give <= 0) continue;
      taken_.push_back({j, give});
      left -= give;
    }
  }
  if (left > 0) {
    ++c_.failed_borrows;
    return false;
  }
  // Spread the creditors' runs over the requests in order.
  std::size_t k = 0;
  std::int64_t k_left = taken_.empty() ? 0 : taken_[0].second;
  for (auto [q, need] : against) {
    while (need > 0) {
      const std::int64_t n = std::min(need, k_left);
      add_run(q, taken_[k].first, n);
      need -= n;
      k_left -= n;
      if (k_left == 0 && ++k < taken_.size()) k_left = taken_[k].second;
    }
  }
  ++c_.borrows;
  c_.borrowed_blocks += blocks;
  return true;
}

std::int64_t Ledger::release(std::uint32_t r) {
  if (active_[r]) {
    activate(r, -1);
    active_[r] = 0;
  }
  std::int64_t n = 0;
  for (const auto& x : table_[r]) {
    bump(debts_[static_cast<std::size_t>(home_[r])], x.holder, -1, -x.blocks);
    inst_[static_cast<std::size_t>(x.holder)]->lend(-x.blocks);
    n += x.blocks;
  }
  table_[r].clear();
  return n;
}

void Ledger::moved(std::uint32_t r, int creditor, std::int64_t blocks) {
  // The blocks were reserved on the creditor (lend) before the copy: the run takes them over.
  inst_[static_cast<std::size_t>(creditor)]->lend(-blocks);
  add_run(r, creditor, blocks);
  inst_[static_cast<std::size_t>(home_[r])]->held_elsewhere(blocks);
}

void Ledger::joined(int i, std::uint32_t r) {
  home_[r] = i;
  auto& run = running_[static_cast<std::size_t>(i)];
  pos_[r] = static_cast<std::int32_t>(run.size());
  run.push_back(r);
  active_[r] = 1;
  activate(r, +1);
}

void Ledger::left(int i, std::uint32_t r) {
  auto& run = running_[static_cast<std::size_t>(i)];
  const auto p = static_cast<std::size_t>(pos_[r]);
  run[p] = run.back();
  pos_[run[p]] = static_cast<std::int32_t>(p);
  run.pop_back();
  pos_[r] = -1;
  if (active_[r]) {
    activate(r, -1);
    active_[r] = 0;
  }
}

}  // namespace moska::infinite_llm
