//! Examples of the Chare runtime. Each one is a binary next to this
//! package's `Cargo.toml`, teaching one feature:
//!
//! | binary | feature |
//! |---|---|
//! | `hello` | groups, N-d arrays, gather reductions, broadcast `_ret` futures |
//! | `pi` | the Charm4Py README example: `Sum` reductions, and deterministic float sums |
//! | `fibonacci` | nested parallelism: async entries creating chares and awaiting futures |
//! | `parallel_map` | a parallel map over an array, results gathered in index order |
//! | `ring` | channels between neighbours in a 1-D ring |
//! | `farm` | master-worker: a master hands out tasks to a group of workers on demand |
//! | `coroutines` | Charm4Py's coroutines: a reentrant entry driving iterations, `when` conditions, `wait_until` |
//! | `timeouts` | timers: replies awaited until a deadline (`sleep_until`), services that `sleep`, a heartbeat (`schedule_after`), `print_stats` |
//!
//! Run one with `cargo run -p chare-examples --release --bin pi -- --pes 4`
//! (or `+p4`, or `CHARE_PES=4`). Every example prints the same output for
//! any number of PEs, except the timing and tasks per PE that `farm` prints;
//! `tests/examples.rs` checks that.
