#include "sim/serving/mooncake_sim.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <deque>
#include <memory>

#include <fmt/format.h>

#include "sim/engine/rng.hpp"
#include "sim/engine/simulator.hpp"
#include "sim/hw/link.hpp"
#include "sim/serving/cluster_model.hpp"
#include "sim/serving/decode_set.hpp"
#include "sim/serving/kv_store.hpp"
#include "sim/util/error.hpp"

namespace moska {

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

enum class Policy { global, local, load_balance, random };
enum class Admission { none, decode, early, predicted };

// One pool of the cluster seen as colocated instances of `vllm`, so that ClusterModel gives its
// capacity and iteration cost (prefill: one prompt per iteration; decode: decode-only batches).
Scenario pool_scenario(const Scenario& sc, const PoolSpec& p) {
  Scenario s = sc;
  s.system = "vllm";
  s.shared = SharedSpec{};
  s.pools = {p};
  s.pools[0].role = "serve";
  return s;
}

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

struct ReqState {
  std::int32_t prefill = -1, decode = -1;
  std::int64_t cached = 0;        // prompt tokens not prefilled (local hit, or fetched)
  std::int64_t fetch_blocks = 0;  // blocks fetched from another prefill instance
  std::int32_t fetch_from = -1;
  double occupancy_s = 0;  // how long the prefill keeps its instance (pipeline group) busy
  TimeNs handoff_at = -1;  // earliest decode start after the prefill (layer-wise tail)
  bool fetched = true;     // remote prefix in place (or none needed)
  bool prefill_done = false, kv_delivered = false;
};

class Mooncake;

class PrefillInst {
 public:
  PrefillInst(Mooncake& m, int id, const KvStoreConfig& store, double nic_bw, double nic_latency);
  void enqueue(std::uint32_t r);
  void fetched(std::uint32_t r);  // a remote prefix arrived
  // Seconds of work queued ahead of a new request (the rest of the running one + queued occupancies).
  double queue_s(TimeNs now) const {
    return std::max(0.0, ns_to_seconds(busy_until_ - now)) + queued_s_;
  }
  KvStore store;
  Link nic;
  double busy_s = 0;

 private:
  void try_start();
  Mooncake& m_;
  int id_;
  std::deque<std::uint32_t> queue_;
  double queued_s_ = 0;
  TimeNs busy_until_ = 0;
  bool waking_ = false;
};

class DecodeInst {
 public:
  DecodeInst(Mooncake& m, int id) : m_(m), id_(id) {}
  void arrive(std::uint32_t r);
  std::int64_t reserved() const { return reserved_; }
  std::int64_t queued() const { return queued_; }
  const DecodeSet& running() const { return running_; }
  std::int64_t incoming = 0, incoming_kv = 0, incoming_reserve = 0;  // assigned, still in prefill or transfer
  // Predictor state: decode start of each running request (admission "predicted").
  std::vector<std::pair<std::uint32_t, TimeNs>> started;
  double last_step_s = 0;
  double busy_s = 0;

 private:
  void start_iteration();
  void end_iteration();
  Mooncake& m_;
  int id_;
  DecodeSet running_;
  std::deque<std::uint32_t> waiting_;
  std::vector<std::uint32_t> joined_;  // admitted at the start of this iteration
  std::int64_t reserved_ = 0, queued_ = 0;
  std::uint64_t iter_ = 0;
  bool busy_ = false;
};

class Mooncake {
 public:
  Mooncake(const Scenario& sc, const std::vector<Request>& reqs);
  RunResult run();

