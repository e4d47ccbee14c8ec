//! `chare-bench stencil-sweep`: a weak or strong scaling series of the
//! stencil for every model, each point a `chare-bench stencil` child
//! process (MPI initialises once per process, and a fresh process per point
//! keeps the points independent).
//!
//! Series: `mpi` (rsmpi, started through `mpirun -np P`), `chare` (the local
//! layer, `--pes P` threads) and `chare-mpi` (the runtime's MPI layer under
//! `mpirun -np P`); the MPI ones need the `mpi` feature. Points with more
//! PEs than cores are marked oversubscribed.
//!
//! * strong: the global grid is `n x m` for every `P`;
//! * weak: every PE keeps an `n x m` block: the global grid is
//!   `(n * x) x (m * y)` for the process grid `x x y` of `P`.
//!
//! Each point's full CSV goes to `<out>/<kind>-<series>-p<P>.csv` (with
//! `-odf<K>` appended for the chare series when `--odf K > 1`); the table of
//! the points to stdout and `<out>/<kind>-summary.csv` (`-odf<K>` likewise).

use super::grid::factor;
use crate::report::{header_value, yes_no, Format, Report};
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Which scaling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// Fixed block per PE.
    Weak,
    /// Fixed global grid.
    Strong,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Weak => "weak",
            Kind::Strong => "strong",
        }
    }
}

/// One series of the sweep.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Series {
    /// `stencil --model mpi` (rsmpi).
    Mpi,
    /// `stencil --model chare` on the local layer.
    Chare,
    /// `stencil --model chare` under mpirun (the runtime's MPI layer).
    ChareMpi,
}

impl Series {
    fn name(self) -> &'static str {
        match self {
            Series::Mpi => "mpi",
            Series::Chare => "chare",
            Series::ChareMpi => "chare-mpi",
        }
    }
}

/// Options of `chare-bench stencil-sweep`.
#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    /// Weak or strong scaling.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// Rows: of the global grid (strong, default 4096) or of each PE's
    /// block (weak, default 2048).
    #[arg(long)]
    pub n: Option<usize>,
    /// Columns, as --n.
    #[arg(long)]
    pub m: Option<usize>,
    /// PE counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1, 2, 4, 8])]
    pub pes: Vec<usize>,
    /// Series to run, comma-separated (default: all this build can run).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub series: Vec<Series>,
    /// Timed iterations per run.
    #[arg(long, default_value_t = 100)]
    pub iters: usize,
    /// Warm-up iterations per run.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Runs per point (median reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Chares per PE in the chare series.
    #[arg(long, default_value_t = 1)]
    pub odf: usize,
    /// Check that every series computes the same grid (checksums).
    #[arg(long)]
    pub verify: bool,
    /// Directory for the CSV files.
    #[arg(long, default_value = "results/stencil")]
    pub out: PathBuf,
    /// Format of the table printed at the end.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// One point of the sweep, as measured.
#[derive(Debug, Clone)]
struct Point {
    series: Series,
    pes: usize,
    n: usize,
    m: usize,
    oversubscribed: bool,
    fields: Vec<(String, String)>,
    checksum: Option<String>,
}

impl Point {
    fn field(&self, k: &str) -> &str {
        self.fields.iter().find(|(key, _)| key == k).map_or("?", |(_, v)| v.as_str())
    }
    fn ms(&self) -> f64 {
        self.field("iteration_ms").parse().unwrap_or(f64::NAN)
    }
}

/// The series a build can run.
fn available() -> Vec<Series> {
    if cfg!(feature = "mpi") {
        vec![Series::Mpi, Series::Chare, Series::ChareMpi]
    } else {
        vec![Series::Chare]
    }
}

/// Checks the options; returns the series to run.
pub fn check(a: &SweepArgs) -> Result<Vec<Series>, String> {
    if crate::launch::under_launcher() {
        return Err("stencil-sweep starts its own mpirun jobs; run it without a launcher".into());
    }
    if a.pes.is_empty() || a.pes.iter().any(|&p| p == 0 || p > 64) {
        return Err("--pes must list PE counts from 1 to 64".into());
    }
    if a.iters == 0 || a.runs == 0 || a.odf == 0 {
        return Err("--iters, --runs and --odf must be at least 1".into());
    }
    let series = if a.series.is_empty() { available() } else { a.series.clone() };
    if let Some(s) = series.iter().find(|s| !available().contains(s)) {
        return Err(format!("series {} needs the `mpi` feature (not built)", s.name()));
    }
    for &p in &a.pes {
        let (n, m) = grid_for(a, p);
        super::grid::Decomp::new(n, m, p * a.odf).map_err(|e| format!("{} PEs: {e}", p))?;
    }
    Ok(series)
}

/// The global grid of the point with `p` PEs.
fn grid_for(a: &SweepArgs, p: usize) -> (usize, usize) {
    match a.kind {
        Kind::Strong => (a.n.unwrap_or(4096), a.m.unwrap_or(4096)),
        Kind::Weak => {
            let (x, y) = factor(p);
            (a.n.unwrap_or(2048) * x, a.m.unwrap_or(2048) * y)
        }
    }
}

