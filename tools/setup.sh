#!/usr/bin/env bash
# Installs what moska-sim needs on a fresh Debian 12 machine (root, apt-get) and builds it in Release.
# Idempotent: skips apt-get when every package is present, and reuses ./build.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=(g++ cmake make libboost-dev nlohmann-json3-dev libcli11-dev libfmt-dev catch2)
# MPI sweeps (`mpirun -n N moska-sim sweep ...`, tests/test_sweep_mpi.cpp); CMake builds without them too.
pkgs+=(libboost-mpi-dev openmpi-bin libopenmpi-dev)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
extra=()
[ "${CI:-}" = "true" ] && extra+=(-DMOSKA_WERROR=ON)
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "${extra[@]}" >/dev/null
cmake --build build -j"$(nproc)" >&2
