#!/usr/bin/env bash
# Long context: capacity under SLO (TTFT <= 30 s, per-request mean TBT <= 0.1 s for >= 90% of
# requests) of Mooncake vs vLLM on 8 nodes of 8xA800 (LLaMA2-70B), fixed prompts of 16K..128K
# tokens, 256-768 output tokens, Poisson arrivals. vLLM: 8 colocated instances with chunked prefill.
# Mooncake: every split P + D = 8 (P = 4..7) with and without chunked pipeline prefill over 2 nodes;
# the best is kept. Writes longctx.csv (every configuration) and longctx.png. Build first.
set -euo pipefail
cd "$(dirname "$0")/../.."
sim="${MOSKA_SIM:-./build/moska-sim}"
out=results/mooncake_longctx
csv=$out/longctx.csv
echo "prompt_tokens,system,config,status,capacity_req_s,goodput_output_tokens_per_s,attainment" > "$csv"
cap() {  # prompt, system, config label, scenario, overrides...
  local n=$1 sys=$2 label=$3 scen=$4; shift 4
  "$sim" capacity "$scen" --set workload.generator.input_tokens.value=$n "$@" --json |
    python3 -c '
import json, sys
j = json.load(sys.stdin); c = j.get("capacity") or {}
print(",".join(str(x) for x in [sys.argv[1], sys.argv[2], sys.argv[3], j["status"], c.get("knob", 0),
      c.get("goodput_output_tokens_per_s", 0), c.get("attainment", "")]))' $n $sys "$label"
}
for n in 16K 32K 64K 128K; do
  cap $n vllm 8x1 $out/vllm.json >> "$csv"
  for p in 4 5 6 7; do
    for cpp in 1 2; do
      [ $((p % cpp)) -eq 0 ] || continue
      cap $n mooncake "${p}P$((8 - p))D-cpp$cpp" $out/mooncake.json --set pools.0.instances=$p \
        --set pools.1.instances=$((8 - p)) --set mooncake.cpp_nodes=$cpp >> "$csv"
    done
  done
done
python3 - "$csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
print(f"{'prompt':>8} {'vllm req/s':>11} {'mooncake best':>22} {'req/s':>8} {'gain':>7}")
for n in dict.fromkeys(r["prompt_tokens"] for r in rows):
    v = next(float(r["capacity_req_s"] or 0) for r in rows if r["prompt_tokens"] == n and r["system"] == "vllm")
    m = max((r for r in rows if r["prompt_tokens"] == n and r["system"] == "mooncake"), key=lambda r: float(r["capacity_req_s"] or 0))
    mc = float(m["capacity_req_s"] or 0)
    print(f"{n:>8} {v:>11.4g} {m['config']:>22} {mc:>8.4g} {100 * (mc / v - 1) if v else float('nan'):>6.0f}%")
PY
. tools/python_for_plots.sh
"$PY" tools/mooncake_results.py plot-longctx "$csv" "$out/longctx.png" || echo "plot skipped"
