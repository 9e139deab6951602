#!/usr/bin/env python3
"""DistAttention vs RingAttention-style KV exchange vs head-wise TP attention, one decode layer,
LLaMA2-13B attention shapes (40 query = KV heads, head dim 128, bf16), on the GPUs of one host.

    NCCL_NVLS_ENABLE=0 TORCH_SYMM_MEM_DISABLE_MULTICAST=1 NVSHMEM_DISABLE_NVLS=1 \
        torchrun --standalone --nproc_per_node=2 tools/profile_distattention.py --out DIR

Each point: b requests of S context tokens each, their KV spread evenly over the P ranks.
  full        one GPU attends all S tokens of the b requests (no communication; the reference)
  micro       one rank's micro-attention: S/P tokens, returning (out, LSE)   (the cost layer's attn_decode_lse)
  merge       the exact LSE merge of P partials on the home rank (Triton kernel of profile_kernels.py)
  qp_rtt      the query out to every holder and its partial (out bf16 + LSE fp32) back, no compute
  distattn    home rank 0: query to each holder, local micro-attention while the holders compute theirs,
              partials back, merge (the whole layer, timed on the home rank). Eager, NCCL's default-priority
              stream: the holder starts when the home's micro-attention is ~87% done (the "base" implementation
              of profile_distattention_overlap.py timeline; hw_profiles/h200/distattn_overlap.txt)
  ring        every rank: its KV block passed around the ring (P-1 exchanges of S/P tokens' K and V,
              each overlapped with the attention on the block at hand), P partials merged
  tp          head-wise TP: each rank attends H/P heads over all S tokens, outputs all-gathered
  allgather   that all-gather alone
  peer_copy   (rank 0 after the process group is closed) one-way cudaMemcpyPeer of N bytes GPU0 -> GPU1
Writes DIR/distattn_measured.csv (method,ranks,batch,ctx,n_heads,head_dim,bytes_moved,time_us,method_note)
row by row from rank 0, and DIR/distattn_meta.json (versions, correctness checks, method). Timing:
eager calls (NCCL inside CUDA graphs hung on the lent machine), CUDA events on each rank after a
barrier, median of REPS x CALLS calls, the slower rank's median. Without CUDA (a logic test) it runs
on gloo with fp32 math and tiny shapes.
"""
import argparse
import datetime
import json
import math
import os
import statistics
import sys
import time

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import dist_start  # noqa: E402

