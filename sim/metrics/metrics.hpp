#pragma once
// What a run measured: per-request records (compact: they are kept for every request), per-pool
// utilisation, iteration statistics; and the summaries and writers built from them.
#include <cstdint>
#include <string>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/engine/time.hpp"
#include "sim/metrics/slo.hpp"

namespace moska {

// The token-weighted distribution of the gaps between consecutive tokens, in memory that does not
// grow with the number of iterations: gaps are binned by the top 24 bits of their float (sign,
// exponent and 15 mantissa bits, so a bin is 2^-15 ~ 0.003% wide); a bin keeps its token count and
// the smallest gap it has seen, which is what a percentile returns (exact to within the bin's
// width). The mean is exact (a running sum). Bins are direct-indexed in pages of 2,048 allocated on
// first use (a run's gaps span a few octaves: a few pages of 24 KiB), so adding a gap is two loads.
class TokenGaps {
 public:
  TokenGaps();
  TokenGaps(TokenGaps&&) noexcept;
  TokenGaps& operator=(TokenGaps&&) noexcept;
  ~TokenGaps();
  // `tokens` tokens each waited `gap` seconds since their previous token.
  void add(float gap, std::uint32_t tokens);
  std::uint64_t tokens() const { return tokens_; }
  double mean() const { return tokens_ ? weighted_ / static_cast<double>(tokens_) : 0.0; }
  // Token-weighted percentiles (p in [0, 1]), in the order asked; 0 when empty.
  std::vector<double> percentiles(const std::vector<double>& ps) const;
  std::size_t bins() const { return bins_; }

