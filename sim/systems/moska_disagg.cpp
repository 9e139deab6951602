// moska-disagg: MoSKA with the shared-KV attention on its own pool. The unique pool's TP groups
// run in lockstep as one logical instance (so the shared pool batches all of their queries): each
// holds the weights and its share of the requests' own KV, runs the dense layers and the unique
// attention, routes its requests and merges their partials. The shared pool holds the shared
// context, chunks striped over its groups by popularity; per layer, each routed query goes to every
// shared group and one pre-merged partial comes back. The three parts (unique pool, shared pool,
// the link between them) overlap over `scheduler.micro_batches` micro-batches.
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
  const auto& A = unique_->step;
  const auto& B = shared_pool_->step;
  const int tp_unique = unique_->spec->tp, tp_shared = shared_pool_->spec->tp;
  // The unique pool's share per TP group (requests spread evenly), the shared pool's per group.
  const auto nA = static_cast<std::int64_t>(unique_groups_);
  BatchSpec& a = a_;
  a.tp = tp_unique;
  a.decode_requests = (batch.decode_requests + nA - 1) / nA;
  a.decode_kv_tokens = (batch.decode_kv_tokens + nA - 1) / nA;
  a.prefills.clear();
  for (std::size_t i = 0; i < batch.prefills.size(); i += static_cast<std::size_t>(nA)) a.prefills.push_back(batch.prefills[i]);
  Work ca;
  if (a.tokens() > 0) {
    A.fold_dense(a.tokens(), a.decode_requests + static_cast<std::int64_t>(a.prefills.size()), ca);
    A.fold_unique_attention(a, ca);
  }
  double tB = 0, tL = 0, flops1 = 0, bytes1 = 0;
  if (!batch.shared.groups.empty()) {
    const auto& sh = batch.shared;
    const auto nB = static_cast<std::int64_t>(shared_groups_);
    const std::int64_t L = model_.n_layers;
    const Precision& prec = sc_.precision;
    // The unique pool routes its requests (chunk mean-keys are small) and merges, per request, the
    // unique partial with the one pre-merged partial each shared group returns.
    const std::int64_t a_req = (sh.requests + nA - 1) / nA;
    if (sh.top_k < sh.total_chunks) ca.add(A.op(make_router(model_, prec, tp_unique, a_req, sh.total_chunks, sh.top_k, L)));
    ca.add(A.op(make_merge(model_, prec, tp_unique, a_req, nB + 1, L)));
    // Placement by popularity: chunks of equal expected load (the router's groups, hottest first)
    // are striped over the shared groups, so each holds 1/nB of every popularity band (rounded up:
    // the busiest group is costed). It runs their batched launches for every query routed to them
    // and merges each request's partials over its own chunks (about k/nB). Replicating a chunk
    // hotter than a whole group's share is not modelled.
    SharedAttention& bs = bs_;
    bs.requests = sh.requests;
    bs.groups.assign(sh.groups.begin(), sh.groups.end());
    for (auto& g : bs.groups) g.n_chunks = (g.n_chunks + nB - 1) / nB;
    bs.top_k = std::max<std::int64_t>(1, (sh.top_k + nB - 1) / nB);
    bs.total_chunks = bs.top_k;  // no router on the shared pool
    Work cb;
    if (sh.requests > 0) B.fold_shared(bs, cb);
    cb.seconds += B.iteration_overhead_s();
    tB = cb.seconds;
    flops1 = cb.flops * static_cast<double>(nB * tp_shared);
    bytes1 = cb.bytes * static_cast<double>(nB * tp_shared);
    // Per layer: each routed query goes to every shared group, each returns one pre-merged partial
    // (output + LSE). Carried by the unique pool's NICs together.
    const auto& node = A.cost_model().hardware().node;
    const double qbytes = static_cast<double>(batch.shared.requests) * model_.q_dim() * dtype_bytes(prec.act);
    const double rbytes =
        static_cast<double>(batch.shared.requests) * model_.n_heads * (model_.head_dim * dtype_bytes(prec.act) + 4.0);
    const double per_layer = static_cast<double>(nB) * (qbytes + rbytes);
    const double bw = node.nic_bw_bps * static_cast<double>(nA * tp_unique);
    tL = static_cast<double>(model_.n_layers) * (per_layer / bw + 2.0 * node.nic_latency_s);
  }
  ca.seconds += A.iteration_overhead_s();
  const double tA = ca.seconds;
  const double mx = std::max({tA, tB, tL});
  st.seconds = mx + (tA + tB + tL - mx) / sc_.scheduler.micro_batches + sc_.scheduler.iteration_overhead_s;
  st.charges.clear();
  st.charge(0, ca.flops * static_cast<double>(nA * tp_unique), ca.bytes * static_cast<double>(nA * tp_unique), unique_groups_);
  st.charge(1, flops1, bytes1, shared_groups_);
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
