#!/usr/bin/env bash
# Effective request capacity on the Mooncake conversation trace, as FAST'25 measures it (5.1-5.2.2):
# 16 nodes of 8xA800 per system, the dummy LLaMA3-70B (A800 step fitted to the paper's own decode
# and prefill times: results/mooncake_calibration), TTFT <= 30 s, a request's TBT = the mean of its
# slowest 10% of token gaps.
#   curves.csv   : Fig. 1: the share of all requests meeting both SLOs, over the TBT bound, at
#                  1x, 1.5x and 2x the trace's speed;
#   capacity.csv : the highest replay speed at which >= 90% meet both, at TBT 0.1 / 0.2 / 0.3 s.
# Systems: Mooncake 8P+8D (the paper's 1:1) and the best split P+D = 16; the paper's baselines on
# vLLM 0.5.1's defaults (V0 scheduler: vLLM = whole prompts, max_num_batched_tokens = the model
# length; + prefix caching; chunked prefill = 512-token chunks); and the strongest vLLM we can
# configure: V1 scheduler, chunk size searched (512 ... 16K), prefix caching, prefix-aware routing.
# Writes curves.csv, capacity.csv, capacity_curve.png, capacity_attainment.png. Build first.
set -euo pipefail
cd "$(dirname "$0")/../.."
sim="${MOSKA_SIM:-./build/moska-sim}"
out=results/mooncake_capacity
mc=workloads/mooncake-conversation.json
vl=workloads/vllm-conversation.json
slo=(--slo-ttft 30 --slo-tbt-slowest 10)
declare -A cfg=(
  [vllm-0.5]="$vl --set scheduler.policy=vllm-v0 --set chunked_prefill=false --set scheduler.max_batched_tokens=131072"
  [vllm-0.5-prefix-caching]="$vl --set scheduler.policy=vllm-v0 --set chunked_prefill=false --set scheduler.max_batched_tokens=131072 --set prefix_caching=true"
  [vllm-0.5-chunked-512]="$vl --set scheduler.policy=vllm-v0 --set chunked_prefill=true --set scheduler.max_batched_tokens=512"
)
for c in 512 1024 2048 4096 8192 16384; do
  cfg[vllm-v1-pc-pa-$c]="$vl --set scheduler.max_batched_tokens=$c --set prefix_caching=true --set scheduler.dispatch=prefix-aware"
done
for p in 8 9 10 11 12 13 14; do cfg[mooncake-${p}P$((16 - p))D]="$mc --set pools.0.instances=$p --set pools.1.instances=$((16 - p))"; done

# Fig. 1 curves at 1x, 1.5x and 2x the trace's speed (the paper does not say at which load).
echo "speedup,system,tbt_s,capacity,met,requests" > $out/curves.csv
for sp in 1 1.5 2; do
for s in mooncake-8P8D vllm-0.5 vllm-0.5-prefix-caching vllm-0.5-chunked-512 vllm-v1-pc-pa-512 vllm-v1-pc-pa-2048 vllm-v1-pc-pa-8192; do
  "$sim" capacity ${cfg[$s]} "${slo[@]}" --lo $sp --curve 0.03,0.05,0.07,0.1,0.15,0.2,0.3,0.5,1 --json |
    python3 -c '
import json, sys
j = json.load(sys.stdin)
for p in j["curve"]: print("%s,%s,%g,%.4f,%d,%d" % (sys.argv[2], sys.argv[1], p["tbt_s"], p["attainment"], p["met"], j["requests"]))' "$s" $sp >> $out/curves.csv
done
done

# Capacity searches (in parallel, two at a time).
tmp=$(mktemp -d)
for tbt in 0.1 0.2 0.3; do
  for s in "${!cfg[@]}"; do echo "$tbt $s"; done
done | xargs -P "${JOBS:-2}" -L 1 bash -c '
  tbt=$0; s=$1
  '"$(declare -p cfg)"'
  '"$sim"' capacity ${cfg[$s]} --slo-ttft 30 --slo-tbt-slowest 10 --slo-tbt $tbt --lo 0.5 --tol 0.02 --json > '"$tmp"'/$s@$tbt.json'
python3 - "$tmp" > $out/capacity.csv <<'PY'
import glob, json, os, sys
print("tbt_slo_s,system,status,speedup,capacity_req_s,attainment,ttft_p90_s,req_tbt_slowest_p90_s")
rows = []
for f in glob.glob(os.path.join(sys.argv[1], "*.json")):
    s, tbt = os.path.basename(f)[:-5].rsplit("@", 1)
    j = json.load(open(f)); c = j.get("capacity") or {}
    p = next((q for q in j["probes"] if q["knob"] == c.get("knob")), {})
    rows.append((float(tbt), s, j["status"], c.get("knob", ""), c.get("requests_per_s", ""), c.get("attainment", ""),
                 p.get("ttft_p90_s", ""), p.get("req_tbt_slowest_p90_s", "")))
for r in sorted(rows): print(",".join(str(x) for x in r))
PY
rm -rf "$tmp"
cat $out/capacity.csv
. tools/python_for_plots.sh
"$PY" tools/mooncake_results.py plot-curves $out/curves.csv $out/capacity_curve.png || echo "plot skipped"
"$PY" tools/mooncake_results.py plot-capacity $out/capacity.csv $out/capacity_attainment.png || echo "plot skipped"
