#!/usr/bin/env bash
# Replay benchmark (not a test): wall time and peak memory of `moska-sim run` for 10^4..10^6
# synthetic requests through moska-disagg on a 64-GPU two-pool cluster. Writes results/perf/replay.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=./build/moska-sim
out=results/perf/replay.csv
echo "commit,machine,scenario,requests,wall_s,max_rss_kb,events" > "$out"
commit=$(git rev-parse --short HEAD)
machine="$(nproc) cores $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
for n in 10000 100000 1000000; do
  log=$(/usr/bin/time -f "TIME %e %M" $bin run workloads/moska-disagg-64gpu.json --set requests=$n --set rate=400 2>&1)
  wall=$(echo "$log" | awk '/^TIME/{print $2}'); rss=$(echo "$log" | awk '/^TIME/{print $3}')
  events=$(echo "$log" | sed -n 's/.*wall time, \([0-9]*\) events.*/\1/p')
  echo "$commit,\"$machine\",moska-disagg-64gpu,$n,$wall,$rss,$events" | tee -a "$out"
done
