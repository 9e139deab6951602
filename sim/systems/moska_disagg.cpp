// moska-disagg: MoSKA with the shared-KV attention on its own pool. The unique pool's TP groups
// run in lockstep as one logical instance (so the shared pool batches all of their queries): each
// holds the weights and its share of the requests' own KV, runs the dense layers and the unique
// attention, routes its requests and merges their partials. The shared pool holds the shared
// context, chunks striped over its groups by popularity; per layer, each routed query goes to every
// shared group and one pre-merged partial comes back. Per layer the unique attention overlaps that
// round trip and the shared attention; `scheduler.micro_batches` micro-batches keep the two pools and
// the link busy at once, each re-reading what it touches (see DisaggDeployment::cost).
#include "sim/systems/moska_disagg.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "sim/util/error.hpp"

namespace moska {

namespace {
constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

class DisaggDeployment final : public BatchingDeployment {
 public:
  DisaggDeployment(const SharedKvSystem& sys, const Scenario& sc);

  void finish_run(ServingLoop& loop) override;
  void cost(const BatchSpec& batch, IterStats& out) const override;

  int logical_instances() const override { return 1; }
  int kv_groups() const override { return unique_groups_; }
  std::int64_t capacity_tokens() const override { return capacity_; }
  double fixed_bytes() const override { return fixed_bytes_; }
  double instance_hbm_bytes() const override { return unique_->group_hbm_bytes * unique_groups_; }
  std::vector<PoolStats> pool_stats() const override { return {unique_->stats, shared_pool_->stats}; }

 protected:
  double kv_held_per_token() const override { return unique_->kv_held_per_token; }
  // The shared context is striped over the shared pool and its partials merged with the unique
  // ones across the link: context parallelism between the pools. A request's own tokens live on
  // one unique group.
  bool parallel_shared_span() const override { return true; }
  bool parallel_own_span() const override { return false; }

