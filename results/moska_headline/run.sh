#!/usr/bin/env bash
# Regenerates results/moska_headline: what-if hardware profiles, headline.csv and sensitivity.csv from
# `moska-sim scaling` (build first), then headline.png (needs matplotlib: apt-get install -y python3-matplotlib).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tools/python_for_plots.sh
"$PY" results/moska_headline/make_data.py
"$PY" tools/plot_headline.py results/moska_headline
