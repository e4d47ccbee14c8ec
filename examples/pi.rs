//! # pi: the Charm4Py README example, made reproducible
//!
//! Computes pi = integral over [0, 1] of 4 / (1 + x^2) dx with the midpoint
//! rule. The interval is cut into as many slices as an array has elements;
//! each element integrates its slice and contributes the partial result to a
//! **reduction** whose result goes to a **future** the main task awaits.
//!
//! ## Why the printed value comes from a `Gather`, not a `Sum`
//!
//! `ctx.contribute(part, Sum, future)` is the natural way to add the partials,
//! and the program does it too. But floating-point addition is not
//! associative: `(a + b) + c` may differ from `a + (b + c)` in the last bit.
//! A `Sum` reduction first adds up the elements of each PE, then adds the PEs'
//! partials on PE 0 in whatever order they arrive, so the grouping (and with
//! it the last bits of the result) depends on the PE count and on timing.
//!
//! `Gather` instead delivers every contribution, **ordered by element index**,
//! however they were combined on the way. Adding those up in index order in
//! the main task always performs the same additions in the same order, so the
//! result is bitwise identical for 1, 2 or 8 PEs. The array has a fixed number
//! of elements (not one per PE) for the same reason: the slices, and therefore
//! each partial, must not depend on the PE count.
//!
//! Run: `cargo run -p chare-examples --release --bin pi -- --pes 4`

use chare::prelude::*;

/// Number of array elements (slices of [0, 1]); fixed, independent of PEs.
const SLICES: usize = 16;
/// Midpoint-rule steps per slice.
const STEPS: u64 = 100_000;

struct Worker {
    steps: u64,
}

#[chare]
impl Worker {
    fn new(steps: u64) -> Self {
        Worker { steps }
    }

    /// Integrates this element's slice and contributes the result twice:
    /// to a `Sum` reduction (fast, order-dependent in the last bits) and to a
    /// `Gather` reduction (every partial, in index order).
    #[entry]
    fn work(&mut self, ctx: &Ctx<Self>, sum: Future<f64>, parts: Future<Vec<f64>>) {
        let (i, n) = (ctx.index().i() as u64, ctx.proxy().len() as u64);
        let h = 1.0 / (self.steps * n) as f64;
        let part: f64 = (i * self.steps..(i + 1) * self.steps)
            .map(|k| {
                let x = h * (k as f64 + 0.5);
                4.0 / (1.0 + x * x)
            })
            .sum::<f64>()
            * h;
        // An element's k-th contribution belongs to its collection's k-th
        // reduction, so two reductions may be in flight at once.
        ctx.contribute(part, Sum, sum);
        ctx.contribute(part, Gather, parts);
    }
}

fn main() {
    chare::run(|rt| async move {
        let workers = rt.array::<Worker>(SLICES).create((STEPS,));
        let (sum, parts) = (rt.future(), rt.future());
        workers.work(sum.clone(), parts.clone()); // broadcast

        let pi_sum: f64 = sum.await;
        let parts: Vec<f64> = parts.await;
        // Deterministic: the same additions in the same (index) order.
        let pi: f64 = parts.iter().sum();

        println!("pi ~= {pi:.10}");
        println!("error = {:.1e}", (pi - std::f64::consts::PI).abs());
        println!("bits  = {:#018x} (identical for every PE count)", pi.to_bits());
        // The Sum reduction agrees up to rounding; only its last bits vary.
        println!("Sum reduction agrees within 1e-12: {}", (pi_sum - pi).abs() < 1e-12);
    });
}
