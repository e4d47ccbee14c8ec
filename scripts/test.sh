#!/usr/bin/env bash
# The test command of the README: installs what is missing (Open MPI and
# libclang from Debian's packages, for the MPI models of chare-bench), builds
# everything, and runs the whole test suite: the runtime on the local
# (threads) layer, the examples, and chare-bench with its MPI models.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-mpi.sh
cargo build --workspace --all-targets --release --locked --features chare-bench/mpi
cargo test --workspace --release --locked --features chare-bench/mpi -- --test-threads=2
