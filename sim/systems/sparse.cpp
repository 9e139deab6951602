// sparse (Quest, MoBA): the shared context stored once; every decode step each request scores all
// chunks from their metadata (Quest: each chunk's min and max key per KV head, i.e. 1/chunk of the
// chunk's KV) and keeps its top-k, then reads only those, itself (no batching across requests). The
// metadata read bounds its gain: at Quest's 16-token pages the scan reads 1/16 of the KV, so the
// shared read is at least 1/16 + (1 - sparsity) of prefix-cache's. Its prefill scores the chunks in
// one batched launch per step (MoBA-style) and attends them as a cached prefix.
#include "sim/systems/shared_kv.hpp"

namespace moska {

namespace {
class Sparse final : public ColocatedSystem {
 public:
  std::string_view name() const override { return "sparse"; }
  std::string_view description() const override {
    return "top-k shared chunks per request, selected from chunk metadata and read per request (Quest / MoBA), no batching";
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
    u.selects = true;  // and scores every chunk's metadata to pick them
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
