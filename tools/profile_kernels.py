#!/usr/bin/env python3
"""Measure the kernel-level and whole-iteration costs that moska-sim is calibrated on.

Usage:
    python3 tools/profile_kernels.py --out DIR [--quick] [--families a,b,c] [--deadline-s S]

Families: ceilings, gemm, attn_decode, attn_prefill, attn_shared, elementwise,
router, merge, composite.  Each writes one CSV into DIR (see tools/PROFILING.md);
meta.json and failures.txt (appended) are written too.  Rows are flushed as they are
measured, so a killed run keeps what it got.

Timing: CUDA events, 3 warm-up calls, median of R repeats (25, fewer -- at least 5 --
when one call takes more than 5 ms).  Calls whose eager time is under GRAPH_EAGER_US (1 ms)
are re-measured as one CUDA graph of 20 back-to-back calls (time = replay / 20,
method=graph) so launch gaps are excluded; otherwise method=events.  Inputs are
random (never zeros); when a call's working set would fit in L2 the inputs are
rotated among several copies.
"""
import argparse
import datetime
import json
import math
import os
import socket
import subprocess
import sys
import time
import traceback

import torch
import torch.nn.functional as F

try:
    from torch.nn.attention import sdpa_kernel, SDPBackend
except Exception:  # pragma: no cover
    sdpa_kernel = None
    SDPBackend = None

DEV = "cuda"
BF16 = torch.bfloat16
FP8 = getattr(torch, "float8_e4m3fn", None)
GiB = 1 << 30

GRAPH_CALLS = 20
GRAPH_EAGER_US = 1000.0  # eager estimate under this -> measure via graph (covers kernels < ~30 us and
                         # multi-kernel eager ops whose single-call estimate is inflated by launch gaps)
WARMUP = 3

ALL_FAMILIES = ["ceilings", "composite", "attn_decode", "attn_shared", "attn_prefill",
                "gemm", "elementwise", "router", "merge"]

# --------------------------------------------------------------------------- state
T0 = time.time()
DEADLINE = None
OUT = None
L2 = 50 * 1000 * 1000
META = {}
NOTES = {}          # family -> dict of notes for meta.json
SKIPPED = {}        # family -> count skipped for deadline


def log(*a):
    print("[%7.1fs]" % (time.time() - T0), *a, flush=True)


def over_deadline():
    return DEADLINE is not None and time.time() - T0 > DEADLINE


def note(family, key, val):
    NOTES.setdefault(family, {})[key] = val


def fail(family, key, exc):
    msg = "%s,%s,%s" % (family, key, (str(exc).splitlines() or ["?"])[0][:300].replace(",", ";"))
    log("FAIL", msg)
    with open(os.path.join(OUT, "failures.txt"), "a") as f:
        f.write(msg + "\n")
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        torch.cuda.empty_cache()


def skip_deadline(family):
    SKIPPED[family] = SKIPPED.get(family, 0) + 1


class Csv:
    """One family's CSV.  It is rewritten when its family runs (so re-running into the same --out
    replaces it); families not run keep their files, so a grid can be split over several calls."""

    def __init__(self, name, header):
        self.path = os.path.join(OUT, name)
        self.f = open(self.path, "w")
        self.f.write(header + "\n")
        self.f.flush()
        self.n = 0

    def row(self, *vals):
        out = []
        for v in vals:
            if isinstance(v, float):
                out.append("%.3f" % v)
            else:
                out.append(str(v))
        self.f.write(",".join(out) + "\n")
        self.f.flush()
        self.n += 1


# --------------------------------------------------------------------------- timing
def _ev():
    return torch.cuda.Event(enable_timing=True)


def n_reps(t_us):
    if t_us <= 5000.0:
        return 25
    return max(5, min(25, int(125000.0 / t_us)))


def n_bufs(ws_bytes, cap=GRAPH_CALLS):
    """How many copies of the inputs to rotate among so that they overflow L2."""
    if ws_bytes <= 0:
        return 1
    if ws_bytes >= 3 * L2:
        return 1
    return int(max(1, min(cap, math.ceil(3 * L2 / ws_bytes))))


