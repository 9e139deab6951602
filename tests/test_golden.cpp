// Golden outputs: every case of tests/golden/cases.txt (every system, both topologies, run / sweep /
// capacity / scaling / predict / cache-replay) is run through the built moska-sim and its standard
// output, and every file it writes under {OUT}, compared byte for byte with tests/golden/out/. A
// refactor moves none of them; a change meant to move outputs regenerates them with
// MOSKA_GOLDEN_UPDATE=1 and says in its commit which moved and why. The repository root is written
// as $ROOT in the stored files and the wall time a run table prints as <wall>, so the outputs do not depend on where the checkout lives.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/cli_run.hpp"

namespace {

namespace fs = std::filesystem;

const fs::path kRoot = MOSKA_SOURCE_DIR;
const fs::path kGolden = kRoot / "tests" / "golden";

struct Case {
  std::string group, name, args;
  int line = 0;
};

std::string trim(const std::string& s) {
  auto a = s.find_first_not_of(" \t");
  auto b = s.find_last_not_of(" \t\r");
  return a == std::string::npos ? "" : s.substr(a, b - a + 1);
}

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (std::size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size()) s.replace(p, from.size(), to);
  return s;
}

// cases.txt: comment lines (#), variable lines NAME=VALUE (used as $NAME), case lines GROUP | NAME | ARGS.
std::vector<Case> read_cases() {
  std::ifstream in(kGolden / "cases.txt");
  REQUIRE(in.good());
  std::vector<Case> out;
  std::map<std::string, std::string> vars;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    line = trim(line);
    if (line.empty() || line[0] == '#') continue;
    auto bar = line.find('|');
    if (bar == std::string::npos) {
      auto eq = line.find('=');
      REQUIRE(eq != std::string::npos);
      vars[line.substr(0, eq)] = line.substr(eq + 1);
      continue;
    }
    auto bar2 = line.find('|', bar + 1);
    REQUIRE(bar2 != std::string::npos);
    Case c{trim(line.substr(0, bar)), trim(line.substr(bar + 1, bar2 - bar - 1)), trim(line.substr(bar2 + 1)), n};
    for (const auto& [k, v] : vars) c.args = replace_all(c.args, "$" + k, v);
    out.push_back(c);
  }
  return out;
}

// What legitimately varies between runs: the wall time a run prints under its table.
std::string normalise(const std::string& text, const std::string& root) {
  static const std::regex wall(R"(simulated in [0-9.]+ s of wall time)");
  return std::regex_replace(replace_all(text, root, "$ROOT"), wall, "simulated in <wall> s of wall time");
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// The first line where two texts differ, for the failure message.
std::string first_difference(const std::string& want, const std::string& got) {
  std::istringstream a(want), b(got);
  std::string la, lb;
  for (int line = 1;; ++line) {
    bool ea = !std::getline(a, la), eb = !std::getline(b, lb);
    if (ea && eb) return "(same lines; bytes differ at a line end)";
    if (ea || eb || la != lb) {
      return "line " + std::to_string(line) + ":\n  golden: " + (ea ? "<end>" : la) + "\n  now:    " + (eb ? "<end>" : lb);
    }
  }
}

void check_or_update(const fs::path& golden, const std::string& now, bool update) {
  if (update) {
    fs::create_directories(golden.parent_path());
    std::ofstream(golden, std::ios::binary) << now;
    return;
  }
  INFO("golden file " << golden.string());
  REQUIRE(fs::exists(golden));
  const std::string want = slurp(golden);
  if (want != now) FAIL("output differs from the golden file at " << first_difference(want, now));
}

void run_group(const std::string& group) {
  const bool update = std::getenv("MOSKA_GOLDEN_UPDATE") != nullptr;
  const std::string root = kRoot.string();
  int ran = 0;
  for (const auto& c : read_cases()) {
    if (c.group != group) continue;
    ++ran;
    INFO("case " << c.name << " (tests/golden/cases.txt:" << c.line << "): moska-sim " << c.args);
    // Per process: worktrees running the goldens at once must not share the folder.
    const fs::path tmp = fs::temp_directory_path() / ("moska_golden_" + std::to_string(::getpid()) + "_" + c.name);
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    const std::string args = replace_all(c.args, "{OUT}", tmp.string());
    // Standard output only (stderr is not part of the output), from the repository root.
    auto r = moska::test::shell("cd '" + root + "' && '" + std::string(MOSKA_SIM_BINARY) + "' " + args);
    REQUIRE(r.rc == 0);
    check_or_update(kGolden / "out" / (c.name + ".out"), normalise(r.out, root), update);
    if (c.args.find("{OUT}") != std::string::npos) {
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(tmp)) files.push_back(e.path());
      std::sort(files.begin(), files.end());
      REQUIRE_FALSE(files.empty());
      for (const auto& f : files) {
        check_or_update(kGolden / "out" / c.name / f.filename(), normalise(slurp(f), root), update);
      }
    }
    fs::remove_all(tmp);
  }
  REQUIRE(ran > 0);
}

}  // namespace

TEST_CASE("golden: run outputs (every system, both topologies) are byte-identical") { run_group("run"); }
TEST_CASE("golden: sweep outputs are byte-identical") { run_group("sweep"); }
TEST_CASE("golden: capacity outputs are byte-identical") { run_group("capacity"); }
TEST_CASE("golden: scaling outputs are byte-identical") { run_group("scaling"); }
TEST_CASE("golden: predict and cache-replay outputs are byte-identical") { run_group("predict"); }
