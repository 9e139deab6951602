#include "sim/systems/shared_kv.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "sim/serving/prefix_cache_counters.hpp"
#include "sim/util/error.hpp"

namespace moska {

int SharedKvSystem::scenario_gpus(const Scenario& sc) const { return gpus_in_roles(sc, roles()); }

PlanShape SharedKvSystem::plan_shape(const Scenario& sc) const {
  PlanShape p;
  p.roles = roles();
  if (sc.shared.tokens <= 0 && (roles().size() > 1 || baseline_rank() != 0)) {
    p.skip = roles().size() > 1 ? "no shared context in the scenario (shared.tokens 0): its shared pool has nothing to hold"
                                : "no shared context in the scenario (shared.tokens 0): it serves exactly as the baseline does";
  }
  return p;
}

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
  if (use.routed) s.batch.shared = ctx.route(q.batch);
  if (use.selects && !use.routed) {
    s.selection = ctx.route(q.batch);
    s.selection.groups.clear();
  }
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
    : ConfiguredSystem(std::move(model)), sys_(sys), sc_(sc), shared_(std::move(shared)), dispatch_(sc.scheduler.dispatch) {
  if (!shared_.empty()) {
    const SharedUse use = sys_.shared_use(shared_, 0);
    routed_ = use.routed;
    selects_ = use.selects && !use.routed;
  }
}

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
    if (q.corpus >= 0 && shared_.tokens() > 0 && q.corpus >= shared_.count()) {
      throw InputError(fmt::format("{}: request {} attends corpus {} but the scenario has {} shared corpora (key "
                                   "'shared'; corpus indices run from 0)",
                                   sc_.file, q.id, q.corpus, shared_.count()));
    }
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
    // The span check covers scenarios with a shared context (see span_error); a trace alone is not
    // checked (the Mooncake reproductions run LLaMA2-70B's shapes, max_context 4,096, on 128K prompts).
    if (!shared_.empty()) {
      if (const auto why = span_error(q.input_tokens + q.output_tokens, shares ? shared_.span(corpus) : 0,
                                      fmt::format("request {} (prompt {}, output {})", i, q.input_tokens, q.output_tokens));
          !why.empty()) {
        throw InputError(why);
      }
    }
    if (shares) {
      const SharedUse use = sys_.shared_use(shared_, corpus);
      // Its own copy and each composed module's recomputed leading tokens are prefilled with the
      // prompt, held in its KV and read by its decode.
      s.prompt += use.own_tokens + shared_.recompute_tokens();
      s.reserve += use.own_tokens + shared_.recompute_tokens();
      s.attn_extra = use.read_tokens + shared_.recompute_tokens();
      s.past_extra = use.prefill_past;
      if (use.routed || use.selects) s.route_corpus = corpus;  // counted per step by the instance
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

namespace {
const std::vector<std::uint64_t> kNoHashes;
}  // namespace

void BatchingDeployment::arrive(std::uint32_t r) {
  const auto inst = dispatch_.pick(instances_, loop_->state(r).prefix_cacheable ? loop_->request(r).block_hashes : kNoHashes);
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

std::string BatchingDeployment::span_error(std::int64_t own, std::int64_t shared_span, const std::string& what) const {
  const std::int64_t max = model_.max_context;
  if (own + shared_span <= max) return "";
  const std::string head = fmt::format("{}: {} spans {} tokens ({} of its own{}) but {} has max_context {} (models/{}.json)",
                                       sc_.file, what, own + shared_span, own,
                                       shared_span > 0 ? fmt::format(" + {} of the shared context", shared_span) : "",
                                       model_.name, max, model_.name);
  if (!parallel_shared_span()) {
    return head + "; serve it with context parallelism (key 'context_parallel.degree' >= 2: TP groups of the serve "
                  "pool that each hold a stripe of the context) or shrink the context";
  }
  if (own > max && !parallel_own_span()) {
    return head + fmt::format("; {} spreads the shared context over its shared pool, but a request's own tokens live "
                              "on one unique group: shrink the prompt or output",
                              sys_.name());
  }
  return "";
}

std::string BatchingDeployment::span_error(std::int64_t own_tokens) const {
  if (shared_.empty()) return "";  // checked with a shared context only (as in start())
  const std::int64_t span = shared_.largest_span();
  return span_error(own_tokens, span, fmt::format("a request of {} tokens attending the shared context", own_tokens));
}

void BatchingDeployment::check_shared_span() const {
  if (shared_.empty() || sc_.shared.attach_fraction <= 0) return;
  if (const auto why = span_error(1, shared_.largest_span(), "a request attending the shared context"); !why.empty()) {
    throw InputError(why);
  }
}

SharedUse BatchingDeployment::largest_use() const {
  SharedUse u;
  for (int c = 0; c < shared_.count(); ++c) {
    const SharedUse x = sys_.shared_use(shared_, c);
    if (c == 0 || x.own_tokens + x.read_tokens > u.own_tokens + u.read_tokens) u = x;
  }
  return u;
}

std::int64_t BatchingDeployment::tokens_per_request(std::int64_t ctx) const {
  // Its own context, its own copy of what it attends (vllm) and its recomputed module tokens.
  return ctx + largest_use().own_tokens + shared_.recompute_tokens();
}

std::int64_t BatchingDeployment::read_per_request(std::int64_t ctx) const {
  // What its decode reads itself: its own context and recomputed tokens, and its own copy or the
  // part of the stored copy it reads per request (all of it, or its top-k chunks); batched systems
  // read the shared context in the shared launches.
  return ctx + largest_use().read_tokens + shared_.recompute_tokens();
}


void BatchingDeployment::decode_step(std::int64_t batch, std::int64_t read, IterStats& out) const {
  BatchSpec b;
  b.decode_requests = batch;
  b.decode_kv_tokens = batch * read;
  if (routed_ || selects_) b.shared = shared_.route(batch);
  if (selects_) b.shared.groups.clear();
  cost(b, out);
}

void BatchingDeployment::route(const std::vector<std::int64_t>& routed_per_corpus, SharedAttention& out) const {
  shared_.route(routed_per_corpus, out);
  if (selects_) out.groups.clear();  // scored per request, read per request: no batched launch
}

void BatchingDeployment::fold_selection(const StepCostModel& step, const BatchSpec& b, int stripes, Work& acc) const {
  const auto& s = b.shared;
  if (!selects_ || s.requests <= 0) return;
  // The scored queries are the decodes first (every decode of a sharing request scores), then
  // prefill tokens; exact when every request shares (attach_fraction 1). Striped (context
  // parallelism), a rank scores its 1/stripes of the chunks for every query and keeps its share of
  // the top-k.
  const std::int64_t decode_rows = std::min(s.requests, b.decode_requests);
  const auto c = static_cast<std::int64_t>(stripes);
  select_ops_.clear();
  append_selection_ops(model_, sc_.precision, decode_rows, s.requests - decode_rows, (s.total_chunks + c - 1) / c,
                       (s.top_k + c - 1) / c, step.tp(), select_ops_);
  for (const auto& op : select_ops_) acc.add(step.op(op));
}

// ---- colocated: the whole step on one TP group ----

ColocatedDeployment::ColocatedDeployment(const SharedKvSystem& sys, const Scenario& sc)
    : BatchingDeployment(sys, sc, load_model(sc.model), sys.shared_context(sc.shared, sc.file)),
      pool_(make_pool(sc, serve_pool(sc, sys.name()), model_)),
      cp_(parse_context_parallel(sc, *pool_.spec, pool_.step.cost_model().hardware())),
      ring_(cp_ring(model_, sc.precision, cp_, pool_.spec->tp)) {
  if (sys.needs_shared_context() && shared_.tokens() == 0) {
    throw InputError(fmt::format("{}: system {} needs a shared context (key 'shared.tokens' > 0, 'shared.corpora' or "
                                 "'shared.modules'); without one use vllm",
                                 sc.file, sys.name()));
  }
  check_shared_span();
  // Each TP group holds the weights and, if the system stores it once per instance, the shared KV
  // (its stripe of it under context parallelism); the rest (x kv_memory_fraction) is for requests'
  // own KV, striped over the CP group's ranks.
  const auto c = static_cast<std::int64_t>(cp_.degree);
  const std::int64_t shared_stripe = (shared_.tokens() + c - 1) / c;
  const double resident =
      shared_.tokens() > 0 && sys.holds_shared_once() ? static_cast<double>(shared_stripe) * pool_.kv_held_per_token : 0.0;
  capacity_ = group_kv_capacity(sc, pool_, model_, resident) * c;
  fixed_bytes_ = (model_.weight_bytes(sc.precision.weights) + resident) * static_cast<double>(c);
}

std::string ColocatedDeployment::resident_note() const {
  return shared_.tokens() > 0 && sys_.holds_shared_once() ? " and the shared KV" : "";
}

void ColocatedDeployment::cost(const BatchSpec& batch, IterStats& out) const {
  out.charges.clear();
  if (cp_.degree > 1) {
    // Every rank runs the same step on its stripe: the pool's work is c ranks x tp GPUs of it.
    const Work w = cp_step(batch);
    const double gpus = static_cast<double>(cp_.degree * pool_.spec->tp);
    out.seconds = w.seconds + sc_.scheduler.iteration_overhead_s;
    out.charge(0, w.flops * gpus, w.bytes * gpus, cp_.degree, w.measured);
    return;
  }
  Work w = pool_.step.iteration(batch);
  if (selects_) {
    // One GPU's selection work; the group's FLOPs and bytes are tp times it (as iteration() gives them).
    Work sel;
    fold_selection(pool_.step, batch, 1, sel);
    const auto tp = static_cast<double>(pool_.spec->tp);
    w.seconds += sel.seconds;
    w.flops += sel.flops * tp;
    w.bytes += sel.bytes * tp;
  }
  out.seconds = w.seconds + sc_.scheduler.iteration_overhead_s;
  out.charge(0, w.flops, w.bytes, 1, w.measured);
}

Work ColocatedDeployment::cp_term(std::vector<CpTerm>& cache, std::int64_t rows, std::int64_t a, std::int64_t b,
                                  bool router) const {
  const std::int64_t L = model_.n_layers;
  const int tp = pool_.spec->tp;
  const auto make = [&] {
    return router ? pool_.step.op(make_router(model_, sc_.precision, tp, rows, a, b, L))
                  : pool_.step.op(make_merge(model_, sc_.precision, tp, rows, a, L));
  };
  constexpr std::int64_t kMax = std::int64_t{1} << 20;
  if (rows < 0 || rows >= kMax) return make();
  const auto i = static_cast<std::size_t>(rows);
  if (cache.size() <= i) cache.resize(std::max(i + 1, 2 * cache.size()));
  auto& e = cache[i];
  if (e.a != a || e.b != b) e = CpTerm{a, b, make()};
  return e.work;
}

Work ColocatedDeployment::cp_step(const BatchSpec& batch) const {
  // One rank (sim/systems/context_parallel.hpp): the dense layers of its 1/c of the requests, every
  // query's attention against its stripe, its share of the shared part, the owner's routing and
  // final merge of c partials, and the ring exchange of queries and partials.
  const auto& S = pool_.step;
  cp_rank(batch, cp_.degree, rank_);
  Work w;
  if (batch.tokens() <= 0) return w;
  S.fold_dense(rank_.dense_tokens, rank_.logit_rows, w);
  S.fold_unique_attention(rank_.attention, w);
  const auto& sh = batch.shared;
  if (!sh.groups.empty()) {
    cp_stripe(sh, cp_.degree, striped_);
    S.fold_shared(striped_, w);
    if (sh.segments == 0 && sh.top_k < sh.total_chunks) {
      const std::int64_t owned = (sh.requests + cp_.degree - 1) / cp_.degree;
      w.add(cp_term(cp_router_, owned, sh.total_chunks, sh.top_k, true));
    }
  }
  fold_selection(S, batch, cp_.degree, w);
  w.add(cp_term(cp_merge_, rank_.owned_rows, cp_.degree, 0, false));
  w.seconds += ring_.seconds(batch.tokens()) + S.iteration_overhead_s();
  return w;
}

}  // namespace moska