def time_events(fns, reps=None, warm=WARMUP):
    n = len(fns)
    t_last = None
    for i in range(warm):
        s, e = _ev(), _ev()
        s.record()
        fns[i % n]()
        e.record()
        t_last = (s, e)
    torch.cuda.synchronize()
    est = t_last[0].elapsed_time(t_last[1]) * 1000.0 if t_last else 1000.0
    R = reps or n_reps(est)
    evs = []
    for r in range(R):
        s, e = _ev(), _ev()
        s.record()
        fns[(r + warm) % n]()
        e.record()
        evs.append((s, e))
    torch.cuda.synchronize()
    ts = sorted(s.elapsed_time(e) * 1000.0 for s, e in evs)
    return ts[len(ts) // 2], est


def capture_graph(calls):
    """calls: list of zero-arg callables captured back to back in one graph."""
    s = torch.cuda.Stream()
    s.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(s):
        calls[0]()
    torch.cuda.current_stream().wait_stream(s)
    torch.cuda.synchronize()
    g = torch.cuda.CUDAGraph()
    with torch.cuda.graph(g):
        outs = [c() for c in calls]
    del outs
    return g


def time_graph(g, per, reps=25, warm=2):
    for _ in range(warm):
        g.replay()
    torch.cuda.synchronize()
    evs = []
    for _ in range(reps):
        s, e = _ev(), _ev()
        s.record()
        g.replay()
        e.record()
        evs.append((s, e))
    torch.cuda.synchronize()
    ts = sorted(s.elapsed_time(e) * 1000.0 / per for s, e in evs)
    return ts[len(ts) // 2]


def bench(fns, allow_graph=True):
    """fns: list of zero-arg callables, each using its own copy of the inputs.
    Returns (median_us, method)."""
    n = len(fns)
    # warm-up + eager estimate
    t_last = None
    for i in range(WARMUP):
        s, e = _ev(), _ev()
        s.record()
        fns[i % n]()
        e.record()
        t_last = (s, e)
    torch.cuda.synchronize()
    est = t_last[0].elapsed_time(t_last[1]) * 1000.0
    if allow_graph and est < GRAPH_EAGER_US:
        try:
            g = capture_graph([fns[i % n] for i in range(GRAPH_CALLS)])
            s, e = _ev(), _ev()
            s.record()
            g.replay()
            e.record()
            torch.cuda.synchronize()
            t = time_graph(g, GRAPH_CALLS, reps=n_reps(s.elapsed_time(e) * 1000.0), warm=1)
            del g
            return t, "graph"
        except Exception as exc:  # fall back to events
            torch.cuda.synchronize()
            NOTES.setdefault("graph_failures", []).append(str(exc).splitlines()[0][:200])
    R = n_reps(est)
    evs = []
    for r in range(R):
        s, e = _ev(), _ev()
        s.record()
        fns[(r + WARMUP) % n]()
        e.record()
        evs.append((s, e))
    torch.cuda.synchronize()
    ts = sorted(s.elapsed_time(e) * 1000.0 for s, e in evs)
    return ts[len(ts) // 2], "events"


# --------------------------------------------------------------------------- data
def rnd(*shape, dtype=BF16, scale=1.0):
    t = torch.randn(*shape, dtype=torch.float32 if dtype not in (BF16, torch.float16, torch.float32) else dtype,
                    device=DEV)
    if scale != 1.0:
        t.mul_(scale)
    if t.dtype != dtype:
        t = t.to(dtype)
    return t


class Pool:
    """One big random bf16 buffer handing out views (KV caches etc.)."""

    def __init__(self, nbytes):
        n = int(nbytes // 2)
        self.buf = torch.empty(n, dtype=BF16, device=DEV)
        for ch in self.buf.split(1 << 28):
            ch.normal_()
        self.off = 0

    def reset(self):
        self.off = 0

    def room(self):
        return (self.buf.numel() - self.off) * 2

    def take(self, shape):
        n = 1
        for s in shape:
            n *= int(s)
        if self.off + n > self.buf.numel():
            raise MemoryError("pool exhausted: need %d elems at %d of %d" % (n, self.off, self.buf.numel()))
        t = self.buf[self.off:self.off + n].view(*shape)
        self.off += (n + 127) // 128 * 128
        return t


# --------------------------------------------------------------------------- ops
HAS_RMS = hasattr(F, "rms_norm")


def rmsnorm(x, w, eps=1e-5):
    if HAS_RMS:
        return F.rms_norm(x, (x.shape[-1],), w, eps)
    xf = x.float()
    r = torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return (xf * r).to(x.dtype) * w


def rope(x, cos, sin):
    """x [T, H, d] (any strides, last dim contiguous); cos/sin [T, 1, d/2]."""
    h = x.shape[-1] // 2
    x1 = x[..., :h]
    x2 = x[..., h:]
    return torch.cat((x1 * cos - x2 * sin, x2 * cos + x1 * sin), dim=-1)


def silu_mul(x):
    h = x.shape[-1] // 2
    return F.silu(x[..., :h]) * x[..., h:]


def lse_merge(o, lse, dim):
    """o [..., P, ..., d] bf16 partial outputs, lse fp32 same shape without d; merge over dim."""
    m = lse.amax(dim, keepdim=True)
    w = torch.exp(lse - m)
    num = (o.float() * w.unsqueeze(-1)).sum(dim)
    den = w.sum(dim).unsqueeze(-1)
    return (num / den).to(o.dtype)


SDPA_MODES = {}   # key -> chosen mode name
ATTN_NOTES = {}


def _sdpa_try(mode, q, k, v, causal):
    backend, gqa = mode
    if gqa == "repeat" and q.shape[1] != k.shape[1]:
        rep = q.shape[1] // k.shape[1]
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        kw = {}
    elif q.shape[1] != k.shape[1]:
        kw = {"enable_gqa": True}
    else:
        kw = {}
    if sdpa_kernel is not None and backend != "default":
        be = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION}[backend]
        with sdpa_kernel(be):
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal, **kw)
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal, **kw)


SDPA_ORDER = [("flash", "native"), ("efficient", "native"), ("flash", "repeat"),
              ("efficient", "repeat"), ("default", "native")]


def sdpa(q, k, v, causal, key):
    """SDPA forcing the flash backend when possible; the first working mode per key is kept."""
    if q.shape[1] != k.shape[1]:
        key = key + "_gqa"
    mode = SDPA_MODES.get(key)
    if mode is not None:
        return _sdpa_try(mode, q, k, v, causal)
    last = None
    for mode in SDPA_ORDER:
        if mode[1] == "repeat" and q.shape[1] == k.shape[1]:
            continue
        try:
            out = _sdpa_try(mode, q, k, v, causal)
            torch.cuda.synchronize()
            SDPA_MODES[key] = mode
            ATTN_NOTES[key] = "%s backend, gqa=%s" % mode
            log("sdpa mode for", key, "->", mode)
            return out
        except Exception as exc:
            last = exc
    raise last


FLASH_LSE_MODE = None


def flash_lse(q, k, v):
    """Non-causal attention returning (out [B,H,L,d], lse fp32 [B,H,L])."""
    global FLASH_LSE_MODE
    if FLASH_LSE_MODE in (None, "flash"):
        try:
            r = torch.ops.aten._scaled_dot_product_flash_attention(q, k, v, 0.0, False, False)
            if FLASH_LSE_MODE is None:
                torch.cuda.synchronize()
                FLASH_LSE_MODE = "flash"
                ATTN_NOTES["lse"] = "torch.ops.aten._scaled_dot_product_flash_attention (FlashAttention-2 in PyTorch)"
            return r[0], r[1]
        except Exception as exc:
            if FLASH_LSE_MODE == "flash":
                raise
            log("flash lse op unavailable:", str(exc).splitlines()[0][:200])
    r = torch.ops.aten._scaled_dot_product_efficient_attention(q, k, v, None, True, 0.0, False)
    if FLASH_LSE_MODE is None:
        FLASH_LSE_MODE = "efficient"
        ATTN_NOTES["lse"] = "torch.ops.aten._scaled_dot_product_efficient_attention (flash op unavailable)"
    return r[0], r[1][..., :q.shape[2]]


# --------------------------------------------------------------------------- families
def fam_ceilings(quick):
    c = Csv("ceilings.csv", "kind,work,time_us,rate")
    try:
        nbytes = 2 * GiB
        src = torch.empty(nbytes // 2, dtype=BF16, device=DEV).normal_()
        dst = torch.empty_like(src)
        t, _ = bench([lambda: dst.copy_(src)], allow_graph=False)
        work = 2 * nbytes
        c.row("copy", work, t, "%.6e" % (work / (t * 1e-6)))
        log("copy: %.1f us  %.3f TB/s" % (t, work / t / 1e6))
        del src, dst
    except Exception as exc:
        fail("ceilings", "copy", exc)
    N = 8192
    try:
        a = rnd(N, N)
        b = rnd(N, N)
        t, _ = bench([lambda: torch.matmul(a, b.t())], allow_graph=False)
        work = 2 * N ** 3
        c.row("gemm_bf16", work, t, "%.6e" % (work / (t * 1e-6)))
        log("gemm_bf16 8192^3: %.1f us  %.1f TFLOP/s" % (t, work / t / 1e6))
        a8 = a.to(FP8)
        b8 = b.to(FP8)
        one = torch.ones((), dtype=torch.float32, device=DEV)
        t, _ = bench([lambda: scaled_mm(a8, b8.t(), one)], allow_graph=False)
        c.row("gemm_fp8", work, t, "%.6e" % (work / (t * 1e-6)))
        log("gemm_fp8 8192^3: %.1f us  %.1f TFLOP/s" % (t, work / t / 1e6))
        del a, b, a8, b8
    except Exception as exc:
        fail("ceilings", "gemm", exc)
    torch.cuda.empty_cache()
    return c.n


FP8_FAST = True


def scaled_mm(a8, b8t, one):
    global FP8_FAST
    if FP8_FAST:
        try:
            return torch._scaled_mm(a8, b8t, scale_a=one, scale_b=one, out_dtype=BF16, use_fast_accum=True)
        except TypeError:
            FP8_FAST = False
    return torch._scaled_mm(a8, b8t, scale_a=one, scale_b=one, out_dtype=BF16)


def gemm_shapes():
    """(n, k) -> list of labels.  8B-class shapes first."""
    shapes = {}

    def add(label, n, k):
        shapes.setdefault((n, k), []).append(label)

    def model(name, hidden, hq, hkv, ffn, vocabs, tp=1):
        sfx = "" if tp == 1 else "_tp%d" % tp
        add(name + sfx + ".qkv", (hq + 2 * hkv) * 128 // tp, hidden)
        add(name + sfx + ".o", hidden, hq * 128 // tp)
        add(name + sfx + ".gate_up", 2 * ffn // tp, hidden)
        add(name + sfx + ".down", hidden, ffn // tp)
        for nm, v in vocabs:
            add(nm + sfx + ".lm_head", v // tp, hidden)

    model("llama3.1-8b", 4096, 32, 8, 14336, [("llama3.1-8b", 128256), ("mistral-7b/mixtral-8x7b", 32000)])
    n8 = len(shapes)
    model("llama3-70b", 8192, 64, 8, 28672, [("llama3-70b", 128256), ("llama2-70b", 32000)])
    model("llama2-7b", 4096, 32, 32, 11008, [("llama2-7b", 32000)])
    model("llama2-13b", 5120, 40, 40, 13824, [("llama2-13b", 32000), ("codellama-13b", 32016)])
    for tp in (2, 4, 8):
        model("llama3-70b", 8192, 64, 8, 28672, [("llama3-70b", 128256), ("llama2-70b", 32000)], tp=tp)
    items = list(shapes.items())
    return items, n8


def fam_gemm(quick):
    c = Csv("gemm.csv", "dtype,m,n,k,time_us,method")
    items, n8 = gemm_shapes()
    note("gemm", "shapes", {"%dx%d" % nk: labels for nk, labels in items})
    ms = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 3, 24, 96, 384, 1536, 6144, 12288]
    if quick:
        items = [it for it in items if it[0] in ((4096, 4096), (128256, 4096), (1280, 8192))]
        ms = [1, 3, 4096]
    one = torch.ones((), dtype=torch.float32, device=DEV)
    padded = []
    cnt = 0
    for si, ((n, k), labels) in enumerate(items):
        if over_deadline():
            skip_deadline("gemm")
            continue
        try:
            wbytes = n * k * 2
            nw = n_bufs(wbytes)
            Ws = [rnd(n, k, scale=k ** -0.5) for _ in range(nw)]
            W8s = [w.to(FP8) for w in Ws] if FP8 is not None else []
        except Exception as exc:
            fail("gemm", "%dx%d alloc" % (n, k), exc)
            continue
        for m in ms:
            for dtype in ("bf16", "fp8"):
                if over_deadline():
                    skip_deadline("gemm")
                    continue
                flops = 2.0 * m * n * k
                if flops / (650e12 if dtype == "bf16" else 1200e12) > 0.060:
                    fail("gemm", "%s m=%d n=%d k=%d" % (dtype, m, n, k), Exception("skipped: predicted > 60 ms"))
                    continue
                try:
                    ws = (m * k + n * k + m * n) * (2 if dtype == "bf16" else 1)
                    nb = n_bufs(ws)
                    if dtype == "bf16":
                        As = [rnd(m, k) for _ in range(nb)]
                        fns = [(lambda a=As[i], w=Ws[i % nw]: torch.matmul(a, w.t())) for i in range(nb)]
                    else:
                        As = [rnd(m, k).to(FP8) for _ in range(nb)]
                        try:
                            scaled_mm(As[0], W8s[0].t(), one)
                            torch.cuda.synchronize()
                        except Exception:
                            mp = (m + 15) // 16 * 16
                            As = [rnd(mp, k).to(FP8) for _ in range(nb)]
                            padded.append(m)
                        fns = [(lambda a=As[i], w=W8s[i % nw]: scaled_mm(a, w.t(), one)) for i in range(nb)]
                    t, meth = bench(fns)
                    c.row(dtype, m, n, k, t, meth)
                    cnt += 1
                    del As, fns
                except Exception as exc:
                    fail("gemm", "%s m=%d n=%d k=%d" % (dtype, m, n, k), exc)
        log("gemm shape %d/%d n=%d k=%d done (%d rows) last m=%d" % (si + 1, len(items), n, k, c.n, ms[-1]))
        del Ws, W8s
        torch.cuda.empty_cache()
    note("gemm", "fp8", "torch._scaled_mm e4m3 x e4m3 -> bf16, per-tensor scales, use_fast_accum=%s" % FP8_FAST)
    note("gemm", "fp8_padded_m", sorted(set(padded)))
    note("gemm", "bf16", "torch.matmul(A[m,k], W[n,k].t()) (nn.Linear layout)")
    return c.n


ATTN_POOL = None


def attn_pool():
    global ATTN_POOL
    if ATTN_POOL is None:
        ATTN_POOL = Pool(25 * GiB)
    return ATTN_POOL


def free_attn_pool():
    global ATTN_POOL
    ATTN_POOL = None
    torch.cuda.empty_cache()


def fam_attn_decode(quick):
    c = Csv("attn_decode.csv", "dtype,batch,ctx,n_heads,n_kv_heads,head_dim,time_us,method")
    pool = attn_pool()
    heads = [(32, 8, 128), (32, 32, 128), (64, 8, 128), (40, 40, 128)]
    batches = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    ctxs = [128, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072]
    pts = []
    for h in heads:
        for b in batches:
            for cx in ctxs:
                pts.append((b, cx) + h)
    for b in batches:
        for cx in (3000, 24576):
            pts.append((b, cx, 32, 8, 128))
    if quick:
        pts = [(1, 1024, 32, 8, 128), (64, 32768, 32, 8, 128), (1, 4096, 40, 40, 128), (8, 3000, 32, 8, 128)]
    for (b, cx, hq, hkv, d) in pts:
        kvb = 2 * b * cx * hkv * d * 2
        if kvb > 24 * GiB:
            continue
        if over_deadline():
            skip_deadline("attn_decode")
            continue
        try:
            g = hq // hkv
            nb = n_bufs(kvb)
            pool.reset()
            fns = []
            for i in range(nb):
                q = rnd(b, hkv, g, d)
                kk = pool.take((b, hkv, cx, d))
                vv = pool.take((b, hkv, cx, d))
                fns.append(lambda q=q, kk=kk, vv=vv: sdpa(q, kk, vv, False, "decode"))
            t, meth = bench(fns)
            c.row("bf16", b, cx, hq, hkv, d, t, meth)
            del fns
        except Exception as exc:
            fail("attn_decode", "b=%d ctx=%d h=%d/%d" % (b, cx, hq, hkv), exc)
        if c.n % 40 == 0 and c.n:
            log("attn_decode %d rows; b=%d ctx=%d h=%d/%d %.1f us" % (c.n, b, cx, hq, hkv, t))
    return c.n


def fam_attn_prefill(quick):
    c = Csv("attn_prefill.csv", "dtype,seq,n_heads,n_kv_heads,head_dim,time_us,method")
    heads = [(32, 8, 128), (32, 32, 128), (64, 8, 128), (40, 40, 128)]
    seqs = [128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 3000, 12000]
    pts = [(s,) + h for h in heads for s in seqs]
    if quick:
        pts = [(512, 32, 8, 128), (3000, 32, 8, 128), (4096, 64, 8, 128)]
    for (s, hq, hkv, d) in pts:
        if over_deadline():
            skip_deadline("attn_prefill")
            continue
        try:
            ws = (s * hq * d * 2 + 2 * s * hkv * d) * 2
            nb = n_bufs(ws)
            fns = []
            for i in range(nb):
                q = rnd(1, hq, s, d)
                kk = rnd(1, hkv, s, d)
                vv = rnd(1, hkv, s, d)
                fns.append(lambda q=q, kk=kk, vv=vv: sdpa(q, kk, vv, True, "prefill"))
            t, meth = bench(fns)
            c.row("bf16", s, hq, hkv, d, t, meth)
            del fns
        except Exception as exc:
            fail("attn_prefill", "seq=%d h=%d/%d" % (s, hq, hkv), exc)
    torch.cuda.empty_cache()
    return c.n


def fam_attn_shared(quick):
    c = Csv("attn_shared.csv", "dtype,n_chunks,chunk,queries,n_heads,n_kv_heads,head_dim,time_us,method")
    pool = attn_pool()
    pts = []
    for ch in (512, 1024, 2048, 4096, 8192):
        for qn in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024):
            for nc in (1, 8, 32, 128):
                pts.append((nc, ch, qn, 32, 8, 128))
                if ch == 4096:
                    pts.append((nc, ch, qn, 64, 8, 128))
    for qn in (3, 48, 384):
        for nc in (8, 32):
            pts.append((nc, 4096, qn, 32, 8, 128))
    if quick:
        pts = [(8, 4096, 1, 32, 8, 128), (128, 4096, 64, 32, 8, 128), (32, 4096, 48, 64, 8, 128)]
    for (nc, ch, qn, hq, hkv, d) in pts:
        kvb = 2 * nc * hkv * ch * d * 2
        if kvb > 24 * GiB:
            continue
        if over_deadline():
            skip_deadline("attn_shared")
            continue
        try:
            g = hq // hkv
            nb = n_bufs(kvb + nc * hkv * qn * g * d * 4)
            pool.reset()
            fns = []
            for i in range(nb):
                q = rnd(nc, hkv, qn * g, d)
                kk = pool.take((nc, hkv, ch, d))
                vv = pool.take((nc, hkv, ch, d))
                fns.append(lambda q=q, kk=kk, vv=vv: flash_lse(q, kk, vv))
            t, meth = bench(fns)
            c.row("bf16", nc, ch, qn, hq, hkv, d, t, meth)
            del fns
        except Exception as exc:
            fail("attn_shared", "nc=%d chunk=%d q=%d h=%d/%d" % (nc, ch, qn, hq, hkv), exc)
        if c.n % 40 == 0 and c.n:
            log("attn_shared %d rows; nc=%d chunk=%d q=%d %.1f us" % (c.n, nc, ch, qn, t))
    return c.n


def fam_elementwise(quick):
    c = Csv("elementwise.csv", "op,dtype,tokens,hidden,time_us,method")
    toks = [1, 4, 16, 64, 256, 1024, 4096, 16384, 48, 3000]
    hiddens = [4096, 5120, 8192]
    rope_h = [5120, 9216, 10240]
    if quick:
        toks = [1, 4096]
        hiddens = [4096]
        rope_h = [5120]
    pts = []
    for h in hiddens:
        for t in toks:
            pts += [("rmsnorm", t, h), ("silu_mul", t, h), ("add", t, h)]
    for h in rope_h:
        for t in toks:
            pts.append(("rope", t, h))
    for (op, t, h) in pts:
        if over_deadline():
            skip_deadline("elementwise")
            continue
        try:
            if op == "rmsnorm":
                nb = n_bufs(t * h * 4)
                w = rnd(h).mul_(0.1).add_(1.0)
                xs = [rnd(t, h) for _ in range(nb)]
                fns = [(lambda x=x: rmsnorm(x, w)) for x in xs]
            elif op == "silu_mul":
                nb = n_bufs(t * h * 6)
                xs = [rnd(t, 2 * h) for _ in range(nb)]
                fns = [(lambda x=x: silu_mul(x)) for x in xs]
            elif op == "add":
                nb = n_bufs(t * h * 6)
                xs = [(rnd(t, h), rnd(t, h)) for _ in range(nb)]
                fns = [(lambda x=x: x[0] + x[1]) for x in xs]
            else:
                H = h // 128
                nb = n_bufs(t * h * 4)
                cos = rnd(t, 1, 64)
                sin = rnd(t, 1, 64)
                xs = [rnd(t, H, 128) for _ in range(nb)]
                fns = [(lambda x=x: rope(x, cos, sin)) for x in xs]
            tm, meth = bench(fns)
            c.row(op, "bf16", t, h, tm, meth)
            del fns, xs
        except Exception as exc:
            fail("elementwise", "%s t=%d h=%d" % (op, t, h), exc)
    note("elementwise", "impl", "plain eager torch ops, not torch.compile'd, unfused: rmsnorm=%s; rope=slice/mul/sub/add/cat "
         "(rotate-half, ~7 kernels); silu_mul=F.silu(x[:, :h]) * x[:, h:] (2 kernels); add=x+y"
         % ("torch.nn.functional.rms_norm" if HAS_RMS else "manual fp32 (unfused)"))
    return c.n


def router_fn(q, kmean, hkv, topk):
    b = q.shape[0]
    d = kmean.shape[-1] // hkv
    qs = q.view(b, hkv, -1, d).sum(2).reshape(b, hkv * d)
    scores = torch.matmul(qs, kmean.t())
    return torch.topk(scores, topk, dim=-1)


def fam_router(quick):
    c = Csv("router.csv", "batch,n_chunks,n_heads,head_dim,top_k,time_us,method")
    pts = [(b, n) for b in (1, 8, 32, 128, 512) for n in (32, 128, 512, 4096)]
    if quick:
        pts = [(1, 32), (512, 4096)]
    hq, hkv, d = 32, 8, 128
    for (b, n) in pts:
        if over_deadline():
            skip_deadline("router")
            continue
        try:
            k = n // 4
            nb = n_bufs(b * hq * d * 2 + n * hkv * d * 2)
            fns = []
            for i in range(nb):
                q = rnd(b, hq * d)
                km = rnd(n, hkv * d)
                fns.append(lambda q=q, km=km: router_fn(q, km, hkv, k))
            t, meth = bench(fns)
            c.row(b, n, hq, d, k, t, meth)
        except Exception as exc:
            fail("router", "b=%d n=%d" % (b, n), exc)
    note("router", "impl", "q[B,Hq*d] -> view [B,Hkv,g,d].sum(g) -> [B,Hkv*d] @ kmean[N,Hkv*d].T -> [B,N] -> torch.topk(N/4); "
         "sum over heads of q.k_mean")
    return c.n


def fam_merge(quick):
    c = Csv("merge.csv", "batch,n_heads,head_dim,n_parts,time_us,method")
    pts = [(b, p) for b in (1, 8, 32, 128, 512, 2048) for p in (2, 4, 8, 16, 64)]
    if quick:
        pts = [(1, 2), (2048, 64)]
    h, d = 32, 128
    for (b, p) in pts:
        if over_deadline():
            skip_deadline("merge")
            continue
        try:
            nb = n_bufs(p * b * h * (d * 2 + 4))
            fns = []
            for i in range(nb):
                o = rnd(p, b, h, d)
                lse = rnd(p, b, h, dtype=torch.float32, scale=3.0)
                fns.append(lambda o=o, lse=lse: lse_merge(o, lse, 0))
            t, meth = bench(fns)
            c.row(b, h, d, p, t, meth)
        except Exception as exc:
            fail("merge", "b=%d p=%d" % (b, p), exc)
    note("merge", "impl", "plain torch ops: m=amax(lse); w=exp(lse-m); o=sum(w*o.float())/sum(w) -> bf16 (unfused, ~8 kernels)")
    return c.n


# --------------------------------------------------------------------------- composite model
class Model:
    L, H, HQ, HKV, D, FF, V = 32, 4096, 32, 8, 128, 14336, 128256

    def __init__(self, n_layers=32):
        self.L = n_layers
        H, HQ, HKV, D, FF, V = self.H, self.HQ, self.HKV, self.D, self.FF, self.V
        self.layers = []
        for _ in range(self.L):
            self.layers.append(dict(
                wqkv=rnd((HQ + 2 * HKV) * D, H, scale=H ** -0.5),
                wo=rnd(H, HQ * D, scale=(HQ * D) ** -0.5),
                wgu=rnd(2 * FF, H, scale=H ** -0.5),
                wd=rnd(H, FF, scale=FF ** -0.5),
                n1=rnd(H).mul_(0.1).add_(1.0),
                n2=rnd(H).mul_(0.1).add_(1.0),
            ))
        self.emb = rnd(V, H)
        self.lm = rnd(V, H, scale=H ** -0.5)
        self.nf = rnd(H).mul_(0.1).add_(1.0)

    def pre(self, x, Lw, cos, sin):
        T = x.shape[0]
        h = rmsnorm(x, Lw["n1"])
        qkv = torch.matmul(h, Lw["wqkv"].t())
        nqk = (self.HQ + self.HKV) * self.D
        qk = rope(qkv[:, :nqk].view(T, self.HQ + self.HKV, self.D), cos, sin)
        v = qkv[:, nqk:].view(T, self.HKV, self.D)
        return qk, v

    def post(self, x, attn, Lw):
        x = x + torch.matmul(attn, Lw["wo"].t())
        h = rmsnorm(x, Lw["n2"])
        gu = torch.matmul(h, Lw["wgu"].t())
        x = x + torch.matmul(silu_mul(gu), Lw["wd"].t())
        return x

    def head(self, x):
        return torch.matmul(rmsnorm(x, self.nf), self.lm.t())

    def decode(self, tok, kv, ctx, cos, sin):
        B = tok.shape[0]
        x = F.embedding(tok, self.emb)
        for l, Lw in enumerate(self.layers):
            qk, v = self.pre(x, Lw, cos, sin)
            kc, vc = kv[l % len(kv)]
            kc[:, :, ctx - 1].copy_(qk[:, self.HQ:])
            vc[:, :, ctx - 1].copy_(v)
            qf = qk[:, :self.HQ].reshape(B, self.HKV, self.HQ // self.HKV, self.D)
            o = sdpa(qf, kc, vc, False, "decode")
            x = self.post(x, o.reshape(B, self.HQ * self.D), Lw)
        return self.head(x)

    def prefill(self, tok, cos, sin):
        P = tok.shape[0]
        x = F.embedding(tok, self.emb)
        for Lw in self.layers:
            qk, v = self.pre(x, Lw, cos, sin)
            q = qk[:, :self.HQ].transpose(0, 1).unsqueeze(0)
            k = qk[:, self.HQ:].transpose(0, 1).unsqueeze(0)
            vv = v.transpose(0, 1).unsqueeze(0)
            o = sdpa(q, k, vv, True, "prefill")
            x = self.post(x, o[0].transpose(0, 1).reshape(P, self.HQ * self.D), Lw)
        return self.head(x[-1:])

    def moska(self, tok, kv, ctx, cos, sin, shared, kmeans, N, topk, Qc, gidx, sidx):
        B = tok.shape[0]
        HQ, HKV, D = self.HQ, self.HKV, self.D
        g = HQ // HKV
        x = F.embedding(tok, self.emb)
        for l, Lw in enumerate(self.layers):
            qk, v = self.pre(x, Lw, cos, sin)
            kc, vc = kv[l % len(kv)]
            kc[:, :, ctx - 1].copy_(qk[:, HQ:])
            vc[:, :, ctx - 1].copy_(v)
            qf = qk[:, :HQ].reshape(B, HKV, g, D)
            o_u, lse_u = flash_lse(qf, kc, vc)                       # [B,HKV,g,D], [B,HKV,g]
            # router: sum over heads of q . k_mean, then top-k (assignment below is fixed & balanced)
            router_fn(qf.reshape(B, HQ * D), kmeans[l % len(kmeans)], HKV, topk)
            # gather queries per chunk
            qg = qf.index_select(0, gidx).view(N, Qc, HKV, g, D).permute(0, 2, 1, 3, 4).reshape(N, HKV, Qc * g, D)
            ks, vs = shared[l % len(shared)]
            o_s, lse_s = flash_lse(qg, ks, vs)                       # [N,HKV,Qc*g,D], [N,HKV,Qc*g]
            o_s = o_s.view(N, HKV, Qc, g, D).permute(0, 2, 1, 3, 4).reshape(N * Qc, HQ, D)
            lse_s = lse_s.view(N, HKV, Qc, g).permute(0, 2, 1, 3).reshape(N * Qc, HQ)
            po = torch.empty(B * topk, HQ, D, dtype=o_s.dtype, device=DEV).index_copy_(0, sidx, o_s)
            pl = torch.empty(B * topk, HQ, dtype=lse_s.dtype, device=DEV).index_copy_(0, sidx, lse_s)
            o_all = torch.cat([o_u.reshape(B, 1, HQ, D), po.view(B, topk, HQ, D)], 1)
            l_all = torch.cat([lse_u.reshape(B, 1, HQ).to(pl.dtype), pl.view(B, topk, HQ)], 1)
            o = lse_merge(o_all, l_all, 1)
            x = self.post(x, o.reshape(B, HQ * D), Lw)
        return self.head(x)


def kv_views(pool, B, ctx, n_layers, budget_bytes):
    """Per-layer KV when it fits in the pool, else 2-4 rotating buffers. Returns (list, mode) or (None, why)."""
    per = 2 * B * ctx * Model.HKV * Model.D * 2
    cap = min(budget_bytes, pool.buf.numel() * 2)
    pool.reset()
    if per * n_layers <= cap:
        nb, mode = n_layers, "per_layer"
    else:
        nb = min(4, int(cap // per))
        if nb < 2:
            return None, "KV %.1f GiB/layer too large" % (per / GiB)
        mode = "rotate%d" % nb
    out = []
    for _ in range(nb):
        out.append((pool.take((B, Model.HKV, ctx, Model.D)), pool.take((B, Model.HKV, ctx, Model.D))))
    return out, mode


def time_composite(fn):
    """Returns (graph_us, eager_us)."""
    # eager warm-up & timing
    t_e, est = time_events([fn], warm=2)
    # graph
    g = capture_graph([fn])
    reps = n_reps(est)
    t_g = time_graph(g, 1, reps=reps, warm=1 if est > 20000 else 2)
    del g
    return t_g, t_e


def fam_composite(quick):
    c = Csv("composite.csv", "kind,batch,ctx,prefill,shared,chunk,sparsity,dtype,time_us,time_us_eager")
    log("composite: building Llama-3.1-8B-shaped model (32 layers, distinct random weights)")
    model = Model()
    torch.cuda.synchronize()
    free, total = torch.cuda.mem_get_info()
    pool_bytes = int(min(48 * GiB, free - 12 * GiB))
    log("composite: weights done; free %.1f GiB; KV pool %.1f GiB" % (free / GiB, pool_bytes / GiB))
    pool = Pool(pool_bytes)
    kvmodes = {}
    HQ, HKV, D = Model.HQ, Model.HKV, Model.D

    def cos_sin(T):
        return rnd(T, 1, D // 2), rnd(T, 1, D // 2)

    dec = [(b, cx) for b in (1, 4, 16, 32, 64, 128) for cx in (1024, 4096, 8192, 16384, 32768)]
    key_dec = [(1, 1024), (32, 8192)]
    dec = key_dec + [p for p in dec if p not in key_dec]
    pre = [8192, 512, 1024, 2048, 4096, 16384]
    mos = [(b, 2048, sh, 4096, sp) for sh in (131072, 262144) for sp in (0.5, 0.75, 0.875) for b in (8, 16, 32, 64, 128)]
    key_mos = (64, 2048, 131072, 4096, 0.75)
    mos = [key_mos] + [p for p in mos if p != key_mos]
    if quick:
        dec = key_dec
        pre = [2048]
        mos = [key_mos, (8, 2048, 262144, 4096, 0.875)]

    vocab = Model.V
    # ---- decode
    for (b, cx) in dec:
        if over_deadline():
            skip_deadline("composite")
            continue
        try:
            kv, mode = kv_views(pool, b, cx, model.L, 50 * GiB)
            if kv is None:
                fail("composite", "decode b=%d ctx=%d" % (b, cx), Exception("skipped: " + mode))
                continue
            kvmodes["decode b=%d ctx=%d" % (b, cx)] = mode
            tok = torch.randint(0, vocab, (b,), device=DEV)
            cos, sin = cos_sin(b)
            fn = lambda: model.decode(tok, kv, cx, cos, sin)
            tg, te = time_composite(fn)
            c.row("decode", b, cx, 0, 0, 0, 0, "bf16", tg, te)
            log("composite decode b=%d ctx=%d (%s): graph %.1f us eager %.1f us" % (b, cx, mode, tg, te))
            del kv, fn
        except Exception as exc:
            fail("composite", "decode b=%d ctx=%d" % (b, cx), exc)
        torch.cuda.empty_cache()
    # ---- prefill
    for p in pre:
        if over_deadline():
            skip_deadline("composite")
            continue
        try:
            tok = torch.randint(0, vocab, (p,), device=DEV)
            cos, sin = cos_sin(p)
            fn = lambda: model.prefill(tok, cos, sin)
            tg, te = time_composite(fn)
            c.row("prefill", 1, 0, p, 0, 0, 0, "bf16", tg, te)
            log("composite prefill %d: graph %.1f us eager %.1f us" % (p, tg, te))
            del fn
        except Exception as exc:
            fail("composite", "prefill %d" % p, exc)
        torch.cuda.empty_cache()
    # ---- moska
    for (b, cx, sh, ch, sp) in mos:
        if over_deadline():
            skip_deadline("composite")
            continue
        name = "moska b=%d ctx=%d shared=%d chunk=%d sparsity=%g" % (b, cx, sh, ch, sp)
        try:
            N = sh // ch
            topk = int(round((1 - sp) * N))
            if (b * topk) % N:
                fail("composite", name, Exception("skipped: batch*k/N not integer"))
                continue
            Qc = b * topk // N
            kv, mode = kv_views(pool, b, cx, model.L, 46 * GiB)
            if kv is None:
                fail("composite", name, Exception("skipped: " + mode))
                continue
            kvmodes[name] = mode
            shared = [(rnd(N, HKV, ch, D), rnd(N, HKV, ch, D)) for _ in range(2)]
            kmeans = [rnd(N, HKV * D) for _ in range(2)]
            # balanced assignment: slot s = r*topk + j attends chunk s % N; rows ordered (chunk c, t): s = c + N*t
            cc = torch.arange(N, device=DEV).view(N, 1)
            tt = torch.arange(Qc, device=DEV).view(1, Qc)
            sidx = (cc + N * tt).reshape(-1)
            gidx = torch.div(sidx, topk, rounding_mode="floor")
            tok = torch.randint(0, vocab, (b,), device=DEV)
            cos, sin = cos_sin(b)
            fn = lambda: model.moska(tok, kv, cx, cos, sin, shared, kmeans, N, topk, Qc, gidx, sidx)
            tg, te = time_composite(fn)
            c.row("moska", b, cx, 0, sh, ch, "%g" % sp, "bf16", tg, te)
            log("composite %s (k=%d, %d q/chunk, %s): graph %.1f us eager %.1f us" % (name, topk, Qc, mode, tg, te))
            del kv, fn, shared, kmeans
        except Exception as exc:
            fail("composite", name, exc)
        torch.cuda.empty_cache()
    note("composite", "kv_alloc", kvmodes)
    note("composite", "impl", "Llama-3.1-8B shape, 32 layers, distinct random bf16 weights; eager torch ops as in the "
         "kernel families (F.rms_norm, unfused rope/silu_mul/merge); decode writes the new token's K,V into slot ctx-1 "
         "of the cache; prefill attends its own K,V directly (no cache write); moska: decode attention with lse "
         "(flash op), router matmul+topk per layer (result computed but a fixed balanced assignment is used: "
         "request r attends chunks (r*k+j) mod N), index_select gather of queries, one flash launch over all N "
         "chunks, index_copy scatter, cat + lse merge of k+1 parts. Shared KV: 2 rotating buffers of one layer's "
         "[N,8,chunk,128] K and V. time_us = CUDA graph replay of one whole iteration, time_us_eager = same "
         "Python code without graph. Rotated KV buffers (rotateN) are each far larger than L2.")
    del model, pool
    torch.cuda.empty_cache()
    return c.n


# --------------------------------------------------------------------------- checks
def rel(a, b):
    return (torch.linalg.vector_norm((a.double() - b.double())) / torch.linalg.vector_norm(b.double())).item()


def checks():
    res = {}
    try:
        B, hq, hkv, d, cx = 2, 32, 8, 128, 1000
        q = rnd(B, hq, 1, d)
        k = rnd(B, hkv, cx, d)
        v = rnd(B, hkv, cx, d)
        o = sdpa(q.view(B, hkv, hq // hkv, d), k, v, False, "decode").reshape(B, hq, d)
        kr = k.float().repeat_interleave(hq // hkv, 1)
        vr = v.float().repeat_interleave(hq // hkv, 1)
        ref = torch.softmax(q.float() @ kr.transpose(-1, -2) / math.sqrt(d), -1) @ vr
        res["decode_folded_gqa_relerr"] = rel(o, ref[:, :, 0])
        # split + lse merge == full
        q2 = rnd(1, 8, 16, d)
        k2 = rnd(1, 8, 2048, d)
        v2 = rnd(1, 8, 2048, d)
        full, _ = flash_lse(q2, k2, v2)
        oa, la = flash_lse(q2, k2[:, :, :700], v2[:, :, :700])
        ob, lb = flash_lse(q2, k2[:, :, 700:], v2[:, :, 700:])
        m = lse_merge(torch.stack([oa, ob]), torch.stack([la, lb]).float(), 0)
        res["lse_merge_relerr"] = rel(m, full)
        # prefill gqa causal
        s = 256
        q3 = rnd(1, 32, s, d)
        k3 = rnd(1, 8, s, d)
        v3 = rnd(1, 8, s, d)
        o3 = sdpa(q3, k3, v3, True, "prefill")
        ref3 = F.scaled_dot_product_attention(q3.float(), k3.float().repeat_interleave(4, 1),
                                              v3.float().repeat_interleave(4, 1), is_causal=True)
        res["prefill_gqa_relerr"] = rel(o3, ref3)
        # fp8 gemm
        a = rnd(64, 4096)
        w = rnd(1024, 4096)
        a8, w8 = a.to(FP8), w.to(FP8)
        one = torch.ones((), dtype=torch.float32, device=DEV)
        res["fp8_gemm_relerr_vs_quantized_fp32"] = rel(scaled_mm(a8, w8.t(), one), a8.float() @ w8.float().t())
        res["bf16_gemm_relerr"] = rel(torch.matmul(a, w.t()), a.double() @ w.double().t())
    except Exception as exc:
        res["error"] = str(exc).splitlines()[0][:300]
        traceback.print_exc()
    log("checks:", json.dumps(res))
    return res


# --------------------------------------------------------------------------- meta
def csv_counts():
    out = {}
    for f in sorted(os.listdir(OUT)):
        if f.endswith(".csv"):
            with open(os.path.join(OUT, f)) as fh:
                out[f[:-4]] = max(0, sum(1 for line in fh if line.strip()) - 1)
    return out


def smi(q):
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=" + q, "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception as exc:
        return "n/a (%s)" % exc


def write_meta(extra=None):
    path = os.path.join(OUT, "meta.json")
    META["point_counts"] = csv_counts()
    META["notes"] = NOTES
    META["attention_backends"] = dict(ATTN_NOTES)
    META["skipped_for_deadline"] = SKIPPED
    if extra:
        META.update(extra)
    with open(path, "w") as f:
        json.dump(META, f, indent=1, sort_keys=True)


def main():
    global OUT, DEADLINE, L2
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--families", default=",".join(ALL_FAMILIES))
    ap.add_argument("--deadline-s", type=float, default=None,
                    help="stop measuring new points after this many seconds (remaining are counted as skipped)")
    args = ap.parse_args()
    OUT = args.out
    DEADLINE = args.deadline_s
    os.makedirs(OUT, exist_ok=True)
    fams = [f.strip() for f in args.families.split(",") if f.strip()]
    for f in fams:
        if f not in ALL_FAMILIES:
            sys.exit("unknown family %s (known: %s)" % (f, ",".join(ALL_FAMILIES)))

    props = torch.cuda.get_device_properties(0)
    L2 = int(getattr(props, "L2_cache_size", 50 * 1000 * 1000))
    torch.backends.cuda.matmul.allow_tf32 = True
    META.update({
        "gpu": props.name,
        "sm_count": props.multi_processor_count,
        "l2_bytes": L2,
        "total_memory_bytes": props.total_memory,
        "compute_capability": "%d.%d" % (props.major, props.minor),
        "driver_version": smi("driver_version"),
        "nvidia_smi": smi("name,memory.total,clocks.max.sm,clocks.max.mem,power.limit"),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "hostname": socket.gethostname(),
        "quick": bool(args.quick),
        "families_run": fams,
        "method": ("CUDA events; %d eager warm-up calls; median of R repeats (R=25, or max(5,125ms/t) when one call "
                   "> 5 ms). Calls whose eager time is < %g us are measured as one CUDA graph of %d back-to-back calls "
                   "(rotating input copies), time = median replay / %d (method=graph; replays: 25, or max(5,125ms/replay)); else method=events (each call "
                   "timed alone, back to back). Random normal inputs, never zeros; inputs rotated among "
                   "ceil(3*L2/working_set) copies (max %d) when the working set is under 3x L2. Composite: one "
                   "iteration captured in a CUDA graph (time_us, median of replays) and eager (time_us_eager)."
                   % (WARMUP, GRAPH_EAGER_US, GRAPH_CALLS, GRAPH_CALLS, GRAPH_CALLS)),
    })
    log("GPU %s, %d SMs, L2 %d B, mem %.1f GiB, torch %s cuda %s" % (props.name, props.multi_processor_count, L2,
                                                                   props.total_memory / GiB, torch.__version__,
                                                                   torch.version.cuda))
    write_meta()
    if args.quick:
        META["checks"] = checks()
        write_meta()
    funcs = {"ceilings": fam_ceilings, "gemm": fam_gemm, "attn_decode": fam_attn_decode,
             "attn_prefill": fam_attn_prefill, "attn_shared": fam_attn_shared, "elementwise": fam_elementwise,
             "router": fam_router, "merge": fam_merge, "composite": fam_composite}
    timing = {}
    for f in [f for f in ALL_FAMILIES if f in fams]:
        if f == "composite" or f == "gemm":
            free_attn_pool()
        t0 = time.time()
        log("=== family %s" % f)
        try:
            n = funcs[f](args.quick)
        except Exception as exc:
            traceback.print_exc()
            fail(f, "family", exc)
            n = -1
        timing[f] = round(time.time() - t0, 1)
        log("=== family %s: %s rows in %.1f s" % (f, n, timing[f]))
        META.setdefault("family_seconds", {}).update(timing)
        write_meta()
    free_attn_pool()
    log("done; counts:", json.dumps(csv_counts()), "skipped(deadline):", json.dumps(SKIPPED))


if __name__ == "__main__":
    main()
