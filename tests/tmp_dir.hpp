#pragma once
// A fresh folder under the system's temporary directory for one test, removed at the end; its name
// holds the process id and the object's address, so tests and worktrees running at once never share one.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

namespace moska::test {

struct TmpDir {
  std::string path;
  explicit TmpDir(const std::string& prefix = "moska_test") {
    path = (std::filesystem::temp_directory_path() /
            (prefix + "_" + std::to_string(::getpid()) + "_" + std::to_string(reinterpret_cast<std::uintptr_t>(this))))
               .string();
    std::filesystem::create_directories(path);
  }
  ~TmpDir() { std::filesystem::remove_all(path); }
  TmpDir(const TmpDir&) = delete;
  TmpDir& operator=(const TmpDir&) = delete;
};

}  // namespace moska::test
