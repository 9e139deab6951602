// universal-moska: the shared KV is a library of position-independent modules (EPIC); a request
// composes `per_request` of them by popularity, recomputes a few leading tokens of each (the
// attention-sink fix, prefilled with its prompt and held in its KV), and attends the top-k chunks of
// its modules through MoSKA's batched launches.
#include <fmt/format.h>

#include "sim/systems/shared_kv.hpp"
#include "sim/util/error.hpp"

namespace moska {

SharedContext module_library(const SharedSpec& spec, const std::string& where, std::string_view system) {
  if (spec.modules.count == 0) {
    throw InputError(fmt::format("{}: system {} needs a module library (key 'shared.modules')", where, system));
  }
  return SharedContext::make(spec, Cut::top_k, true);
}

namespace {
class UniversalMoska final : public ColocatedSystem {
 public:
  std::string_view name() const override { return "universal-moska"; }
  std::string_view description() const override {
    return "MoSKA over a library of position-independent modules composed per request (EPIC-style recompute)";
  }
  SharedContext shared_context(const SharedSpec& spec, const std::string& where) const override {
    return module_library(spec, where, name());
  }
  SharedUse shared_use(const SharedContext&, int) const override {
    SharedUse u;
    u.routed = true;
    return u;
  }
};
}  // namespace

const System& universal_moska_system() {
  static const UniversalMoska s;
  return s;
}

}  // namespace moska
