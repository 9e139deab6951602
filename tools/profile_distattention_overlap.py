#!/usr/bin/env python3
"""Why one measured DistAttention layer (tools/profile_distattention.py, distattn rows) takes 1.55-1.75x
its micro-attention when the model's critical path says max(local micro, query + remote micro +
partials) + merge. Two ranks, LLaMA2-13B heads (40 x 128, bf16), the Triton kernels of
profile_kernels.py, eager NCCL. Run from the repository root:

    NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 \
        torchrun --standalone --nproc_per_node=2 tools/profile_distattention_overlap.py pending|layer

pending: the home's micro-attention timed by CUDA events alone, with the partials' receive already
         posted (an NCCL kernel resident and waiting), and with the receive posted after it; the holder
         runs its micro-attention meanwhile in every mode (alone0/alone3 bracket the others).
layer:   the whole layer, 4 calls back to back, with both micro-attentions (both), only the holder's
         (remote_only), only the home's (home_only), none (the messages and the merge), and the
         micro-attention alone (micro). Prints one line per point on rank 0 (us per call).
timeline [--out DIR]: per call, CUDA events on both ranks against a common zero (an all_reduce both
         GPUs leave together): when the home's micro-attention starts and ends, when the holder's starts
         (its query arrived) and ends, when the partials are in, when the merge ends; and each host's
         time per call. Three implementations: base (as profile_distattention.py: query send and
         partials' receive posted on NCCL's default-priority stream, then the home's micro-attention),
         hiprio (the same on NCCL streams of high priority), qfirst (the home's micro-attention waits
         for the query's send to complete). Writes DIR/distattn_timeline.csv, one row per point and
         implementation (medians over the steady-state calls), and prints it.
Results of 2026-11-30 on 2x H200: hw_profiles/h200/distattn_overlap.txt.
"""
import os
import statistics
import sys
import time

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import profile_kernels as pk  # noqa: E402
import dist_start  # noqa: E402

N_HEADS = 40
HEAD_DIM = 128

# timeline: the (batch, ctx) points, and the CSV's columns
TL_POINTS = [(b, S) for S in (4096, 16384, 65536, 262144) for b in (1, 4, 16, 32) if b * S <= 1 << 21]
TL_FIELDS = ["impl", "batch", "ctx", "layer_us", "home_micro_us", "holder_micro_us", "holder_lag_us",
             "holder_end_lag_us", "home_wait_us", "merge_us", "home_host_us", "holder_host_us",
             "micro_alone_us"]


def new_event():
    """A CUDA event that records time."""
    return torch.cuda.Event(enable_timing=True)


def pending(rank, device):
    """Mode pending: the home's (rank 0's) micro-attention timed by CUDA events alone, per mode:
    alone (no communication), pend (the partials' receive posted before it), late (the receive posted
    after it), alone again. The holder (rank 1) runs its micro-attention in every mode and, except in
    alone, sends the partial. Prints per point each mode's median (us) on rank 0."""
    for batch, ctx in [(4, 65536), (16, 16384), (32, 16384), (32, 65536), (4, 262144)]:
        ctx_per_rank = ctx // 2
        q = torch.randn(batch, N_HEADS, 1, HEAD_DIM, device=device, dtype=torch.bfloat16)
        k = torch.randn(batch, N_HEADS, ctx_per_rank, HEAD_DIM, device=device, dtype=torch.bfloat16)
        v = torch.randn_like(k)
        partial_buf = torch.empty(batch, N_HEADS, HEAD_DIM, device=device, dtype=torch.bfloat16)

        def one_call(mode):
            """One micro-attention on each rank between two events (returned), the partial's
            transfer posted as `mode` says."""
            events = [new_event(), new_event()]
            if rank == 0:
                if mode == "pend":
                    reqs = dist.batch_isend_irecv([dist.P2POp(dist.irecv, partial_buf, 1)])
                else:
                    reqs = []
                events[0].record()
                pk.flash_lse(q, k, v)
                events[1].record()
                if mode == "late":
                    reqs = dist.batch_isend_irecv([dist.P2POp(dist.irecv, partial_buf, 1)])
                for req in reqs:
                    req.wait()
            else:
                events[0].record()
                pk.flash_lse(q, k, v)
                events[1].record()
                if mode != "alone":
                    for req in dist.batch_isend_irecv([dist.P2POp(dist.isend, partial_buf, 0)]):
                        req.wait()
            return events

        results = {}
        for mode in ["alone", "pend", "late", "alone"]:
            for _ in range(3):  # warm-up
                one_call(mode)
            torch.cuda.synchronize()
            dist.barrier()
            call_events = [one_call(mode) for _ in range(20)]
            torch.cuda.synchronize()
            median_us = torch.tensor(
                [statistics.median(start.elapsed_time(end) * 1e3 for start, end in call_events)],
                device=device)
            # keys: the mode and its position (alone0, pend1, late2, alone3)
            results[mode + str(len(results))] = median_us.item()
        if rank == 0:
            print(batch, ctx, {key: round(value, 1) for key, value in results.items()}, flush=True)


