//! The `raw` model: the floor under any runtime's overhead.
//!
//! Two threads, pinned to cores 0 and 1 (thread *i* on core *i* mod *ncores*;
//! if pinning fails the benchmark goes on unpinned), pass `Vec<u8>` messages
//! through lock-free [`SegQueue`]s, one per direction, busy-spinning on `pop`.
//! No runtime, no scheduler, no serialisation: a message is a moved `Vec`
//! (pointer, length, capacity), never a copy of its bytes.
//!
//! Both threads walk the same list of steps (sizes × runs) in one launch, as a
//! runtime-based model must. For each step:
//!
//! 1. The buffers are allocated and filled (every page touched) — untimed.
//! 2. `warmup` iterations — untimed.
//! 3. Both threads meet at a [`Barrier`].
//! 4. Thread 0 reads the clock, runs `iters` iterations, reads the clock.
//!
//! **Latency**: one buffer ping-pongs; each side pops it, touches it (first
//! and last byte) and pushes it back. No allocation in the timed loop.
//!
//! **Bandwidth**: thread 0 owns a pool of `window` pre-allocated buffers. Each
//! iteration it pushes all of them on the forward queue, then pops the
//! backward queue until the ack. Thread 1 pops each message, touches it and
//! hands the buffer straight back on the backward queue (the recycling is
//! timed: it stands for the receiver dropping the message, and costs one
//! queue push and pop per message); after the whole window it pushes a 4-byte
//! ack. The backward queue is FIFO with a single producer, so once thread 0
//! sees the ack all `window` buffers are back in its pool. Nothing is
//! allocated or copied in the timed loop (the queue's own block allocation
//! aside, which every `SegQueue` user pays).

use std::hint::{black_box, spin_loop};
use std::sync::Barrier;
use std::thread;
use std::time::Instant;

use crossbeam_queue::SegQueue;
use crossbeam_utils::CachePadded;

use super::{BandwidthParams, LatencyParams, Step, Timing, ACK_BYTES};
use crate::harness::{touch, RankResult};

/// Threads the raw model runs (it has no notion of more PEs).
pub const PES: usize = super::PAIR;

/// What travels back to the bandwidth sender.
enum Back {
    /// A data buffer returned for reuse.
    Buf(Vec<u8>),
    /// The end-of-window acknowledgement.
    Ack([u8; ACK_BYTES]),
}

/// Pins the calling thread to core `index` mod the number of cores; best
/// effort (a failure leaves the thread unpinned).
fn pin(index: usize) {
    if let Some(ids) = core_affinity::get_core_ids() {
        if !ids.is_empty() {
            let _ = core_affinity::set_for_current(ids[index % ids.len()]);
        }
    }
}

/// Pops a value, busy-spinning until one arrives. When the two threads must
/// share a core, it yields now and then so the other one can run.
fn spin_pop<T>(queue: &SegQueue<T>, share_core: bool) -> T {
    let mut spins: u32 = 0;
    loop {
        if let Some(v) = queue.pop() {
            return v;
        }
        spin_loop();
        spins = spins.wrapping_add(1);
        if share_core && spins & 1023 == 0 {
            thread::yield_now();
        }
    }
}

/// A buffer of `size` bytes with every page written.
fn payload(size: usize) -> Vec<u8> {
    vec![1u8; size]
}

/// Steps × runs in execution order.
fn schedule(steps: &[Step], runs: usize) -> impl Iterator<Item = (usize, &Step)> + Clone {
    steps.iter().enumerate().flat_map(move |(i, s)| (0..runs).map(move |_| (i, s)))
}

fn share_core() -> bool {
    thread::available_parallelism().map_or(true, |n| n.get() < PES)
}

/// The timings of one launch (a single process: always the root).
fn collect(steps: &[Step], runs: usize, elapsed: Vec<(usize, f64)>) -> RankResult<Vec<Timing>> {
    let mut timings: Vec<Timing> = steps.iter().map(|s| Timing::of(s, runs)).collect();
    for (i, e) in elapsed {
        timings[i].elapsed_s.push(e);
    }
    RankResult::Root(timings)
}

