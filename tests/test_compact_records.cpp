// What a run keeps per request is compact (the 10^7-request target: results/perf/README.md), and the
// compact types read back exactly what was stored.
#include <catch2/catch.hpp>

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "sim/metrics/metrics.hpp"
#include "sim/serving/request_state.hpp"
#include "sim/workload/request.hpp"

using namespace moska;

TEST_CASE("compact records: sizes of what is kept per request") {
  // 8 (id) + 8 (arrival) + 8 (similarity) + 8 (hashes) + 4 x 4 (tokens, corpus, family).
  CHECK(sizeof(Request) == 48);
  // 3 x 8 (arrival, first token, finish) + 2 x 4 (tokens) + 4 (instance) + 2 (flags), padded to 8.
  CHECK(sizeof(RequestRecord) == 40);
  // 3 x 8 (step, two times) + 4 x 4 + 9 x 6 (counts) + 2 (flag, phase).
  CHECK(sizeof(RequestState) == 96);
}

TEST_CASE("compact records: TokenCount holds 0..2^31-1 and reads as int64") {
  TokenCount a = 2147483647, b = 2147483647;
  CHECK(a + b == 4294967294LL);  // summed in 64 bits, no wrap
  CHECK(std::int64_t{TokenCount(0)} == 0);
  CHECK_THROWS_AS(TokenCount(2147483648LL), std::logic_error);
  CHECK_THROWS_AS(TokenCount(-1), std::logic_error);
}

TEST_CASE("compact records: Count48 round-trips +-(2^47 - 1) and refuses beyond") {
  for (std::int64_t v : {std::int64_t{0}, std::int64_t{-1}, std::int64_t{1} << 40, (std::int64_t{1} << 47) - 1,
                         -(std::int64_t{1} << 47), std::int64_t{-123456789012}}) {
    CHECK(std::int64_t{Count48(v)} == v);
  }
  Count48 c = 5;
  c += 10;
  c -= 20;
  CHECK(std::int64_t{c} == -5);
  CHECK_THROWS_AS(Count48(std::int64_t{1} << 47), std::logic_error);
  CHECK_THROWS_AS(Count48(-(std::int64_t{1} << 47) - 1), std::logic_error);
}

TEST_CASE("compact records: BlockHashes behaves as the vector it replaced") {
  BlockHashes h;
  CHECK(h.empty());
  CHECK(h.size() == 0);
  CHECK(h.span().empty());
  h = std::vector<std::uint64_t>{3, 1, 4};
  CHECK(h.size() == 3);
  CHECK(h[2] == 4);
  BlockHashes copy = h;  // deep copy
  copy[0] = 9;
  CHECK(h == std::vector<std::uint64_t>{3, 1, 4});
  CHECK(copy == std::vector<std::uint64_t>{9, 1, 4});
  BlockHashes moved = std::move(copy);
  CHECK(moved.size() == 3);
  CHECK(copy.empty());  // NOLINT: moved-from is empty
  moved.resize(0);
  CHECK(moved.empty());
  std::vector<Request> rs(2);
  rs[1].block_hashes = std::vector<std::uint64_t>{7};
  rs.resize(1000);  // moves on growth
  CHECK(rs[1].block_hashes == std::vector<std::uint64_t>{7});
}
