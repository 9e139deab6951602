#!/usr/bin/env bash
# Installs what moska-sim needs on a fresh Debian 12 machine (root, apt-get) and builds it in Release.
# Idempotent: skips apt-get when every package is present, and reuses ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(g++ cmake make libboost-dev nlohmann-json3-dev libcli11-dev libfmt-dev catch2)
# MPI sweeps (`mpirun -n N moska-sim sweep ...`, tests/test_sweep_mpi.cpp); CMake builds without them too.
pkgs+=(libboost-mpi-dev openmpi-bin libopenmpi-dev)
. tools/apt_install.sh
apt_install setup "${pkgs[@]}"
extra=()
[ "${CI:-}" = "true" ] && extra+=(-DMOSKA_WERROR=ON)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${extra[@]}" >/dev/null
cmake --build build -j"$(nproc)" >&2
