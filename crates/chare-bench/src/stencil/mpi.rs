//! The `mpi` model: one block per rank on rsmpi, as the paper's mpi4py
//! version does it.
//!
//! The process grid is an MPI Cartesian communicator (`MPI_Cart_create`,
//! dims `[x, y]`, not periodic, no reordering: rank `r` is block
//! `(r / y, r % y)`); neighbours come from `MPI_Cart_shift` (dimension 0:
//! up/down, dimension 1: left/right). Each iteration:
//! 1. for each neighbour: `Irecv` into its receive buffer (tag: the side it
//!    is unpacked on), pack the edge, `Isend` (tag: the side the neighbour
//!    unpacks it on);
//! 2. `Waitany` over the receives, unpacking each by its status's tag;
//!    communication time ends after the last unpack;
//! 3. `Waitall` over the sends (counted in the iteration time only: the
//!    neighbour has usually received them by then);
//! 4. compute.
//!
//! At the end of a run rank 0 gathers every rank's timings and checksum.
//! Runs under mpirun; `chare-bench` relaunches itself that way when started
//! without a launcher.

use super::grid::{combine, Side};
use super::{Outcome, Params, RunResult};
use crate::harness::RankResult;
use mpi::request::{multiple_scope, RequestCollection};
use mpi::topology::CartesianCommunicator;
use mpi::traits::*;
use std::time::Instant;

/// Runs the computation `p.runs` times; rank 0 returns the results.
pub fn run(p: &Params) -> Result<Outcome, String> {
    let universe = mpi::initialize().ok_or_else(|| "MPI was already initialised".to_string())?;
    let world = universe.world();
    let d = p.dec;
    let size = world.size() as usize;
    if size != d.parts() {
        return Err(format!("the decomposition has {} blocks but mpirun started {size} ranks", d.parts()));
    }
    let cart: CartesianCommunicator = world
        .create_cartesian_communicator(&[d.x as i32, d.y as i32], &[false, false], false)
        .ok_or_else(|| "MPI_Cart_create gave no communicator".to_string())?;
    let rank = cart.rank() as usize;
    let coords = cart.rank_to_coordinates(cart.rank());
    let (bx, by) = (coords[0] as usize, coords[1] as usize);
    if (bx, by) != d.coords(rank) {
        return Err(format!("MPI_Cart_create placed rank {rank} at ({bx},{by}), expected row-major order"));
    }
    let (up, down) = cart.shift(0, 1);
    let (left, right) = cart.shift(1, 1);
    let nbrs: Vec<(Side, mpi::topology::Process<'_>)> =
        [(Side::Up, up), (Side::Down, down), (Side::Left, left), (Side::Right, right)]
            .into_iter()
            .filter_map(|(side, r)| Some((side, cart.process_at_rank(r?))))
            .collect();
    // The Cartesian neighbours are the decomposition's.
    let expect: Vec<usize> = d.neighbours(bx, by).into_iter().map(|(_, (i, j))| d.rank(i, j)).collect();
    let got: Vec<usize> = nbrs.iter().map(|(_, pr)| pr.rank() as usize).collect();
    if expect != got {
        return Err(format!("MPI_Cart_shift gave neighbours {got:?} to rank {rank}, expected {expect:?}"));
    }

    let mut block = d.block(bx, by);
    let mut inbox: Vec<Vec<f64>> = nbrs.iter().map(|(s, _)| vec![0.0; block.halo_len(*s)]).collect();
    let mut outbox: Vec<Vec<f64>> = inbox.clone();
    let root = cart.process_at_rank(0);
    let mut out = Vec::with_capacity(p.runs);
    for _ in 0..p.runs {
        block.reset();
        let mut times: Vec<f64> = Vec::with_capacity(3 * p.iters);
        cart.barrier();
        for it in 0..p.warmup + p.iters {
            let t0 = Instant::now();
            let mut t1 = t0;
            multiple_scope(4, |rscope, recvs: &mut RequestCollection<'_, [f64]>| {
                multiple_scope(4, |sscope, sends: &mut RequestCollection<'_, [f64]>| {
                    for ((side, pr), (inb, outb)) in nbrs.iter().zip(inbox.iter_mut().zip(outbox.iter_mut())) {
                        recvs.add(pr.immediate_receive_into_with_tag(rscope, &mut inb[..], side.tag()));
                        block.pack(*side, outb);
                        let outb: &[f64] = outb;
                        sends.add(pr.immediate_send_with_tag(sscope, outb, side.opposite().tag()));
                    }
                    // Exactly one Waitany per receive: rsmpi 0.8's `wait_any`
                    // panics instead of returning `None` once every request
                    // has completed (it casts MPI_UNDEFINED to usize).
                    for _ in 0..nbrs.len() {
                        let (_, status, halo) = recvs.wait_any().expect("a pending receive");
                        let side = Side::from_tag(status.tag()).expect("a halo tag");
                        block.unpack(side, halo);
                    }
                    t1 = Instant::now();
                    let mut done = Vec::with_capacity(4);
                    sends.wait_all(&mut done);
                });
            });
            let t2 = Instant::now();
            block.step();
            let t3 = Instant::now();
            if it >= p.warmup {
                times.extend([(t3 - t0).as_secs_f64(), (t1 - t0).as_secs_f64(), (t3 - t2).as_secs_f64()]);
            }
        }
        let checksum = if p.verify { block.checksum() } else { 0 };
        if rank == 0 {
            let mut all_times = vec![0.0f64; times.len() * size];
            root.gather_into_root(&times[..], &mut all_times[..]);
            let mut sums = vec![0u64; size];
            root.gather_into_root(&checksum, &mut sums[..]);
            let procs = all_times
                .chunks_exact(3 * p.iters)
                .map(|t| t.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect())
                .collect();
            out.push(RunResult { procs, checksum: p.verify.then(|| combine(sums)) });
        } else {
            root.gather_into(&times[..]);
            root.gather_into(&checksum);
        }
    }
    Ok(RankResult::on_rank(rank, out))
}
