#pragma once
// Mooncake (FAST'25): a prefill pool and a decode pool, a KV-cache store per prefill instance
// (host DRAM, optional SSD) keyed by chained prefix-block hashes, and the Conductor, which for each
// request picks the prefill instance with the least predicted TTFT (queue + fetch of a longer
// cached prefix from another instance + prefill of the rest), a decode instance by predicted TBT,
// and admits or rejects the request (none, at decode, early at arrival, or by predicted decode load).
// KV streams to the decode instance layer by layer over the prefill instance's RDMA NICs (a shared
// Link); long prompts can be prefilled by a pipeline of instances (chunked pipeline parallelism).
// See README "Mooncake" for every rule and its source.
#include <vector>

#include "sim/metrics/metrics.hpp"
#include "sim/serving/scenario.hpp"
#include "sim/workload/request.hpp"

namespace moska {

// Throws InputError on a configuration that cannot run (missing pools, model does not fit, an
// admission policy without the SLO it needs).
RunResult simulate_mooncake(const Scenario& scenario, const std::vector<Request>& requests);

}  // namespace moska
