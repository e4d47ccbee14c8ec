//! # farm: a master hands out tasks to workers on demand
//!
//! The master-worker pattern (a task farm). A **master** chare on PE 0 owns a
//! list of independent tasks; a **group** of workers (one per PE) asks it for
//! work. A worker that finishes a task sends the result back, and that
//! message is also its request for the next task; the master answers with a
//! task, or with nothing once all are handed out. Work is handed out **on
//! demand**: a fast worker (or one on a less busy PE) simply asks more often,
//! so the load balances itself whatever each task costs.
//!
//! The master records which worker ran each task and checks that every task
//! came back exactly once. Task `i` runs `steps` rounds of a 64-bit mixing
//! function starting from `i` (about 0.5 ms with the default size); the
//! checksum of the results does not depend on who ran what.
//!
//! A worker on another PE than the master keeps two requests out: while it
//! runs one task, the next is already on its way, so it never waits for the
//! master. The master answers only between two tasks of the worker on its
//! own PE (an entry method is not interrupted), so that worker keeps only
//! one request out: a task queued for it would hold up the master's answers
//! to the others. One worker per PE (a group) is the simplest choice; for
//! several per PE, create an array instead:
//! `rt.array::<Worker>(2 * rt.num_pes()).create((master,))`.
//!
//! Printed: the checksum, how many tasks each PE ran, the time, and the
//! speedup: the time the tasks took (added up over the workers) over the
//! elapsed time, i.e. how many workers were busy on average.
//!
//! Run: `cargo run -p chare-examples --release --bin farm -- --pes 4`
//! Options: `--tasks N` (default 1000), `--steps N` per task (default 150000).
//!
//! Messages are the program's own types: [`Task`], [`Outcome`] and [`Report`]
//! are structs marked `#[message]` (from `chare::prelude`), which derives
//! serde's `Serialize`/`Deserialize` through the serde that `chare`
//! re-exports. This package depends on `chare` alone, no `serde`; under
//! `mpirun` tasks and outcomes cross processes as bytes.

use chare::prelude::*;
use std::time::Instant;

/// One round of the mixing function (SplitMix64): each round depends on the
/// previous one, so a task's cost is proportional to its steps.
fn mix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Task `id`: `steps` rounds of [`mix`] from `id`.
fn run_task(id: u32, steps: u64) -> u64 {
    (0..steps).fold(id as u64, |x, _| mix(x))
}

/// One task, from the master to a worker.
#[message]
#[derive(Clone, Debug)]
pub struct Task {
    pub id: u32,
    pub steps: u64,
}

/// A task's result, from a worker to the master.
#[message]
#[derive(Clone, Debug)]
pub struct Outcome {
    pub task: u32,
    pub value: u64,
    /// How long the worker ran the task, in seconds.
    pub busy_s: f64,
}

/// What the master hands back when every task is done.
#[message]
#[derive(Clone, Debug)]
pub struct Report {
    /// The result of task `i` at `i`.
    pub results: Vec<u64>,
    /// How many times each task's result came back (1 for every task).
    pub times_done: Vec<u32>,
    /// The tasks run by the worker on each PE.
    pub tasks_per_pe: Vec<u32>,
    /// The time spent running tasks, added up over the workers, in seconds.
    pub busy_s: f64,
}

pub struct Master {
    steps: u64,
    /// The next task to hand out.
    next: u32,
    /// Tasks whose result has not come back yet.
    outstanding: u32,
    results: Vec<u64>,
    times_done: Vec<u32>,
    tasks_per_pe: Vec<u32>,
    busy_s: f64,
    done: Option<Future<Report>>,
}

#[chare]
impl Master {
    fn new(ctx: &Ctx<Self>, tasks: u32, steps: u64, done: Future<Report>) -> Self {
        Master {
            steps,
            next: 0,
            outstanding: tasks,
            results: vec![0; tasks as usize],
            times_done: vec![0; tasks as usize],
            tasks_per_pe: vec![0; ctx.num_pes()],
            busy_s: 0.0,
            done: Some(done),
        }
    }

