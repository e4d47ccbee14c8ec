#!/usr/bin/env bash
# The test command of the README: builds everything and runs the whole test
# suite on the local (threads) machine layer. Needs only Rust; installs nothing
# else because the default features have no system dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --workspace --all-targets --release --locked
cargo test --workspace --release --locked -- --test-threads=2
