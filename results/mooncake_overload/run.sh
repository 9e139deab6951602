#!/usr/bin/env bash
# Overload: the Mooncake conversation trace replayed faster than the cluster can serve, with each
# admission policy (sim/systems/mooncake/admission.*; none of them sees a request's output length):
#   none      : admit everything;
#   decode    : prefill everything, reject at the hand-off when the decode instance cannot take it;
#   baseline  : the paper's baseline (arXiv v3 8.2): reject at arrival on prefill load, at the
#               hand-off on decode load;
#   early     : reject at arrival on the prefill and the decode load seen now;
#   predicted : reject at arrival on the decode pool's load predicted for when the request would
#               reach decode (output lengths from the requests seen so far, finished or not).
# SLO: TTFT <= 30 s, TBT (the mean of a request's slowest 10% of token gaps) <= 0.1 s.
#  paper-setting: 8 prefill + 8 decode instances of 8xA800 (the paper's), trace at 2x (the paper's speed)
#  tbt-bound    : 13 prefill + 3 decode instances of 8xA800, trace at 3x: the decode pool's TBT binds
#  prefill-bound: 8 prefill + 8 decode instances of 8xA800 (the paper's), trace at 4x: prefill binds
# Writes overload_<case>.csv, runs/<case>/<admission>/ (summary + load_timeline.csv) and
# load_<case>.png (the load-oscillation plot). Build first; the plots need matplotlib.
set -euo pipefail
cd "$(dirname "$0")/../.."
sim="${MOSKA_SIM:-./build/moska-sim}"
out=results/mooncake_overload
. tools/python_for_plots.sh
run_case() {  # name, then --set overrides
  local name=$1; shift
  local dir="$out/runs/$name"
  mkdir -p "$dir"
  for adm in none decode baseline early predicted; do
    "$sim" run workloads/mooncake-conversation.json "$@" --set admission=$adm --set slo.tbt_slowest_percent=10 \
      --out "$dir/$adm" --json > "$dir/$adm.json"
    rm -f "$dir/$adm/requests.csv"  # 12k rows each: regenerate with run.sh if needed
  done
  python3 tools/mooncake_results.py overload "$dir" "$out/overload_$name.csv"
  "$PY" tools/mooncake_results.py plot-overload "$dir" "$out/load_$name.png" || echo "plot skipped (matplotlib missing)"
}
run_case paper-setting --set speedup=2
run_case tbt-bound --set speedup=3 --set pools.0.instances=13 --set pools.1.instances=3
run_case prefill-bound --set speedup=4
column -s, -t < $out/overload_paper-setting.csv
column -s, -t < $out/overload_tbt-bound.csv
column -s, -t < $out/overload_prefill-bound.csv
