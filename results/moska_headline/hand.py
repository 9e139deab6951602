"""Hand derivations of every system's decode throughput per GPU at the headline setting (16M shared
tokens, FP8 KV, 64K unique tokens per request, 75% sparsity, H100s, Llama-3.1-8B), at the layout and
batch the simulator chose (headline.csv, variant "base"), against the simulator's. Writes
hand_vs_sim.csv. The hand values are formulas over the model's shapes and the H100 profile's
datasheet numbers and roofline efficiencies (below), not the simulator's output; where they differ by
more than 10%, the `kernels` columns add the measured kernels that account for it, as `moska-sim
predict` costs them (calibrated tables) for the same per-GPU batch.

Per GPU and decode step (B requests, layout of TP groups of `tp` GPUs in CP groups of `cp`; one
logical instance = tp x cp GPUs holding one copy of the shared KV, striped):
  weights   W / tp at the HBM rate (W = 7.50 GB: FP8 matrices, all but the embedding table)
  KV read   b x R x 64 KiB / (tp cp), R = tokens a request reads itself: U + S (vllm, prefix-cache),
            U + (1 - s) S + S / C (sparse: top-k chunks and each chunk's min/max metadata), U (cascade,
            moska: their shared reads are batched)
  shared    cascade: every query against all S tokens, 4 b Hq d S L / (tp cp) FLOPs at the FP8
            attention rate, S x 64 KiB / (tp cp) bytes; moska: the same with (1 - s) S per query
            (every chunk is touched: b k >= N); the larger of compute and memory time
  TP        2 ring all-reduces per layer, 2 (tp - 1) NVLink hops of 3 us each (their bytes are ~0)
  CP ring   per layer (cp - 1) hops of queries and (cp - 1) of partials, b / cp rows each, over NVLink
            inside a node or the NICs past it, plus the link's latency per hop
moska-disagg (nU unique, nS shared GPUs, TP 1): step = W / BW + max(b_u U 64 KiB / BW,
  link_q + shared + link_r), the shared GPU's N / nS chunks each attended by B k / N queries, each
  direction of the link B nS x (8,192 | 8,320) bytes per layer through min(nU, nS) NICs of 50 GB/s.
Merges and the gathers of queries per chunk are free by hand; the simulator costs them (the fused
merge kernel by default, measured on an H200 and roofline on an H100; the gathers from the measured
copy kernel).
"""
import csv
import json
import math
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BIN = os.environ.get("MOSKA_SIM", os.path.join(ROOT, "build", "moska-sim"))

model = json.load(open(os.path.join(ROOT, "models", "llama-3.1-8b.json")))
hwp = json.load(open(os.path.join(ROOT, "hw_profiles", "h100-sxm.json")))
L, Hq, Hkv, D = model["n_layers"], model["n_heads"], model["n_kv_heads"], model["head_dim"]
H, FF, V = model["hidden"], model["ffn"], model["vocab"]
KV = 2 * L * Hkv * D  # FP8: 65,536 bytes per token
W = L * (H * (Hq + 2 * Hkv) * D + H * H + 3 * H * FF) + V * H  # FP8 bytes read per pass
BW = hwp["gpu"]["hbm_bandwidth_bps"]["value"] * hwp["roofline"]["memory_efficiency"]["value"]  # 3.015e12
FA = hwp["gpu"]["peak_flops"]["fp8"]["value"] * hwp["roofline"]["attention_compute_efficiency"]["value"]  # 712e12
NVL, NVL_LAT = hwp["gpu"]["nvlink_bandwidth_bps"]["value"], hwp["gpu"]["nvlink_latency_s"]["value"]
NIC, NIC_LAT = hwp["node"]["nic_bandwidth_bps"]["value"], hwp["node"]["nic_latency_s"]["value"]
PER_NODE = hwp["node"]["gpus_per_node"]["value"]
Q_BYTES, P_BYTES = Hq * D * 2, Hq * (D * 2 + 4)  # a query; a partial (output + LSE)
S, U, SP, C = 16 << 20, 65536, 0.75, 4096
N = S // C
K = round((1 - SP) * N)


def coloc(system, tp, cp, b):
    R = {"vllm": U + S, "prefix-cache": U + S, "sparse": U + (1 - SP) * S + N, "cascade": U, "moska": U}[system]
    t = W / tp / BW + b * R * KV / (tp * cp) / BW
    attended = {"cascade": S, "moska": (1 - SP) * S}.get(system, 0)
    if attended:
        t += max(4 * b * Hq * D * attended * L / (tp * cp) / FA, S * KV / (tp * cp) / BW)
    t += 2 * L * 2 * (tp - 1) * NVL_LAT
    bw, lat = (NVL, NVL_LAT) if tp * cp <= PER_NODE else (NIC, NIC_LAT)
    t += L * (cp - 1) * 2 * lat + L * (cp - 1) * (b / cp) * (Q_BYTES + P_BYTES) / tp / bw
    return t


