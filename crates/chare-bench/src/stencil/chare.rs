//! The `chare` model: a 2-D chare array of `x x y` cells (the decomposition
//! of `P * odf` parts, placed in contiguous row-major blocks of `odf` cells
//! per PE), each owning one block of the grid.
//!
//! Per run the main task broadcasts `run` to every cell; each cell opens one
//! `Channel<Buffer<f64>>` to each neighbour and iterates:
//! 1. for each neighbour: pack the edge into a buffer and `send` it
//!    (the buffer moves; on the MPI layer it travels as its own message
//!    straight from its memory);
//! 2. `iwait` over the receives: unpack each halo as it arrives and keep
//!    the received buffer as the next send buffer to that neighbour (same
//!    length), so the local layer allocates nothing after the first
//!    iteration;
//! 3. compute (update, swap, boundary).
//!
//! At the end every cell contributes its timings and checksum to a gather
//! reduction into the main task's future (ordered by index = row-major =
//! process number).

use super::grid::{Decomp, Side};
use super::{IterTimes, Outcome, Params, RunResult};
use crate::harness::run_chare_job;
use chare::prelude::*;
use std::time::Instant;

/// One cell's result of one run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct CellResult {
    /// `[iteration, communication, computation]` per timed iteration, flat.
    pub times: Buffer<f64>,
    /// The block's part of the checksum (`--verify`).
    pub checksum: Option<u64>,
}

/// One block of the grid.
struct Cell {
    dec: Decomp,
    bx: usize,
    by: usize,
    block: super::grid::Block,
}

#[chare]
impl Cell {
    fn new(ctx: &Ctx<Self>, dec: Decomp) -> Self {
        let ix = ctx.index();
        let (bx, by) = (ix.get(0), ix.get(1));
        // Allocated (first touched) on the cell's own PE.
        Cell { dec, bx, by, block: dec.block(bx, by) }
    }

    /// One run of the whole computation; contributes a [`CellResult`] to
    /// the gather into `done`.
    #[entry]
    async fn run(&mut self, ctx: &Ctx<Self>, iters: usize, warmup: usize, verify: bool, done: Future<Vec<CellResult>>) {
        self.block.reset();
        let cells = ctx.proxy();
        // One channel per neighbour; each pair of cells opens exactly one
        // channel to each other per run, so the n-th ends pair up.
        let nbrs: Vec<(Side, Channel<Buffer<f64>>)> = self
            .dec
            .neighbours(self.bx, self.by)
            .into_iter()
            .map(|(side, ij)| (side, ctx.channel_to(&cells.elem(ij))))
            .collect();
        let mut spare: Vec<Buffer<f64>> = nbrs.iter().map(|_| Buffer::default()).collect();
        let mut times: Vec<f64> = Vec::with_capacity(3 * iters);
        for it in 0..warmup + iters {
            let t0 = Instant::now();
            for ((side, ch), slot) in nbrs.iter().zip(spare.iter_mut()) {
                let mut buf = std::mem::take(slot);
                buf.resize(self.block.halo_len(*side), 0.0);
                self.block.pack(*side, &mut buf);
                ch.send(buf);
            }
            let mut ready = iwait(nbrs.iter().map(|(_, ch)| ch.recv()));
            while let Some((k, halo)) = ready.next().await {
                self.block.unpack(nbrs[k].0, &halo);
                spare[k] = halo;
            }
            let t1 = Instant::now();
            self.block.step();
            let t2 = Instant::now();
            if it >= warmup {
                times.extend([(t2 - t0).as_secs_f64(), (t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64()]);
            }
        }
        let result = CellResult { times: Buffer::from(times), checksum: verify.then(|| self.block.checksum()) };
        ctx.contribute(result, Gather, done);
    }
}

/// Runs the computation `p.runs` times on `pes` PEs (the local layer) or on
/// the MPI layer's ranks when started by mpirun.
pub fn run(p: &Params, pes: usize) -> Result<Outcome, String> {
    let (dec, iters, warmup, runs, verify) = (p.dec, p.iters, p.warmup, p.runs, p.verify);
    let gathered = run_chare_job(pes, move |rt| {
        Box::pin(async move {
            let cells = rt.array::<Cell>([dec.x, dec.y]).create_awaitable((dec,)).await;
            let mut out = Vec::with_capacity(runs);
            for _ in 0..runs {
                let done: Future<Vec<CellResult>> = rt.future();
                cells.run(iters, warmup, verify, done.clone());
                out.push(done.await);
            }
            out
        })
    })?;
    Ok(gathered.map(|gathered| {
        gathered
            .into_iter()
            .map(|cells| {
                let checksum = verify.then(|| super::grid::combine(cells.iter().map(|c| c.checksum.unwrap_or(0))));
                let procs = cells
                    .into_iter()
                    .map(|c| c.times.chunks_exact(3).map(|t| [t[0], t[1], t[2]]).collect::<Vec<IterTimes>>())
                    .collect();
                RunResult { procs, checksum }
            })
            .collect()
    }))
}
