#pragma once
// Runs the built moska-sim with arguments and captures its exit code and output (stdout + stderr).
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

namespace moska::test {

struct Run {
  int rc;
  std::string out;
};

inline Run run(const std::string& args) {
  std::string cmd = std::string(MOSKA_SIM_BINARY) + " " + args + " 2>&1";
  std::array<char, 4096> buf{};
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  while (p && fgets(buf.data(), buf.size(), p)) out += buf.data();
  int status = p ? pclose(p) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace moska::test
