#!/usr/bin/env bash
# The Stencil2D evaluation of issue 4 (about 12 minutes on 2 cores): memory
# bandwidth (STREAM-like), strong and weak scaling for the MPI model (rsmpi),
# the chare model on the local layer and on the MPI layer, and the
# overdecomposition series. CSVs in results/stencil/, tables on stdout.
# Installs MPI when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-mpi.sh
cargo build --release --locked -p chare-bench --features mpi
bin=target/release/chare-bench
out=results/stencil
mkdir -p "$out"
for t in 1 2; do
    "$bin" stream --threads "$t" --format csv > "$out/stream-t$t.csv"
    grep -v '^#' "$out/stream-t$t.csv"
done
"$bin" stencil-sweep --kind strong --runs 5 --verify --out "$out"
"$bin" stencil-sweep --kind weak --runs 5 --verify --out "$out"
for k in 2 4 8; do
    "$bin" stencil-sweep --kind strong --pes 1,2 --odf "$k" --series chare,chare-mpi --runs 5 --verify --out "$out"
done
