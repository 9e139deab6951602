// `moska-sim run [scenario]`: one discrete-event replay, summary table, JSON and per-request CSV.
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

void add_run(CLI::App& app, int& result) {
  auto* cmd = app.add_subcommand("run", "Simulate a scenario (default: a MoSKA what-if on H100s) and print its summary");
  struct Opts {
    std::string scenario;
    std::vector<std::string> sets;
    std::string out;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("scenario", o->scenario, "Scenario name (workloads/<name>.json) or path; omitted: the built-in default");
  cmd->add_option("--set", o->sets, "Override a scenario key: KEY=VALUE (e.g. system=vllm, sparsity=0.9, shared_tokens=4M)");
  cmd->add_option("--out", o->out, "Folder to write summary.json and requests.csv into");
  cmd->add_flag("--json", o->json, "Print the summary as JSON instead of a table");
  cmd->callback([o, &result]() {
    std::string where;
    std::filesystem::path base;
    auto j = scenario_json_with_overrides(o->scenario, o->sets, where, base);
    Scenario sc = parse_scenario(j, where, base);
    auto reqs = load_workload(sc);
    RunResult r = simulate(sc, reqs);
    Summary s = summarize(r);
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
    }
    result = 0;
  });
}

}  // namespace moska::cli
