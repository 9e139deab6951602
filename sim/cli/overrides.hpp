#pragma once
// Scenario input from the command line: the scenario named (or the built-in default) with its
// `--set KEY=VALUE` overrides applied, numbers with K/M/G suffixes, and SLO flags. The only place
// that parses flags and overrides.
#include <filesystem>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/metrics/slo.hpp"
#include "sim/serving/scenario.hpp"

namespace moska::cli {

// "1M" -> 1048576, "2.5K" -> 2560, "0.75" -> 0.75; returns false if not a finite decimal number
// (sim/util/numbers.hpp: "inf", "nan", "0x10", " 5" are not).
bool parse_scaled_number(const std::string& s, double& out);
// A flag's number (K/M/G allowed), >= 0 or > 0, at most max_value; throws InputError naming the flag.
double parse_flag_number(const std::string& flag, const std::string& text, bool allow_zero,
                         double max_value = std::numeric_limits<double>::max());
// The dotted path a `--set` key stands for (an alias such as "requests" resolved; else the key).
std::string resolve_override_key(const std::string& key);

// Sets `key` (a dotted path such as "shared.sparsity", or an alias: sparsity, shared_tokens, chunk,
// hw, instances, tp, rate, requests, skew, zipf_s, max_batch, speedup, prefix_caching,
// chunked_prefill, and those the systems add, e.g. policy, admission) to `value` (parsed as a number
// with optional K/M/G suffix, true/false, a JSON array or object when it starts with [ or {, else a
// string). Throws InputError on a bad path.
void apply_override(nlohmann::json& scenario, const std::string& key, const std::string& value);

// The scenario `name` (workloads/<name>.json, a path, or ""/"default" for the built-in one) with
// `sets` applied; `where` and `base` say where it came from (for messages and relative paths).
nlohmann::json scenario_json_with_overrides(const std::string& name, const std::vector<std::string>& sets,
                                            std::string& where, std::filesystem::path& base);
// The same, parsed and validated with the sections registered systems read.
Scenario scenario_with_overrides(const std::string& name, const std::vector<std::string>& sets);

// `sets` with slo.tbt_slowest_percent=PCT added when --slo-tbt-slowest PCT was given (a number in
// (0, 100]; throws InputError otherwise); unchanged when `pct` is empty.
std::vector<std::string> with_tbt_slowest(std::vector<std::string> sets, const std::string& pct);

// The scenario's SLO with --slo-ttft / --slo-tbt applied (empty flag: keep the scenario's).
SloSpec slo_with_flags(const Scenario& sc, const std::string& ttft, const std::string& tbt);

}  // namespace moska::cli
