#pragma once
// MoSKA's disaggregated infrastructure: a pool of unique-KV / FFN instances and a pool of
// shared-KV attention instances, scaled independently (sim/systems/moska_disagg.cpp).
#include "sim/systems/shared_kv.hpp"

namespace moska {

class DisaggSystem : public SharedKvSystem {
 public:
  std::unique_ptr<ConfiguredSystem> configure(const Scenario& sc) const override;
  std::vector<std::string> roles() const override { return {"unique", "shared"}; }
  SharedUse shared_use(const SharedContext&, int) const override {
    SharedUse u;
    u.routed = true;
    return u;
  }
};

// A module library (universal MoSKA); throws InputError naming `system` when the scenario has none.
SharedContext module_library(const SharedSpec& spec, const std::string& where, std::string_view system);

}  // namespace moska
