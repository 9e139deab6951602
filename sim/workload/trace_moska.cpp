// moska-sim's own JSONL: {"arrival_s", "input_tokens", "output_tokens", "hash_ids"?, "corpus"?} per
// line; any other key is an error.
#include <array>

#include "sim/workload/trace_text.hpp"

namespace moska::trace_detail {

namespace {
constexpr std::array<JsonlKey, 5> kKeys = {{
    {"arrival_s", JsonlField::arrival, true},
    {"input_tokens", JsonlField::input_tokens, true},
    {"output_tokens", JsonlField::output_tokens, true},
    {"hash_ids", JsonlField::hash_ids, false},
    {"corpus", JsonlField::corpus, false},
}};
}  // namespace

void read_moska_jsonl(const TraceInput& in) {
  read_jsonl(in, JsonlFormat{kKeys, 9, "a non-negative number of seconds",
                             "keys arrival_s, input_tokens, output_tokens, and optionally hash_ids, corpus",
                             "only arrival_s, input_tokens, output_tokens, hash_ids, corpus"});
}

}  // namespace moska::trace_detail
