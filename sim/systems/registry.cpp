// The registry of systems: one line each, in the order listings show them. A system is one file
// under sim/systems/ defining its accessor; registering it is adding it here (an explicit list
// survives static linking, unlike self-registering globals).
#include "sim/systems/system.hpp"

namespace moska {

const System& vllm_system();
const System& prefix_cache_system();
const System& cascade_system();
const System& sparse_system();
const System& moska_system();
const System& moska_disagg_system();
const System& universal_moska_system();
const System& universal_moska_disagg_system();
const System& mooncake_system();
const System& semsharekv_system();
const System& infinite_llm_system();

const std::vector<const System*>& all_systems() {
  static const std::vector<const System*> systems = {
      &vllm_system(),   &prefix_cache_system(),    &cascade_system(),           &sparse_system(),   &moska_system(),
      &moska_disagg_system(), &universal_moska_system(), &universal_moska_disagg_system(), &mooncake_system(),
      &semsharekv_system(), &infinite_llm_system(),
  };
  return systems;
}

}  // namespace moska
