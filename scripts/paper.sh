#!/usr/bin/env bash
# The main job of the README: every CPU experiment of PAPER.md (latency,
# bandwidth, Stencil2D strong and weak scaling, PIC with the paper's four
# variants, the load-balancing benchmarks, STREAM) for every model and
# layer this machine can run, then the report: `chare-bench paper`, see
# crates/chare-bench/src/paper/run.rs.
#
#   bash scripts/paper.sh                      # --quick --out results/paper (a few minutes on 2 cores)
#   bash scripts/paper.sh --out results/full   # the full run (arguments replace the default ones)
#
# Installs Open MPI when missing (scripts/setup-mpi.sh, which also builds
# the C MPI program) and builds chare-bench with the `mpi` feature; where
# that fails (or with PAPER_MPI=0) it builds without MPI and the MPI series
# are listed as not run. scripts/setup-peers.sh pip-installs numpy, mpi4py,
# numba and charm4py where missing (PAPER_PEERS=0 skips that); the mpi4py
# series run when python3 imports mpi4py and numpy (and MPI is set up),
# Charm4Py's when it imports charm4py. Resumable: rerunning the same command runs only the
# steps whose CSV is missing (remove the folder to start again).
# Honours CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
features=()
if [ "${PAPER_MPI:-1}" = 1 ]; then
    if (source scripts/setup-mpi.sh); then
        features=(--features mpi)
        # The C MPI program that setup-mpi.sh built (target/peers, whatever
        # CARGO_TARGET_DIR says).
        export CHARE_OSU_C=${CHARE_OSU_C:-$PWD/target/peers/osu_pingpong}
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
    else
        echo "paper.sh: MPI could not be set up: the local layer only" >&2
    fi
fi
# The Python peers' packages (numpy, mpi4py, numba, charm4py) from PyPI;
# one that fails is a warning, and its peers are listed as not run.
bash scripts/setup-peers.sh || echo "paper.sh: the Python peers' set-up failed: those peers are skipped" >&2
cargo build --release --locked -p chare-bench "${features[@]}"
bin=${CARGO_TARGET_DIR:-target}/release/chare-bench
if [ $# -eq 0 ]; then
    set -- --quick --out results/paper
fi
"$bin" paper "$@"