  Simulator sim;
  const Scenario& sc;
  const MooncakeSpec& mc;
  const std::vector<Request>& reqs;
  ClusterModel pcm, dcm;
  int cpp = 1;  // prefill instances per pipeline group
  double kv_bytes_tok = 0, block_bytes = 0, nic_latency_s = 0;
  std::int64_t B = 512;
  Policy policy = Policy::global;
  Admission admission = Admission::none;
  std::vector<std::unique_ptr<PrefillInst>> P;
  std::vector<std::unique_ptr<DecodeInst>> D;
  std::vector<ReqState> st;
  RunResult out;
  Rng rng;
  std::int64_t done = 0;
  double out_tokens_sum = 0;
  std::int64_t out_tokens_n = 0;
  // Output lengths of finished requests (a Fenwick tree of counts by length): the predictor's
  // survival function P(output > k).
  std::vector<std::int64_t> out_hist;
  void add_output(std::int64_t len) {
    for (auto i = static_cast<std::size_t>(len); i < out_hist.size(); i += i & (~i + 1)) ++out_hist[i];
  }
  std::int64_t outputs_at_most(std::int64_t len) const {
    std::int64_t n = 0;
    for (auto i = static_cast<std::size_t>(std::clamp<std::int64_t>(len, 0, static_cast<std::int64_t>(out_hist.size()) - 1)); i > 0;
         i -= i & (~i + 1))
      n += out_hist[i];
    return n;
  }
  // Probability that a request which has made `made` tokens makes more than `made + ahead`.
  double survives(double made, double ahead) const;
  // Counters.
  std::int64_t rejected_arrival_ttft = 0, rejected_arrival_decode = 0, rejected_at_decode = 0, never_fits = 0;
  std::int64_t prompt_tokens = 0, local_hit_tokens = 0, fetched_tokens = 0, prefilled_tokens = 0, wasted_tokens = 0;
  double fetch_bytes = 0, kv_sent_bytes = 0, store_load_bytes = 0;

  // Prefill of `n_new` tokens after `past` cached ones on one pipeline group: (occupancy, latency).
  // Prefill of `n_new` tokens after `past` cached ones on one pipeline group: how long it keeps the
  // group busy, how long until its first token, and the work it does (whole group).
  struct PrefillCost {
    double occupancy = 0, latency = 0, flops = 0, bytes = 0;
  };
  PrefillCost prefill_cost(std::int64_t n_new, std::int64_t past) const;
  mutable BatchSpec scratch_;  // one prompt, reused by prefill_cost (no allocation per call)
  double decode_step_s(std::int64_t count, std::int64_t kv) const {
    if (count == 0) return 0;
    BatchSpec b;
    b.decode_requests = count;
    b.decode_kv_tokens = kv;
    return dcm.cost(b).seconds;
  }
  double mean_output() const {
    return out_tokens_n ? out_tokens_sum / static_cast<double>(out_tokens_n) : mc.predicted_output_tokens;
  }
  // Would adding a request of `ctx` KV tokens break the TBT SLO or the KV capacity of decode d?
  // `predict_at` >= 0: judged on the load predicted at that time (running requests expected to
  // have finished by then leave; assigned ones arriving by then join).
  bool decode_overloaded(int d, std::int64_t ctx, std::int64_t reserve, TimeNs predict_at) const;
  void finish(std::uint32_t r, TimeNs t);
  void reject(std::uint32_t r);
  void prefill_finished(std::uint32_t r, int p);
  void kv_delivered(std::uint32_t r);
  void handoff(std::uint32_t r);

