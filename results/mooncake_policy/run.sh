#!/usr/bin/env bash
# Average TTFT by Conductor policy on the Mooncake conversation trace (8 prefill + 8 decode
# instances of 8xA800, the dummy LLaMA3-70B, A800 step fitted to the paper: results/mooncake_calibration), replayed at 1x, 1.5x and 2x. Writes policy_ttft.csv and
# policy_ttft.png. Build first (tools/setup.sh); the plot needs matplotlib.
set -euo pipefail
cd "$(dirname "$0")/../.."
sim="${MOSKA_SIM:-./build/moska-sim}"
out=results/mooncake_policy
tmp=$(mktemp -d)
for sp in 1 1.5 2; do
  for pol in random load-balance local-cache-aware global-cache-aware; do
    "$sim" run workloads/mooncake-conversation.json --set policy=$pol --set speedup=$sp --json > "$tmp/$pol@$sp.json"
  done
done
. tools/python_for_plots.sh
python3 tools/mooncake_results.py policy "$tmp" "$out/policy_ttft.csv"
"$PY" tools/mooncake_results.py plot-policy "$out/policy_ttft.csv" "$out/policy_ttft.png" || echo "plot skipped (matplotlib missing)"
rm -rf "$tmp"
