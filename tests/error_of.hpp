#pragma once
// Tests' capture of an input error: the message of the InputError that fn throws ("" if it throws none).
#include <string>

#include "sim/util/error.hpp"

namespace moska::test {

template <class Fn>
std::string error_of(Fn&& fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

}  // namespace moska::test
