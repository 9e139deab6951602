#!/usr/bin/env bash
# The speed targets of issue 17 (deliverable 5), measured as they stand: one run each (not best of
# 3), wall time of the whole process and peak memory. Writes results/perf/targets.csv.
#   10^7 requests through the 64-GPU two-pool MoSKA cluster (moska-disagg-64gpu, 48 unique + 16
#     shared H100s, at 2.6 requests/s as in tools/bench_replay.sh); target <= 30 s on one core, <= 2 GB;
#   a 100,000-GPU cluster: scale-10k-gpus (mooncake, A800 TP8) x 10 = 6,250 prefill + 6,250 decode
#     instances, 10^5 requests at 10 x its 440 requests/s (10^6 ran past 5 minutes: not measured).
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${BIN:-./build/moska-sim}
out=results/perf/targets.csv
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
machine="$(nproc) cores $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), load average $(cut -d' ' -f1 /proc/loadavg) at start"
echo "commit,machine,case,requests,gpus,wall_s,user_s,max_rss_kb,sim_wall_s,events" > "$out"
point() {  # case requests gpus args...
  local case=$1 n=$2 gpus=$3; shift 3
  local t
  t=$(mktemp)
  /usr/bin/time -f "%e %U %M" -o "$t" "$bin" run "$@" > "$t.out"
  read -r wall user kb < "$t"
  local simw events
  simw=$(sed -n 's/.*simulated in \([0-9.]*\) s of wall time.*/\1/p' "$t.out")
  events=$(sed -n 's/.*wall time, \([0-9]*\) events.*/\1/p' "$t.out")
  echo "$commit,\"$machine\",$case,$n,$gpus,$wall,$user,$kb,$simw,$events" | tee -a "$out"
  rm -f "$t" "$t.out"
}
point moska-disagg-64gpu-1e7 10000000 64 workloads/moska-disagg-64gpu.json --set rate=2.6 --set requests=10000000
point mooncake-100k-gpus 100000 100000 workloads/scale-10k-gpus.json --set pools.0.instances=6250 \
  --set pools.1.instances=6250 --set rate=4400 --set requests=100000
