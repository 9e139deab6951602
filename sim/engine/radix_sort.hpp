#pragma once
// Sorting (float, uint32) pairs in exactly the order std::sort gives them (by the float, then the
// integer), by radix sort on their bits instead of O(n log n) comparisons (a serving run's millions
// of token gaps: 3.6 M sort in ~40 ms, not ~250 ms). Up to `in_place_above` pairs: least-significant
// digit first, 16-bit digits, through a buffer as large as the input; above it (hundreds of MB of
// pairs): most-significant digit first in place (American flag sort, 8-bit digits), so the sort
// needs no memory beyond the vector. Floats must not be NaN; -0.0 sorts as +0.0 (as std::sort's
// comparison treats them).
#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

namespace moska {

namespace radix_detail {

using Pair = std::pair<float, std::uint32_t>;

// Order-preserving 64-bit key: the float's bits (negatives flipped, -0 as +0), then the integer.
inline std::uint64_t key(const Pair& p) {
  const float f = p.first == 0.0f ? 0.0f : p.first;
  std::uint32_t b = std::bit_cast<std::uint32_t>(f);
  b = (b & 0x80000000u) ? ~b : (b | 0x80000000u);
  return (static_cast<std::uint64_t>(b) << 32) | p.second;
}

inline void lsd(std::vector<Pair>& v) {
  const std::size_t n = v.size();
  std::vector<Pair> tmp(n);
  std::vector<Pair>* src = &v;
  std::vector<Pair>* dst = &tmp;
  std::vector<std::size_t> count(std::size_t{1} << 16);
  for (int shift = 0; shift < 64; shift += 16) {
    std::fill(count.begin(), count.end(), 0);
    for (const Pair& p : *src) ++count[(key(p) >> shift) & 0xffffu];
    if (std::any_of(count.begin(), count.end(), [n](std::size_t c) { return c == n; })) continue;  // nothing moves
    std::size_t sum = 0;
    for (auto& c : count) {
      const std::size_t k = c;
      c = sum;
      sum += k;
    }
    for (const Pair& p : *src) (*dst)[count[(key(p) >> shift) & 0xffffu]++] = p;
    std::swap(src, dst);
  }
  if (src != &v) v.swap(tmp);
}

// American flag sort of a[0..n): buckets by the 8 bits below the highest bit that varies, permuted
// in place by cycles, then each bucket the same way; small ranges by insertion.
inline void msd_in_place(Pair* a, std::size_t n) {
  if (n <= 48) {
    for (std::size_t i = 1; i < n; ++i) {
      const Pair x = a[i];
      const std::uint64_t k = key(x);
      std::size_t j = i;
      for (; j > 0 && key(a[j - 1]) > k; --j) a[j] = a[j - 1];
      a[j] = x;
    }
    return;
  }
  std::uint64_t any = 0, all = ~std::uint64_t{0};
  for (std::size_t i = 0; i < n; ++i) {
    const std::uint64_t k = key(a[i]);
    any |= k;
    all &= k;
  }
  const std::uint64_t varying = any ^ all;
  if (varying == 0) return;
  const int top = 63 - std::countl_zero(varying);
  const int shift = top >= 7 ? top - 7 : 0;
  auto digit = [shift](const Pair& p) { return static_cast<std::size_t>((key(p) >> shift) & 0xffu); };
  std::array<std::size_t, 256> count{}, next{}, end{};
  for (std::size_t i = 0; i < n; ++i) ++count[digit(a[i])];
  std::size_t sum = 0;
  for (std::size_t b = 0; b < 256; ++b) {
    next[b] = sum;
    sum += count[b];
    end[b] = sum;
  }
  for (std::size_t b = 0; b < 256; ++b) {
    while (next[b] < end[b]) {
      Pair x = a[next[b]];
      for (std::size_t d = digit(x); d != b; d = digit(x)) std::swap(x, a[next[d]++]);
      a[next[b]++] = x;
    }
  }
  if (shift == 0) return;
  std::size_t start = 0;
  for (std::size_t b = 0; b < 256; ++b) {
    if (end[b] - start > 1) msd_in_place(a + start, end[b] - start);
    start = end[b];
  }
}

}  // namespace radix_detail

inline void radix_sort_pairs(std::vector<std::pair<float, std::uint32_t>>& v,
                             std::size_t in_place_above = std::size_t{1} << 24) {
  if (v.size() < 4096) {
    std::sort(v.begin(), v.end());
  } else if (v.size() <= in_place_above) {
    radix_detail::lsd(v);
  } else {
    radix_detail::msd_in_place(v.data(), v.size());
  }
}

}  // namespace moska
