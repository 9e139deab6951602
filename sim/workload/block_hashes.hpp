#pragma once
// A request's chained prefix-block hashes in one pointer (8 bytes, nothing allocated when empty;
// a std::vector took 24 bytes for every request, and most workloads have no hashes): one heap
// block holding the count, then the hashes. Reads as a std::span<const std::uint64_t>.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

namespace moska {

class BlockHashes {
 public:
  BlockHashes() = default;
  BlockHashes(const std::vector<std::uint64_t>& v) { assign(v.begin(), v.end()); }  // NOLINT
  BlockHashes(const BlockHashes& o) { assign(o.begin(), o.end()); }
  BlockHashes(BlockHashes&& o) noexcept : p_(o.p_) { o.p_ = nullptr; }
  BlockHashes& operator=(const BlockHashes& o) {
    if (this != &o) assign(o.begin(), o.end());
    return *this;
  }
  BlockHashes& operator=(BlockHashes&& o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  BlockHashes& operator=(const std::vector<std::uint64_t>& v) {
    assign(v.begin(), v.end());
    return *this;
  }
  ~BlockHashes() { delete[] p_; }

  template <class It>
  void assign(It first, It last) {
    resize(static_cast<std::size_t>(std::distance(first, last)));
    std::copy(first, last, data());
  }
  // n hashes, all 0.
  void resize(std::size_t n) {
    delete[] p_;
    p_ = nullptr;
    if (n == 0) return;
    p_ = new std::uint64_t[n + 1]();
    p_[0] = n;
  }

  std::size_t size() const { return p_ ? static_cast<std::size_t>(p_[0]) : 0; }
  bool empty() const { return p_ == nullptr; }
  std::uint64_t* data() { return p_ ? p_ + 1 : nullptr; }
  const std::uint64_t* data() const { return p_ ? p_ + 1 : nullptr; }
  const std::uint64_t* begin() const { return data(); }
  const std::uint64_t* end() const { return data() + size(); }
  std::uint64_t& operator[](std::size_t i) { return p_[i + 1]; }
  std::uint64_t operator[](std::size_t i) const { return p_[i + 1]; }
  std::span<const std::uint64_t> span() const { return {data(), size()}; }
  operator std::span<const std::uint64_t>() const { return span(); }  // NOLINT

  friend bool operator==(const BlockHashes& a, const BlockHashes& b) { return std::ranges::equal(a.span(), b.span()); }
  friend bool operator==(const BlockHashes& a, const std::vector<std::uint64_t>& b) { return std::ranges::equal(a.span(), b); }

 private:
  std::uint64_t* p_ = nullptr;
};

}  // namespace moska
