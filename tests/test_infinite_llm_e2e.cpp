// Reproduction (c)'s mechanics against hand-derived values: vLLM-single's pipeline (the bubble
// formula on tiny cases, the micro-batch split (prefill chunks cut in order), the stage boundaries that cross nodes) and the
// dispatch assumption (round-robin puts a short request behind a long one on its instance's queue;
// least-loaded or lending takes it out).
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include "cli_run.hpp"
#include "tmp_dir.hpp"
#include "sim/systems/infinite_llm/pipeline.hpp"

using namespace moska;
using namespace moska::infinite_llm;

namespace {
namespace fs = std::filesystem;

using Dir = test::TmpDir;

struct Row {
  double arrival = 0, ttft = 0, e2e = 0;
  int instance = -1;
  std::string status;
};
std::vector<Row> read_requests(const std::string& csv) {
  std::ifstream f(csv);
  std::string line;
  std::getline(f, line);  // id,arrival_s,ttft_s,e2e_s,tbt_s,input_tokens,output_tokens,instance,status
  std::vector<Row> rows;
  while (std::getline(f, line)) {
    std::stringstream s(line);
    std::string c[9];
    for (auto& x : c) std::getline(s, x, ',');
    rows.push_back({std::stod(c[1]), std::stod(c[2]), std::stod(c[3]), std::stoi(c[7]), c[8]});
  }
  return rows;
}
}  // namespace

TEST_CASE("pipeline: the step of m micro-batches through P stages, flush (GPipe bubble) and steady", "[infinite_llm]") {
  // P = 4, four micro-batches of 1 s each (whole model): flush = (4 + 3) / 4 = 1.75 s, which is the
  // ideal 4 x 1 / 4 = 1 s over (1 - bubble), bubble = (P-1)/(m+P-1) = 3/7.
  const std::vector<double> four{1, 1, 1, 1};
  CHECK(pipeline_compute_s(four, 4, PipelineSchedule::flush) == Approx(1.75));
  CHECK(pipeline_compute_s(four, 4, PipelineSchedule::flush) == Approx(1.0 / (1.0 - 3.0 / 7.0)));
  // steady: every stage busy 4 x 1/4 = 1 s a round, one micro-batch's trip 1 s: 1 s.
  CHECK(pipeline_compute_s(four, 4, PipelineSchedule::steady) == Approx(1.0));
  // One micro-batch: the stages one after another, the whole model's time, under both.
  const std::vector<double> one{2.0};
  CHECK(pipeline_compute_s(one, 8, PipelineSchedule::flush) == Approx(2.0));
  CHECK(pipeline_compute_s(one, 8, PipelineSchedule::steady) == Approx(2.0));
  // Unequal {1, 2, 3} over 3 stages: flush (6 + 2 x 3) / 3 = 4; steady max(6 / 3, 3) = 3.
  const std::vector<double> uneven{1, 2, 3};
  CHECK(pipeline_compute_s(uneven, 3, PipelineSchedule::flush) == Approx(4.0));
  CHECK(pipeline_compute_s(uneven, 3, PipelineSchedule::steady) == Approx(3.0));
  // 8 stages to a node: 32 stages (4 nodes) have 3 boundaries between nodes, 8 stages none, 9 one.
  CHECK(cross_node_boundaries(32, 8) == 3);
  CHECK(cross_node_boundaries(8, 8) == 0);
  CHECK(cross_node_boundaries(9, 8) == 1);
  CHECK(cross_node_boundaries(4, 1) == 3);  // TP8 instances: every boundary leaves the node
}

TEST_CASE("pipeline: a batch cut into micro-batches keeps every decode, KV token and prefill chunk", "[infinite_llm]") {
  BatchSpec b;
  b.decode_requests = 10;
  b.decode_kv_tokens = 1000;
  b.prefills = {{500, 0, -1}, {300, 100, -1}};
  std::vector<BatchSpec> m;
  split_microbatches(b, 4, m);
  REQUIRE(m.size() == 4);
  // 10 decodes over 4: 3, 3, 2, 2; KV in proportion: 300, 300 (700 x 3 / 7), 200, 200.
  CHECK(m[0].decode_requests == 3);
  CHECK(m[1].decode_requests == 3);
  CHECK(m[2].decode_requests == 2);
  CHECK(m[3].decode_requests == 2);
  CHECK(m[0].decode_kv_tokens == 300);
  CHECK(m[1].decode_kv_tokens == 300);
  CHECK(m[2].decode_kv_tokens == 200);
  CHECK(m[3].decode_kv_tokens == 200);
  // 800 prefill tokens in shares of 200, in order: the 500-token chunk as 200 + 200 + 100 (past 0,
  // 200, 400), the 300-token chunk as 100 + 200 (past 100, 200).
  REQUIRE(m[0].prefills.size() == 1);
  CHECK(m[0].prefills[0].new_tokens == 200);
  CHECK(m[0].prefills[0].past_tokens == 0);
  REQUIRE(m[1].prefills.size() == 1);
  CHECK(m[1].prefills[0].past_tokens == 200);
  REQUIRE(m[2].prefills.size() == 2);
  CHECK(m[2].prefills[0].new_tokens == 100);
  CHECK(m[2].prefills[0].past_tokens == 400);
  CHECK(m[2].prefills[1].new_tokens == 100);
  CHECK(m[2].prefills[1].past_tokens == 100);
  REQUIRE(m[3].prefills.size() == 1);
  CHECK(m[3].prefills[0].new_tokens == 200);
  CHECK(m[3].prefills[0].past_tokens == 200);
  // Fewer decodes + prefill tokens than micro-batches: one micro-batch each.
  BatchSpec two;
  two.decode_requests = 2;
  two.decode_kv_tokens = 10;
  split_microbatches(two, 8, m);
  CHECK(m.size() == 2);
}

