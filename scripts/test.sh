#!/usr/bin/env bash
# The test command of the README. Installs what is missing (Open MPI and
# libclang from Debian's packages), builds everything with the MPI layer, and
# runs the whole test suite:
#   - the runtime's feature suite on the local layer (threads, in-process and
#     as programs) and on the MPI layer (the same scenarios under
#     mpirun -np 2 and -np 4), the examples, chare-bench with its MPI models;
#   - no warnings (cargo check with -D warnings, stable and nightly if installed);
#   - the local feature suite again with CHARE_CHECK_SERDE=1;
#   - the loom model of the local layer's sleep protocol.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup-mpi.sh
# The Python peers (mpi4py, Charm4Py) for the tests that run them (skipped,
# with the reason, where their packages do not install).
bash scripts/setup-peers.sh
features="chare/mpi,chare-bench/mpi,chare-examples/mpi"
# No warnings anywhere in the workspace, on stable and, where rustup has it,
# on nightly (separate target directories: the flags differ).
RUSTFLAGS="-D warnings" CARGO_TARGET_DIR=target/check \
    cargo check --workspace --all-targets --locked --features "$features"
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    RUSTFLAGS="-D warnings" CARGO_TARGET_DIR=target/check-nightly \
        cargo +nightly check --workspace --all-targets --locked --features "$features"
fi
cargo build --workspace --all-targets --release --locked --features "$features"
cargo test --workspace --release --locked --features "$features" -- --test-threads=2
# The feature suite once more in the check mode: every value within a
# process also goes through the wire format (see the config module).
CHARE_CHECK_SERDE=1 cargo test -p chare --release --locked --features chare/mpi --test rt_suite -- --test-threads=2
RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
    cargo test -p chare --release --locked --lib loom
