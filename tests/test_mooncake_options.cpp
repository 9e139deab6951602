// Bad values of the scenario's "mooncake" section through the CLI: each fails with one line,
// "moska-sim: error: <file>: key 'mooncake.<key>': expected <form>", and exit code 2.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>

#include "tests/cli_run.hpp"

namespace {

void check_bad(const std::string& set, const std::string& expect) {
  const std::string cmd = std::string(MOSKA_SIM_BINARY) +
                          " run mooncake-conversation --set workload.trace.path=fixtures/mooncake_small.jsonl --set " +
                          set + " 2>&1 >/dev/null";
  auto r = moska::test::shell(cmd);
  INFO(cmd << "\n" << r.out);
  CHECK(r.rc == 2);
  CHECK(r.out.rfind("moska-sim: error: ", 0) == 0);
  CHECK(std::count(r.out.begin(), r.out.end(), '\n') == 1);
  CHECK(r.out.find("mooncake-conversation.json") != std::string::npos);  // names the file
  CHECK(r.out.find(expect) != std::string::npos);
}

}  // namespace

TEST_CASE("mooncake options: out-of-range values are one-line InputErrors naming file, key and form") {
  check_bad("mooncake.sample_interval_s=1e-4", "key 'mooncake.sample_interval_s': expected 0 (no load timeline) or seconds in [0.001, 86400]");
  check_bad("mooncake.sample_interval_s=1e9", "key 'mooncake.sample_interval_s'");
  check_bad("mooncake.sample_interval_s=-1", "key 'mooncake.sample_interval_s'");
  check_bad("mooncake.cpp_nodes=0", "key 'mooncake.cpp_nodes'");
  check_bad("mooncake.cpp_nodes=2.5", "key 'mooncake.cpp_nodes'");
  check_bad("mooncake.cpp_nodes=9999999999", "key 'mooncake.cpp_nodes'");  // beyond int: no wrap-around
  check_bad("mooncake.cpp_nodes=16", "key 'mooncake.cpp_nodes' = 16 must divide the prefill pool's 8 instances");
  check_bad("mooncake.cpp_nodes=3", "must divide the prefill pool's 8 instances");
  check_bad("mooncake.cpp_chunk_tokens=0", "key 'mooncake.cpp_chunk_tokens'");
  check_bad("mooncake.cpp_chunk_tokens=1e12", "key 'mooncake.cpp_chunk_tokens'");
  check_bad("mooncake.dram_gib=-1", "key 'mooncake.dram_gib': expected a number of GiB in [0, 1048576]");
  check_bad("mooncake.dram_gib=1e300", "key 'mooncake.dram_gib'");
  check_bad("mooncake.ssd_gib=1e9", "key 'mooncake.ssd_gib': expected a number of GiB in [0, 1048576]");
  check_bad("mooncake.predicted_output_tokens=0.5", "key 'mooncake.predicted_output_tokens': expected a number of tokens in [1,");
  check_bad("mooncake.predicted_output_tokens=1e15", "key 'mooncake.predicted_output_tokens'");
  check_bad("mooncake.balance_threshold=0.9", "key 'mooncake.balance_threshold': expected a number in [1, 1000000]");
  check_bad("mooncake.balance_threshold=1e7", "key 'mooncake.balance_threshold'");
  check_bad("mooncake.admission=oracle", "key 'mooncake.admission': expected one of none, decode, baseline, early, predicted");
}

TEST_CASE("mooncake options: the bounds' edges are accepted") {
  const std::string base = std::string(MOSKA_SIM_BINARY) +
                           " run mooncake-conversation --set workload.trace.path=fixtures/mooncake_small.jsonl --json";
  for (const std::string set : {"mooncake.sample_interval_s=0", "mooncake.sample_interval_s=0.001",
                                "mooncake.sample_interval_s=86400", "mooncake.cpp_nodes=8", "mooncake.cpp_chunk_tokens=1",
                                "mooncake.predicted_output_tokens=1", "mooncake.balance_threshold=1000000",
                                "mooncake.dram_gib=0.5 --set mooncake.ssd_gib=1048576"}) {
    auto r = moska::test::shell(base + " --set " + set + " 2>&1 >/dev/null");
    INFO(set << "\n" << r.out);
    CHECK(r.rc == 0);
  }
}
