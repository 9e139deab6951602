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

# FAST'25 Fig. 10's layout: 10 prefill nodes, each caching 3M tokens (5,859 blocks of 512 tokens).
#  (a) the block replay: one global pool of 10 x 3M tokens vs 10 local stores of 3M fed round-robin;
"$sim" cache-replay "$trace" --capacity-blocks 58590 --stores 1,10 --csv "$here/fig10_replay.csv"
#  (b) served: Mooncake, 10 prefill + 6 decode nodes of 8xA800, each prefill node's store 3M tokens
#      of the dummy LLaMA3-70B's KV (320 KiB per token: 3e6 x 327,680 B = 915.5 GiB of DRAM), the
#      trace at 1x: the local cache-aware Conductor (each node uses its own store; the strongest
#      local-cache setting: requests are routed to the node holding their prefix) vs the global one
#      (a node may fetch a longer prefix from another node's store over RDMA).
cd "$here/../.."
echo "policy,prompt_share_local_cache,prompt_share_fetched,prompt_share_reused,prefill_tokens_computed,ttft_mean_s,ttft_p90_s" > "$here/fig10_served.csv"
for pol in local-cache-aware global-cache-aware; do
  "$sim" run workloads/mooncake-conversation.json --set pools.0.instances=10 --set pools.1.instances=6 \
    --set mooncake.dram_gib=915.527 --set policy=$pol --json | python3 -c '
import json, sys
j = json.load(sys.stdin); c = j["counters"]
l, f = c["prompt_tokens_from_local_cache"], c["prompt_tokens_fetched_remote"]
print("%s,%.4f,%.4f,%.4f,%d,%.3f,%.3f" % (sys.argv[1], l, f, l + f, c["prefill_tokens_computed"], j["ttft_s"]["mean"], j["ttft_s"]["p90"]))' $pol >> "$here/fig10_served.csv"
done
column -s, -t < "$here/fig10_replay.csv"
column -s, -t < "$here/fig10_served.csv"
