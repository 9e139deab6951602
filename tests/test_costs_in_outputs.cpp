// Issue 13, item 6: every output says which GPUs' costs are calibrated, which attention backend, and
// the measured share of the time; a comparison between a calibrated and an uncalibrated GPU is
// flagged; the scenario key attention_backend chooses the measured tables.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "tests/cli_run.hpp"

namespace {
const std::string kG = MOSKA_SOURCE_DIR "/tests/golden/scenarios/";
nlohmann::json run_json(const std::string& args) {
  auto r = moska::test::run("run " + kG + "colocated.json --set requests=60 --json " + args);
  INFO(r.out);
  REQUIRE(r.rc == 0);
  return nlohmann::json::parse(r.out);
}
}  // namespace

TEST_CASE("costs in outputs: run says what answers each pool's costs and how much was measured") {
  auto h100 = run_json("");
  const auto& c = h100["pools"][0]["costs"];
  CHECK(c["gpu"] == "h100-sxm");
  CHECK(c["calibrated"] == true);
  CHECK(c["attention_backend"] == "flash2");
  const double share = c["measured_share_of_busy_time"].get<double>();
  // Measured kernels answer most of a calibrated step, but not the host overheads and fitted collectives.
  CHECK(share > 0.5);
  CHECK(share < 1.0);
  CHECK_FALSE(h100.contains("warning"));
  // The same scenario on a GPU without measurements: roofline only, nothing measured.
  auto b200 = run_json("--set hw=b200");
  CHECK(b200["pools"][0]["costs"]["calibrated"] == false);
  CHECK(b200["pools"][0]["costs"]["measured_share_of_busy_time"].get<double>() == 0.0);
}

TEST_CASE("costs in outputs: attention_backend picks the measured tables; an unmeasured one names the key") {
  auto flash = run_json("--set hw=h200");
  auto cudnn = run_json("--set hw=h200 --set attention_backend=cudnn");
  CHECK(cudnn["pools"][0]["costs"]["attention_backend"] == "cudnn");
  // Different attention kernels, different steps (the same requests and arrivals).
  CHECK(cudnn["tbt_s"]["mean"].get<double>() != flash["tbt_s"]["mean"].get<double>());
  auto bad = moska::test::run("run " + kG + "colocated.json --set attention_backend=cudnn");  // h100: flash2 only
  CHECK(bad.rc == 2);
  CHECK(bad.out.find("key 'attention_backend'") != std::string::npos);
  CHECK(bad.out.find("measured backends: flash2") != std::string::npos);
}

TEST_CASE("costs in outputs: comparing a calibrated with an uncalibrated GPU is flagged in scaling and sweep") {
  auto s = moska::test::run("scaling " + kG + "disagg.json --systems moska,moska-disagg --set pools.2.hw=b200 --json");
  INFO(s.out);
  REQUIRE(s.rc == 0);
  auto j = nlohmann::json::parse(s.out);
  REQUIRE(j.contains("warning"));
  CHECK(j["warning"].get<std::string>().find("b200 roofline only") != std::string::npos);
  auto sw = moska::test::shell(std::string(MOSKA_SIM_BINARY) + " sweep " + kG +
                               "colocated.json --set hw=h100-sxm,b200 --set requests=30 2>&1 >/dev/null");
  CHECK(sw.out.find("warning: h100-sxm calibrated against measured kernels but b200 roofline only") != std::string::npos);
}

TEST_CASE("costs in outputs: capacity says what answered its probes' costs (JSON and table)") {
  const std::string base = "capacity " + kG + "colocated.json --set requests=60 --slo-ttft 5 --knob rate --lo 1 --hi 2 --tol 0.5";
  auto r = moska::test::run(base + " --json");
  INFO(r.out);
  REQUIRE(r.rc == 0);
  auto j = nlohmann::json::parse(r.out);
  REQUIRE(j["costs"].is_array());
  REQUIRE(j["costs"].size() == 1);
  CHECK(j["costs"][0]["costs"]["gpu"] == "h100-sxm");
  CHECK(j["costs"][0]["costs"]["calibrated"] == true);
  CHECK_FALSE(j.contains("warning"));
  auto t = moska::test::run(base + " --set hw=b200");
  INFO(t.out);
  REQUIRE(t.rc == 0);
  CHECK(t.out.find("b200 roofline only (no measured kernels: NOT calibrated)") != std::string::npos);
}
