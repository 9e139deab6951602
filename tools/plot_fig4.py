#!/usr/bin/env python3
"""Plots MoSKA Fig. 4 from results/moska_fig4/fig4.csv (results/moska_fig4/run.sh writes it):
batch-scaling capability (the most requests any layout of the budget holds), tokens/s per GPU and throughput normalised to vLLM (else the first baseline
that fits), per shared-context size, one row per GPU budget. Needs matplotlib
(Debian: apt-get install -y python3-matplotlib)."""
import csv
import os
import sys

from plotlib import pyplot

plt = pyplot()

DIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "results", "moska_fig4")
rows = list(csv.DictReader(open(os.path.join(DIR, "fig4.csv"))))
systems = ["vllm", "prefix-cache", "cascade", "sparse", "moska", "moska-disagg"]
configs = []
for r in rows:
    if r["config"] not in configs:
        configs.append(r["config"])
sizes = []
for r in rows:
    if r["shared"] not in sizes:
        sizes.append(r["shared"])

fig, axes = plt.subplots(len(configs), 3, figsize=(18, 4.6 * len(configs)), squeeze=False)
width = 0.8 / len(systems)
for ci, cfg in enumerate(configs):
    sub = [r for r in rows if r["config"] == cfg]
    gpus = sub[0]["gpu_budget"]
    for col, (key, label, log) in enumerate([("max_batch_any_layout", "batch-scaling capability (requests)", True),
                                             ("tokens_per_s_per_gpu", "decode tokens/s per GPU", True),
                                             ("normalized", "throughput per GPU / baseline's", True)]):
        ax = axes[ci][col]
        for si, s in enumerate(systems):
            xs, ys = [], []
            for xi, size in enumerate(sizes):
                r = next(r for r in sub if r["system"] == s and r["shared"] == size)
                x = xi + (si - (len(systems) - 1) / 2) * width
                if r["fits"] == "1" and r[key] not in ("", "0"):
                    xs.append(x)
                    ys.append(float(r[key]))
                else:
                    ax.text(x, 0.02, "x", transform=ax.get_xaxis_transform(), ha="center", fontsize=8, color=f"C{si}")
            ax.bar(xs, ys, width, label=s, color=f"C{si}")
        ax.set_xticks(range(len(sizes)))
        ax.set_xticklabels([f"{s}" for s in sizes])
        ax.set_xlabel("shared context (tokens); x = does not fit")
        ax.set_ylabel(label)
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3, axis="y", which="both")
        base = sorted({r["baseline"] for r in sub if r["baseline"]})
        title = {0: "batch-scaling capability", 1: "throughput per GPU",
                 2: "normalised throughput (per GPU, over " + "/".join(base) + ")"}[col]
        ax.set_title(f"{cfg} ({gpus} H100): {title}", fontsize=10)
        if col == 0:
            ax.legend(fontsize=7, ncol=2)
fig.suptitle("MoSKA Fig. 4 (moska-sim scaling): FP8 Llama-3.1-8B, 64K unique tokens per request, 75% sparsity; "
             "each system at its best layout of the GPU budget", fontsize=11)
fig.tight_layout()
out = os.path.join(DIR, "fig4.png")
fig.savefig(out, dpi=120)
print("wrote", os.path.relpath(out))