 private:
  void on_arrival(std::size_t i);
  void arrivals(std::size_t i);  // request i arrives and schedules the next (one pending arrival at a time)
  void sample();
};

// ---- prefill ----

PrefillInst::PrefillInst(Mooncake& m, int id, const KvStoreConfig& store_cfg, double nic_bw, double nic_latency)
    : store(store_cfg), nic(m.sim, nic_bw, nic_latency, fmt::format("prefill{}.nic", id)), m_(m), id_(id) {}

void PrefillInst::enqueue(std::uint32_t r) {
  queue_.push_back(r);
  queued_s_ += m_.st[r].occupancy_s;
  try_start();
}

void PrefillInst::fetched(std::uint32_t r) {
  m_.st[r].fetched = true;
  try_start();
}

void PrefillInst::try_start() {
  const TimeNs now = m_.sim.now();
  if (now < busy_until_) {
    // Busy: wake up when the pipeline can take the next prompt (one wake-up pending at a time).
    if (!waking_) {
      waking_ = true;
      m_.sim.schedule_at(busy_until_, [this] {
        waking_ = false;
        try_start();
      });
    }
    return;
  }
  // FIFO, skipping requests whose fetched prefix has not arrived yet.
  auto it = std::find_if(queue_.begin(), queue_.end(), [&](std::uint32_t r) { return m_.st[r].fetched; });
  if (it == queue_.end()) return;
  const std::uint32_t r = *it;
  queue_.erase(it);
  auto& s = m_.st[r];
  queued_s_ = std::max(0.0, queued_s_ - s.occupancy_s);
  const auto& q = m_.reqs[r];
  // The cached prefix is read from this instance's store (DRAM/SSD) into HBM, overlapped layer by
  // layer with the compute: the prefill takes the longer of the two.
  double load_s = 0;
  if (s.cached > 0) {
    const auto blocks = std::min<std::int64_t>(static_cast<std::int64_t>(q.block_hashes.size()), (s.cached + m_.B - 1) / m_.B);
    auto lk = store.lookup(std::span(q.block_hashes.data(), static_cast<std::size_t>(blocks)));
    load_s = store.load_time_s(lk);
    m_.store_load_bytes += static_cast<double>(lk.prefix_blocks) * m_.block_bytes;
    // Evicted since the Conductor looked: prefill the part that is gone.
    s.cached = std::min(s.cached, lk.prefix_blocks * m_.B);
  }
  const auto pc = m_.prefill_cost(q.input_tokens - s.cached, s.cached);
  const double occ = std::max(pc.occupancy, load_s);
  const double lat = std::max(pc.latency, load_s);
  m_.prefilled_tokens += q.input_tokens - s.cached;
  busy_until_ = now + seconds_to_ns(occ);
  busy_s += occ;
  auto& pool = m_.out.pools[0];
  pool.busy_s += occ * m_.cpp;
  pool.flops += pc.flops;
  pool.bytes += pc.bytes;
  const double kv_held = static_cast<double>(q.input_tokens) * m_.pcm.kv_held_per_token() / m_.cpp;
  pool.mem_byte_seconds += kv_held * lat * m_.cpp;
  pool.peak_mem_fraction = std::max(pool.peak_mem_fraction, (m_.pcm.fixed_bytes() + kv_held) / m_.pcm.instance_hbm_bytes());
  // KV of the whole prompt goes to the decode instance: streamed layer by layer from the prefill
  // start (it cannot finish before the last layer is computed), or sent after the prefill.
  const double kv_bytes = static_cast<double>(q.input_tokens) * m_.kv_bytes_tok;
  const bool decodes = q.output_tokens > 1;
  if (decodes && m_.mc.layerwise) {
    m_.kv_sent_bytes += kv_bytes;
    nic.start(kv_bytes, [this, r] { m_.kv_delivered(r); });
    const double tail = kv_bytes / static_cast<double>(m_.pcm.model().n_layers) / nic.bandwidth_bps() + nic.latency_s();
    s.handoff_at = now + seconds_to_ns(lat + tail);
  }
  const int me = id_;
  m_.sim.schedule_at(now + seconds_to_ns(lat), [this, r, me] { m_.prefill_finished(r, me); });
  try_start();  // schedules the next wake-up
}

// ---- decode ----

void DecodeInst::arrive(std::uint32_t r) {
  const auto& q = m_.reqs[r];
  --incoming;
  incoming_kv -= q.input_tokens;
  incoming_reserve -= q.input_tokens + q.output_tokens;
  waiting_.push_back(r);
  queued_ += q.input_tokens + q.output_tokens;
  if (!busy_) start_iteration();
}

void DecodeInst::start_iteration() {
  const TimeNs now = m_.sim.now();
  const std::int64_t cap = m_.dcm.capacity_tokens();
  while (!waiting_.empty()) {
    const std::uint32_t r = waiting_.front();
    const auto& q = m_.reqs[r];
    const std::int64_t need = q.input_tokens + q.output_tokens;
    if (running_.count() >= m_.sc.scheduler.max_batch || reserved_ + need > cap) break;
    waiting_.pop_front();
    queued_ -= need;
    reserved_ += need;
    // The first token came from the prefill; this instance makes the other output - 1.
    running_.add(r, q.input_tokens + 1, iter_, q.output_tokens - 1);
    if (m_.admission == Admission::predicted) started.push_back({r, now});
    joined_.push_back(r);
  }
  if (running_.empty()) {
    busy_ = false;
    return;
  }
  busy_ = true;
  BatchSpec b;
  b.decode_requests = running_.count();
  b.decode_kv_tokens = running_.kv_tokens();
  auto c = m_.dcm.cost(b);
  last_step_s = c.seconds;
  busy_s += c.seconds;
  auto& pool = m_.out.pools[1];
  pool.busy_s += c.seconds;
  pool.flops += c.flops[0];
  pool.bytes += c.bytes[0];
  const double kv_bytes = static_cast<double>(reserved_) * m_.dcm.kv_held_per_token();
  pool.mem_byte_seconds += kv_bytes * c.seconds;
  pool.peak_mem_fraction = std::max(pool.peak_mem_fraction, (m_.dcm.fixed_bytes() + kv_bytes) / m_.dcm.instance_hbm_bytes());
  const auto n = running_.count();
  m_.out.batch_seconds += static_cast<double>(n) * c.seconds;
  m_.out.busy_seconds += c.seconds;
  m_.out.max_batch = std::max(m_.out.max_batch, n);
  // A request's second token comes at the end of its first decode step: its gap since the first
  // token (made by the prefill) includes the KV transfer tail and any wait for a decode slot.
  const TimeNs end = now + seconds_to_ns(c.seconds);
  for (std::uint32_t r : joined_) {
    m_.out.token_gaps.add(static_cast<float>(ns_to_seconds(end - m_.out.requests[r].first_token)), 1u);
  }
  const auto steady = n - static_cast<std::int64_t>(joined_.size());
  if (steady > 0) m_.out.token_gaps.add(static_cast<float>(c.seconds), static_cast<std::uint32_t>(steady));
  joined_.clear();
  m_.sim.schedule_in(seconds_to_ns(c.seconds), [this] { end_iteration(); });
}

void DecodeInst::end_iteration() {
  ++iter_;
  ++m_.out.iterations;
  const TimeNs now = m_.sim.now();
  running_.end_iteration(iter_, [&](std::uint32_t r) {
    const auto& q = m_.reqs[r];
    reserved_ -= q.input_tokens + q.output_tokens;
    if (m_.admission == Admission::predicted) {
      auto it = std::find_if(started.begin(), started.end(), [r](const auto& p) { return p.first == r; });
      *it = started.back();
      started.pop_back();
    }
    m_.finish(r, now);
  });
  start_iteration();
}

// ---- the cluster ----

Mooncake::Mooncake(const Scenario& scenario, const std::vector<Request>& requests)
    : sc(scenario), mc(scenario.mooncake), reqs(requests), pcm(pool_scenario(scenario, find_pool(scenario, "prefill"))),
      dcm(pool_scenario(scenario, find_pool(scenario, "decode"))), rng(scenario.seed ^ 0x6d6f6f6eULL) {
  if (sc.shared.tokens > 0) {
    throw InputError(fmt::format("{}: system mooncake models no shared corpus (key 'shared'); its reuse comes from the "
                                 "trace's prefix-block hashes", sc.file));
  }
  const auto& pp = find_pool(sc, "prefill");
  const auto& dp = find_pool(sc, "decode");
  cpp = mc.cpp_nodes;
  if (pp.instances % cpp != 0) {
    throw InputError(fmt::format("{}: key 'mooncake.cpp_nodes' = {} must divide the prefill pool's {} instances", sc.file,
                                 cpp, pp.instances));
  }
  policy = mc.policy == "global-cache-aware" ? Policy::global
           : mc.policy == "local-cache-aware" ? Policy::local
           : mc.policy == "load-balance"      ? Policy::load_balance
                                              : Policy::random;
  admission = mc.admission == "none" ? Admission::none
              : mc.admission == "decode" ? Admission::decode
              : mc.admission == "early"  ? Admission::early
                                         : Admission::predicted;
  if (admission != Admission::none && (sc.slo.ttft_s <= 0 || sc.slo.tbt_s <= 0)) {
    throw InputError(fmt::format("{}: key 'mooncake.admission' = \"{}\" rejects by the SLO: give \"slo\": {{\"ttft_s\": ..., "
                                 "\"tbt_s\": ...}}", sc.file, mc.admission));
  }
  B = sc.scheduler.block_tokens;
  kv_bytes_tok = pcm.model().kv_bytes_per_token(sc.precision.kv);
  block_bytes = static_cast<double>(B) * kv_bytes_tok;

  // Prefill groups: each `cpp` instances of the pool are one pipeline with their stores and NICs.
  const auto hw = load_hardware(pp.hw);
  const double gpus = static_cast<double>(pp.tp * cpp);
  const double node_share = gpus / static_cast<double>(std::max(1, hw.node.gpus_per_node));
  const double dram = mc.dram_gib >= 0 ? mc.dram_gib * kGiB * cpp : hw.node.host_dram_bytes * node_share;
  const double ssd = mc.ssd_gib * kGiB * cpp;
  KvStoreConfig cfg;
  cfg.block_bytes = block_bytes;
  cfg.tiers[1] = {static_cast<std::int64_t>(dram / block_bytes), hw.node.pcie_bw_bps * gpus, 0.0};
  cfg.tiers[2] = {static_cast<std::int64_t>(ssd / block_bytes), std::max(1.0, hw.node.ssd_bw_bps * node_share), 100e-6};
  if (cfg.tiers[1].capacity_blocks + cfg.tiers[2].capacity_blocks == 0 && policy != Policy::load_balance &&
      policy != Policy::random) {
    throw InputError(fmt::format("{}: the KV store holds no block ({} GiB DRAM, {} GiB SSD per instance, {:.0f} MiB per "
                                 "block): raise 'mooncake.dram_gib'", sc.file, dram / kGiB, ssd / kGiB, block_bytes / 1048576.0));
  }
  nic_latency_s = hw.node.nic_latency_s;
  for (int i = 0; i < pp.instances / cpp; ++i) {
    P.push_back(std::make_unique<PrefillInst>(*this, i, cfg, hw.node.nic_bw_bps * gpus, hw.node.nic_latency_s));
  }
  for (int i = 0; i < dp.instances; ++i) D.push_back(std::make_unique<DecodeInst>(*this, i));

  out.scenario = sc.name;
  out.system = "mooncake";
  out.model = pcm.model().name;
  out.pools = pcm.pool_stats();
  out.pools[0].role = "prefill";
  auto dps = dcm.pool_stats();
  dps[0].role = "decode";
  out.pools.push_back(dps[0]);
  out.requests.resize(reqs.size());
  st.resize(reqs.size());
  if (admission == Admission::predicted) {
    std::int64_t longest = 1;
    for (const auto& q : reqs) longest = std::max(longest, q.output_tokens);
    out_hist.assign(static_cast<std::size_t>(longest) + 2, 0);
  }
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    auto& rec = out.requests[i];
    rec.id = reqs[i].id;
    rec.arrival = reqs[i].arrival_ns;
    rec.input_tokens = static_cast<std::int32_t>(reqs[i].input_tokens);
    rec.output_tokens = static_cast<std::int32_t>(reqs[i].output_tokens);
  }
}

