#include "sim/serving/serving_loop.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace moska {

ServingLoop::ServingLoop(const Scenario& scenario, const std::vector<Request>& requests)
    : sc_(scenario), reqs_(requests), state_(requests.size()),
      api_(sim_, scenario.scheduler.engine, [this](std::uint32_t r) { d_->arrive(r); }) {
  out_.scenario = sc_.name;
  out_.scheduler = policy_name(sc_.scheduler.policy);
  if (!sc_.scheduler.engine.name.empty()) out_.scheduler += " (engine " + sc_.scheduler.engine.name + ")";
  out_.requests.resize(reqs_.size());
  for (std::size_t i = 0; i < reqs_.size(); ++i) {
    const auto& q = reqs_[i];
    auto& rec = out_.requests[i];
    rec.arrival = q.arrival_ns;
    rec.input_tokens = q.input_tokens;
    rec.output_tokens = q.output_tokens;
  }
  if (sc_.slo.tbt_slowest_fraction > 0) {
    out_.tbt_slowest_fraction = sc_.slo.tbt_slowest_fraction;
    out_.request_tbt_slowest.assign(reqs_.size(), -1.0);
    tail_ = std::make_unique<TailTbtRecorder>(sc_.slo.tbt_slowest_fraction, out_.request_tbt_slowest);
  }
}

TimeNs ServingLoop::deliver(std::int64_t tokens, std::int64_t finished) { return api_.deliver(tokens, finished); }

void ServingLoop::finish(std::uint32_t r, TimeNs t) {
  auto& rec = out_.requests[r];
  rec.finish = t;
  last_delivery_ = std::max(last_delivery_, t);
  ++done_;
  if (observer_) [[unlikely]] observer_->request(r, RequestEvent::finished, t, -1, rec.instance);
  if (stop_after_ >= 0) [[unlikely]] {
    // As evaluate_slo judges it: a TTFT or mean TBT over its bound is a miss.
    const double tbt = request_mean_tbt_s(rec);
    if ((stop_slo_.ttft_s > 0 && request_ttft_s(rec) > stop_slo_.ttft_s) ||
        (stop_slo_.tbt_s > 0 && tbt >= 0 && tbt > stop_slo_.tbt_s)) {
      if (++misses_ > stop_after_) sim_.stop();
    }
  }
  d_->finished(r);
  release(t);
}

void ServingLoop::reject(std::uint32_t r, const std::string& reason) {
  auto& rec = out_.requests[r];
  rec.rejected = true;
  auto& reasons = out_.reject_reasons;
  auto it = std::find(reasons.begin(), reasons.end(), reason);
  if (it == reasons.end()) {
    if (reasons.size() >= 255) throw std::logic_error("serving loop: more than 255 rejection reasons");
    it = reasons.insert(reasons.end(), reason);
  }
  rec.reject_reason = static_cast<std::uint8_t>(it - reasons.begin());
  ++done_;
  if (observer_) [[unlikely]] observer_->request(r, RequestEvent::rejected, sim_.now(), -1, rec.instance);
  if (stop_after_ >= 0 && ++misses_ > stop_after_) [[unlikely]] sim_.stop();
  release(sim_.now());
}

void ServingLoop::release(TimeNs at) {
  if (sc_.max_concurrency <= 0) return;
  // The client is free when it has seen the last token: then it sends its next request.
  sim_.schedule_at(at, [this] {
    --in_flight_;
    pump();
  });
}

void ServingLoop::pump() {
  // Closed loop: send every request that is due while a client is free, in one go (so that they
  // are all queued before an idle instance starts), and wake up at the next one's arrival time.
  const std::size_t n = reqs_.size();
  while (next_ < n && in_flight_ < sc_.max_concurrency && reqs_[next_].arrival_ns <= sim_.now()) send(next_++);
  if (next_ < n && in_flight_ < sc_.max_concurrency && !wakeup_) {
    wakeup_ = true;
    sim_.schedule_at(reqs_[next_].arrival_ns, [this] {
      wakeup_ = false;
      pump();
    });
  }
}

void ServingLoop::send(std::size_t i) {
  const auto r = static_cast<std::uint32_t>(i);
  if (sc_.max_concurrency > 0) {
    ++in_flight_;
    out_.requests[i].arrival = sim_.now();  // latencies run from when the client sends it
  }
  // The engine's API server takes the request in (HTTP, chat template, tokeniser) before it
  // reaches the engine's queue.
  if (api_.ingests()) {
    api_.receive(r);
  } else {
    d_->arrive(r);
  }
}

void ServingLoop::arrivals(std::size_t i) {
  // Every request arriving at this instant is sent in one go, so that they are all queued before an
  // idle instance starts its next iteration (scheduled for the same instant); then the next arrival.
  const std::size_t n = reqs_.size();
  std::size_t j = i;
  while (j < n && reqs_[j].arrival_ns <= sim_.now()) send(j++);
  if (j < n) sim_.schedule_at(reqs_[j].arrival_ns, [this, j] { arrivals(j); });
}

void ServingLoop::sample() {
  d_->sample(*this);
  if (done_ < static_cast<std::int64_t>(reqs_.size()) && d_->sample_interval_s() > 0) {
    sim_.schedule_in(seconds_to_ns(d_->sample_interval_s()), [this] { sample(); });
  }
}

RunResult ServingLoop::run(Deployment& d, const RunOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  d_ = &d;
  observer_ = opt.observer;
  stop_slo_ = opt.stop_slo;
  stop_after_ = opt.stop_slo.any() ? opt.stop_after_misses : -1;
  for (std::size_t i = 1; i < reqs_.size(); ++i) {
    if (reqs_[i].arrival_ns < reqs_[i - 1].arrival_ns) throw std::logic_error("simulate: requests must be sorted by arrival");
  }
  // A healthy run does a few events per request at any one instant (a burst's arrivals are one
  // event); far more means components keep waking each other without time passing: fail, not hang.
  sim_.set_instant_limit(64 * (static_cast<std::uint64_t>(reqs_.size()) + 1) + (std::uint64_t{1} << 22));
  d.start(*this);
  if (!reqs_.empty()) {
    if (sc_.max_concurrency > 0) {
      sim_.schedule_at(reqs_[0].arrival_ns, [this] { pump(); });
    } else {
      sim_.schedule_at(reqs_[0].arrival_ns, [this] { arrivals(0); });
    }
  }
  if (d.sample_interval_s() > 0 && !reqs_.empty()) sim_.schedule_at(0, [this] { sample(); });
  if (sc_.time_limit_s > 0) {
    sim_.run_until(seconds_to_ns(sc_.time_limit_s));
  } else {
    sim_.run();
  }
  out_.sim_seconds = ns_to_seconds(std::max(sim_.now(), last_delivery_));
  d.finish_run(*this);
  out_.events = sim_.events_run();
  out_.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  tail_.reset();  // it refers to out_, which moves out now
  return std::move(out_);
}

}  // namespace moska
