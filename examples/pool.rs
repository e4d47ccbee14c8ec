//! # pool: map a function over many items on every PE (Charm4Py's `charm.pool`)
//!
//! `rt.pool().map(f, items)` runs `f(item)` for every item, spread over all
//! PEs (the caller's included), and gives the results **in input order**.
//! Tasks are not chares: the pool sends chunks of items, as many as each PE
//! has room for, and small chunks at the end so that the PEs finish together.
//!
//! A task is a function of one argument (a tuple for several), declared with
//! `chare::task!` so that it can also run in other processes under mpirun
//! (code cannot travel between processes; a registered function is found by
//! its name). `map_async` gives a future instead, with a task's panic as an
//! `Err` value; `task(f, x)` runs one task.
//!
//! Run: `cargo run -p chare-examples --release --bin pool -- --pes 4`

chare::task! {
    /// Collatz steps from `n` down to 1.
    fn collatz(n: u64) -> u32 {
        let (mut x, mut steps) = (n, 0);
        while x != 1 {
            x = if x % 2 == 0 { x / 2 } else { 3 * x + 1 };
            steps += 1;
        }
        steps
    }
}

chare::task! {
    /// `a / b`: panics when `b` is 0.
    fn divide((a, b): (u64, u64)) -> u64 {
        a / b
    }
}

fn main() {
    chare::run(|rt| async move {
        let n = 100_000u64;
        // Results in input order, whatever PE ran each task.
        let steps: Vec<u32> = rt.pool().map(collatz, 1..=n).await;
        let (longest, start) = steps.iter().zip(1..).max().unwrap();
        println!("collatz over 1..={n}: longest is {longest} steps, from {start}");
        let checksum: u64 = steps.iter().zip(1..).map(|(&s, i)| i * s as u64).sum();
        println!("checksum = {checksum}");

        // One task; a future of its result.
        let one = rt.pool().task(collatz, 27);
        println!("collatz(27) = {}", one.await.unwrap());

        // A panicking task: map_async gives the error instead of ending the job.
        let items = vec![(10, 2), (9, 3), (1, 0), (8, 4)];
        match rt.pool().map_async(divide, items).await {
            Ok(q) => println!("quotients: {q:?}"),
            Err(e) => println!("task {} failed: {}", e.index, e.message),
        }
    });
}
