"""Reproduction (c): Infinite-LLM against vLLM-multi and vLLM-single at fixed load.

Two metrics, both over heavy-tailed lognormal prompts (mean 8K, sigma 1.5, clamped to 60K / 200K /
2M) and 64-512 outputs, LLaMA2-7B on n x 1 A100-80GB:
 * SLO capacity: the highest Poisson rate at which 90% of requests meet TTFT <= 10 s and mean TBT
   <= 0.2 s (`moska-sim capacity --knob rate`; 400 x n requests a probe). A rejected request
   misses the SLO.
 * Saturation throughput: each run is an open-loop Poisson stream offered above every system's capacity (rate_per_instance x
instances requests/s, heavy-tailed lognormal prompts of mean 8K and sigma 1.5, 64-512 outputs); the
throughput is the output tokens generated inside the window [warm x T, T], T the last arrival (the
instances are saturated throughout it, and no drain is counted). A request's first token is at
arrival + TTFT and its other tokens are spread evenly up to its finish (requests.csv gives no
per-token times). Rejected requests generate nothing: they count as zero tokens, and the share of
requests arriving in the window that were rejected is reported beside the throughput.

usage: steady.py SIM OUT_DIR   (writes OUT_DIR/capacity.csv, steady.csv, sensitivity.csv; prints the tables)
"""
import concurrent.futures as cf
import csv
import os
import subprocess
import sys
import json
import re
import tempfile

SCEN = "workloads/infinite-llm-longtail.json"
RATE_PER_INSTANCE = 1.0   # requests/s: ~1.5x vLLM-multi's capacity at 60K (0.69/s an instance)
SECONDS = 400             # of arrivals
WARM = 0.25               # the window starts at WARM x the last arrival


def window_tokens(rows, a, b):
    tokens = 0.0
    for r in rows:
        if r["status"] != "finished" and float(r["ttft_s"]) < 0:
            continue
        n = int(r["output_tokens"])
        first = float(r["arrival_s"]) + float(r["ttft_s"])
        end = float(r["arrival_s"]) + float(r["e2e_s"]) if float(r["e2e_s"]) >= 0 else None
        if a <= first <= b:
            tokens += 1
        if n <= 1:
            continue
        if end is None:  # unfinished at the end: its tokens made so far are unknown; count none after the first
            continue
        lo, hi = max(first, a), min(end, b)
        if hi > lo and end > first:
            tokens += (n - 1) * (hi - lo) / (end - first)
    return tokens


def run(sim, sets):
    with tempfile.TemporaryDirectory() as d:
        args = [sim, "run", SCEN, "--out", d]
        for k, v in sets.items():
            args += ["--set", f"{k}={v}"]
        subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
        rows = list(csv.DictReader(open(os.path.join(d, "requests.csv"))))
    last = max(float(r["arrival_s"]) for r in rows)
    a, b = WARM * last, last
    inwin = [r for r in rows if a <= float(r["arrival_s"]) <= b]
    rej = sum(r["status"] == "rejected" for r in inwin)
    return dict(out_tok_s=window_tokens(rows, a, b) / (b - a), rejected_share=rej / max(1, len(inwin)),
                rejected=sum(r["status"] == "rejected" for r in rows),
                unfinished=sum(r["status"] == "unfinished" for r in rows), window_s=b - a)


SLO = ["--slo-ttft", "10", "--slo-tbt", "0.2", "--knob", "rate", "--attainment", "0.9", "--tol", "0.02"]


