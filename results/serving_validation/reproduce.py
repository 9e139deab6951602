#!/usr/bin/env python3
"""Reproduce published serving measurements of real engines with moska-sim and report the errors.

    python3 results/serving_validation/reproduce.py [--csv published.csv] [--bin build/moska-sim]
                                                    [--jobs N] [--out results/serving_validation]

Each row of the CSV (schema: SOURCES.md) becomes one scenario (`scenario_for`): the GPU, model,
dtype, TP, the engine's profile (hw_profiles/engines/<engine>.json: its scheduler, its costs outside
the GPU step, its memory rules), the load (offline burst, Poisson, closed-loop concurrency) and the
lengths (fixed, or ShareGPT-like with the row's mean lengths). moska-sim runs it and the printed
numbers are compared: output (or total) token throughput or request throughput, TTFT and TPOT (mean
when printed, else median), end-to-end latency. Rows the simulator cannot map (a model or GPU it does
not know) are listed with the reason and left out of the medians.

Writes predictions.csv (one row per compared number) and errors.md (median |error| per source,
engine, GPU and metric); errors.png when matplotlib is there.
"""
import argparse
import csv
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ENGINE_DIR = None
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))

# --- what the simulator knows ------------------------------------------------------------------
# Model names are matched after lower-casing and dropping the organisation and the usual suffixes
# (-instruct, -chat, -hf, -fp8, ...): the architecture is what matters.
MODEL_FILES = {
    "llama-3.1-8b": "llama-3.1-8b", "llama-3-8b": "llama-3.1-8b", "meta-llama-3-8b": "llama-3.1-8b",
    "meta-llama-3.1-8b": "llama-3.1-8b", "llama-3.2-8b": "llama-3.1-8b",
    "llama-3.1-70b": "llama-3.1-70b", "llama-3.3-70b": "llama-3.1-70b", "meta-llama-3.1-70b": "llama-3.1-70b",
    "llama-3-70b": "llama-3-70b", "meta-llama-3-70b": "llama-3-70b",
    "llama-2-7b": "llama-2-7b", "llama-2-13b": "llama-2-13b", "llama-2-70b": "llama-2-70b",
    "mistral-7b": "mistral-7b", "mixtral-8x7b": "mixtral-8x7b", "codellama-13b": "codellama-13b",
    "qwen3-8b": os.path.join(HERE, "models", "qwen3-8b.json"),
    "qwen3-14b": os.path.join(HERE, "models", "qwen3-14b.json"),
    "qwen3-32b": os.path.join(HERE, "models", "qwen3-32b.json"),
}
SUFFIXES = ("-instruct", "-chat", "-hf", "-fp8", "-v0.1", "-v0.2", "-v0.3", "-base")


def model_of(name):
    n = name.strip().lower().split("/")[-1]
    changed = True
    while changed:
        changed = False
        for suf in SUFFIXES:
            if n.endswith(suf):
                n = n[: -len(suf)]
                changed = True
    return MODEL_FILES.get(n)


# ShareGPT means (after vLLM's filter) by tokenizer family when a row does not print its totals:
# docs/research/sharegpt-lengths.md section 2 (Llama 3: mean of the four Llama-3 rows).
SHAREGPT_MEANS = {"llama": (218.0, 187.0), "qwen": (217.4, 201.5), "mistral": (218.0, 187.0)}
# The spread of ShareGPT lengths in a real benchmark run (log-space standard deviation over lengths >= 4):
# Lambda's vllm-benchmark, results/prompt_320/1xH100-80GB-SXM/Meta-Llama-3-8B-Instruct_tp1_len2048.json
# (benchmark_serving.py --dataset-name sharegpt, 320 prompts, per-request input_lens and generated
# output_lens): prompts 1.54, generated outputs 1.43 (7.6% of outputs under 10 tokens, 17% under 20).
# The generator's own defaults (1.1 / 0.9) are assumptions; README "Load as benchmark tools make it".
SHAREGPT_SIGMAS = (1.54, 1.43)


def hw_of(gpu):
    g = gpu.lower()
    if "pcie" in g or "nvl" in g:
        return None  # no profile for the PCIe / NVL parts (other HBM bandwidth and clocks)
    for key, hw in (("h200", "h200"), ("gh200", "h200"), ("h100", "h100-sxm"), ("h800", "h800-80gb"),
                    ("a100", "a100-80gb"), ("a800", "a800-80gb"), ("b200", "b200")):
        if key in g:
            if key == "a100" and "40" in g:
                return None  # the 40 GB A100 has no profile
            return hw
    return None


