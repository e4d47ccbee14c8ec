//! Stencil2D (the mini-app of Fink et al. 2021): a 5-point Jacobi iteration on an `n x m`
//! grid of `f64`, block-decomposed, with one ghost layer and a halo
//! exchange per iteration; the same algorithm in three models:
//!
//! * `serial`: one block of `n x m`, no neighbours (the reference);
//! * `mpi`: one block per rank, rsmpi (`Irecv`/`Isend`, `Waitany`-driven
//!   unpack, `Waitall` on the sends); see [`mpi`];
//! * `chare`: a 2-D chare array of `P * odf` blocks, one channel per
//!   neighbour, `iwait`-driven unpack; on the local layer (threads) or under
//!   `mpirun` on the MPI layer; see [`chare`].
//!
//! # One iteration (every model, in this order)
//! 1. communication: for each neighbour pack the interior edge of the current
//!    buffer and send it; receive every neighbour's halo (in arrival order)
//!    and unpack it into the ghost cells of the current buffer;
//! 2. computation ([`grid::Block::step`]): update every interior point into
//!    the other buffer, swap, then set the top ghost row and the left ghost
//!    column to 255.
//!
//! Every model therefore computes bitwise the same grid as the reference,
//! whatever the decomposition (proof sketch in docs/stencil.md);
//! `--verify` prints a checksum that shows it ([`grid::point_hash`]).
//!
//! # Timing
//! Per process (chare) and iteration: `iteration` = start of the iteration to
//! its end; `communication` = start to the last halo unpacked (packing and
//! posting included); `computation` = update + swap + boundary. Warm-up
//! iterations are run but not recorded. The run's figure is the slowest
//! process's (largest mean iteration time) means; with `--runs R` the whole
//! computation is repeated `R` times in one launch (grid reset each time)
//! and the median run (by that figure) is reported.

pub mod chare;
pub mod grid;
pub mod kernel;
#[cfg(feature = "mpi")]
pub mod mpi;
pub mod serial;
pub mod sweep;

use crate::harness::{median_index, RankResult};
use crate::launch::{launcher_size, under_launcher};
use crate::machine_info::MachineInfo;
use crate::report::{header_value, machine_lines, Format, Report};
use clap::{Args, ValueEnum};
use grid::Decomp;

/// Which implementation runs the stencil.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StencilModel {
    /// One block, no communication: the reference.
    Serial,
    /// rsmpi, one block per rank (needs the `mpi` feature).
    Mpi,
    /// The Chare runtime: a 2-D chare array, channels, iwait.
    Chare,
}

impl StencilModel {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            StencilModel::Serial => "serial",
            StencilModel::Mpi => "mpi",
            StencilModel::Chare => "chare",
        }
    }
}

/// Options of `chare-bench stencil`.
#[derive(Debug, Clone, Args)]
pub struct StencilArgs {
    /// Implementation to run.
    #[arg(long, value_enum)]
    pub model: StencilModel,
    /// Rows of the global grid.
    #[arg(long, default_value_t = 4096)]
    pub n: usize,
    /// Columns of the global grid.
    #[arg(long, default_value_t = 4096)]
    pub m: usize,
    /// Timed iterations.
    #[arg(long, default_value_t = 100)]
    pub iters: usize,
    /// Iterations run before timing (not recorded).
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Processes (mpi: ranks, started with mpirun unless already under a
    /// launcher; chare: PEs of the local layer, or the rank count under
    /// mpirun). Default: the number of cores (serial: 1).
    #[arg(long)]
    pub pes: Option<usize>,
    /// Overdecomposition (chare model): chares per PE.
    #[arg(long, default_value_t = 1)]
    pub odf: usize,
    /// Print a checksum of the final grid that is bitwise-sensitive and
    /// independent of the decomposition.
    #[arg(long)]
    pub verify: bool,
    /// Output format: `csv` has one row per (process, iteration), `table`
    /// one row per process (means).
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Repetitions of the whole computation in one launch; the median run
    /// is reported, every run in a trailing `#` line.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
}

/// What every model receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Params {
    /// The decomposition (of `pes * odf` parts).
    pub dec: Decomp,
    /// Timed iterations.
    pub iters: usize,
    /// Untimed iterations first.
    pub warmup: usize,
    /// Repetitions.
    pub runs: usize,
    /// Compute the checksum.
    pub verify: bool,
}