def capacity(sim, sets):
    n = int(sets["pools.0.instances"])
    args = [sim, "capacity", SCEN, "--lo", str(0.25 * n)] + SLO
    for k, v in sets.items():
        if k != "workload.generator.arrival.rate_per_s":
            args += ["--set", f"{k}={v}"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    m = re.search(r"^capacity: rate \S+ = ([0-9.]+) requests/s .*goodput ([0-9.]+) requests/s", out, re.M)
    if not m:
        return dict(slo_rate=0.0, slo_goodput=0.0)
    return dict(slo_rate=float(m.group(1)), slo_goodput=float(m.group(2)))


def base(n, mx):
    return {"pools.0.instances": n, "workload.generator.requests": int(RATE_PER_INSTANCE * n * SECONDS),
            "workload.generator.arrival.rate_per_s": RATE_PER_INSTANCE * n,
            "workload.generator.input_tokens.sigma": 1.5, "workload.generator.input_tokens.max": mx}


def grid():
    """(key, sets) of every configuration compared: vLLM-multi (lending none), reactive, planner under
    both dispatch policies; vLLM-single with its stages serial and in a steady pipeline."""
    for mx in (60000, 200000, 2000000):
        for n in (2, 8, 32):
            for disp in ("least-loaded", "round-robin"):
                for lend in ("none", "reactive", "planner"):
                    yield dict(max=mx, instances=n, dispatch=disp, system=lend), \
                        base(n, mx) | {"scheduler.dispatch": disp, "lending": lend}
            for sched in ("serial", "steady"):
                s = base(n, mx) | {"lending": "reactive", "stages": n}
                if sched == "steady":
                    # vLLM's pipeline: one scheduler a virtual engine (micro-batch), each with the caps
                    s |= {"microbatches": n, "pipeline_schedule": "steady", "scheduler.max_batch": 256 * n,
                          "scheduler.max_batched_tokens": 8192 * n}
                yield dict(max=mx, instances=n, dispatch="-", system=f"vllm-single-{sched}"), s


def sensitivity():
    """At 60K, 8 instances, round-robin: what the lending cap, block size, heartbeat and admission move."""
    for lend in ("none", "reactive"):
        for key, vals in (("lend_cap", (0.25, 0.5, 0.9)), ("scheduler.kv_block_tokens", (16, 64, 256)),
                          ("infinite_llm.heartbeat_s", (0.01, 0.1, 1.0)),
                          ("scheduler.policy", ("vllm-v1", "vllm-v0"))):
            for v in vals:
                if lend == "none" and key in ("lend_cap", "infinite_llm.heartbeat_s"):
                    continue
                s = base(8, 60000) | {"scheduler.dispatch": "round-robin", "lending": lend, key: v}
                if key == "scheduler.policy" and v == "vllm-v0":
                    s["scheduler.chunked_prefill"] = "false"
                yield dict(knob=key, value=v, system=lend), s


BIMODAL = "workloads/infinite-llm-bimodal.json"


def bimodal():
    """The v2 planner where it should help: 90% chats (lognormal mean 300) and 10% documents of
    40-110K tokens (each fits one instance, so vLLM-multi rejects none), 8 instances; the SLO's TTFT
    bound is 30 s (a 110K-token prefill alone takes ~10 s)."""
    docs = {"workload.generator.input_tokens.parts.1.tokens.mean": 80000,
            "workload.generator.input_tokens.parts.1.tokens.min": 40000,
            "workload.generator.input_tokens.parts.1.tokens.max": 110000,
            "pools.0.instances": 8, "workload.generator.requests": 3200}
    for disp in ("round-robin", "least-loaded"):
        for name, s in (("none", {"lending": "none"}), ("reactive", {"lending": "reactive"}),
                        ("planner-16", {"lending": "planner"}),
                        ("planner-256", {"lending": "planner", "migrate_tokens": 256}),
                        ("planner+reactive", {"lending": "planner", "infinite_llm.planner_borrows": "any"})):
            yield dict(dispatch=disp, system=name), docs | s | {"scheduler.dispatch": disp}


def capacity_bimodal(sim, sets):
    args = [sim, "capacity", BIMODAL, "--lo", "2", "--slo-ttft", "30", "--slo-tbt", "0.2", "--knob", "rate",
            "--attainment", "0.9", "--tol", "0.02"]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    m = re.search(r"^capacity: rate \S+ = ([0-9.]+) requests/s", out, re.M)
    return dict(slo_rate=float(m.group(1)) if m else 0.0)


def planner_counters(sim, sets, rate):
    args = [sim, "run", BIMODAL, "--json", "--set", f"workload.generator.arrival.rate_per_s={rate}"]
    for k, v in sets.items():
        args += ["--set", f"{k}={v}"]
    j = json.loads(subprocess.run(args, check=True, capture_output=True, text=True).stdout)
    c = {k: v for k, v in j.get("counters", {}).items()} if isinstance(j.get("counters"), dict) else \
        {x["name"]: x["value"] for x in j.get("counters", [])}
    return dict(migrations=c.get("migrations", 0), migrated_blocks=c.get("migrated_blocks", 0),
                kv_borrows=c.get("kv_borrows", 0), ttft_mean_s=j["ttft_s"]["mean"])


def nic():
    """32 instances over 4 nodes: the profile's NIC (25 GB/s a GPU) against the summary's "125 MB/s"
    Ethernet, for vLLM-single's steady pipeline (3 stage boundaries cross nodes) and Infinite-LLM."""
    for mx in (60000, 2000000):
        for bw in ("profile", 0.125):
            extra = {} if bw == "profile" else {"infinite_llm.inter_node_bw_gbps": bw}
            yield dict(max=mx, nic=bw, system="vllm-single-steady"), base(32, mx) | extra | {
                "lending": "reactive", "stages": 32, "microbatches": 32, "pipeline_schedule": "steady",
                "scheduler.max_batch": 256 * 32, "scheduler.max_batched_tokens": 8192 * 32}
            yield dict(max=mx, nic=bw, system="reactive"), base(32, mx) | extra | {
                "lending": "reactive", "scheduler.dispatch": "least-loaded"}


def write(path, rows):
    with open(path, "w") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()})


