#!/usr/bin/env python3
"""Plots `moska-sim run --out DIR --plots` into DIR/run.png from DIR/requests.csv and the run's
Chrome/Perfetto trace (DIR/trace.json unless a second argument names it):
  - the CDFs of TTFT, a request's mean TBT and end-to-end latency (finished requests), with the SLO;
  - per pool over time, the mean batch per instance (decodes + prefill chunks of its iterations),
  - the KV held (tokens, summed over the pool's instances; as a share of their capacity where known),
  - the utilisation: the share of time the pool's instances were running an iteration.
Time series are time-weighted means over 100 bins of the run. Needs matplotlib (Debian:
apt-get install -y python3-matplotlib)."""
import csv
import json
import os
import sys

from plotlib import pyplot

plt = pyplot()

DIR = sys.argv[1]
TRACE = sys.argv[2] if len(sys.argv) > 2 else os.path.join(DIR, "trace.json")
reqs = [r for r in csv.DictReader(open(os.path.join(DIR, "requests.csv"))) if r["status"] == "finished"]
summary = json.load(open(os.path.join(DIR, "summary.json"))) if os.path.exists(os.path.join(DIR, "summary.json")) else {}
events = json.load(open(TRACE))["traceEvents"]

pool_name, instances = {}, {}
for e in events:
    if e["ph"] == "M" and e["name"] == "process_name":
        pool_name[e["pid"]] = e["args"]["name"]
    elif e["ph"] == "M" and e["name"] == "thread_name":
        instances.setdefault(e["pid"], set()).add(e["tid"])
its = [e for e in events if e["ph"] == "X"]
t_end = max([e["ts"] + e["dur"] for e in its] + [1.0])
BINS = 100
width = t_end / BINS


def overlap(ts, dur):
    """(bin, seconds of [ts, ts+dur) in it) pairs; timestamps in microseconds."""
    b = int(ts // width)
    end = ts + dur
    while b < BINS and b * width < end:
        lo, hi = max(ts, b * width), min(end, (b + 1) * width)
        if hi > lo:
            yield b, hi - lo
        b += 1


pools = sorted({e["pid"] for e in its})
busy = {p: [0.0] * BINS for p in pools}
batch = {p: [0.0] * BINS for p in pools}
kv = {p: [0.0] * BINS for p in pools}
cap = {p: 0.0 for p in pools}
cap_seen = {p: {} for p in pools}
for e in its:
    p, a = e["pid"], e["args"]
    cap_seen[p][e["tid"]] = max(cap_seen[p].get(e["tid"], 0), a.get("kv_capacity", 0))
    for b, s in overlap(e["ts"], e["dur"]):
        busy[p][b] += s
        batch[p][b] += s * (a.get("decodes", 0) + a.get("prefill_chunks", 0))
        kv[p][b] += s * a.get("kv_tokens", 0)
for p in pools:
    cap[p] = sum(cap_seen[p].values())

fig, axes = plt.subplots(2, 2, figsize=(12, 8))
ax = axes[0][0]
slo = summary.get("slo", {}) if isinstance(summary.get("slo"), dict) else {}
for key, label in (("ttft_s", "TTFT"), ("tbt_s", "mean TBT per request"), ("e2e_s", "end-to-end")):
    xs = sorted(float(r[key]) for r in reqs if r[key] != "")
    if xs:
        ax.plot(xs, [(i + 1) / len(xs) for i in range(len(xs))], label=f"{label} (p90 {xs[int(0.9 * (len(xs) - 1))]:.3g} s)")
for key, label in (("ttft_s", "TTFT SLO"), ("tbt_s", "TBT SLO")):
    if slo.get(key):
        ax.axvline(slo[key], ls="--", lw=0.8, color="r" if key == "ttft_s" else "m", label=f"{label} {slo[key]:g} s")
ax.set_xscale("log")
ax.set_xlabel("seconds")
ax.set_ylabel("share of finished requests")
ax.set_title(f"latency CDFs ({len(reqs)} finished requests)", fontsize=10)
ax.grid(alpha=0.3)
ax.legend(fontsize=7)

t = [(b + 0.5) * width / 1e6 for b in range(BINS)]
kv_tokens_ax = None
for ax, title, series in ((axes[0][1], "mean batch per running iteration (decodes + prefill chunks)", "batch"),
                          (axes[1][0], "KV held (solid: % of the pool's capacity; dashed: tokens, right axis)", "kv"),
                          (axes[1][1], "utilisation: share of time instances run an iteration", "busy")):
    for i, p in enumerate(pools):
        n = max(1, len(instances.get(p, ())))
        name = f"{pool_name.get(p, p)} ({n} inst.)"
        target, style = ax, "-"
        if series == "batch":
            ys = [batch[p][b] / busy[p][b] if busy[p][b] > 0 else 0 for b in range(BINS)]
        elif series == "kv":
            ys = [kv[p][b] / width for b in range(BINS)]
            if cap[p] > 0:
                ys = [100 * y / cap[p] for y in ys]
                name += f" of {cap[p]:.3g} tokens"
            else:
                kv_tokens_ax = kv_tokens_ax or ax.twinx()
                target, style = kv_tokens_ax, "--"
        else:
            ys = [100 * busy[p][b] / (width * n) for b in range(BINS)]
        target.plot(t, ys, style, color=f"C{i}", label=name)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel("simulated time (s)")
    ax.grid(alpha=0.3)
    handles, labels = ax.get_legend_handles_labels()
    if series == "kv" and kv_tokens_ax is not None:
        h2, l2 = kv_tokens_ax.get_legend_handles_labels()
        handles, labels = handles + h2, labels + l2
        kv_tokens_ax.set_ylabel("KV held (tokens; capacity not in the trace)")
    ax.legend(handles, labels, fontsize=7)
axes[0][1].set_ylabel("requests per iteration")
axes[1][0].set_ylabel("KV held (% of capacity)")
axes[1][1].set_ylabel("% of time busy")
axes[1][1].set_ylim(0, 105)
title = summary.get("scenario") if isinstance(summary.get("scenario"), str) else os.path.basename(os.path.abspath(DIR))
fig.suptitle(title, fontsize=10)
fig.tight_layout()
out = os.path.join(DIR, "run.png")
fig.savefig(out, dpi=130)
print("wrote", out, file=sys.stderr)
