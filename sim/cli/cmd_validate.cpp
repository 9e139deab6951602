// `moska-sim validate`: accuracy of the cost model against one GPU's measured kernels and iterations.
#include <iostream>

#include <nlohmann/json.hpp>

#include "sim/cli/commands.hpp"
#include "sim/analysis/validate.hpp"

namespace moska::cli {

void add_validate(CLI::App& app, int& result) {
  auto* cmd = app.add_subcommand(
      "validate", "Accuracy of the cost model against a GPU's measurements (kernels leave-one-out, held-out shapes, "
                  "whole iterations)");
  struct Opts {
    std::string hw = "h100-sxm";
    bool json = false;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("--hw", o->hw, "Hardware profile name (hw_profiles/<name>.json) or path")->capture_default_str();
  cmd->add_flag("--json", o->json, "Print one JSON object instead of tables");
  cmd->callback([o, &result]() {
    auto r = validate(o->hw);
    if (o->json) {
      std::cout << validate_json(r).dump(2) << "\n";
    } else {
      std::cout << validate_table(r);
    }
    result = 0;
  });
}

}  // namespace moska::cli
