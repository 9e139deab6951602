// BurstGPT CSV: Timestamp (s since the trace's start), Model, Request tokens, Response tokens,
// Total tokens, Log Type (and, in later releases, Session ID, Elapsed time). Failed requests have
// 0 response tokens (read as 1 by parse_trace).
#include "sim/workload/trace_text.hpp"

namespace moska::trace_detail {

void read_burstgpt(const TraceInput& in) {
  static const CsvFormat kFormat{
      {"BurstGPT", {"Timestamp", "Request tokens", "Response tokens"},
       {"Model", "Total tokens", "Log Type", "Session ID", "Elapsed time"}},
      &csv_seconds_to_ns,
      // Total tokens: an integer when present (not checked against the sum).
      [](const LineContext& ctx, const std::vector<std::string_view>& fields, const std::vector<int>& col) {
        if (col[4] >= 0) csv_integer(ctx, "Total tokens", fields[static_cast<std::size_t>(col[4])]);
      }};
  read_csv(in, kFormat);
}

}  // namespace moska::trace_detail
