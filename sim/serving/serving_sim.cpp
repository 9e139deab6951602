#include "sim/serving/serving_sim.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <map>
#include <memory>
#include <queue>

#include <fmt/format.h>

#include "sim/cost/cost_model.hpp"
#include "sim/engine/rng.hpp"
#include "sim/engine/simulator.hpp"
#include "sim/model/model_spec.hpp"
#include "sim/model/operators.hpp"
#include "sim/serving/cluster_model.hpp"
#include "sim/serving/decode_set.hpp"
#include "sim/serving/kv_store.hpp"
#include "sim/serving/mooncake_sim.hpp"
#include "sim/serving/routing.hpp"
#include "sim/systems/system.hpp"
#include "sim/util/error.hpp"

namespace moska {

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

struct SeqState {
  std::int64_t prompt = 0;       // tokens to prefill (unique prompt, + shared copy for vllm)
  std::int64_t prefilled = 0;
  std::int64_t reserve = 0;      // KV tokens reserved at admission
  std::int64_t attn_extra = 0;   // shared tokens this request reads itself per step
  bool shares = false;
  std::int32_t corpus = 0;  // which shared corpus, when it shares
};

class Instance;

class Engine {
 public:
  Engine(const Scenario& sc, const std::vector<Request>& reqs);
  RunResult run();

  // Shared by instances.
  Simulator sim;
  const Scenario& sc;
  const std::vector<Request>& reqs;
  ClusterModel cluster;
  const ModelSpec& model;
  const SystemTraits& sys;
  std::vector<SeqState> seq;
  RunResult out;
  std::int64_t prefix_hit_tokens = 0, prefix_looked_up_tokens = 0;
  std::int64_t shared_tokens = 0;    // rounded to whole chunks

  IterStats cost(const BatchSpec& b) const { return cluster.cost(b); }

 private:
  void on_arrival(std::size_t i);
  int pick_instance(std::uint32_t r);
  std::vector<std::unique_ptr<Instance>> instances_;
  std::size_t rr_ = 0;
  Rng attach_rng_;
  friend class Instance;
};

class Instance {
 public:
  Instance(Engine& e, int id, int pool, std::int64_t capacity_tokens, double fixed_bytes, double hbm_bytes)
      : e_(e), id_(id), pool_(pool), capacity_(capacity_tokens), fixed_bytes_(fixed_bytes), hbm_bytes_(hbm_bytes),
        decode_shared_(static_cast<std::size_t>(std::max(1, e.cluster.corpora())), 0) {
    if (e.sc.scheduler.prefix_caching) {
      // vLLM's automatic prefix caching: blocks of finished prompts stay in HBM until evicted (LRU).
      // The cache is sized to the instance's whole KV capacity: vLLM keeps them in free blocks, so
      // this is an upper bound while running requests hold much of the KV memory.
      KvStoreConfig cfg;
      const auto B = e.sc.scheduler.block_tokens;
      cfg.tiers[0].capacity_blocks = std::max<std::int64_t>(1, capacity_tokens / B);
      cfg.block_bytes = static_cast<double>(B) * e.cluster.kv_held_per_token();
      cache_ = std::make_unique<KvStore>(cfg);
    }
  }

  bool can_ever_fit(std::uint32_t r) const { return e_.seq[r].reserve <= capacity_; }
  double load() const { return static_cast<double>(reserved_ + queued_tokens_); }
  void enqueue(std::uint32_t r) {
    waiting_.push_back(r);
    queued_tokens_ += e_.seq[r].reserve;
    if (!busy_) start_iteration();
  }
  std::int64_t reserved() const { return reserved_; }
  std::int64_t capacity() const { return capacity_; }
  double fixed_bytes() const { return fixed_bytes_; }

 private:
  void start_iteration();
  void end_iteration();

