"""Drives `moska-sim scaling` over cluster layouts (shared by results/moska_fig4, _fig5 and _headline).

For a fixed GPU budget each system gets its best layout, chosen by tokens/s per GPU:
  colocated systems (vllm, prefix-cache, cascade, sparse, moska): `instances` x TP `tp` = budget, for
  each tp in TPS that divides the budget, grouped into context-parallel groups of `cp` TP groups for
  each cp that divides the instances (each CP group holds one copy of the shared KV, striped over its
  TP groups; cp = 1 is plain replicas, which the model's max_context refuses for spans past 128K);
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


def layouts(gpus, tps=(1, 2, 4, 8)):
    """(tp, cp) pairs of a budget: TP groups of tp GPUs, grouped cp at a time (cp divides the groups)."""
    out = []
    for tp in tps:
        if tp > gpus or gpus % tp:
            continue
        groups = gpus // tp
        out += [(tp, cp) for cp in range(1, groups + 1) if groups % cp == 0]
    return out


def layout_name(gpus, tp, cp):
    return f"{gpus // tp}xTP{tp}" + (f" CP{cp}" if cp > 1 else "")


def best_colocated(scenario, gpus, sets, ctx=65536, cap_per8=0, tps=(1, 2, 4, 8), systems=COLOCATED):
    """{system: row} with the best layout per system; rows that never fit keep the reason of the
    layout with the largest TP and CP groups (the one most likely to hold the context). cap_per8: a
    cap on the decode batch per 8 GPUs (0 = none), applied to each logical instance (tp x cp GPUs)."""
    best, most = {}, {}
    for tp, cp in layouts(gpus, tps):
        layout = [f"pools.0.tp={tp}", f"pools.0.instances={gpus // tp}", f"cp={cp}"]
        max_batch = max(1, cap_per8 * tp * cp // 8) if cap_per8 else 0
        j, cmd = scaling(scenario, sets + layout, systems, ctx, max_batch)
        for r in j["rows"]:
            r["layout"] = layout_name(gpus, tp, cp)
            r["tp"] = tp
            r["cp"] = cp
            r["command"] = rel(cmd)
            if r["fits"]:
                most[r["system"]] = max(most.get(r["system"], 0), r["batch"])
            cur = best.get(r["system"])
            if cur is None or (r["fits"] and (not cur["fits"] or r["tokens_per_s_per_gpu"] > cur["tokens_per_s_per_gpu"])) \
                    or (not r["fits"] and not cur["fits"] and (tp * cp, cp > 1, tp) >= (cur["tp"] * cur["cp"], cur["cp"] > 1, cur["tp"])):
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
        r["cp"] = 1
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
            r["normalized_deployment"] = r["tokens_per_s"] / base["tokens_per_s"]
            r["batch_ratio"] = r["batch"] / base["batch"]
        else:
            r["normalized"] = ""
            r["normalized_deployment"] = ""
            r["batch_ratio"] = ""
        r["baseline"] = base["system"] if base else ""
    return rows


def pool(r, i, key):
    p = r.get("pools", [])
    return p[i][key] if i < len(p) else ""


FIELDS = ["system", "layout", "gpus", "fits", "batch", "max_batch_any_layout", "step_s", "tokens_per_s", "tokens_per_s_per_gpu", "baseline",
          "normalized", "normalized_deployment", "batch_ratio", "pool0_mfu", "pool0_hbm_bw_util", "pool0_hbm_capacity_util", "pool1_mfu",
          "pool1_hbm_bw_util", "pool1_hbm_capacity_util", "why", "command"]


def flat(r):
    out = {k: r.get(k, "") for k in FIELDS}
    out["fits"] = int(bool(r["fits"]))
    out["why"] = out["why"].replace(ROOT + os.sep, "")
    for i in (0, 1):
        for k in ("mfu", "hbm_bw_util", "hbm_capacity_util"):
            out[f"pool{i}_{k}"] = pool(r, i, k)
    return out
