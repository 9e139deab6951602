#!/usr/bin/env bash
# The test suite built with AddressSanitizer + UndefinedBehaviorSanitizer (any UB report fails),
# in build-asan/ (-O1 with line tables; the test sources at -O0, so it builds in about ten minutes on
# 2 cores). Open MPI's own start-up leaks are suppressed (tests/sanitizers/lsan.supp); the
# project's are not.
#   tools/sanitize.sh            build and run every test
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
      -DMOSKA_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$(nproc)" >&2
export ASAN_OPTIONS="detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
supp="suppressions=$PWD/tests/sanitizers/lsan.supp:print_suppressions=0"
# Open MPI under ASan: keep its components loaded (their leaks then name their library) and no
# single-copy shared-memory mechanism.
export OMPI_MCA_mca_base_component_disable_dlclose=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
LSAN_OPTIONS="$supp" ctest --test-dir build-asan --output-on-failure -j2 -E "^sweep mpi:"
# The MPI ranks' start-up leaks are allocated from frames the fast unwinder does not reach: unwind
# fully there (slow, so only for these tests) for the suppressions to match.
LSAN_OPTIONS="$supp:fast_unwind_on_malloc=0" ctest --test-dir build-asan --output-on-failure -j2 -R "^sweep mpi:"
