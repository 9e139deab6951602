// vllm: paged KV, continuous batching, no sharing. A request that attends the shared context holds
// its own copy: the whole corpus is prefilled with its prompt, kept in its KV and read by its
// decode every step (capacity and bandwidth both scale with the batch). Optional automatic prefix
// caching (scheduler.prefix_caching) reuses finished prompts' blocks (BatchingInstance).
#include "sim/systems/shared_kv.hpp"

namespace moska {

namespace {
class Vllm final : public ColocatedSystem {
 public:
  std::string_view name() const override { return "vllm"; }
  std::string_view description() const override {
    return "paged KV, no sharing: each request prefills, holds and reads its own copy of the shared context";
  }
  bool compared_by_default() const override { return true; }
  int baseline_rank() const override { return 0; }
  SharedContext shared_context(const SharedSpec& spec, const std::string&) const override {
    return SharedContext::make(spec, Cut::all_chunks);
  }
  SharedUse shared_use(const SharedContext& ctx, int corpus) const override {
    SharedUse u;
    u.own_tokens = ctx.attended(corpus);  // its whole corpus, or its composed modules
    u.read_tokens = u.own_tokens;
    return u;
  }
  bool holds_shared_once() const override { return false; }
  bool needs_shared_context() const override { return false; }
  std::string strategy_what() const override { return "each request holds and reads its own copy of the shared KV"; }
};
}  // namespace

const System& vllm_system() {
  static const Vllm s;
  return s;
}

}  // namespace moska