  Engine& e_;
  int id_, pool_;
  std::int64_t capacity_;
  double fixed_bytes_;  // weights + shared KV held by this instance's GPUs
  double hbm_bytes_;    // HBM of this instance's GPUs
  std::int64_t reserved_ = 0, queued_tokens_ = 0;
  std::deque<std::uint32_t> waiting_;
  std::deque<std::uint32_t> prefilling_;
  DecodeSet decoding_;
  std::int64_t decode_shared_total_ = 0;
  std::vector<std::int64_t> decode_shared_;  // per corpus
  std::vector<std::int64_t> routed_;         // per corpus, this iteration's routed queries
  std::uint64_t iter_ = 0;
  bool busy_ = false;
  std::vector<std::pair<std::uint32_t, std::int64_t>> chunks_;  // this iteration's prefill chunks
  std::unique_ptr<KvStore> cache_;  // prefix cache (scheduler.prefix_caching)
  BatchSpec batch_;                 // this iteration's work (reused)
  TimeNs iter_start_ = 0;
};

void Instance::start_iteration() {
  const auto& sched = e_.sc.scheduler;
  // Admit in arrival order while memory and the sequence cap allow (head-of-line blocking, as vLLM).
  while (!waiting_.empty()) {
    std::uint32_t r = waiting_.front();
    const auto& s = e_.seq[r];
    if (decoding_.count() + static_cast<std::int64_t>(prefilling_.size()) >= sched.max_batch) break;
    if (reserved_ + s.reserve > capacity_) break;
    waiting_.pop_front();
    queued_tokens_ -= s.reserve;
    reserved_ += s.reserve;
    prefilling_.push_back(r);
    const auto& hashes = e_.reqs[r].block_hashes;
    if (cache_ && !s.shares && !hashes.empty()) {
      // The cached prefix is not prefilled again; at least the last token is (it makes the logits).
      const auto hit = cache_->lookup(hashes).prefix_blocks * e_.sc.scheduler.block_tokens;
      auto& sm = e_.seq[r];
      sm.prefilled = std::min(hit, sm.prompt - 1);
      e_.prefix_hit_tokens += sm.prefilled;
      e_.prefix_looked_up_tokens += sm.prompt;
    }
  }
  chunks_.clear();
  // One BatchSpec reused every step (its vectors keep their capacity: no allocation per step).
  BatchSpec& b = batch_;
  b.decode_requests = 0;
  b.decode_kv_tokens = 0;
  b.prefills.clear();
  b.shared.requests = b.shared.total_chunks = b.shared.top_k = 0;
  b.shared.groups.clear();
  b.tp = 1;  // ops are built per GPU group; TP handled by the cost function
  const std::int64_t decode_count = decoding_.count();
  std::int64_t budget = sched.max_batched_tokens - decode_count;
  routed_.assign(decode_shared_.size(), 0);
  for (std::size_t c = 0; c < routed_.size(); ++c) routed_[c] = decode_shared_[c];
  std::int64_t shared_prefill_tokens = 0;
  for (std::uint32_t r : prefilling_) {
    auto& s = e_.seq[r];
    std::int64_t left = s.prompt - s.prefilled;
    std::int64_t take = sched.chunked_prefill ? std::min(left, budget) : (budget >= left || chunks_.empty() ? left : 0);
    if (take <= 0) break;
    chunks_.push_back({r, take});
    budget -= take;
    std::int64_t past = s.prefilled;
    if (s.shares && !e_.sys.batched() && e_.sys.storage != SharedStorage::per_request) past += s.attn_extra;
    b.prefills.push_back({take, past});
    if (s.shares && e_.sys.batched()) {
      shared_prefill_tokens += take;
      routed_[static_cast<std::size_t>(s.corpus)] += take;
    }
    if (budget <= 0) break;
  }
  if (decode_count == 0 && chunks_.empty()) {
    busy_ = false;
    return;
  }
  busy_ = true;
  b.decode_requests = decode_count;
  b.decode_kv_tokens = decoding_.kv_tokens();
  if (e_.sys.batched() && e_.cluster.router() && decode_shared_total_ + shared_prefill_tokens > 0) {
    b.shared = e_.cluster.route(routed_);
  }
  IterStats st = e_.cost(b);
  auto& pool = e_.out.pools[static_cast<std::size_t>(pool_)];
  pool.flops += st.flops[0];
  pool.bytes += st.bytes[0];
  // A disaggregated unique pool is one logical instance standing for all its TP groups.
  pool.busy_s += st.seconds * (e_.sys.disaggregated ? e_.cluster.unique_groups() : 1);
  if (e_.sys.disaggregated) {
    auto& sp = e_.out.pools[1];
    sp.flops += st.flops[1];
    sp.bytes += st.bytes[1];
    sp.busy_s += st.seconds * e_.cluster.shared_groups();
  }
  // HBM in use: the KV reserved now for this step (weights and shared KV count for the whole run, at its end).
  const double kv_bytes = static_cast<double>(reserved_) * e_.cluster.kv_held_per_token();
  pool.mem_byte_seconds += kv_bytes * st.seconds;
  pool.peak_mem_fraction = std::max(pool.peak_mem_fraction, (fixed_bytes_ + kv_bytes) / hbm_bytes_);
  e_.out.batch_seconds += static_cast<double>(decode_count) * st.seconds;
  e_.out.busy_seconds += st.seconds;
  e_.out.max_batch = std::max(e_.out.max_batch, decode_count);
  if (decode_count > 0) e_.out.token_gaps.add(static_cast<float>(st.seconds), static_cast<std::uint32_t>(decode_count));
  iter_start_ = e_.sim.now();
  e_.sim.schedule_in(seconds_to_ns(st.seconds), [this] { end_iteration(); });
}

void Instance::end_iteration() {
  ++iter_;
  ++e_.out.iterations;
  const TimeNs now = e_.sim.now();
  // Every running decode appended one token to its KV; retire the finished ones.
  decoding_.end_iteration(iter_, [&](std::uint32_t r) {
    const auto& s = e_.seq[r];
    if (s.shares) {
      --decode_shared_[static_cast<std::size_t>(s.corpus)];
      --decode_shared_total_;
    }
    reserved_ -= s.reserve;
    e_.out.requests[r].finish = now;
  });
  // Advance prefills; a finished prompt emits the first token.
  for (auto [r, take] : chunks_) {
    auto& s = e_.seq[r];
    s.prefilled += take;
    if (s.prefilled < s.prompt) continue;
    prefilling_.erase(std::find(prefilling_.begin(), prefilling_.end(), r));
    if (cache_ && !s.shares && !e_.reqs[r].block_hashes.empty()) cache_->insert(e_.reqs[r].block_hashes);
    auto& rec = e_.out.requests[r];
    rec.first_token = now;
    const auto out_tokens = e_.reqs[r].output_tokens;
    if (out_tokens <= 1) {
      reserved_ -= s.reserve;
      rec.finish = now;
      continue;
    }
    // Decode steps read the prompt, the shared tokens it attends itself, and the token just made.
    decoding_.add(r, e_.reqs[r].input_tokens + s.attn_extra + 1, iter_, out_tokens - 1);
    if (s.shares) {
      ++decode_shared_[static_cast<std::size_t>(s.corpus)];
      ++decode_shared_total_;
    }
  }
  start_iteration();
}

Engine::Engine(const Scenario& scenario, const std::vector<Request>& requests)
    : sc(scenario), reqs(requests), cluster(scenario), model(cluster.model()), sys(cluster.system()),
      attach_rng_(scenario.seed ^ 0xa77ac4ULL) {
  out.scenario = sc.name;
  out.system = sys.name;
  out.model = model.name;

  out.pools = cluster.pool_stats();
  for (int i = 0; i < cluster.logical_instances(); ++i) {
    instances_.push_back(std::make_unique<Instance>(*this, i, 0, cluster.capacity_tokens(), cluster.fixed_bytes(),
                                                    cluster.instance_hbm_bytes()));
  }
  shared_tokens = cluster.shared_tokens();

  // Per-request state.
  out.requests.resize(reqs.size());
  seq.resize(reqs.size());
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    const auto& q = reqs[i];
    auto& rec = out.requests[i];
    rec.id = q.id;
    rec.arrival = q.arrival_ns;
    rec.input_tokens = static_cast<std::int32_t>(q.input_tokens);
    rec.output_tokens = static_cast<std::int32_t>(q.output_tokens);
    auto& s = seq[i];
    s.shares = shared_tokens > 0 && attach_rng_.uniform() < sc.shared.attach_fraction;
    if (s.shares && cluster.corpora() > 1) {
      // The request's own corpus if the workload names one, else one drawn by popularity.
      if (q.corpus >= 0 && q.corpus < cluster.corpora()) {
        s.corpus = q.corpus;
      } else {
        double u = attach_rng_.uniform(), acc = 0;
        s.corpus = cluster.corpora() - 1;
        for (int c = 0; c < cluster.corpora(); ++c) {
          acc += cluster.corpus_weight(c);
          if (u < acc) {
            s.corpus = c;
            break;
          }
        }
      }
    }
    s.prompt = q.input_tokens;
    s.reserve = q.input_tokens + q.output_tokens;
    if (s.shares) {
      if (sys.storage == SharedStorage::per_request) {
        // vllm: the shared context is part of the request's own prompt, prefilled and held per request.
        const std::int64_t own = cluster.attended_shared(s.corpus);  // not sparse: its whole corpus
        s.prompt += own;
        s.reserve += own;
        s.attn_extra = own;
      } else if (!sys.batched()) {
        // Read per request from the one stored copy: all of it, or its top-k chunks.
        s.attn_extra = cluster.attended_shared(s.corpus);
      }
      // universal-moska: each composed module's leading tokens are recomputed for this request
      // (its own KV, prefilled with the prompt).
      s.prompt += cluster.recompute_tokens();
      s.reserve += cluster.recompute_tokens();
    }
  }
}

