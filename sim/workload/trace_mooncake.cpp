// Mooncake JSONL (FAST'25 traces): {"timestamp": ms, "input_length", "output_length", "hash_ids": [...]}
// per line; other keys are allowed (checked as JSON and skipped).
#include <array>

#include "sim/workload/trace_text.hpp"

namespace moska::trace_detail {

namespace {
constexpr std::array<JsonlKey, 4> kKeys = {{
    {"timestamp", JsonlField::arrival, true},
    {"input_length", JsonlField::input_tokens, true},
    {"output_length", JsonlField::output_tokens, true},
    {"hash_ids", JsonlField::hash_ids, true},
}};
}  // namespace

void read_mooncake(const TraceInput& in) {
  read_jsonl(in, JsonlFormat{kKeys, 6, "a non-negative number of milliseconds",
                             "keys timestamp (ms), input_length, output_length, hash_ids", nullptr});
}

}  // namespace moska::trace_detail