def main():
    sim, out = sys.argv[1], sys.argv[2]
    jobs = list(grid())
    sens = list(sensitivity())
    with cf.ThreadPoolExecutor(max_workers=2) as ex:
        cap = list(ex.map(lambda j: capacity(sim, j[1]), jobs))
        sat = list(ex.map(lambda j: run(sim, j[1]), jobs))
        scap = list(ex.map(lambda j: capacity(sim, j[1]), sens))
        bim = list(bimodal())
        bcap = list(ex.map(lambda j: capacity_bimodal(sim, j[1]), bim))
        bcnt = list(ex.map(lambda j: planner_counters(sim, j[1], 2.5), bim))
        nj = list(nic())
        nres = list(ex.map(lambda j: run(sim, j[1]), nj))
    write(os.path.join(out, "nic.csv"), [j[0] | r for j, r in zip(nj, nres)])
    write(os.path.join(out, "bimodal.csv"), [j[0] | c | k for j, c, k in zip(bim, bcap, bcnt)])
    rows = [j[0] | c | s for j, c, s in zip(jobs, cap, sat)]
    write(os.path.join(out, "steady.csv"), rows)
    write(os.path.join(out, "sensitivity.csv"), [j[0] | c for j, c in zip(sens, scap)])
    t = {(r["max"], r["instances"], r["dispatch"], r["system"]): r for r in rows}
    for metric, title in (("slo_rate", "SLO capacity (requests/s: 90% with TTFT <= 10 s, TBT <= 0.2 s)"),
                          ("out_tok_s", "Saturation throughput (output tok/s in the window)")):
        print(title + "; x = Infinite-LLM (best of reactive, planner) over the baseline")
        print(f"{'max':>7} {'n':>3} {'dispatch':>12} {'multi':>8} {'rej%':>5} {'reactive':>8} {'planner':>8} "
              f"{'x multi':>7} {'1-serial':>9} {'1-steady':>9} {'x single (steady-serial)':>24}")
        for (mx, n, disp, name), r in t.items():
            if name != "none":
                continue
            m = r[metric]
            re_, pl = t[(mx, n, disp, "reactive")][metric], t[(mx, n, disp, "planner")][metric]
            best = max(re_, pl)
            s1 = t[(mx, n, "-", "vllm-single-serial")][metric]
            s2 = t[(mx, n, "-", "vllm-single-steady")][metric]
            ratio = lambda a, b: f"{a / b:.2f}" if b > 0 else "inf"
            print(f"{mx:>7} {n:>3} {disp:>12} {m:8.2f} {100 * r['rejected_share']:5.1f} {re_:8.2f} {pl:8.2f} "
                  f"{ratio(best, m):>7} {s1:9.2f} {s2:9.2f} {ratio(best, s2):>14}-{ratio(best, s1)}")
        print()
    print("Bimodal (90% chats, 10% documents of 40-110K), 8 instances: SLO capacity (TTFT <= 30 s, TBT <= 0.2 s), "
          "and at 2.5 requests/s the planner's migrations, blocks moved, borrows, mean TTFT")
    for j, c, k in zip(bim, bcap, bcnt):
        print(f"  {j[0]['dispatch']:>12} {j[0]['system']:>12} {c['slo_rate']:7.3f} r/s   {k['migrations']:6.0f} "
              f"{k['migrated_blocks']:8.0f} {k['kv_borrows']:6.0f} {k['ttft_mean_s']:7.2f} s")
    print()
    print("Inter-node link, 32 instances on 4 nodes: saturation throughput (output tok/s)")
    for j, r in zip(nj, nres):
        print(f"  {j[0]['max']:>7} NIC {str(j[0]['nic']):>8} {j[0]['system']:>20} {r['out_tok_s']:8.0f}")
    print()
    print("Sensitivity (60K, 8 instances, round-robin): SLO capacity, requests/s")
    for j, c in zip(sens, scap):
        print(f"  {j[0]['system']:>8} {j[0]['knob']:>26} = {str(j[0]['value']):<8} {c['slo_rate']:7.3f}")


if __name__ == "__main__":
    main()
