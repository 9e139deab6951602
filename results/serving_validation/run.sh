#!/usr/bin/env bash
# Reproduce the published real-engine measurements of published.csv with moska-sim and report the
# errors (predictions.csv, errors.md, errors.png). Needs build/moska-sim; the figure needs matplotlib.
#   results/serving_validation/run.sh [--csv other.csv] [--rows 53,56] [--jobs N]
# The engines' API-server costs were fitted by calibrate.py (rerun it only to refit them).
set -euo pipefail
cd "$(dirname "$0")/../.."
. tools/python_for_plots.sh
"$PY" results/serving_validation/reproduce.py "$@"