Mooncake::PrefillCost Mooncake::prefill_cost(std::int64_t n_new, std::int64_t past) const {
  PrefillCost pc;
  auto one = [&](std::int64_t n, std::int64_t p) {
    scratch_.prefills.assign(1, PrefillSeq{n, p});
    const auto c = pcm.cost(scratch_);
    pc.flops += c.flops[0];
    pc.bytes += c.bytes[0];
    return c.seconds;
  };
  if (cpp == 1) {
    pc.occupancy = pc.latency = one(n_new, past);
    return pc;
  }
  // Chunked pipeline parallelism: the group's `cpp` instances each run 1/cpp of the layers; the
  // prompt's chunks flow through them. The bottleneck stage is busy sum(t_c)/cpp; the last chunk
  // leaves the pipeline (cpp - 1) stage-times of the largest chunk later, plus one NIC hop per stage.
  const std::int64_t C = mc.cpp_chunk_tokens;
  double sum = 0, mx = 0;
  for (std::int64_t done_tokens = 0; done_tokens < n_new; done_tokens += C) {
    double t = one(std::min(C, n_new - done_tokens), past + done_tokens);
    sum += t;
    mx = std::max(mx, t);
  }
  const double stage = 1.0 / static_cast<double>(cpp);
  pc.occupancy = sum * stage;
  pc.latency = sum * stage + (cpp - 1) * (mx * stage + nic_latency_s);
  return pc;
}

