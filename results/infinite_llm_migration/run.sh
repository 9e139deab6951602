#!/usr/bin/env bash
# Reproduction (d): what migrating KV of m tokens per decode step costs (paper, v2: 16 tokens/step
# hidden, 32 tokens/step -8.6% throughput, batch fixed). The simulator's throttle (sim/systems/
# infinite_llm/step.cpp) overlaps the copy with the step: step' = max(step, m x KV per token / link).
# This evaluates that formula on the decode steps `moska-sim predict` gives for LLaMA2-7B on an
# A100-80GB (roofline: no A100 kernel tables), for three links: NVLink (300 GB/s), the profile's NIC,
# and the 125 MB/s a summary of the paper reports. Writes migration.csv. Build first.
set -euo pipefail
cd "$(dirname "$0")/../.."
sim="${MOSKA_SIM:-./build/moska-sim}"
python3 - "$sim" <<'PY'
import csv, json, subprocess, sys
sim = sys.argv[1]
hw = json.load(open("hw_profiles/a100-80gb.json"))
node = hw["node"] if "node" in hw else hw
def val(d, k):
    for sec in (hw, hw.get("node", {}), hw.get("gpu", {})):
        if k in sec:
            return sec[k]["value"] if isinstance(sec[k], dict) else sec[k]
    raise KeyError(k)
links = {"nvlink": val(hw, "nvlink_bandwidth_bps"), "nic": val(hw, "nic_bandwidth_bps"), "125MB/s": 125e6}
kv_t = 32 * 2 * 32 * 128 * 2  # LLaMA2-7B, bf16: 512 KiB per token
rows = []
# batch x context that fit one A100's KV (124K tokens)
POINTS = [(8, 1024), (8, 4096), (32, 1024), (32, 3072), (64, 1024), (64, 1792), (120, 1024)]
for batch, ctx in POINTS:
        j = json.loads(subprocess.check_output([sim, "predict", "--model", "llama-2-7b", "--hw", "a100-80gb",
                                                "--batch", str(batch), "--ctx", str(ctx), "--json"]))
        step = j["seconds"]
        for name, bw in links.items():
            for m in (16, 32):
                copy = m * kv_t / bw
                rows.append(dict(batch=batch, ctx=ctx, step_ms=round(step * 1e3, 3), link=name, tokens_per_step=m,
                                 copy_ms=round(copy * 1e3, 3), throughput_loss=round(1 - step / max(step, copy), 4)))
with open("results/infinite_llm_migration/migration.csv", "w") as f:
    w = csv.DictWriter(f, fieldnames=list(rows[0])); w.writeheader(); w.writerows(rows)
print(f"{'batch':>5} {'ctx':>5} {'step ms':>8} | loss at 16 / 32 tokens per step over " + ", ".join(links))
for batch, ctx in POINTS:
        rs = [r for r in rows if r["batch"] == batch and r["ctx"] == ctx]
        cells = []
        for name in links:
            a = next(r for r in rs if r["link"] == name and r["tokens_per_step"] == 16)["throughput_loss"]
            b = next(r for r in rs if r["link"] == name and r["tokens_per_step"] == 32)["throughput_loss"]
            cells.append(f"{100 * a:5.1f}% / {100 * b:5.1f}%")
        print(f"{batch:>5} {ctx:>5} {rs[0]['step_ms']:>8.1f} | " + "   ".join(cells))
c16, c32 = 16 * kv_t / 125e6, 32 * kv_t / 125e6
steps = [r["step_ms"] / 1e3 for r in rows if r["link"] == "nvlink" and r["tokens_per_step"] == 16]
# The pair (0% at 16, -8.6% at 32) under the overlap model: copy32 = step / (1 - 0.086), copy16 <= step.
bw = [32 * kv_t * (1 - 0.086) / s for s in steps]
print(f"\nThe paper's pair (0% at 16, -8.6% at 32) needs copy32 = step / (1 - 0.086): a link of "
      f"{min(bw) / 1e9:.2f}-{max(bw) / 1e9:.2f} GB/s for these steps ({min(steps) * 1e3:.0f}-{max(steps) * 1e3:.0f} ms); "
      f"over 125 MB/s the step would have to be {32 * kv_t * (1 - 0.086) / 125e6 * 1e3:.0f} ms")
PY
PY=${PYTHON:-/usr/bin/python3}
"$PY" tools/plot_infinite_llm.py migration results/infinite_llm_migration || echo "plot skipped (matplotlib missing)"
