//! # ring: neighbours talking over channels
//!
//! A 1-D ring of `N` chares; element `i`'s neighbours are `i - 1` and `i + 1`
//! (mod `N`). Instead of entry-method calls, neighbours talk over
//! **channels**: typed, in-order streams between two chares whose receiving
//! side `recv().await`s inside an **async entry method**.
//!
//! Opening channels: `ctx.channel_to(&peer)` opens this side's end. The n-th
//! channel A opens to B pairs with the n-th channel B opens to A, so both
//! sides must open their channels to each other in a consistent order. Here
//! every element opens one channel to its left neighbour, then one to its
//! right neighbour; for the pair (i, i + 1) that is i's "right" and i + 1's
//! "left": the first channel each opens to the other, so they pair up.
//! (With `N == 2` the left and right neighbours are the same chare and the
//! two channels would cross-pair: each side's first channel is its "left".
//! This example uses `N >= 3`. For any `N`, name each link instead:
//! `ctx.channel_on(&right, i)` and `ctx.channel_on(&left, i - 1 mod N)`
//! pair by port number, whatever the order.)
//!
//! The entry `run` does two things:
//! 1. a **token** goes once around the ring: element 0 sends it right, each
//!    element adds its index and passes it on, and element 0 receives it back
//!    from its left neighbour;
//! 2. `iters` rounds of **neighbour exchange**: each element sends its value
//!    both ways, receives both neighbours' values and updates
//!    `v = (left + 2 * v + right) mod 1_000_003`.
//!
//! The final values reach the main task by a gather reduction (in index order).
//!
//! Run: `cargo run -p chare-examples --release --bin ring -- --pes 4`

use chare::prelude::*;

/// Ring size (fixed, independent of the PE count).
const N: usize = 8;
// Checked at compile time: with N < 3 a chare's left and right neighbours coincide.
const _: () = assert!(N >= 3, "left and right neighbours must differ");
/// Exchange rounds.
const ITERS: u32 = 100;
/// Values are kept modulo this prime.
const MODULUS: u64 = 1_000_003;

struct Node {
    value: u64,
}

#[chare]
impl Node {
    fn new(ctx: &Ctx<Self>) -> Self {
        let i = ctx.index().i() as u64;
        Node { value: i * i + 1 }
    }

    /// Passes the token once around the ring, exchanges values with both
    /// neighbours `iters` times, and contributes the final value to `out`
    /// (a gather); element 0 also contributes the token to `token`.
    #[entry]
    async fn run(&mut self, ctx: &Ctx<Self>, iters: u32, token: Future<u64>, out: Future<Vec<u64>>) {
        let (i, n) = (ctx.index().i(), ctx.proxy().len());
        let ring = ctx.proxy();
        // Always in this order: left first, then right (see the module docs).
        let left: Channel<u64> = ctx.channel_to(&ring.elem((i + n - 1) % n));
        let right: Channel<u64> = ctx.channel_to(&ring.elem((i + 1) % n));

        // 1. The token: sent right, received from the left.
        if i == 0 {
            right.send(0);
            token.set(left.recv().await);
        } else {
            let t = left.recv().await;
            right.send(t + i as u64);
        }

        // 2. Neighbour exchange. Channels are in order, so round k's values
        // never mix with round k + 1's, and the token sent earlier on the
        // same channel was received first.
        for _ in 0..iters {
            left.send(self.value);
            right.send(self.value);
            let (l, r) = (left.recv().await, right.recv().await);
            self.value = (l + 2 * self.value + r) % MODULUS;
        }

        ctx.contribute(self.value, Gather, out);
    }
}

fn main() {
    chare::run(|rt| async move {
        let ring = rt.array::<Node>(N).create(());
        let (token, out) = (rt.future(), rt.future());
        ring.run(ITERS, token.clone(), out.clone()); // broadcast
        let token: u64 = token.await;
        let values: Vec<u64> = out.await;
        println!("token after one lap around {N} chares: {token} (= 0 + 1 + ... + {})", N - 1);
        println!("values after {ITERS} exchange rounds:");
        for (i, v) in values.iter().enumerate() {
            println!("  element {i}: {v}");
        }
    });
}
