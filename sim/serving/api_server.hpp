#pragma once
// An engine's API server (the OpenAI-compatible front end of vLLM, SGLang, trtllm-serve, NIM): one
// Python event loop between the clients and the engine, with two kinds of work (README "Costs
// outside the GPU step"):
//   - the output stream: every engine step's outputs cost it token_s per token (detokenising,
//     one SSE chunk per stream) and done_s per finished request, processed in step order (vLLM V1's
//     AsyncLLM.output_handler pulls the engine's outputs step by step; vllm/v1/engine/async_llm.py);
//     the client sees a step's tokens when the server is done with them, + latency_s;
//   - ingestion: each request costs it request_s (HTTP, chat template, tokenisation) before it
//     reaches the engine. Every request being ingested is its own task on the event loop, and the
//     loop interleaves them (each handler yields at its awaits), so they share the server: processor
//     sharing among the requests being ingested, in the time the output stream leaves free. A burst
//     of N requests therefore reaches the engine together after about N x request_s, not one by
//     one (what the published TTFT distributions of 1000-request bursts show: README).
// Equal jobs under processor sharing finish in arrival order, so the requests being ingested are a
// FIFO of their finish points on the shared clock; one pending event (the next finish) at a time.
#include <cstdint>
#include <deque>
#include <functional>

#include "sim/engine/simulator.hpp"
#include "sim/serving/engine_profile.hpp"

namespace moska {

class ApiServer {
 public:
  // `ingested(r)` is called when request r has been taken in (it reaches the engine then).
  ApiServer(Simulator& sim, const EngineProfile& engine, std::function<void(std::uint32_t)> ingested);

  // True when the profile charges anything on the way in.
  bool ingests() const { return request_s_ > 0; }
  // True when the profile charges anything on the way out.
  bool streams() const { return streams_; }

  // Request r reaches the server now (ingests() must be true).
  void receive(std::uint32_t r);
  // An engine step that ended now emitted `tokens` tokens and finished `finished` requests: when
  // their clients see them.
  TimeNs deliver(std::int64_t tokens, std::int64_t finished);

  // Requests being ingested now.
  std::size_t ingesting() const { return ingesting_.size(); }

 private:
  void advance(TimeNs now);  // the shared clock up to `now`
  void schedule_next();      // the next ingestion finish (replacing any pending one)
  void finish_next();        // the pending finish has come

  Simulator& sim_;
  std::function<void(std::uint32_t)> ingested_;
  double request_s_ = 0, token_s_ = 0, done_s_ = 0;
  TimeNs latency_ns_ = 0;
  bool streams_ = false;
  // Output stream: busy until stream_free_ (what it has is processed in order).
  TimeNs stream_free_ = 0;
  // Ingestion: service each request being ingested has had so far (seconds, the shared clock),
  // advanced to last_; the requests with the service at which each is done, in arrival order.
  double served_ = 0;
  TimeNs last_ = 0;
  struct Job {
    double done_at;
    std::uint32_t r;
  };
  std::deque<Job> ingesting_;
  EventId pending_;
};

}  // namespace moska
