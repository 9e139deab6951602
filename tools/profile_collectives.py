#!/usr/bin/env python3
"""NCCL collectives on the GPUs of one host, timed eagerly (no CUDA graph): all_reduce, all_gather,
reduce_scatter and a one-way send/recv, bf16, message sizes 4 KiB .. 512 MiB.

    NCCL_NVLS_ENABLE=0 torchrun --nproc_per_node=N tools/profile_collectives.py --out DIR [--max-mib 512]

Writes DIR/collectives_measured.csv (op,bytes,ranks,time_us,busbw_gbs,method) row by row from rank 0,
and DIR/collectives_meta.json. bytes: all_reduce = the tensor on each rank; all_gather = the gathered
output; reduce_scatter = the input on each rank (= output x ranks); send_recv = the message. Time: the
median over REPS calls of (event after - event before) / calls, CUDA events on rank 0 after a barrier,
after WARM warm-up calls. Eager launches add a few microseconds that an engine's CUDA graph would not;
the profiler's graph-captured collectives (tools/profile_kernels.py --families collectives) hung on
the lent machine, so these are the measured points.
"""
import argparse
import datetime
import json
import os
import statistics
import sys
import time

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dist_start  # noqa: E402

WARM = 5
REPS = 7
CALLS = 10


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-mib", type=int, default=512)
    ap.add_argument("--deadline-s", type=float, default=150.0)
    a = ap.parse_args()
    t0 = time.time()
    rank, world, dev, _ = dist_start.start()
    os.makedirs(a.out, exist_ok=True)
    csv = None
    if rank == 0:
        csv = open(os.path.join(a.out, "collectives_measured.csv"), "w")
        csv.write("op,bytes,ranks,time_us,busbw_gbs,method\n")
        csv.flush()

    def timed(fn):
        for _ in range(WARM):
            fn()
        torch.cuda.synchronize()
        samples = []
        for _ in range(REPS):
            dist.barrier()
            s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            s.record()
            for _ in range(CALLS):
                fn()
            e.record()
            torch.cuda.synchronize()
            samples.append(s.elapsed_time(e) * 1000.0 / CALLS)
        t = torch.tensor([statistics.median(samples)], device=dev)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)  # the slower rank's median
        return t.item()

    sizes = []
    b = 4096
    while b <= a.max_mib * 1024 * 1024:
        sizes.append(b)
        b *= 4
    if sizes[-1] != a.max_mib * 1024 * 1024:
        sizes.append(a.max_mib * 1024 * 1024)
    bus = {"all_reduce": 2.0 * (world - 1) / world, "all_gather": (world - 1) / world,
           "reduce_scatter": (world - 1) / world, "send_recv": 1.0}
    for op in ["all_reduce", "all_gather", "reduce_scatter", "send_recv"]:
        for nbytes in sizes:
            if time.time() - t0 > a.deadline_s:
                break
            n = nbytes // 2
            if op == "all_reduce":
                x = torch.randn(n, dtype=torch.bfloat16, device=dev)
                fn = lambda: dist.all_reduce(x)
            elif op == "all_gather":
                inp = torch.randn(n // world, dtype=torch.bfloat16, device=dev)
                outp = torch.empty(n // world * world, dtype=torch.bfloat16, device=dev)
                fn = lambda: dist.all_gather_into_tensor(outp, inp)
            elif op == "reduce_scatter":
                inp = torch.randn(n // world * world, dtype=torch.bfloat16, device=dev)
                outp = torch.empty(n // world, dtype=torch.bfloat16, device=dev)
                fn = lambda: dist.reduce_scatter_tensor(outp, inp)
            else:
                x = torch.randn(n, dtype=torch.bfloat16, device=dev)
                if rank == 0:
                    fn = lambda: dist.send(x, 1)
                elif rank == 1:
                    fn = lambda: dist.recv(x, 0)
                else:
                    fn = lambda: None
            us = timed(fn)
            if rank == 0:
                bw = nbytes * bus[op] / (us * 1e-6) / 1e9
                csv.write("%s,%d,%d,%.3f,%.2f,eager\n" % (op, nbytes, world, us, bw))
                csv.flush()
                print("%-15s %12d B %10.2f us %8.1f GB/s" % (op, nbytes, us, bw), flush=True)
    if rank == 0:
        meta = {"gpu": torch.cuda.get_device_name(dev), "ranks": world, "torch": torch.__version__,
                "nccl": ".".join(str(v) for v in torch.cuda.nccl.version()),
                "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "env": {k: os.environ.get(k) for k in ["NCCL_NVLS_ENABLE", "NCCL_ALGO", "NCCL_PROTO"]},
                "method": "eager calls, CUDA events on each rank, %d warm-up, median of %d x %d calls, max over ranks"
                          % (WARM, REPS, CALLS)}
        with open(os.path.join(a.out, "collectives_meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    sys.exit(main())
