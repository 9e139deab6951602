#include "sim/systems/shared_kv.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "sim/serving/prefix_cache_counters.hpp"
#include "sim/util/error.hpp"

namespace moska {

int SharedKvSystem::scenario_gpus(const Scenario& sc) const { return gpus_in_roles(sc, roles()); }

std::optional<Strategy> SharedKvSystem::strategy(const StrategyQuery& q) const {
  if (strategy_what().empty()) return std::nullopt;
  // The shared context as one corpus of the query's chunks, uniformly routed (balanced routing).
  SharedSpec spec;
  spec.tokens = q.chunks * q.chunk_tokens;
  spec.corpus_tokens = {spec.tokens};
  spec.corpus_weights = {1.0};
  spec.chunk_tokens = q.chunk_tokens;
  spec.sparsity = q.sparsity;
  const SharedContext ctx = shared_context(spec, "predict");
  Strategy s;
  s.what = strategy_what();
  s.batch = q.base;
  s.batch.shared = {};
  const SharedUse use = shared_use(ctx, 0);
  s.batch.decode_kv_tokens += q.batch * use.read_tokens;
  if (use.routed) s.batch.shared = ctx.router()->route(q.batch);
  s.kv_needed_bytes = q.unique_kv_bytes + q.shared_kv_once_bytes * (holds_shared_once() ? 1.0 : static_cast<double>(q.batch));
  return s;
}

const PoolSpec& serve_pool(const Scenario& sc, std::string_view system) {
  const PoolSpec* serve = nullptr;
  for (const auto& p : sc.pools) {
    if (p.role == "serve") {
      if (serve) throw InputError(fmt::format("{}: only one pool of role serve is supported", sc.file));
      serve = &p;
    }
  }
  if (!serve) throw InputError(fmt::format("{}: system {} needs one pool of role \"serve\"", sc.file, system));
  return *serve;
}

// ---- the requests and instances of a shared-KV system ----

BatchingDeployment::BatchingDeployment(const SharedKvSystem& sys, const Scenario& sc, ModelSpec model, SharedContext shared)
    : ConfiguredSystem(std::move(model)), sys_(sys), sc_(sc), shared_(std::move(shared)), dispatch_(sc.scheduler.dispatch) {}

void BatchingDeployment::start(ServingLoop& loop) {
  loop_ = &loop;
  auto& out = loop.out();
  out.system = std::string(sys_.name());
  out.model = model_.name;
  out.pools = pool_stats();
  // What each request holds and reads: whether it attends the shared context (a seeded draw per
  // request), which corpus (its own if the workload names one, else drawn by popularity), and what
  // the system makes of that.
  Rng attach(sc_.seed ^ 0xa77ac4ULL);
  const auto& reqs = loop.requests();
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    const auto& q = reqs[i];
    auto& s = loop.state(static_cast<std::uint32_t>(i));
    const bool shares = shared_.tokens() > 0 && attach.uniform() < sc_.shared.attach_fraction;
    int corpus = 0;
    if (shares && shared_.count() > 1) {
      if (q.corpus >= 0 && q.corpus < shared_.count()) {
        corpus = q.corpus;
      } else {
        double u = attach.uniform(), acc = 0;
        corpus = shared_.count() - 1;
        for (int c = 0; c < shared_.count(); ++c) {
          acc += shared_.weight(c);
          if (u < acc) {
            corpus = c;
            break;
          }
        }
      }
    }
    s.prompt = q.input_tokens;
    s.reserve = q.input_tokens + q.output_tokens;
    s.prefix_cacheable = !shares;
    if (shares) {
      const SharedUse use = sys_.shared_use(shared_, corpus);
      // Its own copy and each composed module's recomputed leading tokens are prefilled with the
      // prompt and held in its KV.
      s.prompt += use.own_tokens + shared_.recompute_tokens();
      s.reserve += use.own_tokens + shared_.recompute_tokens();
      s.attn_extra = use.read_tokens;
      s.past_extra = use.prefill_past;
      if (use.routed) s.route_corpus = corpus;
    }
  }
  for (int i = 0; i < logical_instances(); ++i) {
    InstanceConfig c;
    c.pool = 0;
    c.id = i;
    c.capacity_tokens = capacity_tokens();
    c.fixed_bytes = fixed_bytes();
    c.hbm_bytes = instance_hbm_bytes();
    c.kv_held_per_token = kv_held_per_token();
    c.corpora = std::max(1, shared_.count());
    c.prefix_cache = sc_.scheduler.prefix_caching;
    instances_.push_back(std::make_unique<BatchingInstance>(loop, c, *this));
  }
}

