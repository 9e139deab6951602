#!/usr/bin/env python3
"""Plots MoSKA Fig. 1 from results/moska_fig1/*.csv (written by results/moska_fig1/make_data.py).
Run by hand (results/moska_fig1/run.sh does both); needs matplotlib (Debian: apt-get install -y python3-matplotlib)."""
import csv
import os
import sys

from plotlib import pyplot

plt = pyplot()

DIR = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "results", "moska_fig1")


def load(name):
    with open(os.path.join(DIR, name)) as f:
        rows = list(csv.DictReader(f))
    return {k: [float(r[k]) for r in rows] for k in rows[0]}


seq = load("kv_vs_seq.csv")
bat = load("kv_vs_batch.csv")
bw = load("bandwidth_vs_batch.csv")
fig, ax = plt.subplots(1, 3, figsize=(17, 5))

a = ax[0]
x = seq["seq_tokens"]
for k, style in [("MHA-equivalent BF16 held GiB", "-"), ("GQA BF16 held GiB", "-"), ("GQA FP8 held GiB", "-"),
                 ("GQA FP8 + 75% sparsity read per step GiB", "--")]:
    a.plot(x, seq[k], style, marker="o", ms=3, label=k.replace(" GiB", ""))
a.axhline(81559 / 1024, color="grey", lw=0.8)
a.text(x[0], 81559 / 1024 * 1.1, "one H100 (80 GB)", fontsize=8, color="grey")
a.axhline(8 * 81559 / 1024, color="grey", lw=0.8, ls=":")
a.text(x[0], 8 * 81559 / 1024 * 1.1, "8x H100 node", fontsize=8, color="grey")
a.set_xscale("log", base=2)
a.set_yscale("log")
a.set_xlabel("sequence length (tokens)")
a.set_ylabel("KV cache per request (GiB)")
a.set_title("(a) KV per request, Llama-3.1-8B\n(sparsity cuts bytes read, not bytes held)")
a.legend(fontsize=7)
a.grid(alpha=0.3, which="both")

b = ax[1]
x = bat["batch"]
b.plot(x, bat["no sharing (copy per request) GiB"], marker="o", ms=3, label="copy per request (vllm)")
b.plot(x, bat["shared KV stored once GiB"], marker="o", ms=3, label="shared KV stored once (prefix cache, MoSKA)")
b.plot(x, bat["8x H100 HBM GiB"], color="grey", ls=":", label="8x H100 HBM")
b.set_xscale("log", base=2)
b.set_yscale("log")
b.set_xlabel("batch (requests)")
b.set_ylabel("KV held (GiB), GQA FP8")
b.set_title("(b) KV held vs batch: 1M shared + 64K unique tokens\n(sharing solves capacity)")
b.legend(fontsize=7)
b.grid(alpha=0.3, which="both")

c = ax[2]
x = bw["batch"]
for k in ["vllm (copy per request) GB", "prefix-cache (stored once, read per request) GB", "sparse (top-k read per request) GB",
          "cascade (batched, all chunks once) GB", "moska (batched, routed chunks once) GB", "no shared context GB"]:
    c.plot(x, bw[k], marker="o", ms=3, ls="--" if k.startswith("prefix") else "-", label=k.replace(" GB", ""))
c.set_xscale("log", base=2)
c.set_yscale("log")
c.set_xlabel("batch (requests)")
c.set_ylabel("HBM bytes read per decode step (GB)")
c.set_title("(c) bandwidth per step: 1M shared + 64K unique, FP8\n(prefix caching shares capacity, not bandwidth)")
sec = c.secondary_yaxis("right", functions=(lambda g: g / (8 * 3.35), lambda t: t * 8 * 3.35))
sec.set_ylabel("ms at 8 x 3.35 TB/s")
c.legend(fontsize=7)
c.grid(alpha=0.3, which="both")

fig.tight_layout()
out = os.path.join(DIR, "fig1.png")
fig.savefig(out, dpi=130)
print("wrote", os.path.relpath(out))
