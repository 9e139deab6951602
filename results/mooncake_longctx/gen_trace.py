#!/usr/bin/env python3
"""The arXiv v3 8.1.2 'simulated data': prompts of a fixed length, 512 output tokens, 50% prefix cache
ratio, Poisson arrivals (rate 1/s here; capacity scales it with --knob speedup). A request's prompt
is one of 4 shared documents (its first half) followed by a unique half, as Mooncake-format JSONL with
512-token chained block hashes (a document's block j has the same hash in every request using it).
Usage: gen_trace.py PROMPT_TOKENS REQUESTS SEED OUT.jsonl"""
import json, math, random, sys

n, count, seed, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
rng = random.Random(seed)
blocks = math.ceil(n / 512)
shared = blocks // 2
t = 0.0
with open(out, "w") as f:
    for i in range(count):
        doc = i % 4
        ids = [doc * 1_000_000 + j for j in range(shared)] + [1_000_000_000 + i * 10_000 + j for j in range(blocks - shared)]
        f.write(json.dumps({"timestamp": int(round(t * 1000)), "input_length": n, "output_length": 512, "hash_ids": ids}) + "\n")
        t += rng.expovariate(1.0)