/// Runs one point: a `chare-bench stencil` child; returns its CSV output.
fn run_point(a: &SweepArgs, s: Series, p: usize, n: usize, m: usize) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let model = if s == Series::Mpi { "mpi" } else { "chare" };
    let mut args: Vec<String> =
        ["stencil", "--model", model, "--format", "csv"].iter().map(|s| s.to_string()).collect();
    for (k, v) in
        [("--n", n), ("--m", m), ("--iters", a.iters), ("--warmup", a.warmup), ("--runs", a.runs), ("--pes", p)]
    {
        args.push(k.into());
        args.push(v.to_string());
    }
    if s != Series::Mpi {
        args.extend(["--odf".to_string(), a.odf.to_string()]);
    }
    if a.verify {
        args.push("--verify".into());
    }
    eprintln!("stencil-sweep: {} {} PEs: chare-bench {}", a.kind.name(), p, args.join(" "));
    match s {
        #[cfg(feature = "mpi")]
        Series::ChareMpi => crate::launch::mpirun(p, &exe, &args),
        _ => {
            let out = Command::new(&exe)
                .args(&args)
                .env_remove("CHARE_MACHINE")
                .stderr(Stdio::inherit())
                .output()
                .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
            if !out.status.success() {
                return Err(format!("chare-bench {} exited with {}", args.join(" "), out.status));
            }
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        }
    }
}

/// `-odf<K>` in file names of the chare series when K > 1.
fn odf_suffix(a: &SweepArgs, s: Series) -> String {
    if a.odf > 1 && s != Series::Mpi {
        format!("-odf{}", a.odf)
    } else {
        String::new()
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Runs the sweep and returns the table.
pub fn run(a: &SweepArgs) -> Result<String, String> {
    let series = check(a)?;
    std::fs::create_dir_all(&a.out).map_err(|e| format!("cannot create {}: {e}", a.out.display()))?;
    let mut points = Vec::new();
    // The series of one PE count run back to back, so that the VM's slow
    // and fast periods (docs/perf.md) hit the models alike.
    for &p in &a.pes {
        for &s in &series {
            let (n, m) = grid_for(a, p);
            let text = run_point(a, s, p, n, m)?;
            write(&a.out.join(format!("{}-{}-p{p}{}.csv", a.kind.name(), s.name(), odf_suffix(a, s))), &text)?;
            let fields = super::parse_summary(&text)
                .ok_or_else(|| format!("{} with {p} PEs printed no summary line", s.name()))?;
            let oversubscribed = header_value(&text, "oversubscribed") == Some("yes");
            points.push(Point {
                series: s,
                pes: p,
                n,
                m,
                oversubscribed,
                fields,
                checksum: super::parse_checksum(&text),
            });
        }
    }
    points.sort_by_key(|pt| (series.iter().position(|&s| s == pt.series), pt.pes));
    let report = table(a, &points);
    let odf = if a.odf > 1 { format!("-odf{}", a.odf) } else { String::new() };
    write(&a.out.join(format!("{}-summary{odf}.csv", a.kind.name())), &report.render(Format::Csv))?;
    let text = report.render(a.format);
    if a.verify {
        check_checksums(a.kind, &points)?;
    }
    Ok(text)
}

/// With `--verify`: every point of a strong sweep, and every series at one
/// PE count of a weak sweep, must have computed the same grid.
fn check_checksums(kind: Kind, points: &[Point]) -> Result<(), String> {
    for a in points {
        for b in points {
            let comparable = kind == Kind::Strong || a.pes == b.pes;
            if comparable && a.checksum != b.checksum {
                return Err(format!(
                    "checksums differ: {} with {} PEs gave {}, {} with {} PEs gave {}",
                    a.series.name(),
                    a.pes,
                    a.checksum.as_deref().unwrap_or("none"),
                    b.series.name(),
                    b.pes,
                    b.checksum.as_deref().unwrap_or("none")
                ));
            }
        }
    }
    Ok(())
}

fn table(a: &SweepArgs, points: &[Point]) -> Report {
    let rel = if a.kind == Kind::Strong { "speedup" } else { "efficiency" };
    let rows = points
        .iter()
        .map(|pt| {
            // Relative to the same series at 1 PE, when measured.
            let base = points.iter().find(|q| q.series == pt.series && q.pes == 1).map(Point::ms);
            let rel_v = base.map_or("n/a".to_string(), |b| format!("{:.2}", b / pt.ms()));
            vec![
                pt.series.name().to_string(),
                pt.pes.to_string(),
                yes_no(pt.oversubscribed).to_string(),
                format!("{}x{}", pt.n, pt.m),
                pt.field("processes").to_string(),
                pt.field("iteration_ms").to_string(),
                pt.field("communication_ms").to_string(),
                pt.field("computation_ms").to_string(),
                rel_v,
                pt.checksum.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    Report {
        header: vec![
            format!("chare-bench stencil-sweep --kind {}", a.kind.name()),
            format!(
                "iterations: {} timed, {} warmup; runs: {} (median); odf: {} (chare series)",
                a.iters, a.warmup, a.runs, a.odf
            ),
            format!("times: slowest process's mean per iteration, ms; {rel}: relative to the same series at 1 PE"),
            format!("csv files: {}", a.out.display()),
        ],
        columns: vec![
            "series",
            "pes",
            "oversubscribed",
            "grid",
            "processes",
            "iteration_ms",
            "communication_ms",
            "computation_ms",
            rel,
            "checksum",
        ],
        rows,
        footer: Vec::new(),
    }
}
