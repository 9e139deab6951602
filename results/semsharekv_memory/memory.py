#!/usr/bin/env python3
"""Reproduction (b): GPU memory at a 5,000-token prompt, SemShareKV vs full recomputation, under several
readings of "GPU memory" (the paper's is not known). Llama-3.1-8B, bf16, one request, HF eager attention.
The KV kept comes from `moska-sim run` (counter hit_kv_kept_share); the rest is arithmetic written here.
Run from the repository root after building."""
import json
import subprocess

L = 5000
SCEN = "workloads/semsharekv-ttft.json"


def run(*sets):
    args = ["./build/moska-sim", "run", SCEN, "--json", "--set", "input_tokens=%d" % L]
    for s in sets:
        args += ["--set", s]
    return json.loads(subprocess.check_output(args))


def counters(j):
    return dict(j["counters"]) if isinstance(j["counters"], dict) else {k: v for k, v in j["counters"]}


pred = json.loads(subprocess.check_output(["./build/moska-sim", "predict", "--model", "llama-3.1-8b", "--hw", "h200",
                                           "--dtype", "bf16", "--prefill", str(L), "--json"]))
GiB = 2 ** 30
W = pred["memory_gib_per_gpu"]["weights"] * GiB
KV = pred["memory_gib_per_gpu"]["kv"] * GiB  # 5000 tokens x 128 KiB
H, HQ, FF = 4096, 32, 14336


def eager_peak(m, keys):
    # Live at once inside one layer's eager attention: the masked bf16 scores (2 B), their fp32 copy
    # (4 B) and the fp32 softmax (4 B) per score element, 32 heads; plus the layer's widest activation
    # (gate_up output, m x 2 x 14336 bf16) is not live at the same time and is smaller.
    return HQ * m * keys * (2 + 4 + 4)


rows = []
for decay in (0.95, 0.962, 0.97, 0.98):
    kept = counters(run("semsharekv.retain.decay=%g" % decay))["hit_kv_kept_share"]
    rows.append((decay, kept))
kept = dict(rows)[0.962]
r1 = 0.15  # the scenario's recompute share of layer 1 (the widest partial layer)
m1 = round(r1 * L)
print("KV kept after the prefill (share of the prompt's KV), by the retention decay gamma (keep_l = gamma^l):")
for d, k in rows:
    print("  gamma %.3f: kept %.3f -> KV memory %+.1f%%" % (d, k, (k - 1) * 100))
full = {"kv": KV, "staged": 0, "attn": eager_peak(L, L)}
sem_layer0 = {"kv": KV, "staged": KV, "attn": eager_peak(L, L)}         # layer 0 recomputed in full
sem_no_full = {"kv": KV, "staged": KV, "attn": eager_peak(m1, L)}       # full_layers = 0: widest layer has m1 queries
print("\n| what is counted | full recompute (GiB) | SemShareKV (GiB) | change |")
print("| --- | ---: | ---: | ---: |")


def line(what, a, b):
    print("| %s | %.2f | %.2f | %+.0f%% |" % (what, a / GiB, b / GiB, (b - a) / a * 100))


line("KV cache after the prefill (what decode holds and reads)", KV, KV * kept)
line("peak during the prefill, without weights (KV + staged reference KV + eager attention buffers), layer 0 full",
     full["kv"] + full["attn"], sem_layer0["kv"] + sem_layer0["staged"] + sem_layer0["attn"])
line("the same, no full layer (widest layer recomputes %d tokens)" % m1,
     full["kv"] + full["attn"], sem_no_full["kv"] + sem_no_full["staged"] + sem_no_full["attn"])
line("peak during the prefill with weights, layer 0 full", W + full["kv"] + full["attn"],
     W + sem_layer0["kv"] + sem_layer0["staged"] + sem_layer0["attn"])
line("peak with weights, no full layer", W + full["kv"] + full["attn"], W + sem_no_full["kv"] + sem_no_full["staged"] + sem_no_full["attn"])
line("weights + KV after the prefill", W + KV, W + KV * kept)
