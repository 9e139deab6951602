#pragma once
// Tests' harness for one batching instance on a hand-built trace: every iteration takes kStep
// seconds and its batch is recorded; KV tokens are 1 MB each; the GPU's host link is 1 GB/s.
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "sim/serving/batching_instance.hpp"
#include "sim/serving/scenario.hpp"
#include "sim/serving/serving_loop.hpp"

namespace moska::test {


constexpr double kStep = 0.010;  // every iteration takes 10 ms

struct Step {
  std::int64_t decodes, decode_kv;
  std::vector<PrefillSeq> prefills;
};

class Recorder final : public IterationModel {
 public:
  mutable std::vector<Step> steps;
  void route(const std::vector<std::int64_t>&, SharedAttention&) const override {}
  void cost(const BatchSpec& b, IterStats& out) const override {
    steps.push_back({b.decode_requests, b.decode_kv_tokens, b.prefills});
    out.seconds = kStep;
    out.charges.clear();
    out.charge(0, 0, 0);
  }
};

// One instance holding `capacity` KV tokens of 1 MB each, on one GPU with a 1 GB/s host link, its
// iterations costed by `model` (a Recorder, or a test's own).
class OneInstance final : public Deployment {
 public:
  OneInstance(std::int64_t capacity, const IterationModel& model) : capacity_(capacity), model_(model) {}
  void start(ServingLoop& loop) override {
    loop_ = &loop;
    PoolStats p;
    p.name = "gpu";
    p.gpus = 1;
    p.hbm_bytes_per_gpu = 1e12;
    p.pcie_bw_per_gpu = 1e9;
    p.peak_flops_per_gpu = 1e15;  // the recorded batches do no work: MFU and bandwidth are 0, not NaN
    p.hbm_bw_per_gpu = 1e12;
    loop.out().pools = {p};
    for (std::uint32_t r = 0; r < loop.requests().size(); ++r) {
      auto& s = loop.state(r);
      s.prompt = loop.request(r).input_tokens;
      s.reserve = loop.request(r).input_tokens + loop.request(r).output_tokens;
    }
    InstanceConfig c;
    c.capacity_tokens = capacity_;
    c.hbm_bytes = 1e12;
    c.kv_held_per_token = 1e6;
    inst_ = std::make_unique<BatchingInstance>(loop, c, model_);
  }
  void arrive(std::uint32_t r) override {
    if (!inst_->can_ever_fit(r)) loop_->reject(r, "kv_never_fits");
    else inst_->enqueue(r);
  }
  void finish_run(ServingLoop&) override {}

 private:
  std::int64_t capacity_;
  const IterationModel& model_;
  ServingLoop* loop_ = nullptr;
  std::unique_ptr<BatchingInstance> inst_;
};

// A scenario with this "scheduler" object (and, optionally, closed-loop clients).
inline Scenario scenario(const std::string& scheduler_json, std::int64_t max_concurrency = 0) {
  auto j = nlohmann::json::parse(R"({"name": "t", "system": "test", "pools": [{"hw": "h100-sxm", "instances": 1}],
      "workload": {"generator": {}}})");
  j["scheduler"] = nlohmann::json::parse(scheduler_json);
  if (max_concurrency > 0) j["workload"]["max_concurrency"] = max_concurrency;
  return parse_scenario(j, "<test>", ".");
}

inline Request req(std::uint64_t id, double at_s, std::int64_t in, std::int64_t out) {
  Request q;
  q.id = id;
  q.arrival_ns = seconds_to_ns(at_s);
  q.input_tokens = in;
  q.output_tokens = out;
  return q;
}

struct Replay {
  RunResult out;
  std::vector<Step> steps;
};

inline Replay replay(const std::string& scheduler_json, std::int64_t capacity, const std::vector<Request>& reqs,
               std::int64_t max_concurrency = 0) {
  const Scenario sc = scenario(scheduler_json, max_concurrency);
  Recorder model;
  OneInstance d(capacity, model);
  ServingLoop loop(sc, reqs);
  Replay r{loop.run(d), {}};
  r.steps = model.steps;
  return r;
}

// Writes an engine profile with these overheads (and memory section) to a temporary file.
inline std::string engine_file(const std::string& name, const nlohmann::json& overheads, const nlohmann::json& memory = nullptr) {
  nlohmann::json j = {{"name", name}};
  nlohmann::json o = nlohmann::json::object();
  for (auto& [k, v] : overheads.items()) o[k] = {{"value", v}, {"source", "test"}};
  j["overheads"] = o;
  if (!memory.is_null()) {
    nlohmann::json m = nlohmann::json::object();
    for (auto& [k, v] : memory.items()) m[k] = {{"value", v}, {"source", "test"}};
    j["memory"] = m;
  }
  const auto path = std::filesystem::temp_directory_path() / ("moska-test-engine-" + name + ".json");
  std::ofstream(path) << j.dump();
  return path.string();
}

// n requests of `in` prompt tokens and `out` output tokens, all at t = 0.
inline std::vector<Request> identical(int n, std::int64_t in, std::int64_t out) {
  std::vector<Request> v;
  for (int i = 0; i < n; ++i) v.push_back(req(static_cast<std::uint64_t>(i), 0, in, out));
  return v;
}

// A replay under vLLM V1 with an engine profile of these overheads (ample KV).
inline Replay replay_engine(const std::string& name, const nlohmann::json& overheads, const std::vector<Request>& reqs,
                            std::int64_t max_concurrency = 0) {
  return replay(R"({"policy": "vllm-v1", "engine": ")" + engine_file(name, overheads) + "\"}", 100000, reqs,
                max_concurrency);
}

// When request i's first token (or, with finish, its last) was seen.
inline double at(const Replay& r, std::size_t i, bool finish) {
  return ns_to_seconds(finish ? r.out.requests[i].finish : r.out.requests[i].first_token);
}


}  // namespace moska::test
