"""MoSKA's throughput over the baselines at 16M shared tokens, with the assumptions written out and
varied one at a time, read per GPU and per deployment. Writes headline.csv (every system of every
variant), sensitivity.csv (one row per variant: MoSKA's tokens/s per GPU over each baseline's) and
deployment.csv (whole deployments of unequal size). See note.md for the definitions.

Base assumptions (variant "base"):
  32 real H100 SXM (4 nodes of 8); FP8 Llama-3.1-8B; 16M shared tokens in 4K chunks; 64K unique
  tokens per request; 75% sparsity, uniform routing; calibrated cost model; batch = the largest that
  fits (no cap). Every system gets its best layout of the 32 GPUs, by tokens/s per GPU:
  MoSKA = moska-disagg, best unique/shared split (TP 1 each, one micro-batch);
  colocated systems (vllm, prefix-cache, cascade, sparse, moska) = TP groups of 1-8 GPUs grouped into
  context-parallel groups (16M + 64K tokens pass Llama-3.1-8B's 131,072-token max_context, so only
  CP layouts are accepted; a CP group of 4 TP8 groups holds the 1 TiB FP8 copy once, 32 GiB per GPU).
"""
import copy
import csv
import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "moska_fig4"))
import scaling_points as sp  # noqa: E402

SCN = os.path.join(HERE, "cluster.json")
SCN_KV16 = os.path.join(HERE, "cluster-kvbf16.json")  # the same with BF16 KV (baselines only, one variant)
HW = os.path.join(sp.ROOT, "hw_profiles", "h100-sxm.json")
M16 = 16 << 20
KV_TOKEN = 65536  # FP8 Llama-3.1-8B: 2 x 32 layers x 8 KV heads x 128 x 1 byte (checked below)


def write_roofline_profile():
    """hw_profiles/h100-sxm.json without its measured tables, beside this script (one variant)."""
    m = json.load(open(os.path.join(sp.ROOT, "models", "llama-3.1-8b.json")))
    assert 2 * m["n_layers"] * m["n_kv_heads"] * m["head_dim"] == KV_TOKEN
    j = copy.deepcopy(json.load(open(HW)))
    j["name"] = "h100-sxm-roofline"
    j.pop("calibration", None)
    j["description"] += "; what-if: no measured tables (roofline only)"
    path = os.path.join(HERE, "h100-sxm-roofline.json")
    with open(path, "w") as f:
        json.dump(j, f, indent=1)
        f.write("\n")
    # Relative to the repository root when run from there (run.sh does), so the CSVs' commands are portable.
    return os.path.relpath(path, sp.ROOT) if os.path.realpath(os.getcwd()) == os.path.realpath(sp.ROOT) else path


def variants():
    base = dict(factor="base", value="", gpus=32, ctx=65536, sets=[], cap8=0, roofline=False, shared=M16, kv16=False,
                disagg_sets=[])
    v = [base]

    def one(factor, value, **kw):
        d = dict(base)
        d.update(factor=factor, value=value, **kw)
        v.append(d)

    for s in (0.5, 0.9):
        one("sparsity", s, sets=[f"sparsity={s}"])
    one("unique ctx", "16K", ctx=16384)
    for g in (16, 64):
        one("GPUs", g, gpus=g)
    one("routing", "zipf s=1", sets=["skew=zipf", "zipf_s=1.0"])
    one("routing", "hot 10%/90%", sets=["skew=hot"])
    for c in (2048, 8192):
        one("chunk", f"{c // 1024}K", sets=[f"chunk={c}"])
    one("cost model", "roofline only", roofline=True)
    for c in (32, 128):
        one("batch cap / 8 GPUs", c, cap8=c)
    one("moska-disagg micro-batches", 4, disagg_sets=["scheduler.micro_batches=4"])
    one("baseline KV dtype", "BF16 (MoSKA FP8), 64 GPUs", kv16=True, gpus=64)
    one("shared tokens", "8M", shared=8 << 20)
    return v


def run_variant(v, roofline_hw):
    sets = [f"shared_tokens={v['shared']}"] + v["sets"]
    g = v["gpus"]
    hw = [f"hw={roofline_hw}"] if v["roofline"] else []
    # Shared GPUs needed to hold the shared KV (x0.9 usable): the split scan starts there.
    smin = math.ceil(v["shared"] * KV_TOKEN / (0.9 * json.load(open(HW))["gpu"]["hbm_bytes"]["value"]))
    cap = v["cap8"] * g // 8
    rows = {"moska-disagg": sp.best_disagg(SCN, g, sets + hw + v["disagg_sets"], v["ctx"], cap,
                                           splits=range(min(smin, g - 1), g))}
    if v["kv16"]:
        col = sp.best_colocated(SCN_KV16, g, sets + hw, v["ctx"], v["cap8"])
        col["moska"] = sp.best_colocated(SCN, g, sets + hw, v["ctx"], v["cap8"], systems=["moska"])["moska"]
    else:
        col = sp.best_colocated(SCN, g, sets + hw, v["ctx"], v["cap8"])
    rows.update(col)
    return rows


