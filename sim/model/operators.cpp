#include "sim/model/operators.hpp"

#include <algorithm>
#include <cmath>

namespace moska {

const char* op_class_name(OpClass c) {
  switch (c) {
    case OpClass::gemm: return "gemm";
    case OpClass::attn_decode: return "attn_decode";
    case OpClass::attn_prefill: return "attn_prefill";
    case OpClass::attn_shared: return "attn_shared";
    case OpClass::elementwise: return "elementwise";
    case OpClass::router: return "router";
    case OpClass::merge: return "merge";
    case OpClass::comm: return "comm";
    case OpClass::moe: return "moe";
  }
  return "?";
}

std::int64_t BatchSpec::tokens() const {
  std::int64_t t = decode_requests;
  for (const auto& p : prefills) t += p.new_tokens;
  return t;
}

namespace {
double d(std::int64_t x) { return static_cast<double>(x); }
}  // namespace

Op make_gemm(std::string_view name, std::int64_t m, std::int64_t n, std::int64_t k, const Precision& prec,
             std::int64_t count) {
  Op op;
  op.cls = OpClass::gemm;
  op.name = name;
  op.count = count;
  op.m = m;
  op.n = n;
  op.k = k;
  op.math = prec.gemm_math();
  op.flops = 2.0 * d(m) * d(n) * d(k);
  // Weights read once, activations in and out once (FP8 GEMMs read FP8 activations, write bf16).
  double in_b = prec.weights == Dtype::fp8 ? 1.0 : dtype_bytes(prec.act);
  op.bytes = d(n) * d(k) * dtype_bytes(prec.weights) + d(m) * d(k) * in_b + d(m) * d(n) * dtype_bytes(prec.act);
  return op;
}

Op make_head_op(OpClass cls, std::string_view name, const ModelSpec& model, int tp, Dtype math, std::int64_t count) {
  Op op;
  op.cls = cls;
  op.name = name;
  op.count = count;
  op.heads = heads_per_rank(model.n_heads, tp);
  op.kv_heads = heads_per_rank(model.n_kv_heads, tp);
  op.head_dim = model.head_dim;
  op.math = math;
  return op;
}

Op make_decode_attention(const ModelSpec& model, const Precision& prec, int tp, std::int64_t batch,
                         std::int64_t kv_tokens_total, std::int64_t count) {
  Op op = make_head_op(OpClass::attn_decode, "attn_decode", model, tp, prec.attn_math(), count);
  set_decode_batch(op, prec, batch, kv_tokens_total);
  return op;
}

void set_decode_batch(Op& op, const Precision& prec, std::int64_t batch, std::int64_t kv_tokens_total) {
  op.batch = batch;
  op.ctx = batch > 0 ? (kv_tokens_total + batch - 1) / batch : 0;
  // QK^T and PV: 2 FLOPs per multiply-add, each over ctx x head_dim per query head.
  op.flops = 4.0 * d(kv_tokens_total) * d(op.heads) * d(op.head_dim);
  double kv = 2.0 * d(kv_tokens_total) * d(op.kv_heads) * d(op.head_dim) * dtype_bytes(prec.kv);
  double q_o = 2.0 * d(batch) * d(op.heads) * d(op.head_dim) * dtype_bytes(prec.act);
  // Writing the new token's K,V into the cache is its own operator (kv_append).
  op.bytes = kv + q_o;
}

Op make_prefill_attention(const ModelSpec& model, const Precision& prec, int tp, std::int64_t new_tokens,
                          std::int64_t past_tokens, std::int64_t count) {
  Op op = make_head_op(OpClass::attn_prefill, "attn_prefill", model, tp, prec.attn_math(), count);
  op.batch = 1;
  set_prefill_chunk(op, prec, new_tokens, past_tokens);
  return op;
}

void set_prefill_chunk(Op& op, const Precision& prec, std::int64_t new_tokens, std::int64_t past_tokens) {
  op.m = new_tokens;
  op.ctx = past_tokens;
  // Causal: token i attends past + i + 1 keys. Sum = n*past + n(n+1)/2.
  double pairs = d(new_tokens) * d(past_tokens) + d(new_tokens) * (d(new_tokens) + 1) / 2.0;
  op.flops = 4.0 * pairs * d(op.heads) * d(op.head_dim);
  double kv = 2.0 * d(new_tokens + past_tokens) * d(op.kv_heads) * d(op.head_dim) * dtype_bytes(prec.kv);
  double q_o = 2.0 * d(new_tokens) * d(op.heads) * d(op.head_dim) * dtype_bytes(prec.act);
  op.bytes = kv + q_o;
}

Op make_shared_attention(const ModelSpec& model, const Precision& prec, int tp, const SharedChunkGroup& g,
                         std::int64_t count) {
  Op op = make_head_op(OpClass::attn_shared, "attn_shared", model, tp, prec.attn_math(), count);
  op.n_chunks = g.n_chunks;
  op.chunk = g.chunk_tokens;
  op.queries = g.queries;
  // Per chunk and KV head: Q[(queries*group) x d] K^T[d x chunk], then P V: 4*q*Hq*d*chunk FLOPs.
  op.flops = 4.0 * d(g.n_chunks) * d(g.queries) * d(op.heads) * d(op.head_dim) * d(g.chunk_tokens);
  // The chunk's K and V are read once for all its queries; queries in, outputs and LSE out.
  double kv = 2.0 * d(g.n_chunks) * d(g.chunk_tokens) * d(op.kv_heads) * d(op.head_dim) * dtype_bytes(prec.kv);
  double q_o = 2.0 * d(g.n_chunks) * d(g.queries) * d(op.heads) * d(op.head_dim) * dtype_bytes(prec.act);
  double lse = 4.0 * d(g.n_chunks) * d(g.queries) * d(op.heads);
  op.bytes = kv + q_o + lse;
  return op;
}

Op make_router(const ModelSpec& model, const Precision& prec, int tp, std::int64_t batch, std::int64_t n_chunks,
               std::int64_t top_k, std::int64_t count) {
  Op op = make_head_op(OpClass::router, "router", model, tp, prec.act, count);
  op.batch = batch;
  op.n_chunks = n_chunks;
  op.k = top_k;
  // MoBA-style: each query head scores each chunk's mean key (its KV head's), scores summed over heads.
  op.flops = 2.0 * d(batch) * d(op.heads) * d(op.head_dim) * d(n_chunks) + d(batch) * d(n_chunks) * std::log2(d(std::max<std::int64_t>(top_k, 2)));
  op.bytes = d(n_chunks) * d(op.kv_heads) * d(op.head_dim) * dtype_bytes(prec.kv) +
             d(batch) * d(op.heads) * d(op.head_dim) * dtype_bytes(prec.act) + 2.0 * 4.0 * d(batch) * d(n_chunks);
  return op;
}

Op make_merge(const ModelSpec& model, const Precision& prec, int tp, std::int64_t batch, std::int64_t parts,
              std::int64_t count, std::string_view name) {
  Op op;
  op.cls = OpClass::merge;
  op.name = name;
  op.count = count;
  op.batch = batch;
  op.k = parts;
  op.heads = heads_per_rank(model.n_heads, tp);
  op.head_dim = model.head_dim;
  op.math = Dtype::fp32;
  // m = max lse; w_i = exp(lse_i - m); o = sum w_i o_i / sum w_i.
  double per_part = d(batch) * d(op.heads) * (d(op.head_dim) * dtype_bytes(prec.act) + 4.0);
  op.bytes = d(parts) * per_part + d(batch) * d(op.heads) * d(op.head_dim) * dtype_bytes(prec.act);
  op.flops = 3.0 * d(parts) * d(batch) * d(op.heads) * d(op.head_dim);
  return op;
}

Op make_elementwise(std::string_view name, std::int64_t tokens, std::int64_t width, double reads,
                    double writes, double flops_per_elem, const Precision& prec, std::int64_t count) {
  Op op;
  op.cls = OpClass::elementwise;
  op.name = name;
  op.count = count;
  op.m = tokens;
  op.n = width;
  op.math = prec.act;
  double elems = d(tokens) * d(width);
  op.bytes = elems * (reads + writes) * dtype_bytes(prec.act);
  op.flops = elems * flops_per_elem;
  return op;
}

Op make_allreduce(std::int64_t bytes, int tp, std::int64_t count) {
  Op op;
  op.cls = OpClass::comm;
  op.name = "allreduce";
  op.count = count;
  op.n = tp;
  op.bytes = d(bytes);
  return op;
}

Op make_collective(std::string_view name, std::int64_t bytes, int ranks, std::int64_t count) {
  Op op = make_allreduce(bytes, ranks, count);
  op.name = name;
  return op;
}

Op make_micro_attention(const ModelSpec& model, const Precision& prec, int tp, std::int64_t batch,
                        std::int64_t kv_tokens_total, std::int64_t count) {
  Op op = make_decode_attention(model, prec, tp, batch, kv_tokens_total, count);
  op.name = "attn_decode_lse";
  op.bytes += 4.0 * d(batch) * d(op.heads);  // the LSE, fp32
  return op;
}

Op make_partial_attention(const ModelSpec& model, const Precision& prec, int tp, std::int64_t queries,
                          std::int64_t keys, std::int64_t count) {
  Op op = make_head_op(OpClass::attn_prefill, "attn_partial", model, tp, prec.attn_math(), count);
  op.batch = 1;
  op.m = queries;
  op.ctx = keys;
  // Every query against every key (the flash kernel takes no per-position mask; the eager one
  // masks a materialised score matrix, which costs the same).
  op.flops = 4.0 * d(queries) * d(keys) * d(op.heads) * d(op.head_dim);
  op.bytes = 2.0 * d(keys) * d(op.kv_heads) * d(op.head_dim) * dtype_bytes(prec.kv) +
             2.0 * d(queries) * d(op.heads) * d(op.head_dim) * dtype_bytes(prec.act);
  return op;
}

Op make_kv_gather(const ModelSpec& model, const Precision& prec, int tp, std::int64_t tokens, std::int64_t count) {
  Precision kvp = prec;
  kvp.act = prec.kv;
  // K and V: each read and written once.
  return make_elementwise("kv_gather", tokens, heads_per_rank(model.n_kv_heads, tp) * model.head_dim, 2, 2, 0, kvp, count);
}

Op make_fp8_quant(std::int64_t tokens, std::int64_t width, const Precision& prec, std::int64_t count) {
  Op op = make_elementwise("fp8_quant", tokens, width, 1, 0, 1, prec, count);
  op.bytes = d(tokens) * d(width) * (dtype_bytes(prec.act) + 1.0);  // read act, write e4m3
  return op;
}

Op make_moe_op(std::string_view name, std::int64_t tokens, std::int64_t hidden, std::int64_t experts,
               std::int64_t top_k, const Precision& prec, std::int64_t count) {
  Op op;
  op.cls = OpClass::moe;
  op.name = name;
  op.count = count;
  op.m = tokens;
  op.n = hidden;
  op.experts = experts;
  op.top_k = top_k;
  op.math = prec.act;
  const double a = dtype_bytes(prec.act), T = d(tokens), H = d(hidden), E = d(experts), k = d(top_k);
  if (name == "moe_topk") {  // logits in; weights (fp32) and expert ids (int64) out
    op.bytes = T * E * a + T * k * 12.0;
    op.flops = T * E * std::log2(std::max(E, 2.0)) + 3.0 * T * k;
  } else if (name == "moe_permute") {  // the token rows gathered into expert order
    op.bytes = T * H * a + T * k * H * a + T * k * 16.0;
  } else {  // moe_combine: the routed rows back to token order, weighted, summed over k
    op.bytes = T * k * H * a + T * H * a;
    op.flops = 2.0 * T * k * H;
  }
  return op;
}

Op make_grouped_gemm(std::string_view name, std::int64_t tokens, std::int64_t n, std::int64_t k, std::int64_t experts,
                     std::int64_t top_k, const Precision& prec, std::int64_t count) {
  Op op = make_gemm(name, tokens * top_k, n, k, prec, count);
  op.m = tokens;
  op.experts = experts;
  op.top_k = top_k;
  // Weights of the experts that receive a token (uniform routing: an expert is missed by a token with
  // probability 1 - top_k/experts), the routed rows in and out.
  const double E = d(experts);
  const double active = E * (1.0 - std::pow(1.0 - std::min(1.0, d(top_k) / E), d(tokens)));
  const double rows = d(tokens) * d(top_k);
  const double in_b = prec.weights == Dtype::fp8 ? 1.0 : dtype_bytes(prec.act);
  op.bytes = active * d(n) * d(k) * dtype_bytes(prec.weights) + rows * d(k) * in_b + rows * d(n) * dtype_bytes(prec.act);
  return op;
}


Op make_kv_append(const ModelSpec& model, const Precision& prec, int tp, std::int64_t appended, std::int64_t layers) {
  Precision kvp = prec;
  kvp.act = prec.kv;
  return make_elementwise("kv_append", appended, heads_per_rank(model.n_kv_heads, tp) * model.head_dim, 1, 1, 0, kvp,
                          2 * (layers < 0 ? model.n_layers : layers));
}

void append_dense_token_ops(const ModelSpec& model, const Precision& prec, std::int64_t T, int tp,
                            std::vector<Op>& ops, int ep) {
  ops.push_back(make_elementwise("embedding", T, model.hidden, 0, 1, 0, prec, 1));
  append_dense_layer_ops(model, prec, T, tp, model.n_layers, ops, ep);
}

void append_dense_layer_ops(const ModelSpec& model, const Precision& prec, std::int64_t T, int tp, std::int64_t L,
                            std::vector<Op>& ops, int ep) {
  const std::int64_t H = model.hidden;
  const std::int64_t qkv_n = (heads_per_rank(model.n_heads, tp) + 2 * heads_per_rank(model.n_kv_heads, tp)) * model.head_dim;
  const std::int64_t rope_w = (heads_per_rank(model.n_heads, tp) + heads_per_rank(model.n_kv_heads, tp)) * model.head_dim;
  const double act_b = dtype_bytes(prec.act);
  // FP8 GEMMs read FP8 activations: each input is quantised first (static per-tensor scale).
  const bool q8 = prec.gemm_math() == Dtype::fp8 && !prec.fused_fp8_quant;
  auto quant = [&](std::int64_t rows, std::int64_t width, std::int64_t count) {
    if (q8) ops.push_back(make_fp8_quant(rows, width, prec, count));
  };

  ops.push_back(make_elementwise("rmsnorm", T, H, 1, 1, 4, prec, 2 * L));
  quant(T, H, L);
  ops.push_back(make_gemm("qkv", T, qkv_n, H, prec, L));
  ops.push_back(make_elementwise("rope", T, rope_w, 1, 1, 6, prec, L));
  quant(T, model.q_dim() / tp, L);
  ops.push_back(make_gemm("o", T, H, model.q_dim() / tp, prec, L));
  ops.push_back(make_elementwise("residual_add", T, H, 2, 1, 1, prec, 2 * L));
  const bool ep_moe = model.is_moe() && ep > 1;
  if (model.is_moe()) {
    // As engines run it (vLLM fused_moe, torch._grouped_mm): the router GEMM (kept in bf16), top-k,
    // the routed rows permuted into expert order, one grouped GEMM per projection over them, and the
    // weighted combine back to token order.
    const std::int64_t E = model.n_experts, k = model.experts_per_token;
    Precision router = prec;
    router.weights = prec.act;
    ops.push_back(make_gemm("moe_gate", T, E, H, router, L));
    ops.push_back(make_moe_op("moe_topk", T, H, E, k, prec, L));
    ops.push_back(make_moe_op("moe_permute", T, H, E, k, prec, L));
    // Expert parallelism: each of ep ranks holds E/ep whole experts; the routed rows go to their
    // expert's rank and back (balanced: each rank receives T*k rows).
    const std::int64_t E_local = ep_moe ? std::max<std::int64_t>(1, E / ep) : E;
    const std::int64_t f = ep_moe ? model.ffn : model.ffn / tp;
    const auto routed_bytes = static_cast<std::int64_t>(d(T) * d(k) * d(H) * act_b);
    if (ep_moe) ops.push_back(make_collective("all_to_all", routed_bytes, ep, L));
    quant(T * k, H, L);
    ops.push_back(make_grouped_gemm("expert_gate_up", T, 2 * f, H, E_local, k, prec, L));
    ops.push_back(make_elementwise("silu_mul", T * k, f, 2, 1, 5, prec, L));
    quant(T * k, f, L);
    ops.push_back(make_grouped_gemm("expert_down", T, H, f, E_local, k, prec, L));
    if (ep_moe) ops.push_back(make_collective("all_to_all", routed_bytes, ep, L));
    ops.push_back(make_moe_op("moe_combine", T, H, E, k, prec, L));
  } else {
    quant(T, H, L);
    ops.push_back(make_gemm("gate_up", T, 2 * model.ffn / tp, H, prec, L));
    ops.push_back(make_elementwise("silu_mul", T, model.ffn / tp, 2, 1, 5, prec, L));
    quant(T, model.ffn / tp, L);
    ops.push_back(make_gemm("down", T, H, model.ffn / tp, prec, L));
  }
  if (tp > 1) {
    // After o and after the MLP; with expert parallelism the MoE output is whole after the combine.
    ops.push_back(make_allreduce(static_cast<std::int64_t>(d(T) * d(H) * act_b), tp, ep_moe ? L : 2 * L));
  }
}

void append_logit_ops(const ModelSpec& model, const Precision& prec, std::int64_t rows, int tp, std::vector<Op>& ops) {
  ops.push_back(make_elementwise("final_norm", rows, model.hidden, 1, 1, 4, prec, 1));
  if (prec.gemm_math() == Dtype::fp8 && !prec.fused_fp8_quant) ops.push_back(make_fp8_quant(rows, model.hidden, prec, 1));
  ops.push_back(make_gemm("lm_head", rows, model.vocab / tp, model.hidden, prec, 1));
}

void append_dense_ops(const ModelSpec& model, const Precision& prec, const BatchSpec& b, int tp, std::vector<Op>& ops) {
  const std::int64_t T = b.tokens();
  if (T <= 0) return;
  append_dense_token_ops(model, prec, T, tp, ops, b.ep);
  // Logits only for the last token of each sequence: every decode request, one per prefill
  // that reaches its prompt's end (we count every prefill chunk; see docs/ARCHITECTURE.md).
  append_logit_ops(model, prec, b.decode_requests + static_cast<std::int64_t>(b.prefills.size()), tp, ops);
}

void append_unique_attention_ops(const ModelSpec& model, const Precision& prec, const BatchSpec& b, int tp,
                                 std::vector<Op>& ops) {
  const std::int64_t L = model.n_layers;
  if (b.tokens() <= 0) return;
  // The new tokens' K and V are written into the cache, one copy each per layer (as in the measured
  // reference iteration, tools/profile_kernels.py Model.decode; vLLM's reshape_and_cache does both in one).
  std::int64_t appended = b.decode_requests;
  for (const auto& p : b.prefills) appended += p.new_tokens;
  if (appended > 0) ops.push_back(make_kv_append(model, prec, tp, appended));
  if (b.decode_requests > 0) {
    ops.push_back(make_decode_attention(model, prec, tp, b.decode_requests, b.decode_kv_tokens, L));
  }
  for (const auto& p : b.prefills) {
    if (p.new_tokens > 0) ops.push_back(make_prefill_attention(model, prec, tp, p.new_tokens, p.past_tokens, L));
  }
}

void append_shared_ops(const ModelSpec& model, const Precision& prec, const SharedAttention& s, int tp,
                       std::vector<Op>& ops) {
  const std::int64_t L = model.n_layers;
  if (s.groups.empty()) return;
  const double act_b = dtype_bytes(prec.act);
  if (s.segments == 0 && s.total_chunks > 0 && s.top_k < s.total_chunks) {
    ops.push_back(make_router(model, prec, tp, s.requests, s.total_chunks, s.top_k, L));
  }
  // Queries are gathered per chunk before the batched launch; the partial outputs and their
  // log-sum-exps are scattered back to request order after it and concatenated with the unique
  // partial before the merge (tools/profile_kernels.py Model.moska: index_select, index_copy x2,
  // torch.cat x2). These are counted as merge work (OpClass::merge), except the gather. The
  // reference also makes layout-only copies (permute -> reshape) that a fused kernel would not;
  // those are not modelled.
  // Queries and partials move once per (request, chunk), or once per (request, segment).
  const std::int64_t hq = heads_per_rank(model.n_heads, tp);
  std::int64_t routed = s.requests * s.segments;
  if (s.segments == 0) {
    for (const auto& g : s.groups) routed += g.n_chunks * g.queries;
  }
  ops.push_back(make_elementwise("shared_gather", routed, hq * model.head_dim, 1, 1, 0, prec, L));
  for (const auto& g : s.groups) ops.push_back(make_shared_attention(model, prec, tp, g, L));
  // Each chunk's (or segment's) partial + the unique one.
  const std::int64_t parts = (s.segments > 0 ? s.segments : std::max<std::int64_t>(s.top_k, 1)) + 1;
  if (s.fused_merge) {
    // One kernel reads every request's unique partial and its k shared partials where the launches
    // wrote them: no scatter, no concatenation.
    ops.push_back(make_merge(model, prec, tp, s.requests, parts, L, "merge"));
    return;
  }
  auto data_move = [&](const char* name, std::int64_t rows, std::int64_t width, double elem_bytes) {
    Op op = make_elementwise(name, rows, width, 1, 1, 0, prec, L);
    op.cls = OpClass::merge;
    op.bytes = 2.0 * d(rows) * d(width) * elem_bytes;
    ops.push_back(op);
  };
  data_move("merge_scatter", routed, hq * model.head_dim, act_b);
  data_move("merge_scatter_lse", routed, hq, 4.0);
  data_move("merge_concat", s.requests * parts, hq * model.head_dim, act_b);
  data_move("merge_concat_lse", s.requests * parts, hq, 4.0);
  ops.push_back(make_merge(model, prec, tp, s.requests, parts, L, "merge_ref"));
}

std::vector<Op> build_partial_recompute_ops(const ModelSpec& model, const Precision& prec, std::int64_t P,
                                            std::int64_t m, int tp) {
  std::vector<Op> ops;
  if (P <= 0) return ops;
  m = std::clamp<std::int64_t>(m, 1, P);
  const std::int64_t L = model.n_layers;
  // Layer 0 in full: the dense operators of one layer over all P tokens (counts are per layer
  // multiples of L; the embedding runs once), causal attention over the prompt.
  std::vector<Op> tmp;
  append_dense_token_ops(model, prec, P, tp, tmp);
  for (auto op : tmp) {
    if (op.name != "embedding") op.count /= L;
    ops.push_back(op);
  }
  ops.push_back(make_prefill_attention(model, prec, tp, P, 0, 1));
  if (L > 1) {
    // The recomputed tokens' hidden states picked out once; then per layer the reference K,V
    // gathered into order, the m tokens through the layer, their K,V written in, their attention.
    ops.push_back(make_elementwise("hidden_gather", m, model.hidden, 1, 1, 0, prec, 1));
    tmp.clear();
    append_dense_token_ops(model, prec, m, tp, tmp);
    for (auto op : tmp) {
      if (op.name == "embedding") continue;
      op.count = op.count / L * (L - 1);
      ops.push_back(op);
    }
    ops.push_back(make_kv_gather(model, prec, tp, P, L - 1));
    Op scatter = make_kv_append(model, prec, tp, m);
    scatter.name = "kv_scatter";
    scatter.count = 2 * (L - 1);
    ops.push_back(scatter);
    ops.push_back(make_partial_attention(model, prec, tp, m, P, L - 1));
  }
  append_logit_ops(model, prec, 1, tp, ops);
  return ops;
}

void append_selection_ops(const ModelSpec& model, const Precision& prec, std::int64_t decode_rows,
                          std::int64_t prefill_rows, std::int64_t n, std::int64_t top_k, int tp, std::vector<Op>& ops) {
  const std::int64_t L = model.n_layers;
  if (n <= 0 || top_k >= n) return;
  if (decode_rows > 0) {
    // The metadata scan has a decode attention's shape over n "tokens": per request and KV head it
    // reads two vectors (min, max keys) per chunk, and per query head and chunk it does 4 d FLOPs
    // (q x min, q x max, their max, the sum). It is costed as one.
    Op scan = make_decode_attention(model, prec, tp, decode_rows, decode_rows * n, L);
    scan.name = "select_scan";
    ops.push_back(scan);
    // Top-k over each request's n fp32 scores (summed over its query heads): the scores written by
    // the scan and read back, the k indices written; ~log2 k comparisons per score.
    Op topk;
    topk.cls = OpClass::router;
    topk.name = "select_topk";
    topk.count = L;
    topk.batch = decode_rows;
    topk.n_chunks = n;
    topk.k = top_k;
    topk.math = Dtype::fp32;
    topk.flops = d(decode_rows) * d(n) * std::log2(d(std::max<std::int64_t>(top_k, 2)));
    topk.bytes = 2.0 * 4.0 * d(decode_rows) * d(n) + 4.0 * d(decode_rows) * d(top_k);
    ops.push_back(topk);
  }
  if (prefill_rows > 0) ops.push_back(make_router(model, prec, tp, prefill_rows, n, top_k, L));
}

std::vector<Op> build_iteration_ops(const ModelSpec& model, const Precision& prec, const BatchSpec& b,
                                    const OpFilter& f) {
  std::vector<Op> ops;
  if (b.tokens() <= 0) return ops;
  ops.reserve(32);
  if (f.dense) append_dense_ops(model, prec, b, b.tp, ops);
  if (f.unique_attn) append_unique_attention_ops(model, prec, b, b.tp, ops);
  if (f.shared_attn) append_shared_ops(model, prec, b.shared, b.tp, ops);
  return ops;
}

}  // namespace moska