TEST_CASE("pipeline: vLLM-single's steady pipeline finishes a burst sooner than its stages one after another",
          "[infinite_llm]") {
  Dir t;
  const fs::path p = fs::path(t.path) / "s.json";
  std::ofstream(p) << R"({"name": "t", "seed": 1, "model": "llama-2-7b-longctx", "dtype": "bf16", "system": "infinite-llm",
    "pools": [{"name": "g", "role": "serve", "hw": "a100-80gb", "instances": 4, "tp": 1}],
    "scheduler": {"policy": "vllm-v1", "max_batch": 256, "max_batched_tokens": 8192},
    "infinite_llm": {"lending": "reactive", "pipeline_stages": 4},
    "workload": {"generator": {"requests": 128, "arrival": {"process": "burst"},
      "input_tokens": {"dist": "constant", "value": 2000}, "output_tokens": {"dist": "constant", "value": 200}}}})";
  auto makespan = [&](const std::string& sets) {
    const auto r = test::run("run " + p.string() + " " + sets + " --json");
    REQUIRE(r.rc == 0);
    const auto at = r.out.find("\"sim_seconds\"");
    REQUIRE(at != std::string::npos);
    return std::stod(r.out.substr(r.out.find(':', at) + 1));
  };
  const double serial = makespan("");
  const double serial1 = makespan("--set microbatches=1 --set pipeline_schedule=steady");
  const double steady = makespan("--set microbatches=4 --set pipeline_schedule=steady");
  CHECK(serial1 == Approx(serial));  // one micro-batch: the schedule changes nothing
  // 128 decodes over 4 micro-batches of 32: a round costs one 32-decode pass, not one 128-decode
  // pass; the weights (13.5 GB a pass) are read by each micro-batch either way, the KV once.
  CHECK(steady < serial);
  const auto bad = test::run("run " + p.string() + " --set pipeline_schedule=gpipe");
  CHECK(bad.rc == 2);
  CHECK(bad.out.find("pipeline_schedule") != std::string::npos);
}

TEST_CASE("dispatch: round-robin puts a short request behind a long one on its instance; least-loaded and lending do not",
          "[infinite_llm]") {
  // Two instances of 7,770 blocks (124,320 tokens, LLaMA2-7B on an A100-80GB). r0: 120,000 + 500
  // tokens = 7,532 blocks on instance 0, leaving 238; r1 (16 tokens) goes to instance 1; r2 arrives
  // at 30 s, after r0's prefill, with 8,000 + 16 tokens = 501 blocks. Round-robin sends r2 to
  // instance 0, where 238 < 501 blocks are free: it starts only once r0 has finished. Least-loaded
  // sends it to instance 1 (16 tokens reserved against 120,500), where it starts at once; with
  // reactive lending under round-robin it stays on instance 0 and borrows 501 - free blocks there.
  Dir t;
  const fs::path trace = fs::path(t.path) / "t.jsonl";
  std::ofstream(trace) << R"({"arrival_s": 0.0, "input_tokens": 120000, "output_tokens": 500})" << "\n"
                       << R"({"arrival_s": 0.001, "input_tokens": 16, "output_tokens": 1})" << "\n"
                       << R"({"arrival_s": 30.0, "input_tokens": 8000, "output_tokens": 16})" << "\n";
  const fs::path p = fs::path(t.path) / "s.json";
  std::ofstream(p) << R"({"name": "t", "seed": 1, "model": "llama-2-7b-longctx", "dtype": "bf16", "system": "infinite-llm",
    "pools": [{"name": "g", "role": "serve", "hw": "a100-80gb", "instances": 2, "tp": 1}],
    "scheduler": {"policy": "vllm-v1", "max_batch": 64, "max_batched_tokens": 8192},
    "workload": {"trace": {"path": ")" << trace.string() << R"(", "format": "moska"}}})";
  auto run = [&](const std::string& dispatch, const std::string& lending) {
    const std::string out = t.path + "/" + dispatch + "_" + lending;
    const auto r = test::run("run " + p.string() + " --set scheduler.dispatch=" + dispatch + " --set lending=" + lending +
                             " --out " + out);
    REQUIRE(r.rc == 0);
    return read_requests(out + "/requests.csv");
  };
  const auto rr = run("round-robin", "none");
  REQUIRE(rr.size() == 3);
  CHECK(rr[0].instance == 0);
  CHECK(rr[2].instance == 0);
  REQUIRE(rr[0].status == "finished");
  REQUIRE(rr[2].status == "finished");
  CHECK(rr[0].e2e > 30.0);  // r0 still decodes when r2 arrives (the premise)
  CHECK(rr[2].arrival + rr[2].ttft >= rr[0].arrival + rr[0].e2e);  // r2 starts after r0 frees its blocks
  const auto ll = run("least-loaded", "none");
  CHECK(ll[2].instance == 1);
  // An 8,000-token prefill alone: 8,000 x 2 x 6.74 G FLOPs = 108 TFLOP, well under 1 s at 312 TFLOP/s.
  CHECK(ll[2].ttft < 1.0);
  const auto lent = run("round-robin", "reactive");
  CHECK(lent[2].instance == 0);
  CHECK(lent[2].ttft < 1.0);
}
