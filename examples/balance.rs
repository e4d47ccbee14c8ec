//! # balance: measurement-based load balancing of an imbalanced array
//!
//! An array of **migratable** blocks (`#[chare(migratable)]`) iterates; the
//! first quarter of the blocks costs four times as much as the rest, and the
//! default block placement puts them all on the first PE(s), so the other PEs
//! wait at every iteration's barrier. The array is created with
//! `.at_sync()`: every `--period` iterations each block calls
//! `ctx.at_sync()`, the runtime measures how long each block's entry methods
//! ran, the load balancer (`--balancer greedy|refine|rotate|none`, default
//! greedy) moves blocks between PEs, and each block continues in its
//! `resume_from_sync` entry, on whatever PE it now lives.
//!
//! The main task drives the iterations: it broadcasts `iterate` and awaits a
//! barrier (a `Nop` reduction into a future). Printed: the time per iteration
//! of every period, each balancing step's report, and a checksum of the
//! blocks' results (it does not depend on where the blocks ran). With 2 PEs
//! the iterations after the first step take about 0.6x as long as before.
//!
//! Run: `cargo run -p chare-examples --release --bin balance -- --pes 2`
//! Options: `--blocks N` (default 32), `--iters N` (default 30),
//! `--period N` (default 10), `--work N` (rounds per light block and
//! iteration, default 200000).

use chare::prelude::*;
use std::time::Instant;

/// One round of SplitMix64: a block's work is `rounds` of it.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A block: its state travels with it when it migrates.
#[message]
pub struct Block {
    rounds: u64,
    value: u64,
    done: Option<Future<()>>,
}

#[chare(migratable)]
impl Block {
    fn new(ctx: &Ctx<Self>, work: u64) -> Self {
        let heavy = ctx.index().i() < ctx.proxy().len() / 4;
        Block { rounds: if heavy { 4 * work } else { work }, value: ctx.index().i() as u64, done: None }
    }

    /// One iteration; at a sync point the barrier waits for `resume_from_sync`.
    #[entry]
    fn iterate(&mut self, ctx: &Ctx<Self>, sync: bool, done: Future<()>) {
        self.value = (0..self.rounds).fold(self.value, |x, _| mix(x));
        if sync {
            self.done = Some(done);
            ctx.at_sync();
        } else {
            ctx.contribute((), Nop, done);
        }
    }

    #[entry]
    fn resume_from_sync(&mut self, ctx: &Ctx<Self>) {
        let done = self.done.take().expect("at_sync was called from iterate");
        ctx.contribute((), Nop, done);
    }

    #[entry]
    fn value(&self) -> u64 {
        self.value
    }
}

fn arg(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => match args.get(i + 1).and_then(|v| v.parse().ok()) {
            Some(v) if v > 0 => v,
            _ => {
                eprintln!("balance: {name} needs a positive number");
                std::process::exit(2)
            }
        },
        None => default,
    }
}

fn main() {
    let (blocks, iters, period, work) =
        (arg("--blocks", 32) as usize, arg("--iters", 30), arg("--period", 10), arg("--work", 200_000));
    chare::run(move |rt| async move {
        let a = rt.array::<Block>(blocks).at_sync().create_awaitable((work,)).await;
        println!("balance: {blocks} blocks on {} PEs, {iters} iterations, at_sync every {period}", rt.num_pes());
        let mut t = Instant::now();
        for it in 1..=iters {
            let done = rt.future::<()>();
            a.iterate(it % period == 0, done.clone());
            done.await;
            if it % period == 0 {
                println!(
                    "  iterations {}..{}: {:.2} ms each",
                    it - period + 1,
                    it,
                    t.elapsed().as_secs_f64() * 1e3 / period as f64
                );
                t = Instant::now();
            }
        }
        for s in rt.lb_steps() {
            println!("  {s}");
        }
        let mut sum = 0u64;
        for i in 0..blocks {
            sum = sum.wrapping_add(a.elem(i).value_ret().await);
        }
        println!("checksum = {sum:#018x}");
        println!("balancing steps: {}", rt.lb_steps().len());
    });
}
