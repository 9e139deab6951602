#pragma once
// The operators of an iteration in which some prefill chunks reuse another prompt's KV and recompute
// only some of their tokens (SemShareKV, CacheBlend), and attention as HF transformers' eager
// implementation runs it (materialised scores), for systems that model that implementation.
//
// A reuse chunk (positions [past, past + new) of its prompt): layers [0, full_layers) compute every
// position; in each later layer l the reference KV of the chunk's positions is gathered into the
// prompt's order (kv_gather, K and V), only recompute[l] positions go through the layer (their
// hidden states gathered from the previous layer's rows when the set shrinks: hidden_gather), their
// K and V are written over the gathered ones (kv_append) and their queries attend every key of the
// prompt so far (attn_partial: no per-position mask, as a flash kernel without one computes it;
// make_partial_attention and make_kv_gather are operators.hpp's).
// This is the computation tools/profile_kernels.py (calib) times as a "partial" composite, and
// results/semsharekv_validation/partial_prefill.py on the H200.
#include <cstdint>
#include <span>
#include <vector>

#include "sim/model/operators.hpp"

namespace moska {

enum class AttentionImpl {
  flash,  // fused kernels (FlashAttention-2 class): the attention operators of operators.hpp
  eager,  // HF eager: repeat_kv copies, Q.K^T, scale, mask add, softmax in fp32, cast, P.V (see below)
};

struct ReusePrefill {
  std::int64_t new_tokens = 0;
  std::int64_t past_tokens = 0;
  std::int64_t full_layers = 1;  // layers computing every position (no gather)
  // Positions of the chunk recomputed in each layer (n_layers entries; entries of full layers are
  // ignored). Non-increasing after the full layers: the selection made early is carried forward.
  std::span<const std::int64_t> recompute;
};

struct ReuseBatch {
  std::int64_t decode_requests = 0;
  std::int64_t decode_kv_tokens = 0;
  std::vector<PrefillSeq> prefills;  // ordinary chunks: every position through every layer
  std::vector<ReusePrefill> reuse;
};

// The whole iteration: embedding; per run of layers with the same rows, the hidden-state gather, the
// dense layer operators, kv_gather, kv_append and attention; final norm and LM head for one row per
// decode and per chunk. With `attn` = eager every attention is emitted as eager kernels.
void append_reuse_iteration_ops(const ModelSpec& model, const Precision& prec, const ReuseBatch& b, int tp,
                                AttentionImpl attn, std::vector<Op>& out);

// HF eager attention of `queries` query rows over `kv_tokens` cached tokens, `pairs` (query, key)
// scores per head (one prompt: queries x keys, masked scores are still computed; a decode batch:
// the sum of its contexts), per layer x count. Eight operators named "eager_*": repeat_kv (GQA:
// K and V copied to every query head), qk (bf16 scores written), scale, mask (additive, broadcast
// over heads), to_f32 (softmax(dtype=float32) of bf16 input converts first), softmax (fp32 in and
// out), to_bf16, pv. Their bytes are what those kernels move; 32 bytes per score element in all.
void append_eager_attention(const ModelSpec& model, const Precision& prec, int tp, std::int64_t queries,
                            std::int64_t kv_tokens, std::int64_t pairs, bool masked, std::int64_t count,
                            std::vector<Op>& out);
bool is_eager_op(const Op& op);

}  // namespace moska
