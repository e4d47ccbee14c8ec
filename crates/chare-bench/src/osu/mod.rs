//! OSU-style point-to-point micro-benchmarks (after `osu_latency` and
//! `osu_bw`), shared by every model.
//!
//! # What is measured
//!
//! * **Latency** (ping-pong): PE 0 sends a buffer of `size` bytes to the
//!   other PE, which touches it (reads its first and last byte) and sends the
//!   *same* buffer back; PE 0 touches it and sends it again. After `warmup`
//!   untimed round trips and a barrier, `iterations` round trips are timed.
//!   One-way latency = elapsed / (2 × iterations); the derived "bandwidth" is
//!   size / one-way latency.
//! * **Bandwidth** (windowed streaming): each iteration the sender sends
//!   `window` buffers of `size` bytes back to back; the receiver receives all
//!   of them (touching each) and then answers with a 4-byte ack, which the
//!   sender waits for before the next iteration. Bandwidth =
//!   size × window × iterations / elapsed.
//!
//! Within one process (the raw model, the chare model on its local layer)
//! messages are moved, never copied: a message of any size travels as a
//! pointer, so these numbers measure the cost of handing a buffer over
//! (queue operations, scheduling, the cache misses of touching it), not a
//! memory copy. MB/s is 10^6 bytes per second.
//!
//! # How a model plugs in
//!
//! A model is a module with two functions, each running *all* sizes (and all
//! repetitions) in a single launch, because starting a runtime is expensive:
//!
//! ```text
//! pub fn latency(p: &LatencyParams) -> Result<RankResult<Vec<Timing>>, String>
//! pub fn bandwidth(p: &BandwidthParams) -> Result<RankResult<Vec<Timing>>, String>
//! ```
//!
//! The root process returns one [`Timing`] per entry of `p.steps`, in order,
//! each with `p.runs` elapsed times in seconds; the other ranks of an MPI job
//! return [`RankResult::NotRoot`]. Everything else — the size list, the
//! iteration counts, the derived metrics and the report — lives here (the
//! median in [`crate::harness`], the rendering in [`crate::report`]), so
//! every model is computed and printed the same way; [`cli`] holds the
//! subcommands' options and the table of models. See [`raw`] for the
//! reference implementation and [`chare`] for the runtime.

#[cfg(feature = "mpi")]
pub mod c_mpi;
pub mod chare;
pub mod cli;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod raw;

use crate::harness::median;
use crate::machine_info::MachineInfo;
use crate::report::{fmt_runs, machine_lines, Report};

/// One mebibyte.
pub const MIB: usize = 1 << 20;
/// Latency: sizes above this run half the iterations (OSU: 1000 vs 500).
pub const LATENCY_LARGE_SIZE: usize = MIB;
/// Bandwidth: sizes up to this run 10× the iterations (OSU: 1000 vs 100).
pub const BANDWIDTH_SMALL_SIZE: usize = 8 * 1024;
/// Bytes of the bandwidth benchmark's acknowledgement message.
pub const ACK_BYTES: usize = 4;
/// PEs (threads or ranks) of the bandwidth benchmark and of the raw model:
/// a sender and a receiver.
pub const PAIR: usize = 2;

/// How the chare model delivers the latency messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Via {
    /// Through a channel between the two chares.
    Channel,
    /// As an entry-method invocation on the other chare.
    Entry,
}

impl Via {
    /// The name used on the command line and in the output header.
    pub fn name(self) -> &'static str {
        match self {
            Via::Channel => "channel",
            Via::Entry => "entry",
        }
    }
}

/// One message size of a benchmark, with its iteration counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Step {
    /// Payload bytes of each message.
    pub size: usize,
    /// Timed iterations (round trips for latency, windows for bandwidth).
    pub iters: usize,
    /// Untimed iterations before the barrier that starts the timing.
    pub warmup: usize,
}

/// Parameters of a latency (ping-pong) run: all sizes, one launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatencyParams {
    /// Number of PEs the chare model starts (the other models always run 2
    /// threads or ranks).
    pub pes: usize,
    /// How the chare model sends messages (ignored by the other models).
    pub via: Via,
    /// Repetitions of each size; the median is reported.
    pub runs: usize,
    /// Sizes in increasing order, each with its iteration counts.
    pub steps: Vec<Step>,
}

/// Parameters of a bandwidth (windowed streaming) run: all sizes, one launch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BandwidthParams {
    /// Messages sent per iteration before waiting for the ack.
    pub window: usize,
    /// Repetitions of each size; the median is reported.
    pub runs: usize,
    /// Sizes in increasing order, each with its iteration counts.
    pub steps: Vec<Step>,
}

/// What a model measured for one [`Step`].
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Timing {
    /// The step's message size.
    pub size: usize,
    /// The step's timed iteration count.
    pub iters: usize,
    /// Elapsed wall-clock seconds of the timed loop, one per run.
    pub elapsed_s: Vec<f64>,
}

