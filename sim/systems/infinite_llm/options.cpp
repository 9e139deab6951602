#include "sim/systems/infinite_llm/options.hpp"

#include "sim/util/json_reader.hpp"

namespace moska::infinite_llm {

Options parse_options(const Scenario& sc) {
  Options o;
  auto it = sc.sections.find("infinite_llm");
  if (it == sc.sections.end()) return o;
  JsonReader m(it->second, sc.file, "infinite_llm");
  o.lending_name = m.string_or("lending", o.lending_name);
  if (o.lending_name == "none") o.lending = Lending::none;
  else if (o.lending_name == "reactive") o.lending = Lending::reactive;
  else if (o.lending_name == "planner") o.lending = Lending::planner;
  else m.fail("lending", "one of none, reactive, planner");
  o.lend_cap = m.number_in_or("lend_cap", 0, 1, o.lend_cap);
  o.prefer_same_node = m.boolean_or("prefer_same_node", o.prefer_same_node);
  o.heartbeat_s = m.number_in_or("heartbeat_s", 1e-4, 3600, o.heartbeat_s, "seconds");
  o.planner_period_s = m.number_in_or("planner_period_s", 1e-4, 3600, o.planner_period_s, "seconds");
  if (o.planner_period_s < o.heartbeat_s) m.fail("planner_period_s", "a period >= heartbeat_s");
  o.debtor_batch = m.integer_or("debtor_batch", 1, o.debtor_batch, 1 << 20);
  o.creditor_util = m.number_in_or("creditor_util", 0, 1, o.creditor_util);
  o.migrate_tokens_per_step = m.integer_or("migrate_tokens_per_step", 1, o.migrate_tokens_per_step, 1 << 24);
  const std::string pb = m.string_or("planner_borrows", "oversize");
  if (pb == "any") o.planner_borrows_any = true;
  else if (pb != "oversize") m.fail("planner_borrows", "one of oversize, any");
  if (m.has("inter_node_bw_gbps")) o.inter_node_bw_bps = m.number_in("inter_node_bw_gbps", 1e-3, 1e4, "GB/s") * 1e9;
  if (m.has("inter_node_latency_s")) o.inter_node_latency_s = m.number_in("inter_node_latency_s", 0, 1, "seconds");
  o.pipeline_stages = m.int32_or("pipeline_stages", 1, o.pipeline_stages, 1024);
  o.pipeline_microbatches = m.int32_or("pipeline_microbatches", 1, o.pipeline_microbatches, 1024);
  const std::string ps = m.string_or("pipeline_schedule", "flush");
  if (ps == "flush") o.pipeline_schedule = PipelineSchedule::flush;
  else if (ps == "steady") o.pipeline_schedule = PipelineSchedule::steady;
  else m.fail("pipeline_schedule", "one of flush, steady");
  const std::string rp = m.string_or("remote_prefill", "cheaper");
  if (rp == "cheaper") o.remote_prefill = RemotePrefill::cheaper;
  else if (rp == "ship-queries") o.remote_prefill = RemotePrefill::ship_queries;
  else if (rp == "pull-kv") o.remote_prefill = RemotePrefill::pull_kv;
  else m.fail("remote_prefill", "one of cheaper, ship-queries, pull-kv");
  m.finish();
  return o;
}

}  // namespace moska::infinite_llm
