#include "sim/systems/system.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sim/util/error.hpp"

namespace moska {

namespace {
const std::vector<SystemTraits>& registry() {
  static const std::vector<SystemTraits> systems = {
      {"vllm", "paged KV, no sharing: each request prefills, holds and reads its own copy of the shared context",
       SharedStorage::per_request, SharedAttnMode::per_request_full, true, false},
      {"prefix-cache", "shared KV stored once and its prefill skipped; decode reads it once per request",
       SharedStorage::once_per_instance, SharedAttnMode::per_request_full, false, false},
      {"cascade", "shared prefix attended as one batched GEMM per chunk, no sparsity (Hydragen / FlashInfer cascade)",
       SharedStorage::once_per_instance, SharedAttnMode::batched_full, false, false},
      {"sparse", "top-k shared chunks per request, read per request (Quest / MoBA), no batching",
       SharedStorage::once_per_instance, SharedAttnMode::per_request_topk, false, false},
      {"moska", "sparse routing + batched shared-chunk attention, one pool",
       SharedStorage::once_per_instance, SharedAttnMode::batched_topk, false, false},
      {"moska-disagg", "MoSKA with shared-KV attention on its own pool; queries and partials cross the network",
       SharedStorage::shared_pool, SharedAttnMode::batched_topk, false, true},
      {"universal-moska", "MoSKA over a library of position-independent modules composed per request (EPIC-style recompute)",
       SharedStorage::once_per_instance, SharedAttnMode::batched_topk, false, false, true},
      {"universal-moska-disagg", "universal MoSKA with the module library on a shared-KV pool, modules striped over its groups by popularity",
       SharedStorage::shared_pool, SharedAttnMode::batched_topk, false, true, true},
      {"mooncake", "prefill and decode pools, KV-cache store on DRAM/SSD, cache-aware Conductor, early rejection (no shared corpus)",
       SharedStorage::per_request, SharedAttnMode::per_request_full, true, false, false, true},
  };
  return systems;
}
}  // namespace

std::vector<std::string> system_names() {
  std::vector<std::string> out;
  for (const auto& s : registry()) out.push_back(s.name);
  return out;
}

const SystemTraits& find_system(const std::string& name) {
  for (const auto& s : registry()) {
    if (s.name == name) return s;
  }
  throw InputError(fmt::format("unknown system '{}': expected one of [{}]", name, fmt::join(system_names(), ", ")));
}

}  // namespace moska
