#pragma once
// Context parallelism (CP) for the colocated systems: the scenario's `"context_parallel": {"degree":
// c}` groups the serve pool's TP groups c at a time into one logical instance whose ranks (the TP
// groups) each hold a stripe (1/c) of every context: the shared KV held once per CP group, and each
// request's own KV. Striped attention, with the queries passed around (pass-Q ring, as for decode):
// each rank runs the dense layers of its 1/c of the requests (and of each prefill chunk's tokens);
// per layer the step's queries are all-gathered over the ring, every rank attends all of them
// against its stripe (unique KV, the shared chunks or segment it holds, or what a request reads
// itself), and the partials (output + LSE) go back to each query's owner, which merges the c of them.
// The ring runs over NVLink when the CP group's GPUs fit in a node, else over the NICs. This is how
// a request whose span exceeds the model's max_context is served (the span check is in shared_kv.*).
#include <cstdint>

#include "sim/hw/gpu.hpp"
#include "sim/model/model_spec.hpp"
#include "sim/model/operators.hpp"
#include "sim/serving/scenario.hpp"

namespace moska {

struct ContextParallel {
  int degree = 1;  // TP groups per CP group; 1 = off
  // The ring between the ranks: per GPU, per direction.
  double link_bw_bps = 0, link_latency_s = 0;
  bool over_nvlink = true;
};

// The scenario's "context_parallel" section for `pool` (absent: degree 1). Throws InputError naming
// the key when the degree is not an integer >= 1 or does not divide the pool's instances.
ContextParallel parse_context_parallel(const Scenario& sc, const PoolSpec& pool, const HardwareProfile& hw);

// One rank's share of a step of `in` on a CP group of `degree` ranks: the tokens and logit rows of
// the dense layers it runs (its 1/c of the requests and of each prefill chunk), and the attention it
// runs: every query against its stripe (each request's KV and cached past / c).
struct CpRank {
  std::int64_t dense_tokens = 0, logit_rows = 0;
  std::int64_t owned_rows = 0;  // query rows whose c partials it merges
  BatchSpec attention;          // decode_kv_tokens and prefill pasts / c; every query
};
void cp_rank(const BatchSpec& in, int degree, CpRank& out);

// The step's shared attention on one rank: each chunk group's chunks striped over the ranks (1/c of
// each popularity band, rounded up: the busiest rank), every routed query against them; a request
// merges its partials over the rank's chunks (k/c) or one per segment. No router (the owner routes).
void cp_stripe(const SharedAttention& in, int degree, SharedAttention& out);

// A step's ring exchange: per layer, the queries of the step's query rows all-gathered, then the
// partials returned to their owners, each (c - 1) hops of 1/c of the rows' bytes per GPU (queries
// and partials sharded over the TP group) plus a hop's latency: fixed_s + ceil(rows / c) x per_row_s.
struct CpRing {
  int degree = 1;
  double fixed_s = 0, per_row_s = 0;
  double seconds(std::int64_t rows) const {
    if (degree <= 1 || rows <= 0) return 0.0;
    return fixed_s + static_cast<double>((rows + degree - 1) / degree) * per_row_s;
  }
};
CpRing cp_ring(const ModelSpec& model, const Precision& prec, const ContextParallel& cp, int tp);
double cp_exchange_seconds(const ModelSpec& model, const Precision& prec, const ContextParallel& cp, int tp,
                           std::int64_t rows);

}  // namespace moska
