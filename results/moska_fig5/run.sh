#!/usr/bin/env bash
# Regenerates results/moska_fig5 (needs build/moska-sim and results/moska_fig4/fig4.csv, i.e. run
# results/moska_fig4/run.sh first), then fig5.png (needs matplotlib: apt-get install -y python3-matplotlib).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tools/python_for_plots.sh
"$PY" results/moska_fig5/make_data.py
"$PY" tools/plot_fig5.py results/moska_fig5
