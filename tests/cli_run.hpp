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

// Runs a command with /bin/sh; captures its standard output only.
inline Run shell(const std::string& cmd) {
  std::array<char, 4096> buf{};
  std::string out;
  FILE* p = popen(cmd.c_str(), "r");
  while (p && fgets(buf.data(), buf.size(), p)) out += buf.data();
  int status = p ? pclose(p) : -1;
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// Runs moska-sim with `args`; captures standard output and error together.
inline Run run(const std::string& args) { return shell(std::string(MOSKA_SIM_BINARY) + " " + args + " 2>&1"); }

}  // namespace moska::test
