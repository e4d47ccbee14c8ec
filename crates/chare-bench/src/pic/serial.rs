//! The `serial` model: the reference. One tile (the whole grid), no
//! communication; as the PRK: one untimed warm-up step, then `iters` timed
//! steps, then the verification after `iters + 1` steps.

use super::kernel::{self, Params, Tile};
use std::time::Instant;

/// What one serial run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct SerialRun {
    /// Particles the draw placed.
    pub placed: u64,
    /// Seconds to draw them.
    pub init_s: f64,
    /// Seconds of the warm-up step.
    pub warmup_s: f64,
    /// Seconds of the `iters` timed steps.
    pub timed_s: f64,
    /// Steps run in all (`iters + 1`).
    pub steps: u64,
    /// The verification's verdict.
    pub verdict: Result<(), String>,
    /// [`kernel::state_hash`] of the final particles (in id order: the
    /// serial run never reorders them).
    pub state_hash: u64,
}

impl SerialRun {
    /// Particle-steps per second over the timed steps (the PRK's rate).
    pub fn rate(&self, iters: usize) -> f64 {
        self.placed as f64 * iters as f64 / self.timed_s
    }
}

/// Draws every particle, runs `params.steps()` steps and verifies.
pub fn run(params: &Params) -> SerialRun {
    let l = params.l;
    let t0 = Instant::now();
    let mut particles = kernel::init_particles(params, &Tile::whole(l));
    let t1 = Instant::now();
    kernel::step(&mut particles, l);
    let t2 = Instant::now();
    for _ in 0..params.iters {
        kernel::step(&mut particles, l);
    }
    let t3 = Instant::now();
    let steps = params.steps();
    SerialRun {
        placed: particles.len() as u64,
        init_s: (t1 - t0).as_secs_f64(),
        warmup_s: (t2 - t1).as_secs_f64(),
        timed_s: (t3 - t2).as_secs_f64(),
        steps,
        verdict: kernel::verify(&particles, params, steps),
        state_hash: kernel::state_hash(&particles),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pic::kernel::{Mode, Patch};

    #[test]
    fn serial_runs_verify_in_every_mode() {
        let modes = [
            Mode::Geometric { rho: 0.9 },
            Mode::Sinusoidal,
            Mode::Linear { alpha: 1.0, beta: 3.0 },
            Mode::Patch(Patch { left: 1, right: 8, bottom: 2, top: 6 }),
        ];
        for mode in modes {
            for (k, m) in [(0, 1), (1, -3), (3, 0)] {
                let p = Params { l: 10, n: 400, iters: 5, mode, k, m };
                let r = run(&p);
                assert!(r.placed > 0);
                assert_eq!(r.steps, 6);
                assert_eq!(r.verdict, Ok(()), "{p:?}");
                assert!(r.rate(p.iters) > 0.0);
            }
        }
    }
}
