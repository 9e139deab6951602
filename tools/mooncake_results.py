"""Tables and plots of the Mooncake reproductions (results/mooncake_*/run.sh).

  policy DIR CSV            summary JSONs named POLICY@SPEEDUP.json -> one row each
  plot-policy CSV PNG       mean TTFT per policy, grouped by replay speed
  overload DIR CSV          summary JSONs named ADMISSION.json -> rejected counts by cause
  plot-overload DIR PNG     load_timeline.csv of each admission policy (DIR/ADMISSION/)
  plot-capacity CSV PNG     effective request capacity per system and TBT bound
  plot-longctx CSV PNG      capacity vs prompt length, mooncake over vllm
"""
import csv
import glob
import json
import os
import sys

ADMISSIONS = ["none", "decode", "baseline", "early", "predicted"]
POLICIES = ["random", "load-balance", "local-cache-aware", "global-cache-aware"]
PAPER_TTFT = {"random": 19.65, "load-balance": 5.27, "local-cache-aware": 3.58, "global-cache-aware": 3.07}


def load(path):
    with open(path) as f:
        return json.load(f)


def policy(d, out):
    rows = []
    for path in sorted(glob.glob(os.path.join(d, "*@*.json"))):
        pol, sp = os.path.basename(path)[:-5].split("@")
        j = load(path)
        c = j.get("counters", {})
        rows.append({
            "speedup": sp, "policy": pol,
            "ttft_mean_s": j["ttft_s"]["mean"], "ttft_p50_s": j["ttft_s"]["p50"], "ttft_p90_s": j["ttft_s"]["p90"],
            "ttft_p99_s": j["ttft_s"]["p99"],
            "prompt_share_local_cache": c.get("prompt_tokens_from_local_cache", 0),
            "prompt_share_fetched": c.get("prompt_tokens_fetched_remote", 0),
            "prefill_busy": j["pools"][0]["busy_fraction"], "decode_busy": j["pools"][1]["busy_fraction"],
            "paper_ttft_mean_s": PAPER_TTFT[pol],
        })
    rows.sort(key=lambda r: (float(r["speedup"]), POLICIES.index(r["policy"])))
    write(out, rows)


def overload(d, out):
    rows = []
    for adm in ADMISSIONS:
        path = os.path.join(d, adm + ".json")
        if not os.path.exists(path):
            continue
        j = load(path)
        c = j.get("counters", {})
        rows.append({
            "admission": adm, "requests": j["requests"]["total"], "finished": j["requests"]["finished"],
            "rejected": j["requests"]["rejected"],
            "rejected_at_arrival": int(c.get("rejected_at_arrival_ttft", 0) + c.get("rejected_at_arrival_decode_load", 0)),
            "rejected_at_decode": int(c.get("rejected_at_decode", 0)),
            "prefill_tokens_wasted": int(c.get("prefill_tokens_wasted_by_rejection", 0)),
            "slo_attainment": j.get("slo", {}).get("attainment", ""),
            "goodput_req_s": j.get("slo", {}).get("goodput_requests_per_s", ""),
            "ttft_p90_s": j["ttft_s"]["p90"], "req_tbt_p90_s": j["req_tbt_s"]["p90"],
            **oscillation(os.path.join(d, adm, "load_timeline.csv")),
        })
    write(out, rows)


def oscillation(timeline):
    """How much the loads swing: the coefficient of variation (std / mean) of the per-instance
    decode batch and prefill queue over the samples of the load timeline (empty without one)."""
    if not os.path.exists(timeline):
        return {"decode_batch_cv": "", "prefill_queue_cv": ""}
    rows = read(timeline)
    def cv(key):
        xs = [float(r[key]) for r in rows]
        m = sum(xs) / len(xs)
        return (sum((x - m) ** 2 for x in xs) / len(xs)) ** 0.5 / m if m else 0.0
    return {"decode_batch_cv": cv("decode_batch"), "prefill_queue_cv": cv("prefill_queue_s")}


