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
import functools
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
                "gemm", "elementwise", "router", "merge",
                "cudnn_attn", "eager_prefill", "attn_partial", "kv_gather", "attn_decode_lse", "merge_fast",
                "fp8_attn", "fp8_quant", "moe", "composite_ext", "flex", "collectives"]

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


def live(family, points):
    """The points, each yielded only while within the deadline; the others are counted as skipped for family."""
    for pt in points:
        if over_deadline():
            skip_deadline(family)
        else:
            yield pt


class Csv:
    """One family's CSV.  It is rewritten when its family runs (so re-running into the same --out
    replaces it); families not run keep their files, so a grid can be split over several calls."""

    def __init__(self, name, header):
        self.path = os.path.join(OUT, name)
        os.makedirs(os.path.dirname(self.path), exist_ok=True)
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


def warm_up(fns, warm):
    """warm eager calls, rotating over fns; returns the last one's time in us (1000 when warm is 0)."""
    n = len(fns)
    t_last = None
    for i in range(warm):
        s, e = _ev(), _ev()
        s.record()
        fns[i % n]()
        e.record()
        t_last = (s, e)
    torch.cuda.synchronize()
    return t_last[0].elapsed_time(t_last[1]) * 1000.0 if t_last else 1000.0


def median_us(fns, reps, first=0):
    """Median event time in us of reps calls timed one by one, call r being fns[(r + first) % len(fns)]."""
    n = len(fns)
    evs = []
    for r in range(reps):
        s, e = _ev(), _ev()
        s.record()
        fns[(r + first) % n]()
        e.record()
        evs.append((s, e))
    torch.cuda.synchronize()
    ts = sorted(s.elapsed_time(e) * 1000.0 for s, e in evs)
    return ts[len(ts) // 2]


def time_events(fns, reps=None, warm=WARMUP):
    est = warm_up(fns, warm)
    return median_us(fns, reps or n_reps(est), warm), est


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
    return median_us([g.replay], reps) / per


def bench(fns, allow_graph=True):
    """fns: list of zero-arg callables, each using its own copy of the inputs.
    Returns (median_us, method)."""
    n = len(fns)
    est = warm_up(fns, WARMUP)   # warm-up + eager estimate
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
    return median_us(fns, n_reps(est), WARMUP), "events"


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


# The SDPA backend the attention families and composites use: "flash2" (FlashAttention-2, the
# tables at the top of --out) or "cudnn" (cuDNN fused attention, tables in --out/cudnn/). A backend
# is forced: when it cannot run a call, that is a failure, never a silent fall back to another one.
CUR_BACKEND = "flash2"


def set_backend(name):
    global CUR_BACKEND
    CUR_BACKEND = name


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
        be = {"flash": SDPBackend.FLASH_ATTENTION, "efficient": SDPBackend.EFFICIENT_ATTENTION,
              "cudnn": getattr(SDPBackend, "CUDNN_ATTENTION", None)}[backend]
        with sdpa_kernel(be):
            return F.scaled_dot_product_attention(q, k, v, is_causal=causal, **kw)
    return F.scaled_dot_product_attention(q, k, v, is_causal=causal, **kw)


SDPA_ORDER = [("flash", "native"), ("efficient", "native"), ("flash", "repeat"),
              ("efficient", "repeat"), ("default", "native")]


def sdpa(q, k, v, causal, key):
    """SDPA forcing the current backend (flash2: the flash kernel when possible; cudnn: cuDNN only);
    the first working mode per key is kept."""
    if q.shape[1] != k.shape[1]:
        key = key + "_gqa"
    if CUR_BACKEND != "flash2":
        key = CUR_BACKEND + "_" + key
    mode = SDPA_MODES.get(key)
    if mode is not None:
        return _sdpa_try(mode, q, k, v, causal)
    last = None
    order = SDPA_ORDER if CUR_BACKEND == "flash2" else [("cudnn", "native"), ("cudnn", "repeat")]
    for mode in order:
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


def cudnn_lse(q, k, v):
    """cuDNN fused attention (non-causal) returning (out [B,H,L,d], lse fp32 [B,H,L])."""
    r = torch.ops.aten._scaled_dot_product_cudnn_attention(q, k, v, None, True, 0.0, False, False)
    lse = r[1]
    if lse.dim() == 4:
        lse = lse[..., 0]
    ATTN_NOTES["cudnn_lse"] = "torch.ops.aten._scaled_dot_product_cudnn_attention (cuDNN fused attention), compute_log_sumexp"
    return r[0], lse


def flash_lse(q, k, v):
    """Non-causal attention returning (out [B,H,L,d], lse fp32 [B,H,L]), with the current backend."""
    global FLASH_LSE_MODE
    if CUR_BACKEND == "cudnn":
        return cudnn_lse(q, k, v)
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
    for si, ((n, k), labels) in live("gemm", enumerate(items)):
        try:
            wbytes = n * k * 2
            nw = n_bufs(wbytes)
            Ws = [rnd(n, k, scale=k ** -0.5) for _ in range(nw)]
            W8s = [w.to(FP8) for w in Ws] if FP8 is not None else []
        except Exception as exc:
            fail("gemm", "%dx%d alloc" % (n, k), exc)
            continue
        for m, dtype in live("gemm", [(m, dtype) for m in ms for dtype in ("bf16", "fp8")]):
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


DECODE_HEADER = "dtype,batch,ctx,n_heads,n_kv_heads,head_dim,time_us,method"
PREFILL_HEADER = "dtype,seq,n_heads,n_kv_heads,head_dim,time_us,method"
SHARED_HEADER = "dtype,n_chunks,chunk,queries,n_heads,n_kv_heads,head_dim,time_us,method"


def bench_copies(nb, make, fn, *args):
    """bench() over nb copies of the inputs: make() returns one fresh copy (a tuple); each call is fn(*copy, *args)."""
    return bench([functools.partial(fn, *make(), *args) for _ in range(nb)])


def bench_attn(nb, q_shape, kv_shape, attn, *args, kv=None):
    """bench_copies of attention: q random bf16 [q_shape], K and V [kv_shape] from kv(shape) (default: fresh
    random bf16); each call is attn(q, K, V, *args)."""
    take = kv or (lambda shape: rnd(*shape))
    return bench_copies(nb, lambda: (rnd(*q_shape), take(kv_shape), take(kv_shape)), attn, *args)


def decode_geometry(pt, elem):
    """Decode point (b, ctx, hq, hkv, d), GQA folded into the query length: q [B,Hkv,g,d] vs K/V [B,Hkv,ctx,d].
    Returns (KV bytes, working set bytes, q shape, K/V shape, point key); elem = bytes per KV element."""
    b, cx, hq, hkv, d = pt
    kvb = 2 * b * cx * hkv * d * elem
    return kvb, kvb, (b, hkv, hq // hkv, d), (b, hkv, cx, d), "b=%d ctx=%d h=%d/%d" % (b, cx, hq, hkv)


def decode_lse_geometry(pt, elem):
    """Decode point (b, ctx, hq, hkv, d) with one query per head: q [B,Hq,1,d] vs K/V [B,Hkv,ctx,d]."""
    b, cx, hq, hkv, d = pt
    kvb = 2 * b * cx * hkv * d * elem
    return kvb, kvb, (b, hq, 1, d), (b, hkv, cx, d), "b=%d ctx=%d h=%d" % (b, cx, hq)


def shared_geometry(pt, elem):
    """Shared-chunk point (n_chunks, chunk, queries, hq, hkv, d): q [N,Hkv,queries*g,d] vs K/V [N,Hkv,chunk,d]."""
    nc, ch, qn, hq, hkv, d = pt
    g = hq // hkv
    kvb = 2 * nc * hkv * ch * d * elem
    return (kvb, kvb + nc * hkv * qn * g * d * 4, (nc, hkv, qn * g, d), (nc, hkv, ch, d),
            "nc=%d chunk=%d q=%d h=%d/%d" % (nc, ch, qn, hq, hkv))


def pooled_attn_grid(c, fam, dtype, pts, geometry, pool, attn, *args, log_every=0):
    """One row (dtype, *point, time_us, method) of c per point of pts, K and V taken from pool (Pool: bf16, Pool8:
    e4m3), each call attn(q, K, V, *args); points whose KV exceeds 24 GiB are left out. Returns c.n."""
    elem = pool.buf.element_size()
    for pt in live(fam, [p for p in pts if geometry(p, elem)[0] <= 24 * GiB]):
        _, ws, q_shape, kv_shape, key = geometry(pt, elem)
        try:
            nb = n_bufs(ws)
            pool.reset()
            t, meth = bench_attn(nb, q_shape, kv_shape, attn, *args, kv=pool.take)
            c.row(dtype, *pt, t, meth)
        except Exception as exc:
            fail(fam, key, exc)
        if log_every and c.n % log_every == 0 and c.n:
            log("%s %d rows; %s %.1f us" % (fam, c.n, key, t))
    return c.n


def decode_points(heads):
    """The decode grid: batch 1..256 x ctx 128..128K for each (hq, hkv, d) of heads, then ctx 3000 and 24576 at 32/8."""
    batches = [1, 2, 4, 8, 16, 32, 64, 128, 256]
    ctxs = [128, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072]
    pts = [(b, cx) + h for h in heads for b in batches for cx in ctxs]
    pts += [(b, cx, 32, 8, 128) for b in batches for cx in (3000, 24576)]
    return pts


def shared_points(quick):
    """The shared-chunk grid (n_chunks, chunk, queries, hq, hkv, d)."""
    if quick:
        return [(8, 4096, 1, 32, 8, 128), (128, 4096, 64, 32, 8, 128), (32, 4096, 48, 64, 8, 128)]
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
    return pts


def prefill_grid(c, fam, pts, attn, args_of, empty_each=False):
    """One row per (seq, hq, hkv, d) of pts: q [1,Hq,seq,d] vs K/V [1,Hkv,seq,d], each call attn(q, K, V,
    *args_of(seq)); empty_each: free the cache after every point. Returns c.n."""
    for (s, hq, hkv, d) in live(fam, pts):
        try:
            nb = n_bufs((s * hq * d * 2 + 2 * s * hkv * d) * 2)
            t, meth = bench_attn(nb, (1, hq, s, d), (1, hkv, s, d), attn, *args_of(s))
            c.row("bf16", s, hq, hkv, d, t, meth)
        except Exception as exc:
            fail(fam, "seq=%d h=%d/%d" % (s, hq, hkv), exc)
        if empty_each:
            torch.cuda.empty_cache()
    return c.n


def fam_attn_decode(quick, sub=""):
    c = Csv(os.path.join(sub, "attn_decode.csv"), DECODE_HEADER)
    pool = attn_pool()
    pts = decode_points([(32, 8, 128), (32, 32, 128), (64, 8, 128), (40, 40, 128)])
    if quick:
        pts = [(1, 1024, 32, 8, 128), (64, 32768, 32, 8, 128), (1, 4096, 40, 40, 128), (8, 3000, 32, 8, 128)]
    return pooled_attn_grid(c, os.path.join(sub, "attn_decode"), "bf16", pts, decode_geometry, pool,
                            sdpa, False, "decode", log_every=40)


def fam_attn_prefill(quick, sub=""):
    c = Csv(os.path.join(sub, "attn_prefill.csv"), PREFILL_HEADER)
    heads = [(32, 8, 128), (32, 32, 128), (64, 8, 128), (40, 40, 128)]
    seqs = [128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 3000, 12000]
    pts = [(s,) + h for h in heads for s in seqs]
    if quick:
        pts = [(512, 32, 8, 128), (3000, 32, 8, 128), (4096, 64, 8, 128)]
    prefill_grid(c, os.path.join(sub, "attn_prefill"), pts, sdpa, lambda s: (True, "prefill"))
    torch.cuda.empty_cache()
    return c.n


def fam_attn_shared(quick, sub=""):
    c = Csv(os.path.join(sub, "attn_shared.csv"), SHARED_HEADER)
    pool = attn_pool()
    return pooled_attn_grid(c, os.path.join(sub, "attn_shared"), "bf16", shared_points(quick), shared_geometry, pool,
                            flash_lse, log_every=40)


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
    for (op, t, h) in live("elementwise", pts):
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
    for (b, n) in live("router", pts):
        try:
            k = n // 4
            nb = n_bufs(b * hq * d * 2 + n * hkv * d * 2)
            t, meth = bench_copies(nb, lambda: (rnd(b, hq * d), rnd(n, hkv * d)), router_fn, hkv, k)
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
    for (b, p) in live("merge", pts):
        try:
            nb = n_bufs(p * b * h * (d * 2 + 4))
            t, meth = bench_copies(nb, lambda: (rnd(p, b, h, d), rnd(p, b, h, dtype=torch.float32, scale=3.0)),
                                   lse_merge, 0)
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

    def new_token_q(self, x, Lw, kv, l, ctx, cos, sin):
        """Decode layer l up to attention: the new tokens' q, k, v; their K,V written into slot ctx-1 of the
        layer's cache. Returns (q folded to [B,HKV,g,D], K cache, V cache)."""
        qk, v = self.pre(x, Lw, cos, sin)
        kc, vc = kv[l % len(kv)]
        kc[:, :, ctx - 1].copy_(qk[:, self.HQ:])
        vc[:, :, ctx - 1].copy_(v)
        return qk[:, :self.HQ].reshape(x.shape[0], self.HKV, self.HQ // self.HKV, self.D), kc, vc

    def attend_decode(self, qf, kc, vc):
        return sdpa(qf, kc, vc, False, "decode")

    def decode(self, tok, kv, ctx, cos, sin):
        B = tok.shape[0]
        x = F.embedding(tok, self.emb)
        for l, Lw in enumerate(self.layers):
            qf, kc, vc = self.new_token_q(x, Lw, kv, l, ctx, cos, sin)
            o = self.attend_decode(qf, kc, vc)
            x = self.post(x, o.reshape(B, self.HQ * self.D), Lw)
        return self.head(x)

    def prefill_layer(self, x, Lw, cos, sin, mask=None):
        """One layer of a whole prompt attending itself causally: SDPA (current backend), or with mask given HF
        eager attention with that additive mask."""
        P = x.shape[0]
        qk, v = self.pre(x, Lw, cos, sin)
        q = qk[:, :self.HQ].transpose(0, 1).unsqueeze(0)
        k = qk[:, self.HQ:].transpose(0, 1).unsqueeze(0)
        vv = v.transpose(0, 1).unsqueeze(0)
        o = eager_attn(q, k, vv, mask) if mask is not None else sdpa(q, k, vv, True, "prefill")
        return self.post(x, o[0].transpose(0, 1).reshape(P, self.HQ * self.D), Lw)

    def prefill(self, tok, cos, sin, mask=None):
        """A whole prompt (see prefill_layer); LM head on the last token."""
        x = F.embedding(tok, self.emb)
        for Lw in self.layers:
            x = self.prefill_layer(x, Lw, cos, sin, mask)
        return self.head(x[-1:])

    def moska_attend(self, x, Lw, l, kv, ctx, cos, sin, shared, kmeans, N, topk, Qc, gidx):
        """MoSKA decode layer l up to the merge: the new token's K,V written; the unique partial with its LSE; the
        router (sum over heads of q . k_mean, top-k; the assignment used is the fixed balanced one); the queries
        gathered per chunk; one launch over all N shared chunks. Returns (o_u [B,HKV,g,D], lse_u [B,HKV,g],
        o_s [N,HKV,Qc*g,D], lse_s [N,HKV,Qc*g])."""
        B = x.shape[0]
        HQ, HKV, D = self.HQ, self.HKV, self.D
        g = HQ // HKV
        qf, kc, vc = self.new_token_q(x, Lw, kv, l, ctx, cos, sin)
        o_u, lse_u = attn_lse(qf, kc, vc)
        router_fn(qf.reshape(B, HQ * D), kmeans[l % len(kmeans)], HKV, topk)
        qg = qf.index_select(0, gidx).view(N, Qc, HKV, g, D).permute(0, 2, 1, 3, 4).reshape(N, HKV, Qc * g, D)
        ks, vs = shared[l % len(shared)]
        o_s, lse_s = attn_lse(qg, ks, vs)
        return o_u, lse_u, o_s, lse_s

    def moska_decode(self, tok, kv, ctx, cos, sin, shared, kmeans, N, topk, Qc, gidx, merge):
        """MoSKA decode: per layer moska_attend, then merge(o_u, lse_u, o_s, lse_s) -> the attention output
        [B, HQ*D]."""
        x = F.embedding(tok, self.emb)
        for l, Lw in enumerate(self.layers):
            o = merge(*self.moska_attend(x, Lw, l, kv, ctx, cos, sin, shared, kmeans, N, topk, Qc, gidx))
            x = self.post(x, o, Lw)
        return self.head(x)

    def moska(self, tok, kv, ctx, cos, sin, shared, kmeans, N, topk, Qc, gidx, sidx):
        """MoSKA decode with the reference merge: shared partials scattered to request order (index_copy), cat with
        the unique partial, lse_merge."""
        B = tok.shape[0]
        HQ, HKV, D = self.HQ, self.HKV, self.D
        g = HQ // HKV

        def merge(o_u, lse_u, o_s, lse_s):
            o_s = o_s.view(N, HKV, Qc, g, D).permute(0, 2, 1, 3, 4).reshape(N * Qc, HQ, D)
            lse_s = lse_s.view(N, HKV, Qc, g).permute(0, 2, 1, 3).reshape(N * Qc, HQ)
            po = torch.empty(B * topk, HQ, D, dtype=o_s.dtype, device=DEV).index_copy_(0, sidx, o_s)
            pl = torch.empty(B * topk, HQ, dtype=lse_s.dtype, device=DEV).index_copy_(0, sidx, lse_s)
            o_all = torch.cat([o_u.reshape(B, 1, HQ, D), po.view(B, topk, HQ, D)], 1)
            l_all = torch.cat([lse_u.reshape(B, 1, HQ).to(pl.dtype), pl.view(B, topk, HQ)], 1)
            return lse_merge(o_all, l_all, 1).reshape(B, HQ * D)
        return self.moska_decode(tok, kv, ctx, cos, sin, shared, kmeans, N, topk, Qc, gidx, merge)


def rope_tables(T, D=128):
    """Random cos and sin tables [T, 1, D/2] for rope."""
    return rnd(T, 1, D // 2), rnd(T, 1, D // 2)


def moska_assignment(N, Qc, topk):
    """The fixed balanced assignment: slot s = r*topk + j of request r attends chunk s % N; the shared launch's
    rows are ordered (chunk c, t): s = c + N*t. Returns (sidx: the slot of each row, gidx: its request)."""
    cc = torch.arange(N, device=DEV).view(N, 1)
    tt = torch.arange(Qc, device=DEV).view(1, Qc)
    sidx = (cc + N * tt).reshape(-1)
    return sidx, torch.div(sidx, topk, rounding_mode="floor")


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
    for (b, cx) in live("composite", dec):
        try:
            kv, mode = kv_views(model, pool, b, cx, 50 * GiB)
            if kv is None:
                fail("composite", "decode b=%d ctx=%d" % (b, cx), Exception("skipped: " + mode))
                continue
            kvmodes["decode b=%d ctx=%d" % (b, cx)] = mode
            tok = torch.randint(0, vocab, (b,), device=DEV)
            cos, sin = rope_tables(b)
            fn = lambda: model.decode(tok, kv, cx, cos, sin)
            tg, te = time_composite(fn)
            c.row("decode", b, cx, 0, 0, 0, 0, "bf16", tg, te)
            log("composite decode b=%d ctx=%d (%s): graph %.1f us eager %.1f us" % (b, cx, mode, tg, te))
            del kv, fn
        except Exception as exc:
            fail("composite", "decode b=%d ctx=%d" % (b, cx), exc)
        torch.cuda.empty_cache()
    # ---- prefill
    for p in live("composite", pre):
        try:
            tok = torch.randint(0, vocab, (p,), device=DEV)
            cos, sin = rope_tables(p)
            fn = lambda: model.prefill(tok, cos, sin)
            tg, te = time_composite(fn)
            c.row("prefill", 1, 0, p, 0, 0, 0, "bf16", tg, te)
            log("composite prefill %d: graph %.1f us eager %.1f us" % (p, tg, te))
            del fn
        except Exception as exc:
            fail("composite", "prefill %d" % p, exc)
        torch.cuda.empty_cache()
    # ---- moska
    for (b, cx, sh, ch, sp) in live("composite", mos):
        name = "moska b=%d ctx=%d shared=%d chunk=%d sparsity=%g" % (b, cx, sh, ch, sp)
        try:
            N = sh // ch
            topk = int(round((1 - sp) * N))
            if (b * topk) % N:
                fail("composite", name, Exception("skipped: batch*k/N not integer"))
                continue
            Qc = b * topk // N
            kv, mode = kv_views(model, pool, b, cx, 46 * GiB)
            if kv is None:
                fail("composite", name, Exception("skipped: " + mode))
                continue
            kvmodes[name] = mode
            shared = [(rnd(N, HKV, ch, D), rnd(N, HKV, ch, D)) for _ in range(2)]
            kmeans = [rnd(N, HKV * D) for _ in range(2)]
            sidx, gidx = moska_assignment(N, Qc, topk)
            tok = torch.randint(0, vocab, (b,), device=DEV)
            cos, sin = rope_tables(b)
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


# --------------------------------------------------------------------------- Triton kernels
# Two kernels written for these measurements (tools/PROFILING.md, "Kernels written here"):
#   merge_kernel: the exact LSE merge of P partial attentions in one pass (online max/rescale), each
#     partial read once through an index table of element offsets, so MoSKA's shared partials are
#     read where the batched shared-chunk launch wrote them (no scatter, no concatenation) and the
#     split-KV partials of a decode kernel are combined in place;
#   attn_fp8_kernel: attention over FP8 (e4m3) K and V with per-tensor scales, returning (out, LSE):
#     Q.K^T through an FP8 tensor-core dot (Q cast to e4m3 in the kernel) or a bf16 dot on the
#     dequantised tile, P.V likewise; KV split over programs (flash-decoding) and combined by
#     merge_kernel. The variant used is chosen in the smoke run (the fastest one that passes the
#     float64 check) and written to meta.json.
try:
    import triton
    import triton.language as tl
except Exception:  # pragma: no cover
    triton = None
    tl = None

if triton is not None:
    @triton.jit
    def _merge_kernel(O1, L1, so1_b, so1_hk, so1_m, sl1_b, sl1_hk, sl1_m,
                      O2, L2, OFF2, LOFF2, P2, so2_hk, so2_m, sl2_hk, sl2_m,
                      OUT, sout_b, OUTL, H,
                      G: tl.constexpr, HAS1: tl.constexpr, HASL: tl.constexpr, D: tl.constexpr,
                      BLOCK_H: tl.constexpr):
        b = tl.program_id(0).to(tl.int64)
        hb = tl.program_id(1)
        h = hb * BLOCK_H + tl.arange(0, BLOCK_H)
        hm = h < H
        d = tl.arange(0, D)
        m = tl.full([BLOCK_H], -1.0e30, tl.float32)
        s = tl.zeros([BLOCK_H], tl.float32)
        acc = tl.zeros([BLOCK_H, D], tl.float32)
        if HAS1:
            m = tl.load(L1 + b * sl1_b + (h // G) * sl1_hk + (h % G) * sl1_m, mask=hm, other=0.0)
            s = tl.full([BLOCK_H], 1.0, tl.float32)
            acc = tl.load(O1 + b * so1_b + ((h // G) * so1_hk + (h % G) * so1_m)[:, None] + d[None, :],
                          mask=hm[:, None], other=0.0).to(tl.float32)
        ho = (h // G) * so2_hk + (h % G) * so2_m
        hl = (h // G) * sl2_hk + (h % G) * sl2_m
        for p in range(0, P2):
            base = tl.load(OFF2 + b * P2 + p)
            lbase = tl.load(LOFF2 + b * P2 + p)
            l = tl.load(L2 + lbase + hl, mask=hm, other=0.0)
            o = tl.load(O2 + base + ho[:, None] + d[None, :], mask=hm[:, None], other=0.0).to(tl.float32)
            m_new = tl.maximum(m, l)
            a = tl.exp(m - m_new)
            w = tl.exp(l - m_new)
            acc = acc * a[:, None] + o * w[:, None]
            s = s * a + w
            m = m_new
        out = acc / s[:, None]
        tl.store(OUT + b * sout_b + h[:, None] * D + d[None, :], out.to(OUT.dtype.element_ty), mask=hm[:, None])
        if HASL:
            tl.store(OUTL + b * H + h, m + tl.log(s), mask=hm)

    @triton.jit
    def _attn_fp8_kernel(Q, K, V, O, LSE,
                         sqz, sqh, sqm, skz, skh, skn, svz, svh, svn,
                         sos, soz, soh, som, sls, slz, slh,
                         Hkv, M, N, n_split, qk_scale, v_scale,
                         BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, D: tl.constexpr,
                         QK8: tl.constexpr, PV8: tl.constexpr):
        pid_m = tl.program_id(0)
        pid_zh = tl.program_id(1)
        pid_s = tl.program_id(2)
        z = pid_zh // Hkv
        h = pid_zh % Hkv
        rm = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
        rd = tl.arange(0, D)
        q = tl.load(Q + z.to(tl.int64) * sqz + h * sqh + rm[:, None] * sqm + rd[None, :], mask=rm[:, None] < M, other=0.0)
        if QK8:
            q = q.to(tl.float8e4nv)
        n0 = pid_s * n_split
        n1 = tl.minimum(n0 + n_split, N)
        m_i = tl.full([BLOCK_M], -1.0e30, tl.float32)
        l_i = tl.zeros([BLOCK_M], tl.float32)
        acc = tl.zeros([BLOCK_M, D], tl.float32)
        kb = K + z.to(tl.int64) * skz + h.to(tl.int64) * skh      # int64: a KV tensor can exceed 2^31 elements
        vb = V + z.to(tl.int64) * svz + h.to(tl.int64) * svh
        for start in range(n0, n1, BLOCK_N):
            rn = start + tl.arange(0, BLOCK_N)
            nm = rn < n1
            k = tl.load(kb + rn[:, None] * skn + rd[None, :], mask=nm[:, None], other=0.0)
            if QK8:
                sc = tl.dot(q, tl.trans(k))
            else:
                sc = tl.dot(q, tl.trans(k.to(tl.bfloat16)))
            sc = tl.where(nm[None, :], sc * qk_scale, -1.0e30)
            m_new = tl.maximum(m_i, tl.max(sc, 1))
            alpha = tl.exp2(m_i - m_new)
            p = tl.exp2(sc - m_new[:, None])
            l_i = l_i * alpha + tl.sum(p, 1)
            v = tl.load(vb + rn[:, None] * svn + rd[None, :], mask=nm[:, None], other=0.0)
            if PV8:
                acc = acc * alpha[:, None] + tl.dot(p.to(tl.float8e4nv), v)
            else:
                acc = acc * alpha[:, None] + tl.dot(p.to(tl.bfloat16), v.to(tl.bfloat16))
            m_i = m_new
        o = acc * v_scale / l_i[:, None]
        lse = (m_i + tl.log2(l_i)) * 0.6931471805599453
        tl.store(O + pid_s.to(tl.int64) * sos + z.to(tl.int64) * soz + h * soh + rm[:, None] * som + rd[None, :], o.to(O.dtype.element_ty),
                 mask=rm[:, None] < M)
        tl.store(LSE + pid_s.to(tl.int64) * sls + z.to(tl.int64) * slz + h * slh + rm, lse, mask=rm < M)


SMS = 132
OFF_CACHE = {}   # offset tables for merge_kernel, built before graph capture (eager warm-up)


def _offsets(key, fn):
    t = OFF_CACHE.get(key)
    if t is None:
        t = fn()
        OFF_CACHE[key] = t
    return t


def merge_kernel(out, o2, l2, off2, loff2, G, so2_hk, so2_m, sl2_hk, sl2_m, H, o1=None, l1=None, out_lse=None,
                 o1_strides=None, l1_strides=None):
    """out [B, H, D] (contiguous) = exact merge of, per row b: (o1[b], l1[b]) if given, and the P2 partials
    at element offsets off2[b, p] (+ head offset (h//G)*so2_hk + (h%G)*so2_m) of o2; lse likewise in l2.
    o1/l1: head h at (h//G)*hk + (h%G)*m with (b, hk, m) strides o1_strides / l1_strides (default: [B,H,D] /
    [B,H] contiguous)."""
    B, P2 = off2.shape
    D = out.shape[-1]
    BH = 4
    has1 = o1 is not None
    hasl = out_lse is not None
    if has1:
        os1 = o1_strides or (o1.stride(0), G * D, D)
        ls1 = l1_strides or (l1.stride(0), G, 1)
    else:
        os1 = ls1 = (0, 0, 0)
    _merge_kernel[(B, triton.cdiv(H, BH))](
        o1 if has1 else o2, l1 if has1 else l2, os1[0], os1[1], os1[2], ls1[0], ls1[1], ls1[2],
        o2, l2, off2, loff2, P2, so2_hk, so2_m, sl2_hk, sl2_m,
        out, out.stride(0), out_lse if hasl else l2, H,
        G=G, HAS1=has1, HASL=hasl, D=D, BLOCK_H=BH, num_warps=2)
    return out


def part_offsets(tag, t):
    """Offset table [B, P] (cached under tag and the layout): element offset of part p of row b in t, whose dim 0
    is the part and dim 1 the row."""
    P, B, s0, s1 = t.shape[0], t.shape[1], t.stride(0), t.stride(1)
    return _offsets((tag, P, B, s0, s1), lambda: (
        torch.arange(P, device=DEV, dtype=torch.int64)[None, :] * s0
        + torch.arange(B, device=DEV, dtype=torch.int64)[:, None] * s1).contiguous())


def merge_parts_fast(o, lse, out=None):
    """o [P, B, H, D] bf16, lse [P, B, H] fp32 -> [B, H, D]: the exact LSE merge (fast kernel)."""
    _, B, H, D = o.shape
    if out is None:
        out = torch.empty((B, H, D), dtype=o.dtype, device=DEV)
    return merge_kernel(out, o, lse, part_offsets("parts", o), part_offsets("partsl", lse), 1, o.stride(2), 0,
                        lse.stride(2), 0, H)


FP8_VARIANT = {"QK8": True, "PV8": False}   # replaced by the smoke run's choice (meta.json)
E4M3 = FP8


def attn_fp8(q, k8, v8, k_scale=1.0, v_scale=1.0, want_lse=True):
    """q [Z, Hkv, M, D] bf16 (M = queries x GQA group), k8/v8 [Z, Hkv, N, D] e4m3 -> (o [Z,Hkv,M,D], lse [Z,Hkv,M])."""
    Z, Hkv, M, D = q.shape
    N = k8.shape[2]
    BM = 16 if M <= 16 else 64
    BN = 64
    mt = triton.cdiv(M, BM)
    progs = mt * Z * Hkv
    S = max(1, min(triton.cdiv(2 * SMS, progs), triton.cdiv(N, 256)))
    n_split = triton.cdiv(triton.cdiv(N, S), BN) * BN
    S = triton.cdiv(N, n_split)
    o = torch.empty((S, Z, Hkv, M, D), dtype=BF16, device=DEV)
    lse = torch.empty((S, Z, Hkv, M), dtype=torch.float32, device=DEV)
    qk_scale = (D ** -0.5) * k_scale * 1.4426950408889634
    _attn_fp8_kernel[(mt, Z * Hkv, S)](
        q, k8, v8, o, lse,
        q.stride(0), q.stride(1), q.stride(2), k8.stride(0), k8.stride(1), k8.stride(2),
        v8.stride(0), v8.stride(1), v8.stride(2),
        o.stride(0), o.stride(1), o.stride(2), o.stride(3), lse.stride(0), lse.stride(1), lse.stride(2),
        Hkv, M, N, n_split, qk_scale, v_scale,
        BLOCK_M=BM, BLOCK_N=BN, D=D, QK8=FP8_VARIANT["QK8"], PV8=FP8_VARIANT["PV8"], num_warps=4, num_stages=2)
    if S == 1:
        return o[0], lse[0]
    out = torch.empty((Z, Hkv, M, D), dtype=BF16, device=DEV)
    out_l = torch.empty((Z, Hkv, M), dtype=torch.float32, device=DEV) if want_lse else None
    merge_kernel(out.view(Z, Hkv * M, D), o, lse, part_offsets("split", o), part_offsets("splitl", lse), M,
                 o.stride(2), o.stride(3), lse.stride(2), lse.stride(3), Hkv * M,
                 out_lse=out_l.view(Z, Hkv * M) if want_lse else None)
    return out, out_l


def attn_lse(q, k, v):
    """(out, LSE) of non-causal attention: attn_fp8 when K,V are e4m3, else flash_lse (the current backend)."""
    if k.dtype == FP8:
        return attn_fp8(q, k, v)
    return flash_lse(q, k, v)


def moska_offsets(st, B, N, topk, g):
    """Element offsets [B, topk] of the shared partials in a tensor of strides st laid out [N, Hkv, Qc*g, ...]:
    slot s = b*topk + j (moska_assignment) is chunk s % N, query rows from (s // N)*g."""
    s_ = torch.arange(B * topk, device=DEV, dtype=torch.int64)
    c_, t_ = s_ % N, s_ // N
    return (c_ * st[0] + t_ * g * st[2]).view(B, topk).contiguous()


def moska_merge(out, o_u, lse_u, o_s, lse_s, off, loff, g):
    """out [B, H, D] = the exact merge, per request, of its unique partial (o_u [B,Hkv,g,D], lse_u [B,Hkv,g]) and
    its k shared partials, read in place from o_s [N,Hkv,Qc*g,D] / lse_s at offsets off / loff (moska_offsets)."""
    so, sl, su, slu = o_s.stride(), lse_s.stride(), o_u.stride(), lse_u.stride()
    return merge_kernel(out, o_s, lse_s, off, loff, g, so[1], so[2], sl[1], sl[2], out.shape[1], o1=o_u, l1=lse_u,
                        o1_strides=(su[0], su[1], su[2]), l1_strides=(slu[0], slu[1], slu[2]))


def rnd8(*shape):
    """Random e4m3 tensor (normal values, never NaN patterns)."""
    return torch.randn(*shape, dtype=BF16, device=DEV).to(FP8)


class Pool8:
    """One big random e4m3 buffer handing out views (FP8 KV caches)."""

    def __init__(self, nbytes):
        self.buf = torch.empty(int(nbytes), dtype=torch.uint8, device=DEV)
        for ch in self.buf.split(1 << 28):
            ch.copy_(torch.randn(ch.numel(), dtype=BF16, device=DEV).to(FP8).view(torch.uint8))
        self.off = 0

    def reset(self):
        self.off = 0

    def take(self, shape):
        n = 1
        for s_ in shape:
            n *= int(s_)
        if self.off + n > self.buf.numel():
            raise MemoryError("fp8 pool exhausted")
        t = self.buf[self.off:self.off + n].view(FP8).view(*shape)
        self.off += (n + 255) // 256 * 256
        return t


# --------------------------------------------------------------------------- eager attention (HF style)
def eager_attn(q, k, v, mask=None):
    """HF transformers' eager attention: repeat_kv, Q.K^T * scale (+ additive mask), fp32 softmax -> bf16,
    P.V. q [1,Hq,m,d], k/v [1,Hkv,L,d]."""
    g = q.shape[1] // k.shape[1]
    if g > 1:
        b, hk, L, d = k.shape
        k = k[:, :, None].expand(b, hk, g, L, d).reshape(b, hk * g, L, d)
        v = v[:, :, None].expand(b, hk, g, L, d).reshape(b, hk * g, L, d)
    s = torch.matmul(q, k.transpose(2, 3)) * (q.shape[-1] ** -0.5)
    if mask is not None:
        s = s + mask
    p = torch.softmax(s, dim=-1, dtype=torch.float32).to(q.dtype)
    return torch.matmul(p, v)


def causal_mask(L):
    return torch.full((L, L), float("-inf"), device=DEV, dtype=BF16).triu(1)


def position_mask(pos, L):
    """Additive mask [m, L]: query at prompt position pos[i] sees keys 0..pos[i]."""
    keys = torch.arange(L, device=DEV)
    return torch.where(keys[None, :] <= pos[:, None], 0.0, float("-inf")).to(BF16)


def partial_positions(L, m, seed=0):
    """m distinct sorted prompt positions out of L, always including the last one."""
    g = torch.Generator(device="cpu").manual_seed(seed + L * 7 + m)
    if m >= L:
        return torch.arange(L, device=DEV)
    perm = torch.randperm(L - 1, generator=g)[:m - 1]
    pos = torch.cat([perm, torch.tensor([L - 1])]).sort().values
    return pos.to(DEV)


# --------------------------------------------------------------------------- new families
def fam_cudnn_attn(quick):
    """Decode, shared-chunk and prefill attention through cuDNN fused attention (--out/cudnn/)."""
    set_backend("cudnn")
    try:
        n = fam_attn_decode(quick, "cudnn")
        n += fam_attn_shared(quick, "cudnn")
        n += fam_attn_prefill(quick, "cudnn")
    finally:
        set_backend("flash2")
    note("cudnn", "impl", "SDPA with SDPBackend.CUDNN_ATTENTION forced (decode: GQA folded into the query length; "
         "prefill: enable_gqa, causal); shared chunks: torch.ops.aten._scaled_dot_product_cudnn_attention with "
         "compute_log_sumexp=True. Same shapes and layouts as the flash2 tables.")
    return n


def fam_eager_prefill(quick):
    c = Csv(os.path.join("eager", "attn_prefill.csv"), PREFILL_HEADER)
    heads = [(32, 8, 128), (32, 32, 128)]
    seqs = [128, 256, 512, 1024, 2048, 3000, 4096, 6144, 8192]
    pts = [(s_,) + h for h in heads for s_ in seqs]
    if quick:
        pts = [(512, 32, 8, 128), (3000, 32, 8, 128)]
    prefill_grid(c, "eager/attn_prefill", pts, eager_attn, lambda s_: (causal_mask(s_),), empty_each=True)
    note("eager", "impl", "HF transformers eager attention: repeat_kv (expand+reshape copy), matmul(q, k^T)*scale, + additive "
         "mask (prefill: causal [L,L]; partial: by prompt position [m,L]), softmax(dtype=float32).to(bf16), matmul(p, v)")
    return c.n


PARTIAL_L = [512, 1024, 2048, 3072, 4096, 5120]
PARTIAL_FRAC = [0.02, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0]


def fam_attn_partial(quick):
    """m of L prompt tokens recomputed: their queries against all L keys (flash2: SDPA flash, no mask;
    eager: HF eager with a position mask). Writes attn_partial.csv and eager/attn_partial.csv."""
    head = "dtype,queries,keys,n_heads,n_kv_heads,head_dim,time_us,method"
    cf = Csv("attn_partial.csv", head)
    ce = Csv(os.path.join("eager", "attn_partial.csv"), head)
    heads = [(32, 8, 128)]
    pts = []
    for L in PARTIAL_L:
        for f in PARTIAL_FRAC:
            m = max(1, int(round(f * L)))
            for h in heads:
                pts.append((m, L) + h)
    if quick:
        pts = [(51, 2048, 32, 8, 128), (1024, 1024, 32, 8, 128)]
    kinds = (("flash2", cf), ("eager", ce))
    for (m, L, hq, hkv, d), (kind, c) in live("attn_partial", [(p, kc) for p in pts for kc in kinds]):
        try:
            nb = n_bufs((m * hq * d * 2 + 2 * L * hkv * d) * 2)
            if kind == "eager":
                call = (eager_attn, position_mask(partial_positions(L, m), L))
            else:
                call = (sdpa, False, "partial")
            t, meth = bench_attn(nb, (1, hq, m, d), (1, hkv, L, d), *call)
            c.row("bf16", m, L, hq, hkv, d, t, meth)
        except Exception as exc:
            fail("attn_partial", "%s m=%d L=%d" % (kind, m, L), exc)
    note("attn_partial", "impl", "q [1,Hq,m,d] of m recomputed tokens vs K,V [1,Hkv,L,d] of the whole prompt. flash2: "
         "SDPA flash, enable_gqa, no mask (the flash kernel takes no per-position mask: every query sees all L keys); "
         "eager: HF eager attention with an additive [m,L] mask by prompt position (positions: m sorted random, the last "
         "token always included)")
    return cf.n + ce.n


def fam_kv_gather(quick):
    """Reference KV gathered into a new token order: K and V [L, Hkv*d] each through index_select."""
    c = Csv("kv_gather.csv", "dtype,tokens,kv_width,time_us,method")
    toks = [128, 256, 512, 1024, 2048, 3072, 4096, 5120, 8192, 16384]
    widths = [1024, 4096]
    if quick:
        toks = [512, 5120]
        widths = [1024]
    for w, L in live("kv_gather", [(w, L) for w in widths for L in toks]):
        try:
            nb = n_bufs(4 * L * w * 2)
            idx = torch.randperm(L, device=DEV)
            t, meth = bench_copies(nb, lambda: (rnd(L, w), rnd(L, w)),
                                   lambda kr, vr: (kr.index_select(0, idx), vr.index_select(0, idx)))
            c.row("bf16", L, w, t, meth)
        except Exception as exc:
            fail("kv_gather", "L=%d w=%d" % (L, w), exc)
    note("kv_gather", "impl", "K and V of one layer, [L, kv_width] bf16 each, gathered by a random permutation of L "
         "(two index_select kernels); kv_width = n_kv_heads*head_dim (1024: Llama-3.1-8B/Mistral-7B; 4096: Llama-2-7B)")
    return c.n


def fam_attn_decode_lse(quick):
    """DistAttention micro-attention: decode attention over one block of a request's KV returning (out, LSE),
    flash2 (aten._scaled_dot_product_flash_attention), MHA layouts of LLaMA2-13B and LLaMA2-7B."""
    c = Csv("attn_decode_lse.csv", DECODE_HEADER)
    pool = attn_pool()
    heads = [(40, 40, 128), (32, 32, 128)]
    batches = [1, 2, 4, 8, 16, 32, 64]
    ctxs = [1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144]
    pts = [(b, cx) + h for h in heads for b in batches for cx in ctxs]
    if quick:
        pts = [(1, 4096, 40, 40, 128), (16, 65536, 40, 40, 128)]
    return pooled_attn_grid(c, "attn_decode_lse", "bf16", pts, decode_lse_geometry, pool, flash_lse)


def fam_merge_fast(quick):
    """The exact LSE merge of P partials as one Triton kernel (merge_kernel), at MoSKA (32 heads) and
    LLaMA2-13B (40 heads) shapes; partials read through a random index (as MoSKA's shared rows)."""
    c = Csv("merge_fast.csv", "batch,n_heads,head_dim,n_parts,time_us,method")
    pts = [(b, p, 32) for b in (1, 8, 32, 128, 512, 2048) for p in (2, 4, 8, 16, 64)]
    pts += [(b, p, 40) for b in (1, 4, 16, 64) for p in (2, 4, 8, 16, 64, 256)]
    pts += [(b, 256, 32) for b in (1, 8, 32, 128)]
    if quick:
        pts = [(1, 2, 32), (2048, 64, 32), (16, 256, 40)]
    d = 128
    for (b, p, h) in live("merge_fast", pts):
        try:
            nb = n_bufs(p * b * h * (d * 2 + 4))
            fns = []
            for i in range(nb):
                o = rnd(p * b, h, d)
                lse = rnd(p * b, h, dtype=torch.float32, scale=3.0)
                perm = torch.randperm(p * b, device=DEV).view(b, p)
                off = (perm * o.stride(0)).contiguous()
                loff = (perm * lse.stride(0)).contiguous()
                out = torch.empty((b, h, d), dtype=BF16, device=DEV)
                fns.append(lambda o=o, lse=lse, off=off, loff=loff, out=out:
                           merge_kernel(out, o, lse, off, loff, 1, o.stride(1), 0, lse.stride(1), 0, h))
            t, meth = bench(fns)
            c.row(b, h, d, p, t, meth)
        except Exception as exc:
            fail("merge_fast", "b=%d p=%d h=%d" % (b, p, h), exc)
    note("merge_fast", "impl", "Triton merge_kernel: one program per (request, 4 heads), one pass over the P partials "
         "(online max and rescale, fp32), each partial's rows read through an int64 offset table (here a random "
         "permutation, as MoSKA's shared partials); output bf16 [B,H,d]. Replaces the unfused reference (merge.csv)")
    return c.n


def fam_fp8_attn(quick):
    """FP8 (e4m3) KV attention with the Triton kernel: decode (fp8/attn_decode.csv) and MoSKA shared chunks
    (fp8/attn_shared.csv), same grids and layouts as the flash2 tables."""
    cd = Csv(os.path.join("fp8", "attn_decode.csv"), DECODE_HEADER)
    cs = Csv(os.path.join("fp8", "attn_shared.csv"), SHARED_HEADER)
    free_attn_pool()
    pool = Pool8(24 * GiB + (1 << 26))
    pts = decode_points([(32, 8, 128), (64, 8, 128), (32, 32, 128), (40, 40, 128)])
    if quick:
        pts = [(1, 1024, 32, 8, 128), (64, 32768, 32, 8, 128), (8, 3000, 32, 8, 128)]
    pooled_attn_grid(cd, "fp8/attn_decode", "fp8", pts, decode_geometry, pool, attn_fp8)
    pooled_attn_grid(cs, "fp8/attn_shared", "fp8", shared_points(quick), shared_geometry, pool, attn_fp8)
    del pool
    torch.cuda.empty_cache()
    note("fp8", "impl", "Triton attn_fp8_kernel over e4m3 K,V with per-tensor scales (queries bf16), variant %s; "
         "KV split over programs when the grid is under 2 waves, splits combined by merge_kernel (included in the "
         "time). Used for FP8 KV under every backend (neither SDPA backend takes FP8)." % json.dumps(FP8_VARIANT))
    return cd.n + cs.n


def fp8_quant(x, inv_scale):
    """Static per-tensor activation quantisation before an FP8 GEMM, as eager PyTorch runs it."""
    return (x * inv_scale).to(FP8)


def fam_fp8_quant(quick):
    c = Csv("fp8_quant.csv", "op,dtype,tokens,hidden,time_us,method")
    toks = [1, 4, 16, 64, 256, 1024, 4096, 16384, 48, 3000]
    hiddens = [4096, 5120, 8192, 14336, 28672]
    if quick:
        toks = [1, 4096]
        hiddens = [4096]
    inv = torch.full((), 0.5, dtype=torch.float32, device=DEV)
    for h, t_ in live("fp8_quant", [(h, t_) for h in hiddens for t_ in toks]):
        try:
            nb = n_bufs(t_ * h * 3)
            xs = [rnd(t_, h) for _ in range(nb)]
            tm, meth = bench([(lambda x=x: fp8_quant(x, inv)) for x in xs])
            c.row("fp8_quant", "bf16", t_, h, tm, meth)
        except Exception as exc:
            fail("fp8_quant", "t=%d h=%d" % (t_, h), exc)
    note("fp8_quant", "impl", "(x * inv_scale).to(float8_e4m3fn): static per-tensor scale, eager (2 kernels); hidden = "
         "the GEMM's input width")
    return c.n


# --------------------------------------------------------------------------- MoE
def moe_topk(logits, k):
    """Router top-k as Mixtral/vLLM: top-k of the logits, softmax over the k (fp32) -> weights, expert ids."""
    vals, idx = torch.topk(logits, k, dim=-1)
    w = torch.softmax(vals.float(), dim=-1)
    return w, idx


def moe_permute(x, idx, E):
    """Tokens into expert order: stable sort of the T*k expert ids, gather of the rows; int32 group ends."""
    flat = idx.reshape(-1)
    order = torch.argsort(flat, stable=True)
    counts = torch.zeros(E, dtype=torch.int32, device=DEV).index_add_(0, flat.to(torch.int32), ONES_I32[:flat.numel()])
    offs = torch.cumsum(counts, 0, dtype=torch.int32)
    xs = x.index_select(0, order // idx.shape[1])
    return xs, order, offs


def moe_combine(y, order, w):
    """Expert outputs back to token order and summed with the routing weights: [T*k,H] -> [T,H]."""
    T, k = w.shape
    yu = torch.empty_like(y).index_copy_(0, order, y)
    return (yu.view(T, k, -1) * w.to(y.dtype).unsqueeze(-1)).sum(1)


ONES_I32 = None
GROUPED_MODE = None


def grouped_mm(xs, wt, offs):
    """xs [R, K] in expert order, wt [E, K, N] (a transposed view of [E, N, K] weights), offs int32 group ends."""
    global GROUPED_MODE
    if GROUPED_MODE in (None, "grouped_mm"):
        try:
            r = torch._grouped_mm(xs, wt, offs=offs)
            if GROUPED_MODE is None:
                torch.cuda.synchronize()
                GROUPED_MODE = "grouped_mm"
                note("moe", "grouped", "torch._grouped_mm(x_sorted [T*k,K], W.transpose(1,2) [E,K,N], offs int32) (CUTLASS grouped GEMM)")
            return r
        except Exception as exc:
            if GROUPED_MODE == "grouped_mm":
                raise
            log("torch._grouped_mm unavailable:", str(exc).splitlines()[0][:200])
            GROUPED_MODE = "loop"
            note("moe", "grouped", "per-expert loop (torch._grouped_mm failed: %s)" % str(exc).splitlines()[0][:200])
    raise RuntimeError("no grouped GEMM")


def moe_inputs(T, k, E, H, seed=0):
    g = torch.Generator(device=DEV).manual_seed(1234 + seed + T)
    logits = torch.randn(T, E, device=DEV, generator=g).to(BF16)
    w, idx = moe_topk(logits, k)
    return logits, w, idx


def fam_moe(quick):
    """Mixtral-8x7B-style MoE pieces: router top-k, permutation, grouped expert GEMMs, combine."""
    global ONES_I32
    ONES_I32 = torch.ones(1 << 20, dtype=torch.int32, device=DEV)
    c = Csv("moe.csv", "op,dtype,tokens,hidden,n_experts,top_k,time_us,method")
    cg = Csv("moe_gemm.csv", "dtype,tokens,n,k,n_experts,top_k,time_us,method")
    E, K_, H = 8, 2, 4096
    toks = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 3, 24, 96, 384, 3000]
    if quick:
        toks = [1, 64, 4096]
    for T, op in live("moe", [(T, op) for T in toks for op in ("topk", "permute", "combine")]):
        try:
            logits, w, idx = moe_inputs(T, K_, E, H)
            x = rnd(T, H)
            if op == "topk":
                fn = lambda: moe_topk(logits, K_)
            elif op == "permute":
                fn = lambda: moe_permute(x, idx, E)
            else:
                xs, order, offs = moe_permute(x, idx, E)
                y = rnd(T * K_, H)
                fn = lambda: moe_combine(y, order, w)
            t, meth = bench([fn])
            c.row(op, "bf16", T, H, E, K_, t, meth)
        except Exception as exc:
            fail("moe", "%s T=%d" % (op, T), exc)
    # grouped expert GEMMs: gate_up (n = 2*ffn, k = hidden) and down (n = hidden, k = ffn); TP1 and TP2 shards
    shapes = [(2 * 14336, 4096), (4096, 14336), (14336, 4096), (4096, 7168)]
    if quick:
        shapes = [(2 * 14336, 4096)]
    for (n, kk) in shapes:
        try:
            nw = n_bufs(E * n * kk * 2, cap=4)
            Ws = [rnd(E, n, kk, scale=kk ** -0.5) for _ in range(nw)]
        except Exception as exc:
            fail("moe_gemm", "alloc n=%d k=%d" % (n, kk), exc)
            continue
        for T in live("moe_gemm", toks):
            if 2.0 * T * K_ * n * kk / 600e12 > 0.05:
                continue
            try:
                logits, w, idx = moe_inputs(T, K_, E, H, seed=n)
                x = rnd(T, kk)
                xs, order, offs = moe_permute(x, idx, E)
                fns = [(lambda W=W: grouped_mm(xs, W.transpose(1, 2), offs)) for W in Ws]
                t, meth = bench(fns)
                cg.row("bf16", T, n, kk, E, K_, t, meth)
            except Exception as exc:
                fail("moe_gemm", "T=%d n=%d k=%d" % (T, n, kk), exc)
        del Ws
        torch.cuda.empty_cache()
    note("moe", "impl", "router logits [T,E] bf16 from a seeded normal (uniform routing); topk: torch.topk(k) + fp32 softmax "
         "over the k; permute: stable argsort of the T*k expert ids, int32 counts by index_add_, cumsum -> group ends, "
         "index_select of the token rows; combine: index_copy back to token order, * weights, sum over k; grouped GEMM: "
         "one torch._grouped_mm over the T*k sorted rows (experts with no token get an empty group)")
    return c.n + cg.n


# --------------------------------------------------------------------------- FlexAttention (probe)
def fam_flex(quick):
    """FlexAttention (torch.compile'd flex_attention, dynamic shapes), decode and causal prefill, non-paged."""
    from torch.nn.attention.flex_attention import flex_attention, create_block_mask
    c = Csv(os.path.join("flex", "attn_decode.csv"), DECODE_HEADER)
    cp = Csv(os.path.join("flex", "attn_prefill.csv"), PREFILL_HEADER)
    fx = torch.compile(flex_attention, dynamic=True)
    pool = attn_pool()
    dec = [(b, cx) for b in (1, 8, 64) for cx in (1024, 8192, 32768, 131072)]
    pre = [1024, 4096, 16384]
    if quick:
        dec = [(1, 8192)]
        pre = [1024]
    hq, hkv, d = 32, 8, 128
    t0 = time.time()
    for (b, cx) in live("flex", dec):
        if 2 * b * cx * hkv * d * 2 > 24 * GiB:
            continue
        try:
            pool.reset()
            q = rnd(b, hq, 1, d)
            kk = pool.take((b, hkv, cx, d))
            vv = pool.take((b, hkv, cx, d))
            t, meth = bench([lambda: fx(q, kk, vv, enable_gqa=True)])
            c.row("bf16", b, cx, hq, hkv, d, t, meth)
            log("flex decode b=%d ctx=%d %.1f us (%.0f s since family start)" % (b, cx, t, time.time() - t0))
        except Exception as exc:
            fail("flex", "decode b=%d ctx=%d" % (b, cx), exc)
    for s_ in live("flex", pre):
        try:
            bm = create_block_mask(lambda b_, h_, qi, ki: qi >= ki, None, None, s_, s_, device=DEV)
            q = rnd(1, hq, s_, d)
            kk = rnd(1, hkv, s_, d)
            vv = rnd(1, hkv, s_, d)
            t, meth = bench([lambda: fx(q, kk, vv, block_mask=bm, enable_gqa=True)])
            cp.row("bf16", s_, hq, hkv, d, t, meth)
            log("flex prefill %d %.1f us (%.0f s since family start)" % (s_, t, time.time() - t0))
        except Exception as exc:
            fail("flex", "prefill %d" % s_, exc)
    note("flex", "impl", "torch.compile(flex_attention, dynamic=True), enable_gqa; decode: q [B,32,1,128] (flex decoding), "
         "no block mask; prefill: causal block mask. Not paged.")
    return c.n + cp.n


# --------------------------------------------------------------------------- more composite iterations
class ModelX(Model):
    """A Model of any dense or MoE shape, bf16 or FP8 weights (static per-tensor activation quantisation
    before every FP8 GEMM, as fp8_quant), attention through the current backend, FP8 KV through attn_fp8."""

    def __init__(self, L, H, HQ, HKV, D, FF, V, fp8=False, experts=0, topk=2):
        self.L, self.H, self.HQ, self.HKV, self.D, self.FF, self.V = L, H, HQ, HKV, D, FF, V
        self.fp8, self.E, self.K = fp8, experts, topk
        self.one = torch.ones((), dtype=torch.float32, device=DEV)
        self.inv = torch.full((), 0.5, dtype=torch.float32, device=DEV)

        def W(n, k):
            w = rnd(n, k, scale=k ** -0.5)
            return w.to(FP8) if fp8 else w
        self.layers = []
        for _ in range(L):
            Lw = dict(wqkv=W((HQ + 2 * HKV) * D, H), wo=W(H, HQ * D),
                      n1=rnd(H).mul_(0.1).add_(1.0), n2=rnd(H).mul_(0.1).add_(1.0))
            if experts:
                Lw["wg"] = rnd(experts, H, scale=H ** -0.5)
                Lw["w1"] = rnd(experts, 2 * FF, H, scale=H ** -0.5)
                Lw["w2"] = rnd(experts, H, FF, scale=FF ** -0.5)
            else:
                Lw["wgu"] = W(2 * FF, H)
                Lw["wd"] = W(H, FF)
            self.layers.append(Lw)
        self.emb = rnd(V, H)
        self.lm = W(V, H)
        self.nf = rnd(H).mul_(0.1).add_(1.0)

    def lin(self, x, w):
        if self.fp8:
            return scaled_mm(fp8_quant(x, self.inv), w.t(), self.one)
        return torch.matmul(x, w.t())

    def pre(self, x, Lw, cos, sin):
        T = x.shape[0]
        h = rmsnorm(x, Lw["n1"])
        qkv = self.lin(h, Lw["wqkv"])
        nqk = (self.HQ + self.HKV) * self.D
        qk = rope(qkv[:, :nqk].view(T, self.HQ + self.HKV, self.D), cos, sin)
        v = qkv[:, nqk:].view(T, self.HKV, self.D)
        return qk, v

    ar = None   # a TP all-reduce (collectives family), applied after o and down

    def post(self, x, attn, Lw):
        y = self.lin(attn, Lw["wo"])
        x = x + (self.ar(y) if self.ar else y)
        h = rmsnorm(x, Lw["n2"])
        if self.E:
            logits = torch.matmul(h, Lw["wg"].t())
            w, idx = moe_topk(logits, self.K)
            xs, order, offs = moe_permute(h, idx, self.E)
            gu = grouped_mm(xs, Lw["w1"].transpose(1, 2), offs)
            y = grouped_mm(silu_mul(gu), Lw["w2"].transpose(1, 2), offs)
            return x + moe_combine(y, order, w)
        gu = self.lin(h, Lw["wgu"])
        y = self.lin(silu_mul(gu), Lw["wd"])
        return x + (self.ar(y) if self.ar else y)

    def head(self, x):
        return self.lin(rmsnorm(x, self.nf), self.lm)

    def attend_decode(self, qf, kc, vc):
        if kc.dtype == FP8:
            return attn_fp8(qf, kc, vc, want_lse=False)[0]
        return Model.attend_decode(self, qf, kc, vc)

    def partial_prefill(self, tok, cos, sin, sel, cos_s, sin_s, gidx, kvref, eager, mask0, maskp):
        """Partial-recompute prefill: layer 0 in full (causal), then per layer the reference KV gathered into
        the prompt's order, the m selected tokens recomputed (their K,V scattered into it) and their queries
        attending all P keys."""
        P = tok.shape[0]
        m = sel.shape[0]
        HQ, HKV, D = self.HQ, self.HKV, self.D
        x = F.embedding(tok, self.emb)
        x = self.prefill_layer(x, self.layers[0], cos, sin, mask0 if eager else None)
        xs = x.index_select(0, sel)
        for l in range(1, self.L):
            Lw = self.layers[l]
            kr, vr = kvref[l % len(kvref)]
            kg = kr.index_select(0, gidx)
            vg = vr.index_select(0, gidx)
            qk, v = self.pre(xs, Lw, cos_s, sin_s)
            kg.index_copy_(0, sel, qk[:, HQ:].reshape(m, HKV * D))
            vg.index_copy_(0, sel, v.reshape(m, HKV * D))
            q = qk[:, :HQ].transpose(0, 1).unsqueeze(0)
            K = kg.view(P, HKV, D).transpose(0, 1).unsqueeze(0)
            V = vg.view(P, HKV, D).transpose(0, 1).unsqueeze(0)
            o = eager_attn(q, K, V, maskp) if eager else sdpa(q, K, V, False, "partial")
            xs = self.post(xs, o[0].transpose(0, 1).reshape(m, HQ * D), Lw)
        return self.head(xs[-1:])

    def moska_fast(self, tok, kv, ctx, cos, sin, shared, kmeans, N, topk, Qc, gidx):
        """MoSKA decode with the fast merge: the unique partial and the k shared partials of each request
        merged by merge_kernel straight from where the attention launches wrote them."""
        B = tok.shape[0]
        HQ, D = self.HQ, self.D
        g = HQ // self.HKV

        def offs(st, key):
            return _offsets(("moska", key, B, N, topk, g) + tuple(st), lambda: moska_offsets(st, B, N, topk, g))

        def merge(o_u, lse_u, o_s, lse_s):
            o = torch.empty((B, HQ, D), dtype=BF16, device=DEV)
            moska_merge(o, o_u, lse_u, o_s, lse_s, offs(o_s.stride(), "o"), offs(lse_s.stride(), "l"), g)
            return o.view(B, HQ * D)
        return self.moska_decode(tok, kv, ctx, cos, sin, shared, kmeans, N, topk, Qc, gidx, merge)


def kv_views(model, pool, B, ctx, budget_bytes, elem=2):
    """Decode KV of model for B requests of ctx tokens from pool (Pool: bf16, elem 2; Pool8: e4m3, elem 1): per
    layer when it fits in the budget, else 2-4 rotating buffers. Returns (list of (K, V), mode) or (None, why)."""
    per = 2 * B * ctx * model.HKV * model.D * elem
    cap = min(budget_bytes, pool.buf.numel() * pool.buf.element_size())
    pool.reset()
    if per * model.L <= cap:
        nb, mode = model.L, "per_layer"
    else:
        nb = min(4, int(cap // per))
        if nb < 2:
            return None, "KV %.1f GiB/layer too large" % (per / GiB)
        mode = "rotate%d" % nb
    out = []
    for _ in range(nb):
        out.append((pool.take((B, model.HKV, ctx, model.D)), pool.take((B, model.HKV, ctx, model.D))))
    return out, mode


CEXT = None
CEXT_MODES = {}


def cext_row(kind, model, backend, dtype, kv_dtype, tp, b, ctx, prefill, shared, chunk, sp, rec, merge, fn, label):
    if over_deadline():
        skip_deadline("composite_ext")
        return
    try:
        tg, te = time_composite(fn)
        CEXT.row(kind, model, backend, dtype, kv_dtype, tp, b, ctx, prefill, shared, chunk, "%g" % sp, "%g" % rec, merge,
                 tg, te)
        log("composite_ext %s: graph %.1f us eager %.1f us" % (label, tg, te))
    except Exception as exc:
        fail("composite_ext", label, exc)
    torch.cuda.empty_cache()


def cext_decode(model, pool, b, cx, budget, mode_key, label, row, elem=2, report_skip=True):
    """One composite_ext decode row: KV of b requests of cx tokens from pool (kv_views, its mode noted under
    mode_key), random tokens and rope tables; row = (kind, model, backend, dtype, kv_dtype, tp). A KV that does not
    fit is a skipped point in failures.txt when report_skip, else passed over."""
    kv, mode = kv_views(model, pool, b, cx, budget, elem=elem)
    if kv is None:
        if report_skip:
            fail("composite_ext", label, Exception("skipped: " + mode))
        return
    CEXT_MODES[mode_key] = mode
    tok = torch.randint(0, model.V, (b,), device=DEV)
    cos, sin = rope_tables(b)
    cext_row(*row, b, cx, 0, 0, 0, 0, 0, "-", lambda: model.decode(tok, kv, cx, cos, sin), label)


def cext_prefill(model, p, row, label):
    """One composite_ext prefill row: one prompt of p random tokens; row as for cext_decode."""
    tok = torch.randint(0, model.V, (p,), device=DEV)
    cos, sin = rope_tables(p)
    cext_row(*row, 1, 0, p, 0, 0, 0, 0, "-", lambda: model.prefill(tok, cos, sin), label)


def cext_moska(model, pool, backend, dtype, b, sh, sp, label):
    """One composite_ext MoSKA row with the fast merge: Llama-3.1-8B, b requests of 2048 private tokens, sh shared
    tokens in 4096-token chunks, sparsity sp; KV and shared chunks bf16 (pool: Pool) or e4m3 (dtype fp8, Pool8)."""
    fp8 = dtype == "fp8"
    try:
        kv, _ = kv_views(model, pool, b, 2048, 46 * GiB, elem=1 if fp8 else 2)
        shared, kmeans, N, topk, Qc, gidx = moska_inputs(model, b, sh, 4096, sp, fp8, 2 if sh <= (1 << 22) else 1)
    except Exception as exc:
        fail("composite_ext", label, exc)
        return
    tok = torch.randint(0, model.V, (b,), device=DEV)
    cos, sin = rope_tables(b)
    cext_row("moska", "llama-3.1-8b", backend, dtype, dtype, 1, b, 2048, 0, sh, 4096, sp, 0, "fast",
             lambda: model.moska_fast(tok, kv, 2048, cos, sin, shared, kmeans, N, topk, Qc, gidx), label)
    del kv, shared, kmeans
    torch.cuda.empty_cache()


def moska_inputs(model, b, sh, ch, sp, kv_fp8, nbuf):
    N = sh // ch
    topk = int(round((1 - sp) * N))
    if (b * topk) % N:
        raise ValueError("batch*k/N not integer")
    Qc = b * topk // N
    HKV, D = model.HKV, model.D
    mk = rnd8 if kv_fp8 else rnd
    shared = [(mk(N, HKV, ch, D), mk(N, HKV, ch, D)) for _ in range(nbuf)]
    kmeans = [rnd(N, HKV * D) for _ in range(2)]
    _, gidx = moska_assignment(N, Qc, topk)
    return shared, kmeans, N, topk, Qc, gidx


def fam_composite_ext(quick):
    """Whole iterations beyond composite.csv: other backends (cudnn, eager), FP8 weights + FP8 KV, MoSKA with
    the fast merge at 1M-16M shared tokens, partial-recompute prefills, Mixtral-8x7B, a Llama-3.1-70B TP-2 rank."""
    global CEXT, ONES_I32
    ONES_I32 = torch.ones(1 << 20, dtype=torch.int32, device=DEV)
    CEXT = Csv("composite_ext.csv", "kind,model,backend,dtype,kv_dtype,tp,batch,ctx,prefill,shared,chunk,sparsity,"
                                    "recompute,merge,time_us,time_us_eager")
    free_attn_pool()
    L8 = dict(L=32, H=4096, HQ=32, HKV=8, D=128, FF=14336, V=128256)
    # ---- Llama-3.1-8B bf16: long-context and cuDNN decode, cuDNN prefill, fast-merge MoSKA, partial prefills
    model = ModelX(**L8)
    free, _ = torch.cuda.mem_get_info()
    pool = Pool(int(min(48 * GiB, free - 60 * GiB)))
    dec = [("flash2", 1, 65536), ("flash2", 1, 131072), ("flash2", 4, 65536)]
    dec += [("cudnn", b, cx) for b in (1, 4, 16, 64, 128) for cx in (1024, 8192, 32768)]
    dec += [("cudnn", 1, 65536), ("cudnn", 1, 131072), ("cudnn", 4, 65536)]
    pre = [("cudnn", p) for p in (512, 2048, 8192, 16384)]
    mos = [("flash2", 64, 1 << 20, 0.75), ("flash2", 128, 1 << 20, 0.75), ("flash2", 64, 1 << 22, 0.75),
           ("flash2", 128, 1 << 22, 0.875), ("cudnn", 64, 1 << 20, 0.75), ("cudnn", 128, 1 << 22, 0.75)]
    semL = [512, 2048, 5120]
    semR = [1.0, 0.3, 0.1]
    if quick:
        dec = [("cudnn", 4, 8192), ("flash2", 1, 65536)]
        pre = [("cudnn", 2048)]
        mos = [("flash2", 64, 1 << 20, 0.75)]
        semL, semR = [2048], [0.3]
    for (be, b, cx) in dec:
        set_backend(be)
        label = "decode %s b=%d ctx=%d" % (be, b, cx)
        cext_decode(model, pool, b, cx, 46 * GiB, label, label, ("decode", "llama-3.1-8b", be, "bf16", "bf16", 1))
    for (be, p) in pre:
        set_backend(be)
        cext_prefill(model, p, ("prefill", "llama-3.1-8b", be, "bf16", "bf16", 1), "prefill %s %d" % (be, p))
    set_backend("flash2")
    for (be, b, sh, sp) in mos:
        set_backend(be)
        cext_moska(model, pool, be, "bf16", b, sh, sp, "moska %s b=%d shared=%d sp=%g" % (be, b, sh, sp))
    set_backend("flash2")
    # partial-recompute prefills (Llama-3.1-8B, bf16): eager and flash2; and eager full prefills
    for P in semL:
        tok = torch.randint(0, model.V, (P,), device=DEV)
        cos, sin = rope_tables(P)
        mask0 = causal_mask(P)
        kvref = [(rnd(P, model.HKV * model.D), rnd(P, model.HKV * model.D)) for _ in range(model.L)]
        gidx = torch.randperm(P, device=DEV)
        cext_row("prefill", "llama-3.1-8b", "eager", "bf16", "bf16", 1, 1, 0, P, 0, 0, 0, 0, "-",
                 lambda: model.prefill(tok, cos, sin, mask0), "prefill eager %d" % P)
        for r in semR:
            m = max(1, int(round(r * P)))
            sel = partial_positions(P, m)
            cos_s, sin_s = cos.index_select(0, sel), sin.index_select(0, sel)
            maskp = position_mask(sel, P)
            for be in ("eager", "flash2"):
                cext_row("partial", "llama-3.1-8b", be, "bf16", "bf16", 1, 1, 0, P, 0, 0, 0, r, "-",
                         lambda: model.partial_prefill(tok, cos, sin, sel, cos_s, sin_s, gidx, kvref, be == "eager",
                                                       mask0, maskp),
                         "partial %s P=%d r=%g (m=%d)" % (be, P, r, m))
        del kvref
    del model, pool
    torch.cuda.empty_cache()

    # ---- Llama-3.1-8B with FP8 weights and FP8 KV
    select_fp8_variant()
    model = ModelX(fp8=True, **L8)
    free, _ = torch.cuda.mem_get_info()
    pool8 = Pool8(int(min(48 * GiB, free - 50 * GiB)))
    dec = [(b, cx) for b in (1, 16, 64, 128) for cx in (4096, 32768)] + [(1, 131072)]
    mos = [(64, 1 << 20, 0.75), (128, 1 << 22, 0.75), (64, 1 << 24, 0.75)]
    if quick:
        dec = [(16, 4096)]
        mos = [(64, 1 << 20, 0.75)]
    for (b, cx) in dec:
        label = "decode fp8 b=%d ctx=%d" % (b, cx)
        cext_decode(model, pool8, b, cx, 46 * GiB, label, label, ("decode", "llama-3.1-8b", "flash2", "fp8", "fp8", 1),
                    elem=1)
    for (b, sh, sp) in mos:
        cext_moska(model, pool8, "flash2", "fp8", b, sh, sp, "moska fp8 b=%d shared=%d sp=%g" % (b, sh, sp))
    del model, pool8
    torch.cuda.empty_cache()

    # ---- Mixtral-8x7B bf16 (grouped expert GEMMs)
    if not over_deadline():
        try:
            model = ModelX(L=32, H=4096, HQ=32, HKV=8, D=128, FF=14336, V=32000, experts=8, topk=2)
            free, _ = torch.cuda.mem_get_info()
            pool = Pool(int(min(24 * GiB, free - 8 * GiB)))
            dec = [(1, 4096), (8, 4096), (32, 4096), (128, 4096)] if not quick else [(8, 4096)]
            for (b, cx) in dec:
                label = "mixtral decode b=%d ctx=%d" % (b, cx)
                cext_decode(model, pool, b, cx, 24 * GiB, label, label,
                            ("decode", "mixtral-8x7b", "flash2", "bf16", "bf16", 1), report_skip=False)
            for p in ((512, 2048) if not quick else (512,)):
                cext_prefill(model, p, ("prefill", "mixtral-8x7b", "flash2", "bf16", "bf16", 1),
                             "mixtral prefill %d" % p)
            del model, pool
        except Exception as exc:
            fail("composite_ext", "mixtral", exc)
        torch.cuda.empty_cache()

    # ---- Llama-3.1-70B, one rank of TP 2 (its shard of every GEMM and head; the all-reduces are not run)
    if not over_deadline():
        try:
            model = ModelX(L=80, H=8192, HQ=32, HKV=4, D=128, FF=14336, V=64128)
            free, _ = torch.cuda.mem_get_info()
            pool = Pool(int(min(40 * GiB, free - 8 * GiB)))
            dec = [(1, 4096), (16, 4096), (64, 4096)] if not quick else [(16, 4096)]
            for (b, cx) in dec:
                cext_decode(model, pool, b, cx, 40 * GiB, "70b-tp2 decode b=%d ctx=%d" % (b, cx),
                            "70b tp2-rank decode b=%d ctx=%d" % (b, cx),
                            ("decode-shard", "llama-3.1-70b", "flash2", "bf16", "bf16", 2), report_skip=False)
            if not quick:
                cext_prefill(model, 2048, ("prefill-shard", "llama-3.1-70b", "flash2", "bf16", "bf16", 2),
                             "70b tp2-rank prefill 2048")
            del model, pool
        except Exception as exc:
            fail("composite_ext", "70b", exc)
        torch.cuda.empty_cache()
    set_backend("flash2")
    note("composite_ext", "kv_alloc", CEXT_MODES)
    note("composite_ext", "impl", "As composite.csv (eager torch ops, one CUDA graph per iteration) with: backend = the "
         "SDPA backend forced for decode/prefill/shared attention (eager: HF eager attention); dtype fp8 = e4m3 weights, "
         "fp8_quant of each GEMM input, torch._scaled_mm (lm_head too), KV e4m3 through attn_fp8 (new token's K,V cast "
         "by copy_); moska merge=fast: no scatter/concat, merge_kernel reads the unique partial and the k shared "
         "partials in place; shared KV: 2 rotating layer buffers up to 4M tokens, 1 above; partial: layer 0 full "
         "(causal), layers 1..31: reference K,V [P,1024] gathered by a permutation (index_select), the m selected "
         "tokens (sorted random positions, last included) through the layer, their K,V index_copy'd in, their queries "
         "vs all P keys (flash2: no mask; eager: position mask), LM head on the last token; mixtral: router GEMM, "
         "moe_topk, moe_permute, torch._grouped_mm x2, moe_combine; decode-shard/prefill-shard: the per-rank work of TP "
         "2 (32 q heads, 4 KV heads, ffn 14336, vocab 64128), without the all-reduces")
    return CEXT.n


# --------------------------------------------------------------------------- collectives (2+ GPUs)
COLL_SIZES = [1 << s for s in range(12, 30)]   # 4 KiB .. 512 MiB


def _coll_worker(rank, world, out_dir, quick, deadline_left, port):
    import torch.distributed as dist
    os.environ.setdefault("NCCL_NVLS_ENABLE", "0")
    os.environ.setdefault("TORCH_SYMM_MEM_DISABLE_MULTICAST", "1")
    os.environ.setdefault("NVSHMEM_DISABLE_NVLS", "1")
    torch.cuda.set_device(rank)
    if port is None:   # under torchrun
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("nccl", init_method="tcp://127.0.0.1:%d" % port, rank=rank, world_size=world)
    t_start = time.time()
    dev = "cuda:%d" % rank
    rows = []
    sizes = COLL_SIZES if not quick else [1 << s for s in range(12, 30, 2)]

    def op_fn(op, nbytes):
        n = nbytes // 2
        if op == "all_reduce":
            x = torch.randn(n, dtype=BF16, device=dev)
            return lambda: dist.all_reduce(x)
        if op == "all_gather":
            x = torch.randn(n // world, dtype=BF16, device=dev)
            y = torch.empty(n, dtype=BF16, device=dev)
            return lambda: dist.all_gather_into_tensor(y, x)
        if op == "reduce_scatter":
            x = torch.randn(n, dtype=BF16, device=dev)
            y = torch.empty(n // world, dtype=BF16, device=dev)
            return lambda: dist.reduce_scatter_tensor(y, x)
        if op == "all_to_all":
            x = torch.randn(n, dtype=BF16, device=dev)
            y = torch.empty(n, dtype=BF16, device=dev)
            return lambda: dist.all_to_all_single(y, x)
        if op == "sendrecv":   # ring exchange: each rank sends n bytes to the next and receives from the previous
            x = torch.randn(n, dtype=BF16, device=dev)
            y = torch.empty(n, dtype=BF16, device=dev)
            nxt, prv = (rank + 1) % world, (rank - 1) % world

            def f():
                reqs = dist.batch_isend_irecv([dist.P2POp(dist.isend, x, nxt), dist.P2POp(dist.irecv, y, prv)])
                for r_ in reqs:
                    r_.wait()
            return f
        raise ValueError(op)

    for op in ("all_reduce", "all_gather", "reduce_scatter", "sendrecv", "all_to_all"):
        for nb in sizes:
            if time.time() - t_start > deadline_left:
                break
            try:
                fn = op_fn(op, nb)
                for _ in range(3):
                    fn()
                torch.cuda.synchronize()
                dist.barrier()
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                s.record()
                fn()
                e.record()
                torch.cuda.synchronize()
                est = s.elapsed_time(e) * 1000.0
                k = int(max(2, min(20, 4000.0 / max(est, 1.0))))
                st = torch.cuda.Stream()
                st.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(st):
                    fn()
                torch.cuda.current_stream().wait_stream(st)
                torch.cuda.synchronize()
                g = torch.cuda.CUDAGraph()
                with torch.cuda.graph(g):
                    for _ in range(k):
                        fn()
                torch.cuda.synchronize()
                dist.barrier()
                ts = []
                for i in range(12):
                    g.replay()   # warm
                    torch.cuda.synchronize()
                    dist.barrier()
                    s.record()
                    g.replay()
                    e.record()
                    torch.cuda.synchronize()
                    ts.append(s.elapsed_time(e) * 1000.0 / k)
                ts.sort()
                t = ts[len(ts) // 2]
                tt = torch.tensor([t], device=dev)
                dist.all_reduce(tt, op=dist.ReduceOp.MAX)
                rows.append((op, world, nb, float(tt.item()), "graph%d" % k))
                del g
            except Exception as exc:
                rows.append((op, world, nb, -1.0, "FAIL " + str(exc).splitlines()[0][:120].replace(",", ";")))
    if rank == 0:
        with open(os.path.join(out_dir, "collectives.csv"), "w") as f:
            f.write("op,ranks,bytes,time_us,method\n")
            for r_ in rows:
                if r_[3] > 0:
                    f.write("%s,%d,%d,%.3f,%s\n" % (r_[0], r_[1], r_[2], r_[3], r_[4]))
        with open(os.path.join(out_dir, "collectives_failures.txt"), "w") as f:
            for r_ in rows:
                if r_[3] <= 0:
                    f.write("%s,%d,%s\n" % (r_[0], r_[2], r_[4]))
    # ---- a whole Llama-3.1-70B TP step: each rank its shard, NCCL all-reduces after o and down (in the graph)
    tp_rows = []
    if os.environ.get("MOSKA_TP_STEP", "1") == "1" and time.time() - t_start < deadline_left - 20:
        try:
            global ONES_I32
            ONES_I32 = torch.ones(1 << 20, dtype=torch.int32, device=dev)
            global DEV
            DEV = dev
            model = ModelX(L=80, H=8192, HQ=64 // world, HKV=8 // world, D=128, FF=28672 // world, V=128256 // world)
            model.ar = lambda y: (dist.all_reduce(y), y)[1]
            free, _ = torch.cuda.mem_get_info()
            pool = Pool(int(min(40 * GiB, free - 10 * GiB)))
            for (b, cx) in ((1, 4096), (16, 4096), (64, 4096), (0, 2048)):
                if time.time() - t_start > deadline_left:
                    break
                if b > 0:
                    kv, mode = kv_views(model, pool, b, cx, 40 * GiB)
                    tok = torch.randint(0, model.V, (b,), device=dev)
                    cos, sin = rnd(b, 1, 64), rnd(b, 1, 64)
                    fn = lambda: model.decode(tok, kv, cx, cos, sin)
                else:
                    tok = torch.randint(0, model.V, (cx,), device=dev)
                    cos, sin = rnd(cx, 1, 64), rnd(cx, 1, 64)
                    fn = lambda: model.prefill(tok, cos, sin)
                dist.barrier()
                tg, te = time_composite(fn)
                tt = torch.tensor([tg, te], device=dev)
                dist.all_reduce(tt, op=dist.ReduceOp.MAX)
                tp_rows.append((b, cx, float(tt[0]), float(tt[1])))
        except Exception as exc:
            traceback.print_exc()
            tp_rows.append((-1, 0, 0, str(exc).splitlines()[0][:200]))
        if rank == 0:
            with open(os.path.join(out_dir, "composite_tp.csv"), "w") as f:
                f.write("kind,model,backend,dtype,kv_dtype,tp,batch,ctx,prefill,shared,chunk,sparsity,recompute,merge,"
                        "time_us,time_us_eager\n")
                for (b, cx, tg, te) in tp_rows:
                    if b < 0:
                        continue
                    if b > 0:
                        f.write("decode,llama-3.1-70b,flash2,bf16,bf16,%d,%d,%d,0,0,0,0,0,-,%.3f,%.3f\n" % (world, b, cx, tg, te))
                    else:
                        f.write("prefill,llama-3.1-70b,flash2,bf16,bf16,%d,1,0,%d,0,0,0,0,-,%.3f,%.3f\n" % (world, cx, tg, te))
            log("tp rows:", tp_rows)
    dist.destroy_process_group()


def fam_collectives(quick):
    """NCCL collectives over all visible GPUs (one process each), inside CUDA graphs: all_reduce, all_gather,
    reduce_scatter, sendrecv (ring exchange), all_to_all at 4 KiB..512 MiB; then a whole Llama-3.1-70B TP step."""
    import torch.multiprocessing as mp
    left = (DEADLINE - (time.time() - T0)) if DEADLINE else 400
    if "RANK" in os.environ:   # started by torchrun: this process is one rank
        _coll_worker(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), OUT, quick, left, None)
        return int(os.environ["WORLD_SIZE"])
    world = torch.cuda.device_count()
    if world < 2:
        raise RuntimeError("collectives need 2+ GPUs (found %d)" % world)
    mp.spawn(_coll_worker, args=(world, OUT, quick, left, 29511), nprocs=world, join=True)
    note("collectives", "impl", "torch.distributed NCCL, one process per GPU, bf16; bytes: all_reduce = the tensor on each "
         "rank; all_gather = the gathered output; reduce_scatter = the input; sendrecv = what each rank sends to the next "
         "while receiving from the previous (batch_isend_irecv); all_to_all = each rank's whole buffer. k calls captured "
         "back to back in one CUDA graph (k = 2..20), time = median over 12 replays / k, max over ranks. "
         "NCCL_NVLS_ENABLE=0 (NVLink SHARP off). composite_tp.csv: Llama-3.1-70B, each rank its TP shard, NCCL "
         "all_reduce after o and down in the graph (time = max over ranks)")
    note("collectives", "nccl", ".".join(str(v) for v in torch.cuda.nccl.version()))
    return world


# --------------------------------------------------------------------------- FP8 variant and new checks
FP8_CHOSEN = False


def ref_attn(q, k, v, mask=None):
    """float64 reference: q [..., M, d], k/v [..., N, d] (same heads), optional additive mask [M, N]."""
    s = q.double() @ k.double().transpose(-1, -2) / math.sqrt(q.shape[-1])
    if mask is not None:
        s = s + mask.double()
    lse = torch.logsumexp(s, -1)
    return torch.softmax(s, -1) @ v.double(), lse


def fp8_check(variant):
    """Relative error of attn_fp8 (decode with splits, and a shared-chunk shape) vs float64 on the dequantised
    KV (and, for QK8, the e4m3-rounded queries), and its time at a compute-heavy shared shape."""
    old = dict(FP8_VARIANT)
    FP8_VARIANT.update(variant)
    try:
        errs = {}
        for name, (Z, Hkv, M, N) in {"decode": (2, 8, 4, 3000), "shared": (4, 8, 192, 4096)}.items():
            q = rnd(Z, Hkv, M, 128)
            k8 = rnd8(Z, Hkv, N, 128)
            v8 = rnd8(Z, Hkv, N, 128)
            o, lse = attn_fp8(q, k8, v8)
            qr = q.to(FP8).to(BF16) if variant["QK8"] else q
            ro, rl = ref_attn(qr, k8.to(BF16), v8.to(BF16))
            errs[name] = rel(o, ro)
            errs[name + "_lse_maxabs"] = (lse.double() - rl).abs().max().item()
        q = rnd(32, 8, 256 * 4, 128)
        k8 = rnd8(32, 8, 4096, 128)
        v8 = rnd8(32, 8, 4096, 128)
        t, _ = bench([lambda: attn_fp8(q, k8, v8)])
        errs["us_shared_32x4096_q256"] = t
        return errs
    finally:
        FP8_VARIANT.clear()
        FP8_VARIANT.update(old)


def select_fp8_variant():
    """Chooses the fastest attn_fp8 variant whose error vs float64 is under 4e-2 (fp8 dots) / 1e-2 (bf16 dots)."""
    global FP8_CHOSEN
    if FP8_CHOSEN:
        return
    res = {}
    best = None
    for var in ({"QK8": True, "PV8": True}, {"QK8": True, "PV8": False}, {"QK8": False, "PV8": False}):
        name = ("qk8" if var["QK8"] else "qkbf16") + ("+pv8" if var["PV8"] else "+pvbf16")
        try:
            e = fp8_check(var)
            tol = 4e-2 if (var["QK8"] or var["PV8"]) else 1e-2
            ok = e["decode"] < tol and e["shared"] < tol and e["decode_lse_maxabs"] < 0.1
            e["ok"] = ok
            res[name] = e
            if ok and (best is None or e["us_shared_32x4096_q256"] < best[1]):
                best = (var, e["us_shared_32x4096_q256"], name)
        except Exception as exc:
            res[name] = {"error": str(exc).splitlines()[0][:300] if str(exc) else repr(exc)}
            torch.cuda.synchronize()
    log("fp8 attention variants:", json.dumps(res))
    if best is None:
        raise RuntimeError("no attn_fp8 variant passed its check: %s" % json.dumps(res))
    FP8_VARIANT.clear()
    FP8_VARIANT.update(best[0])
    note("fp8", "variants_checked", res)
    note("fp8", "variant", best[2])
    FP8_CHOSEN = True


def checks_new():
    res = {}

    def run(name, fn):
        try:
            res[name] = fn()
        except Exception as exc:
            res[name] = "ERROR " + (str(exc).splitlines() or ["?"])[0][:300]
            traceback.print_exc()
            torch.cuda.synchronize()

    B, hq, hkv, d, cx = 2, 32, 8, 128, 1000

    def cudnn_decode():
        set_backend("cudnn")
        try:
            q = rnd(B, hkv, hq // hkv, d)
            k = rnd(B, hkv, cx, d)
            v = rnd(B, hkv, cx, d)
            o = sdpa(q, k, v, False, "decode")
            ro, rl = ref_attn(q, k, v)
            o2, l2 = flash_lse(q, k, v)
            return {"out": rel(o, ro), "lse_op_out": rel(o2, ro), "lse_maxabs": (l2.double() - rl).abs().max().item()}
        finally:
            set_backend("flash2")
    run("cudnn_decode_relerr", cudnn_decode)

    def cudnn_prefill():
        set_backend("cudnn")
        try:
            s_ = 256
            q = rnd(1, 32, s_, d)
            k = rnd(1, 8, s_, d)
            v = rnd(1, 8, s_, d)
            o = sdpa(q, k, v, True, "prefill")
            ro, _ = ref_attn(q, k.repeat_interleave(4, 1), v.repeat_interleave(4, 1), causal_mask(s_))
            return rel(o, ro)
        finally:
            set_backend("flash2")
    run("cudnn_prefill_gqa_relerr", cudnn_prefill)

    def merge_checks():
        # P partials of a real attention (split keys) merged == attention over all keys
        q = rnd(3, 32, 1, d)
        k = rnd(3, 32, 3000, d)
        v = rnd(3, 32, 3000, d)
        cuts = [0, 100, 900, 1000, 2500, 3000]
        os_, ls_ = [], []
        for a, b_ in zip(cuts[:-1], cuts[1:]):
            o_, l_ = flash_lse(q, k[:, :, a:b_], v[:, :, a:b_])
            os_.append(o_[:, :, 0])
            ls_.append(l_[:, :, 0])
        o = torch.stack(os_)
        lse = torch.stack(ls_).float()
        ro, _ = ref_attn(q, k, v)
        out = merge_parts_fast(o, lse)
        r = {"parts": rel(out, ro[:, :, 0]), "reference_parts": rel(lse_merge(o, lse, 0), ro[:, :, 0])}
        # the fused MoSKA form: unique partial [B,Hkv,g,d] + shared rows of [N,Hkv,Qc*g,d] by index
        Bq, Hk, g, N, Qc, topk = 4, 8, 4, 8, 2, 4     # B*topk = N*Qc
        qf = rnd(Bq, Hk, g, d)
        ku = rnd(Bq, Hk, 500, d)
        vu = rnd(Bq, Hk, 500, d)
        ks = rnd(N, Hk, 256, d)
        vs = rnd(N, Hk, 256, d)
        o_u, l_u = flash_lse(qf, ku, vu)
        _, gidx = moska_assignment(N, Qc, topk)
        qg = qf.index_select(0, gidx).view(N, Qc, Hk, g, d).permute(0, 2, 1, 3, 4).reshape(N, Hk, Qc * g, d)
        o_s, l_s = flash_lse(qg, ks, vs)
        out = torch.empty((Bq, Hk * g, d), dtype=BF16, device=DEV)
        moska_merge(out, o_u, l_u, o_s, l_s, moska_offsets(o_s.stride(), Bq, N, topk, g),
                    moska_offsets(l_s.stride(), Bq, N, topk, g), g)
        # reference: request r attends its unique KV and chunks (r*topk+j) % N
        refs = []
        for r_ in range(Bq):
            chunks = [(r_ * topk + j) % N for j in range(topk)]
            kk = torch.cat([ku[r_]] + [ks[c] for c in chunks], 1)
            vv = torch.cat([vu[r_]] + [vs[c] for c in chunks], 1)
            refs.append(ref_attn(qf[r_], kk, vv)[0])
        r["moska_fused"] = rel(out.view(Bq, Hk, g, d), torch.stack(refs))
        return r
    run("merge_fast_relerr", merge_checks)

    run("fp8_attention_variant", lambda: (select_fp8_variant(), dict(FP8_VARIANT))[1])

    def eager_checks():
        s_ = 384
        q = rnd(1, 32, s_, d)
        k = rnd(1, 8, s_, d)
        v = rnd(1, 8, s_, d)
        kr, vr = k.repeat_interleave(4, 1), v.repeat_interleave(4, 1)
        r = {"prefill": rel(eager_attn(q, k, v, causal_mask(s_)), ref_attn(q, kr, vr, causal_mask(s_))[0])}
        L, m = 1000, 70
        pos = partial_positions(L, m)
        mask = position_mask(pos, L)
        qp = rnd(1, 32, m, d)
        kp = rnd(1, 8, L, d)
        vp = rnd(1, 8, L, d)
        krp, vrp = kp.repeat_interleave(4, 1), vp.repeat_interleave(4, 1)
        r["partial_eager"] = rel(eager_attn(qp, kp, vp, mask), ref_attn(qp, krp, vrp, mask)[0])
        r["partial_flash"] = rel(sdpa(qp, kp, vp, False, "partial"), ref_attn(qp, krp, vrp)[0])
        # the last position sees every key: its row equals unmasked attention
        r["partial_last_row_is_full"] = rel(eager_attn(qp, kp, vp, mask)[:, :, -1], ref_attn(qp, krp, vrp)[0][:, :, -1])
        return r
    run("eager_relerr", eager_checks)

    def moe_checks():
        global ONES_I32
        ONES_I32 = torch.ones(1 << 20, dtype=torch.int32, device=DEV)
        T, E, K_, H, Fh = 37, 8, 2, 256, 512
        x = rnd(T, H)
        wg = rnd(E, H, scale=H ** -0.5)
        w1 = rnd(E, 2 * Fh, H, scale=H ** -0.5)
        w2 = rnd(E, H, Fh, scale=Fh ** -0.5)
        w, idx = moe_topk(torch.matmul(x, wg.t()), K_)
        xs, order, offs = moe_permute(x, idx, E)
        gu = grouped_mm(xs, w1.transpose(1, 2), offs)
        y = grouped_mm(silu_mul(gu), w2.transpose(1, 2), offs)
        out = moe_combine(y, order, w)
        ref = torch.zeros(T, H, dtype=torch.float64, device=DEV)
        for t_ in range(T):
            for j in range(K_):
                e = int(idx[t_, j])
                h1 = x[t_].double() @ w1[e].double().t()
                a = F.silu(h1[:Fh]) * h1[Fh:]
                ref[t_] += w[t_, j].double() * (a @ w2[e].double().t())
        return {"moe_ffn": rel(out, ref), "grouped_mode": GROUPED_MODE}
    run("moe_relerr", moe_checks)

    def gather_check():
        L = 777
        kr = rnd(L, 1024)
        idx = torch.randperm(L, device=DEV)
        return float((kr.index_select(0, idx) - kr[idx.cpu()].to(DEV)).abs().max().item())
    run("kv_gather_maxabs", gather_check)

    def quant_check():
        x = rnd(64, 4096)
        inv = torch.full((), 0.5, dtype=torch.float32, device=DEV)
        return rel(fp8_quant(x, inv).float(), x.double() * 0.5)
    run("fp8_quant_relerr_vs_exact", quant_check)

    def flex_probe():
        from torch.nn.attention.flex_attention import flex_attention
        t0 = time.time()
        fx = torch.compile(flex_attention, dynamic=True)
        q = rnd(2, 32, 1, d)
        k = rnd(2, 8, 3000, d)
        v = rnd(2, 8, 3000, d)
        o = fx(q, k, v, enable_gqa=True)
        torch.cuda.synchronize()
        t1 = time.time() - t0
        ro, _ = ref_attn(q, k.repeat_interleave(4, 1), v.repeat_interleave(4, 1))
        return {"relerr": rel(o, ro), "first_call_s": round(t1, 1)}
    run("flex_probe", flex_probe)
    log("checks_new:", json.dumps(res, default=str))
    return res


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
    META["fp8_attention_variant"] = dict(FP8_VARIANT) if FP8_CHOSEN else None
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
    ap.add_argument("--checks", action="store_true", help="run the float64 correctness checks (as --quick does) first")
    ap.add_argument("--families", default=",".join(ALL_FAMILIES),
                    help="comma-separated families, run in the order given")
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

    global SMS
    props = torch.cuda.get_device_properties(0)
    L2 = int(getattr(props, "L2_cache_size", 50 * 1000 * 1000))
    SMS = props.multi_processor_count
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
    prev = os.path.join(OUT, "meta.json")
    if os.path.exists(prev):  # an earlier run into the same --out: keep its notes and timings
        try:
            with open(prev) as fh:
                old = json.load(fh)
            NOTES.update(old.get("notes", {}))
            ATTN_NOTES.update(old.get("attention_backends", {}))
            META["family_seconds"] = old.get("family_seconds", {})
            for k in ("checks", "checks_new"):
                if k in old:
                    META[k] = old[k]
            META["earlier_runs"] = old.get("earlier_runs", []) + [{"date_utc": old.get("date_utc"),
                                                                  "families_run": old.get("families_run")}]
        except Exception as exc:
            log("could not read the earlier meta.json:", exc)
    log("GPU %s, %d SMs, L2 %d B, mem %.1f GiB, torch %s cuda %s" % (props.name, props.multi_processor_count, L2,
                                                                   props.total_memory / GiB, torch.__version__,
                                                                   torch.version.cuda))
    write_meta()
    if args.quick or args.checks:
        META["checks"] = checks()
        write_meta()
        META["checks_new"] = checks_new()
        write_meta()
    funcs = {"ceilings": fam_ceilings, "gemm": fam_gemm, "attn_decode": fam_attn_decode,
             "attn_prefill": fam_attn_prefill, "attn_shared": fam_attn_shared, "elementwise": fam_elementwise,
             "router": fam_router, "merge": fam_merge, "composite": fam_composite,
             "cudnn_attn": fam_cudnn_attn, "eager_prefill": fam_eager_prefill, "attn_partial": fam_attn_partial,
             "kv_gather": fam_kv_gather, "attn_decode_lse": fam_attn_decode_lse, "merge_fast": fam_merge_fast,
             "fp8_attn": fam_fp8_attn, "fp8_quant": fam_fp8_quant, "moe": fam_moe, "composite_ext": fam_composite_ext,
             "flex": fam_flex, "collectives": fam_collectives}
    timing = {}
    for f in fams:
        if f in ("composite", "gemm", "composite_ext", "fp8_attn", "moe"):
            free_attn_pool()
        if f in ("fp8_attn", "composite_ext"):
            try:
                select_fp8_variant()
            except Exception as exc:
                traceback.print_exc()
                fail(f, "fp8 variant", exc)
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