impl Timing {
    /// The timing of `step` before any run, with room for `runs` times.
    pub fn of(step: &Step, runs: usize) -> Self {
        Timing { size: step.size, iters: step.iters, elapsed_s: Vec::with_capacity(runs) }
    }
}

/// The powers-of-two size list: `min`, `2·min`, `4·min`, … while `<= max`.
///
/// `max` itself is included only when it is reached by doubling `min` (so
/// with `min = 1`, when `max` is a power of two). Empty if `min` is 0 or
/// `min > max`.
pub fn sizes(min: usize, max: usize) -> Vec<usize> {
    let mut out = Vec::new();
    if min == 0 {
        return out;
    }
    let mut size = min;
    while size <= max {
        out.push(size);
        match size.checked_mul(2) {
            Some(next) => size = next,
            None => break,
        }
    }
    out
}

/// Latency iterations for `size`: `iters` up to 1 MiB, half (at least 1) above.
pub fn latency_iters(iters: usize, size: usize) -> usize {
    if size > LATENCY_LARGE_SIZE {
        (iters / 2).max(1)
    } else {
        iters
    }
}

/// Bandwidth iterations for `size`: `10 × iters` up to 8 KiB, `iters` above.
pub fn bandwidth_iters(iters: usize, size: usize) -> usize {
    if size <= BANDWIDTH_SMALL_SIZE {
        iters.saturating_mul(10)
    } else {
        iters
    }
}

impl LatencyParams {
    /// Builds the step list for sizes `min..=max` (see [`sizes`]).
    pub fn new(pes: usize, via: Via, runs: usize, min: usize, max: usize, iters: usize, warmup: usize) -> Self {
        let steps =
            sizes(min, max).into_iter().map(|size| Step { size, iters: latency_iters(iters, size), warmup }).collect();
        LatencyParams { pes, via, runs, steps }
    }
}

impl BandwidthParams {
    /// Builds the step list for sizes `min..=max` (see [`sizes`]).
    pub fn new(window: usize, runs: usize, min: usize, max: usize, iters: usize, warmup: usize) -> Self {
        let steps = sizes(min, max)
            .into_iter()
            .map(|size| Step { size, iters: bandwidth_iters(iters, size), warmup })
            .collect();
        BandwidthParams { window, runs, steps }
    }
}

/// Checks that a model returned exactly one timing per step, in order, with
/// `runs` positive finite elapsed times each.
pub fn check_timings(steps: &[Step], runs: usize, timings: &[Timing]) -> Result<(), String> {
    if timings.len() != steps.len() {
        return Err(format!("model returned {} timings for {} sizes", timings.len(), steps.len()));
    }
    for (step, t) in steps.iter().zip(timings) {
        if t.size != step.size || t.iters != step.iters {
            return Err(format!(
                "model returned a timing for size {} x {} iterations where size {} x {} was expected",
                t.size, t.iters, step.size, step.iters
            ));
        }
        if t.elapsed_s.len() != runs {
            return Err(format!("model returned {} runs for size {} ({} expected)", t.elapsed_s.len(), t.size, runs));
        }
        if let Some(bad) = t.elapsed_s.iter().find(|e| !(e.is_finite() && **e > 0.0)) {
            return Err(format!("model returned elapsed time {bad} s for size {}", t.size));
        }
    }
    Ok(())
}

/// One output row of the latency benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyRow {
    /// Message size.
    pub size_bytes: usize,
    /// Timed round trips.
    pub iterations: usize,
    /// Median one-way latency in microseconds.
    pub one_way_us: f64,
    /// size / one-way latency, in 10^6 bytes per second.
    pub bandwidth_mb_s: f64,
    /// One-way latency of every run, in microseconds.
    pub runs_one_way_us: Vec<f64>,
}

impl LatencyRow {
    /// Derives the row from a model's timing (median over runs).
    pub fn from_timing(t: &Timing) -> Self {
        let runs_one_way_us: Vec<f64> = t.elapsed_s.iter().map(|e| e / (2.0 * t.iters as f64) * 1e6).collect();
        let one_way_us = median(&runs_one_way_us);
        LatencyRow {
            size_bytes: t.size,
            iterations: t.iters,
            one_way_us,
            bandwidth_mb_s: t.size as f64 / one_way_us, // bytes/µs == 10^6 B/s
            runs_one_way_us,
        }
    }
}

/// One output row of the bandwidth benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct BandwidthRow {
    /// Message size.
    pub size_bytes: usize,
    /// Timed windows.
    pub iterations: usize,
    /// Messages per window.
    pub window: usize,
    /// Median bandwidth in 10^6 bytes per second.
    pub bandwidth_mb_s: f64,
    /// Bandwidth of every run, in 10^6 bytes per second.
    pub runs_mb_s: Vec<f64>,
}

