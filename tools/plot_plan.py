#!/usr/bin/env python3
"""Plots `moska-sim plan --out DIR` (DIR/plan.csv, one row per candidate) into DIR/frontier.png:
left, cost per hour against capacity (requests/s meeting the SLOs) of every configuration whose
capacity was searched, the cost-vs-capacity Pareto frontier as a step line, the target load as a
horizontal line and the answer circled; right, cost against P90 TTFT at the target load of every
configuration simulated there (filled: met the SLOs) with the cost-vs-TTFT frontier.
Needs matplotlib (Debian: apt-get install -y python3-matplotlib)."""
import csv
import json
import os
import sys

from plotlib import pyplot

plt = pyplot()

DIR = sys.argv[1]
rows = list(csv.DictReader(open(os.path.join(DIR, "plan.csv"))))
meta = json.load(open(os.path.join(DIR, "plan.json")))
rate = meta["rate_requests_per_s"]


def f(r, k):
    return float(r[k]) if r[k] != "" else None


systems = sorted({r["system"] for r in rows if r["simulated"] == "1" or r["capacity"] != ""})
color = {s: f"C{i}" for i, s in enumerate(systems)}
fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.6))

# Cost vs capacity.
for s in systems:
    pts = [(f(r, "usd_per_hour"), f(r, "capacity")) for r in rows if r["system"] == s and r["capacity"] != ""]
    if pts:
        a1.scatter([p[0] for p in pts], [p[1] for p in pts], s=14, color=color[s], alpha=0.5, label=s)
front = [r for r in rows if r["on_capacity_frontier"] == "1"]
if front:
    a1.step([f(r, "usd_per_hour") for r in front], [f(r, "capacity") for r in front], where="post", color="k", lw=1.2,
            label="Pareto frontier")
    for r in front:
        a1.annotate(f"{r['instances']}x {r['hw']} TP{r['tp']}", (f(r, "usd_per_hour"), f(r, "capacity")), fontsize=6,
                    xytext=(3, -8), textcoords="offset points")
a1.axhline(rate, color="r", ls="--", lw=0.8, label=f"target {rate:g} req/s")
ans = [r for r in rows if r["answer"] == "1"]
for r in ans:
    if r["capacity"] != "":
        a1.scatter([f(r, "usd_per_hour")], [f(r, "capacity")], s=160, facecolors="none", edgecolors="r", lw=1.5, label="answer")
a1.set_xlabel("US$ per hour")
a1.set_ylabel("capacity (requests/s meeting the SLOs)")
a1.set_title("cost vs capacity", fontsize=10)
a1.grid(alpha=0.3)
a1.legend(fontsize=7)

# Cost vs P90 TTFT at the target load.
for s in systems:
    for met, mk in (("1", "o"), ("0", "x")):
        pts = [(f(r, "usd_per_hour"), f(r, "ttft_p90_s")) for r in rows
               if r["system"] == s and r["simulated"] == "1" and r["meets"] == met and r["ttft_p90_s"] != ""]
        if pts:
            a2.scatter([p[0] for p in pts], [p[1] for p in pts], s=12, marker=mk, color=color[s], alpha=0.5,
                       label=f"{s} ({'meets' if met == '1' else 'misses'})")
tf = [r for r in rows if r["on_ttft_frontier"] == "1"]
if tf:
    a2.step([f(r, "usd_per_hour") for r in tf], [f(r, "ttft_p90_s") for r in tf], where="post", color="k", lw=1.2,
            label="Pareto frontier")
slo = meta["slo"]["ttft_s"]
if slo:
    a2.axhline(slo, color="r", ls="--", lw=0.8, label=f"TTFT SLO {slo:g} s")
a2.set_yscale("log")
from matplotlib.ticker import ScalarFormatter  # noqa: E402
a2.yaxis.set_major_formatter(ScalarFormatter())
a2.set_xlabel("US$ per hour")
a2.set_ylabel(f"P90 TTFT at {rate:g} req/s (s)")
a2.set_title("cost vs P90 TTFT at the target load (runs cut short once out of reach are not shown)", fontsize=9)
a2.grid(alpha=0.3)
a2.legend(fontsize=6)
fig.suptitle(os.path.basename(meta["scenario"]) + f" at {rate:g} requests/s", fontsize=10)
fig.tight_layout()
out = os.path.join(DIR, "frontier.png")
fig.savefig(out, dpi=130)
print("wrote", out, file=sys.stderr)