H = 40
D = 128
WARM = 3
REPS = 5
CALLS = 4


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--deadline-s", type=float, default=110.0)
    ap.add_argument("--batches", default="1,4,16,32")
    ap.add_argument("--ctxs", default="4096,16384,65536,262144")
    ap.add_argument("--max-tokens", type=int, default=1 << 21, help="skip points with batch*ctx above this")
    a = ap.parse_args()
    t0 = time.time()
    rank, world, dev, cuda = dist_start.start()
    if cuda:
        dt = torch.bfloat16
        import profile_kernels as pk
    else:
        dt = torch.float32
        pk = None
    P = world
    home = 0
    os.makedirs(a.out, exist_ok=True)
    csv = None
    if rank == 0:
        csv = open(os.path.join(a.out, "distattn_measured.csv"), "w")
        csv.write("method,ranks,batch,ctx,n_heads,head_dim,bytes_moved,time_us,method_note\n")
        csv.flush()
    checks = {}

    def log(*x):
        if rank == 0:
            print("[%6.1fs]" % (time.time() - t0), *x, flush=True)

    # ------------------------------------------------------------------ kernels
    def attn_lse(q, k, v):
        """q [B,Hh,1,D], k/v [B,Hh,S,D] -> out [B,Hh,1,D], lse fp32 [B,Hh,1]."""
        if cuda:
            return pk.flash_lse(q, k, v)
        s = (q.float() @ k.float().transpose(-1, -2)) / math.sqrt(q.shape[-1])
        lse = torch.logsumexp(s, -1)
        o = torch.softmax(s, -1) @ v.float()
        return o.to(q.dtype), lse

    def merge(o_all, l_all, out):
        """o_all [P,B,H,D], l_all [P,B,H] fp32 -> out [B,H,D]."""
        if cuda:
            return pk.merge_parts_fast(o_all, l_all, out=out)
        m = l_all.amax(0, keepdim=True)
        w = torch.exp(l_all - m)
        out.copy_(((w[..., None] * o_all.float()).sum(0) / w.sum(0)[..., None]).to(out.dtype))
        return out

    def all_gather(outp, inp):
        if cuda:
            dist.all_gather_into_tensor(outp, inp)
        else:
            dist.all_gather(list(outp.chunk(P)), inp)

    def sync():
        if cuda:
            torch.cuda.synchronize()

    def timed(fn):
        for _ in range(WARM):
            fn()
        sync()
        samples = []
        for _ in range(REPS):
            dist.barrier()
            sync()
            if cuda:
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                s.record()
                for _ in range(CALLS):
                    fn()
                e.record()
                torch.cuda.synchronize()
                samples.append(s.elapsed_time(e) * 1000.0 / CALLS)
            else:
                c0 = time.perf_counter()
                for _ in range(CALLS):
                    fn()
                samples.append((time.perf_counter() - c0) * 1e6 / CALLS)
        t = torch.tensor([statistics.median(samples)], device=dev, dtype=torch.float64 if not cuda else torch.float32)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return t.item()

    def row(method, b, S, nbytes, us, note):
        if rank == 0:
            csv.write("%s,%d,%d,%d,%d,%d,%d,%.3f,%s\n" % (method, P, b, S, H, D, nbytes, us, note))
            csv.flush()
            log("%-9s b=%-3d S=%-7d %12d B %11.2f us" % (method, b, S, nbytes, us))

    def rnd(*shape):
        return torch.randn(*shape, device=dev, dtype=dt)

    # ------------------------------------------------------------------ one point
    def point(b, S, check=False):
        Sp = S // P
        Hp = H // P
        if check:  # the same full KV on every rank (seeded), each rank takes its slice
            g = torch.Generator().manual_seed(1234)
            q = torch.randn(b, H, 1, D, generator=g).to(dev, dt)
            Kf = torch.randn(b, H, S, D, generator=g).to(dev, dt)
            Vf = torch.randn(b, H, S, D, generator=g).to(dev, dt)
            K = Kf[:, :, rank * Sp:(rank + 1) * Sp].contiguous()
            V = Vf[:, :, rank * Sp:(rank + 1) * Sp].contiguous()
        else:
            q = rnd(b, H, 1, D)
            K = rnd(b, H, Sp, D)
            V = rnd(b, H, Sp, D)
        o_all = torch.empty(P, b, H, D, device=dev, dtype=dt)
        l_all = torch.empty(P, b, H, device=dev, dtype=torch.float32)
        out = torch.empty(b, H, D, device=dev, dtype=dt)
        qbuf = torch.empty_like(q)
        q_bytes = q.numel() * q.element_size()
        part_bytes = b * H * (D * o_all.element_size() + 4)

        def post_q_and_partials():
            """Home: the query to every holder (one group), then the receives of their partials (a second
            group, posted before the local micro-attention so they do not wait for it); each group matches
            one group a holder posts."""
            reqs = dist.batch_isend_irecv([dist.P2POp(dist.isend, q, j) for j in range(P) if j != home])
            ops = []
            for j in range(P):
                if j != home:
                    ops.append(dist.P2POp(dist.irecv, o_all[j], j))
                    ops.append(dist.P2POp(dist.irecv, l_all[j], j))
            return reqs + dist.batch_isend_irecv(ops)

        # DistAttention (home = rank 0)
        def distattn():
            if rank == home:
                reqs = post_q_and_partials()
                o, l = attn_lse(q, K, V)
                o_all[home].copy_(o.reshape(b, H, D))
                l_all[home].copy_(l.reshape(b, H, -1)[..., 0])
                for r in reqs:
                    r.wait()
                merge(o_all, l_all, out)
            else:
                for r in dist.batch_isend_irecv([dist.P2POp(dist.irecv, qbuf, home)]):
                    r.wait()
                o, l = attn_lse(qbuf, K, V)
                o_all[rank].copy_(o.reshape(b, H, D))
                l_all[rank].copy_(l.reshape(b, H, -1)[..., 0])
                for r in dist.batch_isend_irecv([dist.P2POp(dist.isend, o_all[rank], home),
                                                 dist.P2POp(dist.isend, l_all[rank], home)]):
                    r.wait()

        def qp_rtt():
            if rank == home:
                for r in post_q_and_partials():
                    r.wait()
            else:
                for r in dist.batch_isend_irecv([dist.P2POp(dist.irecv, qbuf, home)]):
                    r.wait()
                for r in dist.batch_isend_irecv([dist.P2POp(dist.isend, o_all[rank], home),
                                                 dist.P2POp(dist.isend, l_all[rank], home)]):
                    r.wait()

        def micro():
            attn_lse(q, K, V)

        def merge_only():
            if rank == home:
                merge(o_all, l_all, out)

        if check:
            distattn()
            sync()
            if rank == home:
                ref, _ = attn_lse(q, Kf, Vf)
                err = (out.float() - ref.view(b, H, D).float()).abs().max().item() / ref.float().abs().max().item()
                checks["distattn_relerr"] = err
        else:
            # connections both ways before anything is timed
            qp_rtt()
            sync()
            dist.barrier()
            row("micro", b, S, 0, timed(micro), "attn with LSE over S/P tokens, 40 heads")
            row("merge", b, S, 0, timed(merge_only), "fused LSE merge of P partials on the home rank")
            row("qp_rtt", b, S, (P - 1) * (q_bytes + part_bytes), timed(qp_rtt),
                "query to each holder, partial (bf16 out + fp32 LSE) back; no compute")
            row("distattn", b, S, (P - 1) * (q_bytes + part_bytes), timed(distattn),
                "home rank: query out, local||remote micro-attention, partials back, merge")
        del qbuf

        # RingAttention-style KV exchange: every rank holds q, its block passes around the ring
        nxt, prv = (rank + 1) % P, (rank - 1) % P
        Kr, Vr = torch.empty_like(K), torch.empty_like(V)
        ro_all = torch.empty_like(o_all)
        rl_all = torch.empty_like(l_all)
        rout = torch.empty_like(out)
        kv_bytes = 2 * K.numel() * K.element_size()

        def ring():
            ck, cv, nk, nv = K, V, Kr, Vr
            for step in range(P):
                reqs = []
                if step < P - 1:
                    reqs = dist.batch_isend_irecv([dist.P2POp(dist.isend, ck, nxt), dist.P2POp(dist.isend, cv, nxt),
                                                   dist.P2POp(dist.irecv, nk, prv), dist.P2POp(dist.irecv, nv, prv)])
                o, l = attn_lse(q, ck, cv)
                src = (rank - step) % P
                ro_all[src].copy_(o.reshape(b, H, D))
                rl_all[src].copy_(l.reshape(b, H, -1)[..., 0])
                for r in reqs:
                    r.wait()
                if step < P - 1:
                    if step == 0:
                        ck, cv, nk, nv = nk, nv, torch.empty_like(K) if P > 2 else None, torch.empty_like(V) if P > 2 else None
                    else:
                        ck, cv, nk, nv = nk, nv, ck, cv
            merge(ro_all, rl_all, rout)

        if check:
            ring()
            sync()
            if rank == home:
                err = (rout.float() - ref.view(b, H, D).float()).abs().max().item() / ref.float().abs().max().item()
                checks["ring_relerr"] = err
        else:
            row("ring", b, S, (P - 1) * kv_bytes, timed(ring),
                "each rank: P-1 exchanges of its S/P tokens' K,V, each overlapped with attention on the block at hand; merge")
        del Kr, Vr, ro_all, rl_all, rout, K, V, o_all, l_all, out

        # head-wise TP: H/P heads over all S tokens, outputs all-gathered
        if check:
            Kt = Kf[:, rank * Hp:(rank + 1) * Hp].contiguous()
            Vt = Vf[:, rank * Hp:(rank + 1) * Hp].contiguous()
            qt = q[:, rank * Hp:(rank + 1) * Hp].contiguous()
            del Kf, Vf
        else:
            qt = rnd(b, Hp, 1, D)
            Kt = rnd(b, Hp, S, D)
            Vt = rnd(b, Hp, S, D)
        gath = torch.empty(P * b * Hp * D, device=dev, dtype=dt)

        def tp():
            o, _ = attn_lse(qt, Kt, Vt)
            all_gather(gath, o.reshape(-1))

        def ag():
            all_gather(gath, qt.reshape(-1))

        if check:
            tp()
            sync()
            if rank == home:
                got = gath.view(P, b, Hp, D).permute(1, 0, 2, 3).reshape(b, H, D)
                err = (got.float() - ref.view(b, H, D).float()).abs().max().item() / ref.float().abs().max().item()
                checks["tp_relerr"] = err
            return
        row("tp", b, S, (P - 1) * b * Hp * D * gath.element_size(), timed(tp),
            "each rank: H/P heads over S tokens, then all_gather of the outputs")
        row("allgather", b, S, (P - 1) * b * Hp * D * gath.element_size(), timed(ag), "the all_gather alone")
        del Kt, Vt, qt

        # the single-GPU reference: all S tokens, all heads, one GPU
        Kf = rnd(b, H, S, D) if rank == home else None
        Vf = rnd(b, H, S, D) if rank == home else None

        def full():
            if rank == home:
                attn_lse(q, Kf, Vf)

        row("full", b, S, 0, timed(full), "one GPU, all S tokens, no communication")
        del Kf, Vf

    # ------------------------------------------------------------------ run
    dist.barrier()
    log("initialised: %d ranks" % P)
    point(2, 2048 if cuda else 64, check=True)
    log("checks", checks)
    batches = [int(x) for x in a.batches.split(",")]
    ctxs = [int(x) for x in a.ctxs.split(",")]
    if not cuda:
        batches, ctxs = [1, 2], [64, 256]
    done = 0
    for S in ctxs:
        for b in batches:
            if b * S > a.max_tokens:
                continue
            stop = torch.tensor([1.0 if time.time() - t0 > a.deadline_s else 0.0], device=dev,
                                dtype=torch.float32 if cuda else torch.float64)
            dist.all_reduce(stop, op=dist.ReduceOp.MAX)
            if stop.item() > 0:
                log("deadline: skipping b=%d S=%d" % (b, S))
                continue
            point(b, S)
            done += 1
            if cuda:
                torch.cuda.empty_cache()
    dist.barrier()
    dist.destroy_process_group()

    # one-way peer copies GPU0 -> GPU1 inside one process (the other path a DistAttention engine may take)
    if rank == 0 and cuda and torch.cuda.device_count() > 1 and time.time() - t0 < a.deadline_s + 15:
        try:
            for nbytes in [b * H * D * 2 for b in (1, 4, 16)] + [1 << 20, 16 << 20, 256 << 20]:
                src = torch.empty(nbytes // 2, dtype=dt, device="cuda:0")
                dst = torch.empty(nbytes // 2, dtype=dt, device="cuda:1")
                fn = lambda: dst.copy_(src, non_blocking=True)
                for _ in range(WARM):
                    fn()
                torch.cuda.synchronize(0)
                torch.cuda.synchronize(1)
                samples = []
                for _ in range(REPS):
                    s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                    s.record()
                    for _ in range(CALLS):
                        fn()
                    e.record()
                    torch.cuda.synchronize(0)
                    torch.cuda.synchronize(1)
                    samples.append(s.elapsed_time(e) * 1000.0 / CALLS)
                csv.write("peer_copy,2,0,0,0,0,%d,%.3f,one process: dst(cuda:1).copy_(src(cuda:0)) eager\n"
                          % (nbytes, statistics.median(samples)))
                csv.flush()
                log("peer_copy %d B %.2f us" % (nbytes, statistics.median(samples)))
        except Exception as exc:  # a peer copy that fails leaves the other rows
            checks["peer_copy_error"] = str(exc)[:200]
    if rank == 0:
        meta = {"gpu": torch.cuda.get_device_name(dev) if cuda else "cpu", "ranks": P, "torch": torch.__version__,
                "nccl": ".".join(str(v) for v in torch.cuda.nccl.version()) if cuda else None,
                "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                "env": {k: os.environ.get(k) for k in ["NCCL_NVLS_ENABLE", "TORCH_SYMM_MEM_DISABLE_MULTICAST",
                                                       "NVSHMEM_DISABLE_NVLS"]},
                "shapes": {"n_heads": H, "n_kv_heads": H, "head_dim": D, "dtype": str(dt)},
                "checks": checks, "points": done, "elapsed_s": round(time.time() - t0, 1),
                "method": "eager calls, CUDA events on each rank, %d warm-up, median of %d x %d calls, max over ranks"
                          % (WARM, REPS, CALLS)}
        with open(os.path.join(a.out, "distattn_meta.json"), "w") as f:
            json.dump(meta, f, indent=1)
        csv.close()


if __name__ == "__main__":
    sys.exit(main())
