// `moska-sim run [scenario]`: one discrete-event replay, summary table, JSON and per-request CSV;
// with an SLO (scenario "slo" or --slo-ttft/--slo-tbt), its attainment and goodput.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "sim/cli/commands.hpp"
#include "sim/serving/serving_sim.hpp"
#include "sim/serving/workload_loader.hpp"
#include "sim/util/error.hpp"
#include "sim/util/json_reader.hpp"
#include "sim/util/paths.hpp"

namespace moska::cli {

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

void add_run(CLI::App& app, int& result) {
  auto* cmd = app.add_subcommand("run", "Simulate a scenario (default: a MoSKA what-if on H100s) and print its summary");
  struct Opts {
    std::string scenario;
    std::vector<std::string> sets;
    std::string out;
    std::string slo_ttft, slo_tbt;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("scenario", o->scenario, "Scenario name (workloads/<name>.json) or path; omitted: the built-in default");
  cmd->add_option("--set", o->sets, "Override a scenario key: KEY=VALUE (e.g. system=vllm, sparsity=0.9, shared_tokens=4M)");
  cmd->add_option("--out", o->out, "Folder to write summary.json, scenario.json, requests.csv (and load_timeline.csv for mooncake) into");
  cmd->add_option("--slo-ttft", o->slo_ttft, "SLO bound on time to first token, seconds (0 = unbounded; overrides the scenario's slo.ttft_s)");
  cmd->add_option("--slo-tbt", o->slo_tbt, "SLO bound on a request's mean time between tokens, seconds (0 = unbounded; overrides slo.tbt_s)");
  cmd->add_flag("--json", o->json, "Print the summary as JSON instead of a table");
  cmd->callback([o, &result]() {
    std::string where;
    std::filesystem::path base;
    auto j = scenario_json_with_overrides(o->scenario, o->sets, where, base);
    Scenario sc = parse_scenario(j, where, base);
    SloSpec slo = slo_with_flags(sc, o->slo_ttft, o->slo_tbt);
    auto reqs = load_workload(sc);
    RunResult r = simulate(sc, reqs);
    Summary s = summarize(r, slo);
    auto sj = summary_json(r, s);
    if (o->json) {
      std::cout << sj.dump(2) << "\n";
    } else {
      std::cout << summary_table(r, s);
    }
    if (!o->out.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(o->out, ec);
      if (ec) throw InputError(fmt::format("--out {}: cannot create folder ({})", o->out, ec.message()));
      std::ofstream(o->out + "/summary.json") << sj.dump(2) << "\n";
      std::ofstream(o->out + "/scenario.json") << j.dump(2) << "\n";
      write_requests_csv(r, o->out + "/requests.csv");
      if (!r.load_timeline.empty()) write_load_timeline_csv(r, o->out + "/load_timeline.csv");
    }
    result = 0;
  });
}

}  // namespace moska::cli
