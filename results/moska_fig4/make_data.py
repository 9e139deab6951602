"""MoSKA Fig. 4: batch-scaling capability and normalised throughput of every system, FP8 Llama-3.1-8B,
64K unique tokens per request, shared context 1M-16M tokens, 75% sparsity, on two GPU budgets:
one 8x H100 node (node8.json) and 32 H100s (cluster32.json). Each system gets its best layout of the
budget (scaling_points.py); colocated TP is limited to <= 8 (one node; the model's 8 KV heads).
Writes fig4.csv."""
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scaling_points as sp  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = [("1M", 1 << 20), ("2M", 2 << 20), ("4M", 4 << 20), ("8M", 8 << 20), ("16M", 16 << 20)]
CONFIGS = [("node8", os.path.join(HERE, "node8.json"), 8), ("cluster32", os.path.join(HERE, "cluster32.json"), 32)]


def main():
    sp.check_binary()
    out = []
    for cfg, scn, gpus in CONFIGS:
        for label, tokens in SHARED:
            sets = [f"shared_tokens={tokens}"]
            rows = sp.best_colocated(scn, gpus, sets)
            rows["moska-disagg"] = sp.best_disagg(scn, gpus, sets)
            sp.normalise(rows)
            for name in sp.COLOCATED + ["moska-disagg"]:
                r = sp.flat(rows[name])
                out.append({"config": cfg, "gpu_budget": gpus, "shared": label, "shared_tokens": tokens, **r})
            print(f"{cfg} {label}: " + ", ".join(
                f"{n} {rows[n]['layout']} b={rows[n]['batch']} {rows[n]['tokens_per_s_per_gpu']:.1f}/GPU" if rows[n]["fits"] else f"{n} -"
                for n in sp.COLOCATED + ["moska-disagg"]), file=sys.stderr)
    path = os.path.join(HERE, "fig4.csv")
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["config", "gpu_budget", "shared", "shared_tokens"] + sp.FIELDS)
        w.writeheader()
        w.writerows(out)
    print(f"wrote {os.path.relpath(path)}", file=sys.stderr)


if __name__ == "__main__":
    main()