double Mooncake::survives(double made, double ahead) const {
  // Until enough requests have finished, every request is assumed to make the prior mean
  // (`predicted_output_tokens`; Mooncake's uniform-decode-time assumption).
  if (out_tokens_n < 100) return made + ahead < mean_output() ? 1.0 : 0.0;
  const auto a = static_cast<std::int64_t>(made), b = static_cast<std::int64_t>(made + ahead);
  const double alive_now = static_cast<double>(out_tokens_n - outputs_at_most(a));
  if (alive_now <= 0) return 0.0;  // longer than any finished request: no evidence it goes on
  return static_cast<double>(out_tokens_n - outputs_at_most(b)) / alive_now;
}

bool Mooncake::decode_overloaded(int d, std::int64_t ctx, std::int64_t reserve, TimeNs predict_at) const {
  const auto& di = *D[static_cast<std::size_t>(d)];
  double count = static_cast<double>(di.running().count()), kv = static_cast<double>(di.running().kv_tokens());
  double held = static_cast<double>(di.reserved() + di.queued());  // KV reserved by running and waiting requests
  if (predict_at >= 0) {
    // The expected load when this request would reach decode: each running request is still there
    // with the probability that its output is longer than what it has made plus the steps until
    // then (at the current step time), from the output lengths of the requests finished so far;
    // the requests already assigned to this instance (in prefill or transfer) will have joined.
    const double step = std::max(di.last_step_s, 1e-6);
    const double ahead = ns_to_seconds(predict_at - sim.now()) / step;
    count = static_cast<double>(di.incoming);
    kv = static_cast<double>(di.incoming_kv);
    held = static_cast<double>(di.queued() + di.incoming_reserve);
    for (const auto& [r, t0] : di.started) {
      const double made = 1.0 + ns_to_seconds(sim.now() - t0) / step;
      const double p = survives(made, ahead);
      count += p;
      kv += p * (static_cast<double>(reqs[r].input_tokens) + made + ahead);
      held += p * static_cast<double>(reqs[r].input_tokens + reqs[r].output_tokens);
    }
  }
  if (held + static_cast<double>(reserve) > static_cast<double>(dcm.capacity_tokens())) return true;
  return decode_step_s(std::llround(count) + 1, std::llround(kv) + ctx + 1) > sc.slo.tbt_s;
}

