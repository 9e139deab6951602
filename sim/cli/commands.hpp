#pragma once
// Each subcommand registers itself on the app and returns the exit code through `result`.
#include <CLI/CLI.hpp>

namespace moska::cli {

void add_predict(CLI::App& app, int& result);
void add_validate(CLI::App& app, int& result);
void add_run(CLI::App& app, int& result);
void add_sweep(CLI::App& app, int& result);
void add_scaling(CLI::App& app, int& result);
void add_cache_replay(CLI::App& app, int& result);
void add_capacity(CLI::App& app, int& result);
void add_distattention(CLI::App& app, int& result);
void add_plan(CLI::App& app, int& result);

}  // namespace moska::cli
