// Fuzz target: a model file (models/*.json) through the JSON reader and the model's checks.
#include "sim/model/model_spec.hpp"
#include "sim/util/json_reader.hpp"
#include "tests/fuzz/fuzz_common.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return moska::fuzz::run([&] {
    auto j = moska::parse_json_text(moska::fuzz::text(data, size), "fuzz-model.json");
    auto m = moska::parse_model(j, "fuzz-model.json");
    // What the rest of the simulator computes from a model must be finite.
    if (!(m.weight_bytes(moska::Dtype::bf16) > 0) || !(m.kv_bytes_per_token(moska::Dtype::fp8) > 0)) std::abort();
  });
}
