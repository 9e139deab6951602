// `moska-sim sweep <scenario> --set k=v1,v2 ...`: the cartesian product of the values, one CSV row
// per point, points run on all cores. Rows come out in point order whatever the thread timing, so
// the CSV is byte-identical to a serial run. Under an MPI launcher (`mpirun -n N`, `srun -n N`) rank
// r runs points r, r + N, ... on its own threads and rank 0 gathers the rows and writes the same CSV.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <exception>
#include <fstream>
#include <iostream>
#include <mutex>
#include <new>
#include <thread>

#include <fmt/format.h>

#include "sim/cli/commands.hpp"
#include "sim/cli/overrides.hpp"
#include "sim/cli/mpi_sweep.hpp"
#include "sim/systems/system.hpp"
#include "sim/serving/workload_loader.hpp"
#include "sim/util/csv.hpp"
#include "sim/util/error.hpp"

namespace moska::cli {

namespace {
std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    auto p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string::npos ? std::string::npos : p - start));
    if (p == std::string::npos) break;
    start = p + 1;
  }
  return out;
}
}  // namespace

void add_sweep(CLI::App& app, int& result) {
  auto* cmd = app.add_subcommand("sweep", "Run the cartesian product of --set values; one CSV row per point");
  struct Opts {
    std::string scenario;
    std::vector<std::string> sets;
    std::string out;
    int jobs = 0;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("scenario", o->scenario, "Scenario name or path ('default' for the built-in one)")->required();
  cmd->add_option("--set", o->sets, "KEY=V1,V2,... (repeatable; the product of all is swept)")->required();
  cmd->add_option("--out", o->out, "CSV file to write (default: standard output)");
  auto* jobs_opt = cmd->add_option("--jobs", o->jobs, "Threads, >= 1 (default: all cores)");
  cmd->callback([o, jobs_opt, &result]() {
    // One rank of one unless an MPI launcher started us; then every rank runs this callback.
    SweepRanks ranks;
    std::vector<std::string> keys;
    std::vector<std::vector<std::string>> points{{}};
    // Every rank parses and validates the same input, so they fail alike; the flags are still
    // exchanged (a rank that cannot read a file another can read must not leave the others waiting),
    // every rank then exits 2, and only the lowest failing rank prints its error.
    std::exception_ptr failure;
    try {
      if (jobs_opt->count() > 0 && (o->jobs < 1 || o->jobs > 4096)) {
        throw InputError(fmt::format("--jobs {}: expected a number of threads in 1..4096", o->jobs));
      }
      std::vector<std::vector<std::string>> values;
      for (const auto& s : o->sets) {
        auto eq = s.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == s.size()) {
          throw InputError(fmt::format("--set '{}': expected KEY=V1,V2,...", s));
        }
        const std::string key = s.substr(0, eq);
        for (const auto& k : keys) {
          if (resolve_override_key(k) == resolve_override_key(key)) {
            throw InputError(fmt::format("--set {}: the key is swept twice (expected each key once)", key));
          }
        }
        keys.push_back(key);
        values.push_back(split(s.substr(eq + 1), ','));
      }
      for (const auto& vs : values) {
        std::vector<std::vector<std::string>> next;
        for (const auto& p : points) {
          for (const auto& v : vs) {
            auto q = p;
            q.push_back(v);
            next.push_back(q);
          }
        }
        points.swap(next);
      }
      // Validate the base scenario and every override once, up front, so typos fail before any work.
      for (const auto& p : points) {
        std::vector<std::string> sets;
        for (std::size_t i = 0; i < keys.size(); ++i) sets.push_back(keys[i] + "=" + p[i]);
        std::string where;
        std::filesystem::path base;
        auto j = scenario_json_with_overrides(o->scenario, sets, where, base);
        parse_scenario_for_systems(j, where, base);
      }
      // The writer checks --out before the work too (append mode: nothing is truncated yet).
      if (ranks.rank() == 0 && !o->out.empty() && !std::ofstream(o->out, std::ios::app)) {
        throw InputError(fmt::format("--out {}: cannot write file", o->out));
      }
    } catch (const InputError& e) {
      failure = ranks.input_failure(e);
    }
    if (ranks.any_failed(failure)) {
      result = 2;
      return;
    }
    // This rank's points: rank, rank + size, ... (interleaved, so neighbouring points, which tend to
    // cost alike, are spread over the ranks).
    std::vector<std::size_t> mine;
    for (std::size_t i = static_cast<std::size_t>(ranks.rank()); i < points.size(); i += static_cast<std::size_t>(ranks.size())) {
      mine.push_back(i);
    }
    std::vector<std::string> rows(mine.size());
    // A point that fails for any other reason than its input (a bug) still gets its row; the first
    // such point is reported once the CSV is written, and the sweep exits 3.
    std::mutex internal_mu;
    std::string internal_error;
    std::atomic<std::size_t> next{0}, done{0};
    std::mutex print_mu;
    std::vector<nlohmann::json> calibrations;  // of every point's pools (under print_mu)
    // The progress bar (rank 0's share of the points when there are several ranks) is rank 0's only.
    const bool tty = ranks.rank() == 0 && isatty(fileno(stderr));
    auto worker = [&]() {
      for (;;) {
        std::size_t m = next.fetch_add(1);
        if (m >= mine.size()) return;
        const auto& point = points[mine[m]];
        std::vector<std::string> sets;
        for (std::size_t k = 0; k < keys.size(); ++k) sets.push_back(keys[k] + "=" + point[k]);
        std::string row;
        for (const auto& v : point) row += csv_field(v) + ",";
        try {
          std::string where;
          std::filesystem::path base;
          auto j = scenario_json_with_overrides(o->scenario, sets, where, base);
          Scenario sc = parse_scenario_for_systems(j, where, base);
          const Summary sum = summarize(simulate(sc, load_workload(sc)), sc.slo);
          {
            std::lock_guard<std::mutex> lock(print_mu);
            for (const auto& p : sum.pools) calibrations.push_back(p.calibration);
          }
          row += sum.status;  // ok, some_not_served or none_served
          for (const auto& f : summary_row(sum)) row += "," + f;
        } catch (const InputError& e) {
          row += csv_field(std::string("error: ") + e.what());
          for (std::size_t c = 0; c < summary_columns().size(); ++c) row += ",";
        } catch (const std::bad_alloc&) {
          row += csv_field("error: out of memory");
          for (std::size_t c = 0; c < summary_columns().size(); ++c) row += ",";
        } catch (...) {
          std::string what = "unknown exception";
          try {
            throw;
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
          }
          row += csv_field("internal error: " + what);
          for (std::size_t c = 0; c < summary_columns().size(); ++c) row += ",";
          std::string point_text;
          for (std::size_t k = 0; k < keys.size(); ++k) point_text += (k ? " " : "") + sets[k];
          std::lock_guard<std::mutex> lock(internal_mu);
          if (internal_error.empty()) internal_error = fmt::format("sweep point {} ({}): {}", mine[m], point_text, what);
        }
        rows[m] = row;
        std::size_t d = ++done;
        if (tty) {
          std::lock_guard<std::mutex> lock(print_mu);
          int width = 40;
          int filled = static_cast<int>(width * d / mine.size());
          std::fprintf(stderr, "\r[%s%s] %zu/%zu", std::string(filled, '#').c_str(),
                       std::string(width - filled, ' ').c_str(), d, mine.size());
          if (d == mine.size()) std::fprintf(stderr, "\n");
        }
      }
    };
    int jobs = o->jobs > 0 ? o->jobs : ranks.default_threads();
    std::vector<std::thread> threads;
    for (int t = 0; t < std::min<int>(jobs, static_cast<int>(mine.size())); ++t) threads.emplace_back(worker);
    for (auto& t : threads) t.join();
    auto by_rank = ranks.gather_to_root(rows);
    result = 0;
    if (!internal_error.empty()) {
      std::fprintf(stderr, "moska-sim: internal error: %s\n", internal_error.c_str());
      result = 3;
    }
    if (ranks.rank() != 0) return;
    // Points on GPUs whose costs stand on different footings (a calibrated GPU against a roofline
    // one, or different attention backends) are flagged (from this rank's points under MPI).
    if (const auto w = calibration_warning(calibrations); !w.empty()) std::fprintf(stderr, "moska-sim sweep: %s\n", w.c_str());
    // A swept key named like a metric column ("requests", "max_batch") is written as the path it
    // sets, so that no two columns share a name.
    const auto metric_columns = summary_columns();
    std::string header;
    for (const auto& k : keys) {
      const bool clash = std::find(metric_columns.begin(), metric_columns.end(), k) != metric_columns.end();
      const std::string path = resolve_override_key(k);
      header += csv_field(clash ? (path != k ? path : "set." + k) : k) + ",";
    }
    header += "status";
    for (const auto& c : summary_columns()) header += "," + c;
    std::string text = header + "\n";
    // Point i is row i / size of rank i % size.
    const auto size = static_cast<std::size_t>(ranks.size());
    for (std::size_t i = 0; i < points.size(); ++i) text += by_rank.at(i % size).at(i / size) + "\n";
    if (o->out.empty()) {
      std::cout << text;
    } else {
      std::ofstream f(o->out);
      if (!f) throw InputError(fmt::format("--out {}: cannot write file", o->out));
      f << text;
    }
  });
}

}  // namespace moska::cli
