// moska-sim: the only place that parses flags. Input errors print one line and exit 2.
#include <cstdio>
#include <exception>

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
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const moska::InputError& e) {
    fmt::print(stderr, "moska-sim: error: {}\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    fmt::print(stderr, "moska-sim: internal error: {}\n", e.what());
    return 3;
  }
  return result;
}
