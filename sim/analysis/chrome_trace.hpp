#pragma once
// `run --trace FILE.json`: the run as a Chrome JSON trace (the Trace Event Format, which the Perfetto
// UI and its trace processor open). One process per pool, one thread per instance; each iteration a
// complete event ("X") whose args say what its batch held (decodes, prefill chunks and tokens, KV
// tokens held and the capacity, requests waiting), with counter tracks of the batch and the KV held
// per instance. One process "requests": each request a nestable async span from arrival to finish,
// with its phases inside: queue, prefill, transfer (its KV on the way from a prefill instance),
// decode wait, decode, preempted (KV dropped or swapped out, until it runs again). Iterations are
// written as they run; a request's phases when the run ends (from the events the serving loop told
// and the request records). Timestamps in microseconds of simulated time.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "sim/metrics/metrics.hpp"
#include "sim/serving/run_observer.hpp"

namespace moska {

class ChromeTraceWriter final : public RunObserver {
 public:
  // Opens `path` for writing (InputError naming it if it cannot); `requests` is the run's count.
  ChromeTraceWriter(const std::string& path, std::size_t requests);
  ~ChromeTraceWriter() override;
  ChromeTraceWriter(const ChromeTraceWriter&) = delete;
  ChromeTraceWriter& operator=(const ChromeTraceWriter&) = delete;

  void iteration(const IterationTrace& it) override;
  void request(std::uint32_t r, RequestEvent e, TimeNs t, int pool, int instance) override;
  // Writes the requests' spans, the pools' and instances' names, and closes the file.
  void finish(const RunResult& run);

 private:
  struct Event {
    TimeNs t;
    RequestEvent e;
    std::int32_t pool, instance;
  };
  void begin_event();
  void span(std::uint32_t r, const char* name, TimeNs from, TimeNs to, int pool, int instance);
  std::string path_;
  std::FILE* f_ = nullptr;
  bool first_ = true;
  std::vector<std::vector<Event>> events_;  // per request
  std::vector<std::pair<int, int>> instances_;  // (pool, instance) seen, for thread names
};

}  // namespace moska
