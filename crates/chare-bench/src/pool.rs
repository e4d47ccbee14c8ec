//! `chare-bench pool`: the task pool's parallel efficiency (issue 13's
//! target: 10^5 tasks of 10 us on 2 PEs, efficiency >= 0.85).
//!
//! Each task is [`lb::spin`] for a calibrated number of steps (compute, not
//! a timer: a descheduled PE does not finish its tasks meanwhile). One job;
//! its main task (PE 0) calibrates, then, `--reps` times: runs every task
//! itself in a loop (the sequential time, the other PEs idle), then
//! `rt.pool().map` over all tasks (the parallel time).
//! Efficiency = sequential / (PEs x parallel), per repetition, of the
//! medians, and of the fastest times (the least disturbed repetitions: on
//! a shared machine, the closest to what a quiet one gives). Each task returns the PE that ran it: the report counts the
//! tasks per PE. On the MPI layer (under mpirun) the tasks cross processes
//! as a registered task (`chare::task!`).

use crate::harness::{median, run_chare_job, RankResult};
use crate::lb::{calibrate, load_average, spin};
use std::fmt::Write as _;
use std::time::Instant;

/// Options of `chare-bench pool`.
#[derive(Debug, clap::Args)]
pub struct PoolArgs {
    /// Tasks per map.
    #[arg(long, default_value_t = 100_000)]
    pub tasks: usize,
    /// Work per task, microseconds (calibrated steps of compute).
    #[arg(long, default_value_t = 10.0)]
    pub task_us: f64,
    /// PEs on the local layer (under mpirun: the number of ranks).
    #[arg(long, default_value_t = 2)]
    pub pes: usize,
    /// Repetitions of (sequential, parallel); medians are reported.
    #[arg(long, default_value_t = 5)]
    pub reps: usize,
    /// Fixed chunk size (default: the pool's guided sizes).
    #[arg(long)]
    pub chunk: Option<usize>,
    /// An imbalanced map: the first `--heavy` tasks take `--heavy-us` each
    /// (with guided chunks they all go to PE 1 in the first chunk; only
    /// stealing, `CHARE_POOL_STEAL`, spreads them).
    #[arg(long, default_value_t = 0)]
    pub heavy: usize,
    /// Work of each heavy task, microseconds.
    #[arg(long, default_value_t = 1000.0)]
    pub heavy_us: f64,
}

chare::task! {
    /// One task: `steps` of spin; returns the PE that ran it.
    pub fn work(steps: u64) -> u32 {
        std::hint::black_box(spin(steps));
        chare::current_pe() as u32
    }
}

/// One repetition's times, seconds.
struct Rep {
    seq: f64,
    par: f64,
}

/// Checks the options.
pub fn check(a: &PoolArgs) -> Result<(), String> {
    if a.tasks == 0 || a.pes == 0 || a.reps == 0 || a.chunk == Some(0) {
        return Err("--tasks, --pes, --reps and --chunk must be positive".into());
    }
    if !(a.task_us > 0.0 && a.task_us.is_finite()) || !(a.heavy_us > 0.0 && a.heavy_us.is_finite()) {
        return Err("--task-us and --heavy-us must be positive numbers".into());
    }
    if a.heavy > a.tasks {
        return Err(format!("--heavy {} is more than --tasks {}", a.heavy, a.tasks));
    }
    Ok(())
}