def deployments():
    """Whole deployments: vllm (and prefix-cache) on the smallest budget that holds a vllm request
    at 16M (16 GPUs), moska-disagg on growing budgets. Per GPU the ratio barely moves; per deployment
    it grows with the GPUs MoSKA is given."""
    base = {}
    for name, r in sp.best_colocated(SCN, 16, [f"shared_tokens={M16}"], systems=["vllm", "prefix-cache"]).items():
        base[name] = r
    out = []
    for g in (32, 64, 96, 128, 192, 256):
        smin = math.ceil(M16 * KV_TOKEN / (0.9 * json.load(open(HW))["gpu"]["hbm_bytes"]["value"]))
        d = sp.best_disagg(SCN, g, [f"shared_tokens={M16}"], splits=range(smin, g))
        rec = {"moska_disagg_gpus": g, "moska_disagg_layout": d["layout"], "moska_disagg_batch": d["batch"],
               "moska_disagg_tokens_per_s": d["tokens_per_s"], "moska_disagg_tok_s_gpu": d["tokens_per_s_per_gpu"]}
        for name, r in base.items():
            rec[f"{name}_gpus"] = r["gpus"]
            rec[f"{name}_layout"] = r["layout"]
            rec[f"{name}_tokens_per_s"] = r["tokens_per_s"]
            rec[f"per_gpu_over_{name}"] = d["tokens_per_s_per_gpu"] / r["tokens_per_s_per_gpu"]
            rec[f"deployment_over_{name}"] = d["tokens_per_s"] / r["tokens_per_s"]
        out.append(rec)
        print(f"deployment: moska-disagg {g} GPUs ({d['layout']}) {d['tokens_per_s']:.0f} tokens/s; over vllm on "
              f"{base['vllm']['gpus']} GPUs: {rec['per_gpu_over_vllm']:.1f}x per GPU, {rec['deployment_over_vllm']:.1f}x "
              f"per deployment", file=sys.stderr)
    return out


def write(name, rows, fields=None):
    with open(os.path.join(HERE, name), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields or list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)


def main():
    sp.check_binary()
    roofline_hw = write_roofline_profile()
    all_rows, sens = [], []
    for v in variants():
        rows = run_variant(v, roofline_hw)
        d = rows["moska-disagg"]
        m = rows["moska"]
        rec = {"factor": v["factor"], "value": v["value"], "gpus": v["gpus"],
               "moska_disagg_layout": d["layout"], "moska_disagg_batch": d["batch"],
               "moska_disagg_tok_s_gpu": d.get("tokens_per_s_per_gpu", 0) if d["fits"] else 0,
               "moska_coloc_layout": m["layout"] if m["fits"] else "does not fit",
               "moska_coloc_tok_s_gpu": m.get("tokens_per_s_per_gpu", 0) if m["fits"] else 0}
        for b in sp.BASELINES:
            r = rows[b]
            t = r["tokens_per_s_per_gpu"] if r["fits"] else 0
            rec[f"{b}_layout"] = r["layout"] if r["fits"] else "does not fit"
            rec[f"{b}_batch"] = r["batch"]
            rec[f"{b}_tok_s_gpu"] = t
            rec[f"disagg_over_{b}"] = rec["moska_disagg_tok_s_gpu"] / t if t and d["fits"] else ""
            rec[f"coloc_over_{b}"] = rec["moska_coloc_tok_s_gpu"] / t if t and m["fits"] else ""
        sens.append(rec)
        for name in sp.COLOCATED + ["moska-disagg"]:
            r = sp.flat(rows[name])
            r["normalized"] = r["normalized_deployment"] = r["batch_ratio"] = r["baseline"] = ""
            all_rows.append({"factor": v["factor"], "value": v["value"], **r})
        print(f"{v['factor']:>26} {str(v['value']):<26} disagg {rec['moska_disagg_tok_s_gpu']:8.2f}/GPU ({d['layout']}, b={d['batch']})  "
              + "  ".join(f"{b} {rec[f'disagg_over_{b}']:.1f}x" if rec[f"disagg_over_{b}"] != "" else f"{b} -"
                          for b in sp.BASELINES), file=sys.stderr)
    write("headline.csv", all_rows, ["factor", "value"] + sp.FIELDS)
    write("sensitivity.csv", sens)
    write("deployment.csv", deployments())
    print("wrote results/moska_headline/headline.csv, sensitivity.csv and deployment.csv", file=sys.stderr)


if __name__ == "__main__":
    main()
