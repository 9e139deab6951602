#pragma once
// Where the data folders (models/, hw_profiles/, workloads/) live: $MOSKA_SIM_HOME if set, else the
// source tree the binary was built from.
#include <filesystem>
#include <string>
#include <vector>

namespace moska {

std::filesystem::path data_root();

// Resolves a name ("llama-3.1-8b") to <root>/<folder>/<name>.json, or takes an existing path as is.
// Throws InputError listing the known names when neither exists.
std::filesystem::path resolve_named_json(const std::string& name_or_path, const std::string& folder,
                                         const std::string& what);

std::vector<std::string> list_named_json(const std::string& folder);

}  // namespace moska
