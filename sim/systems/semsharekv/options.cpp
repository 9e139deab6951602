#include "sim/systems/semsharekv/options.hpp"

#include "sim/util/json_reader.hpp"

namespace moska::semsharekv {

namespace {
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

double fraction(const JsonReader& r, const std::string& key, double fallback) {
  const double v = r.number_or(key, fallback);
  if (!(v >= 0 && v <= 1)) r.fail(key, "a fraction in [0, 1]");
  return v;
}
double non_negative(const JsonReader& r, const std::string& key, double fallback) {
  const double v = r.number_or(key, fallback);
  if (!(v >= 0)) r.fail(key, "a number >= 0");
  return v;
}
// An exponential in depth: "first", "decay", "min".
void parse_decay(const JsonReader& r, double& first, double& decay, double& min) {
  first = fraction(r, "first", first);
  decay = non_negative(r, "decay", decay);
  min = fraction(r, "min", min);
}
}  // namespace

Options parse_options(const Scenario& sc) {
  Options o;
  auto it = sc.sections.find("semsharekv");
  if (it == sc.sections.end()) return o;
  JsonReader m(it->second, sc.file, "semsharekv");
  o.policy_name = m.string_or("policy", o.policy_name);
  if (o.policy_name == "semantic") o.policy = Policy::semantic;
  else if (o.policy_name == "cacheblend") o.policy = Policy::cacheblend;
  else if (o.policy_name == "full") o.policy = Policy::full;
  else m.fail("policy", "one of semantic, cacheblend, full");
  const std::string attn = m.string_or("attention", "flash");
  if (attn == "flash") o.attention = AttentionImpl::flash;
  else if (attn == "eager") o.attention = AttentionImpl::eager;
  else m.fail("attention", "flash or eager");
  o.eager_memory_efficiency = fraction(m, "eager_memory_efficiency", o.eager_memory_efficiency);
  if (o.eager_memory_efficiency <= 0) m.fail("eager_memory_efficiency", "a fraction in (0, 1]");
  o.eager_kernel_overhead_s = non_negative(m, "eager_kernel_overhead_s", o.eager_kernel_overhead_s);
  o.threshold = fraction(m, "threshold", o.threshold);
  if (m.has("recompute")) {
    JsonReader r = m.object("recompute");
    o.recompute.full_layers = r.integer_or("full_layers", 0, o.recompute.full_layers);
    parse_decay(r, o.recompute.first, o.recompute.decay, o.recompute.min);
    r.finish();
  }
  if (m.has("retain")) {
    JsonReader r = m.object("retain");
    parse_decay(r, o.retain.first, o.retain.decay, o.retain.min);
    r.finish();
  }
  if (m.has("cacheblend")) {
    JsonReader r = m.object("cacheblend");
    o.cacheblend_ratio = fraction(r, "ratio", o.cacheblend_ratio);
    o.cacheblend_check_layers = r.integer_or("check_layers", 0, o.cacheblend_check_layers);
    o.chunk_sentences = r.integer_or("chunk_sentences", 1, o.chunk_sentences);
    o.cacheblend_fixed_s = non_negative(r, "fixed_s", o.cacheblend_fixed_s);
    r.finish();
  }
  if (m.has("store")) {
    JsonReader r = m.object("store");
    o.store_bytes = non_negative(r, "capacity_gib", o.store_bytes / kGiB) * kGiB;
    o.preload = r.boolean_or("preload", o.preload);
    r.finish();
  }
  if (m.has("match")) {
    JsonReader r = m.object("match");
    o.fixed_s = non_negative(r, "fixed_s", o.fixed_s);
    o.search_s_per_prompt = non_negative(r, "search_s_per_prompt", o.search_s_per_prompt);
    o.match_s_per_pair = non_negative(r, "match_s_per_pair", o.match_s_per_pair);
    r.finish();
  }
  if (m.has("load")) {
    JsonReader r = m.object("load");
    if (r.has("bandwidth_gbps")) {
      const double g = r.number("bandwidth_gbps");
      if (!(g > 0)) r.fail("bandwidth_gbps", "a bandwidth in GB/s > 0");
      o.load_bw_bps = g * 1e9;
    }
    o.load_latency_s = non_negative(r, "latency_s", o.load_latency_s);
    r.finish();
  }
  m.finish();
  return o;
}

}  // namespace moska::semsharekv
