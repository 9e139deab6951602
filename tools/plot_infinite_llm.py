"""Figures of the Infinite-LLM reproductions (b)-(d) from their CSVs.

usage: plot_infinite_llm.py maxctx|migration|throughput RESULTS_DIR   (writes RESULTS_DIR/<name>.png)
"""
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from plotlib import pyplot  # noqa: E402


def rows(d, name):
    return list(csv.DictReader(open(os.path.join(d, name))))


def maxctx(d, plt):
    rs = rows(d, "maxctx.csv")
    models = list(dict.fromkeys(r["model"] for r in rs))
    caps = list(dict.fromkeys(r["lend_cap"] for r in rs))
    fig, ax = plt.subplots(figsize=(7, 4))
    w = 0.8 / (len(caps) + 1)
    for i, m in enumerate(models):
        mr = [r for r in rs if r["model"] == m]
        ax.bar(i, int(mr[0]["vllm_multi_max"]) / 1e3, w, color="grey", label="vLLM-multi" if i == 0 else None)
        for k, c in enumerate(caps):
            r = next(r for r in mr if r["lend_cap"] == c)
            ax.bar(i + (k + 1) * w, int(r["infinite_max"]) / 1e3, w, color=f"C{k}",
                   label=f"Infinite-LLM, lend_cap {c}" if i == 0 else None)
    ax.axhline(2000, color="k", ls="--", lw=0.8, label="paper: up to 2,000K")
    ax.set_xticks([i + len(caps) * w / 2 for i in range(len(models))],
                  [f"{m.replace('-longctx', '')}\n{mr_n} x TP{tp}" for m, mr_n, tp in
                   [(m, next(r for r in rs if r["model"] == m)["instances"], next(r for r in rs if r["model"] == m)["tp"])
                    for m in models]])
    ax.set_ylabel("maximum context (K tokens)")
    ax.set_title("(b) maximum context, 32 A100-80GB (arithmetic, checked by simulation)", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def migration(d, plt):
    rs = rows(d, "migration.csv")
    links = list(dict.fromkeys(r["link"] for r in rs))
    fig, ax = plt.subplots(figsize=(7, 4))
    for k, link in enumerate(links):
        for m, ls in (("16", "-"), ("32", "--")):
            sel = [r for r in rs if r["link"] == link and r["tokens_per_step"] == m]
            ax.plot([float(r["step_ms"]) for r in sel], [100 * float(r["throughput_loss"]) for r in sel], ls,
                    marker="o", color=f"C{k}", label=f"{link}, {m} tokens/step")
    ax.axhline(8.6, color="k", ls=":", lw=0.8, label="paper: 8.6% at 32 tokens/step (0% at 16)")
    ax.set_xlabel("decode step (ms, LLaMA2-7B on A100, roofline)")
    ax.set_ylabel("throughput loss (%)")
    ax.set_title("(d) migration overhead: step' = max(step, m x KV/token / link)")
    ax.legend(fontsize=7)
    return fig


def throughput(d, plt):
    rs = rows(d, "steady.csv")
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
    for ax, metric, title in ((axes[0], "slo_rate", "SLO capacity (TTFT <= 10 s, TBT <= 0.2 s, 90%)"),
                              (axes[1], "out_tok_s", "saturation throughput (output tok/s, window)")):
        t = {(r["max"], r["instances"], r["dispatch"], r["system"]): float(r[metric]) for r in rs}
        keys = sorted({(int(r["max"]), int(r["instances"])) for r in rs})
        labels = [f"{mx // 1000}K\n{n} inst" for mx, n in keys]
        series = [("round-robin", "reactive", "C0", "reactive / multi, round-robin"),
                  ("least-loaded", "reactive", "C1", "reactive / multi, least-loaded"),
                  ("round-robin", "planner", "C2", "planner / multi, round-robin"),
                  ("-", "vllm-single-steady", "C3", "reactive (least-loaded) / vLLM-single steady"),
                  ("-", "vllm-single-serial", "C4", "reactive (least-loaded) / vLLM-single serial")]
        w = 0.8 / len(series)
        for k, (disp, sysname, c, lab) in enumerate(series):
            ys = []
            for mx, n in keys:
                if disp == "-":
                    num, den = t[(str(mx), str(n), "least-loaded", "reactive")], t[(str(mx), str(n), "-", sysname)]
                else:
                    num, den = t[(str(mx), str(n), disp, sysname)], t[(str(mx), str(n), disp, "none")]
                ys.append(num / den if den > 0 else float("nan"))
            ax.bar([i + k * w for i in range(len(keys))], ys, w, color=c, label=lab)
        ax.axhspan(1.35, 1.73, color="grey", alpha=0.2, label="paper v2 vs multi (short traces)")
        ax.axhline(1, color="k", lw=0.6)
        ax.set_yscale("log")
        ax.set_xticks([i + 0.4 for i in range(len(keys))], labels, fontsize=7)
        ax.set_ylabel("ratio")
        ax.set_title("(c) " + title, fontsize=9)
    axes[0].legend(fontsize=6)
    return fig


def main():
    what, d = sys.argv[1], sys.argv[2]
    plt = pyplot()
    fig = {"maxctx": maxctx, "migration": migration, "throughput": throughput}[what](d, plt)
    fig.tight_layout()
    fig.savefig(os.path.join(d, f"{what}.png"), dpi=110)


if __name__ == "__main__":
    main()
