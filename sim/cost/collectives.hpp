#pragma once
// Time of NCCL collectives over NVLink (tensor-parallel all-reduce, all-gather, reduce-scatter,
// all-to-all, the send/recv of a ring exchange), as NCCL's own tuning model structures it: for each
// protocol p (LL, LL128, Simple) a latency base_p + steps x hop_p and a bandwidth (the bus bandwidth,
// halved for LL and capped, x 0.92 for LL128); the collective takes the fastest protocol, plus a
// fixed per-call overhead:
//   t = overhead + min_p [ base_p + steps(op, n) * hop_p + factor(op, n) * bytes / bw_p ]
// with steps = 2(n-1) (all-reduce), n-1 (all-gather, reduce-scatter, all-to-all), 1 (send/recv) and
// factor = 2(n-1)/n (all-reduce, bytes per rank), (n-1)/n (all-gather / reduce-scatter: the whole
// buffer; all-to-all: each rank's), 1 (send/recv: what each rank sends).
// Its numbers are read from <calibration folder>/collectives.json, each {value, source}: the protocol
// constants from NCCL's tuning model, the bus bandwidth and per-call overhead fitted to measured
// collectives. Whether those were measured by this project, on how many GPUs, is in the file and in
// every output (`measured`, `fitted_ranks`); other rank counts are extrapolations by the model.
#include <string>
#include <string_view>

namespace moska {

struct CollectiveModel {
  bool present = false;          // collectives.json was found
  bool measured = false;         // the fit's data were measured by tools/profile_kernels.py
  int fitted_ranks = 0;          // GPUs of the data the fit used
  double bus_bw_bps = 0;         // Simple-protocol bus bandwidth of all-reduce (and all-to-all)
  // Of all-gather, reduce-scatter and send/recv, where the file gives them (else bus_bw_bps).
  double all_gather_bw_bps = 0, reduce_scatter_bw_bps = 0, send_recv_bw_bps = 0;
  double call_overhead_s = 0;    // per collective call (launch inside a CUDA graph)
  double base_s[3] = {0, 0, 0};  // LL, LL128, Simple
  double hop_s[3] = {0, 0, 0};
  double ll_max_bus_bw_bps = 0;
  double ll_bw_factor = 0, ll128_bw_factor = 0;
  std::string path;              // the file
  std::string basis;             // one line: what the fit rests on

  // Reads `dir`/collectives.json (absent: present = false). Throws InputError on a malformed file.
  static CollectiveModel load(const std::string& dir);
  // Seconds of one collective `name` ("allreduce"/"all_reduce", "all_gather", "reduce_scatter",
  // "all_to_all", "send_recv") of `bytes` over `ranks` GPUs. Throws InputError for another name.
  double seconds(std::string_view name, double bytes, int ranks) const;
  // True when `ranks` is a count the fit's data covered (else the answer is an extrapolation).
  bool covers(int ranks) const { return ranks == fitted_ranks; }
};

}  // namespace moska
