// mooncake (FAST'25): a prefill pool and a decode pool; a KV-cache store per prefill instance (host
// DRAM, optional SSD) keyed by chained prefix-block hashes; the Conductor (conductor.cpp) picks each
// request's prefill instance by predicted TTFT (with a fetch of a longer cached prefix from another
// instance) and its decode instance by predicted step time; admission (admission.cpp) rejects at
// arrival or at decode by the SLO. KV streams to the decode instance layer by layer over the prefill
// instance's RDMA NICs (a shared Link); long prompts can be prefilled by a pipeline of instances
// (chunked pipeline parallelism). See README "Mooncake" for every rule and its source.
#include <algorithm>
#include <span>

#include <fmt/format.h>

#include "sim/systems/mooncake/admission.hpp"
#include "sim/systems/mooncake/conductor.hpp"
#include "sim/systems/private_kv.hpp"
#include "sim/systems/system.hpp"
#include "sim/util/error.hpp"

namespace moska {

namespace mooncake {

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

const PoolSpec& find_pool(const Scenario& sc, const std::string& role) {
  const PoolSpec* found = nullptr;
  for (const auto& p : sc.pools) {
    if (p.role != role) continue;
    if (found) throw InputError(fmt::format("{}: system mooncake takes one pool of role \"{}\"", sc.file, role));
    found = &p;
  }
  if (!found) {
    throw InputError(fmt::format("{}: system mooncake needs a pool of role \"prefill\" and one of role \"decode\"", sc.file));
  }
  return *found;
}

class Deployment final : public PrivateKvSystem, public PrefillHooks {
 public:
  explicit Deployment(const Scenario& sc);

  std::string steady_state_unsupported() const override {
    return "system mooncake serves no shared context: its steady-state decode is vllm's (use run or capacity)";
  }
  int logical_instances() const override { return static_cast<int>(c_.D.size()); }
  std::int64_t capacity_tokens() const override { return c_.decode_capacity; }
  double fixed_bytes() const override { return decode_fixed_; }
  double instance_hbm_bytes() const override { return dpool_.group_hbm_bytes; }
  void decode_cost(const BatchSpec& b, IterStats& out) const override { c_.decode->cost(b, out); }
  std::vector<PoolStats> pool_stats() const override { return {ppool_.stats, dpool_.stats}; }

  void start(ServingLoop& loop) override;
  void arrive(std::uint32_t r) override;
  void finished(std::uint32_t r) override { load_->finished(loop_->request(r).output_tokens); }
  double sample_interval_s() const override { return c_.opt.sample_interval_s; }
  void sample(ServingLoop& loop) override;
  void finish_run(ServingLoop& loop) override;

  // PrefillHooks.
  bool ready(std::uint32_t r) const override { return c_.st[r].fetched; }
  std::int64_t cached_at_start(int inst, std::uint32_t r, double& load_s) override;
  void prefill_started(int inst, std::uint32_t r, std::int64_t computed_tokens, double latency_s) override;
  void prefilled(int inst, std::uint32_t r) override;

 private:
  void kv_delivered(std::uint32_t r);
  void handoff(std::uint32_t r);
  void leave_decode(std::uint32_t r);  // no longer assigned to its decode instance
  void reject(std::uint32_t r, const char* reason) { loop_->reject(r, reason); }

