#!/usr/bin/env bash
# README "plan": how many GPUs of which kind, in which layout, for Llama-3.1-70B (bf16) on the Azure
# LLM inference code trace (2023) at 10 requests/s, TTFT <= 2 s and a request's mean TBT <= 0.1 s for
# 90% of requests? One command over every priced GPU type of hw_profiles/, TP 1..8, 1..64 GPUs,
# token budgets 1024..8192 and every system the scenario gives work to; then the same restricted to
# the GPUs calibrated against measured kernels (H100, H200). Then the check by hand: the answer's run
# command meets the SLOs and the next-cheaper point of the cost-vs-capacity frontier does not.
# Writes plan.txt, plan.json, plan.csv, frontier.png (all GPUs), calibrated/ (H100 + H200), and
# check.txt. Build first; the plots need matplotlib.
set -euo pipefail
cd "$(dirname "$0")/../.."
sim="${MOSKA_SIM:-./build/moska-sim}"
out=results/plan_azure_code_70b
/usr/bin/time -f "wall %e s, user %U s, max RSS %M KB (nproc $(nproc))" -o "$out/time.txt" \
  "$sim" plan plan-azure-code-70b --rate 10 --out "$out" --plots > "$out/plan.txt"
mkdir -p "$out/calibrated"
/usr/bin/time -f "wall %e s, user %U s, max RSS %M KB (nproc $(nproc))" -o "$out/calibrated/time.txt" \
  "$sim" plan plan-azure-code-70b --rate 10 --gpus h100-sxm,h200 --out "$out/calibrated" --plots > "$out/calibrated/plan.txt"
# The check: the answer and the frontier point just cheaper than it, each run as printed.
python3 - "$out" "$sim" > "$out/check.txt" <<'PY'
import json, shlex, subprocess, sys
out, sim = sys.argv[1], sys.argv[2]
for sub in ("", "/calibrated"):
    j = json.load(open(out + sub + "/plan.json"))
    a = j["answer"]
    front = j["capacity_frontier"]
    i = [k for k, c in enumerate(front) if c["run"] == a["run"]][0]
    for label, c in (("answer", a), ("next cheaper on the frontier", front[i - 1])):
        args = shlex.split(c["run"])[1:]
        s = json.loads(subprocess.run([sim] + args + ["--json"], capture_output=True, text=True).stdout)
        print(f"{'calibrated GPUs' if sub else 'all GPUs'}, {label}: ${c['usd_per_hour']:.2f}/h {c['gpus']} x {c['hw']} {c['system']} TP{c['tp']} "
              f"instances {c['instances']}: attainment {100 * s['slo']['attainment']:.1f}% "
              f"(P90 TTFT {s['ttft_s']['p90']:.3f} s) -> {'meets' if s['slo']['attainment'] >= 0.9 else 'misses'} 90%")
PY
cat "$out/check.txt"
