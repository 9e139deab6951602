#include "sim/model/model_spec.hpp"

#include <fmt/format.h>

#include "sim/util/checked.hpp"
#include "sim/util/error.hpp"
#include "sim/util/json_reader.hpp"
#include "sim/util/paths.hpp"

namespace moska {

std::int64_t ModelSpec::params_per_layer() const {
  std::int64_t attn = hidden * (q_dim() + 2 * kv_dim()) + q_dim() * hidden;
  std::int64_t mlp = n_experts * 3 * hidden * ffn + (is_moe() ? hidden * n_experts : 0);
  std::int64_t norms = 2 * hidden;
  return attn + mlp + norms;
}

std::int64_t ModelSpec::params_total() const {
  std::int64_t embed = vocab * hidden;
  std::int64_t head = tie_embeddings ? 0 : vocab * hidden;
  return n_layers * params_per_layer() + embed + head + hidden;
}

ModelSpec load_model(const std::string& name_or_path) {
  auto path = resolve_named_json(name_or_path, "models", "model");
  return parse_model(load_json_file(path), path.string());
}

ModelSpec parse_model(const nlohmann::json& j, const std::string& where) {
  // Each dimension is bounded far above any model (Llama-3.1-405B: hidden 16384, 126 layers; vocab
  // 128K-256K), so that the products below and the operators' shapes stay inside int64.
  constexpr std::int64_t kDim = 1 << 20, kHeads = 1 << 14, kVocab = 1 << 24, kExperts = 1 << 14;
  JsonReader r(j, where);
  ModelSpec m;
  m.name = r.string("name");
  r.string("source");
  m.n_layers = r.integer("n_layers", 1, kHeads);
  m.hidden = r.integer("hidden", 1, kDim);
  m.n_heads = r.integer("n_heads", 1, kHeads);
  m.n_kv_heads = r.integer("n_kv_heads", 1, kHeads);
  m.head_dim = r.integer("head_dim", 1, kHeads);
  m.ffn = r.integer("ffn", 1, kDim);
  m.vocab = r.integer("vocab", 1, kVocab);
  m.tie_embeddings = r.boolean_or("tie_embeddings", false);
  m.max_context = r.integer("max_context", 1, kMaxContext);
  m.n_experts = r.integer_or("n_experts", 1, 1, kExperts);
  m.experts_per_token = r.integer_or("experts_per_token", 1, 1, kExperts);
  r.finish();
  if (m.n_heads % m.n_kv_heads != 0) r.fail("n_kv_heads", "a divisor of n_heads");
  if (m.experts_per_token > m.n_experts) r.fail("experts_per_token", "at most n_experts");
  checked_params_total(m, where);
  return m;
}

std::int64_t checked_params_total(const ModelSpec& m, const std::string& where) {
  // params_per_layer() and params_total() with every step checked.
  const std::string what = where + ": parameter count";
  auto mul = [&](std::int64_t a, std::int64_t b) { return checked_mul(a, b, what); };
  auto add = [&](std::int64_t a, std::int64_t b) { return checked_add(a, b, what); };
  const std::int64_t q = mul(m.n_heads, m.head_dim), kv = mul(m.n_kv_heads, m.head_dim);
  const std::int64_t attn = add(mul(m.hidden, add(q, mul(2, kv))), mul(q, m.hidden));
  const std::int64_t mlp = add(mul(mul(mul(m.n_experts, 3), m.hidden), m.ffn), m.is_moe() ? mul(m.hidden, m.n_experts) : 0);
  const std::int64_t layer = add(add(attn, mlp), mul(2, m.hidden));
  const std::int64_t embed = mul(m.vocab, m.hidden);
  return add(add(add(mul(m.n_layers, layer), embed), m.tie_embeddings ? 0 : embed), m.hidden);
}

}  // namespace moska
