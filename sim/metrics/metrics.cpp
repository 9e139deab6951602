#include "sim/metrics/metrics.hpp"

#include <algorithm>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <stdexcept>
#include <utility>

#include <fmt/format.h>

#include "sim/util/error.hpp"

namespace moska {

namespace {
double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::size_t idx = static_cast<std::size_t>(std::min<double>(static_cast<double>(v.size() - 1), p * static_cast<double>(v.size() - 1) + 0.5));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(idx), v.end());
  return v[idx];
}
double mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}
void check_finite(double x, const std::string& what) {
  if (!std::isfinite(x)) throw std::logic_error(fmt::format("metrics: {} is {} (every output number must be finite)", what, x));
}
void check_finite(const Summary& s) {
  const std::pair<double, const char*> scalars[] = {
      {s.sim_seconds, "sim_seconds"}, {s.output_tokens_per_s, "output_tokens_per_s"},
      {s.requests_per_s, "requests_per_s"}, {s.total_tokens_per_s, "total_tokens_per_s"},
      {s.ttft_mean, "ttft mean"}, {s.ttft_p50, "ttft p50"}, {s.ttft_p90, "ttft p90"}, {s.ttft_p99, "ttft p99"},
      {s.tbt_mean, "tbt mean"}, {s.tbt_p50, "tbt p50"}, {s.tbt_p90, "tbt p90"}, {s.tbt_p99, "tbt p99"},
      {s.req_tbt_mean, "req_tbt mean"}, {s.req_tbt_p50, "req_tbt p50"}, {s.req_tbt_p90, "req_tbt p90"},
      {s.req_tbt_p99, "req_tbt p99"}, {s.e2e_mean, "e2e mean"}, {s.e2e_p50, "e2e p50"}, {s.e2e_p90, "e2e p90"}, {s.e2e_p99, "e2e p99"},
      {s.mean_batch, "mean_batch"}, {s.slo.attainment, "slo attainment"}, {s.req_tbt_slow_mean, "req_tbt_slowest mean"},
      {s.req_tbt_slow_p90, "req_tbt_slowest p90"}, {s.req_tbt_slow_p99, "req_tbt_slowest p99"},
      {s.slo.goodput_requests_per_s, "goodput requests/s"}, {s.slo.goodput_tokens_per_s, "goodput tokens/s"}};
  for (const auto& [x, what] : scalars) check_finite(x, what);
  for (const auto& p : s.pools) {
    for (const auto& [x, what] : {std::pair{p.mfu, "mfu"}, std::pair{p.bw_util, "hbm_bw_util"},
                                  std::pair{p.hbm_used_mean, "hbm_capacity_used_mean"},
                                  std::pair{p.hbm_used_peak, "hbm_capacity_used_peak"}, std::pair{p.busy, "busy_fraction"}}) {
      check_finite(x, fmt::format("pool '{}' {}", p.name, what));
    }
  }
}
}  // namespace

struct TokenGaps::Page {
  std::uint64_t tokens[1 << kPageBits] = {};
  float min[1 << kPageBits] = {};
};

TokenGaps::TokenGaps() : pages_(std::size_t{1} << (24 - kPageBits)) {}
TokenGaps::TokenGaps(TokenGaps&&) noexcept = default;
TokenGaps& TokenGaps::operator=(TokenGaps&&) noexcept = default;
TokenGaps::~TokenGaps() = default;

void TokenGaps::add(float gap, std::uint32_t tokens) {
  if (tokens == 0) return;
  std::uint32_t bits;
  std::memcpy(&bits, &gap, sizeof bits);
  const std::uint32_t key = bits >> 8;
  auto& page = pages_[key >> kPageBits];
  if (!page) page = std::make_unique<Page>();
  const std::uint32_t slot = key & ((1u << kPageBits) - 1);
  if (page->tokens[slot] == 0) {
    page->min[slot] = gap;
    ++bins_;
  } else if (gap < page->min[slot]) {
    page->min[slot] = gap;
  }
  page->tokens[slot] += tokens;
  tokens_ += tokens;
  weighted_ += static_cast<double>(gap) * tokens;
}

