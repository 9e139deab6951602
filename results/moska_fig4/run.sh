#!/usr/bin/env bash
# Regenerates results/moska_fig4: fig4.csv from `moska-sim scaling` over node8.json and cluster32.json
# (build first), then fig4.png (needs matplotlib: apt-get install -y python3-matplotlib).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tools/python_for_plots.sh
"$PY" results/moska_fig4/make_data.py
"$PY" tools/plot_fig4.py results/moska_fig4
