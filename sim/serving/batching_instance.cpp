#include "sim/serving/batching_instance.hpp"

#include <algorithm>

namespace moska {

BatchingInstance::BatchingInstance(ServingLoop& loop, const InstanceConfig& cfg, const IterationModel& model,
                                   DecodeObserver* observer)
    : loop_(loop), cfg_(cfg), model_(model), observer_(observer),
      routed_decodes_(static_cast<std::size_t>(std::max(1, cfg.corpora)), 0) {
  if (cfg.prefix_cache) {
    // vLLM's automatic prefix caching: blocks of finished prompts stay in HBM until evicted (LRU).
    // The cache is sized to the instance's whole KV capacity: vLLM keeps them in free blocks, so
    // this is an upper bound while running requests hold much of the KV memory.
    KvStoreConfig kc;
    const auto B = loop.scenario().scheduler.block_tokens;
    kc.tiers[0].capacity_blocks = std::max<std::int64_t>(1, cfg.capacity_tokens / B);
    kc.block_bytes = static_cast<double>(B) * cfg.kv_held_per_token;
    cache_ = std::make_unique<KvStore>(kc);
  }
}

void BatchingInstance::enqueue(std::uint32_t r) {
  waiting_.push_back(r);
  queued_ += loop_.state(r).reserve;
  if (!busy_) start_iteration();
}

void BatchingInstance::start_iteration() {
  const auto& sched = loop_.scenario().scheduler;
  const TimeNs now = loop_.now();
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
      decoding_.add(r, q.input_tokens + s.attn_extra + 1, iter_, q.output_tokens - 1);
      if (observer_) observer_->joined(cfg_.id, r, now);
      joined_.push_back(r);
      continue;
    }
    prefilling_.push_back(r);
    if (cache_ && s.prefix_cacheable && !q.block_hashes.empty()) {
      // The cached prefix is not prefilled again; at least the last token is (it makes the logits).
      const auto hit = cache_->lookup(q.block_hashes).prefix_blocks * sched.block_tokens;
      s.prefilled = std::min(hit, s.prompt - 1);
      prefix_hit_ += s.prefilled;
      prefix_looked_up_ += s.prompt;
    }
  }
  chunks_.clear();
  BatchSpec& b = batch_;
  b.decode_requests = 0;
  b.decode_kv_tokens = 0;
  b.prefills.clear();
  b.shared.requests = b.shared.total_chunks = b.shared.top_k = 0;
  b.shared.groups.clear();
  b.tp = 1;  // the iteration model knows the instance's TP
  const std::int64_t decode_count = decoding_.count();
  std::int64_t budget = sched.max_batched_tokens - decode_count;
  routed_.assign(routed_decodes_.begin(), routed_decodes_.end());
  std::int64_t routed_prefill_tokens = 0;
  for (std::uint32_t r : prefilling_) {
    const auto& s = loop_.state(r);
    const std::int64_t left = s.prompt - s.prefilled;
    const std::int64_t take =
        sched.chunked_prefill ? std::min(left, budget) : (budget >= left || chunks_.empty() ? left : 0);
    if (take <= 0) break;
    chunks_.push_back({r, take});
    budget -= take;
    b.prefills.push_back({take, s.prefilled + s.past_extra, s.prefill_plan});
    if (s.route_corpus >= 0) {
      routed_prefill_tokens += take;
      routed_[static_cast<std::size_t>(s.route_corpus)] += take;
    }
    if (budget <= 0) break;
  }
  if (decode_count == 0 && chunks_.empty()) {
    busy_ = false;
    return;
  }
  busy_ = true;
  b.decode_requests = decode_count;
  b.decode_kv_tokens = decoding_.kv_tokens();
  if (routed_decodes_total_ + routed_prefill_tokens > 0) model_.route(routed_, b.shared);
  model_.cost(b, stats_);
  const double step = stats_.seconds;
  last_step_s_ = step;
  auto& out = loop_.out();
  for (const auto& c : stats_.charges) {
    auto& p = out.pools[static_cast<std::size_t>(c.pool)];
    p.flops += c.flops;
    p.bytes += c.bytes;
    p.busy_s += step * c.groups;
  }
  // HBM in use: the KV reserved now for this step (weights and shared KV count for the whole run).
  auto& pool = out.pools[static_cast<std::size_t>(cfg_.pool)];
  const double kv_bytes = static_cast<double>(reserved_) * cfg_.kv_held_per_token;
  pool.mem_byte_seconds += kv_bytes * step;
  pool.peak_mem_fraction = std::max(pool.peak_mem_fraction, (cfg_.fixed_bytes + kv_bytes) / cfg_.hbm_bytes);
  out.batch_seconds += static_cast<double>(decode_count) * step;
  out.busy_seconds += step;
  out.max_batch = std::max(out.max_batch, decode_count);
  // Every running decode waited this step for its token, except one that joined now: its gap since
  // its first token (made elsewhere) includes the hand-off and any wait for a slot here.
  const TimeNs end = now + seconds_to_ns(step);
  for (std::uint32_t r : joined_) {
    out.token_gaps.add(static_cast<float>(ns_to_seconds(end - loop_.record(r).first_token)), 1u);
  }
  const auto steady = decode_count - static_cast<std::int64_t>(joined_.size());
  if (steady > 0) out.token_gaps.add(static_cast<float>(step), static_cast<std::uint32_t>(steady));
  joined_.clear();
  loop_.sim().schedule_in(seconds_to_ns(step), [this] { end_iteration(); });
}

void BatchingInstance::end_iteration() {
  ++iter_;
  ++loop_.out().iterations;
  const TimeNs now = loop_.now();
  // Every running decode appended one token to its KV; retire the finished ones.
  decoding_.end_iteration(iter_, [&](std::uint32_t r) {
    const auto& s = loop_.state(r);
    if (s.route_corpus >= 0) {
      --routed_decodes_[static_cast<std::size_t>(s.route_corpus)];
      --routed_decodes_total_;
    }
    reserved_ -= s.reserve;
    if (observer_) observer_->left(cfg_.id, r);
    loop_.finish(r, now);
  });
  // Advance prefills; a finished prompt emits the first token.
  for (auto [r, take] : chunks_) {
    auto& s = loop_.state(r);
    s.prefilled += take;
    if (s.prefilled < s.prompt) continue;
    prefilling_.erase(std::find(prefilling_.begin(), prefilling_.end(), r));
    const auto& q = loop_.request(r);
    if (cache_ && s.prefix_cacheable && !q.block_hashes.empty()) cache_->insert(q.block_hashes);
    loop_.record(r).first_token = now;
    reserved_ -= s.kv_freed_after_prefill;  // e.g. a reused prompt's staged reference KV, KV dropped after prefill
    s.reserve -= s.kv_freed_after_prefill;
    if (q.output_tokens <= 1) {
      reserved_ -= s.reserve;
      loop_.finish(r, now);
      continue;
    }
    // Decode steps read the prompt, the shared tokens it attends itself, and the token just made.
    decoding_.add(r, q.input_tokens + s.attn_extra - s.kv_not_read + 1, iter_, q.output_tokens - 1);
    if (observer_) observer_->joined(cfg_.id, r, now);
    if (s.route_corpus >= 0) {
      ++routed_decodes_[static_cast<std::size_t>(s.route_corpus)];
      ++routed_decodes_total_;
    }
  }
  start_iteration();
}

}  // namespace moska
