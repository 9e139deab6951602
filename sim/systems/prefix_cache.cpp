// prefix-cache (vLLM automatic prefix caching, SGLang RadixAttention): the shared context's KV is
// stored once per instance and its prefill skipped, but every request's decode still reads all of
// it itself (bandwidth scales with the batch); its prefill attends it as a cached prefix.
#include "sim/systems/shared_kv.hpp"

namespace moska {

namespace {
class PrefixCache final : public ColocatedSystem {
 public:
  std::string_view name() const override { return "prefix-cache"; }
  std::string_view description() const override {
    return "shared KV stored once and its prefill skipped; decode reads it once per request";
  }
  bool compared_by_default() const override { return true; }
  int baseline_rank() const override { return 1; }
  SharedContext shared_context(const SharedSpec& spec, const std::string&) const override {
    return SharedContext::make(spec, Cut::all_chunks);
  }
  SharedUse shared_use(const SharedContext& ctx, int corpus) const override {
    SharedUse u;
    u.read_tokens = ctx.attended(corpus);
    u.prefill_past = u.read_tokens;
    return u;
  }
  std::string strategy_what() const override { return "shared KV stored once, read once per request"; }
};
}  // namespace

const System& prefix_cache_system() {
  static const PrefixCache s;
  return s;
}

}  // namespace moska
