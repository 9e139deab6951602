// `moska-sim run [scenario]`: one discrete-event replay, summary table, JSON and per-request CSV;
// with an SLO (scenario "slo" or --slo-ttft/--slo-tbt), its attainment and goodput. Exits 1 (after the
// outputs) when no request was served.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <utility>

#include <fmt/format.h>

#include "sim/analysis/chrome_trace.hpp"
#include "sim/cli/commands.hpp"
#include "sim/cli/overrides.hpp"
#include "sim/cli/plots.hpp"
#include "sim/systems/system.hpp"
#include "sim/serving/workload_loader.hpp"
#include "sim/util/error.hpp"
#include "sim/util/json_reader.hpp"
#include "sim/util/paths.hpp"

namespace moska::cli {

void add_run(CLI::App& app, int& result) {
  auto* cmd = app.add_subcommand("run", "Simulate a scenario (default: a MoSKA what-if on H100s) and print its summary");
  struct Opts {
    std::string scenario;
    std::vector<std::string> sets;
    std::string out;
    std::string slo_ttft, slo_tbt, slo_slowest;
    std::string trace;
    bool json = false;
    bool plots = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("scenario", o->scenario, "Scenario name (workloads/<name>.json) or path; omitted: the built-in default");
  cmd->add_option("--set", o->sets, "Override a scenario key: KEY=VALUE (e.g. system=vllm, sparsity=0.9, shared_tokens=4M)");
  cmd->add_option("--out", o->out, "Folder to write summary.json, scenario.json, requests.csv (and load_timeline.csv for mooncake) into");
  cmd->add_option("--slo-ttft", o->slo_ttft, "SLO bound on time to first token, seconds (0 = unbounded; overrides the scenario's slo.ttft_s)");
  cmd->add_option("--slo-tbt", o->slo_tbt, "SLO bound on a request's mean time between tokens, seconds (0 = unbounded; overrides slo.tbt_s)");
  cmd->add_option("--trace", o->trace,
                  "Write the run as a Chrome/Perfetto JSON trace (ui.perfetto.dev): iterations per instance with their "
                  "batch, each request's queue, prefill, transfer, decode and preemption spans");
  cmd->add_option("--slo-tbt-slowest", o->slo_slowest,
                  "A request's TBT is the mean of its slowest PCT% of token gaps (Mooncake: 10; sets slo.tbt_slowest_percent)");
  cmd->add_flag("--json", o->json, "Print the summary as JSON instead of a table");
  cmd->add_flag("--plots", o->plots,
                "Draw latency CDFs, batch, KV and utilisation per pool over time into --out (run.png) with tools/plot_run.py; "
                "writes the trace to --out/trace.json unless --trace names it");
  cmd->callback([o, &result]() {
    std::string where;
    std::filesystem::path base;
    auto j = scenario_json_with_overrides(o->scenario, with_tbt_slowest(o->sets, o->slo_slowest), where, base);
    Scenario sc = parse_scenario_for_systems(j, where, base);
    SloSpec slo = slo_with_flags(sc, o->slo_ttft, o->slo_tbt);
    if (o->plots && o->out.empty()) throw InputError("--plots: needs --out DIR (the figures are written there)");
    if (o->plots && o->trace.empty()) o->trace = (std::filesystem::path(o->out) / "trace.json").string();
    // --out is checked before the run: a folder that cannot be written fails now, not after it.
    if (!o->out.empty()) {
      std::error_code ec;
      std::filesystem::create_directories(o->out, ec);
      if (ec || !std::filesystem::is_directory(o->out)) {
        throw InputError(fmt::format("--out {}: cannot create folder ({})", o->out, ec ? ec.message() : "not a folder"));
      }
      const auto probe = std::filesystem::path(o->out) / ".moska-sim-write-check";
      if (!std::ofstream(probe)) throw InputError(fmt::format("--out {}: cannot write files there", o->out));
      std::filesystem::remove(probe, ec);
    }
    auto reqs = load_workload(sc);
    std::unique_ptr<ChromeTraceWriter> trace;
    RunOptions ropt;
    if (!o->trace.empty()) {
      trace = std::make_unique<ChromeTraceWriter>(o->trace, reqs.size());
      ropt.observer = trace.get();
    }
    RunResult r = simulate(sc, reqs, ropt);
    if (trace) trace->finish(r);
    Summary s = summarize(r, slo);
    auto sj = summary_json(r, s);
    if (o->json) {
      std::cout << sj.dump(2) << "\n";
    } else {
      std::cout << summary_table(r, s);
    }
    if (!o->out.empty()) {
      for (const auto& [name, text] : {std::pair{"/summary.json", sj.dump(2)}, std::pair{"/scenario.json", j.dump(2)}}) {
        std::ofstream f(o->out + name);
        f << text << "\n";
        if (!f) throw InputError(fmt::format("--out {}: cannot write {}", o->out, name + 1));
      }
      write_requests_csv(r, o->out + "/requests.csv");
      if (!r.load_timeline.empty()) write_load_timeline_csv(r, o->out + "/load_timeline.csv");
      if (o->plots) draw_plots("run", "plot_run.py", {o->out, o->trace});
    }
    // A run that served nothing says so and fails (its latencies are undefined, not 0).
    if (s.status == "none_served") {
      fmt::print(stderr, "moska-sim: nothing was served: {}\n", not_served_line(s));
      result = 1;
      return;
    }
    result = 0;
  });
}

}  // namespace moska::cli
