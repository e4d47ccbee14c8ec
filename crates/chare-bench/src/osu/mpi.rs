//! The `mpi` model: the benchmarks written directly on rsmpi (the `mpi`
//! crate), exactly as the OSU benchmarks and the paper's mpi4py versions do.
//!
//! * Latency: blocking `Send`/`Recv` ping-pong between ranks 0 and 1, a
//!   barrier between warm-up and timing.
//! * Bandwidth: rank 0 posts `window` `Isend`s of one buffer (as OSU) and
//!   waits for all, then receives a 4-byte ack; rank 1 receives the window
//!   into one buffer and sends the ack. OSU posts `window` `Irecv`s into that
//!   one buffer; safe rsmpi cannot lend one `&mut` buffer to several pending
//!   receives, so rank 1 receives the messages one after another with
//!   blocking `Recv`s (same order, same memory; the sends are all posted).
//!
//! Runs under `mpirun -np 2`; `chare-bench` relaunches itself that way when
//! started without a launcher. Both ranks time the same steps; rank 0
//! returns its timings and prints, rank 1 returns [`RankResult::NotRoot`].

use super::{BandwidthParams, LatencyParams, Timing, ACK_BYTES};
use crate::harness::{touch, RankResult};
use mpi::traits::*;

fn init() -> Result<mpi::environment::Universe, String> {
    mpi::initialize().ok_or_else(|| "MPI was already initialised".to_string())
}

fn check_size(n: i32) -> Result<(), String> {
    if n != 2 {
        return Err(format!("model mpi runs on exactly 2 ranks, got {n} (use mpirun -np 2)"));
    }
    Ok(())
}

/// Ping-pong latency for every step of `p`.
pub fn latency(p: &LatencyParams) -> Result<RankResult<Vec<Timing>>, String> {
    let universe = init()?;
    let world = universe.world();
    check_size(world.size())?;
    let rank = world.rank();
    let peer = world.process_at_rank(1 - rank);
    let mut out = Vec::new();
    for s in &p.steps {
        let mut t = Timing::of(s, p.runs);
        let mut buf = vec![1u8; s.size];
        for _ in 0..p.runs {
            let mut t0 = 0.0;
            for i in 0..s.warmup + s.iters {
                if i == s.warmup {
                    world.barrier();
                    t0 = mpi::time();
                }
                if rank == 0 {
                    peer.send(&buf[..]);
                    peer.receive_into(&mut buf[..]);
                    touch(&buf);
                } else {
                    peer.receive_into(&mut buf[..]);
                    touch(&buf);
                    peer.send(&buf[..]);
                }
            }
            t.elapsed_s.push((mpi::time() - t0).max(f64::MIN_POSITIVE));
        }
        out.push(t);
    }
    Ok(RankResult::on_rank(rank as usize, out))
}

/// Windowed bandwidth for every step of `p`.
pub fn bandwidth(p: &BandwidthParams) -> Result<RankResult<Vec<Timing>>, String> {
    let universe = init()?;
    let world = universe.world();
    check_size(world.size())?;
    let rank = world.rank();
    let peer = world.process_at_rank(1 - rank);
    let window = p.window;
    let mut out = Vec::new();
    for s in &p.steps {
        let mut t = Timing::of(s, p.runs);
        let mut buf = vec![1u8; s.size];
        let mut ack = [0u8; ACK_BYTES];
        for _ in 0..p.runs {
            let mut t0 = 0.0;
            for i in 0..s.warmup + s.iters {
                if i == s.warmup {
                    world.barrier();
                    t0 = mpi::time();
                }
                if rank == 0 {
                    mpi::request::multiple_scope(window, |scope, coll| {
                        for _ in 0..window {
                            coll.add(peer.immediate_send_with_tag(scope, &buf[..], 100));
                        }
                        let mut st = Vec::with_capacity(window);
                        coll.wait_all(&mut st);
                    });
                    peer.receive_into_with_tag(&mut ack[..], 101);
                } else {
                    for _ in 0..window {
                        peer.receive_into_with_tag(&mut buf[..], 100);
                    }
                    touch(&buf);
                    peer.send_with_tag(&ack[..], 101);
                }
            }
            t.elapsed_s.push((mpi::time() - t0).max(f64::MIN_POSITIVE));
        }
        out.push(t);
    }
    Ok(RankResult::on_rank(rank as usize, out))
}
