#include "sim/util/paths.hpp"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sim/util/error.hpp"

namespace moska {

std::filesystem::path data_root() {
  if (const char* home = std::getenv("MOSKA_SIM_HOME"); home && *home) return home;
  return MOSKA_SOURCE_DIR;
}

std::vector<std::string> list_named_json(const std::string& folder) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(data_root() / folder, ec)) {
    if (e.is_regular_file() && e.path().extension() == ".json") names.push_back(e.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

std::filesystem::path resolve_named_json(const std::string& name_or_path, const std::string& folder,
                                         const std::string& what) {
  std::filesystem::path p(name_or_path);
  if (name_or_path.find('/') != std::string::npos || p.extension() == ".json") {
    if (!std::filesystem::exists(p)) throw InputError(fmt::format("{}: {} file not found", name_or_path, what));
    return p;
  }
  auto candidate = data_root() / folder / (name_or_path + ".json");
  if (std::filesystem::exists(candidate)) return candidate;
  throw InputError(fmt::format("unknown {} '{}': expected one of [{}] or a path to a JSON file", what,
                               name_or_path, fmt::join(list_named_json(folder), ", ")));
}

}  // namespace moska
