// moska-sim's own JSONL: {"arrival_s", "input_tokens", "output_tokens", "hash_ids"?, "corpus"?,
// "family"? + "similarity"?} per line (family and similarity together: SemShareKV's similar-prompt
// families); any other key is an error.
#include <array>

#include "sim/workload/trace_text.hpp"

namespace moska::trace_detail {

namespace {
constexpr std::array<JsonlKey, 7> kKeys = {{
    {"arrival_s", JsonlField::arrival, true},
    {"input_tokens", JsonlField::input_tokens, true},
    {"output_tokens", JsonlField::output_tokens, true},
    {"hash_ids", JsonlField::hash_ids, false},
    {"corpus", JsonlField::corpus, false},
    {"family", JsonlField::family, false},
    {"similarity", JsonlField::similarity, false},
}};
}  // namespace

void read_moska_jsonl(const TraceInput& in) {
  read_jsonl(in, JsonlFormat{kKeys, 9, "a non-negative number of seconds",
                             "keys arrival_s, input_tokens, output_tokens, and optionally hash_ids, corpus, family with similarity",
                             "only arrival_s, input_tokens, output_tokens, hash_ids, corpus, family, similarity"});
}

}  // namespace moska::trace_detail
