#include "sim/systems/system.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sim/util/error.hpp"

namespace moska {

std::vector<std::string> system_names() {
  std::vector<std::string> out;
  for (const System* s : all_systems()) out.emplace_back(s->name());
  return out;
}

int gpus_in_roles(const Scenario& sc, const std::vector<std::string>& roles) {
  int n = 0;
  for (const auto& p : sc.pools) {
    if (std::find(roles.begin(), roles.end(), p.role) != roles.end()) n += p.instances * p.tp;
  }
  return n;
}

const System& find_system(const std::string& name) {
  for (const System* s : all_systems()) {
    if (s->name() == name) return *s;
  }
  throw InputError(fmt::format("unknown system '{}': expected one of [{}]", name, fmt::join(system_names(), ", ")));
}

Scenario parse_scenario_for_systems(const nlohmann::json& j, const std::string& where, const std::filesystem::path& base_dir) {
  std::vector<std::string> sections;
  for (const System* s : all_systems()) {
    for (auto& k : s->sections()) sections.push_back(std::move(k));
  }
  Scenario sc = parse_scenario(j, where, base_dir, sections);
  for (const System* s : all_systems()) s->check_sections(sc);
  return sc;
}

RunResult simulate(const Scenario& scenario, const std::vector<Request>& requests, const RunOptions& opt) {
  const auto configured = find_system(scenario.system).configure(scenario);
  // Every request's own span (prompt + output) must fit the model's context, unless the deployment
  // serves it with context parallelism. With a shared context the system checks the whole span (its
  // own tokens and the shared tokens it attends) and names both.
  if (!configured->own_span_parallel() && configured->shared_tokens() == 0) {
    const auto& m = configured->model();
    for (std::size_t i = 0; i < requests.size(); ++i) {
      const auto& q = requests[i];
      if (q.input_tokens + q.output_tokens <= m.max_context) continue;
      throw InputError(fmt::format("{}: request {} (prompt {}, output {}) spans {} tokens but {} has max_context {} "
                                   "(models/{}.json): serve it with context parallelism (key 'context_parallel.degree' >= 2) "
                                   "or a model whose max_context covers the workload",
                                   scenario.file, i, q.input_tokens, q.output_tokens, q.input_tokens + q.output_tokens,
                                   m.name, m.max_context, m.name));
    }
  }
  ServingLoop loop(scenario, requests);
  return loop.run(*configured, opt);
}

ScalingRow System::scaling_row(const Scenario& base, const ScalingOptions& opt) const {
  ScalingRow row;
  row.system = std::string(name());
  Scenario sc = base;
  sc.system = row.system;
  row.gpus = scenario_gpus(sc);
  std::unique_ptr<ConfiguredSystem> cm;
  try {
    cm = configure(sc);
  } catch (const InputError& e) {
    row.why = e.what();
    return row;
  }
  if (const auto why = cm->steady_state_unsupported(); !why.empty()) {
    row.why = why;
    return row;
  }
  if (const auto why = cm->span_error(opt.ctx); !why.empty()) {
    row.why = why;
    return row;
  }
  const double kv_tok = cm->model().kv_bytes_per_token(sc.precision.kv);
  row.tokens_per_request = cm->tokens_per_request(opt.ctx);
  row.read_per_request = cm->read_per_request(opt.ctx);
  row.logical_instances = cm->logical_instances();
  row.kv_groups = cm->kv_groups();
  // A request's KV lives on one TP group: whole requests per group.
  const std::int64_t per_group_capacity = cm->capacity_tokens() / row.kv_groups;
  const std::int64_t per_instance = per_group_capacity / row.tokens_per_request * row.kv_groups;
  row.capacity_tokens = cm->capacity_tokens() * row.logical_instances;
  row.batch_capability = per_instance * row.logical_instances;
  if (per_instance == 0) {
    row.why = fmt::format("one request holds {} KV tokens but a TP group has room for {} (after weights{})",
                          row.tokens_per_request, per_group_capacity, cm->resident_note());
    return row;
  }
  std::int64_t b = per_instance;
  if (opt.max_batch > 0 && b > opt.max_batch) {
    b = opt.max_batch;
    row.capped = true;
  }
  row.fits = true;
  row.batch = b * row.logical_instances;

  // One decode step of the full batch on one logical instance.
  IterStats st;
  cm->decode_step(b, row.read_per_request, st);
  row.step_s = st.seconds;
  row.tokens_per_s = static_cast<double>(row.batch) / st.seconds;
  row.gpus = 0;
  const auto pools = cm->pool_stats();
  for (std::size_t i = 0; i < pools.size(); ++i) {
    const auto& p = pools[i];
    ScalingPool sp;
    sp.name = p.name;
    sp.role = p.role;
    sp.hw = p.hw;
    sp.gpus = p.gpus;
    double flops = 0, bytes = 0, measured = 0;
    for (const auto& c : st.charges) {
      if (c.pool != static_cast<int>(i)) continue;
      flops += c.flops;
      bytes += c.bytes;
      measured += c.measured_s;
    }
    sp.calibration = p.calibration;
    sp.measured_share = measured / st.seconds;
    // Pool 0's work is one logical instance's; its instances all run the same step.
    const double mult = i == 0 ? static_cast<double>(row.logical_instances) : 1.0;
    sp.flops = flops * mult;
    sp.bytes = bytes * mult;
    sp.mfu = sp.flops / (st.seconds * p.gpus * p.peak_flops_per_gpu);
    sp.hbm_bw_util = sp.bytes / (st.seconds * p.gpus * p.hbm_bw_per_gpu);
    if (i == 0) {
      const double held = cm->fixed_bytes() + static_cast<double>(b) * static_cast<double>(row.tokens_per_request) * kv_tok;
      sp.hbm_capacity_util = held / cm->instance_hbm_bytes();
    } else {
      sp.hbm_capacity_util = static_cast<double>(cm->shared_tokens()) * kv_tok / (p.gpus * p.hbm_bytes_per_gpu);
    }
    row.gpus += p.gpus;
    row.pools.push_back(sp);
  }
  row.tokens_per_s_per_gpu = row.tokens_per_s / row.gpus;
  return row;
}

}  // namespace moska
