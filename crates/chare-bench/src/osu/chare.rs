//! The `chare` model: the same benchmarks on the Chare runtime.
//!
//! Contract (see the [module docs of `osu`](super) for what is measured):
//!
//! * Start the runtime **once** per call, with `p.pes` PEs for latency (2 for
//!   bandwidth), and run every step of `p.steps`, each `p.runs` times, in
//!   that launch.
//! * Per step and run: allocate the payload (`vec![1u8; step.size]`, and for
//!   bandwidth `p.window` of them) outside timing; run `step.warmup` untimed
//!   iterations; synchronise both sides (the equivalent of a barrier); time
//!   `step.iters` iterations on the sending side.
//! * Latency: the same `Vec<u8>` goes to a chare on the last PE and comes back
//!   (moved, not copied), by channel or by entry method as `p.via` says; the
//!   receiver touches it (`std::hint::black_box` of its first and last byte).
//! * Bandwidth: `p.window` messages per iteration, then a 4-byte
//!   ([`ACK_BYTES`](super::ACK_BYTES)) ack from the receiver; buffers are
//!   recycled, not re-allocated, in the timed loop.
//! * Return one [`Timing`] per step, in order, with `p.runs` elapsed times in
//!   seconds; the caller checks it with [`check_timings`](super::check_timings),
//!   takes the median and prints.

use super::{BandwidthParams, LatencyParams, Timing};

/// The message returned until the chare model is implemented.
pub const NOT_WIRED: &str = "chare model not yet wired";

/// Ping-pong latency for every step of `p`, in one runtime launch.
pub fn latency(p: &LatencyParams) -> Result<Vec<Timing>, String> {
    let _ = p;
    Err(NOT_WIRED.to_string())
}

/// Windowed streaming bandwidth for every step of `p`, in one runtime launch.
pub fn bandwidth(p: &BandwidthParams) -> Result<Vec<Timing>, String> {
    let _ = p;
    Err(NOT_WIRED.to_string())
}
