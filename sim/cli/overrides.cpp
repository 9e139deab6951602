#include "sim/cli/overrides.hpp"

#include <cmath>
#include <functional>

#include <fmt/format.h>

#include "sim/systems/system.hpp"
#include "sim/util/error.hpp"
#include "sim/util/json_reader.hpp"
#include "sim/util/paths.hpp"

namespace moska::cli {

bool parse_scaled_number(const std::string& s, double& out) {
  if (s.empty()) return false;
  std::string body = s;
  double scale = 1;
  char last = body.back();
  if (last == 'K' || last == 'k') scale = 1024.0;
  if (last == 'M' || last == 'm') scale = 1024.0 * 1024.0;
  if (last == 'G' || last == 'g') scale = 1024.0 * 1024.0 * 1024.0;
  if (scale != 1) body.pop_back();
  try {
    std::size_t pos = 0;
    double v = std::stod(body, &pos);
    if (pos != body.size()) return false;
    out = v * scale;
    return true;
  } catch (...) {
    return false;
  }
}


void apply_override(nlohmann::json& sc, const std::string& key, const std::string& value) {
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
  nlohmann::json v;
  double num;
  if (parse_scaled_number(value, num)) {
    if (std::floor(num) == num && std::fabs(num) < 9e15) v = static_cast<std::int64_t>(num);
    else v = num;
  } else if (value == "true" || value == "false") {
    v = value == "true";
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

double parse_flag_number(const std::string& flag, const std::string& text, bool allow_zero) {
  double v = 0;
  if (!parse_scaled_number(text, v) || !std::isfinite(v) || (allow_zero ? v < 0 : v <= 0)) {
    throw InputError(fmt::format("{} {}: expected a number {}", flag, text, allow_zero ? ">= 0" : "> 0"));
  }
  return v;
}

SloSpec slo_with_flags(const Scenario& sc, const std::string& ttft, const std::string& tbt) {
  SloSpec slo = sc.slo;
  if (!ttft.empty()) slo.ttft_s = parse_flag_number("--slo-ttft", ttft, true);
  if (!tbt.empty()) slo.tbt_s = parse_flag_number("--slo-tbt", tbt, true);
  return slo;
}

Scenario scenario_with_overrides(const std::string& name, const std::vector<std::string>& sets) {
  std::string where;
  std::filesystem::path base;
  const auto j = scenario_json_with_overrides(name, sets, where, base);
  return parse_scenario_for_systems(j, where, base);
}

}  // namespace moska::cli
