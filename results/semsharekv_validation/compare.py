#!/usr/bin/env python3
"""Predicts every measured prefill of partial_prefill_h200.txt with `moska-sim run` (system semsharekv,
one request, no host or PCIe time: the prefill iteration alone) and prints measured vs predicted.
Run from the repository root after building: python3 results/semsharekv_validation/compare.py"""
import json
import statistics
import subprocess

HERE = "results/semsharekv_validation/"
rows = [l.split() for l in open(HERE + "partial_prefill_h200.txt") if l.strip() and not l.startswith("#")]
# The calib branch's measurements of the same prefills (tools/profile_kernels.py composite_ext), as a second set.
for line in open("hw_profiles/h200/composite_ext.csv").read().splitlines()[1:]:
    f = line.split(",")
    if f[1] == "llama-3.1-8b" and f[2] in ("eager", "flash2") and f[3] == "bf16" and (f[0] == "partial" or (f[0] == "prefill" and f[2] == "eager")):
        P, r = int(f[8]), float(f[12]) if f[0] == "partial" else 1.0
        rows.append(["full" if f[0] == "prefill" else "part", "1" if f[2] == "eager" else "0", str(P), str(r),
                     str(max(1, round(r * P))), f[14], "calib"])
out = []
for row in rows:
    kind, be, P, r, m, t = row[:6]
    src = row[6] if len(row) > 6 else "this branch"
    P, r, t = int(P), float(r), float(t) / 1e6
    att = "eager" if be == "1" else "flash"
    sets = ["input_tokens=%d" % P, "attention=" + att, "semsharekv.match.fixed_s=0", "semsharekv.match.search_s_per_prompt=0",
            "semsharekv.load.bandwidth_gbps=1e9", "requests=1"]
    if kind == "full":
        sets.append("reuse_policy=full")
    else:
        sets += ["semsharekv.recompute.first=%g" % r, "semsharekv.recompute.decay=1", "semsharekv.recompute.min=%g" % r]
    args = ["./build/moska-sim", "run", "workloads/semsharekv-ttft.json", "--json"]
    for s in sets:
        args += ["--set", s]
    p = json.loads(subprocess.check_output(args))["ttft_s"]["mean"]
    out.append((kind, att, P, r, int(m), t, p, (p - t) / t, src))
print("| measured by | prefill | attention | tokens P | recompute r | m | measured ms | predicted ms | error |")
print("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
for k, a, P, r, m, t, p, e, src in out:
    print("| %s | %s | %s | %d | %g | %d | %.2f | %.2f | %+.1f%% |" % (src, "full" if k == "full" else "partial", a, P, r, m, t * 1e3, p * 1e3, e * 100))
for src in ("this branch", "calib"):
    for a in ("flash", "eager"):
        e = [abs(o[7]) for o in out if o[1] == a and o[8] == src]
        print("\n%s, %s: %d points, median |error| %.1f%%, max %.1f%%" % (src, a, len(e), statistics.median(e) * 100, max(e) * 100))
