// sparse (Quest, MoBA): the shared context stored once; each request's router keeps its top-k
// chunks and its decode reads only those, itself (no batching across requests); its prefill attends
// them as a cached prefix.
#include "sim/systems/shared_kv.hpp"

namespace moska {

namespace {
class Sparse final : public ColocatedSystem {
 public:
  std::string_view name() const override { return "sparse"; }
  std::string_view description() const override {
    return "top-k shared chunks per request, read per request (Quest / MoBA), no batching";
  }
  bool compared_by_default() const override { return true; }
  int baseline_rank() const override { return 1; }
  SharedContext shared_context(const SharedSpec& spec, const std::string&) const override {
    return SharedContext::make(spec, Cut::top_k);
  }
  SharedUse shared_use(const SharedContext& ctx, int corpus) const override {
    SharedUse u;
    u.read_tokens = ctx.attended(corpus);  // its top-k chunks
    u.prefill_past = u.read_tokens;
    return u;
  }
  std::string strategy_what() const override { return "top-k chunks per request, read per request (Quest/MoBA)"; }
};
}  // namespace

const System& sparse_system() {
  static const Sparse s;
  return s;
}

}  // namespace moska