 private:
  const PoolSpec& pool_spec(const Scenario& sc, const std::string& role) const;
  std::unique_ptr<PoolLayout> unique_, shared_pool_;
  int unique_groups_ = 1, shared_groups_ = 1;
  std::int64_t capacity_ = 0;
  double fixed_bytes_ = 0;
  mutable BatchSpec a_;          // scratch: the unique pool's share of a step
  mutable SharedAttention bs_;   // scratch: the shared pool's share of a step
};

DisaggDeployment::DisaggDeployment(const SharedKvSystem& sys, const Scenario& sc)
    : BatchingDeployment(sys, sc, load_model(sc.model), sys.shared_context(sc.shared, sc.file)) {
  const PoolSpec* uniq = nullptr;
  const PoolSpec* shar = nullptr;
  const PoolSpec* serve = nullptr;
  for (const auto& p : sc.pools) {
    if (p.role == "serve") serve = serve ? throw InputError(fmt::format("{}: only one pool of role serve is supported", sc.file)) : &p;
    if (p.role == "unique") uniq = &p;
    if (p.role == "shared") shar = &p;
  }
  if (!uniq || !shar) {
    throw InputError(fmt::format("{}: system {} needs a pool of role \"unique\" and one of role \"shared\"", sc.file, sys.name()));
  }
  if (shared_.tokens() == 0) {
    throw InputError(fmt::format("{}: system {} needs a shared context (key 'shared.tokens' > 0)", sc.file, sys.name()));
  }
  unique_ = std::make_unique<PoolLayout>(make_pool(sc, *uniq, model_));
  shared_pool_ = std::make_unique<PoolLayout>(make_pool(sc, *shar, model_));
  unique_groups_ = uniq->instances;
  shared_groups_ = shar->instances;
  // Each unique group holds the weights and its share of the requests' own KV; the shared KV lives
  // on the shared pool and must fit there.
  const std::int64_t per_group = group_kv_capacity(sc, *unique_, model_, 0.0);
  const auto& gs = shared_pool_->step.cost_model().gpu();
  const double pool_hbm = gs.hbm_bytes * shar->tp * shar->instances * sc.scheduler.kv_memory_fraction;
  const double need = static_cast<double>(shared_.tokens()) * shared_pool_->kv_held_per_token;
  if (need > pool_hbm) {
    throw InputError(fmt::format("{}: shared KV of {:.1f} GiB does not fit on pool '{}' ({:.1f} GiB usable)", sc.file,
                                 need / kGiB, shar->name, pool_hbm / kGiB));
  }
  capacity_ = per_group * unique_groups_;
  fixed_bytes_ = model_.weight_bytes(sc.precision.weights) * unique_groups_;
}

void DisaggDeployment::finish_run(ServingLoop& loop) {
  BatchingDeployment::finish_run(loop);
  auto& out = loop.out();
  const double shared_bytes = static_cast<double>(shared_.tokens()) * model_.kv_bytes_per_token(sc_.precision.kv);
  out.pools[1].mem_byte_seconds = shared_bytes * out.sim_seconds;
  out.pools[1].peak_mem_fraction = shared_bytes / (out.pools[1].hbm_bytes_per_gpu * out.pools[1].gpus);
}

void DisaggDeployment::cost(const BatchSpec& batch, IterStats& st) const {
  // One micro-batch of one unique group (requests spread evenly over the groups, then over the
  // micro-batches), and its queries' work on one shared group. Per layer (every term below is a
  // step's work / L: the dense layers, LM head and embedding spread evenly over the layers):
  //   chain = a_dense + max(a_unique_attention, q + s + r)   one micro-batch through a layer: its
  //           queries travel to the shared pool (q), are attended there (s), partials come back (r)
  //           while the unique pool attends the unique KV;
  //   T     = max(chain, m a, m s, m q_bytes, m r_bytes)     m micro-batches in flight share each
  //           resource (the unique pool, the shared pool, each direction of the link), each
  //           micro-batch re-reading what it touches (the weights, each chunk it has a query for).
  // The step is L x T (plus the host overhead), the lower bound of a cyclic pipeline.
  const auto& A = unique_->step;
  const auto& B = shared_pool_->step;
  const int tp_unique = unique_->spec->tp, tp_shared = shared_pool_->spec->tp;
  const auto nA = static_cast<std::int64_t>(unique_groups_);
  const auto nB = static_cast<std::int64_t>(shared_groups_);
  const auto m = static_cast<std::int64_t>(std::max(1, sc_.scheduler.micro_batches));
  const auto share = [](std::int64_t x, std::int64_t n) { return (x + n - 1) / n; };
  const double L = static_cast<double>(model_.n_layers);
  BatchSpec& a = a_;
  a.tp = tp_unique;
  a.decode_requests = share(batch.decode_requests, nA * m);
  a.decode_kv_tokens = share(batch.decode_kv_tokens, nA * m);
  a.prefills.clear();
  const auto every = static_cast<std::size_t>(nA * m);
  for (std::size_t i = 0; i < batch.prefills.size(); i += every) a.prefills.push_back(batch.prefills[i]);
  Work dense, attn;
  if (a.tokens() > 0) {
    A.fold_dense(a.tokens(), a.decode_requests + static_cast<std::int64_t>(a.prefills.size()), dense);
    A.fold_unique_attention(a, attn);
  }
  Work sw;
  double q = 0, r = 0, lat = 0;
  const auto& sh = batch.shared;
  if (!sh.groups.empty() && sh.requests > 0) {
    const std::int64_t L_ops = model_.n_layers;
    const Precision& prec = sc_.precision;
    const std::int64_t mb_req = share(sh.requests, m);  // routed queries of a micro-batch, all groups
    const std::int64_t a_req = share(sh.requests, nA * m);
    // The unique pool routes its requests (chunk mean-keys are small) and merges, per request, the
    // unique partial with the one pre-merged partial each shared group returns.
    if (sh.top_k < sh.total_chunks) dense.add(A.op(make_router(model_, prec, tp_unique, a_req, sh.total_chunks, sh.top_k, L_ops)));
    dense.add(A.op(make_merge(model_, prec, tp_unique, a_req, nB + 1, L_ops)));
    // Placement by popularity: chunks of equal expected load (the router's groups, hottest first)
    // are striped over the shared groups, so each holds 1/nB of every popularity band (rounded up:
    // the busiest group is costed). A micro-batch's launch reads a chunk if it has a query for it:
    // a chunk with Q >= m queries is read by every micro-batch (Q/m queries each), one with Q < m
    // by Q of them (one query each). The group merges each request's partials over its own chunks
    // (about k/nB). Replicating a chunk hotter than a whole group's share is not modelled.
    SharedAttention& bs = bs_;
    bs.requests = mb_req;
    bs.segments = 0;
    bs.groups.clear();
    for (const auto& g : sh.groups) {
      const std::int64_t n = share(g.n_chunks, nB);
      if (g.queries >= m) bs.groups.push_back({n, g.chunk_tokens, share(g.queries, m)});
      else bs.groups.push_back({share(n * g.queries, m), g.chunk_tokens, 1});
    }
    bs.top_k = std::max<std::int64_t>(1, share(sh.top_k, nB));
    bs.total_chunks = bs.top_k;  // no router on the shared pool
    B.fold_shared(bs, sw);
    // Per layer and micro-batch: each routed query goes to every shared group, each group returns
    // one pre-merged partial (output + LSE). A direction's bytes cross at the bandwidth of the side
    // with fewer NICs (every GPU of the other side sends or receives its share through them).
    const auto& node = A.cost_model().hardware().node;
    const double qbytes = static_cast<double>(nB * mb_req) * static_cast<double>(model_.q_dim()) * dtype_bytes(prec.act);
    const double rbytes = static_cast<double>(nB * mb_req) * static_cast<double>(model_.n_heads) *
                          (static_cast<double>(model_.head_dim) * dtype_bytes(prec.act) + 4.0);
    const double bw = node.nic_bw_bps * static_cast<double>(std::min(nA * tp_unique, nB * tp_shared));
    q = qbytes / bw;
    r = rbytes / bw;
    lat = node.nic_latency_s;
  }
  const double a_dense = dense.seconds / L, a_attn = attn.seconds / L, s_layer = sw.seconds / L;
  const double path = sw.seconds > 0 ? q + lat + s_layer + r + lat : 0.0;
  const double chain = a_dense + std::max(a_attn, path);
  const double M = static_cast<double>(m);
  const double T = std::max({chain, M * (a_dense + a_attn), M * s_layer, M * q, M * r});
  st.seconds = L * T + std::max(A.iteration_overhead_s(), B.iteration_overhead_s()) + sc_.scheduler.iteration_overhead_s;
  st.charges.clear();
  Work ca = dense;
  ca.add(attn);
  const double unique_gpus = static_cast<double>(nA * tp_unique) * M, shared_gpus = static_cast<double>(nB * tp_shared) * M;
  st.charge(0, ca.flops * unique_gpus, ca.bytes * unique_gpus, unique_groups_, ca.measured);
  st.charge(1, sw.flops * shared_gpus, sw.bytes * shared_gpus, shared_groups_, sw.measured);
}

class MoskaDisagg final : public DisaggSystem {
 public:
  std::string_view name() const override { return "moska-disagg"; }
  std::string_view description() const override {
    return "MoSKA with shared-KV attention on its own pool; queries and partials cross the network";
  }
  bool compared_by_default() const override { return true; }
  SharedContext shared_context(const SharedSpec& spec, const std::string&) const override {
    return SharedContext::make(spec, Cut::top_k);
  }
};
}  // namespace

std::unique_ptr<ConfiguredSystem> DisaggSystem::configure(const Scenario& sc) const {
  return std::make_unique<DisaggDeployment>(*this, sc);
}

const System& moska_disagg_system() {
  static const MoskaDisagg s;
  return s;
}

}  // namespace moska
