#!/usr/bin/env python3
"""Plots MoSKA Fig. 5 from results/moska_fig5/fig5_static.csv and fig5_dynamic.csv (written by
results/moska_fig5/run.sh): MFU, HBM bandwidth and HBM capacity use of each pool, per system.
Needs matplotlib (Debian: apt-get install -y python3-matplotlib)."""
import csv
import os
import sys

from plotlib import pyplot

plt = pyplot()

DIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "results", "moska_fig5")
static = list(csv.DictReader(open(os.path.join(DIR, "fig5_static.csv"))))
dynamic = list(csv.DictReader(open(os.path.join(DIR, "fig5_dynamic.csv"))))
POINTS = [("node8", "1M"), ("node8", "4M"), ("cluster32", "8M"), ("cluster32", "16M")]
METRICS = [("mfu", "MFU"), ("hbm_bw_util", "HBM bandwidth used"), ("hbm_capacity_util", "HBM capacity held")]
SYS = ["vllm", "prefix-cache", "cascade", "sparse", "moska", "moska-disagg"]

fig, axes = plt.subplots(len(METRICS), len(POINTS) + 1, figsize=(4.2 * (len(POINTS) + 1), 3.2 * len(METRICS)))


def bars(ax, rows, key):
    labels, vals, colors = [], [], []
    for r in sorted(rows, key=lambda r: (SYS.index(r["system"]), r["pool"] != "unique")):
        labels.append(r["system"] if r["system"] != "moska-disagg" else f"disagg/{r['pool']}")
        vals.append(100 * float(r[key]))
        colors.append(f"C{SYS.index(r['system'])}" if r["pool"] != "shared" else "C9")
    ax.bar(range(len(vals)), vals, color=colors)
    for i, v in enumerate(vals):
        ax.text(i, v, f"{v:.0f}" if v >= 1 else f"{v:.1f}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=45, ha="right", fontsize=7)
    ax.set_ylim(0, 105)
    ax.grid(alpha=0.3, axis="y")


for mi, (key, label) in enumerate(METRICS):
    for pi, (cfg, size) in enumerate(POINTS):
        ax = axes[mi][pi]
        rows = [r for r in static if r["config"] == cfg and r["shared"] == size]
        bars(ax, rows, key)
        if mi == 0:
            ax.set_title(f"static: {cfg}, {size} shared\n(full decode batch, moska-sim scaling)", fontsize=9)
        if pi == 0:
            ax.set_ylabel(f"{label} (%)")
    ax = axes[mi][len(POINTS)]
    dkey = "hbm_capacity_used_mean" if key == "hbm_capacity_util" else key
    bars(ax, dynamic, dkey)
    if mi == 0:
        ax.set_title("dynamic: node8, 1M shared, moska-sim run\n(300 x 64K prompts, prefill + decode)", fontsize=9)
fig.suptitle("MoSKA Fig. 5 (moska-sim): per-pool utilisation, FP8 Llama-3.1-8B, 64K unique tokens per request, "
             "75% sparsity (disagg/shared in grey-blue)", fontsize=11)
fig.tight_layout()
out = os.path.join(DIR, "fig5.png")
fig.savefig(out, dpi=110)
print("wrote", os.path.relpath(out))
