// `moska-sim cache-replay`: replays a trace's prefix-block hashes through KvStore and reports the
// block hit rate per store capacity (the basis of Mooncake's "cache hit rate vs capacity" figure).
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "sim/cli/commands.hpp"
#include "sim/serving/kv_store.hpp"
#include "sim/util/error.hpp"
#include "sim/workload/trace.hpp"

namespace moska::cli {
namespace {

// "4096", "4K", "1M" (K = 1000, Ki = 1024, M = 1e6, Mi = 2^20).
std::int64_t parse_count(const std::string& s, const std::string& what) {
  std::size_t pos = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &pos);
  } catch (const std::exception&) {
    throw InputError(fmt::format("{}: '{}' is not a block count (expected e.g. 4096, 4K, 1M)", what, s));
  }
  std::string suf = s.substr(pos);
  long long mul = 1;
  if (suf == "K" || suf == "k") mul = 1000;
  else if (suf == "Ki") mul = 1024;
  else if (suf == "M" || suf == "m") mul = 1000000;
  else if (suf == "Mi") mul = 1 << 20;
  else if (!suf.empty()) throw InputError(fmt::format("{}: '{}' is not a block count (expected e.g. 4096, 4K, 1M)", what, s));
  if (v < 0) throw InputError(fmt::format("{}: '{}' must be >= 0", what, s));
  return v * mul;
}

struct Row {
  int stores = 1;
  std::array<std::int64_t, kKvTiers> cap{};  // total over all stores
  KvStoreStats st;
};

Row replay(const std::vector<Request>& reqs, int stores, std::array<std::int64_t, kKvTiers> cap, bool promote) {
  KvStoreConfig c;
  for (int t = 0; t < kKvTiers; ++t) c.tiers[t] = {cap[t] / stores, 1.0, 0.0};
  c.block_bytes = 1;
  c.promote_on_hit = promote;
  std::vector<KvStore> ss;
  ss.reserve(static_cast<std::size_t>(stores));
  for (int i = 0; i < stores; ++i) ss.emplace_back(c);
  for (const auto& r : reqs) {
    auto& s = ss[r.id % static_cast<std::uint64_t>(stores)];
    s.lookup(r.block_hashes);
    s.insert(r.block_hashes);
  }
  Row row;
  row.stores = stores;
  row.cap = cap;
  for (const auto& s : ss) {
    const auto& x = s.stats();
    row.st.lookups += x.lookups;
    row.st.blocks_looked_up += x.blocks_looked_up;
    for (int t = 0; t < kKvTiers; ++t) row.st.hit[t] += x.hit[t];
    row.st.missed += x.missed;
    row.st.evicted += x.evicted;
  }
  return row;
}

}  // namespace