/// Per timed iteration of one process: `[iteration, communication,
/// computation]` in seconds.
pub type IterTimes = [f64; 3];

/// One run of the whole computation, as the root process sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunResult {
    /// Per process (or chare), in rank (row-major index) order, its timed
    /// iterations.
    pub procs: Vec<Vec<IterTimes>>,
    /// Checksum of the final grid (`--verify`).
    pub checksum: Option<u64>,
}

/// What a model returns: one result per run on the root process; nothing
/// on the other MPI ranks (they take part but print nothing).
pub type Outcome = RankResult<Vec<RunResult>>;

/// A validated invocation.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The model.
    pub model: StencilModel,
    /// PEs (processes, ranks).
    pub pes: usize,
    /// Chares per PE (1 unless chare model).
    pub odf: usize,
    /// `local` (threads), `mpi` (processes under mpirun) or `none` (serial).
    pub layer: &'static str,
    /// What the model gets.
    pub params: Params,
}

/// Checks the options and works out the PE count and decomposition. Errors
/// are one line (usage errors: exit status 2).
pub fn plan(a: &StencilArgs, cores: usize) -> Result<Plan, String> {
    if a.iters == 0 {
        return Err("--iters must be at least 1".into());
    }
    if a.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    if a.odf == 0 {
        return Err("--odf must be at least 1".into());
    }
    if a.pes == Some(0) {
        return Err("--pes must be at least 1".into());
    }
    let launched = under_launcher();
    let layer = match a.model {
        StencilModel::Serial => {
            if a.pes.is_some_and(|p| p != 1) {
                return Err("model serial runs on one PE; leave out --pes".into());
            }
            "none"
        }
        StencilModel::Mpi => {
            if !cfg!(feature = "mpi") {
                return Err("model mpi needs the `mpi` feature (not built)".into());
            }
            "mpi"
        }
        StencilModel::Chare => {
            if launched && !cfg!(feature = "mpi") {
                return Err("started under mpirun but built without the `mpi` feature".into());
            }
            if launched {
                "mpi"
            } else {
                "local"
            }
        }
    };
    if a.odf != 1 && a.model != StencilModel::Chare {
        return Err(format!("--odf applies to the chare model only (model {})", a.model.name()));
    }
    let pes = match (a.model, launched, launcher_size()) {
        (StencilModel::Serial, _, _) => 1,
        (_, true, Some(size)) => match a.pes {
            Some(p) if p != size => {
                return Err(format!("--pes {p} but the launcher started {size} ranks"));
            }
            _ => size,
        },
        _ => a.pes.unwrap_or(cores),
    };
    if pes > 4096 {
        return Err(format!("--pes ({pes}) is above the limit of 4096"));
    }
    let parts = pes
        .checked_mul(a.odf)
        .filter(|&p| p <= 1 << 20)
        .ok_or_else(|| format!("--pes {pes} x --odf {} is too many blocks", a.odf))?;
    let dec = Decomp::new(a.n, a.m, parts)?;
    // Storage of all blocks with their ghost layers, two buffers each.
    let fits = (dec.h + 2).checked_mul(dec.w + 2).and_then(|c| c.checked_mul(parts)).is_some_and(|c| c <= 1 << 34);
    if !fits {
        return Err(format!("grid {} x {} is above the limit of 2^34 points", a.n, a.m));
    }
    Ok(Plan {
        model: a.model,
        pes,
        odf: a.odf,
        layer,
        params: Params { dec, iters: a.iters, warmup: a.warmup, runs: a.runs, verify: a.verify },
    })
}