void Mooncake::on_arrival(std::size_t i) {
  const auto r = static_cast<std::uint32_t>(i);
  const auto& q = reqs[i];
  const TimeNs now = sim.now();
  auto& s = st[r];
  prompt_tokens += q.input_tokens;
  const std::int64_t reserve = q.input_tokens + q.output_tokens;
  if (q.input_tokens > pcm.capacity_tokens() * cpp || reserve > dcm.capacity_tokens()) {
    ++never_fits;
    reject(r);
    return;
  }
  // Conductor: the prefix each prefill instance holds (blocks, and in which tiers).
  const auto nP = static_cast<int>(P.size());
  std::vector<KvLookup> held(static_cast<std::size_t>(nP));
  std::int64_t best = 0;
  int best_at = -1;
  if (!q.block_hashes.empty()) {
    for (int p = 0; p < nP; ++p) {
      held[static_cast<std::size_t>(p)] = P[static_cast<std::size_t>(p)]->store.peek(q.block_hashes);
      if (held[static_cast<std::size_t>(p)].prefix_blocks > best) {
        best = held[static_cast<std::size_t>(p)].prefix_blocks;
        best_at = p;
      }
    }
  }
  const auto cached_of = [&](std::int64_t blocks) { return std::min(blocks * B, q.input_tokens - 1); };
  // Prefill latency with `blocks` of prefix read from the store (`fetched` of them land in DRAM).
  const auto predicted_prefill = [&](int p, std::int64_t fetched) {
    KvLookup lk = held[static_cast<std::size_t>(p)];
    lk.prefix_blocks += fetched;
    lk.per_tier[static_cast<int>(KvTier::dram)] += fetched;
    const std::int64_t c = cached_of(lk.prefix_blocks);
    return std::max(prefill_cost(q.input_tokens - c, c).latency, P[static_cast<std::size_t>(p)]->store.load_time_s(lk));
  };
  int pick = 0;
  double pick_ttft = 0;
  std::int64_t pick_fetch = 0;
  if (policy == Policy::random) {
    pick = static_cast<int>(rng.below(static_cast<std::uint64_t>(nP)));
  } else if (policy == Policy::load_balance) {
    double lo = 0;
    for (int p = 0; p < nP; ++p) {
      double qs = P[static_cast<std::size_t>(p)]->queue_s(now);
      if (p == 0 || qs < lo) {
        lo = qs;
        pick = p;
      }
    }
  } else {
    // Least predicted TTFT = queue + (fetch of a longer remote prefix, overlapping the queue) + prefill.
    for (int p = 0; p < nP; ++p) {
      const auto& pi = *P[static_cast<std::size_t>(p)];
      const double qs = pi.queue_s(now);
      const std::int64_t lb = held[static_cast<std::size_t>(p)].prefix_blocks;
      double ttft = qs + predicted_prefill(p, 0);
      std::int64_t fetch = 0;
      if (policy == Policy::global && best > lb &&
          (lb == 0 || static_cast<double>(best) / static_cast<double>(lb) >= mc.balance_threshold)) {
        const auto& src = P[static_cast<std::size_t>(best_at)]->nic;
        const double xfer = static_cast<double>(best - lb) * block_bytes * static_cast<double>(src.in_flight() + 1) /
                                src.bandwidth_bps() + src.latency_s();
        const double t2 = std::max(qs, xfer) + predicted_prefill(p, best - lb);
        if (t2 < ttft) {
          ttft = t2;
          fetch = best - lb;
        }
      }
      if (p == 0 || ttft < pick_ttft) {
        pick_ttft = ttft;
        pick = p;
        pick_fetch = fetch;
      }
    }
  }
  auto& pi = *P[static_cast<std::size_t>(pick)];
  const std::int64_t lb = held[static_cast<std::size_t>(pick)].prefix_blocks;
  s.cached = cached_of(lb + pick_fetch);
  if (policy == Policy::random || policy == Policy::load_balance) pick_ttft = pi.queue_s(now) + predicted_prefill(pick, 0);
  // Decode instance: the least predicted step time with this request added, among those with room.
  int dpick = -1;
  double dbest = 0;
  for (int d = 0; d < static_cast<int>(D.size()); ++d) {
    const auto& di = *D[static_cast<std::size_t>(d)];
    const bool room = di.reserved() + di.queued() + di.incoming_reserve + reserve <= dcm.capacity_tokens();
    const double t = decode_step_s(di.running().count() + di.incoming + 1,
                                   di.running().kv_tokens() + di.incoming_kv + q.input_tokens + 1) +
                     (room ? 0.0 : 1e9 + static_cast<double>(di.reserved() + di.queued() + di.incoming_reserve));
    if (dpick < 0 || t < dbest) {
      dbest = t;
      dpick = d;
    }
  }
  // Admission.
  if (admission == Admission::early || admission == Admission::predicted) {
    if (pick_ttft > sc.slo.ttft_s) {
      ++rejected_arrival_ttft;
      reject(r);
      return;
    }
    const TimeNs at = admission == Admission::predicted ? now + seconds_to_ns(pick_ttft) : -1;
    if (decode_overloaded(dpick, q.input_tokens, reserve, at)) {
      ++rejected_arrival_decode;
      reject(r);
      return;
    }
  }
  s.prefill = pick;
  s.decode = dpick;
  out.requests[i].instance = pick;
  auto& di = *D[static_cast<std::size_t>(dpick)];
  ++di.incoming;
  di.incoming_kv += q.input_tokens;
  di.incoming_reserve += reserve;
  const auto pc = prefill_cost(q.input_tokens - s.cached, s.cached);
  s.occupancy_s = pc.occupancy;
  local_hit_tokens += cached_of(lb);
  if (pick_fetch > 0) {
    // Fetch the missing prefix blocks from the instance holding them over its NIC; they are then
    // kept in this instance's store too (hot blocks end up replicated where they are used).
    s.fetched = false;
    s.fetch_blocks = pick_fetch;
    s.fetch_from = best_at;
    fetched_tokens += s.cached - cached_of(lb);
    const double bytes = static_cast<double>(pick_fetch) * block_bytes;
    fetch_bytes += bytes;
    auto& src = *P[static_cast<std::size_t>(best_at)];
    src.store.lookup(std::span(q.block_hashes.data(), static_cast<std::size_t>(lb + pick_fetch)));  // touch at the source
    const auto nblocks = static_cast<std::size_t>(lb + pick_fetch);
    src.nic.start(bytes, [this, r, pick, nblocks] {
      auto& dst = *P[static_cast<std::size_t>(pick)];
      dst.store.insert(std::span(reqs[r].block_hashes.data(), nblocks));
      dst.fetched(r);
    });
  }
  pi.enqueue(r);
}

