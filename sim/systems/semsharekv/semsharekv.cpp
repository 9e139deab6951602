// semsharekv (SemShareKV, arXiv 2509.24832): a prompt reuses the KV of a semantically similar,
// lexically different earlier prompt. Every served prompt is kept in a host-DRAM store (store.*); a new
// one is compared with the stored ones (LSH of RoPE'd token embeddings: a host-side cost), and when the
// best similarity reaches the threshold its tokens are matched to the reference's, the reference KV is
// loaded over the instance's PCIe link (a shared Link, like the tiered store's DRAM reads) and gathered
// into the prompt's order, and the prefill recomputes only a decaying share of tokens per layer
// (schedule.*), their queries attending the whole prompt (sim/model/reuse_ops.*). After the prefill each
// layer keeps a decaying share of the prompt's KV: decode reads less and more requests fit. A miss is an
// ordinary prefill (or a prefix-cache hit). Policies of the same system: CacheBlend-style reuse (exact
// chunks, a fixed recompute ratio, all KV kept) and full recomputation. `attention: eager` costs
// attention as HF eager kernels (the paper's implementation). README "SemShareKV" has every rule.
#include <algorithm>
#include <array>
#include <cmath>

#include <fmt/format.h>

#include "sim/hw/link.hpp"
#include "sim/model/reuse_ops.hpp"
#include "sim/serving/batching_instance.hpp"
#include "sim/serving/dispatch.hpp"
#include "sim/serving/pool_layout.hpp"
#include "sim/serving/prefix_cache_counters.hpp"
#include "sim/systems/semsharekv/options.hpp"
#include "sim/systems/semsharekv/store.hpp"
#include "sim/systems/private_kv.hpp"
#include "sim/systems/system.hpp"
#include "sim/util/error.hpp"

namespace moska {

namespace semsharekv {

namespace {

const PoolSpec& serve_pool_of(const Scenario& sc) {
  const PoolSpec* found = nullptr;
  for (const auto& p : sc.pools) {
    if (p.role != "serve") continue;
    if (found) throw InputError(fmt::format("{}: system semsharekv takes one pool of role \"serve\"", sc.file));
    found = &p;
  }
  if (!found) throw InputError(fmt::format("{}: system semsharekv needs one pool of role \"serve\"", sc.file));
  return *found;
}

// Why a request was not a reuse hit.
enum class Outcome : std::uint8_t { hit, no_family, no_reference, below_threshold, nothing_reusable, off };

class Deployment final : public PrivateKvSystem, public IterationModel, public DecodeObserver {
 public:
  explicit Deployment(const Scenario& sc);

  std::string steady_state_unsupported() const override {
    return "system semsharekv: its KV per request depends on which requests reuse a reference (use run)";
  }
  int logical_instances() const override { return pool_.spec->instances; }
  std::int64_t capacity_tokens() const override { return capacity_; }
  double fixed_bytes() const override { return fixed_bytes_; }
  double instance_hbm_bytes() const override { return pool_.group_hbm_bytes; }
  void decode_cost(const BatchSpec& b, IterStats& out) const override { cost(b, out); }
  std::vector<PoolStats> pool_stats() const override { return {pool_.stats}; }

  void start(ServingLoop& loop) override;
  void arrive(std::uint32_t r) override;
  void finished(std::uint32_t r) override;
  void finish_run(ServingLoop& loop) override;

  // IterationModel.
  void route(const std::vector<std::int64_t>&, SharedAttention& out) const override { out = {}; }
  void cost(const BatchSpec& batch, IterStats& out) const override;

  // DecodeObserver: a request that starts decoding has finished its prefill.
  void joined(int instance, std::uint32_t r, TimeNs) override { prefilled(instance, r); }
  void left(int, std::uint32_t) override {}

 private:
  struct Req {
    Outcome outcome = Outcome::off;
    float uncovered = 0;  // share of its tokens without a reusable reference token (CacheBlend: rewritten chunks)
    bool stored = false;
  };
  const RecomputeSchedule& schedule() const { return opt_.policy == Policy::cacheblend ? blend_ : opt_.recompute; }
  void decide(std::uint32_t r, double& host_s, double& load_bytes);
  void prefilled(int instance, std::uint32_t r);
  Work eager_work(const Op& op) const;

