// infinite-llm: Infinite-LLM / DistKV-LLM (arXiv 2401.02669). Instances of one serve pool batch as
// vLLM does (sim/serving/batching_instance.*, on-demand KV blocks); when an instance's blocks run
// out, its rManager borrows blocks on a creditor instance (ledger.*) instead of preempting, and the
// request's attention over them runs there as DistAttention (dist_attention.*, step.*): the query
// out, a micro-attention where the blocks live (charged to the creditor's GPU), the partials back,
// the exact merge. lending: none (vLLM-multi: a request larger than one instance is rejected),
// reactive (v1), planner (v2: the gManager moves blocks of debtors' longest requests to creditors,
// planner.*). pipeline_stages > 1 makes one instance of several TP groups (vLLM-single).
#include <fmt/format.h>

#include "sim/hw/link.hpp"
#include "sim/serving/dispatch.hpp"
#include "sim/serving/pool_layout.hpp"
#include "sim/systems/infinite_llm/planner.hpp"
#include "sim/systems/private_kv.hpp"
#include "sim/systems/shared_kv.hpp"
#include "sim/util/error.hpp"

namespace moska {

namespace {
using namespace infinite_llm;

class InfiniteDeployment final : public PrivateKvSystem, public DecodeObserver, public KvLender {
 public:
  InfiniteDeployment(std::string_view name, const Scenario& sc)
      : PrivateKvSystem(load_model(sc.model)),
        sc_(sc),
        opt_(parse_options(sc)),
        pool_(make_pool(sc, serve_pool(sc, name), model_)),
        da_(pool_.step, nic(sc)),
        ledger_(opt_, instances_per_node(), sc.scheduler.kv_block_tokens),
        dispatch_(sc.scheduler.dispatch),
        name_(name) {
    const auto& p = *pool_.spec;
    stages_ = opt_.pipeline_stages;
    if (p.instances % stages_ != 0) {
      throw InputError(fmt::format("{}: key 'infinite_llm.pipeline_stages': {} must divide pool '{}''s {} instances",
                                   sc.file, stages_, p.name, p.instances));
    }
    if (sc.shared.tokens > 0) {
      throw InputError(fmt::format("{}: key 'shared': {} serves requests' own contexts; remove the shared context",
                                   sc.file, name_));
    }
    if (opt_.lending != Lending::none && !on_demand_kv(sc.scheduler.policy)) {
      throw InputError(fmt::format("{}: key 'scheduler.policy': {} lends KV blocks, which needs a scheduler that "
                                   "allocates them on demand (vllm-v1, vllm-v0, sglang, sarathi), not {}",
                                   sc.file, name_, policy_name(sc.scheduler.policy)));
    }
    // Each TP group of a pipelined instance holds 1/stages of the weights: the rest is KV.
    const std::int64_t one = group_kv_capacity(sc, pool_, model_, 0.0);
    const double w = model_.weight_bytes(sc.precision.weights);
    const double keep = sc.scheduler.gpu_memory_utilization > 0 ? 1.0 : sc.scheduler.kv_memory_fraction;
    capacity_ = one * stages_ + static_cast<std::int64_t>(static_cast<double>(stages_ - 1) * w * keep / pool_.kv_held_per_token);
    fixed_bytes_ = w;
    ctx_.step = &pool_.step;
    ctx_.da = &da_;
    ctx_.ledger = &ledger_;
    ctx_.opt = opt_;
    ctx_.iteration_overhead_s = sc.scheduler.iteration_overhead_s;
    ctx_.stages = stages_;
    ctx_.stages_per_node = std::max(1, pool_.step.cost_model().hardware().node.gpus_per_node / p.tp);
  }