std::vector<double> TokenGaps::percentiles(const std::vector<double>& ps) const {
  std::vector<double> out(ps.size(), 0.0);
  if (tokens_ == 0) return out;
  // Gaps are non-negative, so their bit patterns (and bins, in page then slot order) sort as their
  // values do.
  std::vector<std::pair<std::uint64_t, float>> sorted;  // (tokens, smallest gap) per bin, ascending
  sorted.reserve(bins_);
  for (const auto& page : pages_) {
    if (!page) continue;
    for (std::size_t i = 0; i < (std::size_t{1} << kPageBits); ++i) {
      if (page->tokens[i]) sorted.push_back({page->tokens[i], page->min[i]});
    }
  }
  for (std::size_t k = 0; k < ps.size(); ++k) {
    const double target = ps[k] * static_cast<double>(tokens_);
    double acc = 0;
    out[k] = static_cast<double>(sorted.back().second);
    for (const auto& [n, gap] : sorted) {
      acc += static_cast<double>(n);
      if (acc >= target) {
        out[k] = static_cast<double>(gap);
        break;
      }
    }
  }
  return out;
}

Summary summarize(const RunResult& r, const SloSpec& slo) {
  Summary s;
  s.requests = static_cast<std::int64_t>(r.requests.size());
  s.sim_seconds = r.sim_seconds;
  std::vector<double> ttft, e2e, req_tbt, req_slow;
  std::vector<std::int64_t> by_reason(r.reject_reasons.size(), 0);
  double out_tokens = 0, all_tokens = 0;
  const bool slow = r.tbt_slowest_fraction > 0 && r.request_tbt_slowest.size() == r.requests.size();
  for (std::size_t i = 0; i < r.requests.size(); ++i) {
    const auto& q = r.requests[i];
    if (q.rejected) {
      ++s.rejected;
      ++by_reason.at(q.reject_reason);
      continue;
    }
    if (q.finish < 0) {
      ++s.unfinished;
      continue;
    }
    ++s.finished;
    ttft.push_back(ns_to_seconds(q.first_token - q.arrival));
    e2e.push_back(ns_to_seconds(q.finish - q.arrival));
    if (double t = request_mean_tbt_s(q); t >= 0) req_tbt.push_back(t);
    if (slow && q.output_tokens >= 2) req_slow.push_back(r.request_tbt_slowest[i]);
    out_tokens += q.output_tokens;
    all_tokens += q.output_tokens + q.input_tokens;
  }
  if (r.sim_seconds > 0) {
    s.output_tokens_per_s = out_tokens / r.sim_seconds;
    s.total_tokens_per_s = all_tokens / r.sim_seconds;
    s.requests_per_s = static_cast<double>(s.finished) / r.sim_seconds;
  }
  s.ttft_mean = mean(ttft);
  s.ttft_p50 = pct(ttft, 0.5);
  s.ttft_p90 = pct(ttft, 0.9);
  s.ttft_p99 = pct(ttft, 0.99);
  s.e2e_mean = mean(e2e);
  s.e2e_p50 = pct(e2e, 0.5);
  s.e2e_p90 = pct(e2e, 0.9);
  s.e2e_p99 = pct(e2e, 0.99);
  s.req_tbt_mean = mean(req_tbt);
  s.req_tbt_p50 = pct(req_tbt, 0.5);
  s.req_tbt_p90 = pct(req_tbt, 0.9);
  s.req_tbt_p99 = pct(req_tbt, 0.99);
  if (slow) {
    s.tbt_slowest_fraction = r.tbt_slowest_fraction;
    s.req_tbt_slow_mean = mean(req_slow);
    s.req_tbt_slow_p50 = pct(req_slow, 0.5);
    s.req_tbt_slow_p90 = pct(req_slow, 0.9);
    s.req_tbt_slow_p99 = pct(req_slow, 0.99);
  }
  // Token-weighted percentiles of the gap between consecutive tokens.
  const auto tp = r.token_gaps.percentiles({0.5, 0.9, 0.99});
  s.tbt_mean = r.token_gaps.mean();
  s.tbt_p50 = tp[0];
  s.tbt_p90 = tp[1];
  s.tbt_p99 = tp[2];
  s.mean_batch = r.busy_seconds > 0 ? r.batch_seconds / r.busy_seconds : 0;
  s.max_batch = r.max_batch;
  for (const auto& p : r.pools) {
    double t = r.sim_seconds > 0 ? r.sim_seconds : 1;
    Summary::Pool sp{p.name, p.role, p.hw, p.gpus,
                     p.flops / (t * p.gpus * p.peak_flops_per_gpu),
                     p.bytes / (t * p.gpus * p.hbm_bw_per_gpu),
                     p.mem_byte_seconds / (t * p.gpus * p.hbm_bytes_per_gpu),
                     p.peak_mem_fraction,
                     p.busy_s / (t * std::max(1, p.groups)),
                     p.kv_capacity_tokens,
                     p.kv_block_tokens,
                     p.busy_s > 0 ? p.measured_s / p.busy_s : 0.0,
                     p.calibration};
    s.pools.push_back(sp);
  }
  s.slo = evaluate_slo(r, slo);
  for (std::size_t i = 0; i < by_reason.size(); ++i) {
    if (by_reason[i] > 0) s.rejected_by_reason.push_back({r.reject_reasons[i], by_reason[i]});
  }
  s.status = s.finished == 0 && s.requests > 0 ? "none_served" : (s.rejected + s.unfinished > 0 ? "some_not_served" : "ok");
  s.preempted_recompute = r.preempted_recompute;
  s.preempted_swap = r.preempted_swap;
  s.recomputed_tokens = r.recomputed_tokens;
  s.swapped_bytes = r.swapped_bytes;
  check_finite(s);
  return s;
}

