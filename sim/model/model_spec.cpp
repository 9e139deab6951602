#include "sim/model/model_spec.hpp"

#include <fmt/format.h>

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
  auto j = load_json_file(path);
  JsonReader r(j, path.string());
  ModelSpec m;
  m.name = r.string("name");
  r.string("source");
  m.n_layers = r.integer("n_layers", 1);
  m.hidden = r.integer("hidden", 1);
  m.n_heads = r.integer("n_heads", 1);
  m.n_kv_heads = r.integer("n_kv_heads", 1);
  m.head_dim = r.integer("head_dim", 1);
  m.ffn = r.integer("ffn", 1);
  m.vocab = r.integer("vocab", 1);
  m.tie_embeddings = r.boolean_or("tie_embeddings", false);
  m.max_context = r.integer("max_context", 1);
  m.n_experts = r.integer_or("n_experts", 1, 1);
  m.experts_per_token = r.integer_or("experts_per_token", 1, 1);
  r.finish();
  if (m.n_heads % m.n_kv_heads != 0) r.fail("n_kv_heads", "a divisor of n_heads");
  if (m.experts_per_token > m.n_experts) r.fail("experts_per_token", "at most n_experts");
  return m;
}

}  // namespace moska
