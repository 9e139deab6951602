// moska-sim: the only place that parses flags. Input errors print one line and exit 2: a bad file,
// key or value (InputError), a bad flag or subcommand (CLI11's parse errors, with the usage), and
// an input too large for this machine's memory. Anything else is a bug: "internal error", exit 3.
#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "sim/cli/commands.hpp"
#include "sim/util/error.hpp"

int main(int argc, char** argv) {
  CLI::App app{"moska-sim: discrete-event performance simulator for LLM inference serving (MoSKA, Mooncake, ...)"};
  app.require_subcommand(1);
  app.fallthrough();
  int result = 0;
  moska::cli::add_predict(app, result);
  moska::cli::add_validate(app, result);
  moska::cli::add_run(app, result);
  moska::cli::add_sweep(app, result);
  moska::cli::add_scaling(app, result);
  moska::cli::add_cache_replay(app, result);
  moska::cli::add_capacity(app, result);
  moska::cli::add_plan(app, result);
  moska::cli::add_distattention(app, result);
  // One line whatever the message holds.
  auto one_line = [](std::string s) {
    for (auto& c : s) {
      if (c == '\n' || c == '\r') c = ' ';
    }
    return s;
  };
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    // The subcommand given, if any, for its usage; else the list of commands.
    std::string usage = "moska-sim <predict|validate|run|sweep|scaling|cache-replay|capacity|plan|distattention> [options]; "
                        "moska-sim <command> --help lists them";
    std::string what = one_line(e.what());
    for (const auto* sub : app.get_subcommands()) {
      usage = fmt::format("moska-sim {} [options]; moska-sim {} --help lists them", sub->get_name(), sub->get_name());
    }
    if (app.get_subcommands().empty() && argc > 1 && argv[1][0] != '-') what = fmt::format("unknown command '{}'", one_line(argv[1]));
    fmt::print(stderr, "moska-sim: error: {} (usage: {})\n", what, usage);
    return 2;
  } catch (const moska::InputError& e) {
    fmt::print(stderr, "moska-sim: error: {}\n", one_line(e.what()));
    return 2;
  } catch (const std::bad_alloc&) {
    fmt::print(stderr, "moska-sim: error: out of memory: the input asks for more than this machine holds (requests, "
                       "trace length, instances, sweep points)\n");
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "moska-sim: internal error: {}\n", one_line(e.what()));
    return 3;
  }
  return result;
}
