#pragma once
// Request traces read from files: Mooncake JSONL, Azure LLM 2023 CSV, BurstGPT CSV and moska-sim's
// own JSONL. Reading is strict (any malformed line is an InputError naming "<file>:<line>") and
// fast (a hand-written parser for the flat objects and rows of these formats; no per-line DOM).
//
// What every reader guarantees about the returned requests:
//   - sorted by arrival (stably: equal arrivals keep file order), ids 0..n-1 in that order;
//   - arrival_ns >= 0, converted with integer arithmetic from the decimal text (ms or s), so
//     "1234" ms is exactly 1'234'000'000 ns and "0.1" s exactly 100'000'000 ns;
//   - input_tokens >= 1 and output_tokens >= 1: a length of 0 in the file (Mooncake and BurstGPT
//     have some; BurstGPT writes failed requests that way) is read as 1 token, so every request
//     has a prefill and a first token. Negative lengths are errors.
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "sim/workload/request.hpp"

namespace moska {

enum class TraceFormat {
  mooncake,  // JSONL {"timestamp": ms, "input_length", "output_length", "hash_ids": [...]}
  azure,     // CSV TIMESTAMP,ContextTokens,GeneratedTokens (2023-11-16 18:15:46.6805900)
  burstgpt,  // CSV Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type
  moska,     // JSONL {"arrival_s", "input_tokens", "output_tokens", "hash_ids"?, "corpus"?, "family"? + "similarity"?}
};

// "mooncake" | "azure" | "burstgpt" | "moska"; anything else is an InputError listing them.
TraceFormat parse_trace_format(std::string_view name);

struct TraceOptions {
  // Unset: detected from the content (first non-blank line: a JSON object's keys or a CSV header).
  std::optional<TraceFormat> format;
  // Arrival times are divided by it after windowing (2 = replay twice as fast). Must be > 0.
  double speedup = 1.0;
  // Keep requests with window_start_s <= arrival < window_end_s (trace time, before speedup),
  // re-based so that window_start_s becomes time 0.
  double window_start_s = 0.0;
  double window_end_s = std::numeric_limits<double>::infinity();
  // Keep only the first N requests (in arrival order, after windowing); 0 = all.
  std::uint64_t max_requests = 0;
  // Tokens per prefix-block hash (Mooncake: 512). Where a line has hash ids, their count must be
  // ceil(input_tokens / block_tokens); 0 turns the check off.
  std::int64_t block_tokens = 512;
};

// Throws InputError for a missing/unreadable file, an undetectable format, bad options, or the
// first malformed line ("<file>:<line>: <what> (expected <form>)").
std::vector<Request> read_trace(const std::string& path, const TraceOptions& opt = {});

// Same, from text already in memory; `name` stands in for the file name in messages.
std::vector<Request> parse_trace(std::string_view text, const std::string& name, const TraceOptions& opt = {});

// The format read_trace would detect for this text, or nullopt.
std::optional<TraceFormat> detect_trace_format(std::string_view text);

}  // namespace moska