/// Runs the planned model.
pub fn execute(p: &Plan) -> Result<Outcome, String> {
    let out = match p.model {
        StencilModel::Serial => RankResult::Root(serial::run(&p.params)),
        StencilModel::Chare => chare::run(&p.params, p.pes)?,
        #[cfg(feature = "mpi")]
        StencilModel::Mpi => mpi::run(&p.params)?,
        #[cfg(not(feature = "mpi"))]
        StencilModel::Mpi => return Err("model mpi needs the `mpi` feature (not built)".into()),
    };
    if let RankResult::Root(runs) = &out {
        check_runs(&p.params, runs)?;
    }
    Ok(out)
}

/// Runs the planned model; the root gets the report in `format`. Errors are
/// run-time failures.
pub fn run(p: &Plan, format: Format, command: String, machine: &MachineInfo) -> Result<RankResult<Report>, String> {
    Ok(execute(p)?.map(|runs| report(p, &runs, format, command, machine)))
}

/// Checks what a model returned: one result per run, one timing row per
/// process and timed iteration, finite non-negative times, and (with
/// `--verify`) the same checksum in every run.
fn check_runs(p: &Params, runs: &[RunResult]) -> Result<(), String> {
    if runs.len() != p.runs {
        return Err(format!("model returned {} runs, {} expected", runs.len(), p.runs));
    }
    for r in runs {
        if r.procs.len() != p.dec.parts() {
            return Err(format!("model returned {} processes, {} expected", r.procs.len(), p.dec.parts()));
        }
        if r.procs.iter().any(|t| t.len() != p.iters) {
            return Err(format!("model returned a process without {} timed iterations", p.iters));
        }
        if r.procs.iter().flatten().flatten().any(|v| !(v.is_finite() && *v >= 0.0)) {
            return Err("model returned a negative or non-finite time".into());
        }
        if r.checksum.is_some() != p.verify {
            return Err("model returned no checksum".into());
        }
    }
    if runs.windows(2).any(|w| w[0].checksum != w[1].checksum) {
        return Err("the checksum differs between runs of the same computation".into());
    }
    Ok(())
}

/// Mean of each column of a process's timings.
pub fn means(times: &[IterTimes]) -> IterTimes {
    let k = times.len().max(1) as f64;
    let mut s = [0.0; 3];
    for t in times {
        for c in 0..3 {
            s[c] += t[c];
        }
    }
    s.map(|v| v / k)
}

/// The figure of one run: the slowest process (largest mean iteration
/// time) and its means.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// Its index (rank, or chare in row-major order).
    pub slowest: usize,
    /// Its mean `[iteration, communication, computation]`, seconds.
    pub means: IterTimes,
}

/// The slowest process of a run.
pub fn summarize(run: &RunResult) -> Summary {
    let mut best = Summary { slowest: 0, means: [0.0; 3] };
    for (i, t) in run.procs.iter().enumerate() {
        let m = means(t);
        if i == 0 || m[0] > best.means[0] {
            best = Summary { slowest: i, means: m };
        }
    }
    best
}

/// The run whose figure is the median (the lower middle for an even count).
pub fn median_run(summaries: &[Summary]) -> usize {
    median_index(&summaries.iter().map(|s| s.means[0]).collect::<Vec<f64>>())
}

/// CSV columns (one row per process and timed iteration).
pub const CSV_COLUMNS: [&str; 6] =
    ["process", "num_processes", "iteration", "iteration_s", "communication_s", "computation_s"];
/// Table columns (one row per process: means over the timed iterations).
pub const TABLE_COLUMNS: [&str; 4] = ["process", "iteration_ms", "communication_ms", "computation_ms"];