/// Runs the benchmark; the report's text (empty on ranks other than 0).
pub fn run(a: &PoolArgs) -> Result<String, String> {
    let (tasks, task_us, reps, chunk) = (a.tasks, a.task_us, a.reps, a.chunk);
    let (heavy, heavy_us) = (a.heavy, a.heavy_us);
    let load = load_average();
    let out = run_chare_job(a.pes, move |rt| {
        Box::pin(async move {
            let rate = calibrate();
            let steps = (task_us * rate).round() as u64;
            let mut items = vec![steps; tasks];
            items[..heavy].fill((heavy_us * rate).round() as u64);
            let pool = match chunk {
                Some(c) => rt.pool().chunk_size(c),
                None => rt.pool(),
            };
            let mut runs = Vec::with_capacity(reps);
            let mut per_pe = vec![0usize; rt.num_pes()];
            let mut heavy_per_pe = vec![0usize; rt.num_pes()];
            for _ in 0..reps {
                let t = Instant::now();
                for &s in &items {
                    std::hint::black_box(work(s));
                }
                let seq = t.elapsed().as_secs_f64();
                let t = Instant::now();
                let ran = pool.map(work, items.clone()).await;
                let par = t.elapsed().as_secs_f64();
                assert_eq!(ran.len(), tasks);
                for (i, pe) in ran.into_iter().enumerate() {
                    per_pe[pe as usize] += 1;
                    if i < heavy {
                        heavy_per_pe[pe as usize] += 1;
                    }
                }
                runs.push(Rep { seq, par });
            }
            (rt.num_pes(), rt.layer(), rate, runs, per_pe, heavy_per_pe)
        })
    })?;
    let RankResult::Root((pes, layer, rate, runs, per_pe, heavy_per_pe)) = out else { return Ok(String::new()) };
    let mut s = String::new();
    let chunking = chunk.map_or("guided".to_string(), |c| format!("fixed {c}"));
    let _ = writeln!(
        s,
        "# chare-bench pool: {tasks} tasks of {task_us} us ({:.0} spin steps), {pes} PEs ({layer} layer), \
         chunks {chunking}, {reps} repetitions",
        task_us * rate
    );
    if heavy > 0 {
        let _ = writeln!(s, "# imbalanced: the first {heavy} tasks take {heavy_us} us each");
    }
    let steal = std::env::var("CHARE_POOL_STEAL").unwrap_or_else(|_| "on (default)".into());
    let _ = writeln!(s, "# CHARE_POOL_STEAL: {steal}");
    let _ = writeln!(s, "# load average before: {load} (other work on the machine lowers the efficiency)");
    let _ = writeln!(s, "rep  sequential_s  parallel_s  efficiency");
    for (i, r) in runs.iter().enumerate() {
        let _ = writeln!(s, "{:>3}  {:>12.4}  {:>10.4}  {:>10.3}", i + 1, r.seq, r.par, r.seq / (pes as f64 * r.par));
    }
    let seq = median(&runs.iter().map(|r| r.seq).collect::<Vec<_>>());
    let par = median(&runs.iter().map(|r| r.par).collect::<Vec<_>>());
    let per_task_us = par * pes as f64 / tasks as f64 * 1e6;
    let _ = writeln!(
        s,
        "median: sequential {seq:.4} s, parallel {par:.4} s, efficiency {:.3} (sequential / ({pes} x parallel)); \
         {per_task_us:.2} us of PE time per task",
        seq / (pes as f64 * par)
    );
    let (best_seq, best_par) =
        runs.iter().fold((f64::INFINITY, f64::INFINITY), |(a, b), r| (a.min(r.seq), b.min(r.par)));
    let _ = writeln!(
        s,
        "best: sequential {best_seq:.4} s, parallel {best_par:.4} s, efficiency {:.3} (the least disturbed \
         runs: an estimate for a quiet machine)",
        best_seq / (pes as f64 * best_par)
    );
    let shares: Vec<String> = per_pe
        .iter()
        .enumerate()
        .map(|(pe, n)| format!("PE {pe}: {:.1} %", 100.0 * *n as f64 / (tasks * reps) as f64))
        .collect();
    let _ = writeln!(s, "tasks per PE: {}", shares.join(", "));
    if heavy > 0 {
        let shares: Vec<String> = heavy_per_pe.iter().enumerate().map(|(pe, n)| format!("PE {pe}: {n}")).collect();
        let _ = writeln!(s, "heavy tasks per PE (all repetitions): {}", shares.join(", "));
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(tasks: usize, pes: usize) -> PoolArgs {
        PoolArgs { tasks, task_us: 1.0, pes, reps: 2, chunk: None, heavy: 0, heavy_us: 1.0 }
    }

    #[test]
    fn bad_options_are_refused() {
        assert!(check(&args(0, 2)).is_err());
        assert!(check(&PoolArgs { task_us: f64::NAN, ..args(10, 2) }).is_err());
        assert!(check(&PoolArgs { chunk: Some(0), ..args(10, 2) }).is_err());
        assert!(check(&PoolArgs { heavy: 11, ..args(10, 2) }).is_err());
        assert!(check(&args(10, 2)).is_ok());
    }

    /// A short run reports every repetition, the median and the share of
    /// tasks of each PE.
    #[test]
    fn a_short_run_reports_efficiency_and_shares() {
        let out = std::thread::spawn(|| run(&args(2000, 2))).join().unwrap().unwrap();
        assert!(out.lines().any(|l| l.starts_with("median: ") && l.contains("efficiency")), "{out}");
        let shares = out.lines().find_map(|l| l.strip_prefix("tasks per PE: ")).expect(&out);
        assert_eq!(shares.matches("PE ").count(), 2, "{out}");
    }
}
