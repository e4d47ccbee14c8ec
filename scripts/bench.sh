#!/usr/bin/env bash
# The local-layer subset (the README's main job before scripts/paper.sh,
# which runs every experiment on every layer): builds chare-bench and runs, on the local layer,
# the OSU-style latency and bandwidth benchmarks at their default sizes
# (1 B .. 4 MiB) for the runtime (`chare`, via channel and via entry method)
# and its floor (`raw`), then the Stencil2D strong-scaling series of the chare
# model (4096 x 4096, PEs 1, 2 and oversubscribed 4, 8; checksums verified).
# The MPI comparisons are scripts/bench-mpi.sh and scripts/bench-stencil.sh. Each size is run 5 times and the median reported. CSVs
# go to results/, a table to the terminal. Needs only Rust. Arguments replace
# the default `--runs 5` and are passed to every chare-bench call.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -p chare-bench
bin=target/release/chare-bench
out=results
mkdir -p "$out"
run() {
    local name=$1; shift
    echo "== chare-bench $*"
    "$bin" "$@" --format csv "${EXTRA[@]}" > "$out/$name.csv"
    grep -v '^#' "$out/$name.csv" | tr ',' '\t'
}
if [ $# -gt 0 ]; then EXTRA=("$@"); else EXTRA=(--runs 5); fi
run latency-raw           latency   --model raw
run latency-chare-channel latency   --model chare --via channel
run latency-chare-entry   latency   --model chare --via entry
run bandwidth-raw         bandwidth --model raw
run bandwidth-chare       bandwidth --model chare
echo "== chare-bench stencil-sweep --kind strong (local layer)"
"$bin" stencil-sweep --kind strong --runs 3 --verify --out "$out/stencil"
echo "CSV files in $out/"