std::string calibration_warning(const std::vector<nlohmann::json>& calibrations) {
  std::string calibrated, roofline;
  std::set<std::string> backends;
  for (const auto& c : calibrations) {
    if (!c.is_object() || !c.contains("gpu")) continue;
    const auto gpu = c["gpu"].get<std::string>();
    if (c.value("calibrated", false)) {
      if (calibrated.find(gpu) == std::string::npos) calibrated += (calibrated.empty() ? "" : ", ") + gpu;
      backends.insert(c.value("attention_backend", std::string()));
    } else if (roofline.find(gpu) == std::string::npos) {
      roofline += (roofline.empty() ? "" : ", ") + gpu;
    }
  }
  if (!calibrated.empty() && !roofline.empty()) {
    return fmt::format("warning: {} calibrated against measured kernels but {} roofline only: the comparison mixes "
                       "measured and first-principles costs (the roofline alone is 20-40% optimistic on the calibrated GPUs)",
                       calibrated, roofline);
  }
  if (backends.size() > 1) {
    std::string list;
    for (const auto& b : backends) list += (list.empty() ? "" : ", ") + b;
    return fmt::format("warning: costs from different attention backends ({})", list);
  }
  return "";
}

std::string calibration_line(const std::string& pool, const nlohmann::json& c, double measured_share) {
  if (!c.is_object() || !c.contains("gpu")) return "";
  const auto gpu = c["gpu"].get<std::string>();
  if (!c.value("calibrated", false)) {
    return fmt::format("costs of pool {}: {} roofline only (no measured kernels: NOT calibrated)", pool, gpu);
  }
  return fmt::format("costs of pool {}: {} calibrated ({} attention tables), {:.1f}% of its busy time from measured kernels; "
                     "collectives {}",
                     pool, gpu, c.value("attention_backend", std::string()), 100 * measured_share,
                     c.value("collectives_measured", false) ? "measured on 2 GPUs (more ranks extrapolated)" : "not measured");
}

std::string not_served_line(const Summary& s) {
  std::string why;
  for (const auto& [reason, n] : s.rejected_by_reason) why += fmt::format("{}{} {}", why.empty() ? "" : ", ", reason, n);
  return fmt::format("{}: {} of {} requests rejected{}, {} unfinished", s.status, s.rejected, s.requests,
                     why.empty() ? "" : " (" + why + ")", s.unfinished);
}