/// The `# summary:` line's fields for a run figure.
fn summary_fields(p: &Plan, s: &Summary) -> String {
    let d = &p.params.dec;
    let points = (d.n * d.m) as f64;
    format!(
        "model={} layer={} pes={} odf={} processes={} n={} m={} iters={} warmup={} runs={} kernel={} slowest_process={} \
         iteration_ms={:.4} communication_ms={:.4} computation_ms={:.4} mpoints_per_s={:.2} compute_mpoints_per_s={:.2}",
        p.model.name(),
        p.layer,
        p.pes,
        p.odf,
        d.parts(),
        d.n,
        d.m,
        p.params.iters,
        p.params.warmup,
        p.params.runs,
        kernel::name(),
        s.slowest,
        s.means[0] * 1e3,
        s.means[1] * 1e3,
        s.means[2] * 1e3,
        points / s.means[0] / 1e6,
        points / s.means[2] / 1e6,
    )
}

/// Builds the output: a `#` header, the rows of the median run, a line per
/// run, the summary line and (with `--verify`) the checksum.
pub fn report(p: &Plan, runs: &[RunResult], format: Format, command: String, machine: &MachineInfo) -> Report {
    let d = &p.params.dec;
    let summaries: Vec<Summary> = runs.iter().map(summarize).collect();
    let med = median_run(&summaries);
    let processes = if p.model == StencilModel::Chare {
        format!("{} chares ({} per PE)", d.parts(), p.odf)
    } else {
        format!("{} (one per PE)", d.parts())
    };
    let mut header = vec![
        "chare-bench stencil (Stencil2D, 5-point Jacobi; PAPER.md section 4)".to_string(),
        format!("command: {command}"),
        format!("model: {}", p.model.name()),
        format!("layer: {}", p.layer),
        format!("pes: {}", p.pes),
        format!("odf: {}", p.odf),
        format!("processes: {processes}"),
        format!("process grid: {} x {} (block-rows x block-columns)", d.x, d.y),
        format!("grid: {} x {} (rows x columns); block {} x {} plus one ghost layer", d.n, d.m, d.h, d.w),
        format!("iterations: {} timed, {} warmup (not recorded)", p.params.iters, p.params.warmup),
        format!("runs: {} (rows of the median run, run {})", p.params.runs, med + 1),
    ];
    header.extend(machine_lines(machine, Some(p.pes)));
    header.push(match format {
        Format::Csv => "units: seconds; iteration numbered from 0 after the warmup".to_string(),
        Format::Table => "units: milliseconds, means over the timed iterations".to_string(),
    });
    let procs = &runs[med].procs;
    let rows = match format {
        Format::Csv => procs
            .iter()
            .enumerate()
            .flat_map(|(pi, times)| {
                times.iter().enumerate().map(move |(it, t)| {
                    vec![
                        pi.to_string(),
                        procs.len().to_string(),
                        it.to_string(),
                        format!("{:.9}", t[0]),
                        format!("{:.9}", t[1]),
                        format!("{:.9}", t[2]),
                    ]
                })
            })
            .collect(),
        Format::Table => procs
            .iter()
            .enumerate()
            .map(|(pi, times)| {
                let m = means(times);
                vec![
                    pi.to_string(),
                    format!("{:.3}", m[0] * 1e3),
                    format!("{:.3}", m[1] * 1e3),
                    format!("{:.3}", m[2] * 1e3),
                ]
            })
            .collect(),
    };
    let mut footer: Vec<String> = summaries
        .iter()
        .enumerate()
        .map(|(k, s)| {
            format!(
                "run {}: slowest_process={} iteration_ms={:.4} communication_ms={:.4} computation_ms={:.4}",
                k + 1,
                s.slowest,
                s.means[0] * 1e3,
                s.means[1] * 1e3,
                s.means[2] * 1e3
            )
        })
        .collect();
    footer.push(format!("summary: {}", summary_fields(p, &summaries[med])));
    if let Some(c) = runs[med].checksum {
        footer.push(format!("checksum: {c:#018x}"));
    }
    Report {
        header,
        columns: match format {
            Format::Csv => CSV_COLUMNS.to_vec(),
            Format::Table => TABLE_COLUMNS.to_vec(),
        },
        rows,
        footer,
    }
}

