// The checked-number layer (issue 18): JSON files, JsonReader ranges, text numbers, checked
// arithmetic, time conversion, and the trace and generator checks that used to overflow, hang or
// accept nonsense. Each expected value is written from the rule, not copied from an output.
#include <catch2/catch.hpp>

#include "tests/error_of.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "sim/engine/rng.hpp"
#include "sim/engine/simulator.hpp"
#include "sim/engine/time.hpp"
#include "sim/hw/gpu.hpp"
#include "sim/model/model_spec.hpp"
#include "sim/util/checked.hpp"
#include "sim/util/error.hpp"
#include "sim/util/json_reader.hpp"
#include "sim/util/numbers.hpp"
#include "sim/workload/generator.hpp"
#include "sim/workload/trace.hpp"

using namespace moska;

namespace {
using test::error_of;
}  // namespace

TEST_CASE("checked: sums, products and narrowing that do not fit are input errors naming what") {
  CHECK(checked_add<std::int64_t>(1, 2, "x") == 3);
  CHECK(checked_mul<std::int64_t>(1 << 20, 1 << 20, "x") == (std::int64_t{1} << 40));
  const std::int64_t big = std::int64_t{1} << 62;
  // Two corpora of 2^62 tokens: 2^63 does not fit (it wrapped to INT64_MIN).
  CHECK_THAT(error_of([&] { checked_add(big, big, "corpora"); }), Catch::Contains("corpora") && Catch::Contains("64-bit"));
  CHECK_THAT(error_of([&] { checked_mul(big, std::int64_t{2}, "GPUs"); }), Catch::Contains("GPUs"));
  CHECK_THAT(error_of([&] { checked_sub(std::numeric_limits<std::int64_t>::min(), std::int64_t{1}, "span"); }),
             Catch::Contains("span"));
  CHECK(checked_narrow<int>(std::int64_t{2147483647}, "n") == 2147483647);
  CHECK_THAT(error_of([] { checked_narrow<int>(std::int64_t{2147483648}, "instances"); }), Catch::Contains("instances"));
}

TEST_CASE("checked: text numbers are strict decimals, finite") {
  double v = 0;
  CHECK(parse_decimal("0.75", v) == DecimalParse::ok);
  CHECK(v == 0.75);
  CHECK(parse_decimal("-2e3", v) == DecimalParse::ok);
  CHECK(v == -2000);
  CHECK(parse_decimal(".5", v) == DecimalParse::ok);
  CHECK(parse_decimal("5.", v) == DecimalParse::ok);
  for (const char* bad : {"inf", "nan", "NaN", "infinity", "0x10", " 5", "5 ", "", "-", ".", "1e", "1e+", "1.2.3", "++1"}) {
    INFO(bad);
    CHECK(parse_decimal(bad, v) == DecimalParse::not_a_number);
  }
  CHECK(parse_decimal("1e400", v) == DecimalParse::out_of_range);
  CHECK(parse_decimal("-1e400", v) == DecimalParse::out_of_range);
}

TEST_CASE("checked: JSON text: duplicate keys with their path, nesting, numbers beyond a double") {
  CHECK(parse_json_text(R"({"a": 1, "b": [{"c": 2}, {"c": 3}]})", "f.json")["b"][1]["c"] == 3);
  CHECK_THAT(error_of([] { parse_json_text(R"({"a": 1, "a": 2})", "f.json"); }),
             Catch::Contains("f.json: key 'a' appears twice"));
  CHECK_THAT(error_of([] { parse_json_text(R"({"pools": [{"hw": "x"}, {"hw": "y", "instances": 1, "instances": 2}]})", "f.json"); }),
             Catch::Contains("key 'pools[1].instances' appears twice"));
  CHECK_THAT(error_of([] { parse_json_text(R"({"s": {"r": {"k": 1}, "k": 2, "r": 3}})", "f.json"); }),
             Catch::Contains("key 's.r' appears twice"));
  // The same key in two objects is fine.
  CHECK_NOTHROW(parse_json_text(R"([{"k": 1}, {"k": 2}, {"x": {"k": 3}}])", "f.json"));
  CHECK_THAT(error_of([] { parse_json_text(R"({"requests": 1e400})", "f.json"); }),
             Catch::Contains("f.json: malformed JSON") && Catch::Contains("1e400"));
  CHECK_THAT(error_of([] { parse_json_text(std::string(65, '[') + std::string(65, ']'), "f.json"); }),
             Catch::Contains("nested deeper than 64"));
  CHECK_NOTHROW(parse_json_text(std::string(60, '[') + std::string(60, ']'), "f.json"));
  CHECK_THAT(error_of([] { parse_json_text("{\"a\": 1", "f.json"); }), Catch::Contains("malformed JSON"));
  CHECK_THAT(error_of([] { parse_json_text("{\"a\": \"\xff\"}", "f.json"); }), Catch::Contains("malformed JSON"));
}

