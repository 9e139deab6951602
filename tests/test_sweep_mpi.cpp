// `mpirun -n 2 moska-sim sweep ...` (two ranks on this machine) writes the CSV of a serial run byte
// for byte, and bad input makes every rank exit 2 without a hang. These tests skip (ctest reports
// them "Skipped": CMakeLists.txt gives them SKIP_REGULAR_EXPRESSION "SKIPPED: ") when mpirun is
// missing or moska-sim was built without MPI; tools/setup.sh installs MPI, so CI runs them.
// The threaded sweep (--jobs 2 against --jobs 1) is checked in test_cli.cpp.
#include <catch2/catch.hpp>

#include <sys/wait.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/cli_run.hpp"

namespace {

using moska::test::shell;
std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}
const std::string bin = MOSKA_SIM_BINARY;
// Root may run mpirun (CI runs as root); two ranks on however many cores; no CMA single-copy
// (containers often forbid the ptrace it needs). `timeout` turns a hang into a failure.
const std::string mpirun =
    "timeout 120 mpirun --allow-run-as-root --oversubscribe --mca btl_vader_single_copy_mechanism none ";

// Empty when two MPI ranks can run this moska-sim; otherwise why not (the test then skips).
std::string why_no_mpi() {
  if (shell("command -v mpirun >/dev/null 2>&1").rc != 0) return "mpirun is not installed";
  auto probe = shell(mpirun + "-n 2 " + bin + " sweep default --set requests=1 2>&1");
  if (probe.out.find("built without MPI") != std::string::npos) return "moska-sim was built without MPI";
  return "";
}

}  // namespace

TEST_CASE("sweep mpi: mpirun -n 2 writes the CSV of a serial run byte for byte") {
  if (auto why = why_no_mpi(); !why.empty()) {
    WARN("SKIPPED: " << why);
    return;
  }
  // 9 points (rank 0 runs 5, rank 1 runs 4), a third of them errors that must land in their rows.
  std::string sweep = " sweep default --set requests=100 --set sparsity=0.5,0.75,0.9 --set system=moska,nosuch,prefix-cache";
  std::string dir = (std::filesystem::temp_directory_path() / "moska_test_sweep_mpi").string();
  std::filesystem::create_directories(dir);
  auto serial = shell(bin + sweep + " --jobs 1 2>" + dir + "/serial.err");
  INFO(slurp(dir + "/serial.err"));
  REQUIRE(serial.rc == 0);
  REQUIRE(std::count(serial.out.begin(), serial.out.end(), '\n') == 10);
  REQUIRE(serial.out.find("unknown system 'nosuch'") != std::string::npos);

  // Standard output: a rank that ran the whole sweep or printed anything would show here.
  auto two = shell(mpirun + "-n 2 " + bin + sweep + " --jobs 1 2>" + dir + "/mpi.err");
  INFO(slurp(dir + "/mpi.err"));
  REQUIRE(two.rc == 0);
  REQUIRE(two.out == serial.out);

  // --out, and each rank on its default threads.
  std::filesystem::remove(dir + "/mpi.csv");
  auto to_file = shell(mpirun + "-n 2 " + bin + sweep + " --out " + dir + "/mpi.csv 2>&1");
  INFO(to_file.out);
  REQUIRE(to_file.rc == 0);
  REQUIRE(to_file.out.find("moska-sim") == std::string::npos);  // no rank printed an error or a bar
  REQUIRE(slurp(dir + "/mpi.csv") == serial.out);

  // More ranks than points: the idle ranks still take part in the gather.
  std::string small = " sweep default --set requests=50 --set sparsity=0.5,0.9";
  auto small_serial = shell(bin + small + " --jobs 1 2>/dev/null");
  REQUIRE(small_serial.rc == 0);
  REQUIRE(shell(mpirun + "-n 3 " + bin + small + " --jobs 1 2>/dev/null").out == small_serial.out);
}

TEST_CASE("sweep mpi: bad input makes every rank exit 2 with one error line and no hang") {
  if (auto why = why_no_mpi(); !why.empty()) {
    WARN("SKIPPED: " << why);
    return;
  }
  // Each rank reports its own exit status through the shell that runs it.
  auto each_rank = [](const std::string& args) {
    return shell(mpirun + "-n 2 sh -c '" + bin + " " + args +
                 "; echo \"rank $OMPI_COMM_WORLD_RANK exit $?\"' 2>&1");
  };
  for (std::string args : {"sweep no-such-scenario.json --set requests=10", "sweep default --set requests",
                           "sweep default --set no_such_key=1,2", "sweep default --set requests=10 --out /nonexistent-dir/x.csv"}) {
    auto r = each_rank(args);
    INFO(args << "\n" << r.out);
    REQUIRE(r.rc == 0);
    REQUIRE(r.out.find("rank 0 exit 2") != std::string::npos);
    REQUIRE(r.out.find("rank 1 exit 2") != std::string::npos);
    // Every rank fails alike; only one prints.
    std::size_t lines = 0;
    for (auto p = r.out.find("moska-sim: error:"); p != std::string::npos; p = r.out.find("moska-sim: error:", p + 1)) ++lines;
    REQUIRE(lines == 1);
  }
  // Ranks that disagree (the scenario exists only where rank 1 runs): all still exit 2, and the
  // failing rank names itself.
  auto a = std::filesystem::temp_directory_path() / "moska_test_sweep_mpi_a";
  auto b = std::filesystem::temp_directory_path() / "moska_test_sweep_mpi_b";
  std::filesystem::create_directories(a);
  std::filesystem::create_directories(b);
  std::filesystem::copy_file(std::string(MOSKA_SOURCE_DIR) + "/workloads/moska-1node.json", b / "s.json",
                             std::filesystem::copy_options::overwrite_existing);
  std::filesystem::remove(a / "s.json");
  std::string rank_cmd = " sh -c '" + bin + " sweep ./s.json --set requests=10; echo \"rank $OMPI_COMM_WORLD_RANK exit $?\"'";
  auto r = shell(mpirun + "-n 1 --wdir " + b.string() + rank_cmd + " : -n 1 --wdir " + a.string() + rank_cmd + " 2>&1");
  INFO(r.out);
  REQUIRE(r.rc == 0);
  REQUIRE(r.out.find("rank 0 exit 2") != std::string::npos);
  REQUIRE(r.out.find("rank 1 exit 2") != std::string::npos);
  REQUIRE(r.out.find("moska-sim: error: rank 1: ./s.json: scenario file not found") != std::string::npos);
}
