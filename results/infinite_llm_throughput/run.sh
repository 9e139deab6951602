#!/usr/bin/env bash
# Reproduction (c). Two fixed-load comparisons first (steady.py: SLO capacity and saturation
# throughput over the window, both dispatch policies, vLLM-single serial and steady pipeline, the
# bimodal planner case, the sensitivity to lend_cap / block size / heartbeat / admission), then the
# burst-makespan table (below) kept for comparison with the first cut, then the figure.
# Burst makespan: throughput of Infinite-LLM (v1 reactive lending, v2 planner)
# against vLLM-multi (lending none: requests longer than one instance rejected) and vLLM-single (all
# GPUs one pipelined instance, pipeline_stages = instances) over heavy-tailed context lengths of
# growing spread (lognormal, mean 8K, sigma 1.5, clamped to 16..60K (the v2 paper's short traces: 1-60K),
# 16..200K and 16..2M (its long ones)), 2, 8 and 32 instances of 1xA100-80GB (LLaMA2-7B). 2,000
# requests arrive at once; throughput = output tokens / the time the last one finishes. Writes sweep.csv.
set -euo pipefail
cd "$(dirname "$0")/../.."
sim="${MOSKA_SIM:-./build/moska-sim}"
out=results/infinite_llm_throughput
python3 "$out/steady.py" "$sim" "$out"
echo "Burst makespan (2,000 requests at once; output tokens / the last finish):"
common=(--set workload.generator.requests=2000 --set workload.generator.arrival.process=burst
        --set workload.generator.input_tokens.sigma=1.5 --set workload.generator.input_tokens.max=60000,200000,2000000)
"$sim" sweep workloads/infinite-llm-longtail.json "${common[@]}" --set pools.0.instances=2,8,32 \
  --set lending=none,reactive,planner --out "$out/multi.csv"
for n in 2 8 32; do
  "$sim" sweep workloads/infinite-llm-longtail.json "${common[@]}" --set pools.0.instances=$n --set lending=reactive \
    --set stages=$n --out "$out/single_$n.csv"
done
python3 - "$out" <<'PY'
import csv, sys, os
d = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(d, "multi.csv"))))
for n in (2, 8, 32):
    for r in csv.DictReader(open(os.path.join(d, f"single_{n}.csv"))):
        r["lending"] = "vllm-single"
        r["pools.0.instances"] = str(n)
        rows.append(r)
key = lambda r: (int(r["workload.generator.input_tokens.max"]), int(r["pools.0.instances"]))
with open(os.path.join(d, "sweep.csv"), "w") as f:
    cols = ["workload.generator.input_tokens.max", "pools.0.instances", "lending", "finished", "rejected",
            "unfinished", "sim_s", "output_tok_per_s"]
    w = csv.writer(f)
    w.writerow(["max_tokens", "instances", "system", "finished", "rejected", "unfinished", "sim_s", "output_tok_per_s"])
    for r in sorted(rows, key=key):
        w.writerow([r[c] for c in cols])
print(f"{'max':>7} {'inst':>4} {'vllm-multi':>16} {'reactive':>9} {'planner':>9} {'vllm-single':>11}  x multi  x single")
for k in sorted({key(r) for r in rows}):
    g = {r["lending"]: r for r in rows if key(r) == k}
    t = {s: float(g[s]["output_tok_per_s"]) for s in g}
    print(f"{k[0]:>7} {k[1]:>4} {t['none']:>9.0f} ({g['none']['rejected']:>3} rej) {t['reactive']:>9.0f} "
          f"{t['planner']:>9.0f} {t['vllm-single']:>11.0f}  {max(t['reactive'], t['planner']) / t['none']:6.2f}  "
          f"{max(t['reactive'], t['planner']) / t['vllm-single']:7.2f}")
PY
PY=${PYTHON:-/usr/bin/python3}
"$PY" tools/plot_infinite_llm.py throughput "$out" || echo "plot skipped (matplotlib missing)"
