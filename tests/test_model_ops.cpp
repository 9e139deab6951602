// FLOPs and bytes of operators against hand calculations written here.
#include <catch2/catch.hpp>

#include "sim/cost/roofline.hpp"
#include "sim/hw/gpu.hpp"
#include "sim/model/model_spec.hpp"
#include "sim/model/operators.hpp"
#include "sim/serving/routing.hpp"

using namespace moska;

namespace {
double sum_bytes(const std::vector<Op>& ops, OpClass c) {
  double s = 0;
  for (const auto& op : ops) if (op.cls == c) s += op.bytes * op.count;
  return s;
}
}  // namespace

TEST_CASE("model: Llama-3.1-8B has ~8.03B parameters, 16.06 GB in bf16, 128 KiB of KV per token") {
  auto m = load_model("llama-3.1-8b");
  // Per layer: q 4096*4096 + k,v 2*4096*1024 + o 4096*4096 + MLP 3*4096*14336 + 2 norms of 4096.
  double layer = 4096.0 * 4096 + 2 * 4096.0 * 1024 + 4096.0 * 4096 + 3 * 4096.0 * 14336 + 2 * 4096;
  double total = 32 * layer + 2 * 128256.0 * 4096 + 4096;  // + embedding + LM head + final norm
  REQUIRE(static_cast<double>(m.params_total()) == Approx(total));
  REQUIRE(m.weight_bytes(Dtype::bf16) == Approx(16.06e9).epsilon(0.005));
  // 2 (K,V) x 32 layers x 8 heads x 128 dims x 2 bytes = 131072 bytes; FP8: 64 KiB (MISSION.md).
  REQUIRE(m.kv_bytes_per_token(Dtype::bf16) == 131072.0);
  REQUIRE(m.kv_bytes_per_token(Dtype::fp8) == 65536.0);
}

TEST_CASE("ops: a batch-1 decode iteration of Llama-3.1-8B reads about 16 GB of bf16 weights") {
  auto m = load_model("llama-3.1-8b");
  BatchSpec b;
  b.decode_requests = 1;
  b.decode_kv_tokens = 1024;
  auto ops = build_iteration_ops(m, Precision::uniform(Dtype::bf16), b);
  // Every weight matrix is read once except the embedding table (one row gathered): 16.06e9 - 1.05e9.
  double expected = m.weight_bytes(Dtype::bf16) - 128256.0 * 4096 * 2;
  REQUIRE(sum_bytes(ops, OpClass::gemm) == Approx(expected).epsilon(0.001));
  // Attention: 1024 tokens x 128 KiB of KV = 134 MB over all layers.
  REQUIRE(sum_bytes(ops, OpClass::attn_decode) == Approx(1024.0 * 131072).epsilon(0.01));
}

TEST_CASE("ops: GEMM FLOPs and bytes") {
  auto g = make_gemm("x", 8, 6144, 4096, Precision::uniform(Dtype::bf16), 1);
  REQUIRE(g.flops == 2.0 * 8 * 6144 * 4096);
  REQUIRE(g.bytes == 6144.0 * 4096 * 2 + 8.0 * 4096 * 2 + 8.0 * 6144 * 2);
  auto f = make_gemm("x", 8, 6144, 4096, Precision::uniform(Dtype::fp8), 1);
  REQUIRE(f.math == Dtype::fp8);
  REQUIRE(f.bytes == 6144.0 * 4096 * 1 + 8.0 * 4096 * 1 + 8.0 * 6144 * 2);
}

TEST_CASE("ops: decode, prefill and shared-chunk attention FLOPs and bytes") {
  auto m = load_model("llama-3.1-8b");
  auto p = Precision::uniform(Dtype::bf16);
  // Decode, 32 requests x 8192 tokens, one layer: 4 * tokens * Hq * d FLOPs; K+V read once.
  auto d = make_decode_attention(m, p, 1, 32, 32 * 8192, 1);
  REQUIRE(d.flops == 4.0 * 32 * 8192 * 32 * 128);
  REQUIRE(d.bytes == Approx(2.0 * 32 * 8192 * 8 * 128 * 2).epsilon(0.001));
  // Arithmetic intensity of GQA decode is about 2*g/bytes = 4 FLOP/B at bf16 (MISSION.md).
  REQUIRE(d.flops / d.bytes == Approx(4.0).epsilon(0.01));
  // Causal prefill of 8192 tokens: 4 * Hq * d * n(n+1)/2.
  auto pf = make_prefill_attention(m, p, 1, 8192, 0, 1);
  REQUIRE(pf.flops == 4.0 * 32 * 128 * (8192.0 * 8193 / 2));
  // Shared chunk: 4*q*Hq*d*C FLOPs; K,V of the chunk read once, whatever q is.
  SharedChunkGroup g1{1, 4096, 1}, g256{1, 4096, 256};
  auto s1 = make_shared_attention(m, p, 1, g1, 1);
  auto s256 = make_shared_attention(m, p, 1, g256, 1);
  REQUIRE(s1.flops == 4.0 * 1 * 32 * 128 * 4096);
  REQUIRE(s256.flops == 256 * s1.flops);
  double kv = 2.0 * 4096 * 8 * 128 * 2;
  REQUIRE(s1.bytes == Approx(kv).epsilon(0.01));
  // 256 requests' queries in and outputs out (2 x 256 x 32 x 128 x 2 B) and fp32 LSE (256 x 32 x 4 B).
  REQUIRE(s256.bytes == kv + 2.0 * 256 * 32 * 128 * 2 + 256.0 * 32 * 4);
  // GEMV -> GEMM: intensity grows from ~g=4 to ~1000 FLOP/B.
  REQUIRE(s1.flops / s1.bytes == Approx(4.0).epsilon(0.02));
  REQUIRE(s256.flops / s256.bytes > 800);
}

