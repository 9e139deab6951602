#!/usr/bin/env bash
# Times a 1,000-point sweep of the default MoSKA scenario (500 requests a point) three ways: one
# thread, --jobs 2, and `mpirun -n 2 --jobs 1`; checks the three CSVs are byte-identical (cmp) and
# prints the wall times. Results are noted in results/perf/README.md ("Sweeps").
#   tools/bench_sweep.sh [moska-sim binary (default build/moska-sim)] [output folder (default /tmp/moska_bench_sweep)]
# The binary needs MPI for the third run (tools/setup.sh installs it); without mpirun it is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${1:-build/moska-sim}
out=${2:-/tmp/moska_bench_sweep}
[ -x "$bin" ] || { echo "bench_sweep: no executable $bin (build first: tools/setup.sh)" >&2; exit 2; }
mkdir -p "$out"
rm -f "$out"/*.csv
# 5 sparsities x 5 shared-context sizes x 4 arrival rates x 10 seeds = 1,000 points.
sweep=(sweep default --set requests=500 --set sparsity=0.5,0.625,0.75,0.875,0.95
       --set shared_tokens=128K,256K,512K,1M,2M --set rate=1,2,3,4 --set seed=1,2,3,4,5,6,7,8,9,10)

# Busy CPU seconds of the whole machine so far (all processes; /proc/stat counts in USER_HZ).
busy() { awk -v hz="$(getconf CLK_TCK)" '/^cpu / { print ($2 + $3 + $4 + $7 + $8) / hz }' /proc/stat; }
# run NAME COMMAND...: times COMMAND (wall, and CPU of it and its children), CSV to $out/NAME.csv.
# "others" is the CPU that other processes used meanwhile (a shared machine: builds slow the run).
run() {
  local name=$1; shift
  local TIMEFORMAT="%R %U %S" b0 b1
  b0=$(busy)
  { time "$@" --out "$out/$name.csv" 2>"$out/$name.err"; } 2>"$out/$name.time"
  b1=$(busy)
  read -r wall user sys <"$out/$name.time"
  awk -v n="$name" -v w="$wall" -v u="$user" -v s="$sys" -v b="$(awk -v a="$b0" -v b="$b1" 'BEGIN { print b - a }')" \
    'BEGIN { o = b - u - s; if (o < 0) o = 0; printf "%-18s wall %6.1f s   cpu %6.1f s   others %6.1f s\n", n, w, u + s, o }'
}
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
if git rev-parse --git-dir >/dev/null 2>&1; then
  commit=$(git rev-parse --short HEAD)
  git diff --quiet HEAD -- sim CMakeLists.txt || commit+=" (plus uncommitted changes in sim/ or CMakeLists.txt)"
else
  commit="unknown (not a git checkout)"
fi
echo "commit: $commit; binary: $bin"
run serial-jobs1 "$bin" "${sweep[@]}" --jobs 1
run threads-jobs2 "$bin" "${sweep[@]}" --jobs 2
if command -v mpirun >/dev/null; then
  root=(); [ "$(id -u)" -eq 0 ] && root=(--allow-run-as-root)
  run mpirun-n2-jobs1 mpirun "${root[@]}" -n 2 "$bin" "${sweep[@]}" --jobs 1
else
  echo "mpirun-n2-jobs1: skipped (no mpirun)"
fi
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "rows: $(($(wc -l <"$out/serial-jobs1.csv") - 1)), errors: $(grep -c ',error: ' "$out/serial-jobs1.csv" || true)"
status=0
for f in "$out"/threads-jobs2.csv "$out"/mpirun-n2-jobs1.csv; do
  [ -f "$f" ] || continue
  if cmp "$out/serial-jobs1.csv" "$f"; then echo "identical: $(basename "$f") = serial-jobs1.csv"; else status=1; fi
done
exit $status
