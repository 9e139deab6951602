#include "sim/model/reuse_ops.hpp"

#include <algorithm>

namespace moska {

namespace {
double d(std::int64_t x) { return static_cast<double>(x); }

// Rows of chunk c in layer l, and whether that layer computes every position.
bool full_layer(const ReusePrefill& c, std::int64_t l) { return l < c.full_layers; }
std::int64_t rows(const ReusePrefill& c, std::int64_t l) {
  if (full_layer(c, l)) return c.new_tokens;
  return std::clamp<std::int64_t>(c.recompute[static_cast<std::size_t>(l)], 0, c.new_tokens);
}

bool same_layer(const ReuseBatch& b, std::int64_t l, std::int64_t k) {
  for (const auto& c : b.reuse) {
    if (full_layer(c, l) != full_layer(c, k) || rows(c, l) != rows(c, k)) return false;
  }
  return true;
}
}  // namespace

bool is_eager_op(const Op& op) { return op.name.rfind("eager_", 0) == 0; }

void append_eager_attention(const ModelSpec& model, const Precision& prec, int tp, std::int64_t queries,
                            std::int64_t kv_tokens, std::int64_t pairs, bool masked, std::int64_t count,
                            std::vector<Op>& out) {
  const std::int64_t hq = heads_per_rank(model.n_heads, tp);
  const std::int64_t hkv = heads_per_rank(model.n_kv_heads, tp);
  const double dh = d(model.head_dim);
  const double act = dtype_bytes(prec.act);
  const double kvb = dtype_bytes(prec.kv);
  const double scores = d(hq) * d(pairs);  // score elements per layer
  auto add = [&](std::string_view name, OpClass cls, double flops, double bytes) {
    Op op = make_head_op(cls, name, model, tp, cls == OpClass::gemm ? prec.attn_math() : Dtype::fp32, count);
    op.m = queries;
    op.k = kv_tokens;
    op.n = pairs;
    op.flops = flops;
    op.bytes = bytes;
    out.push_back(op);
  };
  // repeat_kv materialises K and V for every query head (nothing to copy without GQA).
  const double kv_rep = 2.0 * d(hq) * d(kv_tokens) * dh * act;
  if (hq > hkv) add("eager_repeat_kv", OpClass::elementwise, 0, 2.0 * d(hkv) * d(kv_tokens) * dh * kvb + kv_rep);
  const double q_o = d(hq) * d(queries) * dh * act;
  add("eager_qk", OpClass::gemm, 2.0 * scores * dh, q_o + kv_rep / 2 + scores * act);
  add("eager_scale", OpClass::elementwise, scores, 2.0 * scores * act);
  if (masked) add("eager_mask", OpClass::elementwise, scores, 2.0 * scores * act + d(pairs) * act);
  add("eager_to_f32", OpClass::elementwise, 0, scores * (act + 4.0));
  add("eager_softmax", OpClass::elementwise, 5.0 * scores, scores * 8.0);
  add("eager_to_bf16", OpClass::elementwise, 0, scores * (4.0 + act));
  add("eager_pv", OpClass::gemm, 2.0 * scores * dh, scores * act + kv_rep / 2 + q_o);
}

void append_reuse_iteration_ops(const ModelSpec& model, const Precision& prec, const ReuseBatch& b, int tp,
                                AttentionImpl attn, std::vector<Op>& ops) {
  const std::int64_t L = model.n_layers;
  std::int64_t base = b.decode_requests;  // rows through every layer: decodes and ordinary chunks
  for (const auto& p : b.prefills) base += p.new_tokens;
  std::int64_t all = base;
  for (const auto& c : b.reuse) all += c.new_tokens;
  if (all <= 0) return;
  const bool eager = attn == AttentionImpl::eager;
  auto prefill_attention = [&](std::int64_t q, std::int64_t past, std::int64_t n) {
    if (eager) append_eager_attention(model, prec, tp, q, past + q, q * (past + q), true, n, ops);
    else ops.push_back(make_prefill_attention(model, prec, tp, q, past, n));
  };

  ops.push_back(make_elementwise("embedding", all, model.hidden, 0, 1, 0, prec, 1));
  for (std::int64_t l0 = 0; l0 < L;) {
    std::int64_t l1 = l0 + 1;
    while (l1 < L && same_layer(b, l0, l1)) ++l1;
    const std::int64_t n = l1 - l0;
    std::int64_t t = base, gathered = 0, shrunk = 0;
    for (const auto& c : b.reuse) {
      const std::int64_t r = rows(c, l0);
      t += r;
      if (!full_layer(c, l0)) gathered += c.new_tokens;
      if (l0 > 0 && r < rows(c, l0 - 1)) shrunk += r;
    }
    // The rows that go on are picked out of the previous layer's hidden states (index_select).
    if (shrunk > 0) {
      Op g = make_elementwise("hidden_gather", shrunk, model.hidden, 1, 1, 0, prec, 1);
      ops.push_back(g);
    }
    append_dense_layer_ops(model, prec, t, tp, n, ops);
    if (gathered > 0) ops.push_back(make_kv_gather(model, prec, tp, gathered, n));
    ops.push_back(make_kv_append(model, prec, tp, t, n));
    if (b.decode_requests > 0) {
      if (eager) {
        append_eager_attention(model, prec, tp, b.decode_requests, b.decode_kv_tokens, b.decode_kv_tokens, false, n, ops);
      } else {
        ops.push_back(make_decode_attention(model, prec, tp, b.decode_requests, b.decode_kv_tokens, n));
      }
    }
    for (const auto& p : b.prefills) {
      if (p.new_tokens > 0) prefill_attention(p.new_tokens, p.past_tokens, n);
    }
    for (const auto& c : b.reuse) {
      const std::int64_t r = rows(c, l0);
      if (full_layer(c, l0)) {
        prefill_attention(c.new_tokens, c.past_tokens, n);
      } else if (r > 0) {
        const std::int64_t keys = c.past_tokens + c.new_tokens;
        if (eager) append_eager_attention(model, prec, tp, r, keys, r * keys, true, n, ops);
        else ops.push_back(make_partial_attention(model, prec, tp, r, keys, n));
      }
    }
    l0 = l1;
  }
  append_logit_ops(model, prec, b.decode_requests + static_cast<std::int64_t>(b.prefills.size() + b.reuse.size()),
                   tp, ops);
}

}  // namespace moska