std::vector<std::string> summary_columns() {
  return {"requests", "finished", "rejected", "unfinished", "sim_s", "output_tok_per_s", "requests_per_s",
          "ttft_mean_s", "ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "tbt_mean_s", "tbt_p50_s", "tbt_p90_s", "tbt_p99_s",
          "e2e_mean_s", "e2e_p90_s", "e2e_p99_s", "mean_batch", "max_batch", "pool0_mfu", "pool0_bw_util", "pool0_hbm_used",
          "pool1_mfu", "pool1_bw_util", "pool1_hbm_used", "req_tbt_mean_s", "req_tbt_p50_s", "req_tbt_p90_s",
          "req_tbt_p99_s", "slo_ttft_s", "slo_tbt_s", "slo_attainment", "slo_met", "goodput_req_per_s",
          "goodput_tok_per_s", "pool0_calibrated", "pool0_measured_share", "pool1_calibrated", "pool1_measured_share"};
}

std::vector<std::string> summary_row(const Summary& s) {
  auto f = [](double x) { return fmt::format("{:.6g}", x); };
  std::vector<std::string> row = {std::to_string(s.requests), std::to_string(s.finished), std::to_string(s.rejected),
                                  std::to_string(s.unfinished), f(s.sim_seconds), f(s.output_tokens_per_s),
                                  f(s.requests_per_s), f(s.ttft_mean), f(s.ttft_p50), f(s.ttft_p90), f(s.ttft_p99),
                                  f(s.tbt_mean), f(s.tbt_p50), f(s.tbt_p90), f(s.tbt_p99), f(s.e2e_mean), f(s.e2e_p90), f(s.e2e_p99),
                                  f(s.mean_batch), std::to_string(s.max_batch)};
  for (std::size_t i = 0; i < 2; ++i) {
    if (i < s.pools.size()) {
      row.push_back(f(s.pools[i].mfu));
      row.push_back(f(s.pools[i].bw_util));
      row.push_back(f(s.pools[i].hbm_used_mean));
    } else {
      row.insert(row.end(), {"", "", ""});
    }
  }
  row.insert(row.end(), {f(s.req_tbt_mean), f(s.req_tbt_p50), f(s.req_tbt_p90), f(s.req_tbt_p99)});
  if (s.slo.enabled) {
    row.insert(row.end(), {f(s.slo.spec.ttft_s), f(s.slo.spec.tbt_s), f(s.slo.attainment), std::to_string(s.slo.met),
                           f(s.slo.goodput_requests_per_s), f(s.slo.goodput_tokens_per_s)});
  } else {
    row.insert(row.end(), {"", "", "", "", "", ""});
  }
  for (std::size_t i = 0; i < 2; ++i) {
    if (i < s.pools.size() && s.pools[i].calibration.is_object()) {
      row.push_back(s.pools[i].calibration.value("calibrated", false) ? "1" : "0");
      row.push_back(f(s.pools[i].measured_share));
    } else {
      row.insert(row.end(), {"", ""});
    }
  }
  return row;
}

nlohmann::json slo_json(const SloResult& o) {
  nlohmann::json j;
  j["ttft_s"] = o.spec.ttft_s > 0 ? nlohmann::json(o.spec.ttft_s) : nlohmann::json(nullptr);
  j["tbt_s"] = o.spec.tbt_s > 0 ? nlohmann::json(o.spec.tbt_s) : nlohmann::json(nullptr);
  if (o.spec.tbt_slowest_fraction > 0) j["tbt_statistic"] = fmt::format("mean of the slowest {:g}% of gaps", 100 * o.spec.tbt_slowest_fraction);
  j["attainment"] = o.attainment;
  j["goodput_requests_per_s"] = o.goodput_requests_per_s;
  j["goodput_output_tokens_per_s"] = o.goodput_tokens_per_s;
  j["requests"] = o.requests;
  j["met"] = o.met;
  j["missed_ttft"] = o.missed_ttft;
  j["missed_tbt"] = o.missed_tbt;
  j["rejected"] = o.rejected;
  j["unfinished"] = o.unfinished;
  return j;
}

