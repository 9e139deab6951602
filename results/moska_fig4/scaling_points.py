"""Drives `moska-sim scaling` over cluster layouts (shared by results/moska_fig4, _fig5 and _headline).

For a fixed GPU budget each system gets its best layout, chosen by tokens/s per GPU:
  colocated systems (vllm, prefix-cache, cascade, sparse, moska): `instances` x TP `tp` = budget, for
  each tp in TPS that divides the budget (each TP group holds its own copy of the shared KV);
  moska-disagg: `u` unique GPUs (TP 1 each) + `s` shared GPUs (TP 1 each), u + s = budget, every split.
Every number comes from the simulator; this file only chooses among layouts and records which won
(and, as max_batch_any_layout, the largest batch any layout of the budget can hold).
"""
import json
import os
import subprocess
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("MOSKA_SIM", os.path.join(ROOT, "build", "moska-sim"))
COLOCATED = ["vllm", "prefix-cache", "cascade", "sparse", "moska"]
BASELINES = ["vllm", "prefix-cache", "cascade", "sparse"]


def check_binary():
    if not os.access(BIN, os.X_OK):
        sys.exit(f"error: {BIN} not found; build first: cmake -S . -B build -DCMAKE_BUILD_TYPE=Release && cmake --build build -j2")


def scaling(scenario, sets, systems, ctx=65536, max_batch=0):
    cmd = [BIN, "scaling", scenario, "--json", "--ctx", str(ctx), "--systems", ",".join(systems)]
    if max_batch:
        cmd += ["--max-batch", str(max_batch)]
    for s in sets:
        cmd += ["--set", s]
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"error: {' '.join(cmd)}\n{p.stderr}")
    return json.loads(p.stdout), cmd


def rel(cmd):
    """The command as run from the repository root (for the CSVs)."""
    out = []
    for c in cmd:
        out.append(os.path.relpath(c, ROOT) if c.startswith(ROOT) else c)
    return " ".join(out)


def best_colocated(scenario, gpus, sets, ctx=65536, max_batch=0, tps=(1, 2, 4, 8), systems=COLOCATED):
    """{system: row} with the best layout per system; rows that never fit keep the TP-8 (or largest) reason."""
    best, most = {}, {}
    for tp in tps:
        if tp > gpus or gpus % tp:
            continue
        layout = [f"pools.0.tp={tp}", f"pools.0.instances={gpus // tp}"]
        j, cmd = scaling(scenario, sets + layout, systems, ctx, max_batch)
        for r in j["rows"]:
            r["layout"] = f"{gpus // tp}xTP{tp}"
            r["tp"] = tp
            r["command"] = rel(cmd)
            if r["fits"]:
                most[r["system"]] = max(most.get(r["system"], 0), r["batch"])
            cur = best.get(r["system"])
            if cur is None or (r["fits"] and (not cur["fits"] or r["tokens_per_s_per_gpu"] > cur["tokens_per_s_per_gpu"])) \
                    or (not r["fits"] and not cur["fits"] and tp == 8):
                best[r["system"]] = r
    for name, r in best.items():
        r["max_batch_any_layout"] = most.get(name, 0)
    return best


def best_disagg(scenario, gpus, sets, ctx=65536, max_batch=0, splits=None):
    best, most = None, 0
    for s in (splits or range(1, gpus)):
        u = gpus - s
        layout = [f"pools.1.instances={u}", "pools.1.tp=1", f"pools.2.instances={s}", "pools.2.tp=1"]
        j, cmd = scaling(scenario, sets + layout, ["moska-disagg"], ctx, max_batch)
        r = j["rows"][0]
        r["layout"] = f"{u}U+{s}S"
        r["tp"] = 1
        r["command"] = rel(cmd)
        if r["fits"]:
            most = max(most, r["batch"])
        # Best throughput among splits that fit; if none fits, the one with the most shared GPUs (its reason).
        if best is None or (r["fits"] and (not best["fits"] or r["tokens_per_s_per_gpu"] > best["tokens_per_s_per_gpu"])) \
                or (not r["fits"] and not best["fits"]):
            best = r
    best["max_batch_any_layout"] = most
    return best


def normalise(rows):
    """Per-GPU throughput and batch over vllm's, else over the first baseline that fits (as `scaling` does)."""
    base = None
    for name in BASELINES:
        r = rows.get(name)
        if r and r["fits"]:
            base = r
            break
    for r in rows.values():
        if base and r["fits"]:
            r["normalized"] = r["tokens_per_s_per_gpu"] / base["tokens_per_s_per_gpu"]
            r["batch_ratio"] = r["batch"] / base["batch"]
        else:
            r["normalized"] = ""
            r["batch_ratio"] = ""
        r["baseline"] = base["system"] if base else ""
    return rows


def pool(r, i, key):
    p = r.get("pools", [])
    return p[i][key] if i < len(p) else ""


FIELDS = ["system", "layout", "gpus", "fits", "batch", "max_batch_any_layout", "step_s", "tokens_per_s", "tokens_per_s_per_gpu", "baseline",
          "normalized", "batch_ratio", "pool0_mfu", "pool0_hbm_bw_util", "pool0_hbm_capacity_util", "pool1_mfu",
          "pool1_hbm_bw_util", "pool1_hbm_capacity_util", "why", "command"]


def flat(r):
    out = {k: r.get(k, "") for k in FIELDS}
    out["fits"] = int(bool(r["fits"]))
    out["why"] = out["why"].replace(ROOT + os.sep, "")
    for i in (0, 1):
        for k in ("mfu", "hbm_bw_util", "hbm_capacity_util"):
            out[f"pool{i}_{k}"] = pool(r, i, k)
    return out
