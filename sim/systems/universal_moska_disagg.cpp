// universal-moska-disagg: universal MoSKA (a library of position-independent modules composed per
// request) with the library on moska-disagg's shared-KV pool, modules striped over its groups by
// popularity.
#include "sim/systems/moska_disagg.hpp"

namespace moska {

namespace {
class UniversalMoskaDisagg final : public DisaggSystem {
 public:
  std::string_view name() const override { return "universal-moska-disagg"; }
  std::string_view description() const override {
    return "universal MoSKA with the module library on a shared-KV pool, modules striped over its groups by popularity";
  }
  SharedContext shared_context(const SharedSpec& spec, const std::string& where) const override {
    return module_library(spec, where, name());
  }
};
}  // namespace

const System& universal_moska_disagg_system() {
  static const UniversalMoskaDisagg s;
  return s;
}

}  // namespace moska