impl BandwidthRow {
    /// Derives the row from a model's timing (median over runs).
    pub fn from_timing(t: &Timing, window: usize) -> Self {
        let bytes = t.size as f64 * window as f64 * t.iters as f64;
        let runs_mb_s: Vec<f64> = t.elapsed_s.iter().map(|e| bytes / e / 1e6).collect();
        BandwidthRow { size_bytes: t.size, iterations: t.iters, window, bandwidth_mb_s: median(&runs_mb_s), runs_mb_s }
    }
}

/// CSV header of the latency benchmark.
pub const LATENCY_COLUMNS: [&str; 4] = ["size_bytes", "iterations", "one_way_us", "bandwidth_mb_s"];
/// CSV header of the bandwidth benchmark.
pub const BANDWIDTH_COLUMNS: [&str; 4] = ["size_bytes", "iterations", "window", "bandwidth_mb_s"];

/// Context of a run, for the comment header.
#[derive(Debug, Clone)]
pub struct RunInfo<'a> {
    /// `latency` or `bandwidth`.
    pub benchmark: &'a str,
    /// The command line as typed.
    pub command: String,
    /// Model name.
    pub model: &'a str,
    /// PEs (busy threads) the model used.
    pub pes: usize,
    /// Transport of the chare model, if it applies.
    pub via: Option<Via>,
    /// Repetitions per size.
    pub runs: usize,
    /// Description of the iteration counts.
    pub iterations: String,
    /// The machine.
    pub machine: &'a MachineInfo,
    /// How the PEs or ranks communicate: `local` (threads of one process) or
    /// `mpi` (processes under mpirun).
    pub layer: &'static str,
}

fn header_lines(info: &RunInfo<'_>) -> Vec<String> {
    let mut lines = vec![
        format!("chare-bench {} (OSU-style)", info.benchmark),
        format!("command: {}", info.command),
        format!("model: {}", info.model),
        format!("layer: {}", info.layer),
        format!("pes: {}", info.pes),
        format!("via: {}", info.via.map_or("n/a", Via::name)),
        format!("iterations: {}", info.iterations),
        format!("runs: {} (median reported)", info.runs),
    ];
    lines.extend(machine_lines(info.machine, Some(info.pes)));
    lines.push("units: microseconds (us), MB/s = 10^6 bytes per second".to_string());
    lines
}

/// Builds the latency report from the rows.
pub fn latency_report(info: &RunInfo<'_>, rows: &[LatencyRow]) -> Report {
    let footer = if info.runs > 1 {
        rows.iter()
            .map(|r| format!("runs size_bytes={} one_way_us={}", r.size_bytes, fmt_runs(&r.runs_one_way_us, 3)))
            .collect()
    } else {
        Vec::new()
    };
    Report {
        header: header_lines(info),
        columns: LATENCY_COLUMNS.to_vec(),
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    r.size_bytes.to_string(),
                    r.iterations.to_string(),
                    format!("{:.3}", r.one_way_us),
                    format!("{:.2}", r.bandwidth_mb_s),
                ]
            })
            .collect(),
        footer,
    }
}

