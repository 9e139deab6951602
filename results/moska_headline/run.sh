#!/usr/bin/env bash
# Regenerates results/moska_headline: headline.csv, sensitivity.csv and deployment.csv from
# `moska-sim scaling` (build first), hand_vs_sim.csv (hand derivations against the simulator),
# deployment_scaling.txt (both readings of a headline in one command), then headline.png (needs
# matplotlib: apt-get install -y python3-matplotlib).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tools/python_for_plots.sh
"$PY" results/moska_headline/make_data.py
"$PY" results/moska_headline/hand.py
./build/moska-sim scaling results/moska_headline/deployment.json --systems vllm,prefix-cache,moska-disagg \
  > results/moska_headline/deployment_scaling.txt
"$PY" tools/plot_headline.py results/moska_headline