  // ---- the loop's Deployment ----
  void start(ServingLoop& loop) override {
    loop_ = &loop;
    auto& out = loop.out();
    out.system = name_;
    out.model = model_.name;
    out.pools = pool_stats();
    const bool lends = opt_.lending != Lending::none;
    for (std::size_t i = 0; i < loop.requests().size(); ++i) {
      const auto& q = loop.requests()[i];
      auto& s = loop.state(static_cast<std::uint32_t>(i));
      s.prompt = q.input_tokens;
      s.reserve = q.input_tokens + q.output_tokens;
      if (lends) s.prefill_plan = static_cast<std::int32_t>(i);  // step.cpp finds its remote past by it
    }
    const int n = logical_instances();
    ctx_.migrating.assign(static_cast<std::size_t>(n), 0);
    ctx_.migrating_cross.assign(static_cast<std::size_t>(n), 0);
    cross_moves_.assign(static_cast<std::size_t>(n), 0);
    std::vector<BatchingInstance*> raw;
    const auto& gpu = pool_.step.cost_model().gpu();
    const double tp = pool_.spec->tp;
    for (int i = 0; i < n; ++i) {
      const InstanceConfig c{0, i, capacity_, fixed_bytes_, instance_hbm_bytes(), pool_.kv_held_per_token, 1,
                             sc_.scheduler.prefix_caching};
      models_.push_back(std::make_unique<InstanceModel>(ctx_, i));
      instances_.push_back(std::make_unique<BatchingInstance>(loop, c, *models_.back(), this, lends ? this : nullptr));
      raw.push_back(instances_.back().get());
      if (opt_.lending == Lending::planner) {
        intra_.push_back(std::make_unique<Link>(loop.sim(), gpu.nvlink_bw_bps * tp, gpu.nvlink_latency_s, "nvlink"));
        const auto nl = nic(sc_);
        inter_.push_back(std::make_unique<Link>(loop.sim(), nl.bw_bps * tp, nl.latency_s, "nic"));
      }
    }
    ledger_.bind(loop, std::move(raw));
  }

  void arrive(std::uint32_t r) override {
    const auto i = dispatch_.pick(instances_);
    loop_->record(r).instance = static_cast<std::int32_t>(i);
    auto& in = *instances_[i];
    if (in.can_ever_fit(r)) {
      in.enqueue(r);
      return;
    }
    if (opt_.lending == Lending::none) {
      loop_->reject(r, "kv_never_fits");  // vLLM-multi: longer than one instance's KV memory
      return;
    }
    // With lending: within its instance's blocks and every other instance's lending cap.
    const std::int64_t B = sc_.scheduler.kv_block_tokens;
    const std::int64_t need = (loop_->state(r).reserve + B - 1) / B;
    std::int64_t room = in.kv_blocks();
    for (std::size_t j = 0; j < instances_.size(); ++j) {
      if (j != i) room += static_cast<std::int64_t>(opt_.lend_cap * static_cast<double>(instances_[j]->kv_blocks()));
    }
    if (need > room) {
      loop_->reject(r, "kv_never_fits_cluster");
      return;
    }
    in.enqueue(r);
  }

  double sample_interval_s() const override {
    return opt_.lending == Lending::none || stuck_ ? 0.0 : opt_.heartbeat_s;
  }
  void sample(ServingLoop& loop) override {
    ledger_.heartbeat();
    // An idle instance with requests waiting for memory asks again (a creditor may have freed some
    // since: the gManager learns it at this heartbeat). Every request has arrived, every instance
    // is idle, nothing moves and nothing changed since the last heartbeat: what waits now waits for
    // memory that nothing will free (reported unfinished); the heartbeats stop so the run ends.
    const auto& reqs = loop.requests();
    bool idle = reqs.empty() || reqs.back().arrival_ns <= loop.now();
    std::uint64_t sig = static_cast<std::uint64_t>(loop.done());
    for (const auto& in : instances_) {
      idle = idle && in->idle();
      sig = sig * 1000003u + in->decode_steps() * 31u + static_cast<std::uint64_t>(in->free_kv_blocks());
    }
    for (int m : ctx_.migrating) idle = idle && m == 0;
    if (idle && sig == last_sig_) {
      stuck_ = true;
      return;
    }
    last_sig_ = idle ? sig : 0;
    for (const auto& in : instances_) in->wake();
    if (opt_.lending != Lending::planner) return;
    const double now = ns_to_seconds(loop.now());
    if (now + 1e-12 < next_plan_s_) return;
    next_plan_s_ = now + opt_.planner_period_s;
    for (const auto& m : plan_moves(ctx_, ledger_, sc_.scheduler.max_batch, ctx_.migrating)) start_move(m);
  }

