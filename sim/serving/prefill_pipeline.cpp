#include "sim/serving/prefill_pipeline.hpp"

#include <algorithm>

namespace moska {

PrefillCost PipelinePrefillModel::cost(std::int64_t n_new, std::int64_t past) const {
  PrefillCost pc;
  auto one = [&](std::int64_t n, std::int64_t p) {
    const Work w = step_.prompt(n, p);
    pc.flops += w.flops;
    pc.measured += w.measured;
    pc.bytes += w.bytes;
    return w.seconds + overhead_s_;
  };
  if (stages_ == 1) {
    pc.occupancy = pc.latency = one(n_new, past);
    return pc;
  }
  // The group's stages each run 1/stages of the layers; the prompt's chunks flow through them. The
  // bottleneck stage is busy sum(t_c)/stages; the last chunk leaves the pipeline (stages - 1)
  // stage-times of the largest chunk later, plus one hop per stage.
  double sum = 0, mx = 0;
  for (std::int64_t done = 0; done < n_new; done += chunk_tokens_) {
    const double t = one(std::min(chunk_tokens_, n_new - done), past + done);
    sum += t;
    mx = std::max(mx, t);
  }
  const double stage = 1.0 / static_cast<double>(stages_);
  pc.occupancy = sum * stage;
  pc.latency = sum * stage + (stages_ - 1) * (mx * stage + hop_latency_s_);
  return pc;
}

void PrefillPipeline::enqueue(std::uint32_t r, double occupancy_s) {
  queue_.push_back({r, occupancy_s});
  queued_s_ += occupancy_s;
  if (auto* o = loop_.observer()) [[unlikely]] o->request(r, RequestEvent::queued, loop_.now(), cfg_.pool, cfg_.id);
  try_start();
}

void PrefillPipeline::try_start() {
  const TimeNs now = loop_.now();
  if (now < busy_until_) {
    // Busy: wake up when the pipeline can take the next prompt (one wake-up pending at a time).
    if (!waking_) {
      waking_ = true;
      loop_.sim().schedule_at(busy_until_, [this] {
        waking_ = false;
        try_start();
      });
    }
    return;
  }
  // FIFO, skipping requests that may not start yet.
  auto it = std::find_if(queue_.begin(), queue_.end(), [&](const auto& e) { return hooks_.ready(e.first); });
  if (it == queue_.end()) return;
  const auto [r, occupancy] = *it;
  queue_.erase(it);
  queued_s_ = std::max(0.0, queued_s_ - occupancy);
  const std::int64_t prompt = loop_.state(r).prompt;
  double load_s = 0;
  const std::int64_t cached = hooks_.cached_at_start(cfg_.id, r, load_s);
  const auto pc = model_.cost(prompt - cached, cached);
  // The cached prefix loads layer by layer under the compute: the prefill takes the longer of the two.
  const double occ = std::max(pc.occupancy, load_s);
  const double lat = std::max(pc.latency, load_s);
  busy_until_ = now + seconds_to_ns(occ);
  const int stages = model_.stages();
  auto& pool = loop_.out().pools[static_cast<std::size_t>(cfg_.pool)];
  pool.busy_s += occ * stages;
  pool.flops += pc.flops;
  pool.measured_s += pc.measured;
  pool.bytes += pc.bytes;
  const double kv_held = static_cast<double>(prompt) * cfg_.kv_held_per_token / stages;
  pool.mem_byte_seconds += kv_held * lat * stages;
  pool.peak_mem_fraction = std::max(pool.peak_mem_fraction, (cfg_.fixed_bytes + kv_held) / cfg_.hbm_bytes);
  if (auto* o = loop_.observer()) [[unlikely]] {
    o->request(r, RequestEvent::started, now, cfg_.pool, cfg_.id);
    o->iteration({cfg_.pool, cfg_.id, now, busy_until_, 0, 1, prompt - cached, prompt, 0,
                  static_cast<std::int64_t>(queue_.size())});
  }
  hooks_.prefill_started(cfg_.id, r, prompt - cached, lat);
  const int me = cfg_.id;
  loop_.sim().schedule_at(now + seconds_to_ns(lat), [this, r, me] { hooks_.prefilled(me, r); });
  try_start();  // schedules the next wake-up
}

}  // namespace moska
