// `moska-sim scaling [scenario] --ctx N --systems a,b`: batch-scaling capability and throughput of
// each system at the largest decode batch whose KV fits (sim/serving/scaling.hpp).
#include <fstream>
#include <iostream>

#include <fmt/format.h>

#include "sim/cli/commands.hpp"
#include "sim/cli/overrides.hpp"
#include "sim/analysis/scaling.hpp"
#include "sim/systems/system.hpp"
#include "sim/util/error.hpp"

namespace moska::cli {

void add_scaling(CLI::App& app, int& result) {
  auto* cmd = app.add_subcommand(
      "scaling", "Batch-scaling capability and throughput of each system at the largest decode batch that fits");
  struct Opts {
    std::string scenario;
    std::vector<std::string> sets;
    std::string ctx = "65536";
    std::string systems;
    std::string max_batch = "0";
    std::string baseline;
    std::string csv;
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("scenario", o->scenario, "Scenario name (workloads/<name>.json) or path; omitted: the built-in default");
  cmd->add_option("--set", o->sets, "Override a scenario key: KEY=VALUE (as in run), e.g. shared_tokens=4M");
  cmd->add_option("--ctx", o->ctx, "Unique KV tokens per request (K/M suffixes; default 65536)");
  std::string defaults, baselines;
  for (const System* s : all_systems()) {
    if (s->compared_by_default()) defaults += (defaults.empty() ? "" : ",") + std::string(s->name());
    if (s->baseline_rank() == 0) baselines += (baselines.empty() ? "" : ", ") + std::string(s->name());
  }
  cmd->add_option("--systems", o->systems, "Comma-separated systems (default: " + defaults + ")");
  cmd->add_option("--max-batch", o->max_batch, "Cap the decode batch per logical instance (0 = no cap)");
  cmd->add_option("--baseline", o->baseline,
                  "Normalise to this system (default: " + baselines + ", else the first baseline that fits)");
  cmd->add_option("--csv", o->csv, "Write one CSV row per system to FILE");
  cmd->add_flag("--json", o->json, "Print JSON instead of a table");
  cmd->callback([o, &result]() {
    std::string where;
    std::filesystem::path base;
    auto j = scenario_json_with_overrides(o->scenario, o->sets, where, base);
    Scenario sc = parse_scenario_for_systems(j, where, base);
    ScalingOptions opt;
    double v = 0;
    if (!parse_scaled_number(o->ctx, v) || v < 1 || v != static_cast<double>(static_cast<std::int64_t>(v))) {
      throw InputError(fmt::format("--ctx {}: expected a whole number of tokens >= 1 (K/M suffixes allowed)", o->ctx));
    }
    opt.ctx = static_cast<std::int64_t>(v);
    if (!parse_scaled_number(o->max_batch, v) || v < 0 || v != static_cast<double>(static_cast<std::int64_t>(v))) {
      throw InputError(fmt::format("--max-batch {}: expected a whole number >= 0", o->max_batch));
    }
    opt.max_batch = static_cast<std::int64_t>(v);
    if (!o->systems.empty()) {
      std::size_t start = 0;
      for (;;) {
        auto p = o->systems.find(',', start);
        auto s = o->systems.substr(start, p == std::string::npos ? std::string::npos : p - start);
        if (s.empty()) throw InputError(fmt::format("--systems {}: empty name", o->systems));
        opt.systems.push_back(s);
        if (p == std::string::npos) break;
        start = p + 1;
      }
    }
    opt.baseline = o->baseline;
    ScalingResult r = scaling_analysis(sc, opt);
    if (o->json) {
      std::cout << scaling_json(r).dump(2) << "\n";
    } else {
      std::cout << scaling_table(r);
    }
    if (!o->csv.empty()) {
      std::ofstream f(o->csv);
      if (!f) throw InputError(fmt::format("--csv {}: cannot write file", o->csv));
      auto cols = scaling_csv_columns(r);
      for (std::size_t i = 0; i < cols.size(); ++i) f << (i ? "," : "") << cols[i];
      f << "\n";
      for (const auto& row : scaling_csv_rows(r)) {
        for (std::size_t i = 0; i < row.size(); ++i) f << (i ? "," : "") << row[i];
        f << "\n";
      }
    }
    result = 0;
  });
}

}  // namespace moska::cli