  void finish_run(ServingLoop& loop) override {
    auto& out = loop.out();
    out.pools[0].mem_byte_seconds += fixed_bytes_ * static_cast<double>(instances_.size()) * out.sim_seconds;
    if (opt_.lending == Lending::none) return;
    const auto& c = ledger_.counters();
    auto add = [&](const char* k, double v) { out.counters.push_back({k, v}); };
    add("kv_borrows", static_cast<double>(c.borrows));
    add("kv_blocks_borrowed", static_cast<double>(c.borrowed_blocks));
    add("kv_borrows_refused", static_cast<double>(c.failed_borrows));
    add("requests_with_remote_kv", static_cast<double>(c.requests_remote));
    add("peak_kv_blocks_lent", static_cast<double>(c.peak_lent_blocks));
    add("kv_blocks_lent_across_nodes", static_cast<double>(c.cross_node_blocks));
    if (opt_.lending == Lending::planner) {
      add("migrations", static_cast<double>(moves_done_));
      add("migrated_blocks", static_cast<double>(moved_blocks_));
      add("migration_reservations_failed", static_cast<double>(moves_refused_));
      add("migrations_dropped", static_cast<double>(moves_dropped_));
    }
  }

  // ---- the instances' hooks ----
  void joined(int i, std::uint32_t r, TimeNs) override { ledger_.joined(i, r); }
  void left(int i, std::uint32_t r) override { ledger_.left(i, r); }

  bool borrow(int i, std::uint32_t r, std::int64_t blocks) override {
    if (opt_.lending == Lending::planner && !opt_.planner_borrows_any) {
      // v2 borrows at allocation only for what can never fit in its instance; the planner does the rest.
      const auto& in = *instances_[static_cast<std::size_t>(i)];
      const std::int64_t B = sc_.scheduler.kv_block_tokens;
      if (r == KvLender::kRunningDecodes) {
        const std::uint32_t l = ledger_.longest(i);
        if (l == UINT32_MAX || (loop_->state(l).reserve + B - 1) / B <= in.kv_blocks()) return false;
      } else if ((loop_->state(r).reserve + B - 1) / B <= in.kv_blocks()) {
        return false;
      }
    }
    return ledger_.borrow(i, r, blocks);
  }
  std::int64_t release(int, std::uint32_t r) override { return ledger_.release(r); }

  // ---- the view `scaling` takes ----
  int logical_instances() const override { return pool_.spec->instances / stages_; }
  std::int64_t capacity_tokens() const override { return capacity_; }
  double fixed_bytes() const override { return fixed_bytes_; }
  double instance_hbm_bytes() const override { return pool_.group_hbm_bytes * stages_; }
  void decode_cost(const BatchSpec& b, IterStats& out) const override {
    static const std::vector<Share> none;
    const StepResult r = step_cost(ctx_, 0, b, none, none);
    out.charges.clear();
    out.seconds = r.seconds + ctx_.iteration_overhead_s;
    out.charge(0, r.flops, r.bytes, stages_);
  }
  std::vector<PoolStats> pool_stats() const override { return {pool_.stats}; }

 private:
  static LinkClass nic(const Scenario& sc) {
    const auto& p = *pool_of_role(sc, "serve");
    const auto hw = load_hardware(p.hw);
    const Options o = parse_options(sc);
    return LinkClass{o.inter_node_bw_bps > 0 ? o.inter_node_bw_bps : hw.node.nic_bw_bps,
                     o.inter_node_latency_s >= 0 ? o.inter_node_latency_s : hw.node.nic_latency_s};
  }
  int instances_per_node() const {
    const int gpus = pool_.step.cost_model().hardware().node.gpus_per_node;
    return std::max(1, gpus / (pool_.spec->tp * opt_.pipeline_stages));
  }