  const Scenario& sc_;
  // In this order: each pool is loaded and checked (does the model fit) before the next.
  PoolLayout ppool_;
  std::int64_t prefill_capacity_;
  PoolLayout dpool_;
  std::int64_t decode_capacity_;
  double decode_fixed_ = 0, prefill_fixed_ = 0;
  int cpp_ = 1;
  double nic_latency_s_ = 0;
  Cluster c_;
  ServingLoop* loop_ = nullptr;
  std::unique_ptr<Conductor> conductor_;
  std::unique_ptr<DecodeLoad> load_;
  // Counters.
  std::int64_t rejected_arrival_ttft_ = 0, rejected_arrival_decode_ = 0, rejected_at_decode_ = 0, never_fits_ = 0;
  std::int64_t prompt_tokens_ = 0, local_hit_tokens_ = 0, fetched_tokens_ = 0, prefilled_tokens_ = 0, wasted_tokens_ = 0;
  double fetch_bytes_ = 0, kv_sent_bytes_ = 0, store_load_bytes_ = 0;
};

}  // namespace

PrefillNode::PrefillNode(ServingLoop& loop, const PrefillPipelineConfig& pc, const PipelinePrefillModel& model,
                         PrefillHooks& hooks, const KvStoreConfig& store_cfg, double nic_bw, double nic_latency)
    : pipe(loop, pc, model, hooks), store(store_cfg), nic(loop.sim(), nic_bw, nic_latency, fmt::format("prefill{}.nic", pc.id)) {}

namespace {

Deployment::Deployment(const Scenario& sc)
    : PrivateKvSystem(load_model(sc.model)), sc_(sc),
      ppool_(make_pool(sc, find_pool(sc, "prefill"), model_)), prefill_capacity_(group_kv_capacity(sc, ppool_, model_, 0.0)),
      dpool_(make_pool(sc, find_pool(sc, "decode"), model_)), decode_capacity_(group_kv_capacity(sc, dpool_, model_, 0.0)) {
  // Each pool's instances hold the weights; the rest of their HBM is KV.
  c_.prefill_capacity = prefill_capacity_;
  c_.decode_capacity = decode_capacity_;
  prefill_fixed_ = decode_fixed_ = model_.weight_bytes(sc.precision.weights);
  if (sc.shared.tokens > 0) {
    throw InputError(fmt::format("{}: system mooncake models no shared corpus (key 'shared'); its reuse comes from the "
                                 "trace's prefix-block hashes", sc.file));
  }
  c_.opt = parse_options(sc);
  const auto& pp = *ppool_.spec;
  cpp_ = c_.opt.cpp_nodes;
  if (pp.instances % cpp_ != 0) {
    throw InputError(fmt::format("{}: key 'mooncake.cpp_nodes' = {} must divide the prefill pool's {} instances", sc.file,
                                 cpp_, pp.instances));
  }
  if (c_.opt.admission != Admission::none && (sc.slo.ttft_s <= 0 || sc.slo.tbt_s <= 0)) {
    throw InputError(fmt::format("{}: key 'mooncake.admission' = \"{}\" rejects by the SLO: give \"slo\": {{\"ttft_s\": ..., "
                                 "\"tbt_s\": ...}}", sc.file, c_.opt.admission_name));
  }
  c_.block_tokens = sc.scheduler.block_tokens;
  c_.kv_bytes_per_token = model_.kv_bytes_per_token(sc.precision.kv);
  c_.block_bytes = static_cast<double>(c_.block_tokens) * c_.kv_bytes_per_token;
  nic_latency_s_ = ppool_.step.cost_model().hardware().node.nic_latency_s;
  c_.prefill = std::make_unique<PipelinePrefillModel>(ppool_.step, sc.scheduler.iteration_overhead_s, cpp_,
                                                      c_.opt.cpp_chunk_tokens, nic_latency_s_);
  c_.decode = std::make_unique<DecodeModel>(dpool_.step, sc.scheduler.iteration_overhead_s, sc.scheduler.engine);
}

void Deployment::start(ServingLoop& loop) {
  loop_ = &loop;
  const auto& sc = sc_;
  const auto& pp = *ppool_.spec;
  const auto& dp = *dpool_.spec;
  // Prefill groups: each `cpp` instances of the pool are one pipeline with their stores and NICs.
  const auto& hw = ppool_.step.cost_model().hardware();
  const double gpus = static_cast<double>(pp.tp * cpp_);
  const double node_share = gpus / static_cast<double>(std::max(1, hw.node.gpus_per_node));
  const double dram = c_.opt.dram_gib >= 0 ? c_.opt.dram_gib * kGiB * cpp_ : hw.node.host_dram_bytes * node_share;
  const double ssd = c_.opt.ssd_gib * kGiB * cpp_;
  KvStoreConfig cfg;
  cfg.block_bytes = c_.block_bytes;
  cfg.tiers[1] = {static_cast<std::int64_t>(dram / c_.block_bytes), hw.node.pcie_bw_bps * gpus, 0.0};
  cfg.tiers[2] = {static_cast<std::int64_t>(ssd / c_.block_bytes), std::max(1.0, hw.node.ssd_bw_bps * node_share), 100e-6};
  if (cfg.tiers[1].capacity_blocks + cfg.tiers[2].capacity_blocks == 0 && c_.opt.policy != Policy::load_balance &&
      c_.opt.policy != Policy::random) {
    throw InputError(fmt::format("{}: the KV store holds no block ({} GiB DRAM, {} GiB SSD per instance, {:.0f} MiB per "
                                 "block): raise 'mooncake.dram_gib'", sc.file, dram / kGiB, ssd / kGiB, c_.block_bytes / 1048576.0));
  }
  for (int i = 0; i < pp.instances / cpp_; ++i) {
    PrefillPipelineConfig pc;
    pc.pool = 0;
    pc.id = i;
    pc.kv_held_per_token = ppool_.kv_held_per_token;
    pc.fixed_bytes = prefill_fixed_;
    pc.hbm_bytes = ppool_.group_hbm_bytes;
    c_.P.push_back(std::make_unique<PrefillNode>(loop, pc, *c_.prefill, *this, cfg, hw.node.nic_bw_bps * gpus, hw.node.nic_latency_s));
  }
  c_.D.resize(static_cast<std::size_t>(dp.instances));
  load_ = std::make_unique<DecodeLoad>(c_, loop.requests(), c_.opt.predicted_output_tokens);
  for (int i = 0; i < dp.instances; ++i) {
    InstanceConfig ic;
    ic.pool = 1;
    ic.id = i;
    ic.capacity_tokens = c_.decode_capacity;
    ic.fixed_bytes = decode_fixed_;
    ic.hbm_bytes = dpool_.group_hbm_bytes;
    ic.kv_held_per_token = dpool_.kv_held_per_token;
    c_.D[static_cast<std::size_t>(i)].inst = std::make_unique<BatchingInstance>(
        loop, ic, *c_.decode, c_.opt.admission != Admission::none ? load_.get() : nullptr);
  }
  conductor_ = std::make_unique<Conductor>(c_, sc.seed ^ 0x6d6f6f6eULL);

  auto& out = loop.out();
  out.system = "mooncake";
  out.model = model_.name;
  out.pools = pool_stats();
  const auto& reqs = loop.requests();
  c_.st.resize(reqs.size());
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    auto& s = loop.state(static_cast<std::uint32_t>(i));
    s.prompt = reqs[i].input_tokens;
    s.reserve = reqs[i].input_tokens + reqs[i].output_tokens;
  }
}

void Deployment::arrive(std::uint32_t r) {
  const auto& q = loop_->request(r);
  const TimeNs now = loop_->now();
  auto& s = c_.st[r];
  prompt_tokens_ += q.input_tokens;
  const std::int64_t reserve = q.input_tokens + q.output_tokens;
  if (q.input_tokens > c_.prefill_capacity * cpp_ || reserve > c_.decode_capacity) {
    ++never_fits_;
    reject(r, "kv_never_fits");
    return;
  }
  const Placement pl = conductor_->place(q, now);
  // Admission at arrival: the prefill load (the predicted TTFT; every policy but decode-only), then
  // the decode load now (early) or over the pool when the request would reach it (predicted).
  const auto adm = c_.opt.admission;
  if (adm == Admission::baseline || adm == Admission::early || adm == Admission::predicted) {
    if (pl.ttft_s > sc_.slo.ttft_s) {
      ++rejected_arrival_ttft_;
      reject(r, "predicted_ttft_over_slo");
      return;
    }
  }
  if (adm == Admission::early || adm == Admission::predicted) {
    bool over = false;
    if (adm == Admission::early) {
      over = load_->overloaded_now(pl.decode, q.input_tokens, sc_.slo.tbt_s, now);
    } else {
      bool kv_over = false;
      over = load_->predicted_ratio(pl.decode, q.input_tokens, sc_.slo.tbt_s, now, now + seconds_to_ns(pl.ttft_s), kv_over) > 1.0 ||
             kv_over;
    }
    if (over) {
      ++rejected_arrival_decode_;
      reject(r, "decode_load_over_slo");
      return;
    }
  }
  s.cached = conductor_->cached_tokens(q, pl.local_blocks + pl.fetch_blocks);
  s.prefill = pl.prefill;
  s.decode = pl.decode;
  loop_->record(r).instance = pl.prefill;
  auto& dn = c_.D[static_cast<std::size_t>(pl.decode)];
  ++dn.incoming;
  dn.incoming_kv += q.input_tokens;
  dn.incoming_reserve += reserve;
  s.occupancy_s = c_.prefill->cost(q.input_tokens - s.cached, s.cached).occupancy;
  local_hit_tokens_ += conductor_->cached_tokens(q, pl.local_blocks);
  auto& pn = *c_.P[static_cast<std::size_t>(pl.prefill)];
  if (pl.fetch_blocks > 0) {
    // Fetch the missing prefix blocks from the instance holding them over its NIC; they are then
    // kept in this instance's store too (hot blocks end up replicated where they are used).
    s.fetched = false;
    s.fetch_blocks = pl.fetch_blocks;
    s.fetch_from = pl.fetch_from;
    fetched_tokens_ += s.cached - conductor_->cached_tokens(q, pl.local_blocks);
    const double bytes = static_cast<double>(pl.fetch_blocks) * c_.block_bytes;
    fetch_bytes_ += bytes;
    auto& src = *c_.P[static_cast<std::size_t>(pl.fetch_from)];
    const auto nblocks = static_cast<std::size_t>(pl.local_blocks + pl.fetch_blocks);
    src.store.lookup(std::span(q.block_hashes.data(), nblocks));  // touch at the source
    const int pick = pl.prefill;
    src.nic.start(bytes, [this, r, pick, nblocks] {
      auto& dst = *c_.P[static_cast<std::size_t>(pick)];
      dst.store.insert(std::span(loop_->request(r).block_hashes.data(), nblocks));
      c_.st[r].fetched = true;
      dst.pipe.wake();
    });
  }
  pn.pipe.enqueue(r, s.occupancy_s);
}

std::int64_t Deployment::cached_at_start(int inst, std::uint32_t r, double& load_s) {
  // The cached prefix is read from this instance's store (DRAM/SSD) into HBM; evicted since the
  // Conductor looked: the part that is gone is prefilled.
  auto& s = c_.st[r];
  load_s = 0;
  if (s.cached > 0) {
    auto& store = c_.P[static_cast<std::size_t>(inst)]->store;
    const auto& q = loop_->request(r);
    const auto blocks =
        std::min<std::int64_t>(static_cast<std::int64_t>(q.block_hashes.size()), (s.cached + c_.block_tokens - 1) / c_.block_tokens);
    auto lk = store.lookup(std::span(q.block_hashes.data(), static_cast<std::size_t>(blocks)));
    load_s = store.load_time_s(lk);
    store_load_bytes_ += static_cast<double>(lk.prefix_blocks) * c_.block_bytes;
    s.cached = std::min(s.cached, lk.prefix_blocks * c_.block_tokens);
  }
  return s.cached;
}

void Deployment::prefill_started(int inst, std::uint32_t r, std::int64_t computed_tokens, double latency_s) {
  prefilled_tokens_ += computed_tokens;
  // KV of the whole prompt goes to the decode instance: streamed layer by layer from the prefill
  // start (it cannot finish before the last layer is computed), or sent after the prefill.
  const auto& q = loop_->request(r);
  if (q.output_tokens > 1 && c_.opt.layerwise) {
    auto& nic = c_.P[static_cast<std::size_t>(inst)]->nic;
    const double kv_bytes = static_cast<double>(q.input_tokens) * c_.kv_bytes_per_token;
    kv_sent_bytes_ += kv_bytes;
    nic.start(kv_bytes, [this, r] { kv_delivered(r); });
    const double tail = kv_bytes / static_cast<double>(model_.n_layers) / nic.bandwidth_bps() + nic.latency_s();
    c_.st[r].handoff_at = loop_->now() + seconds_to_ns(latency_s + tail);
  }
}

void Deployment::leave_decode(std::uint32_t r) {
  const auto& q = loop_->request(r);
  auto& dn = c_.D[static_cast<std::size_t>(c_.st[r].decode)];
  --dn.incoming;
  dn.incoming_kv -= q.input_tokens;
  dn.incoming_reserve -= q.input_tokens + q.output_tokens;
}

void Deployment::prefilled(int inst, std::uint32_t r) {
  const auto& q = loop_->request(r);
  auto& s = c_.st[r];
  const TimeNs now = loop_->now();
  loop_->record(r).first_token = now;
  // The prompt's KV is kept in the instance's store (DRAM), keyed by its block hashes.
  if (!q.block_hashes.empty()) c_.P[static_cast<std::size_t>(inst)]->store.insert(q.block_hashes);
  s.prefill_done = true;
  if (q.output_tokens <= 1) {
    leave_decode(r);
    loop_->finish(r, now);
    return;
  }
  if (!c_.opt.layerwise) {
    auto& nic = c_.P[static_cast<std::size_t>(inst)]->nic;
    const double kv_bytes = static_cast<double>(q.input_tokens) * c_.kv_bytes_per_token;
    kv_sent_bytes_ += kv_bytes;
    s.handoff_at = now;
    nic.start(kv_bytes, [this, r] { kv_delivered(r); });
    return;
  }
  if (s.kv_delivered) loop_->sim().schedule_at(std::max(now, s.handoff_at), [this, r] { handoff(r); });
}

void Deployment::kv_delivered(std::uint32_t r) {
  auto& s = c_.st[r];
  s.kv_delivered = true;
  if (s.prefill_done) loop_->sim().schedule_at(std::max(loop_->now(), s.handoff_at), [this, r] { handoff(r); });
}

void Deployment::handoff(std::uint32_t r) {
  auto& s = c_.st[r];
  const auto& q = loop_->request(r);
  if (c_.opt.admission != Admission::none && load_->overloaded_now(s.decode, q.input_tokens, sc_.slo.tbt_s, loop_->now())) {
    // Rejected after its prefill (Mooncake's baseline): the prefill was wasted.
    leave_decode(r);
    ++rejected_at_decode_;
    wasted_tokens_ += q.input_tokens - s.cached;
    reject(r, "decode_load_over_slo_after_prefill");
    return;
  }
  leave_decode(r);
  auto& st = loop_->state(r);
  st.prefilled = st.prompt;  // its decode instance admits it straight into decoding
  load_->waiting(s.decode, r);
  c_.D[static_cast<std::size_t>(s.decode)].inst->enqueue(r);
}

void Deployment::sample(ServingLoop& loop) {
  const TimeNs now = loop.now();
  double pl = 0, dl = 0;
  for (const auto& p : c_.P) pl += p->pipe.queue_s(now);
  for (const auto& d : c_.D) dl += static_cast<double>(d.inst->running().count());
  loop.out().load_timeline.push_back(
      {ns_to_seconds(now), pl / static_cast<double>(c_.P.size()), dl / static_cast<double>(c_.D.size())});
}

void Deployment::finish_run(ServingLoop& loop) {
  auto& out = loop.out();
  // Weights (and the rest of the fixed memory) are held all the time on every instance.
  out.pools[0].mem_byte_seconds += prefill_fixed_ * static_cast<double>(c_.P.size() * static_cast<std::size_t>(cpp_)) * out.sim_seconds;
  out.pools[1].mem_byte_seconds += decode_fixed_ * static_cast<double>(c_.D.size()) * out.sim_seconds;
  const double looked = static_cast<double>(std::max<std::int64_t>(1, prompt_tokens_));
  out.counters = {
      {"rejected_never_fits", static_cast<double>(never_fits_)},
      {"rejected_at_arrival_ttft", static_cast<double>(rejected_arrival_ttft_)},
      {"rejected_at_arrival_decode_load", static_cast<double>(rejected_arrival_decode_)},
      {"rejected_at_decode", static_cast<double>(rejected_at_decode_)},
      {"prefill_tokens_computed", static_cast<double>(prefilled_tokens_)},
      {"prefill_tokens_wasted_by_rejection", static_cast<double>(wasted_tokens_)},
      {"prompt_tokens_from_local_cache", static_cast<double>(local_hit_tokens_) / looked},
      {"prompt_tokens_fetched_remote", static_cast<double>(fetched_tokens_) / looked},
      {"kv_fetch_gb", fetch_bytes_ / 1e9},
      {"kv_to_decode_gb", kv_sent_bytes_ / 1e9},
      {"kv_store_load_gb", store_load_bytes_ / 1e9},
  };
}

class Mooncake final : public System {
 public:
  std::string_view name() const override { return "mooncake"; }
  std::string_view description() const override {
    return "prefill and decode pools, KV-cache store on DRAM/SSD, cache-aware Conductor, early rejection (no shared corpus)";
  }
  std::vector<std::string> sections() const override { return {"mooncake"}; }
  void check_sections(const Scenario& sc) const override { parse_options(sc); }
  std::vector<std::pair<std::string, std::string>> override_aliases() const override {
    return {{"policy", "mooncake.policy"}, {"admission", "mooncake.admission"}};
  }
  std::unique_ptr<ConfiguredSystem> configure(const Scenario& sc) const override { return std::make_unique<Deployment>(sc); }
  int scenario_gpus(const Scenario& sc) const override { return gpus_in_roles(sc, {"prefill", "decode"}); }
  // Prompts are prefilled whole on the prefill pool; the decode pool's steps are decodes only.
  PlanShape plan_shape(const Scenario&) const override { return {{"prefill", "decode"}, false, ""}; }
};

}  // namespace
}  // namespace mooncake

const System& mooncake_system() {
  static const mooncake::Mooncake s;
  return s;
}

}  // namespace moska
