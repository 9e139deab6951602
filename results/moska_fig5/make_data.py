"""MoSKA Fig. 5: MFU and HBM (bandwidth and capacity) utilisation of each pool.
Static: the per-pool numbers `moska-sim scaling` gave at the Fig. 4 points (read from
results/moska_fig4/fig4.csv: a full decode batch at each system's best layout). Dynamic: one
`moska-sim run` per system of node8_run.json (prefill + decode, continuous batching).
Writes fig5_static.csv, fig5_dynamic.csv and runs/<system>.json."""
import csv
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BIN = os.environ.get("MOSKA_SIM", os.path.join(ROOT, "build", "moska-sim"))
SYSTEMS = ["vllm", "prefix-cache", "cascade", "sparse", "moska", "moska-disagg"]


def static():
    src = os.path.join(ROOT, "results", "moska_fig4", "fig4.csv")
    if not os.path.exists(src):
        sys.exit("error: results/moska_fig4/fig4.csv missing: run results/moska_fig4/run.sh first")
    out = []
    for r in csv.DictReader(open(src)):
        if r["fits"] != "1":
            continue
        for i, pool in ((0, "unique" if r["system"] == "moska-disagg" else "serve"), (1, "shared")):
            if r[f"pool{i}_mfu"] == "":
                continue
            out.append({"config": r["config"], "shared": r["shared"], "system": r["system"], "layout": r["layout"],
                        "batch": r["batch"], "pool": pool, "mfu": r[f"pool{i}_mfu"],
                        "hbm_bw_util": r[f"pool{i}_hbm_bw_util"], "hbm_capacity_util": r[f"pool{i}_hbm_capacity_util"],
                        "tokens_per_s_per_gpu": r["tokens_per_s_per_gpu"]})
    return out


def dynamic():
    os.makedirs(os.path.join(HERE, "runs"), exist_ok=True)
    out = []
    for s in SYSTEMS:
        cmd = [BIN, "run", os.path.join(HERE, "node8_run.json"), "--set", f"system={s}", "--json"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        if p.returncode != 0:
            sys.exit(f"error: {' '.join(cmd)}\n{p.stderr}")
        j = json.loads(p.stdout)
        with open(os.path.join(HERE, "runs", f"{s}.json"), "w") as f:
            f.write(p.stdout)
        for pool in j["pools"]:
            out.append({"system": s, "pool": pool["role"], "gpus": pool["gpus"], "mfu": pool["mfu"],
                        "hbm_bw_util": pool["hbm_bw_util"], "hbm_capacity_used_mean": pool["hbm_capacity_used_mean"],
                        "hbm_capacity_used_peak": pool["hbm_capacity_used_peak"], "busy": pool["busy_fraction"],
                        "output_tokens_per_s": j["throughput"]["output_tokens_per_s"],
                        "output_tokens_per_s_per_gpu": j["throughput"]["output_tokens_per_s"] / 8,
                        "tbt_p50_s": j["tbt_s"]["p50"], "ttft_p50_s": j["ttft_s"]["p50"], "mean_batch": j["batch"]["mean"],
                        "finished": j["requests"]["finished"], "rejected": j["requests"]["rejected"]})
        print(f"{s}: {j['throughput']['output_tokens_per_s']:.1f} output tokens/s", file=sys.stderr)
    return out


def write(name, rows):
    with open(os.path.join(HERE, name), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)


if __name__ == "__main__":
    if not os.access(BIN, os.X_OK):
        sys.exit(f"error: {BIN} not found: build first")
    write("fig5_static.csv", static())
    write("fig5_dynamic.csv", dynamic())
    print("wrote results/moska_fig5/fig5_static.csv, fig5_dynamic.csv", file=sys.stderr)
