//! The `serial` model: the reference. One block of `n x m` with no
//! neighbours, the same iteration as every other model (the communication
//! phase is empty, so its time is the cost of reading the clock).

use super::{Params, RunResult};
use std::time::Instant;

/// Runs the computation `p.runs` times.
pub fn run(p: &Params) -> Vec<RunResult> {
    let d = &p.dec;
    let mut block = d.block(0, 0);
    (0..p.runs)
        .map(|_| {
            block.reset();
            let mut times = Vec::with_capacity(p.iters);
            for it in 0..p.warmup + p.iters {
                let t0 = Instant::now();
                let t1 = Instant::now();
                block.step();
                let t2 = Instant::now();
                if it >= p.warmup {
                    times.push([(t2 - t0).as_secs_f64(), (t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64()]);
                }
            }
            RunResult { procs: vec![times], checksum: p.verify.then(|| block.checksum()) }
        })
        .collect()
}
