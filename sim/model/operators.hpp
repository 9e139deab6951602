#pragma once
// One iteration of a model as a list of operators, each with its shape, FLOPs and bytes moved.
// This is where "a batch of requests" becomes "work for a GPU"; cost/ turns work into time.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "sim/model/model_spec.hpp"
#include "sim/util/dtype.hpp"

namespace moska {

enum class OpClass { gemm, attn_decode, attn_prefill, attn_shared, elementwise, router, merge, comm };
inline constexpr int kNumOpClasses = 8;
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
  //   router: batch requests, n_chunks scored, k = top-k      merge: batch, k = parts merged
  //   comm: n = ranks, bytes per rank
  std::int64_t m = 0, n = 0, k = 0;
  std::int64_t batch = 0, ctx = 0;
  std::int64_t heads = 0, kv_heads = 0, head_dim = 0;
  std::int64_t n_chunks = 0, chunk = 0, queries = 0;
};

struct PrefillSeq {
  std::int64_t new_tokens = 0;
  std::int64_t past_tokens = 0;  // already in KV (cached prefix or earlier chunks)
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
};

// What one iteration runs. Decode requests are summarised by count and total KV tokens: attention
// cost depends on them through the sum (bytes) and the batch (parallelism).
struct BatchSpec {
  std::int64_t decode_requests = 0;
  std::int64_t decode_kv_tokens = 0;  // sum over decode requests of their own KV (incl. the new token)
  std::vector<PrefillSeq> prefills;
  SharedAttention shared;  // empty groups = none
  int tp = 1;

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
void append_dense_token_ops(const ModelSpec& model, const Precision& prec, std::int64_t tokens, int tp,
                            std::vector<Op>& out);
void append_logit_ops(const ModelSpec& model, const Precision& prec, std::int64_t rows, int tp, std::vector<Op>& out);
// The cache write of `appended` new tokens' K and V, one copy each per layer (the first operator
// append_unique_attention_ops emits when appended > 0).
Op make_kv_append(const ModelSpec& model, const Precision& prec, int tp, std::int64_t appended);

// Single-operator constructors (used by the op builder, calibration and tests).
Op make_gemm(std::string_view name, std::int64_t m, std::int64_t n, std::int64_t k, const Precision& prec,
             std::int64_t count);
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
Op make_merge(const ModelSpec& model, const Precision& prec, int tp, std::int64_t batch, std::int64_t parts,
              std::int64_t count);
Op make_elementwise(std::string_view name, std::int64_t tokens, std::int64_t width, double reads,
                    double writes, double flops_per_elem, const Precision& prec, std::int64_t count);
Op make_allreduce(std::int64_t bytes, int tp, std::int64_t count);

// Routes `requests` requests, each to `top_k` of `total_chunks` chunks, spread as evenly as possible
// (the balanced case of uniform routing): groups of chunks with floor/ceil of requests*top_k/total_chunks.
SharedAttention balanced_routing(std::int64_t requests, std::int64_t total_chunks, std::int64_t top_k,
                                 std::int64_t chunk_tokens);

}  // namespace moska
