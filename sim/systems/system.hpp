#pragma once
// The systems of the mission, each a choice of how shared KV is stored, prefilled and attended,
// and whether shared-KV attention runs on its own pool. The serving loop reads only these traits:
// adding a system is adding a row to the registry in system.cpp.
#include <string>
#include <vector>

namespace moska {

enum class SharedStorage { per_request, once_per_instance, shared_pool };
enum class SharedAttnMode {
  per_request_full,   // every request reads the whole shared context (GEMV per request)
  per_request_topk,   // every request reads its top-k chunks (GEMV per request, router)
  batched_full,       // queries of all requests batched per chunk, all chunks (cascade)
  batched_topk,       // queries batched per chunk, top-k chunks per request (MoSKA)
};

struct SystemTraits {
  std::string name;
  std::string description;
  SharedStorage storage = SharedStorage::once_per_instance;
  SharedAttnMode attention = SharedAttnMode::per_request_full;
  bool prefill_shared = false;  // the shared context is prefilled for each request
  bool disaggregated = false;   // shared-KV attention on a separate pool
  bool modular = false;         // shared KV is a library of position-independent modules
  bool prefill_decode = false;  // separate prefill and decode pools (Mooncake; sim/serving/mooncake_sim.*)
  bool sparse() const {
    return attention == SharedAttnMode::per_request_topk || attention == SharedAttnMode::batched_topk;
  }
  bool batched() const {
    return attention == SharedAttnMode::batched_full || attention == SharedAttnMode::batched_topk;
  }
};

// Throws InputError listing the known systems.
const SystemTraits& find_system(const std::string& name);
std::vector<std::string> system_names();

}  // namespace moska
