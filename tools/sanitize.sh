#!/usr/bin/env bash
# The test suite built with AddressSanitizer + UndefinedBehaviorSanitizer (any UB report fails),
# in build-asan/ (Debug-like -O1, so it builds in a few minutes on 2 cores). Open MPI's own
# start-up leaks are suppressed (tests/sanitizers/lsan.supp); the project's are not.
#   tools/sanitize.sh            build and run every test
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" \
      -DMOSKA_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$(nproc)" >&2
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"
# Open MPI under ASan: no shared-memory transport probing of /dev/shm limits, no CMA.
export OMPI_MCA_btl_vader_single_copy_mechanism=none
ctest --test-dir build-asan --output-on-failure -j2
