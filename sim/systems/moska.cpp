// moska (Mixture of Shared KV Attention), colocated: the shared context stored once per instance;
// each request's router (MoBA-style, q . mean key of each chunk) keeps its top-k chunks, and every
// step the queries routed to each chunk are batched into one launch against it (the chunk is read
// once for all of them); each request merges its unique and shared partials exactly (LSE merge).
// sim/systems/moska_disagg.cpp runs the shared attention on its own pool.
#include "sim/systems/shared_kv.hpp"

namespace moska {

namespace {
class Moska final : public ColocatedSystem {
 public:
  std::string_view name() const override { return "moska"; }
  std::string_view description() const override { return "sparse routing + batched shared-chunk attention, one pool"; }
  bool compared_by_default() const override { return true; }
  SharedContext shared_context(const SharedSpec& spec, const std::string&) const override {
    return SharedContext::make(spec, Cut::top_k);
  }
  SharedUse shared_use(const SharedContext&, int) const override {
    SharedUse u;
    u.routed = true;
    return u;
  }
  std::string strategy_what() const override { return "top-k chunks, queries batched per chunk"; }
};
}  // namespace

const System& moska_system() {
  static const Moska s;
  return s;
}

}  // namespace moska
