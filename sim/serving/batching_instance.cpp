#include "sim/serving/batching_instance.hpp"

#include <algorithm>
#include <stdexcept>

namespace moska {

namespace {
// SGLang's admission and retraction constants (python/sglang/srt/environ.py and managers/
// schedule_batch.py; docs/research/engine-defaults.md section 2): the new-token ratio starts at 0.7,
// decays to 0.7 x 0.14 over 600 decode steps; a request's remaining output is counted up to 4096
// tokens; a retraction leaves room for 20 more decode steps of every remaining request.
constexpr double kSglInitRatio = 0.7;
constexpr double kSglMinRatio = 0.7 * 0.14;
constexpr double kSglDecay = (kSglInitRatio - kSglMinRatio) / 600.0;
constexpr std::int64_t kSglClip = 4096;
constexpr std::int64_t kSglRetractSteps = 20;
using Phase = RequestState::Phase;
}  // namespace

BatchingInstance::BatchingInstance(ServingLoop& loop, const InstanceConfig& cfg, const IterationModel& model,
                                   DecodeObserver* observer, KvLender* lender)
    : decoding_(on_demand_kv(loop.scenario().scheduler.policy) ? loop.scenario().scheduler.kv_block_tokens : 0),
      loop_(loop), cfg_(cfg), model_(model), observer_(observer), lender_(lender),
      routed_decodes_(static_cast<std::size_t>(std::max(1, cfg.corpora)), 0) {
  const auto& sched = loop.scenario().scheduler;
  policy_ = sched.policy;
  on_demand_ = on_demand_kv(policy_);
  if (on_demand_) {
    B_ = sched.kv_block_tokens;
    total_blocks_ = cfg.capacity_tokens / B_;
    if (policy_ == BatchPolicy::vllm_v0 || policy_ == BatchPolicy::sarathi) {
      watermark_blocks_ = static_cast<std::int64_t>(sched.admission_watermark * static_cast<double>(total_blocks_));
    }
  }
  prefill_first_ = policy_ == BatchPolicy::sglang || (policy_ == BatchPolicy::vllm_v0 && !sched.chunked_prefill);
  if (loop.out().pools.size() > static_cast<std::size_t>(cfg.pool)) describe_pool();
  ratio_ = kSglInitRatio;
  tail_ = loop.tail_tbt();
  if (cfg.prefix_cache) {
    // vLLM's automatic prefix caching: blocks of finished prompts stay in HBM until evicted (LRU).
    // The cache is sized to the instance's whole KV capacity: vLLM keeps them in free blocks, so
    // this is an upper bound while running requests hold much of the KV memory.
    KvStoreConfig kc;
    const auto B = sched.block_tokens;
    kc.tiers[0].capacity_blocks = std::max<std::int64_t>(1, cfg.capacity_tokens / B);
    kc.block_bytes = static_cast<double>(B) * cfg.kv_held_per_token;
    cache_ = std::make_unique<KvStore>(kc);
  }
}

bool BatchingInstance::can_ever_fit(std::uint32_t r) const {
  const auto& s = loop_.state(r);
  if (!on_demand_) return s.reserve <= cfg_.capacity_tokens;
  return blocks_for(s.reserve) <= total_blocks_ && blocks_for(s.prompt) <= total_blocks_ - watermark_blocks_;
}

std::int64_t BatchingInstance::cached_prefix_tokens(std::span<const std::uint64_t> hashes) const {
  if (!cache_ || hashes.empty()) return 0;
  return cache_->peek(hashes).prefix_blocks * loop_.scenario().scheduler.block_tokens;
}

void BatchingInstance::describe_pool() {
  // Some systems fill the run's pools after building their instances: this runs at the first request.
  auto& pool = loop_.out().pools.at(static_cast<std::size_t>(cfg_.pool));
  pool.kv_capacity_tokens = on_demand_ ? total_blocks_ * B_ : cfg_.capacity_tokens;
  pool.kv_block_tokens = on_demand_ ? B_ : 0;
  // Swaps cross the PCIe links of the instance's GPUs.
  const double gpus = pool.hbm_bytes_per_gpu > 0 ? cfg_.hbm_bytes / pool.hbm_bytes_per_gpu : 1.0;
  host_link_bps_ = pool.pcie_bw_per_gpu * gpus;
  described_ = true;
}

void BatchingInstance::enqueue(std::uint32_t r) {
  if (!described_) describe_pool();
  waiting_.push_back(r);
  queued_ += loop_.state(r).reserve;
  if (auto* o = loop_.observer()) [[unlikely]] o->request(r, RequestEvent::queued, loop_.now(), cfg_.pool, cfg_.id);
  // An idle instance starts at the end of this instant, when every request arriving now is queued.
  wake();
}

bool BatchingInstance::borrow(std::uint32_t r, std::int64_t blocks) {
  if (!lender_ || blocks <= 0 || !lender_->borrow(cfg_.id, r, blocks)) return false;
  borrowed_ += blocks;
  return true;
}

void BatchingInstance::lend(std::int64_t blocks) {
  lent_ += blocks;
  if (blocks < 0) wake();
}

void BatchingInstance::held_elsewhere(std::int64_t blocks) {
  borrowed_ += blocks;
  wake();
}

void BatchingInstance::wake() {
  if (busy_ || (waiting_.empty() && swapped_.empty())) return;
  busy_ = true;
  loop_.sim().schedule_in(0, [this] { start_iteration(); });
}

void BatchingInstance::release_elsewhere(std::uint32_t r) {
  if (lender_) borrowed_ -= lender_->release(cfg_.id, r);
}

std::int64_t BatchingInstance::target(std::uint32_t r) const {
  const auto& s = loop_.state(r);
  return s.prompt + s.generated;
}

std::int64_t BatchingInstance::decode_kv(std::uint32_t r) const {
  // Its decode steps read the prompt (but the tokens dropped after its prefill), the shared tokens
  // it attends itself, and the tokens made so far (the last one's KV is appended by the step).
  const auto& s = loop_.state(r);
  return loop_.request(r).input_tokens + s.attn_extra - s.kv_not_read + s.generated;
}

std::int64_t BatchingInstance::decode_held(std::uint32_t r) const {
  // It holds its prompt (with any own shared copy, but the tokens dropped after its prefill) and
  // them. (KV staged only for the prefill, e.g. SemShareKV's reference, is reserved by the
  // reserving policies; the block allocators count only the request's own tokens.)
  const auto& s = loop_.state(r);
  return s.prompt - s.kv_not_read + s.generated;
}

std::int64_t BatchingInstance::prefill_blocks_held(std::uint32_t r) const {
  // vllm-v0 and sarathi allocate a prompt's blocks when they admit it; the others as chunks run.
  const bool whole = policy_ == BatchPolicy::vllm_v0 || policy_ == BatchPolicy::sarathi;
  return blocks_for(whole ? target(r) : std::int64_t{loop_.state(r).prefilled});
}

void BatchingInstance::add_chunk(std::uint32_t r, std::int64_t take) {
  const auto& s = loop_.state(r);
  chunks_.push_back({r, take});
  batch_.prefills.push_back({take, s.prefilled + s.past_extra, s.prefill_plan});
  if (s.route_corpus >= 0) routed_[static_cast<std::size_t>(s.route_corpus)] += take;
}

void BatchingInstance::join_decode(std::uint32_t r, TimeNs gap_from) {
  auto& s = loop_.state(r);
  const auto& q = loop_.request(r);
  s.phase = Phase::decoding;
  s.joined_step = dstep_;
  decoding_.add(r, decode_kv(r), decode_held(r), dstep_, q.output_tokens - s.generated, s.epoch);
  dec_output_ += q.output_tokens;
  if (observer_) observer_->joined(cfg_.id, r, loop_.now());
  if (s.route_corpus >= 0) {
    ++routed_decodes_[static_cast<std::size_t>(s.route_corpus)];
    ++routed_decodes_total_;
  }
  if (gap_from >= 0) gaps_.push_back({r, s.epoch, gap_from});
  if (auto* o = loop_.observer()) [[unlikely]] o->request(r, RequestEvent::decoding, loop_.now(), cfg_.pool, cfg_.id);
  if (tail_) tail_join(r, gap_from >= 0 ? gap_from : loop_.now());
}

void BatchingInstance::tail_join(std::uint32_t r, TimeNs from) {
  auto& s = loop_.state(r);
  s.stretch_from = from;
  joins_.push_back({r, s.epoch, s.joined_step + 1});
}

void BatchingInstance::tail_step(TimeNs end) {
  clock_.push(end);
  if (clock_.held() < clock_trim_at_) return;
  // Amortised O(1): forget the steps before the oldest running decode's first (joins come in step
  // order; those that left are dropped from the front).
  while (!joins_.empty()) {
    const auto& j = joins_.front();
    const auto& s = loop_.state(j.r);
    if (s.epoch == j.epoch && s.phase == Phase::decoding) break;
    joins_.pop_front();
  }
  clock_.forget_before(joins_.empty() ? clock_.last() + 1 : joins_.front().first);
  clock_trim_at_ = std::max<std::size_t>(4096, 2 * clock_.held());
}

void BatchingInstance::admit_reserving() {
  const auto& sched = loop_.scenario().scheduler;
  // Admit in arrival order while memory and the sequence cap allow (head-of-line blocking, as vLLM).
  while (!waiting_.empty()) {
    const std::uint32_t r = waiting_.front();
    auto& s = loop_.state(r);
    if (decoding_.count() + static_cast<std::int64_t>(prefilling_.size()) >= sched.max_batch) break;
    if (reserved_ + s.reserve > cfg_.capacity_tokens) break;
    waiting_.pop_front();
    queued_ -= s.reserve;
    reserved_ += s.reserve;
    const auto& q = loop_.request(r);
    if (s.prefilled >= s.prompt) {
      // Prefilled elsewhere: its first token is out; this instance makes the other output - 1.
      s.generated = 1;
      join_decode(r, loop_.record(r).first_token);
      continue;
    }
    s.phase = Phase::prefilling;
    prefilling_.push_back(r);
    if (auto* o = loop_.observer()) [[unlikely]] o->request(r, RequestEvent::started, loop_.now(), cfg_.pool, cfg_.id);
    if (cache_ && s.prefix_cacheable && !q.block_hashes.empty()) {
      // The cached prefix is not prefilled again; at least the last token is (it makes the logits).
      const auto hit = cache_->lookup(q.block_hashes).prefix_blocks * sched.block_tokens;
      s.prefilled = std::min(hit, s.prompt - 1);
      prefix_hit_ += s.prefilled;
      prefix_looked_up_ += s.prompt;
    }
  }
}

std::uint32_t BatchingInstance::preempt(bool decode_blocks_allocated) {
  auto& out = loop_.out();
  // The most recently admitted running request (vLLM: the tail of `running`; SGLang retracts the
  // request with the fewest output tokens, which among decodes advancing together is the latest
  // to start decoding: only decodes are retracted there).
  const bool decodes_only = policy_ == BatchPolicy::sglang;
  std::vector<std::pair<std::uint32_t, std::uint32_t>> skipped;
  std::uint32_t r = 0;
  bool found = false;
  while (!order_.empty()) {
    const auto [v, ep] = order_.back();
    order_.pop_back();
    const auto& s = loop_.state(v);
    if (s.epoch != ep || (s.phase != Phase::prefilling && s.phase != Phase::decoding)) continue;
    if (decodes_only && s.phase != Phase::decoding) {
      skipped.push_back({v, ep});
      continue;
    }
    r = v;
    found = true;
    break;
  }
  order_.insert(order_.end(), skipped.rbegin(), skipped.rend());
  if (!found) return UINT32_MAX;
  auto& s = loop_.state(r);
  const auto& q = loop_.request(r);
  const TimeNs now = loop_.now();
  preempted_now_ = true;
  if (auto* o = loop_.observer()) [[unlikely]] o->request(r, RequestEvent::preempted, now, cfg_.pool, cfg_.id);
  const std::int64_t free_before = free_blocks();
  if (s.phase == Phase::prefilling) {
    pre_blocks_ -= prefill_blocks_held(r);
    pre_remaining_ -= q.output_tokens - s.generated;
    prefilling_.erase(std::find(prefilling_.begin(), prefilling_.end(), r));
    out.recomputed_tokens += s.prefilled;
    release_elsewhere(r);
  } else {
    const std::int64_t g = s.generated + static_cast<std::int64_t>(dstep_ - s.joined_step);
    decoding_.remove(decode_kv(r), decode_held(r), s.joined_step, q.output_tokens - s.generated, dstep_,
                     decode_blocks_allocated);
    dec_output_ -= q.output_tokens;
    if (s.route_corpus >= 0) {
      --routed_decodes_[static_cast<std::size_t>(s.route_corpus)];
      --routed_decodes_total_;
    }
    if (observer_) observer_->left(cfg_.id, r);
    if (tail_ && dstep_ > s.joined_step) tail_->stretch(r, s.stretch_from, clock_, s.joined_step + 1, dstep_, false);
    // Its last token came out at the end of the previous step (or, if it has not decoded here
    // yet, when it was last made).
    if (s.joined_step < dstep_) s.last_token = now;
    else if (s.last_token < 0) s.last_token = loop_.record(r).first_token;
    s.generated = static_cast<std::int32_t>(g);
    release_elsewhere(r);
    const std::int64_t held = decode_held(r) - 1;
    if (loop_.scenario().scheduler.preempt_swap) {
      ++s.epoch;
      s.phase = Phase::swapped;
      swapped_.push_back(r);
      const double bytes = static_cast<double>(held) * cfg_.kv_held_per_token;
      out.swapped_bytes += bytes;
      swap_s_ += bytes / host_link_bps_;
      ++out.preempted_swap;
      return r;
    }
    out.recomputed_tokens += held;
  }
  if (policy_ == BatchPolicy::vllm_v1) {
    // V1's prefix cache (on by default) keeps the freed full blocks until they are evicted.
    const std::int64_t held = s.phase == Phase::prefilling ? std::int64_t{s.prefilled} : decode_held(r) - 1;
    s.cache_blocks = held / B_;
    s.cache_mark = allocated_total_ + free_before;
  }
  ++s.epoch;
  s.phase = Phase::queued;
  s.prefilled = 0;
  waiting_.push_front(r);
  queued_ += s.reserve;
  ++out.preempted_recompute;
  return r;
}

void BatchingInstance::allocate_decodes(int steps) {
  decodes_allocated_ = true;  // a decode joining after this adds its own block for this step
  if (decoding_.empty()) return;
  bool retracted = false;
  if (lender_) borrow(KvLender::kRunningDecodes, decoding_.new_blocks(dstep_, steps) - free_blocks());
  while (decoding_.new_blocks(dstep_, steps) > free_blocks() && decoding_.count() > 1) {
    if (preempt(false) == UINT32_MAX) break;
    retracted = true;
  }
  if (retracted && policy_ == BatchPolicy::sglang) {
    // SGLang retracts until the rest have room for kSglRetractSteps more tokens each, then raises
    // the ratio to what the remaining requests have made (+ that headroom) over their outputs.
    while (decoding_.count() > 1 && free_blocks() * B_ < decoding_.count() * kSglRetractSteps) {
      if (preempt(false) == UINT32_MAX) break;
    }
    const auto remaining = decoding_.remaining(dstep_);
    const double made = static_cast<double>(dec_output_ - remaining);
    ratio_ = std::min(1.0, (made + static_cast<double>(kSglRetractSteps * decoding_.count())) /
                               static_cast<double>(std::max<std::int64_t>(1, dec_output_)));
  }
  const std::int64_t fresh = decoding_.new_blocks(dstep_, 1);
  decoding_.allocate(fresh);
  allocated_total_ += fresh;
  decodes_allocated_ = true;
}

void BatchingInstance::schedule_running_prefills(std::int64_t& budget) {
  const bool chunked = loop_.scenario().scheduler.chunked_prefill;
  for (std::size_t i = 0; i < prefilling_.size() && budget > 0;) {
    const std::uint32_t r = prefilling_[i];
    auto& s = loop_.state(r);
    const std::int64_t left = target(r) - s.prefilled;
    const std::int64_t take = chunked ? std::min(left, budget) : (budget >= left || chunks_.empty() ? left : 0);
    if (take <= 0) break;
    if (policy_ == BatchPolicy::vllm_v1 || policy_ == BatchPolicy::sglang) {
      const std::int64_t need = blocks_for(s.prefilled + take) - blocks_for(s.prefilled);
      if (need > free_blocks()) borrow(r, need - free_blocks());
      bool self = false;
      while (need > free_blocks()) {
        // vLLM V1 preempts the tail of `running` until the chunk fits, possibly this request
        // itself, which ends the step's scheduling of running requests. SGLang retracts only
        // decodes: a chunk that does not fit waits.
        if (policy_ == BatchPolicy::sglang) {
          self = true;
          break;
        }
        const auto v = preempt(true);
        if (v == r || v == UINT32_MAX) {
          self = true;
          break;
        }
      }
      if (self) return;
      pre_blocks_ += need;
      allocated_total_ += need;
    }
    add_chunk(r, take);
    budget -= take;
    ++i;
  }
}

bool BatchingInstance::sglang_admits(std::uint32_t r, std::int64_t prompt_left) const {
  const auto& s = loop_.state(r);
  const auto& q = loop_.request(r);
  const double future = ratio_ * static_cast<double>(decoding_.remaining(dstep_) + pre_remaining_);
  const double need = static_cast<double>(prompt_left) +
                      ratio_ * static_cast<double>(std::min<std::int64_t>(q.output_tokens - s.generated, kSglClip));
  return static_cast<double>(free_blocks() * B_) - future >= need;
}

void BatchingInstance::admit_on_demand(std::int64_t& budget) {
  const auto& sched = loop_.scenario().scheduler;
  while (!waiting_.empty()) {
    const std::uint32_t r = waiting_.front();
    auto& s = loop_.state(r);
    const auto& q = loop_.request(r);
    if (running_count() >= sched.max_batch) break;
    if (s.prefilled >= s.prompt && s.generated == 0) {
      // Prefilled elsewhere: its prompt's KV arrives; it joins the decodes.
      const std::int64_t need = blocks_for(s.prompt + 1);
      if (need > free_blocks() - watermark_blocks_) break;
      waiting_.pop_front();
      queued_ -= s.reserve;
      s.generated = 1;
      join_decode(r, loop_.record(r).first_token);
      if (decodes_allocated_ && s.prompt % B_ == 0) decoding_.allocate(1);  // this step's token starts a block
      order_.push_back({r, s.epoch});
      continue;
    }
    if (budget <= 0) break;
    // A fresh prompt's cached prefix is not prefilled again (at least its last token is); a request
    // preempted under vLLM V1 finds the blocks of its own that were not evicted since.
    const std::int64_t tgt = target(r);
    std::int64_t hit = 0;
    const bool lookup = cache_ && s.generated == 0 && s.prefilled == 0 && s.cache_blocks == 0 && s.prefix_cacheable &&
                        !q.block_hashes.empty();
    if (lookup) hit = std::min(cache_->peek(q.block_hashes).prefix_blocks * sched.block_tokens, s.prompt - 1);
    if (s.cache_blocks > 0) {
      const std::int64_t evicted = std::clamp(allocated_total_ - s.cache_mark, std::int64_t{0}, std::int64_t{s.cache_blocks});
      hit = std::min((s.cache_blocks - evicted) * B_, tgt - 1);
    }
    const std::int64_t left = tgt - hit;
    // Without chunking a prompt runs whole; one longer than the budget runs alone (vLLM then raises
    // the budget to the model length).
    const std::int64_t take = sched.chunked_prefill ? std::min(left, budget) : (left <= budget || chunks_.empty() ? left : 0);
    if (take <= 0) break;
    std::int64_t need = 0;
    switch (policy_) {
      case BatchPolicy::vllm_v0:
      case BatchPolicy::sarathi:
        need = blocks_for(tgt);
        if (need > free_blocks() - watermark_blocks_ && !borrow(r, need - (free_blocks() - watermark_blocks_))) return;
        break;
      case BatchPolicy::sglang:
        if (!sglang_admits(r, left)) return;
        need = blocks_for(hit + take);
        if (need > free_blocks() && !borrow(r, need - free_blocks())) return;
        break;
      default:
        need = blocks_for(hit + take);
        if (need > free_blocks() && !borrow(r, need - free_blocks())) return;
        break;
    }
    waiting_.pop_front();
    queued_ -= s.reserve;
    if (lookup) {
      cache_->lookup(q.block_hashes);
      prefix_hit_ += hit;
      prefix_looked_up_ += s.prompt;
    }
    if (s.cache_blocks > 0) {
      loop_.out().recomputed_tokens -= hit;  // restored from the prefix cache, not computed again
      s.cache_blocks = 0;
    }
    s.prefilled = hit;
    s.phase = Phase::prefilling;
    prefilling_.push_back(r);
    if (auto* o = loop_.observer()) [[unlikely]] o->request(r, RequestEvent::started, loop_.now(), cfg_.pool, cfg_.id);
    order_.push_back({r, s.epoch});
    pre_remaining_ += q.output_tokens - s.generated;
    pre_blocks_ += need;
    allocated_total_ += need;
    add_chunk(r, take);
    budget -= take;
  }
}

void BatchingInstance::swap_in() {
  auto& out = loop_.out();
  while (!swapped_.empty()) {
    const std::uint32_t r = swapped_.front();
    auto& s = loop_.state(r);
    const std::int64_t held = decode_held(r);  // after its next step
    if (blocks_for(held) > free_blocks()) break;
    swapped_.pop_front();
    const double bytes = static_cast<double>(held - 1) * cfg_.kv_held_per_token;
    out.swapped_bytes += bytes;
    swap_s_ += bytes / host_link_bps_;
    join_decode(r, s.last_token);
    if (decodes_allocated_ && (held - 1) % B_ == 0) decoding_.allocate(1);  // this step's token starts a block
    order_.push_back({r, s.epoch});
  }
}

void BatchingInstance::start_iteration() {
  const auto& sched = loop_.scenario().scheduler;
  const TimeNs now = loop_.now();
  BatchSpec& b = batch_;
  bool round_start = true;
  for (int attempt = 0;; ++attempt) {
    chunks_.clear();
    b.decode_requests = 0;
    b.decode_kv_tokens = 0;
    b.prefills.clear();
    b.shared.requests = b.shared.total_chunks = b.shared.top_k = 0;
    b.shared.groups.clear();
    b.tp = 1;  // the iteration model knows the instance's TP
    routed_.assign(routed_decodes_.size(), 0);
    swap_s_ = 0;
    preempted_now_ = false;
    decodes_allocated_ = false;
    std::int64_t budget = sched.max_batched_tokens;
    if (!on_demand_) {
      admit_reserving();
      decodes_in_step_ = true;
      budget -= decoding_.count();
      for (std::uint32_t r : prefilling_) {
        const auto& s = loop_.state(r);
        const std::int64_t left = s.prompt - s.prefilled;
        const std::int64_t take =
            sched.chunked_prefill ? std::min(left, budget) : (budget >= left || chunks_.empty() ? left : 0);
        if (take <= 0) break;
        add_chunk(r, take);
        budget -= take;
        if (budget <= 0) break;
      }
    } else if (round_left_ > 0 && !decoding_.empty()) {
      // A multi-step round goes on: no scheduling, no admission, the next decode step.
      --round_left_;
      round_start = false;
      decodes_in_step_ = true;
      const std::int64_t fresh = decoding_.new_blocks(dstep_, 1);
      decoding_.allocate(fresh);
      allocated_total_ += fresh;
      decodes_allocated_ = true;
    } else if (!prefill_first_) {
      // Decodes first, then running prefills' chunks, then (if nothing was preempted) swapped-out
      // and waiting requests, all within the token budget.
      round_left_ = 0;
      decodes_in_step_ = true;
      allocate_decodes(1);
      budget -= decoding_.count();
      schedule_running_prefills(budget);
      if (!preempted_now_) {
        swap_in();
        admit_on_demand(budget);
      }
    } else {
      // Prefill-first: swapped-out requests come back first; while any stays out no prompt starts.
      // A prefill-only step runs whenever prompts can start (or continue), else a decode step (a
      // round of multi_step steps).
      round_left_ = 0;
      swap_in();
      bool prefill = false;
      if (swapped_.empty()) {
        schedule_running_prefills(budget);
        admit_on_demand(budget);
        prefill = !chunks_.empty();
      }
      decodes_in_step_ = !prefill;
      if (decodes_in_step_) {
        const int steps = policy_ == BatchPolicy::vllm_v0 ? sched.multi_step : 1;
        allocate_decodes(steps);
        round_left_ = steps - 1;
      }
    }
    const bool work = (decodes_in_step_ && !decoding_.empty()) || !chunks_.empty();
    if (work || !preempted_now_ || attempt > 0) break;
    // Everything that could run was preempted in this pass (vLLM then schedules again at once).
  }
  const std::int64_t decode_count = decodes_in_step_ ? decoding_.count() : 0;
  if (decode_count == 0 && chunks_.empty()) {
    busy_ = false;
    if (decoding_.empty() && prefilling_.empty()) {
      ratio_ = kSglInitRatio;  // SGLang resets it when idle
      if (pre_blocks_ + decoding_.blocks() != 0 || borrowed_ != 0) {
        throw std::logic_error("batching instance: KV blocks held with no request running");
      }
    }
    return;
  }
  busy_ = true;
  std::int64_t routed_prefill_tokens = 0;
  for (auto x : routed_) routed_prefill_tokens += x;
  if (decodes_in_step_) {
    for (std::size_t c = 0; c < routed_.size(); ++c) routed_[c] += routed_decodes_[c];
  }
  b.decode_requests = decode_count;
  b.decode_kv_tokens = decodes_in_step_ ? decoding_.kv_tokens() : 0;
  const std::int64_t routed_decodes = decodes_in_step_ ? routed_decodes_total_ : 0;
  if (routed_decodes + routed_prefill_tokens > 0) model_.route(routed_, b.shared);
  model_.cost(b, stats_);
  double step = stats_.seconds;
  const auto& eng = sched.engine;
  if (round_start && (eng.iteration_s > 0 || eng.iteration_per_seq_s > 0)) {
    const double cpu = eng.iteration_s + eng.iteration_per_seq_s * static_cast<double>(decode_count + static_cast<std::int64_t>(chunks_.size()));
    step = eng.overlap ? std::max(step, cpu) : step + cpu;
  }
  step += swap_s_;
  last_step_s_ = step;
  auto& out = loop_.out();
  for (const auto& c : stats_.charges) {
    auto& p = out.pools[static_cast<std::size_t>(c.pool)];
    p.flops += c.flops;
    p.bytes += c.bytes;
    p.busy_s += step * c.groups;
    p.measured_s += c.measured_s * c.groups;
  }
  // HBM in use: the KV reserved (or held in blocks) now for this step (weights and shared KV count
  // for the whole run).
  auto& pool = out.pools[static_cast<std::size_t>(cfg_.pool)];
  const double kv_bytes = static_cast<double>(reserved()) * cfg_.kv_held_per_token;
  pool.mem_byte_seconds += kv_bytes * step;
  pool.peak_mem_fraction = std::max(pool.peak_mem_fraction, (cfg_.fixed_bytes + kv_bytes) / cfg_.hbm_bytes);
  out.batch_seconds += static_cast<double>(decode_count) * step;
  out.busy_seconds += step;
  out.max_batch = std::max(out.max_batch, decode_count);
  // Every running decode waited this step for its token, except those whose gap runs from earlier:
  // one that joined now (its first token was made elsewhere: the hand-off and any wait for a slot
  // here) or came back from host memory (since its last token).
  const TimeNs end = now + seconds_to_ns(step);
  std::int64_t steady = decode_count;
  if (decodes_in_step_) {
    for (const auto& g : gaps_) {
      if (loop_.state(g.r).epoch != g.epoch) continue;  // preempted again before decoding
      out.token_gaps.add(static_cast<float>(ns_to_seconds(end - g.from)), 1u);
      --steady;
    }
    gaps_.clear();
  }
  if (steady > 0) out.token_gaps.add(static_cast<float>(step), static_cast<std::uint32_t>(steady));
  if (order_.size() > 4 * static_cast<std::size_t>(running_count()) + 64) {
    std::erase_if(order_, [&](const auto& e) {
      const auto& s = loop_.state(e.first);
      return s.epoch != e.second || (s.phase != Phase::prefilling && s.phase != Phase::decoding);
    });
  }
  if (auto* o = loop_.observer()) [[unlikely]] {
    o->iteration({cfg_.pool, cfg_.id, now, end, decode_count, static_cast<std::int64_t>(chunks_.size()),
                  b.tokens() - b.decode_requests, reserved(), on_demand_ ? total_blocks_ * B_ : cfg_.capacity_tokens,
                  static_cast<std::int64_t>(waiting_.size())});
  }
  loop_.sim().schedule_in(seconds_to_ns(step), [this] { end_iteration(); });
}

void BatchingInstance::end_iteration() {
  ++iter_;
  ++loop_.out().iterations;
  std::int64_t emitted = 0, done = 0;
  finished_.clear();
  if (decodes_in_step_) {
    // Every running decode appended one token to its KV; retire the finished ones.
    emitted += batch_.decode_requests;
    ++dstep_;
    if (tail_) tail_step(loop_.now());
    decoding_.end_step(
        dstep_, [&](std::uint32_t r, std::uint32_t epoch) { return loop_.state(r).epoch == epoch; },
        [&](std::uint32_t r) {
          auto& s = loop_.state(r);
          if (s.route_corpus >= 0) {
            --routed_decodes_[static_cast<std::size_t>(s.route_corpus)];
            --routed_decodes_total_;
          }
          dec_output_ -= loop_.request(r).output_tokens;
          reserved_ -= s.reserve;
          s.phase = Phase::done;
          if (observer_) observer_->left(cfg_.id, r);
          release_elsewhere(r);
          if (tail_) tail_->stretch(r, s.stretch_from, clock_, s.joined_step + 1, dstep_, true);
          finished_.push_back(r);
        });
    if (policy_ == BatchPolicy::sglang) ratio_ = std::max(kSglMinRatio, ratio_ - kSglDecay);
  }
  for (auto [r, take] : chunks_) {
    const auto& s = loop_.state(r);
    if (s.phase != Phase::prefilling || s.prefilled + take < target(r)) continue;
    ++emitted;
    if (s.generated + 1 >= loop_.request(r).output_tokens) ++done;
  }
  // The client sees this step's tokens when the engine's API server has streamed them.
  const TimeNs seen = loop_.deliver(emitted, done + static_cast<std::int64_t>(finished_.size()));
  for (std::uint32_t r : finished_) loop_.finish(r, seen);
  // Advance prefills; a finished prompt emits the first token (or, for a recomputed one, its next).
  for (auto [r, take] : chunks_) {
    auto& s = loop_.state(r);
    if (s.phase != Phase::prefilling) continue;
    s.prefilled += take;
    const std::int64_t tgt = target(r);
    if (s.prefilled < tgt) continue;
    prefilling_.erase(std::find(prefilling_.begin(), prefilling_.end(), r));
    const auto& q = loop_.request(r);
    if (on_demand_) {
      pre_blocks_ -= blocks_for(tgt);
      pre_remaining_ -= q.output_tokens - s.generated;
    }
    if (s.generated == 0) {
      if (cache_ && s.prefix_cacheable && !q.block_hashes.empty()) cache_->insert(q.block_hashes);
      loop_.record(r).first_token = seen;
      reserved_ -= s.kv_freed_after_prefill;  // e.g. a reused prompt's staged reference KV, KV dropped after prefill
      s.reserve -= s.kv_freed_after_prefill;
    } else {
      loop_.out().token_gaps.add(static_cast<float>(ns_to_seconds(loop_.now() - s.last_token)), 1u);
      if (tail_) tail_->gap(r, ns_to_seconds(loop_.now() - s.last_token), s.generated + 1 >= q.output_tokens);
    }
    ++s.generated;
    if (s.generated >= q.output_tokens) {
      reserved_ -= s.reserve;
      s.phase = Phase::done;
      release_elsewhere(r);
      loop_.finish(r, seen);
      continue;
    }
    join_decode(r, -1);
  }
  start_iteration();
}

}  // namespace moska