/// Builds the bandwidth report from the rows.
pub fn bandwidth_report(info: &RunInfo<'_>, rows: &[BandwidthRow]) -> Report {
    let footer = if info.runs > 1 {
        rows.iter()
            .map(|r| format!("runs size_bytes={} bandwidth_mb_s={}", r.size_bytes, fmt_runs(&r.runs_mb_s, 2)))
            .collect()
    } else {
        Vec::new()
    };
    Report {
        header: header_lines(info),
        columns: BANDWIDTH_COLUMNS.to_vec(),
        rows: rows
            .iter()
            .map(|r| {
                vec![
                    r.size_bytes.to_string(),
                    r.iterations.to_string(),
                    r.window.to_string(),
                    format!("{:.2}", r.bandwidth_mb_s),
                ]
            })
            .collect(),
        footer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::Format;

    #[test]
    fn size_list() {
        assert_eq!(sizes(1, 64), vec![1, 2, 4, 8, 16, 32, 64]);
        assert_eq!(sizes(1, 100), vec![1, 2, 4, 8, 16, 32, 64]);
        assert_eq!(sizes(8, 8), vec![8]);
        assert_eq!(sizes(3, 20), vec![3, 6, 12]);
        assert_eq!(sizes(1, 4 * MIB).len(), 23);
        assert_eq!(*sizes(1, 4 * MIB).last().unwrap(), 4 * MIB);
        assert!(sizes(0, 8).is_empty());
        assert!(sizes(16, 8).is_empty());
        // No overflow at the top of the range.
        assert_eq!(sizes(usize::MAX / 2 + 1, usize::MAX).len(), 1);
    }

    #[test]
    fn iteration_rules() {
        assert_eq!(latency_iters(1000, MIB), 1000);
        assert_eq!(latency_iters(1000, 2 * MIB), 500);
        assert_eq!(latency_iters(1, 2 * MIB), 1);
        assert_eq!(bandwidth_iters(100, 8 * 1024), 1000);
        assert_eq!(bandwidth_iters(100, 16 * 1024), 100);
        let p = LatencyParams::new(2, Via::Channel, 1, 1, 4 * MIB, 1000, 60);
        assert_eq!(p.steps.last().unwrap().iters, 500);
        assert_eq!(p.steps[0], Step { size: 1, iters: 1000, warmup: 60 });
        let b = BandwidthParams::new(64, 1, 1, 4 * MIB, 100, 10);
        assert_eq!(b.steps[0].iters, 1000);
        assert_eq!(b.steps.last().unwrap().iters, 100);
    }

    #[test]
    fn derived_metrics() {
        // 1000 round trips of 1000 bytes in 2 ms: 1 µs one way, 1000 MB/s.
        let t = Timing { size: 1000, iters: 1000, elapsed_s: vec![0.002] };
        let r = LatencyRow::from_timing(&t);
        assert!((r.one_way_us - 1.0).abs() < 1e-9);
        assert!((r.bandwidth_mb_s - 1000.0).abs() < 1e-6);
        // 10 windows of 4 × 1 MB in 0.04 s: 1000 MB/s.
        let t = Timing { size: 1_000_000, iters: 10, elapsed_s: vec![0.04, 0.08, 0.02] };
        let r = BandwidthRow::from_timing(&t, 4);
        assert!((r.bandwidth_mb_s - 1000.0).abs() < 1e-6);
        assert_eq!(r.runs_mb_s.len(), 3);
    }

    #[test]
    fn timing_check() {
        let steps = [Step { size: 1, iters: 10, warmup: 0 }];
        let ok = [Timing { size: 1, iters: 10, elapsed_s: vec![1e-3, 2e-3] }];
        assert!(check_timings(&steps, 2, &ok).is_ok());
        assert!(check_timings(&steps, 1, &ok).is_err());
        assert!(check_timings(&steps, 2, &[]).is_err());
        let zero = [Timing { size: 1, iters: 10, elapsed_s: vec![0.0, 2e-3] }];
        assert!(check_timings(&steps, 2, &zero).is_err());
    }

    fn info(machine: &MachineInfo, runs: usize) -> RunInfo<'_> {
        RunInfo {
            benchmark: "latency",
            command: "chare-bench latency --model raw".into(),
            model: "raw",
            pes: 2,
            via: None,
            runs,
            iterations: "1000".into(),
            machine,
            layer: "local",
        }
    }

    #[test]
    fn csv_format() {
        let machine = MachineInfo { cores: 1, cpu_model: "cpu".into(), hostname: "h".into() };
        let rows = [LatencyRow::from_timing(&Timing { size: 8, iters: 1000, elapsed_s: vec![0.002] })];
        let text = latency_report(&info(&machine, 1), &rows).render(Format::Csv);
        let lines: Vec<&str> = text.lines().collect();
        let data: Vec<&str> = lines.iter().copied().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(data, ["size_bytes,iterations,one_way_us,bandwidth_mb_s", "8,1000,1.000,8.00"]);
        assert!(lines.contains(&"# oversubscribed: yes"));
        assert!(lines.contains(&"# layer: local"));
        assert!(lines.contains(&"# model: raw"));
        assert!(lines[0].starts_with('#'));

        let rows = [BandwidthRow::from_timing(&Timing { size: 8, iters: 1000, elapsed_s: vec![1.0] }, 64)];
        let text = bandwidth_report(&info(&machine, 1), &rows).render(Format::Csv);
        let data: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(data, ["size_bytes,iterations,window,bandwidth_mb_s", "8,1000,64,0.51"]);
    }

    #[test]
    fn table_format_and_runs_footer() {
        let machine = MachineInfo { cores: 4, cpu_model: "cpu".into(), hostname: "h".into() };
        let rows = [
            LatencyRow::from_timing(&Timing { size: 1, iters: 10, elapsed_s: vec![1e-5, 2e-5, 3e-5] }),
            LatencyRow::from_timing(&Timing { size: 1024, iters: 10, elapsed_s: vec![1e-5, 2e-5, 3e-5] }),
        ];
        let text = latency_report(&info(&machine, 3), &rows).render(Format::Table);
        let body: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(body.len(), 3);
        assert!(body.iter().all(|l| l.len() == body[0].len()), "{body:?}");
        assert!(text.contains("# oversubscribed: no"));
        assert!(text.contains("# runs size_bytes=1 one_way_us=0.500,1.000,1.500"));
    }
}
