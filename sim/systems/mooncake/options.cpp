#include "sim/systems/mooncake/options.hpp"

#include "sim/util/json_reader.hpp"

namespace moska::mooncake {

namespace {
// Bounds that keep the arithmetic meaningful; far above any real deployment.
constexpr double kMaxRatio = 1e6;
constexpr double kMaxStoreGiB = 1 << 20;  // 1 PiB per prefill instance
constexpr std::int64_t kMaxTokens = std::int64_t{1} << 30;
}  // namespace

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
  mc.balance_threshold = m.number_in_or("balance_threshold", 1, kMaxRatio, mc.balance_threshold);
  mc.admission_name = m.string_or("admission", mc.admission_name);
  if (mc.admission_name == "none") mc.admission = Admission::none;
  else if (mc.admission_name == "decode") mc.admission = Admission::decode;
  else if (mc.admission_name == "baseline") mc.admission = Admission::baseline;
  else if (mc.admission_name == "early") mc.admission = Admission::early;
  else if (mc.admission_name == "predicted") mc.admission = Admission::predicted;
  else m.fail("admission", "one of none, decode, baseline, early, predicted");
  if (m.has("dram_gib")) mc.dram_gib = m.number_in("dram_gib", 0, kMaxStoreGiB, "GiB");
  mc.ssd_gib = m.number_in_or("ssd_gib", 0, kMaxStoreGiB, 0.0, "GiB");
  mc.layerwise = m.boolean_or("layerwise", true);
  // cpp_nodes must also divide the prefill pool's instances: checked where the pools are known.
  mc.cpp_nodes = m.int32_or("cpp_nodes", 1, 1);
  mc.cpp_chunk_tokens = m.integer_or("cpp_chunk_tokens", 1, mc.cpp_chunk_tokens, kMaxTokens);
  mc.sample_interval_s = m.number_or("sample_interval_s", mc.sample_interval_s);
  if (mc.sample_interval_s != 0 && !(mc.sample_interval_s >= 1e-3 && mc.sample_interval_s <= 86400))
    m.fail("sample_interval_s", "0 (no load timeline) or seconds in [0.001, 86400]");
  mc.predicted_output_tokens = m.number_in_or("predicted_output_tokens", 1, kMaxTokens, mc.predicted_output_tokens, "tokens");
  m.finish();
  return mc;
}

}  // namespace moska::mooncake
