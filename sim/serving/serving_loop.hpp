#pragma once
// The serving loop, the same for every system: requests arrive in trace order, a system's
// Deployment dispatches each (to instances it built: continuous-batching instances, prefill
// pipelines, ...), instances run iterations on the engine's clock and report first tokens,
// hand-offs and finishes back here, and the run ends with the system's accounting. One event per
// arrival (the next is scheduled when one is handled) plus what the instances schedule. Clients may
// be closed-loop (scenario max_concurrency: at most C requests in flight, the next sent when one is
// done), and the engine's API server (sim/serving/api_server.*) takes each request in before it is
// dispatched and streams the engine's outputs to the clients.
//
// A Deployment is a system configured for one scenario (sim/systems/ builds them): the loop calls
// it and knows nothing else of the system.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "sim/engine/simulator.hpp"
#include "sim/metrics/metrics.hpp"
#include "sim/metrics/tail_tbt.hpp"
#include "sim/serving/api_server.hpp"
#include "sim/serving/request_state.hpp"
#include "sim/serving/run_observer.hpp"
#include "sim/serving/scenario.hpp"
#include "sim/workload/request.hpp"

namespace moska {

class ServingLoop;

class Deployment {
 public:
  virtual ~Deployment() = default;
  // Once, before the first event: fill the loop's pools (out().pools), per-request states, and
  // build the instances on the loop's clock.
  virtual void start(ServingLoop& loop) = 0;
  // Request r arrived now: dispatch it (enqueue it on an instance) or reject it (loop.reject).
  virtual void arrive(std::uint32_t r) = 0;
  // Request r finished (its last token was made); the loop has recorded it.
  virtual void finished(std::uint32_t /*r*/) {}
  // Load sampling (RunResult::load_timeline) every sample_interval_s() > 0 while requests remain
  // (and until it returns 0).
  virtual double sample_interval_s() const { return 0; }
  virtual void sample(ServingLoop& /*loop*/) {}
  // After the last event: what the run's totals need (memory held the whole run, counters).
  virtual void finish_run(ServingLoop& loop) = 0;
};

class ServingLoop {
 public:
  ServingLoop(const Scenario& scenario, const std::vector<Request>& requests);
  ServingLoop(const ServingLoop&) = delete;
  ServingLoop& operator=(const ServingLoop&) = delete;

  // Runs the scenario's requests through `d` to the end (or the scenario's time limit, or the
  // options' miss budget), telling the options' observer what happens.
  RunResult run(Deployment& d, const RunOptions& opt = {});
  // The attached observer, or nullptr (callers test it: one branch when none is attached).
  RunObserver* observer() const { return observer_; }

  Simulator& sim() { return sim_; }
  TimeNs now() const { return sim_.now(); }
  const Scenario& scenario() const { return sc_; }
  const std::vector<Request>& requests() const { return reqs_; }
  const Request& request(std::uint32_t r) const { return reqs_[r]; }
  RequestState& state(std::uint32_t r) { return state_[r]; }
  const RequestState& state(std::uint32_t r) const { return state_[r]; }
  RequestRecord& record(std::uint32_t r) { return out_.requests[r]; }
  RunResult& out() { return out_; }
  // Requests finished or rejected so far.
  std::int64_t done() const { return done_; }
  // Per-request slowest-fraction TBT (scenario slo.tbt_slowest_percent); nullptr when not tracked.
  TailTbtRecorder* tail_tbt() { return tail_.get(); }

  // An engine step that ended now emitted `tokens` tokens and finished `finished` requests: when the
  // clients see them, after the engine's API server has streamed them (now, without an engine profile).
  TimeNs deliver(std::int64_t tokens, std::int64_t finished);
  // Request r made its last token, seen by its client at t (>= now).
  void finish(std::uint32_t r, TimeNs t);
  // Request r is not served; `reason` names the class of rejection in the summary.
  void reject(std::uint32_t r, const std::string& reason = "rejected");

 private:
  // Open loop: request i's arrival time has come: it is sent now.
  void arrivals(std::size_t i);
  // Closed loop: the requests that are due are sent while a client is free.
  void pump();
  void send(std::size_t i);
  void release(TimeNs at);  // a closed-loop client's request is done, seen by the client at `at`
  void sample();

  Simulator sim_;
  const Scenario& sc_;
  const std::vector<Request>& reqs_;
  std::vector<RequestState> state_;
  RunResult out_;
  std::unique_ptr<TailTbtRecorder> tail_;
  Deployment* d_ = nullptr;
  std::int64_t done_ = 0;
  std::int64_t in_flight_ = 0;   // closed loop: requests sent and not yet done
  ApiServer api_;                // the engine's API server (a pass-through without an engine profile)
  TimeNs last_delivery_ = 0;     // the last finish a client saw
  std::size_t next_ = 0;         // closed loop: the next request to send
  bool wakeup_ = false;          // closed loop: a wake-up at the next request's arrival is scheduled
  RunObserver* observer_ = nullptr;
  SloSpec stop_slo_;                  // RunOptions: the run stops once more than stop_after_ requests missed it
  std::int64_t stop_after_ = -1;
  std::int64_t misses_ = 0;
};

}  // namespace moska