TEST_CASE("ops: balanced routing spreads requests*top_k over chunks") {
  auto s = balanced_routing(64, 32, 8, 4096);  // 512 assignments over 32 chunks: 16 each
  REQUIRE(s.groups.size() == 1);
  REQUIRE(s.groups[0].n_chunks == 32);
  REQUIRE(s.groups[0].queries == 16);
  auto t = balanced_routing(10, 4, 1, 512);  // 10 over 4: two chunks get 3, two get 2
  std::int64_t total = 0;
  for (auto& g : t.groups) total += g.n_chunks * g.queries;
  REQUIRE(total == 10);
  REQUIRE(t.groups[0].queries == 3);
  REQUIRE(t.groups[0].n_chunks == 2);
}

TEST_CASE("ops: tensor parallelism shards GEMMs and adds two all-reduces per layer") {
  auto m = load_model("llama-3.1-70b");
  BatchSpec b;
  b.decode_requests = 4;
  b.decode_kv_tokens = 4 * 1000;
  b.tp = 8;
  auto ops = build_iteration_ops(m, Precision::uniform(Dtype::bf16), b);
  bool found = false;
  for (const auto& op : ops) {
    if (op.name == "gate_up") REQUIRE(op.n == 2 * 28672 / 8);
    if (op.name == "allreduce") {
      found = true;
      REQUIRE(op.count == 2 * 80);
      REQUIRE(op.bytes == 4.0 * 8192 * 2);
    }
  }
  REQUIRE(found);
  // Ring all-reduce: 2(r-1)/r of the bytes over the link plus 2(r-1) latencies.
  REQUIRE(ring_allreduce_seconds(8e6, 8, 450e9, 3e-6) == Approx(2.0 * 7 / 8 * 8e6 / 450e9 + 14 * 3e-6));
}

TEST_CASE("roofline: memory-bound and compute-bound regimes") {
  auto hw = load_hardware("h100-sxm");
  const auto& g = hw.gpu;
  auto p = Precision::uniform(Dtype::bf16);
  auto small = make_gemm("x", 1, 14336 * 2, 4096, p, 1);
  auto t1 = roofline_terms(g, small);
  REQUIRE_FALSE(t1.compute_bound());
  REQUIRE(t1.total() == Approx(small.bytes / (3.35e12 * 0.90) + g.roofline.kernel_overhead_s));
  auto big = make_gemm("x", 8192, 8192, 8192, p, 1);
  auto t2 = roofline_terms(g, big);
  REQUIRE(t2.compute_bound());
  REQUIRE(t2.total() == Approx(2.0 * 8192 * 8192 * 8192 / (989.4e12 * 0.81) + g.roofline.kernel_overhead_s));
}

TEST_CASE("hardware: every shipped profile and model loads") {
  for (auto name : {"h100-sxm", "h200", "b200", "a100-80gb", "a800-80gb", "h800-80gb"}) {
    auto hw = load_hardware(name);
    REQUIRE(hw.gpu.peak(Dtype::bf16) > 1e14);
    REQUIRE(hw.gpu.hbm_bw_bps > 1e12);
  }
  for (auto name : {"llama-3.1-8b", "llama-3.1-70b", "llama-3-70b", "llama-2-7b", "llama-2-13b", "llama-2-70b",
                    "mistral-7b", "codellama-13b", "mixtral-8x7b"}) {
    auto m = load_model(name);
    REQUIRE(m.params_total() > 6e9);
  }
  // Mixtral 8x7B: ~46.7B parameters.
  REQUIRE(static_cast<double>(load_model("mixtral-8x7b").params_total()) == Approx(46.7e9).epsilon(0.01));
}
