#!/usr/bin/env bash
# Fuzzes the project's parsers with libFuzzer under ASan + UBSan (Debian 12's clang-16).
#
#   tools/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     (default: 60 s, every target)
#
# Targets (tests/fuzz/): scenario (JSON + --set), model, hardware, calibration (a measured-kernel
# CSV, its name on the first line), trace_mooncake, trace_moska,
# trace_azure, trace_burstgpt, trace_any. For each target it first replays the committed inputs
# (tests/fuzz/corpus/<target>/ and the regression inputs tests/fuzz/regressions/<target>/, found
# crashes kept so they stay fixed), then fuzzes from a corpus seeded with the repository's own
# files (models, hardware profiles, scenarios, trace fixtures) plus the committed one, with the
# dictionary tests/fuzz/json.dict. Two targets run at a time (JOBS=N to change). A crash, hang
# (> 10 s per input), leak or sanitizer report fails the script; its input is left in
# build-fuzz/artifacts/<target>/ to be copied into tests/fuzz/regressions/<target>/.
# MERGE=1 merges what the run found into tests/fuzz/corpus/<target>/ (minimised) for committing.
# Prints the executions per target and in total (README, "Reliability", records a long run).
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-60}
shift || true
all=(scenario model hardware calibration trace_mooncake trace_moska trace_azure trace_burstgpt trace_any)
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=("${all[@]}")
jobs=${JOBS:-2}

# clang and its libFuzzer runtime: Debian 12's clang 16 (clang 14, the default, cannot capture
# structured bindings in lambdas, which the serving code does).
pkgs=(clang-16 libclang-rt-16-dev)
. tools/apt_install.sh
apt_install fuzz "${pkgs[@]}"

if [ "${FUZZ_SKIP_BUILD:-0}" != 1 ]; then
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only" \
      -DCMAKE_CXX_COMPILER=clang++-16 -DMOSKA_FUZZ=ON -DMOSKA_MPI=OFF >/dev/null
cmake --build build-fuzz -j"$(nproc)" --target fuzz_all >&2
fi

seed() {  # seed corpus of a target: the repository's own files of its kind
  local t=$1 dir=$2
  mkdir -p "$dir"
  case $t in
    scenario) cp workloads/*.json tests/golden/scenarios/*.json "$dir"/ ;;
    model) cp models/*.json "$dir"/ ;;
    hardware) cp hw_profiles/*.json "$dir"/ ;;
    calibration) for f in hw_profiles/h100-sxm/*.csv hw_profiles/h200/*.csv; do  # first line: the file's name
                   { basename "$f"; head -40 "$f"; } > "$dir/$(basename "$(dirname "$f")")-$(basename "$f")"; done ;;
    trace_mooncake) cp workloads/fixtures/mooncake_small.jsonl workloads/fixtures/mooncake_bad.jsonl "$dir"/
                    head -50 workloads/fixtures/mooncake_conversation_head500.jsonl > "$dir"/head50.jsonl ;;
    trace_moska) cp workloads/fixtures/moska_small.jsonl "$dir"/ ;;
    trace_azure) cp workloads/fixtures/azure_small.csv "$dir"/ ;;
    trace_burstgpt) cp workloads/fixtures/burstgpt_small.csv "$dir"/ ;;
    trace_any) cp workloads/fixtures/*.jsonl workloads/fixtures/*.csv "$dir"/ ;;
  esac
  [ -d "tests/fuzz/corpus/$t" ] && cp tests/fuzz/corpus/"$t"/* "$dir"/ 2>/dev/null || true
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
run_target() {
  local t=$1 bin=build-fuzz/tests/fuzz/fuzz_$1 work=build-fuzz/corpus/$1 log=build-fuzz/logs/$1.log
  mkdir -p build-fuzz/logs "build-fuzz/artifacts/$t" && rm -rf "$work" && seed "$t" "$work"
  # Regression inputs first: each must run clean.
  local regs=()
  for d in "tests/fuzz/regressions/$t" "tests/fuzz/corpus/$t"; do
    [ -d "$d" ] && [ -n "$(ls -A "$d")" ] && regs+=("$d"/*)
  done
  if [ ${#regs[@]} -gt 0 ]; then
    if ! "$bin" -timeout=10 -rss_limit_mb=2048 "${regs[@]}" >"$log.replay" 2>&1; then
      echo "fuzz: $t: a committed input fails (see $log.replay)" >&2
      return 1
    fi
  fi
  "$bin" "$work" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536 \
         -dict=tests/fuzz/json.dict -print_final_stats=1 -artifact_prefix="build-fuzz/artifacts/$t/" >"$log" 2>&1 || {
    echo "fuzz: $t FAILED (log $log; input in build-fuzz/artifacts/$t/)" >&2
    grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -5 >&2
    return 1
  }
  if [ "${MERGE:-0}" = 1 ]; then
    mkdir -p "tests/fuzz/corpus/$t"
    "$bin" -merge=1 -timeout=10 "tests/fuzz/corpus/$t" "$work" >/dev/null 2>&1
  fi
}

pids=()
names=()
status=0
for t in "${targets[@]}"; do
  run_target "$t" &
  pids+=($!)
  names+=("$t")
  if [ ${#pids[@]} -ge "$jobs" ]; then
    wait "${pids[0]}" || status=1
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || status=1; done

total=0
for t in "${targets[@]}"; do
  n=$(grep -Eo "stat::number_of_executed_units: *[0-9]+" "build-fuzz/logs/$t.log" 2>/dev/null | grep -Eo "[0-9]+$" || echo 0)
  printf 'fuzz: %-16s %12s executions in %s s\n' "$t" "$n" "$secs"
  total=$((total + n))
done
echo "fuzz: total $total executions, ${#targets[@]} targets x $secs s: $([ $status -eq 0 ] && echo 'no crash, hang, leak or sanitizer report' || echo FAILED)"
exit $status