def time_calls_us(fn, n):
    """`fn` called n times back to back between two CUDA events: microseconds per call."""
    start, end = new_event(), new_event()
    start.record()
    for _ in range(n):
        fn()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) * (1000 / n)  # ms for n calls -> us per call (1000 / n exact for 4, 8)


def layer_tensors(batch, ctx, device):
    """One point's tensors, each rank holding ctx/2 tokens: the query, its K and V (random), the two
    ranks' partial outputs and LSEs, the holder's query buffer and the merged output."""
    bf16 = torch.bfloat16
    q = torch.randn(batch, N_HEADS, 1, HEAD_DIM, device=device, dtype=bf16)
    k = torch.randn(batch, N_HEADS, ctx // 2, HEAD_DIM, device=device, dtype=bf16)
    v = torch.randn_like(k)
    o_parts = torch.empty(2, batch, N_HEADS, HEAD_DIM, device=device, dtype=bf16)
    lse_parts = torch.empty(2, batch, N_HEADS, device=device)
    q_buf = torch.empty_like(q)
    out = torch.empty(batch, N_HEADS, HEAD_DIM, device=device, dtype=bf16)
    return q, k, v, o_parts, lse_parts, q_buf, out


def layer(rank, device):
    """Mode layer: the whole DistAttention layer (home rank 0, holder rank 1), us per call over 4 calls
    back to back, with both micro-attentions (both), only the holder's (remote_only), only the home's
    (home_only), none (the messages and the merge); and the micro-attention alone (micro, 8 calls).
    Prints one line per point on rank 0."""
    for batch, ctx in [(4, 65536), (32, 16384), (32, 65536), (4, 262144)]:
        q, k, v, o_parts, lse_parts, q_buf, out = layer_tensors(batch, ctx, device)

        def layer_call(home_micro, holder_micro):
            """One layer call: the home sends the query and posts the partials' receives, runs its
            micro-attention if home_micro, merges; the holder receives the query, runs its
            micro-attention if holder_micro, sends the partial."""
            if rank == 0:
                reqs = (dist.batch_isend_irecv([dist.P2POp(dist.isend, q, 1)])
                        + dist.batch_isend_irecv([dist.P2POp(dist.irecv, o_parts[1], 1),
                                                  dist.P2POp(dist.irecv, lse_parts[1], 1)]))
                if home_micro:
                    pk.flash_lse(q, k, v)
                for req in reqs:
                    req.wait()
                pk.merge_parts_fast(o_parts, lse_parts, out=out)
            else:
                for req in dist.batch_isend_irecv([dist.P2POp(dist.irecv, q_buf, 0)]):
                    req.wait()
                if holder_micro:
                    pk.flash_lse(q_buf, k, v)
                for req in dist.batch_isend_irecv([dist.P2POp(dist.isend, o_parts[1], 0),
                                                   dist.P2POp(dist.isend, lse_parts[1], 0)]):
                    req.wait()

        results = {}
        for name, home_micro, holder_micro in [("both", 1, 1), ("remote_only", 0, 1), ("home_only", 1, 0),
                                               ("none", 0, 0)]:
            for _ in range(3):  # warm-up
                layer_call(home_micro, holder_micro)
            torch.cuda.synchronize()
            dist.barrier()
            samples = []
            for _ in range(5):
                samples.append(time_calls_us(lambda: layer_call(home_micro, holder_micro), 4))
            results[name] = round(statistics.median(samples), 1)
        results["micro"] = round(time_calls_us(lambda: pk.flash_lse(q, k, v), 8), 1)
        if rank == 0:
            print(batch, ctx, results, flush=True)


def timeline(rank, device):
    """Mode timeline [--out DIR]: per layer call, CUDA events on both ranks against a common zero (after
    an all_reduce), and each host's time per call, for the implementations base, hiprio (NCCL streams
    of high priority) and qfirst (the home's micro-attention waits for the query's send). Prints one CSV
    row per point and implementation (medians over calls 1..N-1) on rank 0, and writes them to
    DIR/distattn_timeline.csv."""
    out_dir = sys.argv[sys.argv.index("--out") + 1] if "--out" in sys.argv else None
    hiprio_group = dist_start.high_priority_group([0, 1])
    csv_file = None
    if rank == 0 and out_dir:
        os.makedirs(out_dir, exist_ok=True)
        csv_file = open(os.path.join(out_dir, "distattn_timeline.csv"), "w")
        csv_file.write(",".join(TL_FIELDS) + "\n")
        csv_file.flush()
    n_calls = 6  # calls per repetition
    reps = 3
    for batch, ctx in TL_POINTS:
        q, k, v, o_parts, lse_parts, q_buf, out = layer_tensors(batch, ctx, device)

        def micro_into(slot, query):
            """This rank's micro-attention of `query` over its K, V into partial slot `slot`."""
            o, lse = pk.flash_lse(query, k, v)
            o_parts[slot].copy_(o.reshape(batch, N_HEADS, HEAD_DIM))
            lse_parts[slot].copy_(lse.reshape(batch, N_HEADS, -1)[..., 0])

        def timeline_call(impl, events):
            """One layer call of implementation `impl`, recording its 5 events: 0 the call's start,
            1 the micro-attention's start (on the holder: the query arrived), 2 its end, 3 the partials
            in (home) / sent (holder), 4 the merge's end (home) / = 3 (holder)."""
            group = hiprio_group if impl == "hiprio" else None
            events[0].record()
            if rank == 0:
                q_reqs = dist.batch_isend_irecv([dist.P2POp(dist.isend, q, 1, group=group)])
                partial_reqs = dist.batch_isend_irecv([dist.P2POp(dist.irecv, o_parts[1], 1, group=group),
                                                       dist.P2POp(dist.irecv, lse_parts[1], 1, group=group)])
                if impl == "qfirst":
                    for req in q_reqs:
                        req.wait()
                events[1].record()
                micro_into(0, q)
                events[2].record()
                for req in q_reqs + partial_reqs:
                    req.wait()
                events[3].record()
                pk.merge_parts_fast(o_parts, lse_parts, out=out)
                events[4].record()
            else:
                for req in dist.batch_isend_irecv([dist.P2POp(dist.irecv, q_buf, 0, group=group)]):
                    req.wait()
                events[1].record()
                micro_into(1, q_buf)
                events[2].record()
                for req in dist.batch_isend_irecv([dist.P2POp(dist.isend, o_parts[1], 0, group=group),
                                                   dist.P2POp(dist.isend, lse_parts[1], 0, group=group)]):
                    req.wait()
                events[3].record()
                events[4].record()

        sync_tensor = torch.ones(1, device=device)
        # the micro-attention alone on each rank (both GPUs busy at once, no communication)
        for _ in range(3):
            pk.flash_lse(q, k, v)
        torch.cuda.synchronize()
        dist.barrier()
        micro_alone_us = time_calls_us(lambda: pk.flash_lse(q, k, v), 8)
        for impl in ("base", "hiprio", "qfirst"):
            for _ in range(3):  # warm-up
                timeline_call(impl, [new_event() for _ in range(5)])
            calls = []  # per repetition: (events' times in us since zero per call, host us per call)
            for _ in range(reps):
                torch.cuda.synchronize()
                dist.barrier()
                dist.all_reduce(sync_tensor)
                zero = new_event()
                zero.record()
                call_events = []
                host_times = []
                for _ in range(n_calls):
                    host_times.append(time.perf_counter())
                    events = [new_event() for _ in range(5)]
                    timeline_call(impl, events)
                    call_events.append(events)
                host_times.append(time.perf_counter())
                torch.cuda.synchronize()
                event_us = [[zero.elapsed_time(event) * 1e3 for event in events] for events in call_events]
                calls.append((event_us, [(host_times[i + 1] - host_times[i]) * 1e6 for i in range(n_calls)]))
            rank_calls = [None, None]
            dist.all_gather_object(rank_calls, calls)
            if rank == 0:
                samples = {field: [] for field in TL_FIELDS[3:]}
                for (home_us, home_host_us), (holder_us, holder_host_us) in zip(rank_calls[0], rank_calls[1]):
                    # merge end to merge end, first call to last, per call
                    samples["layer_us"].append((home_us[-1][4] - home_us[0][4]) / (n_calls - 1))
                    for i in range(1, n_calls):  # call 0 left out
                        samples["home_micro_us"].append(home_us[i][2] - home_us[i][1])
                        samples["holder_micro_us"].append(holder_us[i][2] - holder_us[i][1])
                        samples["holder_lag_us"].append(holder_us[i][1] - home_us[i][1])
                        samples["holder_end_lag_us"].append(holder_us[i][2] - home_us[i][2])
                        samples["home_wait_us"].append(home_us[i][3] - home_us[i][2])
                        samples["merge_us"].append(home_us[i][4] - home_us[i][3])
                        samples["home_host_us"].append(home_host_us[i])
                        samples["holder_host_us"].append(holder_host_us[i])
                row = ([impl, batch, ctx]
                       + [round(statistics.median(samples[field]), 1) for field in TL_FIELDS[3:-1]]
                       + [round(micro_alone_us, 1)])
                print(",".join(str(x) for x in row), flush=True)
                if csv_file:
                    csv_file.write(",".join(str(x) for x in row) + "\n")
                    csv_file.flush()
        del q, k, v, o_parts, lse_parts, q_buf, out
        torch.cuda.empty_cache()


def main():
    """Joins the process group, runs the mode named by the first argument, leaves the group."""
    rank, _, device, _ = dist_start.start()
    measure = {"pending": pending, "layer": layer, "timeline": timeline}[sys.argv[1]]
    measure(rank, device)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
