#include "sim/cli/plots.hpp"

#include <cstdlib>

#include <fmt/format.h>

#include "sim/util/paths.hpp"

namespace moska::cli {

namespace {
std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}
}  // namespace

bool draw_plots(const std::string& command, const std::string& script, const std::vector<std::string>& args) {
  const auto tools = data_root() / "tools";
  std::string line = fmt::format(". {} && \"$PY\" {}", sh_quote((tools / "python_for_plots.sh").string()), sh_quote((tools / script).string()));
  for (const auto& a : args) {
    line += ' ';
    line += sh_quote(a);  // appended, not `" " + ...`: GCC 12's -Wrestrict misfires on that operator+ at -O3
  }
  if (std::system(line.c_str()) == 0) return true;
  fmt::print(stderr, "moska-sim: {}: the plots were not drawn ({}: needs python3 with matplotlib, e.g. apt-get install python3-matplotlib)\n",
             command, line);
  return false;
}

}  // namespace moska::cli