def write(out, rows):
    with open(out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    print(f"wrote {out} ({len(rows)} rows)")


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def plot_policy(src, png):
    sys.path.insert(0, os.path.dirname(__file__))
    from plotlib import pyplot
    plt = pyplot()
    rows = read(src)
    speeds = sorted({r["speedup"] for r in rows}, key=float)
    fig, ax = plt.subplots(figsize=(8, 4.5))
    w = 0.8 / (len(speeds) + 1)
    for k, sp in enumerate(speeds):
        ys = [next(float(r["ttft_mean_s"]) for r in rows if r["speedup"] == sp and r["policy"] == p) for p in POLICIES]
        ax.bar([i + k * w for i in range(len(POLICIES))], ys, w, label=f"simulated, trace at {sp}x")
    ax.bar([i + len(speeds) * w for i in range(len(POLICIES))], [PAPER_TTFT[p] for p in POLICIES], w,
           label="paper (FAST'25)", color="grey")
    ax.set_xticks([i + 0.4 - w / 2 for i in range(len(POLICIES))])
    ax.set_xticklabels(POLICIES)
    ax.set_yscale("log")
    ax.set_ylabel("average TTFT (s)")
    ax.set_title("Mooncake Conductor policies, conversation trace, 8P+8D (8xA800, dummy LLaMA3-70B)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    print(f"wrote {png}")


def plot_overload(d, png):
    sys.path.insert(0, os.path.dirname(__file__))
    from plotlib import pyplot
    plt = pyplot()
    adms = [a for a in ADMISSIONS[1:] if os.path.exists(os.path.join(d, a, "load_timeline.csv"))]
    fig, axes = plt.subplots(len(adms), 1, figsize=(9, 2.6 * len(adms)), sharex=True)
    for ax, adm in zip(axes if len(adms) > 1 else [axes], adms):
        rows = read(os.path.join(d, adm, "load_timeline.csv"))
        t = [float(r["t_s"]) for r in rows]
        ax.plot(t, [float(r["prefill_queue_s"]) for r in rows], label="prefill: queued work per instance (s)", lw=0.8)
        ax2 = ax.twinx()
        ax2.plot(t, [float(r["decode_batch"]) for r in rows], color="tab:red", label="decode: batch per instance", lw=0.8)
        ax.set_ylabel("prefill queue (s)")
        ax2.set_ylabel("decode batch", color="tab:red")
        ax.set_title(f"admission: {adm}", fontsize=9)
    (axes[-1] if len(adms) > 1 else axes).set_xlabel("simulated time (s)")
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    print(f"wrote {png}")


def capacity_group(system):
    """mooncake_capacity's bars: the searched configurations fold into their best."""
    if system.startswith("mooncake-") and system != "mooncake-8P8D":
        return "mooncake, best split"
    if system.startswith("vllm-v1-pc-pa-"):
        return "vllm V1 + PC + prefix-aware, best chunk"
    return system


def plot_capacity(src, png, xkey, title, group=lambda s: s):
    sys.path.insert(0, os.path.dirname(__file__))
    from plotlib import pyplot
    plt = pyplot()
    rows = read(src)
    for r in rows:
        r["system"] = group(r["system"])
    systems = list(dict.fromkeys(r["system"] for r in rows))
    xs = list(dict.fromkeys(r[xkey] for r in rows))
    fig, ax = plt.subplots(figsize=(8, 4.5))
    w = 0.8 / len(systems)
    for k, s in enumerate(systems):
        # The best configuration of each system at each x (rows may list several).
        ys = [max([float(r["capacity_req_s"] or 0) for r in rows if r["system"] == s and r[xkey] == x] or [0]) for x in xs]
        ax.bar([i + k * w for i in range(len(xs))], ys, w, label=s)
    ax.set_xticks([i + 0.4 - w / 2 for i in range(len(xs))])
    ax.set_xticklabels(xs)
    ax.set_xlabel(xkey)
    ax.set_ylabel("effective request capacity (req/s)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    print(f"wrote {png}")


def plot_curves(src, png):
    """FAST'25 Fig. 1: share of requests meeting both SLOs over the TBT bound, one line per system."""
    sys.path.insert(0, os.path.dirname(__file__))
    from plotlib import pyplot
    plt = pyplot()
    rows = read(src)
    speeds = list(dict.fromkeys(r["speedup"] for r in rows))
    fig, axes = plt.subplots(1, len(speeds), figsize=(5 * len(speeds), 4.5), sharey=True, squeeze=False)
    for ax, sp in zip(axes[0], speeds):
        at = [r for r in rows if r["speedup"] == sp]
        for s in dict.fromkeys(r["system"] for r in at):
            pts = [(float(r["tbt_s"]) * 1000, 100 * float(r["capacity"])) for r in at if r["system"] == s]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=s)
        for x in (100, 200, 300):
            ax.axvline(x, color="grey", lw=0.5, ls="--")
        ax.set_xscale("log")
        ax.set_xlabel("TBT bound (ms): mean of a request's slowest 10% of gaps", fontsize=8)
        ax.set_title(f"conversation trace at {sp}x, 16 nodes of 8xA800, TTFT <= 30 s", fontsize=8)
    axes[0][0].set_ylabel("effective request capacity (% of requests)")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    print(f"wrote {png}")


def main(argv):
    if len(argv) < 4:
        sys.exit(__doc__)
    cmd, a, b = argv[1], argv[2], argv[3]
    if cmd == "policy":
        policy(a, b)
    elif cmd == "plot-policy":
        plot_policy(a, b)
    elif cmd == "overload":
        overload(a, b)
    elif cmd == "plot-overload":
        plot_overload(a, b)
    elif cmd == "plot-curves":
        plot_curves(a, b)
    elif cmd == "plot-capacity":
        plot_capacity(a, b, "tbt_slo_s", "Effective request capacity (>= 90% meet both SLOs), conversation trace, 16 nodes, TTFT <= 30 s",
                      capacity_group)
    elif cmd == "plot-longctx":
        plot_capacity(a, b, "prompt_tokens", "Capacity under SLO vs prompt length (4 nodes of 8xA800, dummy LLaMA3-70B)")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