    /// A worker asks for a first task.
    #[entry]
    fn ready(&mut self, worker: Proxy<Worker>) {
        self.hand_out(worker);
    }

    /// A worker returns the outcome of a task and asks for the next one.
    #[entry]
    fn result(&mut self, worker: Proxy<Worker>, outcome: Outcome) {
        self.results[outcome.task as usize] = outcome.value;
        self.times_done[outcome.task as usize] += 1;
        self.tasks_per_pe[worker.pe()] += 1;
        self.busy_s += outcome.busy_s;
        self.outstanding -= 1;
        self.hand_out(worker);
    }
}

impl Master {
    /// Gives `worker` the next task; once all results are back, the report
    /// goes to the main task.
    fn hand_out(&mut self, worker: Proxy<Worker>) {
        if (self.next as usize) < self.results.len() {
            worker.run(Task { id: self.next, steps: self.steps });
            self.next += 1;
        } else if self.outstanding == 0 {
            if let Some(done) = self.done.take() {
                done.set(Report {
                    results: std::mem::take(&mut self.results),
                    times_done: std::mem::take(&mut self.times_done),
                    tasks_per_pe: std::mem::take(&mut self.tasks_per_pe),
                    busy_s: self.busy_s,
                });
            }
        }
        // Otherwise nothing is left to hand out: this worker stays idle.
    }
}

pub struct Worker {
    master: Proxy<Master>,
}

#[chare]
impl Worker {
    fn new(master: Proxy<Master>) -> Self {
        Worker { master }
    }

    /// Asks the master for its first tasks: two, so that it holds the next
    /// while it runs one, unless it shares the master's PE (see above).
    #[entry]
    fn start(&self, ctx: &Ctx<Self>) {
        let in_hand = if ctx.my_pe() == self.master.pe() { 1 } else { 2 };
        for _ in 0..in_hand {
            self.master.ready(ctx.this());
        }
    }

    /// Runs `task`; the result is also the request for the next one.
    #[entry]
    fn run(&self, ctx: &Ctx<Self>, task: Task) {
        let t0 = Instant::now();
        let value = run_task(task.id, task.steps);
        self.master.result(ctx.this(), Outcome { task: task.id, value, busy_s: t0.elapsed().as_secs_f64() });
    }
}

/// The value of `--name N` on the command line, or `default`.
fn option(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        None => default,
        Some(i) => args.get(i + 1).and_then(|v| v.parse().ok()).unwrap_or_else(|| {
            eprintln!("farm: {name} needs a number");
            std::process::exit(2)
        }),
    }
}

fn main() {
    let tasks = option("--tasks", 1000) as u32;
    let steps = option("--steps", 150_000);
    chare::run(move |rt| async move {
        let done = rt.future();
        // Awaited, so that it exists before the first worker asks it for work.
        let master = rt.chare::<Master>(0).create_awaitable((tasks, steps, done.clone())).await;
        let t0 = Instant::now();
        let workers = rt.group::<Worker>().create((master,));
        workers.start(); // broadcast: every worker asks for its first tasks
        let Report { results, times_done, tasks_per_pe, busy_s } = done.await;
        let elapsed = t0.elapsed().as_secs_f64();

        let once = times_done.iter().all(|&n| n == 1);
        let checksum = results.iter().fold(0u64, |s, &v| s.wrapping_add(v));
        println!("farm: {tasks} tasks of {steps} steps");
        println!("every task done exactly once: {once}");
        println!("checksum = {checksum:#018x}");
        // From here on the output depends on the PE count and on timing.
        println!("PEs: {}", rt.num_pes());
        println!("tasks per PE: {tasks_per_pe:?}");
        println!("time = {elapsed:.3} s");
        println!("speedup ~ {:.2} (time the tasks took, {busy_s:.3} s, over the elapsed time)", busy_s / elapsed);
    });
}