def version_tuple(v):
    m = re.match(r"\s*v?([0-9]+)\.([0-9]+)", v)
    return (int(m.group(1)), int(m.group(2))) if m else None


def engine_of(row):
    """The engine profile for a row: by engine and major version (README "Engine profiles")."""
    e, v = row["engine"].lower(), row["engine_version"].lower()
    ver = version_tuple(v)
    if e == "vllm":
        if "unknown" in v or "offline" in v or "benchmark_throughput" in row.get("notes", ""):
            return "vllm-offline"
        if "(v0)" in v or (ver and ver < (0, 8)):
            return "vllm-0.6"  # the V0 engine
        return "vllm-0.11"     # the V1 engine (default from 0.8)
    if e == "sglang":
        return "sglang-0.3" if ver and ver < (0, 4) else "sglang-0.5"
    if e.startswith("tensorrt-llm") or e == "trt-llm":
        return "trtllm-bench-1.0" if "trtllm-bench" in v or "benchmark" in v else "trtllm-serve-1.2"
    if e.startswith("nim"):
        return "nim-1.8"
    return None


def fnum(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None


def trtllm_bench_settings(model_json, tp, hbm_bytes, wbytes, kvbytes, isl, osl, frac):
    """trtllm-bench's max batch size and max num tokens (tensorrt_llm/bench/build/tuning.py,
    calc_engine_setting + finetune_setting): KV requests of (isl + osl) tokens in frac x (HBM - weights),
    batch rounded up optimistically, tokens = batch x (1 + isl/osl) capped at 32768."""
    m = model_json
    params = param_count(m)
    kv_heads = max(tp, m["n_kv_heads"])
    per_token = 2 * m["n_layers"] * kv_heads * m["head_dim"] * kvbytes
    available = hbm_bytes * tp - params * wbytes
    req = frac * available / (per_token * (isl + osl))
    raw_bs = min(req, 4096)
    raw_tok = min(raw_bs * (1 + isl / osl), 32768)
    # Rounded up to a step that grows with the value, with a floor: (below, step) tiers, last step above.
    def round_up(x, tiers, last, floor):
        step = next((st for below, st in tiers if x < below), last)
        return max(floor, step * math.ceil(x / step))
    return (round_up(raw_bs, [(256, 32), (1024, 128)], 256, 64),
            round_up(raw_tok, [(4096, 256), (8192, 512)], 1024, 2048))


def param_count(m):
    q = m["n_heads"] * m["head_dim"]
    kv = m["n_kv_heads"] * m["head_dim"]
    experts = m.get("n_experts", 1)
    per_layer = m["hidden"] * (q + 2 * kv) + q * m["hidden"] + experts * 3 * m["hidden"] * m["ffn"] + 2 * m["hidden"]
    if experts > 1:
        per_layer += m["hidden"] * experts
    head = 0 if m.get("tie_embeddings") else m["vocab"] * m["hidden"]
    return m["n_layers"] * per_layer + m["vocab"] * m["hidden"] + head + m["hidden"]


def load_model_json(name_or_path):
    p = name_or_path if os.path.isabs(name_or_path) else os.path.join(ROOT, "models", name_or_path + ".json")
    with open(p) as f:
        return json.load(f)


def generated_per_request(row):
    """Random-dataset rows without --ignore-eos print how many tokens were generated of the maximum."""
    m = re.search(r"([0-9]+) tokens generated of ([0-9]+) max", row.get("notes", ""))
    n = fnum(row["num_requests"])
    if m and n:
        return int(m.group(1)) / n
    return None


def scenario_for(row):
    """(scenario dict, None) or (None, why the row cannot be simulated)."""
    model = model_of(row["model"])
    if not model:
        return None, f"model {row['model']} has no models/ file"
    hw = hw_of(row["gpu"])
    if not hw:
        return None, f"GPU {row['gpu']} has no hw_profiles/ file"
    engine = engine_of(row)
    if not engine:
        return None, f"engine {row['engine']} {row['engine_version']} has no engine profile"
    tp = int(fnum(row["tp"]) or 1)
    gpus = int(fnum(row["num_gpus"]) or tp)
    if int(fnum(row["pp"]) or 1) != 1:
        return None, "pipeline parallelism is not modelled"
    wd = (row["weights_dtype"] or "bf16").lower()
    if wd not in ("bf16", "fp16", "fp8"):
        return None, f"weights dtype {wd} not modelled"
    # FP8 checkpoints of TensorRT-LLM / NIM (ModelOpt) quantise the KV cache to FP8 as well.
    kvd = (row["kv_dtype"] or ("fp8" if wd == "fp8" and engine.startswith(("trtllm", "nim")) else
                              ("bf16" if wd == "fp8" else wd))).lower()
    sched = {"engine": os.path.join(ENGINE_DIR, engine + ".json") if ENGINE_DIR else engine}
    if hw == "a100-80gb" and engine in ("vllm-0.11", "vllm-offline"):
        # vLLM's batch defaults on A100 (and GPUs under 70 GiB): 256 sequences, 2048 tokens (server)
        # or 8192 (offline LLM class): engine-defaults.md 1.1.
        sched["max_batch"] = 256
        sched["max_batched_tokens"] = 2048 if engine == "vllm-0.11" else 8192
    notes = row.get("notes", "")
    if engine == "vllm-0.6":
        m = re.search(r"--num-scheduler-steps ([0-9]+)", notes)
        if m:
            sched["multi_step"] = int(m.group(1))
        m = re.search(r"--max_model_len ([0-9]+)", notes)
        if m:  # V0 without chunked prefill: max_num_batched_tokens = max(max_model_len, 2048)
            sched["max_batched_tokens"] = max(int(m.group(1)), 2048)
    if engine.startswith("sglang"):
        m = re.search(r"--mem-frac ([0-9]+(?:\.[0-9]+)?)", notes)
        if m:
            sched["gpu_memory_utilization"] = float(m.group(1))
        elif engine == "sglang-0.3" and tp >= 4:
            sched["gpu_memory_utilization"] = 0.85  # SGLang v0.3 mem_fraction_static at TP 4 (0.88 at TP 1)
    for k_csv, k_sc in (("max_num_seqs", "max_batch"), ("max_num_batched_tokens", "max_batched_tokens")):
        if fnum(row.get(k_csv)):
            sched[k_sc] = int(fnum(row[k_csv]))
    if row.get("chunked_prefill") in ("on", "off") and not engine.startswith("sglang") and engine != "vllm-0.6":
        sched["chunked_prefill"] = row["chunked_prefill"] == "on"

    # Lengths.
    dist = row["input_len_dist"].strip().lower()
    for alias in ("random:", "constant:"):
        if dist.startswith(alias):
            dist = "fixed:" + dist[len(alias):].split(":")[0]
    n = int(fnum(row["num_requests"]) or 0)
    conc = int(fnum(row["concurrency"]) or 0)
    if n <= 0:
        n = max(100, 10 * conc) if conc else 1000  # not printed: enough for a steady state
    gen = {"requests": n}
    family = "qwen" if "qwen" in row["model"].lower() else ("mistral" if "mistral" in row["model"].lower() else "llama")
    if dist.startswith("fixed:"):
        isl = int(dist.split(":")[1])
        osl = int(fnum(row["output_len"]))
        made = generated_per_request(row)
        if made and row.get("ignore_eos", "").lower() != "true":
            osl = max(1, round(made))  # outputs stopped at EOS: the printed mean per request
        gen["input_tokens"] = {"dist": "constant", "value": isl}
        gen["output_tokens"] = {"dist": "constant", "value": osl}
    elif dist == "sharegpt":
        mi, mo = SHAREGPT_MEANS[family]
        if fnum(row["input_len"]):
            mi = fnum(row["input_len"])
        if fnum(row["output_len"]):
            mo = fnum(row["output_len"])
        gen["lengths"] = {"dist": "sharegpt", "input_mean": mi, "output_mean": mo,
                          "input_sigma": SHAREGPT_SIGMAS[0], "output_sigma": SHAREGPT_SIGMAS[1]}
        isl, osl = mi, mo
    else:
        return None, f"input distribution {dist} not modelled"

    if engine == "trtllm-bench-1.0":
        mj = load_model_json(model)
        frac = 0.95
        hbm = {"h100-sxm": 85520809984, "h200": 141e9, "a100-80gb": 80e9}[hw]
        bs, tok = trtllm_bench_settings(mj, tp, hbm, 1 if wd == "fp8" else 2, 1 if kvd == "fp8" else 2, isl, osl, frac)
        sched["max_batch"] = bs
        sched["max_batched_tokens"] = tok

    load = row["load_type"].strip().lower()
    rate = row["rate_req_s"].strip().lower()
    workload = {}
    if load == "offline" or (load in ("poisson", "constant") and rate in ("", "inf")):
        gen["arrival"] = {"process": "burst"}
    elif load in ("poisson", "constant"):
        gen["arrival"] = {"process": load, "rate_per_s": float(rate)}
    elif load in ("concurrency", "closed-loop", "closed_loop"):
        gen["arrival"] = {"process": "burst"} if rate in ("", "inf") else {"process": "poisson", "rate_per_s": float(rate)}
        workload["max_concurrency"] = conc
    else:
        return None, f"load {load} not modelled"
    workload["generator"] = gen
    sc = {
        "name": f"published row {row['id']}: {row['engine']} {row['engine_version']}, {row['model']} on {gpus} x {row['gpu']}",
        "seed": 1,
        "model": model,
        "precision": {"weights": wd, "kv": kvd, "act": "bf16"},
        "system": "vllm",
        "pools": [{"name": "gpus", "role": "serve", "hw": hw, "instances": max(1, gpus // tp), "tp": tp}],
        "scheduler": sched,
        "workload": workload,
    }
    return sc, None


# --- comparing ---------------------------------------------------------------------------------
def metrics_of(row, out):
    """(metric, published, predicted) for each number the row prints."""
    res = []
    thr = out["throughput"]
    if fnum(row["output_tok_s"]):
        res.append(("throughput", fnum(row["output_tok_s"]), thr["output_tokens_per_s"]))
    elif fnum(row["total_tok_s"]):
        res.append(("throughput", fnum(row["total_tok_s"]), thr["total_tokens_per_s"]))
    elif fnum(row["req_s"]):
        res.append(("throughput", fnum(row["req_s"]), thr["requests_per_s"]))
    ttft = out["ttft_s"]
    if fnum(row["ttft_mean_ms"]):
        res.append(("ttft", fnum(row["ttft_mean_ms"]), 1e3 * (ttft["mean"] or 0)))
    elif fnum(row["ttft_median_ms"]):
        res.append(("ttft", fnum(row["ttft_median_ms"]), 1e3 * (ttft["p50"] or 0)))
    tpot = out["req_tbt_s"]
    if fnum(row["tpot_mean_ms"]):
        res.append(("tpot", fnum(row["tpot_mean_ms"]), 1e3 * (tpot["mean"] or 0)))
    elif fnum(row["tpot_median_ms"]):
        res.append(("tpot", fnum(row["tpot_median_ms"]), 1e3 * (tpot["p50"] or 0)))
    if fnum(row["e2e_mean_ms"]):
        res.append(("e2e", fnum(row["e2e_mean_ms"]), 1e3 * (out["e2e_s"]["mean"] or 0)))
    return res


COLUMNS = ["id", "source_id", "engine", "engine_version", "gpu", "num_gpus", "tp", "pp", "model", "weights_dtype",
           "kv_dtype", "load_type", "rate_req_s", "concurrency", "num_requests", "input_len_dist", "input_len",
           "output_len", "ignore_eos", "max_num_seqs", "max_num_batched_tokens", "chunked_prefill", "prefix_caching",
           "output_tok_s", "total_tok_s", "req_s", "ttft_mean_ms", "ttft_median_ms", "ttft_p99_ms", "tpot_mean_ms",
           "tpot_median_ms", "tpot_p99_ms", "itl_median_ms", "e2e_mean_ms", "notes"]


def normalised(row):
    """Every column of published.csv present (empty when another set lacks it), values stripped."""
    return {k: (row.get(k) or "").strip() for k in COLUMNS} | {k: (v or "").strip() for k, v in row.items() if k}


# What-if (reported apart, never in the goal check): GPUStack's Qwen3-14B and Qwen3-32B H100 pages
# run ~1.5x slower than the H100 SXM in every regime (prefill, decode at batch 1 and at batch 300,
# all three engines), where its Qwen3-8B H100 SXM page, TensorRT-LLM's and SGLang's H100 rows match
# the kernel tables; the 32B page does not name the H100 variant. This re-runs those rows on the
# H100 PCIe's datasheet numbers (hw/h100-pcie-whatif.json, roofline only) to show how much of the
# error that hardware question carries.
WHATIF_HW = os.path.join(HERE, "hw", "h100-pcie-whatif.json")


def whatif_row(row):
    return (row["source_id"] == "gpustack_perflab" and "h100" in row["gpu"].lower()
            and any(m in row["model"] for m in ("Qwen3-14B", "Qwen3-32B")))


def run_row(binary, row, tmp, hw_override=None):
    try:
        sc, why = scenario_for(row)
    except (ValueError, KeyError, ZeroDivisionError) as e:  # a malformed value in another set
        return row, None, f"cannot map the row: {e!r}"
    if sc is None:
        return row, None, why
    if hw_override:
        for pool in sc["pools"]:
            pool["hw"] = hw_override
    path = os.path.join(tmp, f"row{row['id']}{'-whatif' if hw_override else ''}.json")
    with open(path, "w") as f:
        json.dump(sc, f, indent=1)
    cmd = [binary, "run", path, "--json"]
    conc = sc["workload"].get("max_concurrency", 0)
    if conc and not hw_override:  # closed loop: keep the per-request records for closed_loop_rounds
        cmd += ["--out", path[:-len(".json")] + "-run"]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        return row, None, (p.stderr.strip().splitlines() or ["moska-sim failed"])[-1]
    out = json.loads(p.stdout)
    if conc and not hw_override:
        out["closed_loop"] = closed_loop_rounds(os.path.join(path[:-len(".json")] + "-run", "requests.csv"), conc)
    return row, out, None


def closed_loop_rounds(requests_csv, conc):
    """Mean TTFT (s) of a closed loop's requests, all of them and those after its first round (the
    first C, sent together at t = 0): how much of the mean the start's queue of C prompts carries."""
    with open(requests_csv) as f:
        ttft = [float(r["ttft_s"]) for r in csv.DictReader(f) if r["status"] == "finished"]
    later = ttft[conc:]
    return {"ttft_mean_s": statistics.mean(ttft) if ttft else None,
            "ttft_mean_after_first_round_s": statistics.mean(later) if later else None}


def fitted_pairs():
    """(row id, metric) pairs that calibrate.py fits the engines' API-server costs to."""
    try:
        import calibrate
    except ImportError:
        return set()
    return {(rid, metric) for steps in calibrate.CALIBRATION.values() for _, rid, metric, _ in steps}


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--csv", default=os.path.join(HERE, "published.csv"))
    ap.add_argument("--bin", default=os.path.join(ROOT, "build", "moska-sim"))
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", default=HERE)
    ap.add_argument("--keep-scenarios", help="folder to keep the generated scenario files in")
    ap.add_argument("--engines", help="folder of engine profiles to use instead of hw_profiles/engines")
    ap.add_argument("--rows", help="comma-separated row ids to run (default: all)")
    a = ap.parse_args()
    with open(a.csv) as f:
        rows = [normalised(r) for r in csv.DictReader(f)]
    if a.rows:
        keep = set(a.rows.split(","))
        rows = [r for r in rows if r["id"] in keep]
    global ENGINE_DIR
    ENGINE_DIR = a.engines
    tmp = a.keep_scenarios or tempfile.mkdtemp(prefix="moska-validation-")
    os.makedirs(tmp, exist_ok=True)
    with ThreadPoolExecutor(max_workers=a.jobs) as ex:
        results = list(ex.map(lambda r: run_row(a.bin, r, tmp), rows))

    whatif_rows = [r for r in rows if whatif_row(r)]
    with ThreadPoolExecutor(max_workers=a.jobs) as ex:
        whatif = list(ex.map(lambda r: run_row(a.bin, r, tmp, WHATIF_HW), whatif_rows))

    fitted = fitted_pairs()

    def predictions(results):
        preds, skipped = [], []
        for row, out, why in results:
            if out is None:
                skipped.append((row["id"], row["source_id"], why))
                continue
            for metric, pub, pred in metrics_of(row, out):
                err = (pred - pub) / pub if pub else float("nan")
                preds.append({"id": row["id"], "source_id": row["source_id"], "engine": row["engine"],
                              "engine_version": row["engine_version"], "gpu": row["gpu"], "hw": hw_of(row["gpu"]),
                              "model": row["model"], "load": row["load_type"], "metric": metric,
                              "published": pub, "predicted": round(pred, 6), "error": round(err, 6),
                              "status": out.get("status", ""),
                              "preemptions": out.get("preemptions", {}).get("recompute", 0),
                              "fitted": int((row["id"], metric) in fitted)})
        return preds, skipped

    preds, skipped = predictions(results)
    whatif_preds, _ = predictions(whatif)
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "predictions.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(preds[0].keys()) if preds else ["id"])
        w.writeheader()
        w.writerows(preds)

    lines = ["# Errors against published measurements (generated by reproduce.py)", "",
             "error = (simulated - published) / published; the tables give the median of |error| and the "
             "median signed error (bias), with the number of points.", ""]

    def table(title, key):
        lines.append(f"## {title}")
        lines.append("")
        lines.append("| group | metric | points | median abs error | median error | max abs error |")
        lines.append("|---|---|---:|---:|---:|---:|")
        groups = sorted({(key(p), p["metric"]) for p in preds})
        for g, m in groups:
            e = [p["error"] for p in preds if key(p) == g and p["metric"] == m]
            lines.append(f"| {g} | {m} | {len(e)} | {100 * median([abs(x) for x in e]):.1f}% | "
                         f"{100 * median(e):+.1f}% | {100 * max(abs(x) for x in e):.1f}% |")
        lines.append("")

    def goal_table(ps):
        hopper = [p for p in ps if p["hw"] in ("h100-sxm", "h200")]
        lines.append("| metric | points | median abs error | median error | held-out points | held-out median abs error |")
        lines.append("|---|---:|---:|---:|---:|---:|")
        for m in ("throughput", "ttft", "tpot", "e2e"):
            e = [p["error"] for p in hopper if p["metric"] == m]
            h = [p["error"] for p in hopper if p["metric"] == m and not p["fitted"]]
            if e:
                lines.append(f"| {m} | {len(e)} | {100 * median([abs(x) for x in e]):.1f}% | {100 * median(e):+.1f}% | "
                             f"{len(h)} | {100 * median([abs(x) for x in h]):.1f}% |")
        lines.append("")

    lines.append("## Goal check: H100 and H200 (goal: throughput <= 5%, TTFT and TPOT <= 10% median abs error)")
    lines.append("")
    lines.append("Held out: without the numbers calibrate.py fits the engines' API-server costs to "
                 f"({len(fitted)} numbers of {len({r for r, _ in fitted})} rows).")
    lines.append("")
    goal_table(preds)
    if whatif_preds:
        swapped = {(p["id"], p["metric"]): p for p in whatif_preds}
        lines.append("## What-if, not the goal check: GPUStack's Qwen3-14B/32B H100 pages on an H100 PCIe")
        lines.append("")
        lines.append(f"The {len(whatif_rows)} rows of those two pages re-run on `hw/h100-pcie-whatif.json` (datasheet "
                     "numbers, roofline only, no fitting; see the note); every other row as above.")
        lines.append("")
        goal_table([swapped.get((p["id"], p["metric"]), p) for p in preds])
    steps = engine_steps(results)
    if steps:
        lines.append("## Engine steps: published median ITL against the simulated median engine step")
        lines.append("")
        lines.append("A diagnostic, not a goal metric: the simulated number is the median gap between an engine's steps "
                     "(before the API server's stream), so it is comparable where the stream does not bind "
                     "(low concurrency, long prompts).")
        lines.append("")
        lines.append("| row | source | engine | GPU | model | load | published ITL p50 (ms) | simulated step p50 (ms) | ratio |")
        lines.append("|---:|---|---|---|---|---|---:|---:|---:|")
        for r, pub, sim in steps:
            lines.append(f"| {r['id']} | {r['source_id']} | {r['engine']} | {hw_of(r['gpu'])} | {r['model'].split('/')[-1]} | "
                         f"{r['load_type']} {r['concurrency'] or r['rate_req_s']} | {pub:.2f} | {sim:.2f} | {sim / pub:.2f} |")
        lines.append("")
    rounds = [(r, res["closed_loop"]) for r, res, _ in results
              if res and res.get("closed_loop") and fnum(r.get("ttft_mean_ms", "")) and int(fnum(r["concurrency"])) > 1]
    if rounds:
        lines.append("## Closed loops: the first round's share of the mean TTFT")
        lines.append("")
        lines.append("A diagnostic, not a goal metric. The clients send their first C requests together (GenAI-Perf's "
                     "perf_analyzer and AIPerf both drain the warm-up and start the measured phase that way), so the "
                     "goal column keeps the first round; the last column leaves it out to show what it carries. "
                     "Requests as in the goal run (as printed; NIM's, not printed, 10 x C and at least 100).")
        lines.append("")
        lines.append("| row | engine | C | published TTFT (ms) | simulated mean (ms) | error | after the first round (ms) | error |")
        lines.append("|---:|---|---:|---:|---:|---:|---:|---:|")
        for r, cl in rounds:
            pub = fnum(r["ttft_mean_ms"])
            every, later = 1e3 * cl["ttft_mean_s"], 1e3 * cl["ttft_mean_after_first_round_s"]
            lines.append(f"| {r['id']} | {r['engine']} | {r['concurrency']} | {pub:.1f} | {every:.1f} | {100 * (every - pub) / pub:+.1f}% | "
                         f"{later:.1f} | {100 * (later - pub) / pub:+.1f}% |")
        lines.append("")
    table("By source", lambda p: p["source_id"])
    table("By engine and GPU", lambda p: f"{p['engine']} {p['engine_version']} / {p['hw']}")
    table("All GPUs", lambda p: "all")
    if skipped:
        lines.append("## Rows not simulated")
        lines.append("")
        for i, src, why in skipped:
            lines.append(f"- row {i} ({src}): {why}")
        lines.append("")
    with open(os.path.join(a.out, "errors.md"), "w") as f:
        f.write("\n".join(lines))
    print("\n".join(lines[:14]))
    if a.rows:
        for p in preds:
            print(f"row {p['id']:>3} {p['metric']:<10} published {p['published']:>12.6g} simulated {p['predicted']:>12.6g} "
                  f"{100 * p['error']:+7.1f}%  preempted {p['preemptions']}")
    try:
        plot(preds, os.path.join(a.out, "errors.png"))
    except ImportError:
        print("matplotlib is missing: errors.png not drawn (apt-get install -y python3-matplotlib)", file=sys.stderr)


def engine_steps(results):
    """(row, published median ITL, simulated median engine step) for the GPUStack rows that print a
    median ITL (TensorRT-LLM's chunked streaming prints 0.12 ms: left out)."""
    out = []
    for row, res, _ in results:
        itl = fnum(row.get("itl_median_ms", ""))
        if res is None or not itl or itl < 1 or row["source_id"] != "gpustack_perflab":
            continue
        p50 = (res.get("tbt_s") or {}).get("p50")
        if p50:
            out.append((row, itl, 1e3 * p50))
    return out


def plot(preds, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    metrics = ["throughput", "ttft", "tpot", "e2e"]
    fig, axes = plt.subplots(1, 4, figsize=(18, 4.6))
    colours = {"h100-sxm": "tab:blue", "h200": "tab:green", "a100-80gb": "tab:orange"}
    for ax, m in zip(axes, metrics):
        ps = [p for p in preds if p["metric"] == m]
        for hw, c in colours.items():
            q = [p for p in ps if p["hw"] == hw]
            ax.scatter([p["published"] for p in q], [p["predicted"] for p in q], s=14, c=c, label=hw)
        if ps:
            lo = min(min(p["published"], p["predicted"]) for p in ps if p["predicted"] > 0)
            hi = max(max(p["published"], p["predicted"]) for p in ps)
            ax.plot([lo, hi], [lo, hi], "k-", lw=0.8)
            ax.plot([lo, hi], [lo * 1.1, hi * 1.1], "k:", lw=0.6)
            ax.plot([lo, hi], [lo / 1.1, hi / 1.1], "k:", lw=0.6)
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_title(m + (" (ms)" if m != "throughput" else " (tok/s or req/s)"))
        ax.set_xlabel("published")
        ax.set_ylabel("moska-sim")
        ax.legend(fontsize=7)
    fig.suptitle("moska-sim vs published serving measurements (dotted: +-10%)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


if __name__ == "__main__":
    main()