nlohmann::json pool_costs_json(const Summary::Pool& p) {
  if (!p.calibration.is_object()) return nullptr;
  auto c = p.calibration;
  c["measured_share_of_busy_time"] = p.measured_share;
  return c;
}

nlohmann::json summary_json(const RunResult& r, const Summary& s) {
  nlohmann::json j;
  j["scenario"] = r.scenario;
  j["system"] = r.system;
  j["model"] = r.model;
  j["status"] = s.status;
  j["requests"] = {{"total", s.requests}, {"finished", s.finished}, {"rejected", s.rejected}, {"unfinished", s.unfinished}};
  nlohmann::json reasons = nlohmann::json::object();
  for (const auto& [k, n] : s.rejected_by_reason) reasons[k] = n;
  j["rejected_by_reason"] = reasons;
  if (!r.scheduler.empty()) j["scheduler"] = r.scheduler;
  j["preemptions"] = {{"recompute", s.preempted_recompute}, {"swap", s.preempted_swap},
                      {"recomputed_tokens", s.recomputed_tokens}, {"swapped_gb", s.swapped_bytes / 1e9}};
  j["sim_seconds"] = s.sim_seconds;
  j["iterations"] = r.iterations;
  j["throughput"] = {{"output_tokens_per_s", s.output_tokens_per_s}, {"total_tokens_per_s", s.total_tokens_per_s},
                     {"requests_per_s", s.requests_per_s}};
  // No request finished: the latencies are undefined (null), not 0.
  const bool none = s.status == "none_served";
  auto v = [&](double x) { return none ? nlohmann::json(nullptr) : nlohmann::json(x); };
  j["ttft_s"] = {{"mean", v(s.ttft_mean)}, {"p50", v(s.ttft_p50)}, {"p90", v(s.ttft_p90)}, {"p99", v(s.ttft_p99)}};
  j["tbt_s"] = {{"mean", v(s.tbt_mean)}, {"p50", v(s.tbt_p50)}, {"p90", v(s.tbt_p90)}, {"p99", v(s.tbt_p99)}};
  j["e2e_s"] = {{"mean", v(s.e2e_mean)}, {"p50", v(s.e2e_p50)}, {"p90", v(s.e2e_p90)}, {"p99", v(s.e2e_p99)}};
  j["req_tbt_s"] = {{"mean", v(s.req_tbt_mean)}, {"p50", v(s.req_tbt_p50)}, {"p90", v(s.req_tbt_p90)}, {"p99", v(s.req_tbt_p99)}};
  if (s.tbt_slowest_fraction > 0) {
    j["req_tbt_slowest_s"] = {{"slowest_percent", 100 * s.tbt_slowest_fraction}, {"mean", v(s.req_tbt_slow_mean)},
                              {"p50", v(s.req_tbt_slow_p50)}, {"p90", v(s.req_tbt_slow_p90)}, {"p99", v(s.req_tbt_slow_p99)}};
  }
  if (s.slo.enabled) j["slo"] = slo_json(s.slo);
  j["batch"] = {{"mean", s.mean_batch}, {"max", s.max_batch}};
  nlohmann::json pools = nlohmann::json::array();
  for (const auto& p : s.pools) {
    pools.push_back({{"name", p.name}, {"role", p.role}, {"hw", p.hw}, {"gpus", p.gpus}, {"mfu", p.mfu},
                     {"hbm_bw_util", p.bw_util}, {"hbm_capacity_used_mean", p.hbm_used_mean},
                     {"hbm_capacity_used_peak", p.hbm_used_peak}, {"busy_fraction", p.busy},
                     {"kv_tokens_per_instance", p.kv_capacity_tokens}, {"kv_block_tokens", p.kv_block_tokens},
                     {"kv_blocks_per_instance", p.kv_block_tokens > 0 ? p.kv_capacity_tokens / p.kv_block_tokens : 0}});
    if (auto c = pool_costs_json(p); !c.is_null()) pools.back()["costs"] = std::move(c);
  }
  j["pools"] = pools;
  std::vector<nlohmann::json> cal;
  for (const auto& p : s.pools) cal.push_back(p.calibration);
  if (const auto w = calibration_warning(cal); !w.empty()) j["warning"] = w;
  if (!r.counters.empty()) {
    nlohmann::json c = nlohmann::json::object();
    for (const auto& [k, v] : r.counters) {
      check_finite(v, "counter " + k);
      c[k] = v;
    }
    j["counters"] = c;
  }
  return j;
}

