// sparse (Quest / MoBA): the chunk selection is costed — every decode step each request reads every
// chunk's metadata (min and max key per KV head) and takes its top-k — against hand calculations.
#include <catch2/catch.hpp>

#include "sim/serving/scenario.hpp"
#include "tests/system_helpers.hpp"

using namespace moska;

namespace {
// Hand constants: Llama-3.1-8B FP8 KV, 64 KiB per token (2 x 32 layers x 8 KV heads x 128 x 1 byte);
// Quest's page (chunk) of 16 tokens.
constexpr double kKvTok = 65536;

Scenario scenario(const std::string& system, std::int64_t shared, std::int64_t chunk, double sparsity) {
  auto j = nlohmann::json::parse(R"({
    "name": "sparse test", "model": "llama-3.1-8b", "dtype": "fp8",
    "pools": [{"name": "gpu", "role": "serve", "hw": "h100-sxm", "instances": 1, "tp": 1}],
    "shared": {"tokens": 0, "chunk_tokens": 16, "sparsity": 0.0},
    "workload": {"generator": {"requests": 1, "arrival": {"process": "burst"},
                 "input_tokens": {"dist": "constant", "value": 1}, "output_tokens": {"dist": "constant", "value": 1}}}
  })");
  j["system"] = system;
  j["shared"]["tokens"] = shared;
  j["shared"]["chunk_tokens"] = chunk;
  j["shared"]["sparsity"] = sparsity;
  return parse_scenario(j, "<test>", ".");
}

// Bytes and seconds of a full decode step of `b` requests with `ctx` tokens of their own, less
// the same step without the shared context: what reading (and selecting) the shared KV adds.
std::pair<double, double> shared_part(const Scenario& sc, std::int64_t b, std::int64_t ctx) {
  const auto cm = test::configure(sc);
  IterStats with, without;
  cm.sys->decode_step(b, cm.sys->read_per_request(ctx), with);
  BatchSpec plain;
  plain.decode_requests = b;
  plain.decode_kv_tokens = b * ctx;
  cm.model().cost(plain, without);
  return {test::charged(with, 0, false) - test::charged(without, 0, false), with.seconds - without.seconds};
}
}  // namespace

TEST_CASE("sparse: at Quest's 16-token pages and 93.75% sparsity a request reads 1/8 of the shared KV, not 1/16") {
  // 65,536 shared tokens = 4,096 pages of 16; top-k = 6.25% = 256 pages = 4,096 tokens read. The
  // scan reads each page's min and max key per KV head: 2 vectors, as many bytes as one token's K and
  // V, i.e. 4,096 "tokens" more. By hand, per request and step: (4,096 + 4,096) x 64 KiB = 537 MB;
  // plus the scores (4 bytes a page, written and read) and 256 indices per layer, ~1 MB.
  const std::int64_t b = 8, ctx = 1024;
  const auto [bytes, seconds] = shared_part(scenario("sparse", 65536, 16, 0.9375), b, ctx);
  const double hand = b * (4096.0 + 4096.0) * kKvTok;
  CHECK(bytes == Approx(hand).epsilon(0.01));
  // Against prefix-cache (all 65,536 tokens read per request) the gain is capped at 65,536 / 8,192 = 8x.
  const auto [pc_bytes, pc_seconds] = shared_part(scenario("prefix-cache", 65536, 16, 0.9375), b, ctx);
  CHECK(pc_bytes == Approx(b * 65536.0 * kKvTok).epsilon(0.01));
  CHECK(pc_bytes / bytes <= 8.0);
  CHECK(pc_seconds / seconds <= 8.0);
}

TEST_CASE("sparse: at MoSKA's 4K chunks the selection is 1/4096 of the KV and the top-k adds little") {
  // 16 chunks of 4,096 tokens, 75% sparsity: 4 chunks = 16,384 tokens read; the scan adds 16
  // "tokens" (0.1%) per request. Per layer the scan also reads the request's query and writes its
  // result (2 x 32 heads x 128 x 2 bytes, as a decode attention), and the top-k writes and reads 16
  // fp32 scores and writes 4 indices: 16,384 + 128 + 16 bytes, x 32 layers = 528,896 bytes.
  const std::int64_t b = 4, ctx = 1024;
  const auto [bytes, seconds] = shared_part(scenario("sparse", 65536, 4096, 0.75), b, ctx);
  CHECK(bytes == Approx(b * ((16384.0 + 16.0) * kKvTok + 528896.0)).epsilon(1e-9));
  CHECK(seconds > 0);
}
