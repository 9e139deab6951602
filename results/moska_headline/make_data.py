"""MoSKA's throughput over the baselines at 16M shared tokens, with the assumptions written out and
varied one at a time. Writes headline.csv (every system of every variant) and sensitivity.csv (one
row per variant: MoSKA's tokens/s per GPU over each baseline's). See note.md for the definitions.

Base assumptions (variant "base"):
  32 H100 SXM (4 nodes of 8); FP8 Llama-3.1-8B; 16M shared tokens in 4K chunks; 64K unique tokens per
  request; 75% sparsity, uniform routing; calibrated cost model; batch = the largest that fits (no cap).
  MoSKA = moska-disagg on the 32 real H100s, best unique/shared split.
  Baselines = vllm, prefix-cache, cascade, sparse on the same 32 GPUs as 4 TP8 replicas. A 16M FP8
  shared copy (1 TiB) fits no TP<=8 group of H100s, so the baselines run on a what-if H100 whose HBM
  is raised by exactly its TP8 share of that copy (128 GiB; h100-sxm-plus128g.json): same FLOPs,
  bandwidth and kernels, only room for the copy. vllm still needs a copy per request.
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


def write_hw_variants():
    """What-if hardware profiles beside this script (regenerated from hw_profiles/h100-sxm.json)."""
    m = json.load(open(os.path.join(sp.ROOT, "models", "llama-3.1-8b.json")))
    assert 2 * m["n_layers"] * m["n_kv_heads"] * m["head_dim"] == KV_TOKEN
    base = json.load(open(HW))
    calib = os.path.relpath(os.path.join(sp.ROOT, "hw_profiles", "h100-sxm"), HERE)
    out = {}
    for name, extra, calibrated in [("h100-sxm-cal", 0, True), ("h100-sxm-roofline", 0, False),
                                    ("h100-sxm-plus128g", M16 * KV_TOKEN // 8, True),
                                    ("h100-sxm-plus128g-roofline", M16 * KV_TOKEN // 8, False),
                                    ("h100-sxm-plus256g", 2 * M16 * KV_TOKEN // 8, True)]:
        j = copy.deepcopy(base)
        j["name"] = name
        if calibrated:
            j["calibration"] = calib
        else:
            j.pop("calibration", None)
            j["description"] += "; what-if: no measured tables (roofline only)"
        if extra:
            gib = extra >> 30
            j["gpu"]["hbm_bytes"] = {"value": base["gpu"]["hbm_bytes"]["value"] + extra,
                                     "source": f"what-if (results/moska_headline): the H100's 81559 MiB + {gib} GiB, its TP8 share "
                                               f"of a 16M-token {'FP8' if gib == 128 else 'BF16'} shared copy, so that a colocated "
                                               "baseline can hold it"}
            j["description"] += f"; what-if: +{gib} GiB HBM"
        path = os.path.join(HERE, name + ".json")
        with open(path, "w") as f:
            json.dump(j, f, indent=1)
            f.write("\n")
        out[name] = path
    return out


def variants():
    base = dict(factor="base", value="", gpus=32, ctx=65536, sets=[], cap8=0, roofline=False, shared=M16,
                baseline_hw="whatif", kv16=False)
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
    one("baseline KV dtype", "BF16 (MoSKA FP8)", kv16=True)
    one("baseline layout", "TP16/TP32, real H100", baseline_hw="tp32")
    one("shared tokens", "8M (all fit on real H100s)", shared=8 << 20, baseline_hw="real")
    return v


def run_variant(v, hw):
    sets = [f"shared_tokens={v['shared']}"] + v["sets"]
    g = v["gpus"]
    cap = v["cap8"] * g // 8
    h = hw["h100-sxm-roofline"] if v["roofline"] else hw["h100-sxm-cal"]
    dis_sets = sets + [f"pools.1.hw={h}", f"pools.2.hw={h}"]
    # Shared GPUs needed to hold the shared KV (x0.9 usable): the scan starts there.
    smin = math.ceil(v["shared"] * KV_TOKEN / (0.9 * json.load(open(HW))["gpu"]["hbm_bytes"]["value"]))
    rows = {"moska-disagg": sp.best_disagg(SCN, g, dis_sets, v["ctx"], cap, splits=range(min(smin, g - 1), g))}
    if v["kv16"]:
        col = sp.best_colocated(SCN_KV16, g, sets + [f"pools.0.hw={hw['h100-sxm-plus256g']}"], v["ctx"], v["cap8"], tps=(8,))
        col["moska"] = sp.best_colocated(SCN, g, sets + [f"pools.0.hw={hw['h100-sxm-plus128g']}"], v["ctx"], v["cap8"],
                                         tps=(8,), systems=["moska"])["moska"]
    elif v["baseline_hw"] == "whatif":
        bh = hw["h100-sxm-plus128g-roofline"] if v["roofline"] else hw["h100-sxm-plus128g"]
        col = sp.best_colocated(SCN, g, sets + [f"pools.0.hw={bh}"], v["ctx"], v["cap8"], tps=(8,))
    elif v["baseline_hw"] == "tp32":
        col = sp.best_colocated(SCN, g, sets + [f"pools.0.hw={h}"], v["ctx"], v["cap8"], tps=(16, 32))
    else:
        col = sp.best_colocated(SCN, g, sets + [f"pools.0.hw={h}"], v["ctx"], v["cap8"], tps=(1, 2, 4, 8))
    rows.update(col)
    return rows


def main():
    sp.check_binary()
    hw = write_hw_variants()
    all_rows, sens = [], []
    for v in variants():
        rows = run_variant(v, hw)
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
            r["normalized"] = r["batch_ratio"] = r["baseline"] = ""
            all_rows.append({"factor": v["factor"], "value": v["value"], **r})
        print(f"{v['factor']:>20} {str(v['value']):<28} disagg {rec['moska_disagg_tok_s_gpu']:8.2f}/GPU ({d['layout']}, b={d['batch']})  "
              + "  ".join(f"{b} {rec[f'disagg_over_{b}']:.1f}x" if rec[f"disagg_over_{b}"] != "" else f"{b} -"
                          for b in sp.BASELINES), file=sys.stderr)
    with open(os.path.join(HERE, "headline.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["factor", "value"] + sp.FIELDS)
        w.writeheader()
        w.writerows(all_rows)
    with open(os.path.join(HERE, "sensitivity.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(sens[0].keys()))
        w.writeheader()
        w.writerows(sens)
    print("wrote results/moska_headline/headline.csv and sensitivity.csv", file=sys.stderr)


if __name__ == "__main__":
    main()