std::string summary_table(const RunResult& r, const Summary& s) {
  std::string out;
  auto line = [&](const std::string& x) { out += x + "\n"; };
  line(fmt::format("scenario: {}", r.scenario));
  line(fmt::format("system: {}   model: {}{}", r.system, r.model, r.scheduler.empty() ? "" : "   scheduler: " + r.scheduler));
  line(fmt::format("requests: {} finished, {} rejected, {} unfinished of {}   simulated {:.1f} s in {} iterations",
                   s.finished, s.rejected, s.unfinished, s.requests, s.sim_seconds, r.iterations));
  if (s.status != "ok") line(not_served_line(s));
  if (s.preempted_recompute + s.preempted_swap > 0) {
    line(fmt::format("preemptions (KV blocks ran out): {} by recompute ({} tokens computed again), {} by swap ({:.2f} GB over PCIe)",
                     s.preempted_recompute, s.recomputed_tokens, s.preempted_swap, s.swapped_bytes / 1e9));
  }
  line("");
  line(fmt::format("{:<22} {:>12}", "throughput", ""));
  line(fmt::format("{:<22} {:>12.1f}", "  output tokens/s", s.output_tokens_per_s));
  line(fmt::format("{:<22} {:>12.3f}", "  requests/s", s.requests_per_s));
  line(fmt::format("{:<22} {:>10} {:>10} {:>10} {:>10}", "latency (s)", "mean", "p50", "p90", "p99"));
  if (s.status == "none_served") {
    line(fmt::format("{:<22} {:>10} {:>10} {:>10} {:>10}", "  (no request finished)", "n/a", "n/a", "n/a", "n/a"));
  } else {
    line(fmt::format("{:<22} {:>10.3f} {:>10.3f} {:>10.3f} {:>10.3f}", "  TTFT", s.ttft_mean, s.ttft_p50, s.ttft_p90, s.ttft_p99));
    line(fmt::format("{:<22} {:>10.4f} {:>10.4f} {:>10.4f} {:>10.4f}", "  TBT", s.tbt_mean, s.tbt_p50, s.tbt_p90, s.tbt_p99));
    line(fmt::format("{:<22} {:>10.4f} {:>10.4f} {:>10.4f} {:>10.4f}", "  TBT per request", s.req_tbt_mean, s.req_tbt_p50,
                     s.req_tbt_p90, s.req_tbt_p99));
    if (s.tbt_slowest_fraction > 0) {
      line(fmt::format("{:<22} {:>10.4f} {:>10.4f} {:>10.4f} {:>10.4f}",
                       fmt::format("  slowest {:g}% per req", 100 * s.tbt_slowest_fraction), s.req_tbt_slow_mean,
                       s.req_tbt_slow_p50, s.req_tbt_slow_p90, s.req_tbt_slow_p99));
    }
    line(fmt::format("{:<22} {:>10.3f} {:>10.3f} {:>10.3f} {:>10.3f}", "  end-to-end", s.e2e_mean, s.e2e_p50, s.e2e_p90, s.e2e_p99));
  }
  line(fmt::format("decode batch: mean {:.1f}, max {}", s.mean_batch, s.max_batch));
  if (s.slo.enabled) {
    const auto& o = s.slo;
    auto bound = [](double b) { return b > 0 ? fmt::format("{:g} s", b) : std::string("unbounded"); };
    line("");
    line(fmt::format("SLO: TTFT <= {}, {} TBT per request <= {}", bound(o.spec.ttft_s),
                     o.spec.tbt_slowest_fraction > 0 ? fmt::format("slowest-{:g}%", 100 * o.spec.tbt_slowest_fraction) : "mean",
                     bound(o.spec.tbt_s)));
    line(fmt::format("  attainment {:.1f}% ({} of {} requests met it)", 100 * o.attainment, o.met, o.requests));
    line(fmt::format("  goodput {:.3f} requests/s, {:.1f} output tokens/s", o.goodput_requests_per_s,
                     o.goodput_tokens_per_s));
    line(fmt::format("  misses: {} on TTFT, {} on TBT (a request may miss both), {} rejected, {} unfinished",
                     o.missed_ttft, o.missed_tbt, o.rejected, o.unfinished));
  }
  line("");
  line(fmt::format("{:<10} {:<7} {:<10} {:>5} {:>7} {:>9} {:>10} {:>10} {:>7}", "pool", "role", "hw", "GPUs", "MFU",
                   "HBM bw", "HBM mean", "HBM peak", "busy"));
  for (const auto& p : s.pools) {
    line(fmt::format("{:<10} {:<7} {:<10} {:>5} {:>6.1f}% {:>8.1f}% {:>9.1f}% {:>9.1f}% {:>6.1f}%", p.name, p.role, p.hw,
                     p.gpus, 100 * p.mfu, 100 * p.bw_util, 100 * p.hbm_used_mean, 100 * p.hbm_used_peak, 100 * p.busy));
  }
  std::vector<nlohmann::json> cal;
  for (const auto& p : s.pools) {
    if (const auto l = calibration_line(p.name, p.calibration, p.measured_share); !l.empty()) line(l);
    cal.push_back(p.calibration);
  }
  if (const auto w = calibration_warning(cal); !w.empty()) line(w);
  for (const auto& p : s.pools) {
    if (p.kv_capacity_tokens <= 0) continue;
    if (p.kv_block_tokens > 0) {
      line(fmt::format("KV cache of pool {}: {} blocks of {} tokens per instance ({} tokens)", p.name,
                       p.kv_capacity_tokens / p.kv_block_tokens, p.kv_block_tokens, p.kv_capacity_tokens));
    } else {
      line(fmt::format("KV cache of pool {}: {} tokens per instance, reserved at admission", p.name, p.kv_capacity_tokens));
    }
  }
  if (!r.counters.empty()) {
    line("");
    for (const auto& [k, v] : r.counters) line(fmt::format("  {:<36} {:>14.6g}", k, v));
  }
  line(fmt::format("(simulated in {:.3f} s of wall time, {} events)", r.wall_seconds, r.events));
  return out;
}

