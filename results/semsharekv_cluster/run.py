#!/usr/bin/env python3
"""Reproduction (c), ours (the paper has no serving experiment): 8 x H200 serving Llama-3.1-8B (bf16,
FlashAttention-class kernels) on summarisation-like prompts in families of rewrites; throughput and
TTFT against the offered load, for full recomputation (vllm), exact prefix caching (vllm automatic
prefix caching on the families' shared prefix blocks), CacheBlend-style reuse and SemShareKV.
Writes results/semsharekv_cluster/load.csv and prints the README tables. Run from the repository root."""
import csv
import io
import subprocess

SCEN = "workloads/semsharekv-cluster.json"
RATES = [30, 45, 60, 75, 90, 105, 120]
SYSTEMS = [
    ("full recompute (vllm)", ["system=vllm"]),
    ("prefix caching (vllm APC)", ["system=vllm", "prefix_caching=true"]),
    ("CacheBlend-style (ratio 0.15)", ["reuse_policy=cacheblend"]),
    ("SemShareKV", ["reuse_policy=semantic"]),
    ("SemShareKV, 1 ms host cost", ["reuse_policy=semantic", "semsharekv.match.fixed_s=0.001"]),
]
COLS = ["requests_per_s", "output_tok_per_s", "ttft_mean_s", "ttft_p50_s", "ttft_p90_s", "ttft_p99_s", "tbt_mean_s",
        "pool0_hbm_used", "finished"]


def run(extra):
    args = ["./build/moska-sim", "sweep", SCEN, "--jobs", "2", "--set", "rate=" + ",".join(map(str, RATES))]
    for e in extra:
        args += ["--set", e]
    text = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return {int(float(r["rate"])): r for r in csv.DictReader(io.StringIO(text))}


res = {name: run(extra) for name, extra in SYSTEMS}
with open("results/semsharekv_cluster/load.csv", "w") as f:
    f.write("system,rate," + ",".join(COLS) + "\n")
    for name, _ in SYSTEMS:
        for rate in RATES:
            r = res[name][rate]
            f.write('"%s",%d,%s\n' % (name, rate, ",".join(r[c] for c in COLS)))
print("| offered req/s | " + " | ".join(n for n, _ in SYSTEMS) + " |")
print("| ---: |" + " ---: |" * len(SYSTEMS))
for rate in RATES:
    cells = []
    for name, _ in SYSTEMS:
        r = res[name][rate]
        cells.append("%.1f req/s, TTFT %.2f / %.2f s" % (float(r["requests_per_s"]), float(r["ttft_p50_s"]), float(r["ttft_p90_s"])))
    print("| %d | %s |" % (rate, " | ".join(cells)))