void BatchingDeployment::arrive(std::uint32_t r) {
  const auto inst = dispatch_.pick(instances_);
  loop_->record(r).instance = static_cast<std::int32_t>(inst);
  if (!instances_[inst]->can_ever_fit(r)) {
    loop_->reject(r, "kv_never_fits");  // needs more KV than the instance can ever hold
  } else {
    instances_[inst]->enqueue(r);
  }
}

void BatchingDeployment::finish_run(ServingLoop& loop) {
  auto& out = loop.out();
  // Every instance holds its weights (and shared KV) the whole run.
  out.pools[0].mem_byte_seconds += fixed_bytes() * static_cast<double>(instances_.size()) * out.sim_seconds;
  if (sc_.scheduler.prefix_caching) add_prefix_cache_counters(instances_, out);
}

std::int64_t BatchingDeployment::tokens_per_request(std::int64_t ctx) const {
  // vllm holds its own copy of the shared context (all corpora, as a steady-state upper bound).
  const bool own_copy = shared_.tokens() > 0 && !sys_.holds_shared_once();
  return ctx + (own_copy ? shared_.tokens() : 0) + shared_.recompute_tokens();
}

std::int64_t BatchingDeployment::read_per_request(std::int64_t ctx) const {
  // What its decode reads itself besides its own context: its own copy, or the one stored copy (all
  // of it, or its top-k chunks); batched systems read the shared context in the shared launches.
  const std::int64_t shared = shared_.tokens();
  if (shared > 0 && !sys_.holds_shared_once()) return ctx + shared;
  return ctx + (shared > 0 ? sys_.shared_use(shared_, 0).read_tokens : 0);
}


void BatchingDeployment::decode_step(std::int64_t batch, std::int64_t read, IterStats& out) const {
  BatchSpec b;
  b.decode_requests = batch;
  b.decode_kv_tokens = batch * read;
  if (!shared_.empty() && sys_.shared_use(shared_, 0).routed) b.shared = shared_.router()->route(batch);
  cost(b, out);
}

void BatchingDeployment::route(const std::vector<std::int64_t>& routed_per_corpus, SharedAttention& out) const {
  out = shared_.route(routed_per_corpus);
}

// ---- colocated: the whole step on one TP group ----

ColocatedDeployment::ColocatedDeployment(const SharedKvSystem& sys, const Scenario& sc)
    : BatchingDeployment(sys, sc, load_model(sc.model), sys.shared_context(sc.shared, sc.file)),
      pool_(make_pool(sc, serve_pool(sc, sys.name()), model_)) {
  // Each instance holds the weights and, if the system stores it once per instance, the shared KV;
  // the rest (x kv_memory_fraction) is for requests' own KV.
  const double resident =
      shared_.tokens() > 0 && sys.holds_shared_once() ? static_cast<double>(shared_.tokens()) * pool_.kv_held_per_token : 0.0;
  capacity_ = group_kv_capacity(sc, pool_, model_, resident);
  fixed_bytes_ = model_.weight_bytes(sc.precision.weights) + resident;
}

std::string ColocatedDeployment::resident_note() const {
  return shared_.tokens() > 0 && sys_.holds_shared_once() ? " and the shared KV" : "";
}

void ColocatedDeployment::cost(const BatchSpec& batch, IterStats& out) const {
  const Work w = pool_.step.iteration(batch);
  out.seconds = w.seconds + sc_.scheduler.iteration_overhead_s;
  out.charges.clear();
  out.charge(0, w.flops, w.bytes);
}

}  // namespace moska