void write_requests_csv(const RunResult& r, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) throw InputError(fmt::format("{}: cannot write file", path));
  std::fputs("id,arrival_s,ttft_s,e2e_s,tbt_s,input_tokens,output_tokens,instance,status\n", f);
  for (const auto& q : r.requests) {
    const char* status = q.rejected ? "rejected" : (q.finish < 0 ? "unfinished" : "finished");
    double ttft = q.first_token >= 0 ? ns_to_seconds(q.first_token - q.arrival) : -1;
    double e2e = q.finish >= 0 ? ns_to_seconds(q.finish - q.arrival) : -1;
    std::fprintf(f, "%llu,%.9f,%.9f,%.9f,%.9f,%lld,%lld,%d,%s\n", static_cast<unsigned long long>(q.id),
                 ns_to_seconds(q.arrival), ttft, e2e, request_mean_tbt_s(q), static_cast<long long>(q.input_tokens),
                 static_cast<long long>(q.output_tokens), q.instance, status);
  }
  std::fclose(f);
}

void write_load_timeline_csv(const RunResult& r, const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) throw InputError(fmt::format("{}: cannot write file", path));
  std::fputs("t_s,prefill_queue_s,decode_batch\n", f);
  for (const auto& x : r.load_timeline) {
    for (double v : {x.t, x.prefill, x.decode}) check_finite(v, "load_timeline");
    std::fprintf(f, "%.3f,%.6f,%.4f\n", x.t, x.prefill, x.decode);
  }
  std::fclose(f);
}

}  // namespace moska
