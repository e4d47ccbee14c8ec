//! # parallel_map: map a function over an array, gather results in order
//!
//! The simplest data-parallel pattern: an array of `N` elements, element `i`
//! computes `f(i)`, and a **gather reduction** delivers every result to the
//! main task as one `Vec`, **ordered by element index** — `results[i] == f(i)`
//! however the elements were spread over PEs and in whatever order they ran.
//!
//! `f(i)` here is the length of the Collatz sequence starting at `i + 1`
//! (steps to reach 1), which costs a different amount of work per element.
//!
//! The array's default placement is `Placement::Block` (contiguous runs of
//! indices per PE); `.map(Placement::RoundRobin)` deals them out like cards,
//! which balances load better when the cost grows with the index. The result
//! is the same either way.
//!
//! Run: `cargo run -p chare-examples --release --bin parallel_map -- --pes 4`

use chare::prelude::*;

/// Number of array elements, one value each.
const N: usize = 1000;

/// The function being mapped: Collatz steps from `x` down to 1.
fn collatz_len(mut x: u64) -> u32 {
    let mut steps = 0;
    while x != 1 {
        x = if x & 1 == 0 { x / 2 } else { 3 * x + 1 };
        steps += 1;
    }
    steps
}

struct Mapper;

#[chare]
impl Mapper {
    fn new() -> Self {
        Mapper
    }

    /// Computes this element's value and contributes it to the gather.
    #[entry]
    fn compute(&self, ctx: &Ctx<Self>, out: Future<Vec<u32>>) {
        let i = ctx.index().i();
        ctx.contribute(collatz_len(i as u64 + 1), Gather, out);
    }
}

fn main() {
    chare::run(|rt| async move {
        let mappers = rt.array::<Mapper>(N).map(Placement::RoundRobin).create(());
        let out = rt.future();
        mappers.compute(out.clone()); // broadcast
        let values: Vec<u32> = out.await;
        assert_eq!(values.len(), N);

        // Order-sensitive checksum: sum of (i + 1) * f(i), so a result in the
        // wrong place would change it.
        let sum: u64 = values.iter().map(|&v| v as u64).sum();
        let weighted: u64 = values.iter().enumerate().map(|(i, &v)| (i as u64 + 1) * v as u64).sum();
        let first: Vec<String> = values[..10].iter().map(|v| v.to_string()).collect();
        println!("f(i) = Collatz steps from i + 1, for i in 0..{N}");
        println!("first 10: {}", first.join(" "));
        println!("sum = {sum}");
        println!("checksum = {weighted}");
    });
}
