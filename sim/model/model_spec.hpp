#pragma once
// What the LLM is: its shape, loaded from models/<name>.json. Dtypes are chosen per run (Precision).
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "sim/util/dtype.hpp"

namespace moska {

struct ModelSpec {
  std::string name;
  std::int64_t n_layers = 0;
  std::int64_t hidden = 0;
  std::int64_t n_heads = 0;
  std::int64_t n_kv_heads = 0;
  std::int64_t head_dim = 0;
  std::int64_t ffn = 0;        // per expert for MoE models
  std::int64_t vocab = 0;
  std::int64_t n_experts = 1;  // 1 = dense
  std::int64_t experts_per_token = 1;
  std::int64_t max_context = 0;
  bool tie_embeddings = false;

  bool is_moe() const { return n_experts > 1; }
  std::int64_t q_dim() const { return n_heads * head_dim; }
  std::int64_t kv_dim() const { return n_kv_heads * head_dim; }
  std::int64_t group() const { return n_heads / n_kv_heads; }

  // Parameter counts (elements).
  std::int64_t params_per_layer() const;
  std::int64_t params_total() const;
  double weight_bytes(Dtype w) const { return static_cast<double>(params_total()) * dtype_bytes(w); }
  // KV bytes per token over all layers (K and V).
  double kv_bytes_per_token(Dtype kv) const {
    return 2.0 * static_cast<double>(n_layers * kv_dim()) * dtype_bytes(kv);
  }
};

// The longest context a model file may declare (the int32 range; requests are capped alike).
inline constexpr std::int64_t kMaxContext = 2147483647;

// Loads by name (models/<name>.json) or path; validates every key (each dimension in a range, the
// parameter count inside int64).
ModelSpec load_model(const std::string& name_or_path);
// The same from a parsed file; `where` names it.
ModelSpec parse_model(const nlohmann::json& j, const std::string& where);
// params_total() with each product and sum checked (InputError naming `where` on overflow).
std::int64_t checked_params_total(const ModelSpec& m, const std::string& where);

}  // namespace moska
