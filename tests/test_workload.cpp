#include <catch2/catch.hpp>

#include "tests/error_of.hpp"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "sim/util/error.hpp"
#include "sim/util/json_reader.hpp"
#include "sim/workload/generator.hpp"
#include "sim/workload/trace.hpp"

using namespace moska;

namespace {

const std::string kFixtures = MOSKA_SOURCE_DIR "/workloads/fixtures/";

using test::error_of;

std::vector<Request> parse(const std::string& text, TraceOptions opt = {}) { return parse_trace(text, "t.jsonl", opt); }

std::string parse_error(const std::string& text, TraceOptions opt = {}) {
  return error_of([&] { parse(text, opt); });
}

GeneratorSpec spec_from(const std::string& json_text) {
  static nlohmann::json holder;  // JsonReader refers to it
  holder = nlohmann::json::parse(json_text);
  return parse_generator_spec(JsonReader(holder, "spec.json"));
}

std::string spec_error(const std::string& json_text) {
  return error_of([&] { spec_from(json_text); });
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Trace readers

TEST_CASE("trace: Mooncake JSONL fixture (ms -> ns, stable sort, output 0 -> 1, hash ids)") {
  auto rs = read_trace(kFixtures + "mooncake_small.jsonl");
  REQUIRE(rs.size() == 4);
  // File order: 0, 1500, 1000, 3000 ms; sorted by arrival.
  CHECK(rs[0].arrival_ns == 0);
  CHECK(rs[1].arrival_ns == 1'000'000'000);
  CHECK(rs[2].arrival_ns == 1'500'000'000);
  CHECK(rs[3].arrival_ns == 3'000'000'000);
  for (std::size_t i = 0; i < rs.size(); ++i) CHECK(rs[i].id == i);
  CHECK(rs[0].input_tokens == 1000);
  CHECK(rs[0].output_tokens == 10);
  CHECK(rs[1].input_tokens == 1025);
  CHECK(rs[1].block_hashes == std::vector<std::uint64_t>{0, 1, 2});
  CHECK(rs[2].input_tokens == 512);
  CHECK(rs[2].output_tokens == 1);  // 0 in the file
  CHECK(rs[3].block_hashes == std::vector<std::uint64_t>{7});
  CHECK(rs[3].corpus == -1);
}

TEST_CASE("trace: equal arrivals keep file order") {
  auto rs = parse(
      "{\"timestamp\": 5, \"input_length\": 1, \"output_length\": 1, \"hash_ids\": [1]}\n"
      "{\"timestamp\": 2, \"input_length\": 2, \"output_length\": 1, \"hash_ids\": [2]}\n"
      "{\"timestamp\": 5, \"input_length\": 3, \"output_length\": 1, \"hash_ids\": [3]}\n"
      "{\"timestamp\": 2, \"input_length\": 4, \"output_length\": 1, \"hash_ids\": [4]}\n");
  REQUIRE(rs.size() == 4);
  CHECK(rs[0].input_tokens == 2);
  CHECK(rs[1].input_tokens == 4);
  CHECK(rs[2].input_tokens == 1);
  CHECK(rs[3].input_tokens == 3);
  CHECK(rs[2].arrival_ns == 5'000'000);
}

TEST_CASE("trace: Azure LLM 2023 CSV (date-times across a year boundary, CRLF, no final newline)") {
  auto rs = read_trace(kFixtures + "azure_small.csv");
  REQUIRE(rs.size() == 3);
  // 2023-12-31 23:59:59.5 -> 2024-01-01 00:00:01.0 is 1.5 s; the third row is 100 ns later.
  CHECK(rs[0].arrival_ns == 0);
  CHECK(rs[1].arrival_ns == 1'500'000'000);
  CHECK(rs[2].arrival_ns == 1'500'000'100);
  CHECK(rs[0].input_tokens == 374);
  CHECK(rs[0].output_tokens == 44);
  CHECK(rs[1].input_tokens == 396);
  CHECK(rs[1].output_tokens == 109);
  CHECK(rs[0].block_hashes.empty());
}

TEST_CASE("trace: Azure timestamps, 1.5 s apart, leap day, bad dates") {
  auto az = [](const std::string& rows) {
    return parse_trace("TIMESTAMP,ContextTokens,GeneratedTokens\n" + rows, "a.csv");
  };
  auto rs = az("2023-11-16 18:15:46.6805900,374,44\n2023-11-16 18:15:48.1805900,396,109\n");
  REQUIRE(rs.size() == 2);
  CHECK(rs[1].arrival_ns == 1'500'000'000);
  // 2024 is a leap year: Feb 28 12:00 -> Mar 1 12:00 is two days.
  rs = az("2024-02-28 12:00:00,1,1\n2024-03-01 12:00:00.25,1,1\n");
  CHECK(rs[1].arrival_ns == 2 * 86400 * 1'000'000'000LL + 250'000'000);
  // Arrival counts from the earliest row even when rows are out of order.
  rs = az("2023-11-16 18:15:50.0,1,1\n2023-11-16 18:15:47.0,2,1\n");
  CHECK(rs[0].input_tokens == 2);
  CHECK(rs[0].arrival_ns == 0);
  CHECK(rs[1].arrival_ns == 3'000'000'000);

  auto bad = [&](const std::string& row) { return error_of([&] { az(row + "\n"); }); };
  CHECK_THAT(bad("2023-02-29 00:00:00.0,1,1"), Catch::Contains("a.csv:2:") && Catch::Contains("day out of range"));
  CHECK_THAT(bad("2023-13-01 00:00:00.0,1,1"), Catch::Contains("month out of range"));
  CHECK_THAT(bad("2023-11-16 24:00:00.0,1,1"), Catch::Contains("time of day"));
  CHECK_THAT(bad("2023/11/16 18:15:46.6805900,1,1"), Catch::Contains("YYYY-MM-DD HH:MM:SS"));
  CHECK_THAT(bad("2023-11-16 18:15:46.1234567890,1,1"), Catch::Contains("more than 9 fractional digits"));
  CHECK_THAT(bad("2023-11-16 18:15:46.5,1"), Catch::Contains("a.csv:2: 2 fields") && Catch::Contains("3 comma-separated"));
  CHECK_THAT(bad("2023-11-16 18:15:46.5,-3,1"), Catch::Contains("'ContextTokens' is negative"));
  CHECK_THAT(bad("2023-11-16 18:15:46.5,12.5,1"), Catch::Contains("'ContextTokens' is '12.5'"));
  CHECK_THAT(error_of([] { parse_trace("TIMESTAMP,ContextTokens,Tokens\n", "a.csv", {TraceFormat::azure}); }),
             Catch::Contains("a.csv:1: unknown Azure LLM trace column 'Tokens'"));
}

TEST_CASE("trace: BurstGPT CSV (float seconds, failed requests read as 1 output token)") {
  auto rs = read_trace(kFixtures + "burstgpt_small.csv");
  REQUIRE(rs.size() == 3);
  CHECK(rs[0].arrival_ns == 5'000'000'000);
  CHECK(rs[1].arrival_ns == 5'250'000'000);
  CHECK(rs[2].arrival_ns == 45'500'000'000);
  CHECK(rs[0].input_tokens == 472);
  CHECK(rs[0].output_tokens == 18);
  CHECK(rs[1].input_tokens == 1000);
  CHECK(rs[1].output_tokens == 1);  // Response tokens 0: a failed request
  CHECK(rs[2].output_tokens == 200);
  CHECK_THAT(error_of([] {
               parse_trace("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
                           "1.5,ChatGPT,abc,3,4,API log\n",
                           "b.csv");
             }),
             Catch::Contains("b.csv:2: column 'Request tokens' is 'abc'"));
}

TEST_CASE("trace: moska JSONL (seconds exact, optional hash_ids and corpus, blank lines skipped)") {
  auto rs = read_trace(kFixtures + "moska_small.jsonl");
  REQUIRE(rs.size() == 3);
  CHECK(rs[0].arrival_ns == 0);
  CHECK(rs[1].arrival_ns == 100'000'000);  // "0.1" s exactly, not 0.1 * 1e9 in floating point
  CHECK(rs[2].arrival_ns == 250'000'000);  // "2.5e-1"
  CHECK(rs[0].corpus == -1);
  CHECK(rs[1].corpus == 2);
  CHECK(rs[1].block_hashes == std::vector<std::uint64_t>{5, 6});
  CHECK(rs[2].corpus == 0);
  CHECK(rs[2].input_tokens == 7);
  CHECK(rs[2].output_tokens == 3);
}

TEST_CASE("trace: format detection and explicit format") {
  CHECK(detect_trace_format("{\"timestamp\": 0, \"input_length\": 1}") == TraceFormat::mooncake);
  CHECK(detect_trace_format("\n{\"arrival_s\": 0}") == TraceFormat::moska);
  CHECK(detect_trace_format("TIMESTAMP,ContextTokens,GeneratedTokens\r\n") == TraceFormat::azure);
  CHECK(detect_trace_format("Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n") ==
        TraceFormat::burstgpt);
  CHECK(!detect_trace_format("a,b,c\n").has_value());
  CHECK(parse_trace_format("burstgpt") == TraceFormat::burstgpt);
  CHECK_THAT(error_of([] { parse_trace_format("sharegpt"); }), Catch::Contains("mooncake, azure, burstgpt or moska"));
  CHECK_THAT(parse_error("a,b,c\n1,2,3\n"), Catch::Contains("cannot tell the trace format"));
  CHECK_THAT(parse_error("\n  \n"), Catch::Contains("empty trace"));
  // A moska line read as Mooncake misses Mooncake's keys.
  TraceOptions opt;
  opt.format = TraceFormat::mooncake;
  CHECK_THAT(parse_error("{\"arrival_s\": 0, \"input_tokens\": 1, \"output_tokens\": 1}\n", opt),
             Catch::Contains("t.jsonl:1: missing key 'timestamp'"));
}

TEST_CASE("trace: speedup divides arrival times") {
  TraceOptions opt;
  opt.speedup = 2;
  auto rs = read_trace(kFixtures + "mooncake_small.jsonl", opt);
  REQUIRE(rs.size() == 4);
  CHECK(rs[1].arrival_ns == 500'000'000);
  CHECK(rs[2].arrival_ns == 750'000'000);
  CHECK(rs[3].arrival_ns == 1'500'000'000);
  opt.speedup = 0.5;  // half speed
  rs = read_trace(kFixtures + "mooncake_small.jsonl", opt);
  CHECK(rs[3].arrival_ns == 6'000'000'000);
  opt.speedup = 0;
  CHECK_THAT(error_of([&] { read_trace(kFixtures + "mooncake_small.jsonl", opt); }), Catch::Contains("speedup"));
}

TEST_CASE("trace: window re-bases to its start, max_requests keeps the first N") {
  TraceOptions opt;
  opt.window_start_s = 1.0;
  opt.window_end_s = 3.0;  // [1, 3): the 1000 ms and 1500 ms requests
  auto rs = read_trace(kFixtures + "mooncake_small.jsonl", opt);
  REQUIRE(rs.size() == 2);
  CHECK(rs[0].arrival_ns == 0);
  CHECK(rs[1].arrival_ns == 500'000'000);
  CHECK(rs[0].id == 0);
  CHECK(rs[1].id == 1);
  CHECK(rs[0].input_tokens == 1025);

  opt.speedup = 2;  // window in trace time, then faster
  rs = read_trace(kFixtures + "mooncake_small.jsonl", opt);
  REQUIRE(rs.size() == 2);
  CHECK(rs[1].arrival_ns == 250'000'000);

  TraceOptions cap;
  cap.max_requests = 3;
  rs = read_trace(kFixtures + "mooncake_small.jsonl", cap);
  REQUIRE(rs.size() == 3);
  CHECK(rs[2].arrival_ns == 1'500'000'000);  // the first three in arrival order, not in file order

  TraceOptions w2;
  w2.window_start_s = 0.5;
  w2.max_requests = 1;
  rs = read_trace(kFixtures + "mooncake_small.jsonl", w2);
  REQUIRE(rs.size() == 1);
  CHECK(rs[0].arrival_ns == 500'000'000);  // 1000 ms - 500 ms

  TraceOptions bad;
  bad.window_start_s = 2;
  bad.window_end_s = 1;
  CHECK_THAT(error_of([&] { read_trace(kFixtures + "mooncake_small.jsonl", bad); }), Catch::Contains("window"));
}

TEST_CASE("trace: malformed lines name file:line and what was expected") {
  const std::string good = "{\"timestamp\": 0, \"input_length\": 600, \"output_length\": 1, \"hash_ids\": [1, 2]}\n";
  auto second = [&](const std::string& line) { return parse_error(good + line + "\n"); };

  CHECK_THAT(error_of([] { read_trace(kFixtures + "mooncake_bad.jsonl"); }),
             Catch::Contains("mooncake_bad.jsonl:3: missing key 'output_length' (expected"));
  CHECK_THAT(error_of([] { read_trace(kFixtures + "no_such_trace.jsonl"); }),
             Catch::Contains("no_such_trace.jsonl: cannot open"));

  CHECK_THAT(second("{\"timestamp\": 1, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": [1]"),
             Catch::Contains("t.jsonl:2: malformed JSON") && Catch::Contains("',' or '}'"));
  CHECK_THAT(second("{\"timestamp\": 1 \"input_length\": 5}"), Catch::Contains("t.jsonl:2: malformed JSON at column 17"));
  CHECK_THAT(second("{\"timestamp\": 1, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": [1]} x"),
             Catch::Contains("nothing after the object"));
  CHECK_THAT(second("{\"timestamp\": 1, \"input_length\": -5, \"output_length\": 1, \"hash_ids\": []}"),
             Catch::Contains("t.jsonl:2: key 'input_length' is negative (-5) (expected a non-negative integer)"));
  CHECK_THAT(second("{\"timestamp\": 1, \"input_length\": \"5\", \"output_length\": 1, \"hash_ids\": [1]}"),
             Catch::Contains("key 'input_length' is a string"));
  CHECK_THAT(second("{\"timestamp\": 1, \"input_length\": 5.5, \"output_length\": 1, \"hash_ids\": [1]}"),
             Catch::Contains("key 'input_length' is 5.5, not an integer"));
  CHECK_THAT(second("{\"timestamp\": -1, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": [1]}"),
             Catch::Contains("key 'timestamp' is negative"));
  CHECK_THAT(second("{\"timestamp\": 1, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": [1, -2]}"),
             Catch::Contains("key 'hash_ids' element 1 is -2"));
  CHECK_THAT(second("{\"timestamp\": 1, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": 3}"),
             Catch::Contains("key 'hash_ids' is a number"));
  CHECK_THAT(second("{\"timestamp\": 1, \"timestamp\": 2, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": [1]}"),
             Catch::Contains("key 'timestamp' appears twice"));
  CHECK_THAT(second("{\"timestamp\": 01, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": [1]}"),
             Catch::Contains("malformed JSON"));
  CHECK_THAT(second("{\"timestamp\": 1, \"input_length\": 1500, \"output_length\": 1, \"hash_ids\": [1, 2]}"),
             Catch::Contains("key 'hash_ids' has 2 ids for 1500 input tokens") && Catch::Contains("ceil(1500/512) = 3"));
  CHECK_THAT(second("[1, 2]"), Catch::Contains("t.jsonl:2: malformed JSON at column 1"));
  // Mooncake lines may carry extra keys (skipped, but still checked as JSON).
  CHECK(parse(good + "{\"timestamp\": 1, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": [1], "
                     "\"extra\": {\"a\": [true, null, \"x\\\"y\"]}}\n")
            .size() == 2);
  CHECK_THAT(second("{\"timestamp\": 1, \"input_length\": 5, \"output_length\": 1, \"hash_ids\": [1], \"x\": tru}"),
             Catch::Contains("malformed JSON"));
  // block_tokens = 0 turns the hash-count check off.
  TraceOptions nocheck;
  nocheck.block_tokens = 0;
  CHECK(parse(good + "{\"timestamp\": 1, \"input_length\": 1500, \"output_length\": 1, \"hash_ids\": [1]}\n", nocheck)
            .size() == 2);

  // Our own format rejects unknown keys and wrong types.
  const std::string m = "{\"arrival_s\": 0.5, \"input_tokens\": 5, \"output_tokens\": 1}\n";
  CHECK(parse(m).size() == 1);
  CHECK_THAT(parse_error(m + "{\"arrival_s\": 1, \"input_tokens\": 5, \"output_tokens\": 1, \"prio\": 2}\n"),
             Catch::Contains("t.jsonl:2: unknown key 'prio'"));
  CHECK_THAT(parse_error(m + "{\"arrival_s\": 1, \"input_tokens\": 5, \"output_tokens\": 1, \"corpus\": -1}\n"),
             Catch::Contains("key 'corpus' is negative"));
  CHECK_THAT(parse_error(m + "{\"arrival_s\": 1, \"input_tokens\": 5}\n"), Catch::Contains("t.jsonl:2: missing key 'output_tokens'"));
}

TEST_CASE("trace: the Mooncake conversation trace loads 12,031 requests quickly") {
  const std::string path = MOSKA_SOURCE_DIR "/../shared/traces/mooncake/conversation_trace.jsonl";
  if (!std::filesystem::exists(path)) {
    WARN("skipped: " << path << " not found");
    return;
  }
  auto t0 = std::chrono::steady_clock::now();
  auto rs = read_trace(path);
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(rs.size() == 12031);
  CHECK(rs.front().arrival_ns == 0);
  CHECK(rs.front().input_tokens == 6758);
  CHECK(rs.front().output_tokens == 500);
  CHECK(rs.front().block_hashes.size() == 14);
  CHECK(rs.back().arrival_ns == 3'536'999LL * 1'000'000);
  CHECK(rs.back().id == 12030);
  INFO("load time " << ms << " ms");
  CHECK(ms < 2000);  // ~10 ms in Release; a loose bound that a Debug build also meets
}

// ---------------------------------------------------------------------------------------------
// Generator

TEST_CASE("generator: same seed, same requests, another seed, others") {
  const char* json = R"({"requests": 2000, "arrival": {"process": "gamma", "rate_per_s": 10, "cv": 2},
      "input_tokens": {"dist": "lognormal", "mean": 1000, "sigma": 1, "min": 1, "max": 100000},
      "output_tokens": {"dist": "uniform", "min": 1, "max": 300},
      "corpus": {"count": 5, "popularity": "zipf", "zipf_s": 1.2}, "seed": 42})";
  auto a = generate(spec_from(json));
  auto b = generate(spec_from(json));
  REQUIRE(a.size() == 2000);
  bool same = true;
  for (std::size_t i = 0; i < a.size(); ++i) {
    same = same && a[i].id == b[i].id && a[i].arrival_ns == b[i].arrival_ns && a[i].input_tokens == b[i].input_tokens &&
           a[i].output_tokens == b[i].output_tokens && a[i].corpus == b[i].corpus;
  }
  CHECK(same);
  auto spec = spec_from(json);
  spec.seed = 43;
  auto c = generate(spec);
  int differ = 0;
  for (std::size_t i = 0; i < a.size(); ++i) differ += a[i].input_tokens != c[i].input_tokens;
  CHECK(differ > 1900);
  // Streams are independent: another output distribution leaves arrivals and inputs unchanged.
  spec.seed = 42;
  spec.output_tokens = TokenDist{};  // constant 1
  auto d = generate(spec);
  bool kept = true;
  for (std::size_t i = 0; i < a.size(); ++i) kept = kept && a[i].arrival_ns == d[i].arrival_ns && a[i].input_tokens == d[i].input_tokens;
  CHECK(kept);
}

TEST_CASE("generator: Poisson mean inter-arrival within 2% of 1/rate over 1e5 requests") {
  auto rs = generate(spec_from(R"({"requests": 100000, "arrival": {"process": "poisson", "rate_per_s": 8},
      "input_tokens": {"dist": "constant", "value": 1}, "output_tokens": {"dist": "constant", "value": 1}, "seed": 1})"));
  REQUIRE(rs.size() == 100000);
  CHECK(rs[0].arrival_ns == 0);
  bool monotone = true;
  for (std::size_t i = 1; i < rs.size(); ++i) monotone = monotone && rs[i].arrival_ns >= rs[i - 1].arrival_ns;
  CHECK(monotone);
  double mean_gap_s = static_cast<double>(rs.back().arrival_ns) * 1e-9 / (rs.size() - 1);
  CHECK(mean_gap_s == Approx(1.0 / 8).epsilon(0.02));
}

TEST_CASE("generator: gamma inter-arrivals have the requested mean and CV") {
  auto rs = generate(spec_from(R"({"requests": 100001, "arrival": {"process": "gamma", "rate_per_s": 2, "cv": 3},
      "input_tokens": {"dist": "constant", "value": 1}, "output_tokens": {"dist": "constant", "value": 1}})"));
  double sum = 0, sum2 = 0;
  for (std::size_t i = 1; i < rs.size(); ++i) {
    double g = static_cast<double>(rs[i].arrival_ns - rs[i - 1].arrival_ns) * 1e-9;
    sum += g;
    sum2 += g * g;
  }
  const double n = static_cast<double>(rs.size() - 1);
  const double mean = sum / n;
  const double cv = std::sqrt(sum2 / n - mean * mean) / mean;
  CHECK(mean == Approx(0.5).epsilon(0.05));
  CHECK(cv == Approx(3.0).epsilon(0.05));
}

TEST_CASE("generator: constant arrivals and constant lengths are exact, uniform and lognormal in range") {
  auto rs = generate(spec_from(R"({"requests": 10, "arrival": {"process": "constant", "rate_per_s": 4},
      "input_tokens": {"dist": "constant", "value": 2048}, "output_tokens": {"dist": "constant", "value": 128}})"));
  REQUIRE(rs.size() == 10);
  for (std::size_t i = 0; i < rs.size(); ++i) {
    CHECK(rs[i].id == i);
    CHECK(rs[i].arrival_ns == static_cast<TimeNs>(i) * 250'000'000);
    CHECK(rs[i].input_tokens == 2048);
    CHECK(rs[i].output_tokens == 128);
    CHECK(rs[i].corpus == -1);
  }

  rs = generate(spec_from(R"({"requests": 100000, "arrival": {"process": "poisson", "rate_per_s": 1},
      "input_tokens": {"dist": "uniform", "min": 10, "max": 20},
      "output_tokens": {"dist": "lognormal", "mean": 1000, "sigma": 0.5}})"));
  std::int64_t lo = 1 << 30, hi = 0;
  double in_sum = 0, out_sum = 0;
  for (const auto& r : rs) {
    lo = std::min<std::int64_t>(lo, r.input_tokens);
    hi = std::max<std::int64_t>(hi, r.input_tokens);
    in_sum += static_cast<double>(r.input_tokens);
    out_sum += static_cast<double>(r.output_tokens);
  }
  CHECK(lo == 10);
  CHECK(hi == 20);
  CHECK(in_sum / rs.size() == Approx(15).epsilon(0.01));
  CHECK(out_sum / rs.size() == Approx(1000).epsilon(0.01));  // "mean" is the distribution's mean

  rs = generate(spec_from(R"({"requests": 1000, "arrival": {"process": "poisson", "rate_per_s": 1},
      "input_tokens": {"dist": "lognormal", "mean": 1000, "sigma": 2, "min": 100, "max": 5000},
      "output_tokens": {"dist": "zipf", "min": 5, "max": 9, "s": 1}})"));
  for (const auto& r : rs) {
    REQUIRE(r.input_tokens >= 100);
    REQUIRE(r.input_tokens <= 5000);
    REQUIRE(r.output_tokens >= 5);
    REQUIRE(r.output_tokens <= 9);
  }
}

TEST_CASE("generator: burst arrivals") {
  auto rs = generate(spec_from(R"({"requests": 7, "arrival": {"process": "burst", "burst_size": 3, "rate_per_s": 6},
      "input_tokens": {"dist": "constant", "value": 1}, "output_tokens": {"dist": "constant", "value": 1}})"));
  // Groups of 3 every 3/6 = 0.5 s.
  const std::vector<TimeNs> want = {0, 0, 0, 500'000'000, 500'000'000, 500'000'000, 1'000'000'000};
  for (std::size_t i = 0; i < want.size(); ++i) CHECK(rs[i].arrival_ns == want[i]);
  rs = generate(spec_from(R"({"requests": 4, "arrival": {"process": "burst"},
      "input_tokens": {"dist": "constant", "value": 1}, "output_tokens": {"dist": "constant", "value": 1}})"));
  for (const auto& r : rs) CHECK(r.arrival_ns == 0);
}

TEST_CASE("generator: corpus popularity (Zipf rank 0 at 1/H_K, uniform, fraction)") {
  const int K = 10;
  auto rs = generate(spec_from(R"({"requests": 1000000, "arrival": {"process": "poisson", "rate_per_s": 100},
      "input_tokens": {"dist": "constant", "value": 1}, "output_tokens": {"dist": "constant", "value": 1},
      "corpus": {"count": 10, "popularity": "zipf", "zipf_s": 1}, "seed": 3})"));
  std::vector<double> freq(K, 0);
  for (const auto& r : rs) {
    REQUIRE(r.corpus >= 0);
    REQUIRE(r.corpus < K);
    freq[static_cast<std::size_t>(r.corpus)] += 1.0 / rs.size();
  }
  double h = 0;
  for (int k = 1; k <= K; ++k) h += 1.0 / k;  // H_10 = 2.928968...
  CHECK(freq[0] == Approx(1.0 / h).epsilon(0.01));
  CHECK(freq[1] == Approx(0.5 / h).epsilon(0.02));

  rs = generate(spec_from(R"({"requests": 100000, "arrival": {"process": "poisson", "rate_per_s": 100},
      "input_tokens": {"dist": "constant", "value": 1}, "output_tokens": {"dist": "constant", "value": 1},
      "corpus": {"count": 4, "fraction": 0.5}})"));
  std::vector<double> u(5, 0);
  for (const auto& r : rs) u[static_cast<std::size_t>(r.corpus + 1)] += 1.0 / rs.size();
  CHECK(u[0] == Approx(0.5).epsilon(0.02));  // no corpus
  for (int k = 1; k <= 4; ++k) CHECK(u[static_cast<std::size_t>(k)] == Approx(0.125).epsilon(0.03));
}

TEST_CASE("generator: strict spec (unknown keys, ranges, names)") {
  const std::string tail = R"(, "input_tokens": {"dist": "constant", "value": 1}, "output_tokens": {"dist": "constant", "value": 1}})";
  const std::string head = R"({"requests": 10, "arrival": {"process": "poisson", "rate_per_s": 1})";
  CHECK_NOTHROW(spec_from(head + tail));
  CHECK_THAT(spec_error(R"({"requests": 10, "arrival": {"process": "poisson", "rate": 1})" + tail),
             Catch::Contains("arrival.rate_per_s"));
  CHECK_THAT(spec_error(R"({"requests": 10, "arrival": {"process": "poisson", "rate_per_s": 1, "cv": 2})" + tail),
             Catch::Contains("unknown key 'arrival.cv'"));
  CHECK_THAT(spec_error(R"({"requests": 10, "arrival": {"process": "weibull", "rate_per_s": 1})" + tail),
             Catch::Contains("\"poisson\", \"gamma\", \"constant\" or \"burst\""));
  CHECK_THAT(spec_error(R"({"requests": 0, "arrival": {"process": "poisson", "rate_per_s": 1})" + tail),
             Catch::Contains("requests"));
  CHECK_THAT(spec_error(head + R"(, "input_tokens": {"dist": "uniform", "min": 9, "max": 3}, "output_tokens": {"dist": "constant", "value": 1}})"),
             Catch::Contains("input_tokens.max"));
  CHECK_THAT(spec_error(head + R"(, "input_tokens": {"dist": "constant", "value": 0}, "output_tokens": {"dist": "constant", "value": 1}})"),
             Catch::Contains("input_tokens.value"));
  CHECK_THAT(spec_error(head + R"(, "input_tokens": {"dist": "constant", "value": 5, "min": 1}, "output_tokens": {"dist": "constant", "value": 1}})"),
             Catch::Contains("unknown key 'input_tokens.min'"));
  CHECK_THAT(spec_error(head + tail.substr(0, tail.size() - 1) + R"(, "corpus": {"count": 3, "popularity": "pareto"}})"),
             Catch::Contains("corpus.popularity"));
  CHECK_THAT(spec_error(head + tail.substr(0, tail.size() - 1) + R"(, "seeds": 3})"), Catch::Contains("unknown key 'seeds'"));
  // A spec built in C++ is checked too.
  GeneratorSpec s;
  CHECK_THAT(error_of([&] { generate(s); }), Catch::Contains("requests"));
  // The fixture parses.
  auto j = load_json_file(kFixtures + "generator_small.json");
  auto fs = parse_generator_spec(JsonReader(j, "generator_small.json"));
  CHECK(fs.requests == 1000);
  CHECK(fs.corpus.has_value());
  CHECK(generate(fs).size() == 1000);
}

TEST_CASE("generator: 1e6 requests in well under a second") {
  auto spec = spec_from(R"({"requests": 1000000, "arrival": {"process": "gamma", "rate_per_s": 50, "cv": 1.5},
      "input_tokens": {"dist": "lognormal", "mean": 2000, "sigma": 1, "min": 1, "max": 131072},
      "output_tokens": {"dist": "lognormal", "mean": 300, "sigma": 1, "min": 1, "max": 8192},
      "corpus": {"count": 16, "popularity": "zipf", "zipf_s": 1}})");
  auto t0 = std::chrono::steady_clock::now();
  auto rs = generate(spec);
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE(rs.size() == 1000000);
  CHECK(rs.capacity() == rs.size());
  INFO("generate(1e6) " << ms << " ms");
  CHECK(ms < 5000);  // ~0.2 s in Release; loose for Debug builds
}
