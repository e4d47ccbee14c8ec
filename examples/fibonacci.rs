//! # fibonacci: nested parallelism with chares and futures
//!
//! Computes fib(N) the naive recursive way, with a new chare per call above a
//! threshold: Charm4Py's classic example of dynamic, nested parallelism.
//!
//! * `fib` is an **async entry method**: it may `.await` futures. While it is
//!   suspended its PE runs other chares' entry methods.
//! * `ctx.chare_anywhere::<Fib>().create(())` creates a **single chare** on a
//!   PE the runtime picks (Charm4Py's `Chare(Fib, onPE=-1)`): round-robin
//!   from the creating PE, so the children spread over the PEs
//!   (`ctx.chare::<Fib>(pe)` would choose the PE yourself).
//! * `child.fib_ret(n - 1)` calls the child's entry and returns a **future**
//!   of its return value; awaiting both children's futures joins them.
//! * Below the threshold a call computes serially: creating a chare costs a
//!   message to every PE, far more than adding a few numbers.
//!
//! Run: `cargo run -p chare-examples --release --bin fibonacci -- --pes 4`

use chare::prelude::*;

/// fib(N) is computed.
const N: u64 = 20;
/// Calls with `n <= THRESHOLD` compute serially.
const THRESHOLD: u64 = 10;

struct Fib;

#[chare]
impl Fib {
    fn new() -> Self {
        Fib
    }

    /// fib(n): serially at or below the threshold, else by two child chares.
    #[entry]
    async fn fib(&self, ctx: &Ctx<Self>, n: u64) -> u64 {
        if n <= THRESHOLD {
            return fib_serial(n);
        }
        // The result does not depend on where the children run: let the
        // runtime place them.
        let left = ctx.chare_anywhere::<Fib>().create(());
        let right = ctx.chare_anywhere::<Fib>().create(());
        // Start both children before awaiting either, so they run in parallel.
        let (a, b) = (left.fib_ret(n - 1), right.fib_ret(n - 2));
        a.await + b.await
    }
}

fn fib_serial(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib_serial(n - 1) + fib_serial(n - 2)
    }
}

fn main() {
    chare::run(|rt| async move {
        let root = rt.chare::<Fib>(0).create(());
        let v = root.fib_ret(N).await;
        assert_eq!(v, fib_serial(N));
        println!("fib({N}) = {v}");
    });
}
