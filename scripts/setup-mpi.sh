#!/usr/bin/env bash
# Installs, when missing, what the MPI layer and the MPI benchmarks need:
# Open MPI (library, headers, mpicc, mpirun) and libclang (for the `mpi`
# crate's bindgen), from Debian's packages. Safe to run repeatedly.
# Source it (or call `mpi_env`) to get the settings Open MPI needs as root.
set -euo pipefail
need=()
command -v mpicc >/dev/null 2>&1 || need+=(libopenmpi-dev openmpi-bin)
command -v mpirun >/dev/null 2>&1 || need+=(openmpi-bin)
dpkg -s libclang-dev >/dev/null 2>&1 || need+=(libclang-dev)
if [ ${#need[@]} -gt 0 ]; then
    echo "setup-mpi: installing ${need[*]}" >&2
    SUDO=""
    [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        "${need[@]}" build-essential pkg-config >/dev/null
fi
# The C MPI floor of chare-bench (`--model c-mpi`).
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
mkdir -p "$root/target/peers"
mpicc -O2 -o "$root/target/peers/osu_pingpong" "$root/crates/chare-bench/peers/c/osu_pingpong.c"
# Open MPI refuses to run as root unless told.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
