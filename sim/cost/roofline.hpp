#pragma once
// First-principles operator time: max(FLOPs / achievable peak, bytes / achievable bandwidth) plus a
// fixed per-kernel overhead. Achievable = datasheet peak x efficiency from the hardware profile.
#include <string_view>

#include "sim/hw/gpu.hpp"
#include "sim/model/operators.hpp"

namespace moska {

struct RooflineTerms {
  double compute_s = 0;
  double memory_s = 0;
  double overhead_s = 0;
  double total() const { return (compute_s > memory_s ? compute_s : memory_s) + overhead_s; }
  bool compute_bound() const { return compute_s > memory_s; }
};

RooflineTerms roofline_terms(const GpuSpec& gpu, const Op& op);

// Ring all-reduce of `bytes` per rank over `ranks` GPUs: 2(r-1)/r of the data crosses each link,
// in 2(r-1) steps that each pay the link latency.
double ring_allreduce_seconds(double bytes, int ranks, double link_bw_bps, double link_latency_s);
// The same ring bound for any collective of OpClass::comm, by its name: all-gather, reduce-scatter and
// all-to-all move (r-1)/r of the buffer in r-1 steps; a send/recv moves its bytes in one step.
double ring_collective_seconds(std::string_view name, double bytes, int ranks, double link_bw_bps, double link_latency_s);

}  // namespace moska
