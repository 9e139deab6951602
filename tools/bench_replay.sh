#!/usr/bin/env bash
# Replay benchmark (not a test): wall time, requests per second of wall time and peak memory of
# `moska-sim run` for each system on synthetic traffic of 10^4, 10^5 and 10^6 requests, the Mooncake
# conversation trace, and a 10,000-GPU cluster. Writes results/perf/replay.csv (see results/perf/README.md).
#
#   BIN=./build/moska-sim   the binary (Release)
#   REPEAT=3                runs per point; the fastest is kept (the machine may be shared)
# Columns: wall_s = the whole process (load, simulate, summarise), best of REPEAT; sim_wall_s = the
# event loop alone (as `run` prints it); max_rss_kb = peak resident memory (/usr/bin/time %M).
#   SIZES="10000 100000 1000000"
#   OUT=results/perf/replay.csv
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${BIN:-./build/moska-sim}
repeat=${REPEAT:-3}
sizes=${SIZES:-"10000 100000 1000000"}
out=${OUT:-results/perf/replay.csv}
[ -x "$bin" ] || { echo "bench_replay: no binary at $bin (build it, or set BIN)" >&2; exit 1; }
[ -x /usr/bin/time ] || { echo "bench_replay: needs /usr/bin/time (apt-get install time)" >&2; exit 1; }
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
machine="$(nproc) cores $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "commit,machine,case,system,scenario,rate_per_s,requests,wall_s,sim_wall_s,requests_per_wall_s,max_rss_kb,events" > "$out"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# One point: the fastest of $repeat runs, with that run's peak RSS.
point() {  # case system scenario rate requests   ("-": the scenario's own)
  local case=$1 system=$2 scenario=$3 rate=$4 n=$5
  local args=(run "$scenario")
  [ "$rate" != "-" ] && args+=(--set "rate=$rate")
  [ "$n" != "-" ] && args+=(--set "requests=$n")
  local best="" rss="" summary=""
  for ((i = 0; i < repeat; i++)); do
    local t0 t1 wall kb
    t0=$(date +%s%N)
    /usr/bin/time -f "%M" -o "$tmp/time" "$bin" "${args[@]}" > "$tmp/out"
    t1=$(date +%s%N)
    wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.3f", (b - a) / 1e9}')
    read -r kb < "$tmp/time"
    if [ -z "$best" ] || awk -v a="$wall" -v b="$best" 'BEGIN{exit !(a < b)}'; then
      best=$wall rss=$kb summary=$(cat "$tmp/out")
    fi
  done
  local reqs simw events rps
  reqs=$(echo "$summary" | sed -n 's/^requests: .* of \([0-9]*\) .*/\1/p')
  simw=$(echo "$summary" | sed -n 's/.*simulated in \([0-9.]*\) s of wall time.*/\1/p')
  events=$(echo "$summary" | sed -n 's/.*wall time, \([0-9]*\) events.*/\1/p')
  rps=$(awk -v r="$reqs" -v w="$best" 'BEGIN{printf "%.0f", (w > 0 ? r / w : 0)}')
  echo "$commit,\"$machine\",$case,$system,$scenario,$rate,$reqs,$best,$simw,$rps,$rss,$events" | tee -a "$out"
}

for n in $sizes; do
  point synthetic vllm tools/bench/vllm-64gpu.json 250 "$n"
  point synthetic moska workloads/moska-64gpu.json 11 "$n"
  point synthetic moska-disagg workloads/moska-disagg-64gpu.json 2.6 "$n"
  point overloaded moska-disagg workloads/moska-disagg-64gpu.json 400 "$n"
  point synthetic mooncake workloads/mooncake-synthetic.json 4 "$n"
done
point conversation-trace mooncake workloads/mooncake-conversation.json - -
point conversation-trace vllm tools/bench/vllm16-h100-conversation.json - -
point scale-10k-gpus mooncake workloads/scale-10k-gpus.json 440 100000