void add_cache_replay(CLI::App& app, int& result) {
  auto* cmd = app.add_subcommand(
      "cache-replay",
      "Replay a trace's prefix-block hashes through the KV-cache store (lookup, then insert, per request) and "
      "print the block hit rate per store capacity");
  struct Opts {
    std::string trace;
    std::string capacities;
    std::string tiers;
    std::string format;
    std::string csv;
    std::vector<int> stores{1};
    bool promote = false;
    std::int64_t max_requests = 0;
    std::int64_t block_tokens = 512;
  };
  auto o = std::make_shared<Opts>();
  cmd->add_option("trace", o->trace, "Trace file (Mooncake JSONL, or moska JSONL with hash_ids)")->required();
  cmd->add_option("--capacity-blocks", o->capacities,
                  "Comma-separated total capacities in blocks (one flat LRU tier each), e.g. 1K,10K,100K,1M");
  cmd->add_option("--tiers", o->tiers, "One tiered store: hbm:N,dram:N,ssd:N (total blocks per tier)");
  cmd->add_option("--stores", o->stores,
                  "Split the trace round-robin over K stores, each 1/K of the capacity (local caches); "
                  "several values give several rows")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_flag("--promote", o->promote, "Move hit blocks up to HBM on lookup");
  cmd->add_option("--format", o->format, "Trace format: mooncake | azure | burstgpt | moska (default: detected)");
  cmd->add_option("--max-requests", o->max_requests, "Replay only the first N requests (0 = all)");
  cmd->add_option("--block-tokens", o->block_tokens, "Tokens per hash block, for the trace check (0 = no check)")
      ->capture_default_str();
  cmd->add_option("--csv", o->csv, "Also write the table as CSV to this file");
  cmd->callback([o, &result]() {
    TraceOptions topt;
    if (!o->format.empty()) topt.format = parse_trace_format(o->format);
    if (o->max_requests < 0) throw InputError(fmt::format("--max-requests {}: expected an integer >= 0 (0 = all)", o->max_requests));
    topt.max_requests = static_cast<std::uint64_t>(o->max_requests);
    topt.block_tokens = o->block_tokens;
    auto reqs = read_trace(o->trace, topt);
    std::uint64_t with_hashes = 0;
    for (const auto& r : reqs) with_hashes += r.block_hashes.empty() ? 0 : 1;
    if (with_hashes == 0) throw InputError(fmt::format("{}: no request carries hash_ids", o->trace));

    std::vector<std::array<std::int64_t, kKvTiers>> configs;
    if (!o->capacities.empty()) {
      std::size_t start = 0;
      while (start <= o->capacities.size()) {
        auto end = o->capacities.find(',', start);
        if (end == std::string::npos) end = o->capacities.size();
        configs.push_back({parse_count(o->capacities.substr(start, end - start), "--capacity-blocks"), 0, 0});
        start = end + 1;
      }
    }
    if (!o->tiers.empty()) {
      std::array<std::int64_t, kKvTiers> cap{};
      std::size_t start = 0;
      while (start <= o->tiers.size()) {
        auto end = o->tiers.find(',', start);
        if (end == std::string::npos) end = o->tiers.size();
        auto item = o->tiers.substr(start, end - start);
        auto colon = item.find(':');
        if (colon == std::string::npos)
          throw InputError(fmt::format("--tiers: '{}' (expected hbm:N, dram:N or ssd:N)", item));
        auto name = item.substr(0, colon);
        int t = name == "hbm" ? 0 : name == "dram" ? 1 : name == "ssd" ? 2 : -1;
        if (t < 0) throw InputError(fmt::format("--tiers: unknown tier '{}' (expected hbm, dram or ssd)", name));
        cap[t] = parse_count(item.substr(colon + 1), "--tiers");
        start = end + 1;
      }
      configs.push_back(cap);
    }
    if (configs.empty()) throw InputError("cache-replay: give --capacity-blocks and/or --tiers");
    for (int k : o->stores)
      if (k < 1) throw InputError("--stores: must be >= 1");

    std::uint64_t total_blocks = 0;
    for (const auto& r : reqs) total_blocks += r.block_hashes.size();
    fmt::print("{}: {} requests ({} with hash ids), {} blocks looked up\n", o->trace, reqs.size(), with_hashes,
               total_blocks);
    std::string header = "stores,hbm_blocks,dram_blocks,ssd_blocks,total_blocks,requests,blocks_looked_up,hit_blocks,"
                         "hit_rate,hit_hbm,hit_dram,hit_ssd,evicted";
    fmt::print("{:>6} {:>10} {:>10} {:>10} {:>10} {:>9} {:>9} {:>9} {:>9}\n", "stores", "hbm", "dram", "ssd",
               "total", "hit_rate", "hit_hbm", "hit_dram", "hit_ssd");
    std::vector<std::string> lines;
    for (int k : o->stores) {
      for (const auto& cap : configs) {
        auto row = replay(reqs, k, cap, o->promote);
        auto tot = cap[0] + cap[1] + cap[2];
        const auto& st = row.st;
        auto frac = [&](std::uint64_t x) { return st.blocks_looked_up ? double(x) / double(st.blocks_looked_up) : 0.0; };
        fmt::print("{:>6} {:>10} {:>10} {:>10} {:>10} {:>9.4f} {:>9.4f} {:>9.4f} {:>9.4f}\n", k, cap[0], cap[1],
                   cap[2], tot, st.hit_rate(), frac(st.hit[0]), frac(st.hit[1]), frac(st.hit[2]));
        lines.push_back(fmt::format("{},{},{},{},{},{},{},{},{:.6f},{},{},{},{}", k, cap[0], cap[1], cap[2], tot,
                                    st.lookups, st.blocks_looked_up, st.hits(), st.hit_rate(), st.hit[0], st.hit[1],
                                    st.hit[2], st.evicted));
      }
    }
    if (!o->csv.empty()) {
      std::ofstream f(o->csv);
      if (!f) throw InputError(fmt::format("--csv: cannot write '{}'", o->csv));
      f << header << "\n";
      for (const auto& l : lines) f << l << "\n";
    }
    result = 0;
  });
}

}  // namespace moska::cli
