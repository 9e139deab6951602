#pragma once
// Checked arithmetic for sizes and counts that come from the input: a sum, product or narrowing that
// does not fit its type is an InputError naming what was being computed, never a wrapped value.
// Use these wherever two input numbers are combined into a size (tokens, bytes, GPUs, parameters).
#include <concepts>
#include <cstdint>
#include <limits>
#include <string_view>

#include <fmt/format.h>

#include "sim/util/error.hpp"

namespace moska {

template <std::integral T>
T checked_add(T a, T b, std::string_view what) {
  T r;
  if (__builtin_add_overflow(a, b, &r)) {
    throw InputError(fmt::format("{}: {} + {} does not fit a {}-bit integer", what, a, b, std::numeric_limits<T>::digits + 1));
  }
  return r;
}

template <std::integral T>
T checked_sub(T a, T b, std::string_view what) {
  T r;
  if (__builtin_sub_overflow(a, b, &r)) {
    throw InputError(fmt::format("{}: {} - {} does not fit a {}-bit integer", what, a, b, std::numeric_limits<T>::digits + 1));
  }
  return r;
}

template <std::integral T>
T checked_mul(T a, T b, std::string_view what) {
  T r;
  if (__builtin_mul_overflow(a, b, &r)) {
    throw InputError(fmt::format("{}: {} x {} does not fit a {}-bit integer", what, a, b, std::numeric_limits<T>::digits + 1));
  }
  return r;
}

// v in the range of To (integers), else an InputError.
template <std::integral To, std::integral From>
To checked_narrow(From v, std::string_view what) {
  if (!std::in_range<To>(v)) {
    throw InputError(fmt::format("{}: {} is outside {}..{}", what, v, std::numeric_limits<To>::min(), std::numeric_limits<To>::max()));
  }
  return static_cast<To>(v);
}

}  // namespace moska
