#pragma once
// Errors caused by user input (files, flags). The CLI prints what() on one line and exits non-zero;
// everything else (logic errors) is a bug and may abort.
#include <stdexcept>
#include <string>

namespace moska {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace moska
