#pragma once
// `plan --plots` and `run --plots`: the figures are drawn by the project's plotting scripts
// (tools/plot_<what>.py, python3 + matplotlib) from the files the command wrote into its --out folder.
#include <string>
#include <vector>

namespace moska::cli {

// Runs tools/<script> with `args` (paths) under a python3 that has matplotlib (tools/python_for_plots.sh).
// Returns false, after one line on stderr naming the command, when the figures could not be drawn (no
// python3 or matplotlib): the command's own outputs stand.
bool draw_plots(const std::string& command, const std::string& script, const std::vector<std::string>& args);

}  // namespace moska::cli
