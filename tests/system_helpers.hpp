#pragma once
// Tests' handle on a system configured for a scenario: the iteration model its instances use
// (routing and cost of one step) and its shared context, as the serving loop sees them.
#include <memory>

#include "sim/systems/shared_kv.hpp"
#include "sim/systems/system.hpp"

namespace moska::test {

struct Configured {
  std::unique_ptr<ConfiguredSystem> sys;
  const IterationModel& model() const { return dynamic_cast<const IterationModel&>(*sys); }
  IterStats cost(const BatchSpec& b) const {
    IterStats st;
    model().cost(b, st);
    return st;
  }
  SharedAttention route(const std::vector<std::int64_t>& per_corpus) const {
    SharedAttention s;
    model().route(per_corpus, s);
    return s;
  }
  SharedAttention route(std::int64_t n) const { return route(std::vector<std::int64_t>{n}); }
};

inline Configured configure(const Scenario& sc) { return {find_system(sc.system).configure(sc)}; }

// The shared context as the scenario's system cuts it.
inline SharedContext shared_context(const Scenario& sc) {
  return dynamic_cast<const SharedKvSystem&>(find_system(sc.system)).shared_context(sc.shared, sc.file);
}

// FLOPs (or bytes) a step charged to `pool`; -1 if none.
inline double charged(const IterStats& st, int pool, bool flops = true) {
  for (const auto& c : st.charges) {
    if (c.pool == pool) return flops ? c.flops : c.bytes;
  }
  return -1;
}

}  // namespace moska::test
