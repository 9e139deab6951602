#!/usr/bin/env bash
# Reproduction (b): the longest context vLLM-multi and Infinite-LLM serve on 32 A100-80GB for
# LLaMA2-7B/13B/70B. Instances: 7B 32 x TP1, 13B 16 x TP2, 70B 4 x TP8 (v1's layout as a summary
# gives it, unverified). vLLM-multi: one instance's KV; Infinite-LLM: its own + lend_cap x every other
# instance's (capacity arithmetic), then checked by simulation: one request of exactly that many
# tokens completes and one token more is rejected. lend_cap 0.5/0.9/1.0 shows what the cap moves.
# Writes maxctx.csv. Build first.
set -euo pipefail
cd "$(dirname "$0")/../.."
sim="${MOSKA_SIM:-./build/moska-sim}"
out=results/infinite_llm_maxctx
scen=$out/scenario.json
csv=$out/maxctx.csv
echo "model,instances,tp,lend_cap,instance_tokens,vllm_multi_max,infinite_max,gain,checked" > "$csv"
status() {  # model instances tp lending cap prompt -> finished/rejected
  "$sim" run "$scen" --set model=$1 --set pools.0.instances=$2 --set pools.0.tp=$3 --set lending=$4 \
    --set lend_cap=$5 --set input_tokens=$6 --json | python3 -c '
import json, sys; j = json.load(sys.stdin); print("finished" if j["requests"]["finished"] == 1 else "rejected")'
}
for row in "llama-2-7b-longctx 32 1" "llama-2-13b-longctx 16 2" "llama-2-70b-longctx 4 8"; do
  set -- $row
  model=$1 n=$2 tp=$3
  blocks=$("$sim" run "$scen" --set model=$model --set pools.0.instances=$n --set pools.0.tp=$tp --set lending=none |
           sed -n 's/^KV cache of pool gpus: \([0-9]*\) blocks of 16 tokens.*/\1/p')
  for cap in 0.5 0.9 1.0; do
    own=$((blocks * 16))
    lend=$(python3 -c "import math; print(math.floor($cap * $blocks) * 16)")
    inf=$((own + (n - 1) * lend))
    ok="yes"
    # a request holds prompt + 16 output tokens
    [ "$(status $model $n $tp none $cap $((own - 16)))" = finished ] || ok="no"
    [ "$(status $model $n $tp none $cap $((own - 15)))" = rejected ] || ok="no"
    if [ "$cap" = 0.9 ]; then
      [ "$(status $model $n $tp reactive $cap $((inf - 16)))" = finished ] || ok="no"
      [ "$(status $model $n $tp reactive $cap $((inf - 15)))" = rejected ] || ok="no"
    fi
    echo "$model,$n,$tp,$cap,$own,$own,$inf,$(python3 -c "print(round($inf / $own, 2))"),$ok" >> "$csv"
  done
done
column -ts, "$csv"
PY=${PYTHON:-/usr/bin/python3}
"$PY" tools/plot_infinite_llm.py maxctx results/infinite_llm_maxctx || echo "plot skipped (matplotlib missing)"
