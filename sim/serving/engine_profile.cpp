#include "sim/serving/engine_profile.hpp"

#include <fmt/format.h>

#include "sim/util/error.hpp"
#include "sim/util/json_reader.hpp"
#include "sim/util/paths.hpp"

namespace moska {

namespace {

// {"value": v, "source": "..."} of any JSON type: the value, after checking that a source is named.
nlohmann::json sourced_value(const JsonReader& r, const std::string& key) {
  const JsonReader o = r.object(key);
  const nlohmann::json& v = o.raw("value");
  const std::string src = o.string("source");
  o.finish();
  if (src.empty()) r.fail(key + ".source", "a non-empty string naming where the value comes from");
  return v;
}

bool sourced_bool(const JsonReader& r, const std::string& key) {
  const auto v = sourced_value(r, key);
  if (!v.is_boolean()) r.fail(key + ".value", "true or false");
  return v.get<bool>();
}

}  // namespace

EngineProfile load_engine_profile(const std::string& name_or_path) {
  const auto path = resolve_named_json(name_or_path, "hw_profiles/engines", "engine profile");
  const auto j = load_json_file(path);
  JsonReader r(j, path.string());
  EngineProfile e;
  e.file = path.string();
  e.name = r.string("name");
  r.string_or("description", "");
  if (r.has("scheduler")) {
    const JsonReader s = r.object("scheduler");
    for (const auto& k : s.keys()) e.scheduler[k] = sourced_value(s, k);
  }
  if (r.has("overheads")) {
    const JsonReader o = r.object("overheads");
    if (o.has("request_s")) e.request_s = o.sourced("request_s", true);
    if (o.has("token_s")) e.token_s = o.sourced("token_s", true);
    if (o.has("done_s")) e.done_s = o.sourced("done_s", true);
    if (o.has("latency_s")) e.latency_s = o.sourced("latency_s", true);
    if (o.has("iteration_s")) e.iteration_s = o.sourced("iteration_s", true);
    if (o.has("iteration_per_seq_s")) e.iteration_per_seq_s = o.sourced("iteration_per_seq_s", true);
    if (o.has("overlap")) e.overlap = sourced_bool(o, "overlap");
    o.finish();
  }
  if (r.has("memory")) {
    const JsonReader m = r.object("memory");
    if (m.has("activation_reserve")) e.activation_reserve = sourced_bool(m, "activation_reserve");
    if (m.has("non_torch_bytes")) e.non_torch_bytes = m.sourced("non_torch_bytes", true);
    if (m.has("cuda_graph_bytes")) e.cuda_graph_bytes = m.sourced("cuda_graph_bytes", true);
    m.finish();
  }
  if (r.has("kernels")) {
    const JsonReader k = r.object("kernels");
    if (k.has("fp8_kv_attention")) {
      const auto v = sourced_value(k, "fp8_kv_attention");
      if (v != "tables" && v != "roofline") k.fail("fp8_kv_attention.value", "\"tables\" or \"roofline\"");
      e.fp8_kv_attention_roofline = v == "roofline";
    }
    if (k.has("fused_fp8_quant")) e.fused_fp8_quant = sourced_bool(k, "fused_fp8_quant");
    k.finish();
  }
  r.finish();
  return e;
}

}  // namespace moska
