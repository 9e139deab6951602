#pragma once
// The view `scaling` takes of a system without a shared context (mooncake, semsharekv,
// infinite-llm): one KV group per logical instance, a request holds and reads its own context, and
// a steady-state decode step is `batch` plain decodes costed by the system.
#include <cstdint>

#include "sim/systems/system.hpp"

namespace moska {

class PrivateKvSystem : public ConfiguredSystem {
 public:
  int kv_groups() const override { return 1; }
  std::int64_t shared_tokens() const override { return 0; }
  std::int64_t tokens_per_request(std::int64_t ctx) const override { return ctx; }
  std::int64_t read_per_request(std::int64_t ctx) const override { return ctx; }
  void decode_step(std::int64_t batch, std::int64_t read, IterStats& out) const final {
    BatchSpec b;
    b.decode_requests = batch;
    b.decode_kv_tokens = batch * read;
    decode_cost(b, out);
  }

 protected:
  using ConfiguredSystem::ConfiguredSystem;
  // The system's cost of a decode-only batch on one logical instance.
  virtual void decode_cost(const BatchSpec& b, IterStats& out) const = 0;
};

}  // namespace moska
