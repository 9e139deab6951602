// `predict`'s MFU and HBM-bandwidth use against hand calculations: the operators are one GPU's shard
// of the TP group, so the group's work over the group's peak is the per-GPU work over one GPU's peak.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "tests/cli_run.hpp"

namespace {
// Hand constants: Llama-3.1-70B (models/llama-3.1-70b.json, the Hugging Face config): 80 layers,
// hidden 8192, 64 query heads and 8 KV heads of 128, FFN 28672, vocabulary 128256.
// H100 SXM (hw_profiles/h100-sxm.json, the datasheet): dense BF16 989.4 TFLOP/s, HBM 3.35 TB/s.
constexpr double L = 80, H = 8192, Hq = 64, Hkv = 8, D = 128, F = 28672, V = 128256;
constexpr double kPeakBf16 = 989.4e12, kHbmBw = 3.35e12;

nlohmann::json predict(const std::string& args) {
  const auto r = moska::test::run("predict --model llama-3.1-70b --hw h100-sxm --dtype bf16 --tp 8 --json " + args);
  REQUIRE(r.rc == 0);
  return nlohmann::json::parse(r.out);
}
}  // namespace

TEST_CASE("predict: MFU of a 70B prefill at TP 8 is the model's FLOPs over 8 GPUs' peak, not divided by 8 again") {
  const double T = 8192;
  // The whole model's FLOPs for one 8192-token prompt: per layer the GEMMs q,k,v (H x (Hq + 2 Hkv) d),
  // o (H x H), gate/up (H x 2F), down (F x H), 2 FLOPs per multiply-add over T tokens; causal
  // attention, 4 d FLOPs per (query head, query, key) pair with T (T + 1) / 2 pairs; the LM head for
  // the last token. Norms, RoPE and activations are ~1e-5 of this and left out.
  const double gemm_per_layer = 2 * T * H * ((Hq + 2 * Hkv) * D + H + 2 * F) + 2 * T * F * H;
  const double attn_per_layer = 4 * D * Hq * T * (T + 1) / 2;
  const double flops = L * (gemm_per_layer + attn_per_layer) + 2 * H * V;  // ~1.2e15
  const auto j = predict("--prefill 8192");
  const double s = j["seconds"].get<double>();
  const double hand_mfu = flops / (s * 8 * kPeakBf16);  // ~37% at the calibrated ~0.40 s
  REQUIRE(hand_mfu > 0.30);
  REQUIRE(j["mfu"].get<double>() == Approx(hand_mfu).epsilon(0.01));
}

TEST_CASE("predict: HBM bandwidth use of a 70B batch-1 decode at TP 8 is the weights read over 8 GPUs' bandwidth") {
  // Batch 1, one token of context: the step reads every weight matrix once (not the embedding
  // table: one row is gathered), in BF16; activations and the one token's KV are ~1e-4 of it.
  const double weights = 2 * (L * (H * (Hq + 2 * Hkv) * D + H * H + 2 * H * F + F * H) + V * H);  // ~139 GB
  const auto j = predict("--batch 1 --ctx 1");
  const double s = j["seconds"].get<double>();
  const double hand_bw = weights / (s * 8 * kHbmBw);  // ~29%: the 160 all-reduces' latency is ~38% of the step
  REQUIRE(hand_bw > 0.2);
  REQUIRE(j["hbm_bw_util"].get<double>() == Approx(hand_bw).epsilon(0.01));
}