void Mooncake::arrivals(std::size_t i) {
  on_arrival(i);
  if (i + 1 < reqs.size()) sim.schedule_at(reqs[i + 1].arrival_ns, [this, i] { arrivals(i + 1); });
}

void Mooncake::prefill_finished(std::uint32_t r, int p) {
  const auto& q = reqs[r];
  auto& s = st[r];
  const TimeNs now = sim.now();
  out.requests[r].first_token = now;
  // The prompt's KV is kept in the instance's store (DRAM), keyed by its block hashes.
  if (!q.block_hashes.empty()) P[static_cast<std::size_t>(p)]->store.insert(q.block_hashes);
  s.prefill_done = true;
  if (q.output_tokens <= 1) {
    auto& di = *D[static_cast<std::size_t>(s.decode)];
    --di.incoming;
    di.incoming_kv -= q.input_tokens;
    di.incoming_reserve -= q.input_tokens + q.output_tokens;
    finish(r, now);
    return;
  }
  auto& nic = P[static_cast<std::size_t>(p)]->nic;
  if (!mc.layerwise) {
    const double kv_bytes = static_cast<double>(q.input_tokens) * kv_bytes_tok;
    kv_sent_bytes += kv_bytes;
    s.handoff_at = now;
    nic.start(kv_bytes, [this, r] { kv_delivered(r); });
    return;
  }
  if (s.kv_delivered) sim.schedule_at(std::max(now, s.handoff_at), [this, r] { handoff(r); });
}

