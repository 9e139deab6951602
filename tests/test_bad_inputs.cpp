// Bad input through the CLI (issue 18): each case must fail with exactly one line on standard
// error, "moska-sim: error: ..." naming the problem, and exit code 2. Cases that used to crash,
// hang, overflow into an internal error or run on silently are marked with what they did.
#include <catch2/catch.hpp>

#include <fstream>
#include <string>
#include <vector>

#include "tests/cli_run.hpp"

namespace {

std::string tmp(const std::string& name, const std::string& content) {
  const std::string path = "/tmp/moska_bad_" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

struct Case {
  std::string args;
  std::string expect;  // a part of the error line
};

void check_cases(const std::vector<Case>& cases) {
  for (const auto& c : cases) {
    // Standard error only (standard output must stay empty of errors).
    auto r = moska::test::shell(std::string(MOSKA_SIM_BINARY) + " " + c.args + " 2>&1 >/dev/null");
    INFO("moska-sim " << c.args << "\n" << r.out);
    CHECK(r.rc == 2);
    CHECK(r.out.rfind("moska-sim: error: ", 0) == 0);
    CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
    CHECK(r.out.find(c.expect) != std::string::npos);
  }
}

const std::string kG = MOSKA_SOURCE_DIR "/tests/golden/scenarios/";
const std::string kTrace = kG + "trace_vllm.json --set scheduler.prefix_caching=false";

}  // namespace

TEST_CASE("bad input: flags and subcommands exit 2 with the usage") {
  check_cases({
      {"rn", "unknown command 'rn' (usage:"},                       // was exit 106
      {"run --foo", "--foo (usage: moska-sim run"},                  // was exit 109
      {"", "A subcommand is required"},
      {"predict --batch x", "Could not convert"},
      {"sweep default --set requests=10 --jobs 0", "--jobs 0: expected"},  // was 'all cores'
      {"sweep default --set requests=10 --jobs -1", "--jobs -1"},
      {"sweep default --set requests=10 --jobs abc", "Could not convert"},
      {"sweep default --set requests=10 --set workload.generator.requests=20", "swept twice"},
      {"run --set requests=5 --out /proc/moska-no", "--out /proc/moska-no"},  // was found after the run
      {"run --slo-ttft 2000", "--slo-ttft 2000: expected seconds, at most 600"},
      {"run --slo-tbt 50", "--slo-tbt 50"},
      {"run --slo-ttft nan", "--slo-ttft nan"},
      {"run --slo-ttft inf", "--slo-ttft inf"},
  });
}

TEST_CASE("bad input: scenario numbers (--set and files) are checked at the boundary") {
  check_cases({
      {"run --set pools.0.instances=2147483648", "key 'pools[0].instances': expected an integer in 1..1048576"},  // SIGSEGV
      {"run --set pools.0.instances=3000000000", "pools[0].instances"},
      {"run --set tp=100000", "pools[0].tp"},
      {"run --set scheduler.iteration_overhead_s=nan", "scheduler.iteration_overhead_s"},  // iterations were free
      {"run --set scheduler.iteration_overhead_s=-1", "scheduler.iteration_overhead_s"},
      {"run --set time_limit_s=inf", "time_limit_s"},    // clock at INT64_MAX, every rate divided by it
      {"run --set time_limit_s=1e400", "beyond a double"},
      {"run --set time_limit_s=1e12", "time_limit_s"},
      {"run --set sparsity=nan", "shared.sparsity"},
      {"run --set shared_tokens=0x100", "shared.tokens"},
      {"run --set shared_tokens=-5", "shared.tokens"},
      {"run --set slo.ttft_s=2000", "milliseconds"},
      {"run --set slo.tbt_s=100", "slo.tbt_s"},
      {"run --set rate=1e-10", "rate_per_s"},  // llround overflow: internal error
      {"run --set requests=0", "requests"},
      {"run --set requests=1e9", "requests"},
      {"run --set workload.generator.arrival.process=gamma --set workload.generator.arrival.cv=1e-200", "arrival.cv"},  // hang
      {"run --set workload.generator.input_tokens.max=3000000000", "input_tokens"},
      {"run --set scheduler.micro_batches=1e12", "scheduler.micro_batches"},
      {"run --set shared.routing.zipf_s=1e300", "zipf_s"},
      {"run --set system=nosuch", "unknown system 'nosuch'"},
      {"run --set pools.5.hw=x", "index 5 out of range"},
      {"run " + kG + "corpora.json --set shared.corpora.0.tokens=4611686018427387904", "shared.corpora[0].tokens"},
      // Token counts at most 2^46 = 70368744177664 (a request's state keeps 48-bit counts of its own and
      // shared tokens): one past it is an input error, for each way of giving a shared context (the
      // corpora file has a third corpus of 65536: 35184372023297 + 35184372088832 + 65536 = 2^46 + 1).
      {"run --set shared_tokens=70368744177665", "shared.tokens': expected an integer in 0..70368744177664"},
      {"run " + kG + "corpora.json --set shared.corpora.0.tokens=70368744177665", "shared.corpora[0].tokens"},
      {"run " + kG + "corpora.json --set shared.corpora.0.tokens=35184372023297 --set shared.corpora.1.tokens=35184372088832",
       "corpora of at most 70368744177664 tokens in all (got 70368744177665)"},
  });
  const std::string dup = tmp("dup.json", R"({"name": "a", "pools": [{"hw": "h100-sxm", "instances": 1, "instances": 2}],
    "workload": {"generator": {"requests": 1}}})");
  const std::string big = tmp("big.json", R"({"pools": [{"hw": "h100-sxm", "instances": 1}], "time_limit_s": 1e400,
    "workload": {"generator": {"requests": 1}}})");
  const std::string corpora = tmp("corpora.json", R"({"system": "moska", "pools": [{"hw": "h100-sxm", "instances": 1, "tp": 8}],
    "shared": {"corpora": [{"tokens": 4611686018427387904}, {"tokens": 4611686018427387904}]},
    "workload": {"generator": {"requests": 1}}})");
  check_cases({
      {"run " + dup, "key 'pools[0].instances' appears twice"},  // the last one won
      {"run " + big, "malformed JSON"},                          // escaped as an internal error
      {"run " + corpora, "shared.corpora[0].tokens"},            // summed to INT64_MIN and fit
      {"sweep " + dup + " --set requests=1,2", "appears twice"},
  });
}

