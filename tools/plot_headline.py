#!/usr/bin/env python3
"""Plots results/moska_headline/sensitivity.csv (written by results/moska_headline/run.sh): MoSKA's
tokens/s per GPU over each baseline's, per one-factor-at-a-time variant, against the paper's 538.7x.
Needs matplotlib (Debian: apt-get install -y python3-matplotlib)."""
import csv
import os
import sys

from plotlib import pyplot

plt = pyplot()

DIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "results", "moska_headline")
rows = list(csv.DictReader(open(os.path.join(DIR, "sensitivity.csv"))))
labels = [f"{r['factor']}: {r['value']}" if r["value"] else "base" for r in rows]
series = [("disagg_over_vllm", "moska-disagg / vllm"), ("disagg_over_prefix-cache", "moska-disagg / prefix-cache"),
          ("coloc_over_vllm", "moska (colocated) / vllm"), ("coloc_over_prefix-cache", "moska (colocated) / prefix-cache"),
          ("disagg_over_cascade", "moska-disagg / cascade")]
fig, ax = plt.subplots(figsize=(15, 6))
w = 0.8 / len(series)
for si, (key, name) in enumerate(series):
    xs = [i + (si - (len(series) - 1) / 2) * w for i in range(len(rows))]
    ys = [float(r[key]) if r[key] else 0 for r in rows]
    ax.bar(xs, ys, w, label=name)
ax.axhline(538.7, color="k", ls="--", lw=1)
ax.text(len(rows) - 0.5, 538.7 * 1.08, "paper: up to 538.7x", ha="right", fontsize=9)
ax.axhline(1, color="grey", lw=0.8)
ax.set_yscale("log")
ax.set_ylim(0.1, 20000)
ax.set_xticks(range(len(rows)))
ax.set_xticklabels(labels, rotation=35, ha="right", fontsize=8)
ax.set_ylabel("MoSKA tokens/s per GPU over the baseline's")
ax.set_title("MoSKA over the baselines at 16M shared tokens (moska-sim scaling), one factor at a time from the base "
             "(32 H100, 64K unique, 75% sparsity, 4K chunks, uniform routing, calibrated)", fontsize=10)
ax.legend(fontsize=8, ncol=5, loc="upper left")
ax.grid(alpha=0.3, axis="y", which="both")
fig.tight_layout()
out = os.path.join(DIR, "headline.png")
fig.savefig(out, dpi=120)
print("wrote", os.path.relpath(out))
