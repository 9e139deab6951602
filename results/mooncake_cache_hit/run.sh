#!/usr/bin/env bash
# Block hit rate vs KV-store capacity on the Mooncake conversation trace: one global store vs the
# trace split round-robin over 8 local stores (each 1/8 of the capacity); plus one tiered example.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
sim="${MOSKA_SIM:-$here/../../build/moska-sim}"
trace="${TRACE:-/work/shared/traces/mooncake/conversation_trace.jsonl}"
"$sim" cache-replay "$trace" --capacity-blocks 1K,2K,4K,8K,16K,32K,64K,128K,256K,512K,1M --stores 1,8 \
  --csv "$here/hit_rate_vs_capacity.csv"
"$sim" cache-replay "$trace" --tiers hbm:4K,dram:16K,ssd:64K --stores 1,8 --csv "$here/tiered_example.csv"