  const Scenario& sc_;
  PoolLayout pool_;
  std::int64_t capacity_ = 0;
  double fixed_bytes_ = 0;
  Options opt_;
  RecomputeSchedule blend_;  // CacheBlend's: check layers in full, then the fixed ratio
  double kv_token_bytes_ = 0;     // one token's KV, all layers (what the store and the link carry)
  double entry_token_bytes_ = 0;  // + its token embedding (the E cache)
  ServingLoop* loop_ = nullptr;
  Dispatcher dispatch_;
  std::vector<std::unique_ptr<BatchingInstance>> instances_;
  std::vector<std::unique_ptr<Link>> h2d_, d2h_;  // per instance
  std::vector<TimeNs> host_free_;                  // per instance: its matching thread is busy until then
  ReferenceStore store_;
  std::vector<Req> req_;

  // Counters.
  std::array<std::int64_t, 6> outcomes_{};
  double host_s_ = 0, load_bytes_ = 0, recomputed_rows_ = 0, reused_rows_ = 0;
  std::int64_t kv_dropped_tokens_ = 0, hit_prompt_tokens_ = 0;

  // Scratch of cost() (one per deployment; the loop is single-threaded).
  mutable ReuseBatch rb_;
  mutable std::vector<std::vector<std::int64_t>> rows_;
  mutable std::vector<Op> ops_;
};

Deployment::Deployment(const Scenario& sc)
    : PrivateKvSystem(load_model(sc.model)), sc_(sc), pool_(make_pool(sc, serve_pool_of(sc), model_)),
      capacity_(group_kv_capacity(sc, pool_, model_, 0.0)), opt_(parse_options(sc)), dispatch_(sc.scheduler.dispatch),
      store_(opt_.store_bytes) {
  if (sc.shared.tokens > 0) {
    throw InputError(fmt::format("{}: system semsharekv serves no shared corpus (key 'shared'); its reuse comes from "
                                 "the workload's prompt families", sc.file));
  }
  const auto L = model_.n_layers;
  if (opt_.recompute.full_layers > L || opt_.cacheblend_check_layers > L) {
    throw InputError(fmt::format("{}: key 'semsharekv.recompute.full_layers' (or cacheblend.check_layers) exceeds the "
                                 "model's {} layers", sc.file, L));
  }
  if (opt_.attention == AttentionImpl::eager && pool_.spec->tp != 1) {
    throw InputError(fmt::format("{}: key 'semsharekv.attention' = \"eager\" models one GPU per instance (tp 1)", sc.file));
  }
  fixed_bytes_ = model_.weight_bytes(sc.precision.weights);
  blend_ = RecomputeSchedule{opt_.cacheblend_check_layers, opt_.cacheblend_ratio, 1.0, opt_.cacheblend_ratio};
  kv_token_bytes_ = model_.kv_bytes_per_token(sc.precision.kv);
  entry_token_bytes_ = kv_token_bytes_ + static_cast<double>(model_.hidden) * dtype_bytes(sc.precision.act);
}

void Deployment::start(ServingLoop& loop) {
  loop_ = &loop;
  auto& out = loop.out();
  out.system = "semsharekv";
  out.model = model_.name;
  out.pools = pool_stats();
  const auto& reqs = loop.requests();
  req_.assign(reqs.size(), Req{});
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    auto& s = loop.state(static_cast<std::uint32_t>(i));
    s.prompt = reqs[i].input_tokens;
    s.reserve = reqs[i].input_tokens + reqs[i].output_tokens;
  }
  const auto& hw = pool_.step.cost_model().hardware();
  const double bw = opt_.load_bw_bps > 0 ? opt_.load_bw_bps : hw.node.pcie_bw_bps;
  for (int i = 0; i < logical_instances(); ++i) {
    InstanceConfig c;
    c.pool = 0;
    c.id = i;
    c.capacity_tokens = capacity_;
    c.fixed_bytes = fixed_bytes_;
    c.hbm_bytes = instance_hbm_bytes();
    c.kv_held_per_token = pool_.kv_held_per_token;
    c.prefix_cache = sc_.scheduler.prefix_caching;
    instances_.push_back(std::make_unique<BatchingInstance>(loop, c, *this, this));
    h2d_.push_back(std::make_unique<Link>(loop.sim(), bw, opt_.load_latency_s, fmt::format("semsharekv{}.h2d", i)));
    d2h_.push_back(std::make_unique<Link>(loop.sim(), bw, opt_.load_latency_s, fmt::format("semsharekv{}.d2h", i)));
  }
  host_free_.assign(instances_.size(), 0);
  if (opt_.preload && opt_.policy != Policy::full) {
    // Each family's document was served before the run: one prompt of the family's length (its first
    // request's) is in the store at t = 0, in order of first appearance.
    std::vector<char> seen;
    for (const auto& q : reqs) {
      if (q.family < 0) continue;
      const auto f = static_cast<std::size_t>(q.family);
      if (seen.size() <= f) seen.resize(f + 1, 0);
      if (seen[f]) continue;
      seen[f] = 1;
      store_.insert(q.family, q.input_tokens, static_cast<double>(q.input_tokens) * entry_token_bytes_);
    }
  }
}

void Deployment::decide(std::uint32_t r, double& host_s, double& load_bytes) {
  const auto& q = loop_->request(r);
  auto& s = loop_->state(r);
  auto& st = req_[r];
  host_s = 0;
  load_bytes = 0;
  if (opt_.policy == Policy::full) return;
  const bool semantic = opt_.policy == Policy::semantic;
  // Every prompt is compared with the stored ones (its own search); only a hit is matched token by token.
  host_s = semantic ? opt_.fixed_s + opt_.search_s_per_prompt * static_cast<double>(store_.prompts()) : opt_.cacheblend_fixed_s;
  const auto ref = store_.find(q.family);
  if (q.family < 0) st.outcome = Outcome::no_family;
  else if (!ref) st.outcome = Outcome::no_reference;
  else if (semantic && q.similarity < opt_.threshold) st.outcome = Outcome::below_threshold;
  else st.outcome = Outcome::hit;
  double reused = 1.0;  // share of the prompt's tokens with reference KV
  if (st.outcome == Outcome::hit && !semantic) {
    // CacheBlend reuses a chunk only if it is unchanged: each of its sentences kept with probability s.
    reused = std::pow(q.similarity, static_cast<double>(opt_.chunk_sentences));
    if (std::llround(reused * static_cast<double>(q.input_tokens)) < 1) st.outcome = Outcome::nothing_reusable;
  }
  ++outcomes_[static_cast<std::size_t>(st.outcome)];
  if (st.outcome != Outcome::hit) return;
  st.uncovered = static_cast<float>(1.0 - reused);
  // The reference KV: all of the reference prompt (SemShareKV gathers from any of its tokens), or the
  // reused chunks (CacheBlend); it is staged in HBM during the prefill.
  const std::int64_t staged = semantic ? ref->tokens : std::llround(reused * static_cast<double>(q.input_tokens));
  if (semantic) host_s += opt_.match_s_per_pair * static_cast<double>(q.input_tokens) * static_cast<double>(ref->tokens);
  load_bytes = static_cast<double>(staged) * kv_token_bytes_;
  const std::int64_t kept = semantic ? opt_.retain.kept_tokens(model_, q.input_tokens) : std::int64_t{q.input_tokens};
  s.prefill_plan = static_cast<std::int32_t>(r);
  s.prefix_cacheable = false;
  s.reserve += staged;
  s.kv_freed_after_prefill = staged + (q.input_tokens - kept);
  s.kv_not_read = q.input_tokens - kept;
  kv_dropped_tokens_ += q.input_tokens - kept;
  hit_prompt_tokens_ += q.input_tokens;
  const double mean = schedule().mean_fraction(model_, q.input_tokens, st.uncovered);
  recomputed_rows_ += mean * static_cast<double>(q.input_tokens);
  reused_rows_ += static_cast<double>(q.input_tokens);
}

void Deployment::arrive(std::uint32_t r) {
  const auto inst = dispatch_.pick(instances_);
  loop_->record(r).instance = static_cast<std::int32_t>(inst);
  double host_s = 0, load_bytes = 0;
  decide(r, host_s, load_bytes);
  if (!instances_[inst]->can_ever_fit(r)) {
    loop_->reject(r);
    return;
  }
  host_s_ += host_s;
  load_bytes_ += load_bytes;
  auto& sim = loop_->sim();
  const TimeNs now = loop_->now();
  // The instance's host thread searches (and matches) requests one at a time; then the reference KV
  // crosses its PCIe link; then the request waits for admission like any other.
  auto enqueue = [this, r, inst] { instances_[inst]->enqueue(r); };
  auto load = [this, r, inst, load_bytes, enqueue] {
    if (load_bytes > 0) h2d_[inst]->start(load_bytes, enqueue);
    else enqueue();
  };
  if (host_s <= 0) {
    load();
    return;
  }
  const TimeNs begin = std::max(now, host_free_[inst]);
  host_free_[inst] = begin + seconds_to_ns(host_s);
  sim.schedule_at(host_free_[inst], load);
}

void Deployment::prefilled(int instance, std::uint32_t r) {
  auto& st = req_[r];
  if (st.stored || opt_.policy == Policy::full) return;
  st.stored = true;
  // The prompt's KV (all layers, before any is dropped) and embeddings go to the host store; it can
  // be a reference once the copy has landed.
  const auto& q = loop_->request(r);
  const double bytes = static_cast<double>(q.input_tokens) * entry_token_bytes_;
  const std::int32_t family = q.family;
  const std::int64_t tokens = q.input_tokens;
  d2h_[static_cast<std::size_t>(instance)]->start(bytes, [this, family, tokens, bytes] { store_.insert(family, tokens, bytes); });
}

void Deployment::finished(std::uint32_t r) {
  // A one-token request finishes at the end of its prefill without joining the decodes.
  const auto& rec = loop_->record(r);
  if (loop_->request(r).output_tokens <= 1 && rec.instance >= 0) prefilled(rec.instance, r);
}

Work Deployment::eager_work(const Op& op) const {
  // Until the cost layer has an eager attention backend: the roofline with the eager kernels' measured
  // share of the HBM bandwidth (their matrix products at the GEMM efficiency).
  const auto& g = pool_.step.cost_model().gpu();
  const double compute_s = op.flops / (g.peak(op.math) * g.roofline.gemm_compute_eff);
  const double memory_s = op.bytes / (g.hbm_bw_bps * opt_.eager_memory_efficiency);
  const double n = static_cast<double>(op.count);
  return {(std::max(compute_s, memory_s) + opt_.eager_kernel_overhead_s) * n, op.flops * n, op.bytes * n};
}

void Deployment::cost(const BatchSpec& b, IterStats& out) const {
  const bool reuse = std::any_of(b.prefills.begin(), b.prefills.end(), [](const PrefillSeq& p) { return p.plan >= 0; });
  out.charges.clear();
  if (!reuse && opt_.attention == AttentionImpl::flash) {
    // No reused prompt: vllm's iteration, the same bits.
    const Work w = pool_.step.iteration(b);
    out.seconds = w.seconds + sc_.scheduler.iteration_overhead_s;
    out.charge(0, w.flops, w.bytes, 1, w.measured);
    return;
  }
  rb_.decode_requests = b.decode_requests;
  rb_.decode_kv_tokens = b.decode_kv_tokens;
  rb_.prefills.clear();
  rb_.reuse.clear();
  std::size_t k = 0;
  const auto& sched = schedule();
  const auto L = model_.n_layers;
  for (const auto& p : b.prefills) {
    if (p.plan < 0) {
      rb_.prefills.push_back(p);
      continue;
    }
    if (rows_.size() <= k) rows_.resize(k + 1);
    auto& rows = rows_[k++];
    rows.resize(static_cast<std::size_t>(L));
    const double uncovered = req_[static_cast<std::size_t>(p.plan)].uncovered;
    for (std::int64_t l = 0; l < L; ++l) rows[static_cast<std::size_t>(l)] = sched.rows(l, p.new_tokens, uncovered);
    rb_.reuse.push_back({p.new_tokens, p.past_tokens, sched.full_layers, rows});
  }
  ops_.clear();
  append_reuse_iteration_ops(model_, sc_.precision, rb_, pool_.step.tp(), opt_.attention, ops_);
  Work w;
  for (const auto& op : ops_) w.add(is_eager_op(op) ? eager_work(op) : pool_.step.op(op));
  w.seconds += pool_.step.iteration_overhead_s();
  const auto tp = static_cast<double>(pool_.step.tp());
  out.seconds = w.seconds + sc_.scheduler.iteration_overhead_s;
  out.charge(0, w.flops * tp, w.bytes * tp, 1, w.measured);
}

void Deployment::finish_run(ServingLoop& loop) {
  auto& out = loop.out();
  out.pools[0].mem_byte_seconds += fixed_bytes_ * static_cast<double>(instances_.size()) * out.sim_seconds;
  // TTFT of hits and of the others, from the records.
  double hit_ttft = 0, miss_ttft = 0;
  std::int64_t hits = 0, misses = 0;
  for (std::size_t i = 0; i < req_.size(); ++i) {
    const auto& rec = out.requests[i];
    if (rec.first_token < 0) continue;
    const double t = ns_to_seconds(rec.first_token - rec.arrival);
    if (req_[i].outcome == Outcome::hit) {
      hit_ttft += t;
      ++hits;
    } else {
      miss_ttft += t;
      ++misses;
    }
  }
  const double n = static_cast<double>(req_.size());
  const auto o = [&](Outcome x) { return static_cast<double>(outcomes_[static_cast<std::size_t>(x)]); };
  out.counters.push_back({"reuse_hit_rate", n > 0 ? o(Outcome::hit) / n : 0.0});
  out.counters.push_back({"reuse_hits", o(Outcome::hit)});
  out.counters.push_back({"miss_no_family", o(Outcome::no_family)});
  out.counters.push_back({"miss_no_reference", o(Outcome::no_reference)});
  out.counters.push_back({"miss_below_threshold", o(Outcome::below_threshold)});
  out.counters.push_back({"miss_nothing_reusable", o(Outcome::nothing_reusable)});
  out.counters.push_back({"hit_ttft_mean_s", hits ? hit_ttft / static_cast<double>(hits) : 0.0});
  out.counters.push_back({"other_ttft_mean_s", misses ? miss_ttft / static_cast<double>(misses) : 0.0});
  out.counters.push_back({"hit_recomputed_share", reused_rows_ > 0 ? recomputed_rows_ / reused_rows_ : 0.0});
  out.counters.push_back({"hit_kv_kept_share",
                          hit_prompt_tokens_ > 0 ? 1.0 - static_cast<double>(kv_dropped_tokens_) / static_cast<double>(hit_prompt_tokens_) : 0.0});
  out.counters.push_back({"host_match_s_total", host_s_});
  out.counters.push_back({"reference_load_gb", load_bytes_ / 1e9});
  out.counters.push_back({"store_prompts_end", static_cast<double>(store_.prompts())});
  out.counters.push_back({"store_evicted", static_cast<double>(store_.evicted())});
  if (sc_.scheduler.prefix_caching) add_prefix_cache_counters(instances_, out);
}

class SemShareKv final : public System {
 public:
  std::string_view name() const override { return "semsharekv"; }
  std::string_view description() const override {
    return "KV reused across semantically similar prompts: host-DRAM reference store, LSH match, partial recompute, "
           "decaying retained KV (policies: semantic, cacheblend, full)";
  }
  std::vector<std::string> sections() const override { return {"semsharekv"}; }
  std::vector<std::pair<std::string, std::string>> override_aliases() const override {
    return {{"reuse_policy", "semsharekv.policy"},
            {"attention", "semsharekv.attention"},
            {"threshold", "semsharekv.threshold"},
            {"similarity", "workload.generator.families.similarity"},
            {"input_tokens", "workload.generator.input_tokens.value"}};
  }
  std::unique_ptr<ConfiguredSystem> configure(const Scenario& sc) const override { return std::make_unique<Deployment>(sc); }
  int scenario_gpus(const Scenario& sc) const override { return gpus_in_roles(sc, {"serve"}); }
  // Without families of similar prompts nothing is reused: it serves as the baseline does, plus its
  // host matching cost. Families come from the generator or from our JSONL trace format.
  PlanShape plan_shape(const Scenario& sc) const override {
    PlanShape p;
    const auto& w = sc.workload;
    bool families = w.contains("generator") && w["generator"].is_object() && w["generator"].contains("families");
    if (w.contains("trace") && w["trace"].is_object()) {
      const auto& t = w["trace"];
      const std::string path = t.contains("path") && t["path"].is_string() ? t["path"].get<std::string>() : "";
      const std::string fmt = t.contains("format") && t["format"].is_string() ? t["format"].get<std::string>() : "";
      families = fmt == "moska" || (fmt.empty() && path.size() >= 6 && path.compare(path.size() - 6, 6, ".jsonl") == 0);
    }
    if (!families) p.skip = "the workload has no families of similar prompts: nothing to reuse";
    return p;
  }
};

}  // namespace
}  // namespace semsharekv

const System& semsharekv_system() {
  static const semsharekv::SemShareKv s;
  return s;
}

}  // namespace moska
