// cascade (Hydragen, FlashInfer cascade inference, RelayAttention): the shared context stored once;
// every step, the queries of all requests that attend it are batched against it as one segment (one
// launch whose GEMMs read the prefix once, instead of one GEMV per request), all of it, no sparsity,
// and each request merges that one partial with its unique one. It is not cut into MoSKA's chunks:
// Hydragen and FlashInfer's cascade attend the shared prefix whole. A module library is attended as
// one segment per module (each module's queries batched against it).
#include "sim/systems/shared_kv.hpp"

namespace moska {

namespace {
class Cascade final : public ColocatedSystem {
 public:
  std::string_view name() const override { return "cascade"; }
  std::string_view description() const override {
    return "shared prefix attended as one segment by the batch's queries, one merge, no sparsity (Hydragen / FlashInfer cascade)";
  }
  bool compared_by_default() const override { return true; }
  int baseline_rank() const override { return 1; }
  SharedContext shared_context(const SharedSpec& spec, const std::string&) const override {
    return SharedContext::make(spec, Cut::segments);
  }
  SharedUse shared_use(const SharedContext&, int) const override {
    SharedUse u;
    u.routed = true;
    return u;
  }
  std::string strategy_what() const override {
    return "the whole prefix as one segment, queries batched (Hydragen/FlashInfer cascade)";
  }
};
}  // namespace

const System& cascade_system() {
  static const Cascade s;
  return s;
}

}  // namespace moska