  void start_move(const Move& m) {
    // Reservation before transfer: the creditor checks its memory now (the plan saw a heartbeat).
    if (ledger_.lendable(m.creditor) < m.blocks) {
      ++moves_refused_;
      return;
    }
    auto& c = *instances_[static_cast<std::size_t>(m.creditor)];
    c.lend(m.blocks);
    const auto d = static_cast<std::size_t>(m.debtor);
    const bool cross = !ledger_.same_node(m.debtor, m.creditor);
    ++ctx_.migrating[d];
    if (cross) ++cross_moves_[d];
    ctx_.migrating_cross[d] = cross_moves_[d] > 0 ? 1 : 0;
    // Throttled to migrate_tokens_per_step tokens' KV per debtor step; the bytes cross the link.
    const double tokens = static_cast<double>(m.blocks * ledger_.block_tokens());
    const double step_s = std::max(m.step_s, 1e-6);  // the debtor's decode step, as the planner predicted it
    const TimeNs until = loop_->now() + seconds_to_ns(tokens / static_cast<double>(opt_.migrate_tokens_per_step) * step_s);
    const std::uint32_t epoch = loop_->state(m.r).epoch;
    auto& link = cross ? *inter_[d] : *intra_[d];
    link.start(tokens * pool_.kv_held_per_token, [this, m, epoch, until, cross] {
      loop_->sim().schedule_at(std::max(loop_->now(), until), [this, m, epoch, cross] { finish_move(m, epoch, cross); });
    });
  }

  void finish_move(const Move& m, std::uint32_t epoch, bool cross) {
    const auto d = static_cast<std::size_t>(m.debtor);
    --ctx_.migrating[d];
    if (cross) --cross_moves_[d];
    ctx_.migrating_cross[d] = cross_moves_[d] > 0 ? 1 : 0;
    const auto& s = loop_->state(m.r);
    if (s.epoch == epoch && s.phase == RequestState::Phase::decoding && ledger_.local_blocks(m.r) > m.blocks) {
      ledger_.moved(m.r, m.creditor, m.blocks);
      ++moves_done_;
      moved_blocks_ += m.blocks;
    } else {
      instances_[static_cast<std::size_t>(m.creditor)]->lend(-m.blocks);  // it finished or was preempted meanwhile
      ++moves_dropped_;
    }
  }

  const Scenario& sc_;
  Options opt_;
  PoolLayout pool_;
  DistAttention da_;
  Ledger ledger_;
  Dispatcher dispatch_;
  std::string name_;
  int stages_ = 1;
  std::int64_t capacity_ = 0;
  double fixed_bytes_ = 0;
  StepContext ctx_;
  ServingLoop* loop_ = nullptr;
  std::vector<std::unique_ptr<InstanceModel>> models_;
  std::vector<std::unique_ptr<BatchingInstance>> instances_;
  std::vector<std::unique_ptr<Link>> intra_, inter_;
  std::vector<int> cross_moves_;
  double next_plan_s_ = 0;
  bool stuck_ = false;
  std::uint64_t last_sig_ = 0;
  std::int64_t moves_done_ = 0, moved_blocks_ = 0, moves_refused_ = 0, moves_dropped_ = 0;
};

class InfiniteLlm final : public System {
 public:
  std::string_view name() const override { return "infinite-llm"; }
  std::string_view description() const override {
    return "Infinite-LLM: KV blocks lent across instances, DistAttention over them (none = vLLM-multi)";
  }
  std::vector<std::string> sections() const override { return {"infinite_llm"}; }
  void check_sections(const Scenario& sc) const override { parse_options(sc); }
  std::vector<std::pair<std::string, std::string>> override_aliases() const override {
    return {{"lending", "infinite_llm.lending"},
            {"lend_cap", "infinite_llm.lend_cap"},
            {"stages", "infinite_llm.pipeline_stages"},
            {"microbatches", "infinite_llm.pipeline_microbatches"},
            {"pipeline_schedule", "infinite_llm.pipeline_schedule"},
            {"migrate_tokens", "infinite_llm.migrate_tokens_per_step"}};
  }
  std::unique_ptr<ConfiguredSystem> configure(const Scenario& sc) const override {
    return std::make_unique<InfiniteDeployment>(name(), sc);
  }
  int scenario_gpus(const Scenario& sc) const override { return gpus_in_roles(sc, {"serve"}); }
};

}  // namespace

const System& infinite_llm_system() {
  static const InfiniteLlm s;
  return s;
}

}  // namespace moska
