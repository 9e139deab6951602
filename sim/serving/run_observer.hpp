#pragma once
// What a run does, told as it happens, to an observer that writes it out (a Perfetto/Chrome trace,
// plots of batch size and KV use over time), and the run's options. The serving loop and the
// instances call the observer only when one is attached: one predictable branch per call site, so
// a run without one pays nothing more. Nothing here names a system.
#include <cstdint>

#include "sim/engine/time.hpp"
#include "sim/metrics/slo.hpp"

namespace moska {

// One iteration of one instance: its span and what its batch held.
struct IterationTrace {
  int pool = 0, instance = 0;
  TimeNs start = 0, end = 0;
  std::int64_t decodes = 0;         // decode requests in the step
  std::int64_t prefill_chunks = 0;  // prompts (or parts of prompts) prefilled in the step
  std::int64_t prefill_tokens = 0;
  std::int64_t kv_tokens = 0;       // KV tokens held (or reserved) on the instance during the step
  std::int64_t kv_capacity = 0;     // KV tokens the instance holds at most
  std::int64_t waiting = 0;         // requests queued on the instance, not yet running
};

// A request's moves, in the order they happen. `queued`: it reached an instance's queue (a decode
// instance's, when it was prefilled elsewhere: its KV was in transfer until then); `started`: its
// prefill (or a recompute after preemption) began; `decoding`: it joined the running decodes
// (after its prefill, on arrival from a prefill instance, or back from host memory); `preempted`:
// its KV was dropped or swapped out; `finished`, `rejected`: it left the run.
enum class RequestEvent : std::uint8_t { queued, started, decoding, preempted, finished, rejected };

class RunObserver {
 public:
  virtual ~RunObserver() = default;
  virtual void iteration(const IterationTrace& it) = 0;
  virtual void request(std::uint32_t r, RequestEvent e, TimeNs t, int pool, int instance) = 0;
};

struct RunOptions {
  RunObserver* observer = nullptr;
  // Stop the run once more than `stop_after_misses` requests have missed `stop_slo` (finished with
  // a TTFT or mean TBT over its bound, or rejected; -1 = never stop). A search that only needs to
  // know whether an attainment target is met stops there: the requests not yet done count as
  // unfinished, so the attainment of the stopped run is below the target whenever the full run's is.
  SloSpec stop_slo;
  std::int64_t stop_after_misses = -1;
};

}  // namespace moska
