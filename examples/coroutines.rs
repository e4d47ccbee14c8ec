//! # coroutines: Charm4Py's `@coro`, `@when` and `self.wait` in Rust
//!
//! The same 1-D ring exchange as `ring`, written the way a Charm4Py program
//! usually is: neighbours send their values as ordinary **entry calls**
//! (`ghost`), and one coroutine per element drives the iterations.
//!
//! * `run` is a **reentrant** entry (`#[entry(reentrant)]`): while it waits,
//!   the element's other entries (`ghost`) run. An ordinary async entry
//!   holds its element until it returns: `ghost` could never run while `run`
//!   waits for the neighbours' values, and the program would deadlock (the
//!   runtime would report it). A reentrant entry gets no `self`; `me.with(|s|
//!   ..)` lends it the state between awaits.
//! * `me.wait_until(|s| ..)` (Charm4Py's `self.wait('...')`) waits until both
//!   neighbours' values of this iteration are in.
//! * `ghost` has a **`when` condition** (Charm4Py's `@when('self.iter ==
//!   iter')`): a neighbour may be one iteration ahead, and its value for the
//!   next iteration must not overwrite this one's. Such a call is held until
//!   the element reaches that iteration, and runs right then.
//!
//! The final values reach the main task by a gather reduction; they equal
//! `ring`'s.
//!
//! Run: `cargo run -p chare-examples --release --bin coroutines -- --pes 4`

use chare::prelude::*;

/// Ring size (fixed, independent of the PE count).
const N: usize = 8;
/// Exchange rounds.
const ITERS: u32 = 100;
/// Values are kept modulo this prime.
const MODULUS: u64 = 1_000_003;

struct Node {
    value: u64,
    /// The iteration this element is in.
    iter: u32,
    /// The neighbours' values of this iteration, once they arrived.
    left: Option<u64>,
    right: Option<u64>,
}

#[chare]
impl Node {
    fn new(ctx: &Ctx<Self>) -> Self {
        let i = ctx.index().i() as u64;
        Node { value: i * i + 1, iter: 0, left: None, right: None }
    }

    /// A neighbour's value for iteration `iter`; held until this element is
    /// in that iteration.
    #[entry(when = self.iter == *iter)]
    fn ghost(&mut self, iter: u32, from_left: bool, value: u64) {
        let slot = if from_left { &mut self.left } else { &mut self.right };
        assert!(slot.replace(value).is_none(), "one value per neighbour and iteration");
    }

    /// Drives `iters` iterations, then contributes the final value to `out`.
    #[entry(reentrant)]
    async fn run(me: &Reentrant<Self>, iters: u32, out: Future<Vec<u64>>) {
        let (i, n) = (me.index().i(), me.proxy().len());
        let left = me.proxy().elem((i + n - 1) % n);
        let right = me.proxy().elem((i + 1) % n);
        for iter in 0..iters {
            let value = me.with(|s| s.value);
            left.ghost(iter, false, value); // I am my left neighbour's right
            right.ghost(iter, true, value);
            // `ghost` calls run while we wait here.
            me.wait_until(|s| s.left.is_some() && s.right.is_some()).await;
            me.with(|s| {
                let (l, r) = (s.left.take().unwrap(), s.right.take().unwrap());
                s.value = (l + 2 * s.value + r) % MODULUS;
                s.iter += 1; // held `ghost` calls of the next iteration run now
            });
        }
        me.contribute(me.with(|s| s.value), Gather, out);
    }
}

fn main() {
    chare::run(|rt| async move {
        let ring = rt.array::<Node>(N).create(());
        let out = rt.future();
        ring.run(ITERS, out.clone()); // broadcast
        let values: Vec<u64> = out.await;
        println!("values after {ITERS} exchange rounds:");
        for (i, v) in values.iter().enumerate() {
            println!("  element {i}: {v}");
        }
    });
}
