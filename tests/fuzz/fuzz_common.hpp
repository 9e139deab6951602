#pragma once
// Shared by the fuzz targets: an InputError is the expected end of a bad input (its message must be
// one non-empty line); anything else escapes and libFuzzer reports it as a crash.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "sim/util/error.hpp"

namespace moska::fuzz {

inline void check_message(const InputError& e) {
  const char* m = e.what();
  if (*m == '\0') std::abort();
}

template <class Fn>
int run(Fn&& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    check_message(e);
  }
  return 0;
}

inline std::string_view text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

}  // namespace moska::fuzz