TEST_CASE("checked: JsonReader numbers are finite, integers in range and width") {
  nlohmann::json j = {{"nan", std::nan("")},
                      {"inf", std::numeric_limits<double>::infinity()},
                      {"x", 2.5},
                      {"big", 3000000000LL},
                      {"huge", 18446744073709551615ULL},
                      {"neg", -1},
                      {"arr", {1.0, std::nan("")}}};
  JsonReader r(j, "s.json");
  CHECK_THAT(error_of([&] { r.number("nan"); }), Catch::Contains("key 'nan': expected a finite number"));
  CHECK_THAT(error_of([&] { r.non_negative("nan"); }), Catch::Contains("finite"));
  CHECK_THAT(error_of([&] { r.positive("inf"); }), Catch::Contains("finite"));
  CHECK_THAT(error_of([&] { r.numbers("arr"); }), Catch::Contains("finite"));
  CHECK(r.number_in("x", 0, 3) == 2.5);
  CHECK_THAT(error_of([&] { r.number_in("x", 0, 1, "seconds"); }), Catch::Contains("a number of seconds in [0, 1] (got 2.5)"));
  CHECK(r.integer("big", 1) == 3000000000LL);
  CHECK_THAT(error_of([&] { r.int32("big", 1); }), Catch::Contains("key 'big': expected an integer in 1..2147483647 (got 3000000000)"));
  // 2^64 - 1 was read as -1.
  CHECK_THAT(error_of([&] { r.integer("huge", 0); }), Catch::Contains("got 18446744073709551615"));
  CHECK_THAT(error_of([&] { r.integer("neg", 0); }), Catch::Contains("an integer >= 0 (got -1)"));
  CHECK_THAT(error_of([&] { r.integer("x", 0); }), Catch::Contains("an integer"));
  CHECK(r.int32_or("absent", 1, 7, 9) == 7);
}

TEST_CASE("checked: hardware constants and model dimensions have ranges; parameter counts fit") {
  auto hw = load_json_file(MOSKA_SOURCE_DIR "/hw_profiles/h100-sxm.json");
  CHECK_NOTHROW(parse_hardware(hw, MOSKA_SOURCE_DIR "/hw_profiles/h100-sxm.json"));
  auto with = [&](const char* section, const char* key, double v) {
    auto j = hw;
    j[section][key]["value"] = v;
    return error_of([&] { parse_hardware(j, "/nowhere/hw.json"); });
  };
  CHECK_THAT(with("gpu", "hbm_bandwidth_bps", 1e-3), Catch::Contains("key 'gpu.hbm_bandwidth_bps.value'"));
  CHECK_THAT(with("gpu", "sm_count", 1e20), Catch::Contains("key 'gpu.sm_count.value': expected a whole number"));
  CHECK_THAT(with("gpu", "sm_count", 13.5), Catch::Contains("whole number"));
  CHECK_THAT(with("node", "gpus_per_node", 1e10), Catch::Contains("node.gpus_per_node"));
  CHECK_THAT(with("roofline", "memory_efficiency", 1.5), Catch::Contains("roofline.memory_efficiency"));

  auto m = load_json_file(MOSKA_SOURCE_DIR "/models/llama-3.1-8b.json");
  const auto spec = parse_model(m, "m.json");
  CHECK(checked_params_total(spec, "m.json") == spec.params_total());
  auto model_with = [&](const char* key, std::int64_t v) {
    auto j = m;
    j[key] = v;
    return error_of([&] { parse_model(j, "m.json"); });
  };
  CHECK_THAT(model_with("vocab", std::int64_t{1} << 62), Catch::Contains("m.json: key 'vocab'"));
  CHECK_THAT(model_with("max_context", std::int64_t{1} << 40), Catch::Contains("max_context"));
  // Within every bound, the product still must fit: 2^14 layers of 2^20-wide, 2^14-expert FFNs.
  auto j = m;
  j["n_layers"] = 1 << 14;
  j["hidden"] = 1 << 20;
  j["ffn"] = 1 << 20;
  j["n_experts"] = 1 << 14;
  CHECK_THAT(error_of([&] { parse_model(j, "m.json"); }), Catch::Contains("m.json: parameter count"));
}