/// Parses the `key=value` fields of a `# summary:` line.
pub fn parse_summary(text: &str) -> Option<Vec<(String, String)>> {
    let line = header_value(text, "summary")?;
    Some(
        line.split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// The checksum printed by `--verify`, if any.
pub fn parse_checksum(text: &str) -> Option<String> {
    header_value(text, "checksum").map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: StencilArgs,
    }

    fn args(v: &[&str]) -> StencilArgs {
        T::try_parse_from(std::iter::once("t").chain(v.iter().copied())).unwrap().a
    }

    #[test]
    fn plan_defaults_and_errors() {
        let p = plan(&args(&["--model", "serial"]), 2).unwrap();
        assert_eq!((p.pes, p.params.dec.n, p.params.iters, p.params.warmup), (1, 4096, 100, 10));
        if !under_launcher() {
            let p = plan(&args(&["--model", "chare", "--odf", "4", "--n", "64", "--m", "48"]), 2).unwrap();
            assert_eq!((p.pes, p.params.dec.x, p.params.dec.y), (2, 2, 4));
            let e = plan(&args(&["--model", "chare", "--pes", "2", "--m", "4095"]), 2).unwrap_err();
            assert!(e.contains("1 x 2") && !e.contains('\n'), "{e}");
        }
        assert!(plan(&args(&["--model", "serial", "--pes", "2"]), 2).is_err());
        assert!(plan(&args(&["--model", "serial", "--odf", "2"]), 2).is_err());
        assert!(plan(&args(&["--model", "serial", "--iters", "0"]), 2).is_err());
        assert!(plan(&args(&["--model", "serial", "--runs", "0"]), 2).is_err());
        assert!(plan(&args(&["--model", "chare", "--odf", "0"]), 2).is_err());
        #[cfg(not(feature = "mpi"))]
        assert!(plan(&args(&["--model", "mpi"]), 2).unwrap_err().contains("feature"));
    }

    #[test]
    fn summaries_pick_the_slowest_process_and_the_median_run() {
        let run = |a: f64, b: f64| RunResult {
            procs: vec![vec![[a, 0.1 * a, 0.9 * a]; 3], vec![[b, 0.2 * b, 0.8 * b]; 3]],
            checksum: None,
        };
        let s = summarize(&run(1.0, 2.0));
        assert_eq!(s.slowest, 1);
        assert!((s.means[0] - 2.0).abs() < 1e-12 && (s.means[1] - 0.4).abs() < 1e-12);
        let sums: Vec<Summary> = [run(5.0, 1.0), run(3.0, 1.0), run(4.0, 1.0)].iter().map(summarize).collect();
        assert_eq!(median_run(&sums), 2);
        assert_eq!(median_run(&sums[..2]), 1);
    }

    #[test]
    fn report_formats() {
        let p = plan(&args(&["--model", "serial", "--n", "4", "--m", "6", "--iters", "2", "--verify"]), 2).unwrap();
        let runs = serial::run(&p.params);
        let m = MachineInfo { cores: 2, cpu_model: "cpu".into(), hostname: "h".into() };
        let csv = report(&p, &runs, Format::Csv, "x".into(), &m).render(Format::Csv);
        let data: Vec<&str> = csv.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(data[0], CSV_COLUMNS.join(","));
        assert_eq!(data.len(), 3);
        assert!(data[1].starts_with("0,1,0,"));
        let s = parse_summary(&csv).unwrap();
        assert!(s.iter().any(|(k, v)| k == "model" && v == "serial"));
        assert!(parse_checksum(&csv).unwrap().starts_with("0x"));
        let table = report(&p, &runs, Format::Table, "x".into(), &m).render(Format::Table);
        assert_eq!(table.lines().filter(|l| !l.starts_with('#')).count(), 2);
    }
}
