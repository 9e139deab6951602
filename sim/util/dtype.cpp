#include "sim/util/dtype.hpp"

#include <fmt/format.h>

#include "sim/util/error.hpp"

namespace moska {

double dtype_bytes(Dtype d) {
  switch (d) {
    case Dtype::fp32: return 4;
    case Dtype::bf16: return 2;
    case Dtype::fp16: return 2;
    case Dtype::fp8: return 1;
  }
  return 2;
}

const char* dtype_name(Dtype d) {
  switch (d) {
    case Dtype::fp32: return "fp32";
    case Dtype::bf16: return "bf16";
    case Dtype::fp16: return "fp16";
    case Dtype::fp8: return "fp8";
  }
  return "?";
}

Dtype parse_dtype(const std::string& s, const std::string& what) {
  if (s == "fp32") return Dtype::fp32;
  if (s == "bf16") return Dtype::bf16;
  if (s == "fp16") return Dtype::fp16;
  if (s == "fp8" || s == "fp8_e4m3") return Dtype::fp8;
  throw InputError(fmt::format("{}: unknown dtype '{}': expected one of bf16, fp16, fp8, fp32", what, s));
}

}  // namespace moska