TEST_CASE("bad input: traces (lengths, dates, line endings, windows, speed-up, emptiness)") {
  const std::string big = tmp("big.jsonl", "{\"arrival_s\": 0, \"input_tokens\": 3000000000, \"output_tokens\": 5}\n");
  const std::string empty = tmp("empty.jsonl", "");
  const std::string cr = tmp("cr.jsonl", "{\"arrival_s\": 0, \"input_tokens\": 3, \"output_tokens\": 5}\r"
                                         "{\"arrival_s\": 1, \"input_tokens\": 3, \"output_tokens\": 5}\r");
  const std::string az = tmp("az.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n1200-01-01 00:00:00,1,1\n");
  const std::string header = tmp("header.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n");
  auto trace = [&](const std::string& path, const std::string& format) {
    return kTrace + " --set workload.trace.path=" + path + " --set workload.trace.format=" + format;
  };
  check_cases({
      {"run " + trace(big, "moska"), "too large (3000000000 > 2147483647)"},  // written as -1294967296
      {"run " + trace(empty, "moska"), "empty trace"},                         // 0 requests, exit 0
      {"run " + trace(header, "azure"), "no requests"},
      {"run " + trace(cr, "moska"), "carriage return"},
      {"run " + trace(az, "azure"), "1678 to 2262"},  // signed overflow (UBSan)
      {"run " + kTrace + " --set workload.trace.window_start_s=1e12", "keeps none"},  // kept every request
      {"run " + kTrace + " --set workload.trace.window_start_s=1000 --set workload.trace.window_end_s=2000", "keeps none"},
      {"run " + kTrace + " --set speedup=1e-12", "speedup"},  // internal error
      {"run " + kTrace + " --set speedup=0", "speedup"},
      {"run " + kTrace + " --set speedup=nan", "speedup"},
      {"run " + kTrace + " --set workload.trace.path=/nonexistent.jsonl", "cannot open"},
      {"cache-replay " + big + " --capacity-blocks 4", "too large"},
  });
}

TEST_CASE("bad input: hardware and model files") {
  const std::string hw_path = MOSKA_SOURCE_DIR "/hw_profiles/h100-sxm.json";
  std::ifstream in(hw_path);
  const std::string hw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto hw_with = [&](const std::string& name, const std::string& from, const std::string& to) {
    std::string t = hw;
    const auto at = t.find(from);
    REQUIRE(at != std::string::npos);
    t.replace(at, from.size(), to);
    return tmp(name, t);
  };
  // The profile's numbers as written there (checked by find). The copy's calibration folder is
  // missing, but the numbers are read (and refused) first.
  const std::string tiny = hw_with("tiny_bw.json", "\"value\": 3.35e12", "\"value\": 1e-3");
  const std::string sm = hw_with("sm.json", "\"value\": 132", "\"value\": 1e20");
  const std::string model = tmp("vocab.json", R"({"name": "m", "source": "s", "n_layers": 2, "hidden": 64, "n_heads": 4,
    "n_kv_heads": 2, "head_dim": 16, "ffn": 128, "vocab": 4611686018427387904, "max_context": 100})");
  check_cases({
      {"predict --hw " + tiny + " --batch 1 --ctx 1", "hbm_bandwidth_bps"},  // iterations past the clock
      {"predict --hw " + sm + " --batch 1 --ctx 1", "sm_count"},             // cast to int unchecked
      {"predict --model " + model + " --batch 1 --ctx 1", "key 'vocab'"},    // parameter count overflowed
      {"run --set hw=" + tiny, "hbm_bandwidth_bps"},
  });
}

TEST_CASE("bad input: checks that belong to the systems, predict and cache-replay") {
  const std::string one_corpus = tmp("one_corpus.json", R"({"system": "moska",
    "pools": [{"hw": "h100-sxm", "instances": 1, "tp": 8}], "dtype": "fp8",
    "shared": {"tokens": 65536, "chunk_tokens": 4096, "sparsity": 0.75},
    "workload": {"trace": {"path": "workloads/fixtures/moska_small.jsonl", "format": "moska"}}})");
  check_cases({
      // Without a shared context moska (or prefix-cache, cascade, sparse) would run as vllm.
      {"run " + kG + "colocated.json --set system=moska --set shared.tokens=0", "needs a shared context"},
      {"run " + kG + "colocated.json --set system=cascade --set shared.tokens=0", "needs a shared context"},
      // moska_small.jsonl names corpus 2; this scenario has one corpus (it used to be redrawn by weight).
      {"run " + one_corpus, "attends corpus 2 but the scenario has 1 shared corpora"},
      // 2^32 x 2^32 KV tokens wrapped to 0 GiB and fit.
      {"predict --batch 4294967296 --ctx 4294967296", "--ctx"},
      {"predict --batch 2147483647 --ctx 2147483647", "does not fit"},  // its KV, not a wrapped 0 GiB
      {"predict --prefill 1e30", "--prefill"},
      {"cache-replay " MOSKA_SOURCE_DIR "/workloads/fixtures/mooncake_small.jsonl --capacity-blocks 16 --max-requests -1",
       "--max-requests"},
  });
}