/// Ping-pong latency for every step of `p`, in one launch of two threads.
///
/// `p.pes` and `p.via` are not used: the raw model is always two threads and
/// one queue per direction (the CLI rejects other PE counts for it).
pub fn latency(p: &LatencyParams) -> Result<RankResult<Vec<Timing>>, String> {
    let forward = CachePadded::new(SegQueue::<Vec<u8>>::new());
    let backward = CachePadded::new(SegQueue::<Vec<u8>>::new());
    let barrier = Barrier::new(PES);
    let share = share_core();
    let plan = schedule(&p.steps, p.runs);

    let elapsed = thread::scope(|s| {
        let pong = s.spawn(|| {
            pin(1);
            for (_, step) in plan.clone() {
                let rounds = || {
                    let buf = spin_pop(&forward, share);
                    touch(&buf);
                    backward.push(buf);
                };
                (0..step.warmup).for_each(|_| rounds());
                barrier.wait();
                (0..step.iters).for_each(|_| rounds());
            }
        });
        let ping = s.spawn(|| {
            pin(0);
            let mut out = Vec::new();
            for (index, step) in plan.clone() {
                let mut buf = payload(step.size);
                for _ in 0..step.warmup {
                    forward.push(buf);
                    buf = spin_pop(&backward, share);
                    touch(&buf);
                }
                barrier.wait();
                let start = Instant::now();
                for _ in 0..step.iters {
                    forward.push(buf);
                    buf = spin_pop(&backward, share);
                    touch(&buf);
                }
                out.push((index, start.elapsed().as_secs_f64()));
                drop(buf); // untimed
            }
            out
        });
        let elapsed = ping.join();
        let ponged = pong.join();
        match (elapsed, ponged) {
            (Ok(e), Ok(())) => Ok(e),
            _ => Err("raw latency: a benchmark thread panicked".to_string()),
        }
    })?;
    Ok(collect(&p.steps, p.runs, elapsed))
}

/// Windowed streaming bandwidth for every step of `p`, in one launch of two
/// threads.
pub fn bandwidth(p: &BandwidthParams) -> Result<RankResult<Vec<Timing>>, String> {
    let forward = CachePadded::new(SegQueue::<Vec<u8>>::new());
    let backward = CachePadded::new(SegQueue::<Back>::new());
    let barrier = Barrier::new(PES);
    let share = share_core();
    let window = p.window;
    let plan = schedule(&p.steps, p.runs);

    let elapsed = thread::scope(|s| {
        let receiver = s.spawn(|| {
            pin(1);
            let mut acks: u32 = 0;
            for (_, step) in plan.clone() {
                let mut one_window = || {
                    for _ in 0..window {
                        let buf = spin_pop(&forward, share);
                        touch(&buf);
                        backward.push(Back::Buf(buf));
                    }
                    acks = acks.wrapping_add(1);
                    backward.push(Back::Ack(acks.to_le_bytes()));
                };
                (0..step.warmup).for_each(|_| one_window());
                barrier.wait();
                (0..step.iters).for_each(|_| one_window());
            }
        });
        let sender = s.spawn(|| {
            pin(0);
            let mut out = Vec::new();
            for (index, step) in plan.clone() {
                // Untimed: allocate and fault in the window's buffers.
                let mut pool: Vec<Vec<u8>> = (0..window).map(|_| payload(step.size)).collect();
                let mut one_window = || {
                    for buf in pool.drain(..) {
                        forward.push(buf);
                    }
                    loop {
                        match spin_pop(&backward, share) {
                            Back::Buf(buf) => pool.push(buf), // keeps its capacity: no allocation
                            Back::Ack(ack) => {
                                black_box(ack);
                                break;
                            }
                        }
                    }
                };
                (0..step.warmup).for_each(|_| one_window());
                barrier.wait();
                let start = Instant::now();
                (0..step.iters).for_each(|_| one_window());
                out.push((index, start.elapsed().as_secs_f64()));
                debug_assert_eq!(pool.len(), window);
            }
            out
        });
        let elapsed = sender.join();
        let received = receiver.join();
        match (elapsed, received) {
            (Ok(e), Ok(())) => Ok(e),
            _ => Err("raw bandwidth: a benchmark thread panicked".to_string()),
        }
    })?;
    Ok(collect(&p.steps, p.runs, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::osu::{check_timings, Via};

    #[test]
    fn latency_runs_every_step() {
        let p = LatencyParams::new(2, Via::Channel, 2, 1, 1024, 20, 2);
        let t = latency(&p).unwrap().root().unwrap();
        check_timings(&p.steps, p.runs, &t).unwrap();
    }

    #[test]
    fn bandwidth_runs_every_step() {
        let p = BandwidthParams::new(4, 2, 1, 16 * 1024, 2, 1);
        let t = bandwidth(&p).unwrap().root().unwrap();
        check_timings(&p.steps, p.runs, &t).unwrap();
        assert_eq!(t[0].iters, 20);
        assert_eq!(t.last().unwrap().iters, 2);
    }
}
