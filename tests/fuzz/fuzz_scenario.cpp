// Fuzz target: a scenario file with `--set` overrides. Leading lines "--set KEY=VALUE" are applied
// (as the CLI does) to the JSON that follows; the result is validated with the registered systems'
// sections, and a generator workload of at most 2000 requests is drawn.
#include <string>
#include <vector>

#include "sim/cli/overrides.hpp"
#include "sim/systems/system.hpp"
#include "sim/util/json_reader.hpp"
#include "sim/workload/generator.hpp"
#include "tests/fuzz/fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text = moska::fuzz::text(data, size);
  std::vector<std::string> sets;
  while (text.rfind("--set ", 0) == 0 && sets.size() < 8) {
    const auto nl = text.find('\n');
    sets.emplace_back(text.substr(6, nl == std::string_view::npos ? std::string_view::npos : nl - 6));
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
  }
  return moska::fuzz::run([&] {
    auto j = moska::parse_json_text(text, "fuzz-scenario.json");
    for (const auto& s : sets) {
      const auto eq = s.find('=');
      if (eq == std::string::npos || eq == 0) throw moska::InputError("--set: expected KEY=VALUE");
      moska::cli::apply_override(j, s.substr(0, eq), s.substr(eq + 1));
    }
    auto sc = moska::parse_scenario_for_systems(j, "fuzz-scenario.json", "/nonexistent");
    if (sc.workload.contains("generator")) {
      nlohmann::json g = sc.workload["generator"];
      if (g.is_object() && !g.contains("seed")) g["seed"] = sc.seed;
      auto spec = moska::parse_generator_spec(moska::JsonReader(g, sc.file, "workload.generator"));
      if (spec.requests <= 2000) {
        auto rs = moska::generate(spec);
        for (std::size_t i = 1; i < rs.size(); ++i) {
          if (rs[i].arrival_ns < rs[i - 1].arrival_ns || rs[i].input_tokens < 1) std::abort();
        }
      }
    }
  });
}