TEST_CASE("checked: times from the input stay inside the clock; the engine refuses to pass it") {
  CHECK(input_seconds_to_ns(1.5, "t") == 1'500'000'000);
  CHECK(input_seconds_to_ns(0, "t") == 0);
  CHECK_THAT(error_of([] { input_seconds_to_ns(1e12, "window_start_s"); }), Catch::Contains("window_start_s") && Catch::Contains("292 years"));
  CHECK_THAT(error_of([] { input_seconds_to_ns(std::nan(""), "time_limit_s"); }), Catch::Contains("time_limit_s"));
  CHECK_THAT(error_of([] { input_seconds_to_ns(-1, "t"); }), Catch::Contains(">= 0"));
  Simulator sim;
  sim.schedule_at(kTimeNever - 10, [] {});
  sim.run();
  CHECK(sim.now() == kTimeNever - 10);
  // now + delay at kTimeNever overflowed (signed) and then failed as "time in the past".
  CHECK_THROWS_AS(sim.schedule_in(10, [] {}), ClockRangeError);
  CHECK_THROWS_AS(sim.schedule_in(seconds_to_ns(1e300), [] {}), InputError);
  CHECK_NOTHROW(sim.schedule_in(9, [] {}));
}

TEST_CASE("checked: samplers refuse parameters they cannot finish with") {
  Rng rng(1);
  // A CV of 1e-200 gives shape 1/cv^2 = inf: Marsaglia-Tsang never accepted (an endless loop).
  CHECK_THROWS_AS(rng.gamma(std::numeric_limits<double>::infinity(), 1.0), std::invalid_argument);
  CHECK_THROWS_AS(rng.gamma(std::nan(""), 1.0), std::invalid_argument);
  CHECK_THROWS_AS(rng.exponential(0), std::invalid_argument);
  CHECK(rng.gamma(1e12, 1e-12) > 0);  // the smallest CV allowed (1e-3) is far from this
  const std::string tail =
      R"(, "input_tokens": {"dist": "constant", "value": 1}, "output_tokens": {"dist": "constant", "value": 1}})";
  auto spec_error = [&](const std::string& head) {
    nlohmann::json j = nlohmann::json::parse(head + tail);
    return error_of([&] { parse_generator_spec(JsonReader(j, "g.json")); });
  };
  CHECK_THAT(spec_error(R"({"requests": 10, "arrival": {"process": "gamma", "rate_per_s": 1, "cv": 1e-200})"),
             Catch::Contains("arrival.cv"));
  // 10 requests at 1e-10/s arrive over 9e10 s: past the clock (llround overflowed).
  CHECK_THAT(spec_error(R"({"requests": 10, "arrival": {"process": "poisson", "rate_per_s": 1e-10})"),
             Catch::Contains("rate_per_s") && Catch::Contains("292 years"));
  CHECK_THAT(spec_error(R"({"requests": 10, "arrival": {"process": "constant", "rate_per_s": 1e-9})"),
             Catch::Contains("rate_per_s"));
  CHECK_THAT(spec_error(R"({"requests": 1000000000, "arrival": {"process": "poisson", "rate_per_s": 1})"),
             Catch::Contains("requests"));
  nlohmann::json big = nlohmann::json::parse(
      R"({"requests": 1, "arrival": {"process": "poisson", "rate_per_s": 1}, "input_tokens": {"dist": "constant", "value": 3000000000}, "output_tokens": {"dist": "constant", "value": 1}})");
  CHECK_THAT(error_of([&] { parse_generator_spec(JsonReader(big, "g.json")); }), Catch::Contains("input_tokens.value"));
  nlohmann::json sig = nlohmann::json::parse(
      R"({"requests": 1, "arrival": {"process": "poisson", "rate_per_s": 1}, "input_tokens": {"dist": "lognormal", "mean": 100, "sigma": 1e200}, "output_tokens": {"dist": "constant", "value": 1}})");
  CHECK_THAT(error_of([&] { parse_generator_spec(JsonReader(sig, "g.json")); }), Catch::Contains("sigma"));
}

TEST_CASE("checked: traces: CRLF read as LF in every format, a lone CR named, lengths within int32") {
  const std::vector<std::pair<TraceFormat, std::string>> lf = {
      {TraceFormat::mooncake, "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 2, \"hash_ids\": [1]}\n"
                              "{\"timestamp\": 1500, \"input_length\": 600, \"output_length\": 3, \"hash_ids\": [1, 2]}\n"},
      {TraceFormat::moska, "{\"arrival_s\": 0, \"input_tokens\": 10, \"output_tokens\": 2}\n"
                           "{\"arrival_s\": 1.5, \"input_tokens\": 600, \"output_tokens\": 3}\n"},
      {TraceFormat::azure, "TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.0,10,2\n2023-11-16 18:15:47.5,600,3\n"},
      {TraceFormat::burstgpt, "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n"
                              "0,ChatGPT,10,2,12,API log\n1.5,ChatGPT,600,3,603,API log\n"},
  };
  for (const auto& [format, text] : lf) {
    std::string crlf;
    for (char c : text) crlf += c == '\n' ? std::string("\r\n") : std::string(1, c);
    TraceOptions opt;
    opt.format = format;
    for (const std::string& t : {text, crlf}) {
      auto rs = parse_trace(t, "t", opt);
      REQUIRE(rs.size() == 2);
      CHECK(rs[1].arrival_ns == 1'500'000'000);
      CHECK(rs[1].input_tokens == 600);
      CHECK(rs[1].output_tokens == 3);
    }
    std::string cr;
    for (char c : text) cr += c == '\n' ? '\r' : c;
    CHECK_THAT(error_of([&] { parse_trace(cr, "t", opt); }), Catch::Contains("t:1: a carriage return"));
  }
  // 3e9 tokens do not fit the int32 records: refused, naming the bound.
  CHECK_THAT(error_of([] { parse_trace("{\"arrival_s\": 0, \"input_tokens\": 3000000000, \"output_tokens\": 1}\n", "t"); }),
             Catch::Contains("t:1: key 'input_tokens' is too large (3000000000 > 2147483647)"));
  CHECK_THAT(error_of([] {
               parse_trace("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.0,10,3000000000\n", "a.csv");
             }),
             Catch::Contains("a.csv:2: column 'GeneratedTokens' is too large"));
  // The hash-id check with a block of INT64_MAX tokens: one id per started block, no overflow.
  TraceOptions huge_block;
  huge_block.block_tokens = std::numeric_limits<std::int64_t>::max();
  CHECK(parse_trace("{\"timestamp\": 0, \"input_length\": 2147483647, \"output_length\": 1, \"hash_ids\": [1]}\n", "t", huge_block)
            .size() == 1);
}

TEST_CASE("checked: traces: dates outside the clock, empty inputs and windows that keep nothing are errors") {
  const std::string az = "TIMESTAMP,ContextTokens,GeneratedTokens\n";
  CHECK_THAT(error_of([&] { parse_trace(az + "1500-01-01 00:00:00,1,1\n", "a.csv"); }),
             Catch::Contains("a.csv:2: column 'TIMESTAMP'") && Catch::Contains("1678 to 2262"));
  CHECK_THAT(error_of([&] { parse_trace(az + "2300-01-01 00:00:00,1,1\n", "a.csv"); }), Catch::Contains("1678 to 2262"));
  // Each date is in range, but 1700 -> 2250 is 550 years: more than the clock holds.
  CHECK_THAT(error_of([&] { parse_trace(az + "1700-01-01 00:00:00,1,1\n2250-01-01 00:00:00,1,1\n", "a.csv"); }),
             Catch::Contains("span more than"));
  // Empty: no lines, a header only, or an explicit format on a blank file: one error, not 0 requests.
  TraceOptions moska_fmt;
  moska_fmt.format = TraceFormat::moska;
  CHECK_THAT(error_of([&] { parse_trace("", "t", moska_fmt); }), Catch::Contains("t: empty trace"));
  CHECK_THAT(error_of([&] { parse_trace("\n \n", "t", moska_fmt); }), Catch::Contains("t: empty trace"));
  CHECK_THAT(error_of([&] { parse_trace(az, "a.csv"); }), Catch::Contains("a.csv: no requests"));
  const std::string two = "{\"arrival_s\": 0, \"input_tokens\": 1, \"output_tokens\": 1}\n"
                          "{\"arrival_s\": 10, \"input_tokens\": 1, \"output_tokens\": 1}\n";
  TraceOptions w;
  w.window_start_s = 1e12;  // llround(1e21) overflowed and every request was kept
  CHECK_THAT(error_of([&] { parse_trace(two, "t", w); }), Catch::Contains("keeps none of its 2 requests"));
  w.window_start_s = 2;
  w.window_end_s = 3;
  CHECK_THAT(error_of([&] { parse_trace(two, "t", w); }), Catch::Contains("keeps none"));
  w.window_end_s = 11;
  CHECK(parse_trace(two, "t", w).size() == 1);
  TraceOptions slow;
  slow.speedup = 1e-12;  // 10 s becomes 1e13 s
  CHECK_THAT(error_of([&] { parse_trace(two, "t", slow); }), Catch::Contains("speedup") && Catch::Contains("292 years"));
  slow.speedup = std::numeric_limits<double>::infinity();
  CHECK_THAT(error_of([&] { parse_trace(two, "t", slow); }), Catch::Contains("speedup"));
}
