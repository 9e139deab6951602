#include "sim/systems/mooncake/options.hpp"

#include "sim/util/json_reader.hpp"

namespace moska::mooncake {

Options parse_options(const Scenario& sc) {
  Options mc;
  auto it = sc.sections.find("mooncake");
  if (it == sc.sections.end()) return mc;
  JsonReader m(it->second, sc.file, "mooncake");
  const std::string policy = m.string_or("policy", "global-cache-aware");
  if (policy == "global-cache-aware") mc.policy = Policy::global;
  else if (policy == "local-cache-aware") mc.policy = Policy::local;
  else if (policy == "load-balance") mc.policy = Policy::load_balance;
  else if (policy == "random") mc.policy = Policy::random;
  else m.fail("policy", "one of global-cache-aware, local-cache-aware, load-balance, random");
  mc.balance_threshold = m.number_or("balance_threshold", mc.balance_threshold);
  if (!(mc.balance_threshold >= 1)) m.fail("balance_threshold", "a ratio >= 1");
  mc.admission_name = m.string_or("admission", mc.admission_name);
  if (mc.admission_name == "none") mc.admission = Admission::none;
  else if (mc.admission_name == "decode") mc.admission = Admission::decode;
  else if (mc.admission_name == "baseline") mc.admission = Admission::baseline;
  else if (mc.admission_name == "early") mc.admission = Admission::early;
  else if (mc.admission_name == "predicted") mc.admission = Admission::predicted;
  else m.fail("admission", "one of none, decode, baseline, early, predicted");
  if (m.has("dram_gib")) mc.dram_gib = m.number("dram_gib");
  if (m.has("dram_gib") && mc.dram_gib < 0) m.fail("dram_gib", "a non-negative size in GiB");
  mc.ssd_gib = m.number_or("ssd_gib", 0.0);
  if (mc.ssd_gib < 0) m.fail("ssd_gib", "a non-negative size in GiB");
  mc.layerwise = m.boolean_or("layerwise", true);
  mc.cpp_nodes = static_cast<int>(m.integer_or("cpp_nodes", 1, 1));
  mc.cpp_chunk_tokens = m.integer_or("cpp_chunk_tokens", 1, mc.cpp_chunk_tokens);
  mc.sample_interval_s = m.number_or("sample_interval_s", mc.sample_interval_s);
  if (mc.sample_interval_s < 0) m.fail("sample_interval_s", "a non-negative number of seconds");
  mc.predicted_output_tokens = m.number_or("predicted_output_tokens", mc.predicted_output_tokens);
  if (!(mc.predicted_output_tokens >= 1)) m.fail("predicted_output_tokens", "a number of tokens >= 1");
  m.finish();
  return mc;
}

}  // namespace moska::mooncake
