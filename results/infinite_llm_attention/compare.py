"""Joins the predictions of `moska-sim distattention` with the 2x H200 measurements and the paper's ratios.
Argument: the eager NCCL call cost (us) run.sh derived from the collectives measurement."""
import csv
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt

HERE = os.path.dirname(os.path.abspath(__file__))
eager = float(sys.argv[1])


def load(name):
    lines = [l for l in open(os.path.join(HERE, name)) if not l.startswith("#")]
    return {(int(r["batch"]), int(r["ctx"]), r["method"]): r for r in csv.DictReader(lines)}


g2, e2, g4 = load("pred2_graph.csv"), load("pred2_eager.csv"), load("pred4_graph.csv")
meas = {}
for r in csv.DictReader(open(os.path.join(HERE, "../../hw_profiles/h200/distattn_measured.csv"))):
    meas[(int(r["batch"]), int(r["ctx"]), r["method"])] = float(r["time_us"])

rows = []
for k in sorted(k for k in meas if k[2] in ("distattn", "ring", "tp", "full")):
    b, c, m = k
    rows.append(dict(gpus=2, batch=b, ctx=c, method=m, measured_us=meas[k], pred_graph_us=float(g2[k]["time_us"]),
                     pred_eager_us=float(e2[k]["time_us"]), err_eager=float(e2[k]["time_us"]) / meas[k] - 1,
                     measured_micro_us=meas.get((b, c, "micro"), ""), pred_micro_us=float(g2[k]["micro_us"]),
                     measured_merge_us=meas.get((b, c, "merge"), ""), pred_merge_us=float(g2[k]["merge_us"]),
                     measured_qp_rtt_us=meas.get((b, c, "qp_rtt"), ""),
                     pred_qp_eager_us=float(e2[k]["query_msg_us"]) + float(e2[k]["partial_msg_us"])))
with open(os.path.join(HERE, "attention.csv"), "w") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)

print(f"2x H200, eager NCCL call {eager:.1f} us (from collectives_measured.csv); per layer, us")
print(f"{'batch':>5} {'ctx':>7} {'method':>9} {'measured':>9} {'pred eager':>10} {'err':>6} {'pred graph':>10}")
for r in rows:
    print(f"{r['batch']:>5} {r['ctx']:>7} {r['method']:>9} {r['measured_us']:>9.0f} {r['pred_eager_us']:>10.0f} "
          f"{100 * r['err_eager']:>5.0f}% {r['pred_graph_us']:>10.0f}")
for m in ("distattn", "ring", "tp", "full"):
    errs = sorted(abs(r["err_eager"]) for r in rows if r["method"] == m)
    print(f"  {m:9} median |error| {100 * errs[len(errs) // 2]:.0f}%  max {100 * errs[-1]:.0f}%")

# Ratios the paper reports (4 GPUs): Ring / DistAttention 7.7-19.8x; DistAttention 1-25% faster than TP.
print("\n4 GPUs (predicted, in-graph): Ring/DistAttention and TP/DistAttention; paper: 7.7-19.8x and 1.01-1.25x")
ratios = []
for (b, c, m), r in sorted(g4.items()):
    if m != "distattn":
        continue
    d = float(r["time_us"])
    ratios.append(dict(batch=b, ctx=c, distattn_us=d, ring_over_dist=float(g4[(b, c, "ring")]["time_us"]) / d,
                       tp_over_dist=float(g4[(b, c, "tp")]["time_us"]) / d))
with open(os.path.join(HERE, "ratios4.csv"), "w") as f:
    w = csv.DictWriter(f, fieldnames=list(ratios[0]))
    w.writeheader()
    w.writerows(ratios)
for r in ratios:
    print(f"  b={r['batch']:>2} ctx={r['ctx']:>6}: ring/dist {r['ring_over_dist']:6.2f}x   tp/dist {r['tp_over_dist']:5.2f}x")
# Measured on 2 GPUs, the same ratios.
print("\n2 GPUs measured: ring/dist, tp/dist")
for (b, c, m), v in sorted(meas.items()):
    if m == "distattn":
        print(f"  b={b:>2} ctx={c:>6}: ring/dist {meas[(b, c, 'ring')] / v:6.2f}x   tp/dist {meas[(b, c, 'tp')] / v:5.2f}x")

fig, ax = plt.subplots(1, 2, figsize=(12, 4.5))
colors = {"distattn": "C0", "ring": "C3", "tp": "C2", "full": "C7"}
for m, col in colors.items():
    pts = [r for r in rows if r["method"] == m]
    ax[0].scatter([r["measured_us"] for r in pts], [r["pred_eager_us"] for r in pts], c=col, label=m, s=18)
lo, hi = 20, 1e5
ax[0].plot([lo, hi], [lo, hi], "k--", lw=0.8)
ax[0].set(xscale="log", yscale="log", xlabel="measured on 2x H200 (us per layer)", ylabel="predicted, eager NCCL (us)",
          title="(a) one decode layer, LLaMA2-13B shapes, 2 GPUs")
ax[0].legend()
for b in sorted({r["batch"] for r in ratios}):
    pts = [r for r in ratios if r["batch"] == b]
    ax[1].plot([r["ctx"] / 1024 for r in pts], [r["ring_over_dist"] for r in pts], "o-", label=f"ring/dist b={b}")
ax[1].axhspan(7.7, 19.8, color="C3", alpha=0.15, label="paper: ring/dist 7.7-19.8x")
ax[1].set(xscale="log", yscale="log", xlabel="context (K tokens)", ylabel="Ring / DistAttention time",
          title="4 GPUs, predicted (in-graph)")
ax[1].legend(fontsize=7)
fig.tight_layout()
fig.savefig(os.path.join(HERE, "attention.png"), dpi=110)