int Engine::pick_instance(std::uint32_t) {
  if (instances_.size() == 1) return 0;
  if (sc.scheduler.dispatch == "round-robin") return static_cast<int>(rr_++ % instances_.size());
  int best = 0;
  double best_load = instances_[0]->load();
  for (std::size_t i = 1; i < instances_.size(); ++i) {
    double l = instances_[i]->load();
    if (l < best_load) {
      best_load = l;
      best = static_cast<int>(i);
    }
  }
  return best;
}

void Engine::on_arrival(std::size_t i) {
  auto r = static_cast<std::uint32_t>(i);
  int inst = pick_instance(r);
  out.requests[i].instance = inst;
  if (!instances_[static_cast<std::size_t>(inst)]->can_ever_fit(r)) {
    out.requests[i].rejected = true;  // needs more KV than the instance can ever hold
  } else {
    instances_[static_cast<std::size_t>(inst)]->enqueue(r);
  }
  if (i + 1 < reqs.size()) sim.schedule_at(reqs[i + 1].arrival_ns, [this, i] { on_arrival(i + 1); });
}

RunResult Engine::run() {
  auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 1; i < reqs.size(); ++i) {
    if (reqs[i].arrival_ns < reqs[i - 1].arrival_ns) throw std::logic_error("simulate: requests must be sorted by arrival");
  }
  if (!reqs.empty()) sim.schedule_at(reqs[0].arrival_ns, [this] { on_arrival(0); });
  if (sc.time_limit_s > 0) {
    sim.run_until(seconds_to_ns(sc.time_limit_s));
  } else {
    sim.run();
  }
  out.sim_seconds = ns_to_seconds(sim.now());
  // Every instance holds its weights (and shared KV) the whole run.
  out.pools[0].mem_byte_seconds += cluster.fixed_bytes() * static_cast<double>(instances_.size()) * out.sim_seconds;
  if (sys.disaggregated) {
    double shared_bytes = static_cast<double>(shared_tokens) * model.kv_bytes_per_token(sc.precision.kv);
    out.pools[1].mem_byte_seconds = shared_bytes * out.sim_seconds;
    out.pools[1].peak_mem_fraction = shared_bytes / (out.pools[1].hbm_bytes_per_gpu * out.pools[1].gpus);
  }
  if (sc.scheduler.prefix_caching) {
    out.counters.push_back({"prefix_cache_hit_tokens", static_cast<double>(prefix_hit_tokens)});
    out.counters.push_back({"prefix_cache_hit_rate", prefix_looked_up_tokens ? static_cast<double>(prefix_hit_tokens) / static_cast<double>(prefix_looked_up_tokens) : 0.0});
  }
  out.events = sim.events_run();
  out.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return std::move(out);
}

}  // namespace

RunResult simulate(const Scenario& scenario, const std::vector<Request>& requests) {
  if (find_system(scenario.system).prefill_decode) return simulate_mooncake(scenario, requests);
  Engine e(scenario, requests);
  return e.run();
}

}  // namespace moska
