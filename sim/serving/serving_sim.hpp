#pragma once
// The serving loop: requests arrive, are dispatched to an instance (a TP group), admitted while
// its KV memory allows (each request reserves its prompt + output tokens at admission, so KV in use
// never exceeds capacity and nothing is preempted), run in continuous batches with chunked prefill,
// and finish. One event per arrival and per iteration; per-iteration work is O(1) amortised in the
// number of running requests (they all advance one token per iteration, so only the sum of their
// KV lengths and a heap of finish iterations are kept).
#include <vector>

#include "sim/metrics/metrics.hpp"
#include "sim/serving/scenario.hpp"
#include "sim/workload/request.hpp"

namespace moska {

// Validates the scenario against the hardware (does the model fit, does the shared context fit)
// and runs it. Throws InputError on a configuration that cannot run.
RunResult simulate(const Scenario& scenario, const std::vector<Request>& requests);

}  // namespace moska
