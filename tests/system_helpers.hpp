#pragma once
#include <unistd.h>
// Tests' handle on a system configured for a scenario: the iteration model its instances use
// (routing and cost of one step) and its shared context, as the serving loop sees them.
#include <filesystem>
#include <fstream>
#include <memory>

#include "sim/systems/shared_kv.hpp"
#include "sim/systems/system.hpp"
#include "sim/util/paths.hpp"

namespace moska::test {

struct Configured {
  std::shared_ptr<const Scenario> scenario;  // a configured system keeps a reference to its scenario
  std::unique_ptr<ConfiguredSystem> sys;
  const IterationModel& model() const { return dynamic_cast<const IterationModel&>(*sys); }
  IterStats cost(const BatchSpec& b) const {
    IterStats st;
    model().cost(b, st);
    return st;
  }
  SharedAttention route(const std::vector<std::int64_t>& per_corpus) const {
    SharedAttention s;
    model().route(per_corpus, s);
    return s;
  }
  SharedAttention route(std::int64_t n) const { return route(std::vector<std::int64_t>{n}); }
};

// Configures a copy of `sc` that the result keeps alive (a temporary scenario may be passed).
inline Configured configure(const Scenario& sc) {
  auto kept = std::make_shared<const Scenario>(sc);
  auto sys = find_system(kept->system).configure(*kept);
  return {std::move(kept), std::move(sys)};
}

// Llama-3.1-8B's shapes with max_context lifted to 2^30 (a file in the temp folder; its path): for
// tests of capacity and cost arithmetic on contexts past the real model's 131,072 without context
// parallelism (the span check is tested in tests/test_context_parallel.cpp).
inline std::string long_context_model() {
  auto j = nlohmann::json::parse(std::ifstream(data_root() / "models" / "llama-3.1-8b.json"));
  j["name"] = "llama-3.1-8b-long-context-test";
  j["max_context"] = std::int64_t{1} << 30;
  // One file per test process: ctest runs test cases in parallel processes.
  const auto path = std::filesystem::temp_directory_path() /
                    ("moska_test_llama-3.1-8b-long-context-" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << j.dump(1);
  return path.string();
}

// hw_profiles/h100-sxm.json without its measured tables (roofline only), `edit` applied, written to
// the temp folder as `name`.json (its path): e.g. a slowed link, so that a test can isolate its time.
template <class Edit>
std::string h100_profile_with(const std::string& name, Edit edit) {
  auto j = nlohmann::json::parse(std::ifstream(data_root() / "hw_profiles" / "h100-sxm.json"));
  j.erase("calibration");
  j["name"] = name;
  edit(j);
  const auto path = std::filesystem::temp_directory_path() / ("moska_test_" + name + "-" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << j.dump(1);
  return path.string();
}

// The shared context as the scenario's system cuts it.
inline SharedContext shared_context(const Scenario& sc) {
  return dynamic_cast<const SharedKvSystem&>(find_system(sc.system)).shared_context(sc.shared, sc.file);
}

// FLOPs (or bytes) a step charged to `pool`; -1 if none.
inline double charged(const IterStats& st, int pool, bool flops = true) {
  for (const auto& c : st.charges) {
    if (c.pool == pool) return flops ? c.flops : c.bytes;
  }
  return -1;
}

}  // namespace moska::test
