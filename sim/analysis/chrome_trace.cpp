#include "sim/analysis/chrome_trace.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "sim/util/error.hpp"

namespace moska {

namespace {
constexpr int kRequestsPid = 0;  // pools are 1 + their index
double us(TimeNs t) { return static_cast<double>(t) / 1e3; }
}  // namespace

ChromeTraceWriter::ChromeTraceWriter(const std::string& path, std::size_t requests) : path_(path), events_(requests) {
  f_ = std::fopen(path.c_str(), "w");
  if (!f_) throw InputError(fmt::format("--trace {}: cannot write file", path));
  std::fputs("{\"displayTimeUnit\":\"ms\",\"traceEvents\":[\n", f_);
}

ChromeTraceWriter::~ChromeTraceWriter() {
  if (f_) std::fclose(f_);
}

void ChromeTraceWriter::begin_event() {
  if (!first_) std::fputs(",\n", f_);
  first_ = false;
}

void ChromeTraceWriter::iteration(const IterationTrace& it) {
  const int pid = it.pool + 1;
  const std::pair<int, int> key{it.pool, it.instance};
  if (std::find(instances_.begin(), instances_.end(), key) == instances_.end()) instances_.push_back(key);
  begin_event();
  fmt::print(f_,
             "{{\"ph\":\"X\",\"cat\":\"iteration\",\"name\":\"{}\",\"pid\":{},\"tid\":{},\"ts\":{:.3f},\"dur\":{:.3f},"
             "\"args\":{{\"decodes\":{},\"prefill_chunks\":{},\"prefill_tokens\":{},\"kv_tokens\":{},\"kv_capacity\":{},"
             "\"waiting\":{}}}}}",
             it.prefill_chunks > 0 ? (it.decodes > 0 ? "mixed" : "prefill") : "decode", pid, it.instance, us(it.start),
             us(it.end - it.start), it.decodes, it.prefill_chunks, it.prefill_tokens, it.kv_tokens, it.kv_capacity, it.waiting);
  begin_event();
  fmt::print(f_, "{{\"ph\":\"C\",\"name\":\"batch i{}\",\"pid\":{},\"ts\":{:.3f},\"args\":{{\"decodes\":{},\"prefill_tokens\":{}}}}}",
             it.instance, pid, us(it.start), it.decodes, it.prefill_tokens);
  begin_event();
  fmt::print(f_, "{{\"ph\":\"C\",\"name\":\"kv i{}\",\"pid\":{},\"ts\":{:.3f},\"args\":{{\"kv_tokens\":{}}}}}", it.instance, pid,
             us(it.start), it.kv_tokens);
}

void ChromeTraceWriter::request(std::uint32_t r, RequestEvent e, TimeNs t, int pool, int instance) {
  if (r < events_.size()) events_[r].push_back({t, e, pool, instance});
}

void ChromeTraceWriter::span(std::uint32_t r, const char* name, TimeNs from, TimeNs to, int pool, int instance) {
  if (to < from) return;
  begin_event();
  fmt::print(f_, "{{\"ph\":\"b\",\"cat\":\"request\",\"name\":\"{}\",\"id\":{},\"pid\":{},\"ts\":{:.3f},\"args\":{{\"pool\":{},\"instance\":{}}}}}",
             name, r, kRequestsPid, us(from), pool, instance);
  begin_event();
  fmt::print(f_, "{{\"ph\":\"e\",\"cat\":\"request\",\"name\":\"{}\",\"id\":{},\"pid\":{},\"ts\":{:.3f}}}", name, r, kRequestsPid,
             us(to));
}

void ChromeTraceWriter::finish(const RunResult& run) {
  if (!f_) return;
  for (std::size_t i = 0; i < events_.size() && i < run.requests.size(); ++i) {
    const auto r = static_cast<std::uint32_t>(i);
    const auto& rec = run.requests[i];
    const auto& ev = events_[i];
    TimeNs end = rec.finish >= 0 ? rec.finish : (ev.empty() ? rec.arrival : ev.back().t);
    end = std::max(end, rec.arrival);
    begin_event();
    fmt::print(f_,
               "{{\"ph\":\"b\",\"cat\":\"request\",\"name\":\"request\",\"id\":{},\"pid\":{},\"ts\":{:.3f},\"args\":{{\"input_tokens\":{},"
               "\"output_tokens\":{},\"status\":\"{}\"}}}}",
               r, kRequestsPid, us(rec.arrival), rec.input_tokens, rec.output_tokens,
               rec.rejected ? "rejected" : (rec.finish < 0 ? "unfinished" : "finished"));
    // Walk the request's moves; each phase ends where the next begins.
    enum class Ph { none, queue, prefill, wait, decode, preempted } ph = Ph::none;
    TimeNs since = rec.arrival;
    int pool = -1, inst = -1;
    auto close = [&](TimeNs t) {
      static constexpr const char* names[] = {"", "queue", "prefill", "decode wait", "decode", "preempted"};
      if (ph != Ph::none) span(r, names[static_cast<int>(ph)], since, t, pool, inst);
      since = t;
    };
    for (const auto& x : ev) {
      switch (x.e) {
        case RequestEvent::queued:
          if (rec.first_token >= 0 && x.t >= rec.first_token && ph != Ph::decode) {
            // Prefilled elsewhere: the prefill ended with the first token, then its KV crossed.
            if (ph == Ph::prefill) close(rec.first_token);
            span(r, "transfer", rec.first_token, x.t, x.pool, x.instance);
            ph = Ph::wait;
            since = x.t;
          } else if (ph == Ph::none) {
            ph = Ph::queue;
            since = rec.arrival;
          }
          break;
        case RequestEvent::started:
          close(x.t);
          ph = Ph::prefill;
          break;
        case RequestEvent::decoding:
          close(x.t);
          ph = Ph::decode;
          break;
        case RequestEvent::preempted:
          close(x.t);
          ph = Ph::preempted;
          break;
        case RequestEvent::finished:
        case RequestEvent::rejected:
          close(x.t);
          ph = Ph::none;
          break;
      }
      pool = x.pool >= 0 ? x.pool : pool;
      inst = x.instance >= 0 ? x.instance : inst;
    }
    close(end);
    begin_event();
    fmt::print(f_, "{{\"ph\":\"e\",\"cat\":\"request\",\"name\":\"request\",\"id\":{},\"pid\":{},\"ts\":{:.3f}}}", r, kRequestsPid,
               us(end));
  }
  begin_event();
  fmt::print(f_, "{{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":{},\"args\":{{\"name\":\"requests\"}}}}", kRequestsPid);
  for (std::size_t p = 0; p < run.pools.size(); ++p) {
    const auto& ps = run.pools[p];
    begin_event();
    const std::string name = nlohmann::json(fmt::format("pool {} ({}, {}, {} GPUs)", ps.name, ps.role, ps.hw, ps.gpus)).dump();
    fmt::print(f_, "{{\"ph\":\"M\",\"name\":\"process_name\",\"pid\":{},\"args\":{{\"name\":{}}}}}", p + 1, name);
  }
  std::sort(instances_.begin(), instances_.end());
  for (const auto& [p, i] : instances_) {
    begin_event();
    fmt::print(f_, "{{\"ph\":\"M\",\"name\":\"thread_name\",\"pid\":{},\"tid\":{},\"args\":{{\"name\":\"instance {}\"}}}}", p + 1, i, i);
  }
  std::fputs("\n]}\n", f_);
  const bool ok = std::ferror(f_) == 0;
  std::fclose(f_);
  f_ = nullptr;
  if (!ok) throw InputError(fmt::format("--trace {}: write failed", path_));
}

}  // namespace moska