 private:
  static constexpr int kPageBits = 11;
  struct Page;
  std::vector<std::unique_ptr<Page>> pages_;  // by the top 13 of the 24 bits
  std::size_t bins_ = 0;
  std::uint64_t tokens_ = 0;
  double weighted_ = 0;
};

struct RequestRecord {
  std::uint64_t id = 0;
  TimeNs arrival = 0;
  TimeNs first_token = -1;  // -1 = never (rejected or unfinished)
  TimeNs finish = -1;
  std::int64_t input_tokens = 0;  // as wide as Request's (readers accept up to kMaxRequestTokens)
  std::int64_t output_tokens = 0;
  std::int32_t instance = -1;
  bool rejected = false;
  std::uint8_t reject_reason = 0;  // index into RunResult::reject_reasons
};

struct PoolStats {
  std::string name, role, hw;
  int gpus = 0;
  int groups = 1;  // TP groups (instances); busy time is summed over them
  double peak_flops_per_gpu = 0;
  double hbm_bw_per_gpu = 0;
  double hbm_bytes_per_gpu = 0;
  double busy_s = 0;          // summed over the pool's TP groups
  double flops = 0;           // work done by the whole pool
  double bytes = 0;
  double mem_byte_seconds = 0;  // integral over time of HBM bytes in use (whole pool)
  double peak_mem_fraction = 0;  // most HBM in use at once on one TP group, as a fraction of its HBM
  double pcie_bw_per_gpu = 0;    // host link (swaps), bytes/s per direction
  std::int64_t kv_capacity_tokens = 0;  // KV tokens one of its instances holds (0: none hold KV here)
  std::int64_t kv_block_tokens = 0;     // tokens per KV block of an on-demand scheduler; 0: reserved at admission
  // What answers its GPUs' costs: {gpu, calibrated, attention_backend, collectives_measured,
  // not_measured}, from its cost model; and the seconds of its busy time that measured kernel
  // tables answered (the rest: roofline, fitted collectives, host overheads).
  nlohmann::json calibration;
  double measured_s = 0;
};

struct RunResult {
  std::string scenario, system, model;
  std::vector<RequestRecord> requests;
  std::vector<PoolStats> pools;
  double sim_seconds = 0;
  std::uint64_t iterations = 0;
  std::uint64_t events = 0;
  double batch_seconds = 0;  // integral of decode batch size over busy time
  double busy_seconds = 0;   // summed over instances
  std::int64_t max_batch = 0;
  // Every decode token of an iteration waited that iteration's duration after its previous one.
  TokenGaps token_gaps;
  double wall_seconds = 0;
  // System-specific counters, in the order the system adds them (prefix-cache hits, KV bytes
  // moved, rejections by cause, ...): printed after the summary and written to the JSON.
  std::vector<std::pair<std::string, double>> counters;
  // Load over time, sampled at a fixed interval by systems that have pools with queues (Mooncake):
  // (time s, prefill load, decode load); what the loads mean is in the system's documentation.
  struct LoadSample {
    double t, prefill, decode;
  };
  std::vector<LoadSample> load_timeline;
  // Why requests were rejected: RequestRecord::reject_reason indexes this (0 is "rejected").
  std::vector<std::string> reject_reasons{"rejected"};
  // Preemptions because KV blocks ran out: requests whose KV was dropped (to be recomputed) or
  // swapped to host memory; tokens whose KV was dropped; bytes swapped out and in.
  std::int64_t preempted_recompute = 0, preempted_swap = 0, recomputed_tokens = 0;
  double swapped_bytes = 0;
  std::string scheduler;  // the instances' batching policy (and engine profile), for the summary
  // With the scenario's slo.tbt_slowest_percent: each request's mean of its slowest fraction of
  // token gaps (sim/metrics/tail_tbt.hpp), by request; -1 where it has none (fewer than 2 tokens,
  // not finished). Empty when not tracked.
  double tbt_slowest_fraction = 0;
  std::vector<double> request_tbt_slowest;
};

struct Summary {
  std::int64_t requests = 0, finished = 0, rejected = 0, unfinished = 0;
  // "ok" (every request finished), "some_not_served" (some rejected or unfinished), "none_served"
  // (no request finished: the latencies below are then undefined, printed as n/a / null).
  std::string status;
  std::vector<std::pair<std::string, std::int64_t>> rejected_by_reason;  // in first-seen order
  std::int64_t preempted_recompute = 0, preempted_swap = 0, recomputed_tokens = 0;
  double swapped_bytes = 0;
  double sim_seconds = 0;
  double output_tokens_per_s = 0, requests_per_s = 0, total_tokens_per_s = 0;
  double ttft_mean = 0, ttft_p50 = 0, ttft_p90 = 0, ttft_p99 = 0;
  double tbt_mean = 0, tbt_p50 = 0, tbt_p90 = 0, tbt_p99 = 0;  // token-weighted gaps between tokens
  // Per-request mean TBT, (finish - first token) / (output tokens - 1), over the finished requests
  // with >= 2 output tokens; percentiles count each request once, whatever its length.
  double req_tbt_mean = 0, req_tbt_p50 = 0, req_tbt_p90 = 0, req_tbt_p99 = 0;
  // When the run tracked it (RunResult::tbt_slowest_fraction > 0): the same over each request's mean
  // of its slowest fraction of gaps (Mooncake's per-request TBT).
  double tbt_slowest_fraction = 0;
  double req_tbt_slow_mean = 0, req_tbt_slow_p50 = 0, req_tbt_slow_p90 = 0, req_tbt_slow_p99 = 0;
  double e2e_mean = 0, e2e_p50 = 0, e2e_p90 = 0, e2e_p99 = 0;
  double mean_batch = 0;
  std::int64_t max_batch = 0;
  struct Pool {
    std::string name, role, hw;
    int gpus;
    double mfu, bw_util, hbm_used_mean, hbm_used_peak, busy;
    std::int64_t kv_capacity_tokens, kv_block_tokens;  // per instance (PoolStats)
    double measured_share;     // of its busy time, answered by measured kernel tables
    nlohmann::json calibration;  // PoolStats::calibration
  };
  std::vector<Pool> pools;
  SloResult slo;  // enabled only when summarize() was given a bound
};

// Every number of the summary is finite: a NaN or infinity here is a bug (inputs are checked so
// that none can arise), so summarize() throws std::logic_error naming the metric instead of
// printing "nan" or writing null. summary_json() checks the system's counters alike.
Summary summarize(const RunResult& r, const SloSpec& slo = {});
// One line when pools' costs stand on different footings (a calibrated GPU against a roofline-only
// one, or different attention backends), else "". `calibrations`: PoolStats::calibration objects.
std::string calibration_warning(const std::vector<nlohmann::json>& calibrations);
// One line per pool saying what answers its costs and how much of its busy time was measured.
std::string calibration_line(const std::string& pool, const nlohmann::json& calibration, double measured_share);
// One line saying what was not served: "none_served: 200 of 200 requests rejected (kv_never_fits 200)".
std::string not_served_line(const Summary& s);
nlohmann::json summary_json(const RunResult& r, const Summary& s);
// A pool's "costs" object (its cost model's calibration and the share of its busy time measured
// tables answered), null when the pool carries none; summary_json and capacity's JSON give it.
nlohmann::json pool_costs_json(const Summary::Pool& p);  // has "slo" when s.slo.enabled
nlohmann::json slo_json(const SloResult& slo);  // bounds (null = unbounded), attainment, goodput, counts
std::string summary_table(const RunResult& r, const Summary& s);
void write_requests_csv(const RunResult& r, const std::string& path);
// The load timeline (Mooncake): time, mean queued prefill work per prefill instance (s), mean
// running decode batch per decode instance.
void write_load_timeline_csv(const RunResult& r, const std::string& path);
// Header and one row of flat metrics, for sweeps (same columns as summary_json's scalars). The SLO
// columns are always there, empty when the summary has no SLO. The sweep writes the run's status
// (Summary::status) in its own column before them.
std::vector<std::string> summary_columns();
std::vector<std::string> summary_row(const Summary& s);

}  // namespace moska
