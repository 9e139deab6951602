#pragma once
// One iteration of a model as a list of operators, each with its shape, FLOPs and bytes moved.
// This is where "a batch of requests" becomes "work for a GPU"; cost/ turns work into time.
#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sim/model/model_spec.hpp"
#include "sim/util/dtype.hpp"

namespace moska {

enum class OpClass { gemm, attn_decode, attn_prefill, attn_shared, elementwise, router, merge, comm, moe };
inline constexpr int kNumOpClasses = 9;
const char* op_class_name(OpClass c);

struct Op {
  OpClass cls = OpClass::elementwise;
  std::string_view name;   // a string literal: "qkv", "o", "gate_up", "down", "lm_head", "rmsnorm", "allreduce", ...
  std::int64_t count = 1;  // identical instances per iteration (e.g. one per layer)
  double flops = 0;        // per instance
  double bytes = 0;        // per instance, HBM traffic (or link bytes for comm)
  Dtype math = Dtype::bf16;
  // Shape, by class:
  //   gemm: m tokens, n outputs, k inputs          elementwise: m tokens, n width
  //   attn_decode: batch requests, ctx KV tokens each (mean)
  //   attn_prefill: m new tokens of one sequence, ctx tokens already cached before them
  //   attn_shared: n_chunks chunks of `chunk` tokens, each attended by `queries` requests
  //   attn_prefill "attn_partial": m recomputed queries against ctx keys (all of the prompt)
  //   attn_decode "attn_decode_lse": as attn_decode, the LSE written too (a partial to be merged)
  //   router: batch requests, n_chunks scored, k = top-k      merge: batch, k = parts merged
  //   comm: n = ranks, bytes per rank (all_reduce, all_to_all), or the whole gathered / scattered
  //         buffer (all_gather, reduce_scatter), or what each rank sends (send_recv); `name` says which
  //   moe (moe_topk, moe_permute, moe_combine): m tokens, n hidden, experts, top_k
  //   gemm with experts > 0 (expert_gate_up, expert_down): one grouped GEMM over the m tokens' top_k
  //         rows each, spread over `experts` experts (n, k as for a GEMM)
  std::int64_t m = 0, n = 0, k = 0;
  std::int64_t batch = 0, ctx = 0;
  std::int64_t heads = 0, kv_heads = 0, head_dim = 0;
  std::int64_t n_chunks = 0, chunk = 0, queries = 0;
  std::int64_t experts = 0, top_k = 0;
};

struct PrefillSeq {
  std::int64_t new_tokens = 0;
  std::int64_t past_tokens = 0;  // already in KV (cached prefix or earlier chunks)
  std::int32_t plan = -1;        // a system's prefill plan for this chunk (e.g. a KV-reuse recompute schedule); -1: none
};

// Chunks of shared KV that run in one batched launch, grouped by how many requests attend each.
struct SharedChunkGroup {
  std::int64_t n_chunks = 0;
  std::int64_t chunk_tokens = 0;
  std::int64_t queries = 0;  // requests attending each chunk of this group
};

struct SharedAttention {
  std::int64_t requests = 0;      // requests whose queries are routed this step
  std::int64_t total_chunks = 0;  // chunks of the corpus; the router scores them if top_k < total
  std::int64_t top_k = 0;         // chunks each request attends (== total_chunks: dense, no router)
  // Segments each request attends whole (cascade: its corpus, or each composed module): one launch
  // covers all chunks of a segment and reduces their partials itself, so a request merges one
  // partial per segment, and the segments are named by the request, never routed. 0: one partial
  // per chunk, chunks picked by the router (MoSKA).
  std::int64_t segments = 0;
  std::vector<SharedChunkGroup> groups;
  // How the k + 1 partials are merged. true (default): one fused kernel reads each request's partials
  // where the attention launches wrote them ("merge": the Triton kernel of tools/profile_kernels.py,
  // table merge_fast.csv). false: the unfused PyTorch reference ("merge_ref", merge.csv), with the
  // scatter back to request order and the concatenation it needs (merge_scatter*, merge_concat*).
  bool fused_merge = true;
};

// What one iteration runs. Decode requests are summarised by count and total KV tokens: attention
// cost depends on them through the sum (bytes) and the batch (parallelism).
struct BatchSpec {
  std::int64_t decode_requests = 0;
  std::int64_t decode_kv_tokens = 0;  // sum over decode requests of their own KV (incl. the new token)
  std::vector<PrefillSeq> prefills;
  SharedAttention shared;  // empty groups = none
  int tp = 1;
  int ep = 1;  // MoE expert parallelism (experts spread over ep ranks, tokens dispatched by all-to-all)

