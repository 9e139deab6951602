// cascade (Hydragen, FlashInfer cascade inference, RelayAttention, ChunkAttention): the shared
// context stored once; every step, the queries of all requests that attend it are batched against
// it (GEMMs instead of one GEMV per request), all of it, no sparsity.
#include "sim/systems/shared_kv.hpp"

namespace moska {

namespace {
class Cascade final : public ColocatedSystem {
 public:
  std::string_view name() const override { return "cascade"; }
  std::string_view description() const override {
    return "shared prefix attended as one batched GEMM per chunk, no sparsity (Hydragen / FlashInfer cascade)";
  }
  bool compared_by_default() const override { return true; }
  int baseline_rank() const override { return 1; }
  SharedContext shared_context(const SharedSpec& spec, const std::string&) const override {
    return SharedContext::corpora(spec, false);
  }
  SharedUse shared_use(const SharedContext&, int) const override {
    SharedUse u;
    u.routed = true;
    return u;
  }
  std::string strategy_what() const override {
    return "all chunks, queries batched per chunk (Hydragen/FlashInfer cascade)";
  }
};
}  // namespace

const System& cascade_system() {
  static const Cascade s;
  return s;
}

}  // namespace moska
