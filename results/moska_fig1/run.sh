#!/usr/bin/env bash
# Regenerates results/moska_fig1: the CSVs (formulas from models/llama-3.1-8b.json, cross-checked with
# `moska-sim predict`, so build first) and fig1.png (needs matplotlib: apt-get install -y python3-matplotlib).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tools/python_for_plots.sh
"$PY" results/moska_fig1/make_data.py
"$PY" tools/plot_fig1.py results/moska_fig1