  std::int64_t tokens() const;
};

// Which parts of the layer to emit, so a disaggregated system can cost each pool's share.
struct OpFilter {
  bool dense = true;          // GEMMs, norms, activations, LM head, TP collectives
  bool unique_attn = true;    // decode / prefill attention over each request's own KV
  bool shared_attn = true;    // router, shared-chunk attention, merge
};

std::vector<Op> build_iteration_ops(const ModelSpec& model, const Precision& prec, const BatchSpec& batch,
                                    const OpFilter& filter = {});

// The parts of build_iteration_ops, appended to `out` (nothing is cleared), with tensor parallelism
// `tp` (batch.tp is ignored), in the order build_iteration_ops emits them: dense, unique attention,
// shared attention. The dense and unique parts emit nothing when the batch has no token. A caller
// that reuses `out` allocates nothing per iteration.
void append_dense_ops(const ModelSpec& model, const Precision& prec, const BatchSpec& batch, int tp,
                      std::vector<Op>& out);
void append_unique_attention_ops(const ModelSpec& model, const Precision& prec, const BatchSpec& batch, int tp,
                                 std::vector<Op>& out);
// The shared part takes the step's routing alone (the caller checks that the batch has tokens).
void append_shared_ops(const ModelSpec& model, const Precision& prec, const SharedAttention& shared, int tp,
                       std::vector<Op>& out);
// Chunk selection of a sparse system that reads per request (Quest): every step each decode request
// scores all `n_chunks` chunks from their metadata (each chunk's min and max key per KV head, as
// many bytes as one token's K and V) and keeps the top-k; its prefill tokens score them in one
// batched launch per step (MoBA-style blocks; the router operator). Nothing when top_k >= n_chunks.
void append_selection_ops(const ModelSpec& model, const Precision& prec, std::int64_t decode_rows,
                          std::int64_t prefill_rows, std::int64_t n_chunks, std::int64_t top_k, int tp,
                          std::vector<Op>& out);
// The dense part in two: the operators that depend on the token count T (all but the last two),
// and those that depend on the rows that produce logits (final norm, LM head).
// MoE layers: router GEMM (bf16), moe_topk, moe_permute, grouped expert GEMMs (expert_gate_up,
// silu_mul over the routed rows, expert_down), moe_combine; with ep > 1 each rank holds experts/ep
// whole experts and the routed rows go there and back by all-to-all (two per layer). FP8 GEMMs are
// preceded by the quantisation of their input (fp8_quant).
void append_dense_token_ops(const ModelSpec& model, const Precision& prec, std::int64_t tokens, int tp,
                            std::vector<Op>& out, int ep = 1);
// The per-layer operators of append_dense_token_ops (all but the embedding) for `layers` layers of
// `tokens` rows each (a prefill that recomputes a different number of tokens per layer emits one
// call per run of layers with the same rows).
void append_dense_layer_ops(const ModelSpec& model, const Precision& prec, std::int64_t tokens, int tp,
                            std::int64_t layers, std::vector<Op>& out, int ep = 1);
void append_logit_ops(const ModelSpec& model, const Precision& prec, std::int64_t rows, int tp, std::vector<Op>& out);
// The cache write of `appended` new tokens' K and V, one copy each per layer (the first operator
// append_unique_attention_ops emits when appended > 0).
// `layers` < 0: every layer of the model.
Op make_kv_append(const ModelSpec& model, const Precision& prec, int tp, std::int64_t appended,
                  std::int64_t layers = -1);

// Single-operator constructors (used by the op builder, calibration and tests).
Op make_gemm(std::string_view name, std::int64_t m, std::int64_t n, std::int64_t k, const Precision& prec,
             std::int64_t count);
// Heads per GPU under tensor parallelism; KV heads are replicated when fewer than ranks.
inline std::int64_t heads_per_rank(std::int64_t heads, int tp) { return std::max<std::int64_t>(1, heads / tp); }
// An operator over the attention heads of one TP rank (heads, KV heads, head_dim set).
Op make_head_op(OpClass cls, std::string_view name, const ModelSpec& model, int tp, Dtype math, std::int64_t count);
Op make_decode_attention(const ModelSpec& model, const Precision& prec, int tp, std::int64_t batch,
                         std::int64_t kv_tokens_total, std::int64_t count);
// Re-targets a decode-attention op (made by make_decode_attention with the same precision) to
// another batch: afterwards it equals make_decode_attention(..., batch, kv_tokens_total, count).
// For callers costing one op per step (no 144-byte Op built from zero each time).
void set_decode_batch(Op& op, const Precision& prec, std::int64_t batch, std::int64_t kv_tokens_total);
// Likewise for a prefill-attention op: afterwards it equals make_prefill_attention(..., new_tokens,
// past_tokens, count).
void set_prefill_chunk(Op& op, const Precision& prec, std::int64_t new_tokens, std::int64_t past_tokens);
Op make_prefill_attention(const ModelSpec& model, const Precision& prec, int tp, std::int64_t new_tokens,
                          std::int64_t past_tokens, std::int64_t count);
Op make_shared_attention(const ModelSpec& model, const Precision& prec, int tp, const SharedChunkGroup& g,
                         std::int64_t count);
Op make_router(const ModelSpec& model, const Precision& prec, int tp, std::int64_t batch, std::int64_t n_chunks,
               std::int64_t top_k, std::int64_t count);
// The exact LSE merge of `parts` partial attentions per request: "merge" (the fused fast kernel) or,
// with name "merge_ref", the unfused PyTorch reference.
Op make_merge(const ModelSpec& model, const Precision& prec, int tp, std::int64_t batch, std::int64_t parts,
              std::int64_t count, std::string_view name = "merge");
// Decode attention of `batch` requests over their own KV returning (output, LSE): DistAttention's
// micro-attention over one block of a request's KV, to be merged with make_merge.
Op make_micro_attention(const ModelSpec& model, const Precision& prec, int tp, std::int64_t batch,
                        std::int64_t kv_tokens_total, std::int64_t count);
// m recomputed tokens' queries against all `keys` keys of a prompt (partial-recompute prefill).
Op make_partial_attention(const ModelSpec& model, const Precision& prec, int tp, std::int64_t queries,
                          std::int64_t keys, std::int64_t count);
// A layer's reference K and V of `tokens` tokens gathered into a new order (two row gathers).
Op make_kv_gather(const ModelSpec& model, const Precision& prec, int tp, std::int64_t tokens, std::int64_t count);
// Static per-tensor quantisation of a GEMM input [tokens, width] to FP8 (reads act, writes fp8).
Op make_fp8_quant(std::int64_t tokens, std::int64_t width, const Precision& prec, std::int64_t count);
// MoE dispatch pieces (OpClass::moe) and one grouped expert GEMM (OpClass::gemm, experts > 0).
Op make_moe_op(std::string_view name, std::int64_t tokens, std::int64_t hidden, std::int64_t experts,
               std::int64_t top_k, const Precision& prec, std::int64_t count);
Op make_grouped_gemm(std::string_view name, std::int64_t tokens, std::int64_t n, std::int64_t k, std::int64_t experts,
                     std::int64_t top_k, const Precision& prec, std::int64_t count);
// Collectives over `ranks` GPUs (OpClass::comm): bytes as Op documents for comm.
Op make_collective(std::string_view name, std::int64_t bytes, int ranks, std::int64_t count);
Op make_elementwise(std::string_view name, std::int64_t tokens, std::int64_t width, double reads,
                    double writes, double flops_per_elem, const Precision& prec, std::int64_t count);
Op make_allreduce(std::int64_t bytes, int tp, std::int64_t count);

// A partial-recompute prefill of one prompt of `tokens` tokens: layer 0 in full (causal), then in
// every other layer the reference K,V of all tokens gathered into the prompt's order (kv_gather),
// `recompute` tokens through the layer (their K,V written into the gathered cache: kv_scatter), their
// queries attending all `tokens` keys (attn_partial), and the LM head on the last token.
std::vector<Op> build_partial_recompute_ops(const ModelSpec& model, const Precision& prec, std::int64_t tokens,
                                            std::int64_t recompute, int tp);

}  // namespace moska
