#include "sim/serving/cluster_model.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "sim/util/error.hpp"

namespace moska {

namespace {
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
}  // namespace

ClusterModel::ClusterModel(const Scenario& sc)
    : model_(load_model(sc.model)), sys_(find_system(sc.system)), prec_(sc.precision),
      sched_overhead_s_(sc.scheduler.iteration_overhead_s), micro_batches_(sc.scheduler.micro_batches) {
  const double kv_tok = model_.kv_bytes_per_token(prec_.kv);
  const double weights = model_.weight_bytes(prec_.weights);

  // Shared context: whole chunks; the router keeps top-k of them.
  const auto& lib = sc.shared.modules;
  if (sys_.modular && lib.count == 0) {
    throw InputError(fmt::format("{}: system {} needs a module library (key 'shared.modules')", sc.file, sys_.name));
  }
  if (sys_.modular) {
    // Each module is cut into whole chunks; a request keeps a module with probability pi_m (its
    // popularity, water-filled so that per_request modules are kept) and, inside it, the
    // (1 - sparsity) share of the module's chunks that its router picks.
    const std::int64_t C = sc.shared.chunk_tokens;
    const std::int64_t per_module = (lib.tokens + C - 1) / C;
    auto pi_mod = water_fill(skew_weights(lib.count, lib.popularity), static_cast<double>(lib.per_request));
    std::vector<double> keep;
    keep.reserve(static_cast<std::size_t>(lib.count * per_module));
    for (double pm : pi_mod) {
      for (std::int64_t c = 0; c < per_module; ++c) keep.push_back(pm * (1.0 - sc.shared.sparsity));
    }
    shared_tokens_ = lib.count * per_module * C;
    const auto k = std::max<std::int64_t>(1, std::llround(static_cast<double>(lib.per_request * per_module) * (1.0 - sc.shared.sparsity)));
    attended_shared_ = k * C;
    recompute_tokens_ = lib.per_request * lib.recompute_tokens;
    corpus_routers_.push_back(std::make_unique<ChunkRouter>(std::move(keep), C));
    corpus_attended_.push_back(attended_shared_);
    corpus_weight_.push_back(1.0);
  } else if (sc.shared.tokens > 0) {
    // One router per corpus (a module library seen by a non-modular system is one flat corpus).
    std::vector<std::int64_t> tokens = sc.shared.corpus_tokens;
    std::vector<double> weights = sc.shared.corpus_weights;
    if (tokens.empty()) {
      tokens = {sc.shared.tokens};
      weights = {1.0};
    }
    double wsum = 0;
    for (double w : weights) wsum += w;
    for (std::size_t c = 0; c < tokens.size(); ++c) {
      const std::int64_t C = sc.shared.chunk_tokens;
      std::int64_t n = (tokens[c] + C - 1) / C;
      shared_tokens_ += n * C;
      std::int64_t k = sys_.sparse() ? std::max<std::int64_t>(1, std::llround((1.0 - sc.shared.sparsity) * n)) : n;
      corpus_attended_.push_back(k * C);
      corpus_weight_.push_back(weights[c] / wsum);
      corpus_routers_.push_back(std::make_unique<ChunkRouter>(n, k, C, sc.shared.routing));
    }
    attended_shared_ = corpus_attended_.front();
  }

  // Pools.
  const PoolSpec* serve = nullptr;
  const PoolSpec* uniq = nullptr;
  const PoolSpec* shar = nullptr;
  for (const auto& p : sc.pools) {
    if (p.role == "serve") serve = serve ? throw InputError(fmt::format("{}: only one pool of role serve is supported", sc.file)) : &p;
    if (p.role == "unique") uniq = &p;
    if (p.role == "shared") shar = &p;
  }
  if (sys_.disaggregated) {
    if (!uniq || !shar) throw InputError(fmt::format("{}: system {} needs a pool of role \"unique\" and one of role \"shared\"", sc.file, sys_.name));
    if (shared_tokens_ == 0) throw InputError(fmt::format("{}: system {} needs a shared context (key 'shared.tokens' > 0)", sc.file, sys_.name));
  } else if (!serve) {
    throw InputError(fmt::format("{}: system {} needs one pool of role \"serve\"", sc.file, sys_.name));
  }
  auto add_pool = [&](const PoolSpec& p) {
    CostModel cm(load_hardware(p.hw));
    cm.gpu().peak(prec_.gemm_math());
    if (model_.n_heads % p.tp != 0) {
      throw InputError(fmt::format("{}: pool '{}': tp {} must divide the model's {} heads", sc.file, p.name, p.tp, model_.n_heads));
    }
    PoolStats ps;
    ps.name = p.name;
    ps.role = p.role;
    ps.hw = cm.gpu().name;
    ps.gpus = p.instances * p.tp;
    ps.groups = p.instances;
    ps.peak_flops_per_gpu = cm.gpu().peak(prec_.gemm_math());
    ps.hbm_bw_per_gpu = cm.gpu().hbm_bw_bps;
    ps.hbm_bytes_per_gpu = cm.gpu().hbm_bytes;
    pools_.push_back(ps);
    cms_.push_back(std::move(cm));
  };
  const PoolSpec& main = sys_.disaggregated ? *uniq : *serve;
  add_pool(main);
  if (sys_.disaggregated) add_pool(*shar);
  unique_groups_ = main.instances;
  tp_unique_ = main.tp;
  if (sys_.disaggregated) {
    shared_groups_ = shar->instances;
    tp_shared_ = shar->tp;
  }

  // KV bytes a TP group holds per token: with fewer KV heads than ranks, heads are replicated.
  auto held_per_token = [&](int tp) {
    double heads_per_gpu = std::max<double>(1.0, static_cast<double>(model_.n_kv_heads / tp));
    return kv_tok * std::max(1.0, heads_per_gpu * tp / static_cast<double>(model_.n_kv_heads));
  };
  kv_held_per_token_ = held_per_token(main.tp);
  // Memory per instance: weights (sharded over TP) + shared KV held here + the rest for unique KV.
  const auto& g = cms_[0].gpu();
  double group_hbm = g.hbm_bytes * main.tp;
  double shared_bytes_here = (shared_tokens_ > 0 && sys_.storage == SharedStorage::once_per_instance)
                                 ? static_cast<double>(shared_tokens_) * kv_held_per_token_ : 0.0;
  double free_bytes = (group_hbm - weights - shared_bytes_here) * sc.scheduler.kv_memory_fraction;
  if (free_bytes <= 0) {
    throw InputError(fmt::format(
        "{}: {} does not fit on pool '{}' ({} x{}): weights {:.1f} GiB + shared KV {:.1f} GiB > {:.1f} GiB of HBM "
        "per TP group (x{:.2f} usable); add GPUs (tp), use fp8, or shrink shared.tokens",
        sc.file, model_.name, main.name, g.name, main.tp, weights / kGiB, shared_bytes_here / kGiB, group_hbm / kGiB,
        sc.scheduler.kv_memory_fraction));
  }
  if (sys_.disaggregated) {
    const auto& gs = cms_[1].gpu();
    double pool_hbm = gs.hbm_bytes * shar->tp * shar->instances * sc.scheduler.kv_memory_fraction;
    double need = static_cast<double>(shared_tokens_) * held_per_token(shar->tp);
    if (need > pool_hbm) {
      throw InputError(fmt::format("{}: shared KV of {:.1f} GiB does not fit on pool '{}' ({:.1f} GiB usable)", sc.file,
                                   need / kGiB, shar->name, pool_hbm / kGiB));
    }
  }
  auto capacity = static_cast<std::int64_t>(free_bytes / kv_held_per_token_);
  logical_instances_ = sys_.disaggregated ? 1 : main.instances;
  capacity_tokens_ = sys_.disaggregated ? capacity * main.instances : capacity;
  fixed_bytes_ = sys_.disaggregated ? weights * main.instances : weights + shared_bytes_here;
  instance_hbm_ = group_hbm * (sys_.disaggregated ? main.instances : 1);
}

const SharedAttention& ClusterModel::route(const std::vector<std::int64_t>& requests_per_corpus) const {
  if (corpus_routers_.size() == 1) return corpus_routers_[0]->route(requests_per_corpus[0]);
  // Several corpora: their chunk groups run side by side; the router op is costed at the
  // request-weighted mean corpus size and top-k (each request scores only its own corpus).
  mixed_ = SharedAttention{};
  double chunks = 0, topk = 0;
  for (std::size_t c = 0; c < corpus_routers_.size(); ++c) {
    const std::int64_t b = requests_per_corpus[c];
    if (b == 0) continue;
    const auto& s = corpus_routers_[c]->route(b);
    mixed_.requests += b;
    chunks += static_cast<double>(b) * static_cast<double>(s.total_chunks);
    topk += static_cast<double>(b) * static_cast<double>(s.top_k);
    mixed_.groups.insert(mixed_.groups.end(), s.groups.begin(), s.groups.end());
  }
  if (mixed_.requests > 0) {
    mixed_.total_chunks = std::llround(chunks / static_cast<double>(mixed_.requests));
    mixed_.top_k = std::llround(topk / static_cast<double>(mixed_.requests));
  }
  return mixed_;
}

namespace {
constexpr std::int64_t kDirectMax = std::int64_t{1} << 20;  // integer keys cached up to this
bool same_routing(const SharedAttention& a, const SharedAttention& b) {
  if (a.requests != b.requests || a.total_chunks != b.total_chunks || a.top_k != b.top_k ||
      a.groups.size() != b.groups.size()) {
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

const std::vector<ClusterModel::Term>* ClusterModel::SharedTermCache::find(const SharedAttention& s) const {
  if (s.requests < 0 || s.requests >= static_cast<std::int64_t>(slots_.size())) return nullptr;
  const auto& e = slots_[static_cast<std::size_t>(s.requests)];
  return e.used && same_routing(e.s, s) ? &e.terms : nullptr;
}

void ClusterModel::SharedTermCache::insert(const SharedAttention& s, const std::vector<Term>& terms) {
  if (s.requests < 0 || s.requests >= kDirectMax) return;
  const auto i = static_cast<std::size_t>(s.requests);
  if (slots_.size() <= i) slots_.resize(std::max(i + 1, 2 * slots_.size()));
  auto& e = slots_[i];
  e.s.requests = s.requests;
  e.s.total_chunks = s.total_chunks;
  e.s.top_k = s.top_k;
  e.s.groups.assign(s.groups.begin(), s.groups.end());
  e.terms.assign(terms.begin(), terms.end());
  e.used = true;
}

ClusterModel::Term ClusterModel::term(int pool, const Op& op) const {
  const auto n = static_cast<double>(op.count);
  const double s = cms_[static_cast<std::size_t>(pool)].op_seconds(op) * n;
  if (op.cls == OpClass::comm) return {s, 0.0, 0.0};
  return {s, op.flops * n, op.bytes * n};
}

void ClusterModel::fold_dense(std::int64_t T, std::int64_t rows, Acc& acc) const {
  if (T <= 0) return;
  // Terms of the operators that depend on x, from `table` (built by `emit` on first use).
  auto fold_by = [&](TermTable& table, std::int64_t x, auto&& emit) {
    if (x < 0 || x >= kDirectMax) {
      ops_.clear();
      emit(x);
      for (const auto& op : ops_) acc.add(term(0, op));
      return;
    }
    const auto i = static_cast<std::size_t>(x);
    if (table.known.size() <= i) table.known.resize(std::max(i + 1, 2 * table.known.size()), 0);
    if (!table.known[i]) {
      ops_.clear();
      emit(x);
      if (table.stride < 0) table.stride = static_cast<int>(ops_.size());
      if (static_cast<int>(ops_.size()) != table.stride) {  // not expected: the list's length is fixed per pool
        for (const auto& op : ops_) acc.add(term(0, op));
        return;
      }
      if (table.terms.size() < table.known.size() * static_cast<std::size_t>(table.stride)) {
        table.terms.resize(table.known.size() * static_cast<std::size_t>(table.stride));
      }
      for (std::size_t k = 0; k < ops_.size(); ++k) table.terms[i * static_cast<std::size_t>(table.stride) + k] = term(0, ops_[k]);
      table.known[i] = 1;
    }
    const Term* t = &table.terms[i * static_cast<std::size_t>(table.stride)];
    for (int k = 0; k < table.stride; ++k) acc.add(t[k]);
  };
  fold_by(token_terms_, T, [&](std::int64_t x) { append_dense_token_ops(model_, prec_, x, tp_unique_, ops_); });
  fold_by(logit_terms_, rows, [&](std::int64_t x) { append_logit_ops(model_, prec_, x, tp_unique_, ops_); });
}

void ClusterModel::fold_unique_attention(const BatchSpec& b, int tp, Acc& acc) const {
  // append_unique_attention_ops, without building the kv_append op every step.
  std::int64_t appended = b.decode_requests;
  for (const auto& p : b.prefills) appended += p.new_tokens;
  if (appended > 0) {
    if (appended < (1 << 20)) {
      const auto i = static_cast<std::size_t>(appended);
      if (kv_append_.size() <= i) kv_append_.resize(std::max(i + 1, 2 * kv_append_.size()), Term{-1.0, 0.0, 0.0});
      if (kv_append_[i].seconds < 0) kv_append_[i] = term(0, make_kv_append(model_, prec_, tp, appended));
      acc.add(kv_append_[i]);
    } else {
      acc.add(term(0, make_kv_append(model_, prec_, tp, appended)));
    }
  }
  const std::int64_t L = model_.n_layers;
  if (b.decode_requests > 0) {
    if (decode_op_tp_ != tp) {
      decode_op_ = make_decode_attention(model_, prec_, tp, b.decode_requests, b.decode_kv_tokens, L);
      decode_op_tp_ = tp;
    }
    set_decode_batch(decode_op_, prec_, b.decode_requests, b.decode_kv_tokens);
    acc.add(term(0, decode_op_));
  }
  for (const auto& p : b.prefills) {
    if (p.new_tokens <= 0) continue;
    if (prefill_op_tp_ != tp) {
      prefill_op_ = make_prefill_attention(model_, prec_, tp, p.new_tokens, p.past_tokens, L);
      prefill_op_tp_ = tp;
    }
    set_prefill_chunk(prefill_op_, prec_, p.new_tokens, p.past_tokens);
    acc.add(term(0, prefill_op_));
  }
}

void ClusterModel::fold_shared(int pool, const SharedAttention& s, int tp, Acc& acc) const {
  if (s.groups.empty()) return;
  auto& cache = shared_terms_[pool];
  const auto* terms = cache.find(s);
  if (!terms) {
    ops_.clear();
    append_shared_ops(model_, prec_, s, tp, ops_);
    terms_.clear();
    for (const auto& op : ops_) terms_.push_back(term(pool, op));
    cache.insert(s, terms_);
    terms = &terms_;
  }
  for (const auto& t : *terms) acc.add(t);
}

ClusterModel::DenseCost ClusterModel::dense_cost(const BatchSpec& b) const {
  // The dense part (GEMMs, norms, LM head, collectives) depends only on the token count and the
  // rows that produce logits; its terms are cached by each (fold_dense). The sum, as
  // CostModel::iteration over append_dense_ops gives it (the fold plus the host overhead, less it),
  // is kept for decode-only batches (rows == tokens) and folded again otherwise (~14 additions).
  const std::int64_t T = b.tokens();
  const std::int64_t rows = b.decode_requests + static_cast<std::int64_t>(b.prefills.size());
  auto sum = [&] {
    Acc d;
    fold_dense(T, rows, d);
    const double overhead = cms_[0].gpu().roofline.iteration_overhead_s;
    d.seconds += overhead;
    return DenseCost{d.seconds - overhead, d.flops, d.bytes, true};
  };
  if (rows != T || T < 0 || T >= kDirectMax) return sum();
  const auto i = static_cast<std::size_t>(T);
  if (dense_rows_eq_tokens_.size() <= i) dense_rows_eq_tokens_.resize(std::max(i + 1, 2 * dense_rows_eq_tokens_.size()));
  DenseCost& dc = dense_rows_eq_tokens_[i];
  if (!dc.known) dc = sum();
  return dc;
}

IterStats ClusterModel::cost(const BatchSpec& batch) const {
  // One prompt alone (Mooncake's prefill instances; its Conductor asks the same prompt's cost of
  // every instance): answered from a small direct-mapped cache by (new tokens, cached tokens).
  if (batch.decode_requests == 0 && batch.prefills.size() == 1 && batch.shared.groups.empty()) {
    const auto& p = batch.prefills[0];
    const std::uint64_t h = (static_cast<std::uint64_t>(p.new_tokens) * 0x9e3779b97f4a7c15ULL) ^
                            (static_cast<std::uint64_t>(p.past_tokens) * 0xff51afd7ed558ccdULL);
    auto& e = prompt_cache_[(h ^ (h >> 29)) & (kPromptCache - 1)];
    if (e.known && e.new_tokens == p.new_tokens && e.past_tokens == p.past_tokens) return e.stats;
    e = PromptEntry{p.new_tokens, p.past_tokens, cost_uncached(batch), true};
    return e.stats;
  }
  return cost_uncached(batch);
}

IterStats ClusterModel::cost_uncached(const BatchSpec& batch) const {
  IterStats st;
  const auto& prec = prec_;
  const double sched_overhead = sched_overhead_s_;
  // Every part below adds its operators' terms in the order build_iteration_ops emits them, then the
  // host overhead, as CostModel::iteration does: the same bits as costing the operator list.
  if (!sys_.disaggregated) {
    const int tp = tp_unique_;
    const DenseCost dense = dense_cost(batch);
    // Attention is costed every step (the shared part is cached by its routing).
    Acc c;
    if (batch.tokens() > 0) {
      fold_unique_attention(batch, tp, c);
      fold_shared(0, batch.shared, tp, c);
    }
    c.seconds += cms_[0].gpu().roofline.iteration_overhead_s;
    st.seconds = dense.seconds + c.seconds + sched_overhead;
    st.flops[0] = (dense.flops + c.flops) * tp_unique_;  // ops are per GPU
    st.bytes[0] = (dense.bytes + c.bytes) * tp_unique_;
    return st;
  }
  // Disaggregated: unique pool's share per TP group (requests spread evenly), shared pool's per group.
  const auto nA = static_cast<std::int64_t>(unique_groups_);
  BatchSpec& a = a_;
  a.tp = tp_unique_;
  a.decode_requests = (batch.decode_requests + nA - 1) / nA;
  a.decode_kv_tokens = (batch.decode_kv_tokens + nA - 1) / nA;
  a.prefills.clear();
  for (std::size_t i = 0; i < batch.prefills.size(); i += static_cast<std::size_t>(nA)) a.prefills.push_back(batch.prefills[i]);
  Acc ca;
  const bool a_tokens = a.tokens() > 0;
  if (a_tokens) {
    fold_dense(a.tokens(), a.decode_requests + static_cast<std::int64_t>(a.prefills.size()), ca);
    fold_unique_attention(a, tp_unique_, ca);
  }
  double tB = 0, tL = 0;
  if (!batch.shared.groups.empty()) {
    const auto& sh = batch.shared;
    const auto nB = static_cast<std::int64_t>(shared_groups_);
    const std::int64_t L = model_.n_layers;
    // The unique pool routes its requests (chunk mean-keys are small) and merges, per request, the
    // unique partial with the one pre-merged partial each shared group returns.
    const std::int64_t a_req = (sh.requests + nA - 1) / nA;
    if (sh.top_k < sh.total_chunks) {
      ca.add(term(0, make_router(model_, prec, tp_unique_, a_req, sh.total_chunks, sh.top_k, L)));
    }
    ca.add(term(0, make_merge(model_, prec, tp_unique_, a_req, nB + 1, L)));
    // Placement by popularity: chunks of equal expected load (the router's groups, hottest first)
    // are striped over the shared groups, so each holds 1/nB of every popularity band (rounded up:
    // the busiest group is costed). It runs their batched launches for every query routed to them
    // and merges each request's partials over its own chunks (about k/nB). Replicating a chunk
    // hotter than a whole group's share is not modelled.
    SharedAttention& bs = mixed_b_;
    bs.requests = sh.requests;
    bs.groups.assign(sh.groups.begin(), sh.groups.end());
    for (auto& g : bs.groups) g.n_chunks = (g.n_chunks + nB - 1) / nB;
    bs.top_k = std::max<std::int64_t>(1, (sh.top_k + nB - 1) / nB);
    bs.total_chunks = bs.top_k;  // no router on the shared pool
    Acc cb;
    if (sh.requests > 0) fold_shared(1, bs, tp_shared_, cb);
    cb.seconds += cms_[1].gpu().roofline.iteration_overhead_s;
    tB = cb.seconds;
    st.flops[1] = cb.flops * static_cast<double>(nB * tp_shared_);
    st.bytes[1] = cb.bytes * static_cast<double>(nB * tp_shared_);
    // Per layer: each routed query goes to every shared group, each returns one pre-merged partial
    // (output + LSE). Carried by the unique pool's NICs together.
    const auto& node = cms_[0].hardware().node;
    double qbytes = static_cast<double>(batch.shared.requests) * model_.q_dim() * dtype_bytes(prec.act);
    double rbytes = static_cast<double>(batch.shared.requests) * model_.n_heads * (model_.head_dim * dtype_bytes(prec.act) + 4.0);
    double per_layer = static_cast<double>(nB) * (qbytes + rbytes);
    double bw = node.nic_bw_bps * static_cast<double>(nA * tp_unique_);
    tL = static_cast<double>(model_.n_layers) * (per_layer / bw + 2.0 * node.nic_latency_s);
  }
  ca.seconds += cms_[0].gpu().roofline.iteration_overhead_s;
  double tA = ca.seconds;
  double mx = std::max({tA, tB, tL});
  st.seconds = mx + (tA + tB + tL - mx) / micro_batches_ + sched_overhead;
  st.flops[0] = ca.flops * static_cast<double>(nA * tp_unique_);
  st.bytes[0] = ca.bytes * static_cast<double>(nA * tp_unique_);
  return st;
}

}  // namespace moska
