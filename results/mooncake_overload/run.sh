#!/usr/bin/env bash
# Overload: the Mooncake conversation trace replayed faster than the cluster can serve, with each
# admission policy (none, reject at decode = the paper's baseline, early, prediction-based early).
#  decode-bound : 8 prefill (8xA800) + 8 decode (2xA800) instances, trace at 2x: decode KV binds
#  prefill-bound: 8 prefill + 8 decode instances of 8xA800, trace at 4x: prefill binds
# SLO: TTFT <= 30 s, TBT <= 0.1 s. Writes overload_<case>.csv, runs/<case>/<admission>/ and
# load_<case>.png. Build first; the plots need matplotlib.
set -euo pipefail
cd "$(dirname "$0")/../.."
sim="${MOSKA_SIM:-./build/moska-sim}"
out=results/mooncake_overload
. tools/python_for_plots.sh
run_case() {  # name, then --set overrides
  local name=$1; shift
  local dir="$out/runs/$name"
  mkdir -p "$dir"
  for adm in none decode early predicted; do
    "$sim" run workloads/mooncake-conversation.json "$@" --set admission=$adm --out "$dir/$adm" --json > "$dir/$adm.json"
    rm -f "$dir/$adm/requests.csv"  # 12k rows each: regenerate with run.sh if needed
  done
  python3 tools/mooncake_results.py overload "$dir" "$out/overload_$name.csv"
  "$PY" tools/mooncake_results.py plot-overload "$dir" "$out/load_$name.png" || echo "plot skipped (matplotlib missing)"
}
run_case decode-bound --set speedup=2 --set pools.1.tp=2
run_case prefill-bound --set speedup=4
