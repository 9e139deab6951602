# Sourced by results/*/run.sh: sets PY to a python3 that has matplotlib ($PYTHON, else python3,
# else Debian's /usr/bin/python3 when only that one has it).
PY=${PYTHON:-python3}
if ! "$PY" -c 'import matplotlib' 2>/dev/null && /usr/bin/python3 -c 'import matplotlib' 2>/dev/null; then PY=/usr/bin/python3; fi
