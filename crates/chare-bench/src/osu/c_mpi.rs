//! The `c-mpi` model: the MPI floor without Rust, our own C program
//! (`peers/c/osu_pingpong.c`, built with `mpicc` by `scripts/setup-mpi.sh`),
//! run under `mpirun -np 2`. It prints `size,iters,elapsed_s` per step and
//! run; the metrics are computed here like every other model's.

use super::{BandwidthParams, LatencyParams, Step, Timing};
use crate::harness::RankResult;
use crate::launch;
use std::path::PathBuf;

/// Where the built C program is: `$CHARE_OSU_C`, else `target/peers/osu_pingpong`
/// next to this executable's `target/<profile>/` directory.
fn binary() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("CHARE_OSU_C") {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let p = exe
        .parent()
        .and_then(|d| d.parent())
        .map(|t| t.join("peers").join("osu_pingpong"))
        .ok_or("cannot locate target/")?;
    if p.exists() {
        Ok(p)
    } else {
        Err(format!("model c-mpi needs {} (build it with scripts/setup-mpi.sh)", p.display()))
    }
}

fn run(kind: &str, window: usize, runs: usize, steps: &[Step]) -> Result<RankResult<Vec<Timing>>, String> {
    let bin = binary()?;
    let mut args = vec![kind.to_string(), window.to_string(), runs.to_string()];
    args.extend(steps.iter().map(|s| format!("{}:{}:{}", s.size, s.iters, s.warmup)));
    let out = launch::mpirun(2, &bin, &args)?;
    let mut timings: Vec<Timing> = steps.iter().map(|s| Timing::of(s, runs)).collect();
    for line in out.lines() {
        let f: Vec<&str> = line.trim().split(',').collect();
        let parsed = (|| -> Option<(usize, usize, f64)> {
            Some((f.first()?.parse().ok()?, f.get(1)?.parse().ok()?, f.get(2)?.parse().ok()?))
        })();
        let Some((size, iters, secs)) = parsed else {
            return Err(format!("unexpected output of osu_pingpong: `{line}`"));
        };
        let t = timings
            .iter_mut()
            .find(|t| t.size == size && t.iters == iters)
            .ok_or_else(|| format!("osu_pingpong reported an unknown step `{line}`"))?;
        t.elapsed_s.push(secs.max(f64::MIN_POSITIVE));
    }
    // This process only launched the job: it is the one that reports.
    Ok(RankResult::Root(timings))
}

/// Ping-pong latency of the C program.
pub fn latency(p: &LatencyParams) -> Result<RankResult<Vec<Timing>>, String> {
    run("latency", 1, p.runs, &p.steps)
}

/// Windowed bandwidth of the C program.
pub fn bandwidth(p: &BandwidthParams) -> Result<RankResult<Vec<Timing>>, String> {
    run("bandwidth", p.window, p.runs, &p.steps)
}

/// Ping-pong latency of the C program, message-driven (`-am`: polled
/// any-source receive, `MPI_Isend`).
pub fn latency_am(p: &LatencyParams) -> Result<RankResult<Vec<Timing>>, String> {
    run("latency-am", 1, p.runs, &p.steps)
}

/// Windowed bandwidth of the C program, message-driven.
pub fn bandwidth_am(p: &BandwidthParams) -> Result<RankResult<Vec<Timing>>, String> {
    run("bandwidth-am", p.window, p.runs, &p.steps)
}
