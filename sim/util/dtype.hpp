#pragma once
#include <string>

namespace moska {

enum class Dtype { fp32, bf16, fp16, fp8 };

double dtype_bytes(Dtype d);
const char* dtype_name(Dtype d);
// Throws InputError naming `what` if the string is not a known dtype.
Dtype parse_dtype(const std::string& s, const std::string& what);

// The dtypes of one run: weights, KV cache, and activations (which also sets the GEMM math).
struct Precision {
  Dtype weights = Dtype::bf16;
  Dtype kv = Dtype::bf16;
  Dtype act = Dtype::bf16;
  // The serving stack quantises each FP8 GEMM's input inside the kernel that produces it (fused
  // RMSNorm + quant, SwiGLU + quant, attention writing FP8), so no separate fp8_quant pass runs
  // (an engine profile's kernels.fused_fp8_quant; TensorRT-LLM does this).
  bool fused_fp8_quant = false;
  // The dtype whose tensor-core peak a GEMM runs at: fp8 weights with fp8 activations use fp8 MMA.
  Dtype gemm_math() const { return weights == Dtype::fp8 ? Dtype::fp8 : act; }
  // Attention math: FP8 KV runs FP8 MMA in FlashAttention-3-style kernels, else the act dtype.
  Dtype attn_math() const { return kv == Dtype::fp8 ? Dtype::fp8 : act; }
  static Precision uniform(Dtype d) {
    // FP8 runs keep activations in bf16 between ops (as FP8 serving stacks do); GEMMs run FP8.
    return Precision{d, d, d == Dtype::fp8 ? Dtype::bf16 : d};
  }
};

}  // namespace moska
