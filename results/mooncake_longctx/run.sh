#!/usr/bin/env bash
# Long context, as arXiv 2407.00079v3 8.1.2 sets it: 4 nodes of 8xA800, the dummy LLaMA3-70B (A800
# step fitted to the papers: results/mooncake_calibration), prompts of a fixed 16K / 32K / 64K / 128K
# tokens with a 50% prefix-cache ratio (gen_trace.py: 4 shared documents), 512 output tokens, Poisson
# arrivals (200 requests per point). SLO: >= 90% of requests with TTFT <= 30 s and TBT (mean of the
# slowest 10% of a request's token gaps) <= 0.1 s; `capacity` finds the highest arrival rate.
#   vllm-batch1 : the paper's baseline, vLLM on the 4 nodes, one request at a time per node (v0
#                 scheduler, whole prompts);
#   vllm-best   : the strongest vLLM we configure on the same nodes: V1 continuous batching, chunked
#                 prefill (chunk 512 / 2K / 8K searched), prefix caching, prefix-aware routing;
#   mooncake    : every split P + D = 4 (P = 1..3), with and without chunked pipeline prefill (CPP).
# Writes longctx.csv (every configuration) and longctx.png. Build first.
set -euo pipefail
cd "$(dirname "$0")/../.."
sim="${MOSKA_SIM:-./build/moska-sim}"
out=results/mooncake_longctx
csv=$out/longctx.csv
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "prompt_tokens,system,config,status,capacity_req_s,attainment,ttft_p90_s,req_tbt_slowest_p90_s" > "$csv"
jobs=()
for n in 16384 32768 65536 131072; do
  python3 $out/gen_trace.py $n 200 1 "$tmp/trace_$n.jsonl"
  t="--set workload.trace.path=$tmp/trace_$n.jsonl"
  jobs+=("$n vllm batch1 $out/vllm.json $t")
  for c in 512 2048 8192; do
    jobs+=("$n vllm-best v1-pc-pa-$c $out/vllm.json $t --set scheduler.policy=vllm-v1 --set scheduler.max_batch=256 --set chunked_prefill=true --set scheduler.max_batched_tokens=$c --set prefix_caching=true --set scheduler.dispatch=prefix-aware")
  done
  for p in 1 2 3; do
    for cpp in 1 2 3; do
      [ $((p % cpp)) -eq 0 ] && { [ $cpp -eq 1 ] || [ $cpp -eq $p ]; } || continue
      jobs+=("$n mooncake ${p}P$((4 - p))D-cpp$cpp $out/mooncake.json $t --set pools.0.instances=$p --set pools.1.instances=$((4 - p)) --set mooncake.cpp_nodes=$cpp")
    done
  done
done
printf '%s\n' "${jobs[@]}" | xargs -P "${JOBS:-2}" -L 1 bash -c '
  n=$0 sys=$1 label=$2; shift 2
  '"$sim"' capacity "$@" --slo-ttft 30 --slo-tbt 0.1 --slo-tbt-slowest 10 --knob speedup --lo 0.05 --json > '"$tmp"'/$n@$sys@$label.json'
python3 - "$tmp" >> "$csv" <<'PY'
import glob, json, os, sys
rows = []
for f in glob.glob(os.path.join(sys.argv[1], "*@*.json")):
    n, s, label = os.path.basename(f)[:-5].split("@")
    j = json.load(open(f)); c = j.get("capacity") or {}
    p = next((q for q in j["probes"] if q["knob"] == c.get("knob")), {})
    rows.append((int(n), s, label, j["status"], c.get("requests_per_s", 0), c.get("attainment", ""),
                 p.get("ttft_p90_s", ""), p.get("req_tbt_slowest_p90_s", "")))
for r in sorted(rows): print(",".join(str(x) for x in r))
PY
python3 - "$csv" <<'PY'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
best = lambda n, s: max((r for r in rows if r["prompt_tokens"] == n and r["system"] == s), key=lambda r: float(r["capacity_req_s"] or 0))
print(f"{'prompt':>7} {'vllm batch-1':>12} {'vllm best':>22} {'mooncake best':>22} {'gain/b1':>8} {'gain/best':>9}")
for n in dict.fromkeys(r["prompt_tokens"] for r in rows):
    v, b, m = best(n, "vllm"), best(n, "vllm-best"), best(n, "mooncake")
    fv, fb, fm = (float(x["capacity_req_s"] or 0) for x in (v, b, m))
    g = lambda a, b: f"{100 * (a / b - 1):+.0f}%" if b else "n/a"
    print(f"{n:>7} {fv:>12.4g} {b['config'] + ' ' + format(fb, '.4g'):>22} {m['config'] + ' ' + format(fm, '.4g'):>22} {g(fm, fv):>8} {g(fm, fb):>9}")
PY
. tools/python_for_plots.sh
"$PY" tools/mooncake_results.py plot-longctx "$csv" "$out/longctx.png" || echo "plot skipped"
