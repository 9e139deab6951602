#include "sim/cost/step_cost.hpp"

#include <algorithm>

namespace moska {

namespace {
constexpr std::int64_t kDirectMax = std::int64_t{1} << 20;  // integer keys cached up to this

bool same_routing(const SharedAttention& a, const SharedAttention& b) {
  if (a.requests != b.requests || a.total_chunks != b.total_chunks || a.top_k != b.top_k ||
      a.segments != b.segments || a.groups.size() != b.groups.size()) {
    return false;
  }
  for (std::size_t i = 0; i < a.groups.size(); ++i) {
    const auto& x = a.groups[i];
    const auto& y = b.groups[i];
    if (x.n_chunks != y.n_chunks || x.chunk_tokens != y.chunk_tokens || x.queries != y.queries) return false;
  }
  return true;
}
}  // namespace

StepCostModel::StepCostModel(const ModelSpec& model, const Precision& prec, CostModel cm, int tp)
    : model_(model), prec_(prec), cm_(std::move(cm)), tp_(tp) {}

const std::vector<Work>* StepCostModel::SharedTermCache::find(const SharedAttention& s) const {
  if (s.requests < 0 || s.requests >= static_cast<std::int64_t>(slots_.size())) return nullptr;
  const auto& e = slots_[static_cast<std::size_t>(s.requests)];
  return e.used && same_routing(e.s, s) ? &e.terms : nullptr;
}

void StepCostModel::SharedTermCache::insert(const SharedAttention& s, const std::vector<Work>& terms) {
  if (s.requests < 0 || s.requests >= kDirectMax) return;
  const auto i = static_cast<std::size_t>(s.requests);
  if (slots_.size() <= i) slots_.resize(std::max(i + 1, 2 * slots_.size()));
  auto& e = slots_[i];
  e.s.requests = s.requests;
  e.s.total_chunks = s.total_chunks;
  e.s.top_k = s.top_k;
  e.s.segments = s.segments;
  e.s.groups.assign(s.groups.begin(), s.groups.end());
  e.terms.assign(terms.begin(), terms.end());
  e.used = true;
}

Work StepCostModel::op(const Op& op) const {
  // As CostModel::iteration adds an operator up: seconds x count; FLOPs and bytes x count, none
  // for collectives.
  const auto n = static_cast<double>(op.count);
  const OpCost c = cm_.op_cost(op);
  const double s = c.seconds * n;
  const double measured = c.basis == CostBasis::measured ? s : 0.0;
  if (op.cls == OpClass::comm) return {s, 0.0, 0.0, measured};
  return {s, op.flops * n, op.bytes * n, measured};
}

void StepCostModel::fold_dense(std::int64_t T, std::int64_t rows, Work& acc) const {
  if (T <= 0) return;
  // Terms of the operators that depend on x, from `table` (built by `emit` on first use).
  auto fold_by = [&](TermTable& table, std::int64_t x, auto&& emit) {
    if (x < 0 || x >= kDirectMax) {
      ops_.clear();
      emit(x);
      for (const auto& o : ops_) acc.add(op(o));
      return;
    }
    const auto i = static_cast<std::size_t>(x);
    if (table.known.size() <= i) table.known.resize(std::max(i + 1, 2 * table.known.size()), 0);
    if (!table.known[i]) {
      ops_.clear();
      emit(x);
      if (table.stride < 0) table.stride = static_cast<int>(ops_.size());
      if (static_cast<int>(ops_.size()) != table.stride) {  // not expected: the list's length is fixed per model
        for (const auto& o : ops_) acc.add(op(o));
        return;
      }
      if (table.terms.size() < table.known.size() * static_cast<std::size_t>(table.stride)) {
        table.terms.resize(table.known.size() * static_cast<std::size_t>(table.stride));
      }
      for (std::size_t k = 0; k < ops_.size(); ++k) table.terms[i * static_cast<std::size_t>(table.stride) + k] = op(ops_[k]);
      table.known[i] = 1;
    }
    const Work* t = &table.terms[i * static_cast<std::size_t>(table.stride)];
    for (int k = 0; k < table.stride; ++k) acc.add(t[k]);
  };
  fold_by(token_terms_, T, [&](std::int64_t x) { append_dense_token_ops(model_, prec_, x, tp_, ops_); });
  fold_by(logit_terms_, rows, [&](std::int64_t x) { append_logit_ops(model_, prec_, x, tp_, ops_); });
}

void StepCostModel::fold_unique_attention(const BatchSpec& b, Work& acc) const {
  // append_unique_attention_ops, without building the kv_append op every step.
  std::int64_t appended = b.decode_requests;
  for (const auto& p : b.prefills) appended += p.new_tokens;
  if (appended > 0) {
    if (appended < (1 << 20)) {
      const auto i = static_cast<std::size_t>(appended);
      if (kv_append_.size() <= i) kv_append_.resize(std::max(i + 1, 2 * kv_append_.size()), Work{-1.0, 0.0, 0.0});
      if (kv_append_[i].seconds < 0) kv_append_[i] = op(make_kv_append(model_, prec_, tp_, appended));
      acc.add(kv_append_[i]);
    } else {
      acc.add(op(make_kv_append(model_, prec_, tp_, appended)));
    }
  }
  const std::int64_t L = model_.n_layers;
  if (b.decode_requests > 0) {
    if (!decode_op_made_) {
      decode_op_ = make_decode_attention(model_, prec_, tp_, b.decode_requests, b.decode_kv_tokens, L);
      decode_op_made_ = true;
    }
    set_decode_batch(decode_op_, prec_, b.decode_requests, b.decode_kv_tokens);
    acc.add(op(decode_op_));
  }
  for (const auto& p : b.prefills) {
    if (p.new_tokens <= 0) continue;
    if (!prefill_op_made_) {
      prefill_op_ = make_prefill_attention(model_, prec_, tp_, p.new_tokens, p.past_tokens, L);
      prefill_op_made_ = true;
    }
    set_prefill_chunk(prefill_op_, prec_, p.new_tokens, p.past_tokens);
    acc.add(op(prefill_op_));
  }
}

void StepCostModel::fold_shared(const SharedAttention& s, Work& acc) const {
  if (s.groups.empty()) return;
  const auto* terms = shared_terms_.find(s);
  if (!terms) {
    ops_.clear();
    append_shared_ops(model_, prec_, s, tp_, ops_);
    terms_.clear();
    for (const auto& o : ops_) terms_.push_back(op(o));
    shared_terms_.insert(s, terms_);
    terms = &terms_;
  }
  for (const auto& t : *terms) acc.add(t);
}

StepCostModel::DenseCost StepCostModel::dense_cost(const BatchSpec& b) const {
  // The dense part (GEMMs, norms, LM head, collectives) depends only on the token count and the
  // rows that produce logits; its terms are cached by each (fold_dense). The sum, as
  // CostModel::iteration over append_dense_ops gives it (the fold plus the host overhead, less it),
  // is kept for decode-only batches (rows == tokens) and folded again otherwise (~14 additions).
  const std::int64_t T = b.tokens();
  const std::int64_t rows = b.decode_requests + static_cast<std::int64_t>(b.prefills.size());
  auto sum = [&] {
    Work d;
    fold_dense(T, rows, d);
    const double overhead = iteration_overhead_s();
    d.seconds += overhead;
    return DenseCost{d.seconds - overhead, d.flops, d.bytes, d.measured, true};
  };
  if (rows != T || T < 0 || T >= kDirectMax) return sum();
  const auto i = static_cast<std::size_t>(T);
  if (dense_rows_eq_tokens_.size() <= i) dense_rows_eq_tokens_.resize(std::max(i + 1, 2 * dense_rows_eq_tokens_.size()));
  DenseCost& dc = dense_rows_eq_tokens_[i];
  if (!dc.known) dc = sum();
  return dc;
}

Work StepCostModel::prompt(std::int64_t new_tokens, std::int64_t past_tokens) const {
  const std::uint64_t h = (static_cast<std::uint64_t>(new_tokens) * 0x9e3779b97f4a7c15ULL) ^
                          (static_cast<std::uint64_t>(past_tokens) * 0xff51afd7ed558ccdULL);
  auto& e = prompt_cache_[(h ^ (h >> 29)) & (kPromptCache - 1)];
  if (e.known && e.new_tokens == new_tokens && e.past_tokens == past_tokens) return e.work;
  prompt_batch_.prefills.assign(1, PrefillSeq{new_tokens, past_tokens});
  e = PromptEntry{new_tokens, past_tokens, iteration_uncached(prompt_batch_), true};
  return e.work;
}

Work StepCostModel::iteration(const BatchSpec& batch) const {
  if (batch.decode_requests == 0 && batch.prefills.size() == 1 && batch.shared.groups.empty()) {
    return prompt(batch.prefills[0].new_tokens, batch.prefills[0].past_tokens);
  }
  return iteration_uncached(batch);
}

Work StepCostModel::iteration_uncached(const BatchSpec& batch) const {
  // Every part adds its operators' terms in the order build_iteration_ops emits them, then the host
  // overhead, as CostModel::iteration does: the same bits as costing the operator list.
  const DenseCost dense = dense_cost(batch);
  Work c;
  if (batch.tokens() > 0) {
    fold_unique_attention(batch, c);
    fold_shared(batch.shared, c);
  }
  c.seconds += iteration_overhead_s();
  const auto tp = static_cast<double>(tp_);
  return {dense.seconds + c.seconds, (dense.flops + c.flops) * tp, (dense.bytes + c.bytes) * tp, dense.measured + c.measured};
}

}  // namespace moska
