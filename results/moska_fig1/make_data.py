"""MoSKA Fig. 1 from the model's shape alone (models/llama-3.1-8b.json): KV bytes per request vs
sequence length and vs batch, and HBM bytes read per decode step vs batch, with and without sharing.
Cross-checked against `moska-sim predict --json` (its operator list's bytes) at a few points.
Writes kv_vs_seq.csv, kv_vs_batch.csv, bandwidth_vs_batch.csv, predict_check.csv."""
import csv
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
BIN = os.environ.get("MOSKA_SIM", os.path.join(ROOT, "build", "moska-sim"))
M = json.load(open(os.path.join(ROOT, "models", "llama-3.1-8b.json")))
HW = json.load(open(os.path.join(ROOT, "hw_profiles", "h100-sxm.json")))
L, HQ, HKV, D, H, F, V = (M[k] for k in ("n_layers", "n_heads", "n_kv_heads", "head_dim", "hidden", "ffn", "vocab"))

# Bytes per token of KV (K and V, all layers).
PER_TOKEN = {
    "MHA-equivalent BF16": 2 * L * HQ * D * 2,  # 32 KV heads: what GQA saves
    "GQA BF16": 2 * L * HKV * D * 2,
    "GQA FP8": 2 * L * HKV * D * 1,
}
SPARSITY = 0.75
# Parameters (elements): embedding + untied LM head, per layer q/k/v/o + gate/up/down + 2 norms, final norm.
PARAMS = 2 * V * H + L * (H * (HQ + 2 * HKV) * D + HQ * D * H + 3 * H * F + 2 * H) + H
WEIGHTS_FP8 = PARAMS * 1
HBM = HW["gpu"]["hbm_bytes"]["value"]
GIB = 1 << 30

UNIQUE = 65536       # per request, Fig. 1(b) and the batch panel
SHARED = 1 << 20     # shared context, Fig. 1(b) and the batch panel
CHUNK = 4096


def seq_rows():
    rows = []
    n = 8192
    while n <= (1 << 20):
        r = {"seq_tokens": n}
        for k, b in PER_TOKEN.items():
            r[f"{k} held GiB"] = n * b / GIB
        r["GQA FP8 + 75% sparsity held GiB"] = n * PER_TOKEN["GQA FP8"] / GIB
        r["GQA FP8 + 75% sparsity read per step GiB"] = n * PER_TOKEN["GQA FP8"] * (1 - SPARSITY) / GIB
        rows.append(r)
        n *= 2
    return rows


def batches():
    b, out = 1, []
    while b <= 1024:
        out.append(b)
        b *= 2
    return out


def batch_rows():
    kv = PER_TOKEN["GQA FP8"]
    rows = []
    for b in batches():
        rows.append({"batch": b,
                     "no sharing (copy per request) GiB": b * (UNIQUE + SHARED) * kv / GIB,
                     "shared KV stored once GiB": (SHARED + b * UNIQUE) * kv / GIB,
                     "weights GiB": WEIGHTS_FP8 / GIB,
                     "8x H100 HBM GiB": 8 * HBM / GIB})
    return rows


def bandwidth_rows():
    """HBM bytes read per decode step (whole model, all GPUs): weights once + each request's unique KV +
    the shared KV as each system reads it. MoSKA reads each chunk that at least one request routed to
    once: with independent uniform routing a chunk is missed by all b requests with probability 0.75^b."""
    kv = PER_TOKEN["GQA FP8"]
    rows = []
    for b in batches():
        base = WEIGHTS_FP8 + b * UNIQUE * kv
        union = 1 - SPARSITY ** b
        r = {"batch": b,
             "vllm (copy per request) GB": (base + b * SHARED * kv) / 1e9,
             "prefix-cache (stored once, read per request) GB": (base + b * SHARED * kv) / 1e9,
             "sparse (top-k read per request) GB": (base + b * SHARED * (1 - SPARSITY) * kv) / 1e9,
             "cascade (batched, all chunks once) GB": (base + SHARED * kv) / 1e9,
             "moska (batched, routed chunks once) GB": (base + SHARED * union * kv) / 1e9,
             "no shared context GB": base / 1e9}
        rows.append(r)
    return rows


def predict_bytes(args):
    p = subprocess.run([BIN, "predict", "--model", "llama-3.1-8b", "--hw", "h100-sxm", "--dtype", "fp8", "--tp", "8",
                        "--json"] + args, capture_output=True, text=True)
    if p.returncode != 0:
        return None
    return json.loads(p.stdout)["bytes"] * 8  # per GPU x TP 8


def predict_rows():
    """Total bytes of predict's operator list (weights, KV, activations, router, merge) vs the formula."""
    if not os.access(BIN, os.X_OK):
        print(f"warning: {BIN} missing: predict_check.csv not written", file=sys.stderr)
        return None
    kv = PER_TOKEN["GQA FP8"]
    rows = []
    for b in (1, 8, 32, 64):
        f = WEIGHTS_FP8 + b * UNIQUE * kv
        pb = predict_bytes(["--batch", str(b), "--ctx", str(UNIQUE), "--shared", str(SHARED), "--chunk", str(CHUNK),
                            "--sparsity", str(SPARSITY)])
        # predict's balanced routing sends b*k queries over the N chunks: every chunk is read once when b*k >= N.
        n = SHARED // CHUNK
        k = round((1 - SPARSITY) * n)
        touched = min(n, b * k) / n
        rows.append({"case": "moska", "batch": b, "formula GB": (f + SHARED * touched * kv) / 1e9,
                     "predict GB": pb / 1e9 if pb else "", "ratio": pb / (f + SHARED * touched * kv) if pb else ""})
    for b in (1, 8):
        f = WEIGHTS_FP8 + b * (UNIQUE + SHARED) * kv
        pb = predict_bytes(["--batch", str(b), "--ctx", str(UNIQUE + SHARED)])
        rows.append({"case": "prefix-cache / vllm (reads all per request)", "batch": b, "formula GB": f / 1e9,
                     "predict GB": pb / 1e9 if pb else "", "ratio": pb / f if pb else ""})
    return rows


def write(name, rows):
    with open(os.path.join(HERE, name), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0].keys()))
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})


def main():
    assert PARAMS == 8030261248, PARAMS
    write("kv_vs_seq.csv", seq_rows())
    write("kv_vs_batch.csv", batch_rows())
    write("bandwidth_vs_batch.csv", bandwidth_rows())
    pr = predict_rows()
    if pr:
        write("predict_check.csv", pr)
    print("wrote results/moska_fig1/{kv_vs_seq,kv_vs_batch,bandwidth_vs_batch,predict_check}.csv", file=sys.stderr)


if __name__ == "__main__":
    main()
