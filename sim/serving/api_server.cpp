#include "sim/serving/api_server.hpp"

#include <algorithm>
#include <utility>

namespace moska {

ApiServer::ApiServer(Simulator& sim, const EngineProfile& engine, std::function<void(std::uint32_t)> ingested)
    : sim_(sim), ingested_(std::move(ingested)), request_s_(engine.request_s), token_s_(engine.token_s),
      done_s_(engine.done_s), latency_ns_(seconds_to_ns(engine.latency_s)),
      streams_(engine.token_s > 0 || engine.done_s > 0 || engine.latency_s > 0) {}

void ApiServer::advance(TimeNs now) {
  // The requests being ingested share the time the output stream leaves free since last_.
  if (!ingesting_.empty()) {
    const TimeNs from = std::max(last_, stream_free_);
    if (now > from) served_ += ns_to_seconds(now - from) / static_cast<double>(ingesting_.size());
  }
  last_ = std::max(last_, now);
}

void ApiServer::schedule_next() {
  if (pending_.valid()) sim_.cancel(pending_);
  pending_ = EventId{};
  if (ingesting_.empty()) return;
  // The first request is done when each has had its service: the free time needed is its remaining
  // service times the number sharing the server.
  const double need = std::max(0.0, ingesting_.front().done_at - served_) * static_cast<double>(ingesting_.size());
  const TimeNs at = std::max(last_, stream_free_) + seconds_to_ns(need);
  pending_ = sim_.schedule_at(at, [this] {
    pending_ = EventId{};
    finish_next();
  });
}

void ApiServer::finish_next() {
  advance(sim_.now());
  // The first request is done (its finish was scheduled for now); so is any other whose service is
  // within rounding of it (equal requests arriving at the same instant finish together).
  const Job first = ingesting_.front();
  ingesting_.pop_front();
  served_ = std::max(served_, first.done_at);
  std::uint32_t done[64];
  std::size_t n = 0;
  done[n++] = first.r;
  while (!ingesting_.empty() && n < std::size(done) && ingesting_.front().done_at <= served_ + 1e-12) {
    done[n++] = ingesting_.front().r;
    ingesting_.pop_front();
  }
  schedule_next();
  for (std::size_t i = 0; i < n; ++i) ingested_(done[i]);
}

void ApiServer::receive(std::uint32_t r) {
  advance(sim_.now());
  ingesting_.push_back({served_ + request_s_, r});
  schedule_next();
}

TimeNs ApiServer::deliver(std::int64_t tokens, std::int64_t finished) {
  const TimeNs now = sim_.now();
  if (!streams_) return now;
  advance(now);
  const double work = token_s_ * static_cast<double>(tokens) + done_s_ * static_cast<double>(finished);
  stream_free_ = std::max(stream_free_, now) + seconds_to_ns(work);
  // The stream's new work delays the ingestion in progress.
  if (!ingesting_.empty()) schedule_next();
  return stream_free_ + latency_ns_;
}

}  // namespace moska
