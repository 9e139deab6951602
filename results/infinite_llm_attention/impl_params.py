"""The measured DistAttention implementation's parameters, from the timeline run (tools/
profile_distattention_overlap.py timeline -> hw_profiles/h200/distattn_timeline.csv), never from the
layer times reproduction (a) is judged on. Argument: `moska-sim distattention --gpus 2` output (the kernel
table's micro-attention per point). Prints "overlap micro_scale host_floor_us".
  overlap      median over the GPU-bound points (batch x ctx >= 256K tokens) of 1 - holder_lag / home_micro
               (base implementation: the holder's micro-attention starts that late behind the home's)
  micro_scale  median over the same points of the home's micro-attention in the layer / the kernel table's
  host_floor   median over all points of the home host's time to issue one layer (eager)"""
import csv
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
pred = {(int(r["batch"]), int(r["ctx"])): float(r["micro_us"])
        for r in csv.DictReader(l for l in open(sys.argv[1]) if not l.startswith("#")) if r["method"] == "distattn"}
base = [r for r in csv.DictReader(open(os.path.join(HERE, "../../hw_profiles/h200/distattn_timeline.csv")))
        if r["impl"] == "base"]
big = [r for r in base if int(r["batch"]) * int(r["ctx"]) >= 1 << 18]
overlap = statistics.median(1 - float(r["holder_lag_us"]) / float(r["home_micro_us"]) for r in big)
scale = statistics.median(float(r["home_micro_us"]) / pred[(int(r["batch"]), int(r["ctx"]))] for r in big)
host = statistics.median(float(r["home_host_us"]) for r in base)
print(f"{overlap:.3f} {scale:.3f} {host:.1f}")