def disagg(nu, ns, B):
    shared_chunks = math.ceil(N / ns)
    q = B * K / N
    t_s = max(4 * q * Hq * D * C * shared_chunks * L / FA, shared_chunks * C * KV / BW)
    bw = min(nu, ns) * NIC
    t_q = L * (ns * B * Q_BYTES / bw + NIC_LAT)
    t_r = L * (ns * B * P_BYTES / bw + NIC_LAT)
    return W / BW, B / nu * U * KV / BW, t_q, t_s, t_r


def moving_partials_s(args):
    """Seconds of the operators that move queries and merge partial results in `moska-sim predict`'s
    step (shared_gather, merge; merge_scatter* and merge_concat* with the reference merge)."""
    p = subprocess.run([BIN, "predict", "--fp8", "--json"] + args, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"error: moska-sim predict {' '.join(args)}\n{p.stderr}")
    ops = json.loads(p.stdout)["ops"]
    return sum(o["seconds_each"] * o["count"] for o in ops if o["name"] == "shared_gather" or o["name"].startswith("merge"))


def main():
    rows = [r for r in csv.DictReader(open(os.path.join(HERE, "headline.csv"))) if r["factor"] == "base"]
    out = []
    for r in rows:
        system, layout, B, gpus = r["system"], r["layout"], int(r["batch"]), int(r["gpus"])
        sim = float(r["tokens_per_s_per_gpu"])
        rec = {"system": system, "layout": layout, "batch": B, "gpus": gpus, "sim_step_ms": 1e3 * float(r["step_s"])}
        if system == "moska-disagg":
            nu, ns = (int(x[:-1]) for x in layout.split("+"))
            t_w, t_u, t_q, t_s, t_r = disagg(nu, ns, B)
            step = t_w + max(t_u, t_q + t_s + t_r)
            # The shared GPU's measured merge (and scatter/concat) kernels, on the shared path.
            kern = {"merge": moving_partials_s(["--tp", "1", "--batch", str(B), "--ctx", "1", "--shared",
                                                str(math.ceil(N / ns) * C), "--chunk", str(C), "--sparsity",
                                                str(1 - math.ceil(K / ns) / math.ceil(N / ns))])}
            with_k = t_w + max(t_u, t_q + t_s + kern["merge"] + t_r)
            why = ("on the shared pool's path: its gather of the queries per chunk (measured copy kernel) and its merge of "
                   "~k/nS partials per request (the fused kernel; roofline on an H100, measured on an H200)")
        else:
            tp = int(layout.split("TP")[1].split()[0])
            cp = int(layout.split("CP")[1]) if "CP" in layout else 1
            inst = gpus // (tp * cp)
            b = B / inst
            step = coloc(system, tp, cp, b)
            kern = {"merge": 0.0}
            with_k = step
            why = ""
            if system in ("cascade", "moska") and abs(B / (step * gpus) / sim - 1) > 0.10:
                # One rank's step as predict costs it (measured tables): every query against its
                # stripe of the unique KV and of the shared chunks (or segment).
                kern["merge"] = moving_partials_s(["--tp", str(tp), "--batch", str(round(b)), "--ctx", str(U // cp),
                                                   "--shared", str(S // cp), "--chunk", str(C), "--sparsity",
                                                   str(SP if system == "moska" else 0)])
                with_k = step + kern["merge"]
                why = "the gather of queries per chunk (measured copy kernel) and the merge of the k/cp + 1 partials per request"
        hand = B / (step * gpus)
        rec.update({"hand_step_ms": 1e3 * step, "hand_tok_s_gpu": hand, "sim_tok_s_gpu": sim,
                    "sim_over_hand": sim / hand - 1, "partials_kernels_ms": 1e3 * kern["merge"],
                    "hand_plus_kernels_tok_s_gpu": B / (with_k * gpus),
                    "sim_over_hand_plus_kernels": sim / (B / (with_k * gpus)) - 1, "difference_is": why})
        out.append(rec)
        print(f"{system:>13} {layout:>12} b={B:<4} hand {hand:8.2f}/GPU  sim {sim:8.2f}/GPU  ({100 * (sim / hand - 1):+.1f}%)"
              f"  with those kernels {B / (with_k * gpus):8.2f} ({100 * (sim * with_k * gpus / B - 1):+.1f}%)", file=sys.stderr)
    with open(os.path.join(HERE, "hand_vs_sim.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(out[0].keys()))
        w.writeheader()
        w.writerows(out)
    print("wrote results/moska_headline/hand_vs_sim.csv", file=sys.stderr)


if __name__ == "__main__":
    main()
