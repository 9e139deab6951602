// The trace readers' front: format names and detection, the dispatch to one reader per format
// (trace_<format>.cpp, on the shared text layer of trace_text.*), then what every format gets alike:
// lengths of 0 read as 1, a stable sort by arrival, the window, the cap, the speed-up and the ids.
#include "sim/workload/trace.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "sim/util/error.hpp"
#include "sim/util/json_reader.hpp"
#include "sim/workload/trace_text.hpp"

namespace moska {

using trace_detail::first_line;
using trace_detail::show;
using trace_detail::strip_bom;

namespace {

// Lines end in LF or CRLF. A CR elsewhere (a file with old Mac line endings, or a stray CR inside a
// line) would surface as a confusing field error; it is named instead.
void check_line_endings(std::string_view text, const std::string& name) {
  if (text.empty()) return;  // data() may be null: memchr must not see it
  const char* b = text.data();
  const char* e = b + text.size();
  for (const char* p = b; (p = static_cast<const char*>(std::memchr(p, '\r', static_cast<std::size_t>(e - p)))); ++p) {
    if (p + 1 < e && p[1] != '\n') {
      const auto line = 1 + std::count(b, p, '\n');
      throw InputError(fmt::format("{}:{}: a carriage return (\\r) not followed by a line feed (expected LF or CRLF "
                                   "line endings)", name, line));
    }
  }
}

}  // namespace

TraceFormat parse_trace_format(std::string_view name) {
  if (name == "mooncake") return TraceFormat::mooncake;
  if (name == "azure") return TraceFormat::azure;
  if (name == "burstgpt") return TraceFormat::burstgpt;
  if (name == "moska") return TraceFormat::moska;
  throw InputError(fmt::format("unknown trace format '{}' (expected mooncake, azure, burstgpt or moska)", show(name)));
}

std::optional<TraceFormat> detect_trace_format(std::string_view text) {
  std::string_view line = first_line(strip_bom(text));
  std::size_t i = line.find_first_not_of(" \t");
  if (i == std::string_view::npos) return std::nullopt;
  line.remove_prefix(i);
  if (line.front() == '{') {
    if (line.find("\"arrival_s\"") != std::string_view::npos) return TraceFormat::moska;
    if (line.find("\"timestamp\"") != std::string_view::npos) return TraceFormat::mooncake;
    return std::nullopt;
  }
  if (line.substr(0, 10) == "TIMESTAMP," && line.find("ContextTokens") != std::string_view::npos) return TraceFormat::azure;
  if (line.find("Timestamp") != std::string_view::npos && line.find("Request tokens") != std::string_view::npos) {
    return TraceFormat::burstgpt;
  }
  return std::nullopt;
}

std::vector<Request> parse_trace(std::string_view text, const std::string& name, const TraceOptions& opt) {
  if (!(opt.speedup > 0) || !std::isfinite(opt.speedup)) {
    throw InputError(fmt::format("{}: speedup is {} (expected a finite number > 0)", name, opt.speedup));
  }
  if (!(opt.window_start_s >= 0) || !std::isfinite(opt.window_start_s) || !(opt.window_end_s > opt.window_start_s)) {
    throw InputError(fmt::format("{}: window [{}, {}) s (expected 0 <= window_start_s < window_end_s)", name,
                                 opt.window_start_s, opt.window_end_s));
  }
  if (opt.block_tokens < 0) {
    throw InputError(fmt::format("{}: block_tokens is {} (expected >= 0; 0 = unchecked)", name, opt.block_tokens));
  }
  text = strip_bom(text);
  check_line_endings(text, name);
  if (first_line(text).empty()) throw InputError(fmt::format("{}: empty trace (expected at least one request)", name));
  TraceFormat format;
  if (opt.format) {
    format = *opt.format;
  } else if (auto f = detect_trace_format(text)) {
    format = *f;
  } else {
    throw InputError(fmt::format(
        "{}: cannot tell the trace format from its first line '{}' (expected a Mooncake JSONL object with "
        "\"timestamp\", a moska JSONL object with \"arrival_s\", or an Azure/BurstGPT CSV header); name the "
        "format explicitly",
        name, show(first_line(text))));
  }

  std::vector<Request> out;
  out.reserve(static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
  const trace_detail::TraceInput in{text, name, opt, out};
  switch (format) {
    case TraceFormat::mooncake: trace_detail::read_mooncake(in); break;
    case TraceFormat::moska: trace_detail::read_moska_jsonl(in); break;
    case TraceFormat::azure: trace_detail::read_azure(in); break;
    case TraceFormat::burstgpt: trace_detail::read_burstgpt(in); break;
  }

  for (auto& r : out) {
    r.input_tokens = std::max<std::int64_t>(r.input_tokens, 1);
    r.output_tokens = std::max<std::int64_t>(r.output_tokens, 1);
  }
  auto by_arrival = [](const Request& a, const Request& b) { return a.arrival_ns < b.arrival_ns; };
  if (!std::is_sorted(out.begin(), out.end(), by_arrival)) std::stable_sort(out.begin(), out.end(), by_arrival);

  // Window in trace time, then the cap, then the speed-up. An input that keeps no request is an
  // error, as an empty file is: a run of nothing has no numbers to report.
  if (out.empty()) throw InputError(fmt::format("{}: no requests (expected at least one after the header)", name));
  const std::size_t read = out.size();
  const double first_s = ns_to_seconds(out.front().arrival_ns), last_s = ns_to_seconds(out.back().arrival_ns);
  const bool start_in_range = opt.window_start_s * 1e9 < 9.2e18;
  const std::int64_t start_ns = start_in_range ? std::llround(opt.window_start_s * 1e9) : INT64_MAX;
  const bool bounded = std::isfinite(opt.window_end_s) && opt.window_end_s * 1e9 < 9.2e18;
  const std::int64_t end_ns = bounded ? std::llround(opt.window_end_s * 1e9) : INT64_MAX;
  if (start_ns > 0 || bounded) {
    auto first = std::lower_bound(out.begin(), out.end(), start_ns,
                                  [](const Request& r, std::int64_t t) { return r.arrival_ns < t; });
    auto last = std::lower_bound(first, out.end(), end_ns,
                                 [](const Request& r, std::int64_t t) { return r.arrival_ns < t; });
    out.erase(last, out.end());
    out.erase(out.begin(), first);
    for (auto& r : out) r.arrival_ns -= start_ns;
  }
  if (out.empty()) {
    throw InputError(fmt::format("{}: the window [{}, {}) s keeps none of its {} requests (arrivals from {} to {} s)", name,
                                 opt.window_start_s, opt.window_end_s, read, first_s, last_s));
  }
  if (opt.max_requests > 0 && out.size() > opt.max_requests) out.resize(opt.max_requests);
  if (opt.speedup != 1.0) {
    const double last_ns = static_cast<double>(out.back().arrival_ns) / opt.speedup;  // sorted: the latest
    if (!(last_ns < 9.2e18)) {
      throw InputError(fmt::format(
          "{}: speedup {} puts the last arrival at {:.6g} s, beyond the simulated clock's range (9.2e9 s, about 292 years)",
          name, opt.speedup, last_ns * 1e-9));
    }
    for (auto& r : out) r.arrival_ns = std::llround(static_cast<double>(r.arrival_ns) / opt.speedup);
  }
  for (std::size_t i = 0; i < out.size(); ++i) out[i].id = i;
  out.shrink_to_fit();
  return out;
}

std::vector<Request> read_trace(const std::string& path, const TraceOptions& opt) {
  check_readable_file(path);
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw InputError(fmt::format("{}: cannot open trace file (expected a readable file)", path));
  std::string text;
  char buf[1 << 16];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f.get())) > 0) text.append(buf, n);
  if (std::ferror(f.get())) throw InputError(fmt::format("{}: error reading trace file", path));
  return parse_trace(text, path, opt);
}

}  // namespace moska
