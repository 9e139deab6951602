#include "sim/cli/overrides.hpp"

#include <cmath>
#include <functional>
#include <limits>

#include <fmt/format.h>

#include "sim/systems/system.hpp"
#include "sim/util/error.hpp"
#include "sim/util/json_reader.hpp"
#include "sim/util/numbers.hpp"
#include "sim/util/paths.hpp"

namespace moska::cli {

namespace {
DecimalParse parse_scaled(const std::string& s, double& out) {
  if (s.empty()) return DecimalParse::not_a_number;
  std::string_view body = s;
  double scale = 1;
  char last = body.back();
  if (last == 'K' || last == 'k') scale = 1024.0;
  if (last == 'M' || last == 'm') scale = 1024.0 * 1024.0;
  if (last == 'G' || last == 'g') scale = 1024.0 * 1024.0 * 1024.0;
  if (scale != 1) body.remove_suffix(1);
  double v = 0;
  const DecimalParse p = parse_decimal(body, v);
  if (p != DecimalParse::ok) return p;
  if (!std::isfinite(v * scale)) return DecimalParse::out_of_range;
  out = v * scale;
  return DecimalParse::ok;
}
}  // namespace

bool parse_scaled_number(const std::string& s, double& out) { return parse_scaled(s, out) == DecimalParse::ok; }

std::string resolve_override_key(const std::string& key) {
  static const std::vector<std::pair<std::string, std::string>> aliases = {
      {"sparsity", "shared.sparsity"}, {"shared_tokens", "shared.tokens"}, {"chunk", "shared.chunk_tokens"},
      {"hw", "pools.*.hw"},           {"instances", "pools.0.instances"}, {"tp", "pools.*.tp"},
      {"rate", "workload.generator.arrival.rate_per_s"}, {"requests", "workload.generator.requests"},
      {"skew", "shared.routing.skew"}, {"zipf_s", "shared.routing.zipf_s"},
      {"max_batch", "scheduler.max_batch"}, {"speedup", "workload.trace.speedup"},
      {"prefix_caching", "scheduler.prefix_caching"}, {"chunked_prefill", "scheduler.chunked_prefill"}};
  std::string path = key;
  for (const auto& [a, p] : aliases) {
    if (a == key) path = p;
  }
  for (const System* sys : all_systems()) {
    for (const auto& [a, p] : sys->override_aliases()) {
      if (a == key) path = p;
    }
  }
  return path;
}


void apply_override(nlohmann::json& sc, const std::string& key, const std::string& value) {
  const std::string path = resolve_override_key(key);
  nlohmann::json v;
  double num;
  const DecimalParse parsed = parse_scaled(value, num);
  if (parsed == DecimalParse::out_of_range) {
    throw InputError(fmt::format("--set {}={}: the number is beyond a double (expected a finite number)", key, value));
  }
  if (parsed == DecimalParse::ok) {
    if (std::floor(num) == num && std::fabs(num) < 9e15) v = static_cast<std::int64_t>(num);
    else v = num;
  } else if (value == "true" || value == "false") {
    v = value == "true";
  } else if (!value.empty() && (value.front() == '[' || value.front() == '{')) {
    v = parse_json_text(value, fmt::format("--set {}", key));  // a JSON array or object (e.g. pools=[...])
  } else {
    v = value;
  }
  // Walk the dotted path; "*" applies to every element of an array.
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto dot = path.find('.', start);
    parts.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  std::function<void(nlohmann::json&, std::size_t)> set = [&](nlohmann::json& node, std::size_t i) {
    const std::string& p = parts[i];
    bool last = i + 1 == parts.size();
    if (node.is_array()) {
      if (p == "*") {
        for (auto& e : node) last ? void(e = v) : set(e, i + 1);
        return;
      }
      std::size_t idx = 0;
      try {
        idx = std::stoul(p);
      } catch (...) {
        throw InputError(fmt::format("--set {}: '{}' is not an array index", key, p));
      }
      if (idx >= node.size()) throw InputError(fmt::format("--set {}: index {} out of range", key, idx));
      last ? void(node[idx] = v) : set(node[idx], i + 1);
      return;
    }
    if (!node.is_object()) throw InputError(fmt::format("--set {}: '{}' is not an object in the scenario", key, p));
    if (last) {
      node[p] = v;
      return;
    }
    if (!node.contains(p)) node[p] = nlohmann::json::object();
    set(node[p], i + 1);
  };
  set(sc, 0);
}

nlohmann::json scenario_json_with_overrides(const std::string& name, const std::vector<std::string>& sets,
                                            std::string& where, std::filesystem::path& base) {
  nlohmann::json j;
  if (name.empty() || name == "default") {
    j = default_scenario_json();
    where = "<default scenario>";
    base = data_root() / "workloads";
  } else {
    auto path = resolve_named_json(name, "workloads", "scenario");
    j = load_json_file(path);
    where = path.string();
    base = path.parent_path();
  }
  for (const auto& s : sets) {
    auto eq = s.find('=');
    if (eq == std::string::npos || eq == 0) throw InputError(fmt::format("--set '{}': expected KEY=VALUE", s));
    apply_override(j, s.substr(0, eq), s.substr(eq + 1));
  }
  return j;
}

double parse_flag_number(const std::string& flag, const std::string& text, bool allow_zero, double max_value) {
  double v = 0;
  if (!parse_scaled_number(text, v) || !std::isfinite(v) || (allow_zero ? v < 0 : v <= 0)) {
    throw InputError(fmt::format("{} {}: expected a number {}", flag, text, allow_zero ? ">= 0" : "> 0"));
  }
  if (v > max_value) throw InputError(fmt::format("{} {}: expected a number <= {}", flag, text, max_value));
  return v;
}

namespace {
double slo_flag(const char* flag, const std::string& text, double max_s) {
  const double v = parse_flag_number(flag, text, true);
  if (v > max_s) {
    throw InputError(fmt::format("{} {}: expected seconds, at most {} (0 = unbounded; milliseconds?)", flag, text, max_s));
  }
  return v;
}
}  // namespace

SloSpec slo_with_flags(const Scenario& sc, const std::string& ttft, const std::string& tbt) {
  SloSpec slo = sc.slo;
  if (!ttft.empty()) slo.ttft_s = slo_flag("--slo-ttft", ttft, kMaxSloTtftSeconds);
  if (!tbt.empty()) slo.tbt_s = slo_flag("--slo-tbt", tbt, kMaxSloTbtSeconds);
  return slo;
}

std::vector<std::string> with_tbt_slowest(std::vector<std::string> sets, const std::string& pct) {
  if (pct.empty()) return sets;
  const double v = parse_flag_number("--slo-tbt-slowest", pct, false, 100);
  sets.push_back(fmt::format("slo.tbt_slowest_percent={}", v));
  return sets;
}

Scenario scenario_with_overrides(const std::string& name, const std::vector<std::string>& sets) {
  std::string where;
  std::filesystem::path base;
  const auto j = scenario_json_with_overrides(name, sets, where, base);
  return parse_scenario_for_systems(j, where, base);
}

}  // namespace moska::cli