void Mooncake::kv_delivered(std::uint32_t r) {
  auto& s = st[r];
  s.kv_delivered = true;
  if (s.prefill_done) sim.schedule_at(std::max(sim.now(), s.handoff_at), [this, r] { handoff(r); });
}

void Mooncake::handoff(std::uint32_t r) {
  auto& s = st[r];
  auto& di = *D[static_cast<std::size_t>(s.decode)];
  const auto& q = reqs[r];
  if (admission != Admission::none && decode_overloaded(s.decode, q.input_tokens, q.input_tokens + q.output_tokens, -1)) {
    // Rejected after its prefill (Mooncake's baseline): the prefill was wasted.
    --di.incoming;
    di.incoming_kv -= q.input_tokens;
    di.incoming_reserve -= q.input_tokens + q.output_tokens;
    ++rejected_at_decode;
    wasted_tokens += q.input_tokens - s.cached;
    reject(r);
    return;
  }
  di.arrive(r);
}

void Mooncake::finish(std::uint32_t r, TimeNs t) {
  out.requests[r].finish = t;
  out_tokens_sum += static_cast<double>(reqs[r].output_tokens);
  ++out_tokens_n;
  if (admission == Admission::predicted) add_output(reqs[r].output_tokens);
  ++done;
}

void Mooncake::reject(std::uint32_t r) {
  out.requests[r].rejected = true;
  ++done;
}

void Mooncake::sample() {
  const TimeNs now = sim.now();
  double pl = 0, dl = 0;
  for (const auto& p : P) pl += p->queue_s(now);
  for (const auto& d : D) dl += static_cast<double>(d->running().count());
  out.load_timeline.push_back({ns_to_seconds(now), pl / static_cast<double>(P.size()), dl / static_cast<double>(D.size())});
  if (done < static_cast<std::int64_t>(reqs.size())) sim.schedule_in(seconds_to_ns(mc.sample_interval_s), [this] { sample(); });
}

RunResult Mooncake::run() {
  const auto t0 = std::chrono::steady_clock::now();
  for (std::size_t i = 1; i < reqs.size(); ++i) {
    if (reqs[i].arrival_ns < reqs[i - 1].arrival_ns) throw std::logic_error("simulate: requests must be sorted by arrival");
  }
  if (!reqs.empty()) sim.schedule_at(reqs[0].arrival_ns, [this] { arrivals(0); });
  if (mc.sample_interval_s > 0 && !reqs.empty()) sim.schedule_at(0, [this] { sample(); });
  if (sc.time_limit_s > 0) sim.run_until(seconds_to_ns(sc.time_limit_s));
  else sim.run();
  out.sim_seconds = ns_to_seconds(sim.now());
  // Weights (and the rest of the fixed memory) are held all the time on every instance.
  out.pools[0].mem_byte_seconds += pcm.fixed_bytes() * static_cast<double>(P.size() * static_cast<std::size_t>(cpp)) * out.sim_seconds;
  out.pools[1].mem_byte_seconds += dcm.fixed_bytes() * static_cast<double>(D.size()) * out.sim_seconds;
  out.events = sim.events_run();
  const double looked = static_cast<double>(std::max<std::int64_t>(1, prompt_tokens));
  out.counters = {
      {"rejected_never_fits", static_cast<double>(never_fits)},
      {"rejected_at_arrival_ttft", static_cast<double>(rejected_arrival_ttft)},
      {"rejected_at_arrival_decode_load", static_cast<double>(rejected_arrival_decode)},
      {"rejected_at_decode", static_cast<double>(rejected_at_decode)},
      {"prefill_tokens_computed", static_cast<double>(prefilled_tokens)},
      {"prefill_tokens_wasted_by_rejection", static_cast<double>(wasted_tokens)},
      {"prompt_tokens_from_local_cache", static_cast<double>(local_hit_tokens) / looked},
      {"prompt_tokens_fetched_remote", static_cast<double>(fetched_tokens) / looked},
      {"kv_fetch_gb", fetch_bytes / 1e9},
      {"kv_to_decode_gb", kv_sent_bytes / 1e9},
      {"kv_store_load_gb", store_load_bytes / 1e9},
  };
  out.wall_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return std::move(out);
}

}  // namespace

RunResult simulate_mooncake(const Scenario& scenario, const std::vector<Request>& requests) {
  Mooncake m(scenario, requests);
  return m.run();
}

}  // namespace moska
