//! `chare-bench`: the evaluation suite of the Chare runtime: OSU-style
//! latency and bandwidth micro-benchmarks (the runtime, `--model chare`,
//! against a no-runtime floor, `--model raw`, and against MPI without a
//! runtime: rsmpi, `--model mpi`, and C, `--model c-mpi`), the Stencil2D
//! mini-app (`stencil`, `stencil-sweep`) and a STREAM-like bandwidth
//! measurement (`stream`).
//!
//! This file holds the command line and the dispatch to a subcommand; see
//! [`osu`] for the micro-benchmarks (options in [`osu::cli`]), [`stencil`]
//! for Stencil2D, [`stream`] for STREAM, [`harness`] and [`report`] for
//! what they share.
//!
//! Exit status: 0 on success, 2 for a usage error (always one line on stderr,
//! `chare-bench: error: ...`), 1 when a model fails at run time.

// No unsafe code but the stencil's AVX-512 kernel (`stencil::kernel::simd`).
#![deny(unsafe_code)]

/// Large buffers (messages, grids) on transparent huge pages, reused when
/// freed; `CHARE_HUGEPAGES=0` turns it off (see `chare::hugepage`).
#[global_allocator]
static ALLOC: chare::HugePageAlloc = chare::HugePageAlloc;

mod harness;
mod launch;
mod lb;
mod machine_info;
mod osu;
mod paper;
mod pic;
mod pool;
mod report;
mod stencil;
mod stream;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use machine_info::MachineInfo;
use osu::cli::{BandwidthArgs, LatencyArgs};

/// Benchmarks of the Chare runtime: OSU-style point-to-point
/// micro-benchmarks, the Stencil2D mini-app, and memory bandwidth.
///
/// latency/bandwidth: message sizes are min-size, 2*min-size, 4*min-size,
/// ... up to max-size (max-size is included when doubling reaches it, i.e.
/// when max-size is min-size times a power of two). Within one process
/// messages are moved, not copied. MB/s = 10^6 bytes per second. stencil: see docs/stencil.md.
#[derive(Debug, Parser)]
#[command(name = "chare-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Ping-pong latency (osu_latency): one-way time = elapsed / (2 * iterations).
    Latency(LatencyArgs),
    /// Windowed streaming bandwidth (osu_bw): size * window * iterations / elapsed.
    Bandwidth(BandwidthArgs),
    /// Stencil2D: 5-point Jacobi on a block-decomposed grid with halo
    /// exchange (serial reference, rsmpi, or the chare runtime).
    Stencil(stencil::StencilArgs),
    /// Weak or strong scaling series of the stencil for every model.
    StencilSweep(stencil::sweep::SweepArgs),
    /// STREAM-like memory bandwidth: the roof of the stencil's roofline.
    Stream(stream::StreamArgs),
    /// PIC: the Parallel Research Kernels' particle-in-cell kernel (serial
    /// reference; decomposed models to come).
    Pic(pic::PicArgs),
    /// The paper's PIC variants (mpi, chare ODF 1, chare (O), chare (O, LB))
    /// per PE count, with the ratios beside the paper's.
    PicSweep(pic::sweep::SweepArgs),
    /// Synthetic load imbalance: time per iteration before and after
    /// measurement-based load balancing, per strategy; or (--cost-only) the
    /// cost of one balancing step.
    Lb(lb::LbArgs),
    /// The task pool's efficiency: sequential time / (PEs x parallel time)
    /// of a map over many small tasks (default 10^5 of 10 us on 2 PEs).
    Pool(pool::PoolArgs),
    /// Builds report.md, report.html and figures from the CSV files in DIR
    /// (no benchmark runs): medians with bootstrap CIs beside the paper's.
    Report(paper::ReportArgs),
    /// Runs every CPU experiment of the paper for every model and layer
    /// available (resumable: files already in --out are not rerun), then
    /// builds the report there.
    Paper(paper::run::PaperArgs),
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// Bad command line: exit status 2.
    Usage(String),
    /// The model failed: exit status 1.
    Runtime(String),
}

/// Validates, runs, and returns the text to print (empty on the ranks of an
/// MPI job other than 0).
fn run(cli: &Cli, command: String) -> Result<String, Failure> {
    let machine = MachineInfo::detect();
    let (result, format) = match &cli.command {
        Command::Latency(a) => {
            let p = osu::cli::latency_params(a).map_err(Failure::Usage)?;
            (osu::cli::latency(a, &p, command, &machine), a.format)
        }
        Command::Bandwidth(a) => {
            let p = osu::cli::bandwidth_params(a).map_err(Failure::Usage)?;
            (osu::cli::bandwidth(a, &p, command, &machine), a.format)
        }
        Command::Stencil(a) => {
            let plan = stencil::plan(a, machine.cores).map_err(Failure::Usage)?;
            (stencil::run(&plan, a.format, command, &machine), a.format)
        }
        Command::Report(a) => {
            paper::check(a).map_err(Failure::Usage)?;
            return paper::run(a).map_err(Failure::Runtime);
        }
        Command::Paper(a) => {
            paper::run::check(a).map_err(Failure::Usage)?;
            return paper::run::run(a, &command).map_err(Failure::Runtime);
        }
        Command::StencilSweep(a) => {
            stencil::sweep::check(a).map_err(Failure::Usage)?;
            return stencil::sweep::run(a).map_err(Failure::Runtime);
        }
        Command::Pool(a) => {
            pool::check(a).map_err(Failure::Usage)?;
            return pool::run(a).map_err(Failure::Runtime);
        }
        Command::Stream(a) => {
            let report = stream::report(a, command, &machine).map_err(Failure::Usage)?;
            return Ok(report.render(a.format));
        }
        Command::Pic(a) => {
            let plan = pic::plan(a, machine.cores).map_err(Failure::Usage)?;
            (pic::run(&plan, a.format, command, &machine), a.format)
        }
        Command::PicSweep(a) => {
            pic::sweep::check(a).map_err(Failure::Usage)?;
            return pic::sweep::run(a).map_err(Failure::Runtime);
        }
        Command::Lb(a) => {
            let plan = lb::plan(a, machine.cores).map_err(Failure::Usage)?;
            (lb::run(&plan, command, &machine), a.format)
        }
    };
    Ok(result.map_err(Failure::Runtime)?.root().map_or_else(String::new, |r| r.render(format)))
}

/// Squeezes one of clap's multi-line error messages into one line.
fn one_line(rendered: &str) -> String {
    let parts: Vec<&str> = rendered
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty())
        .collect();
    let joined = parts.join(" ");
    joined.strip_prefix("error: ").unwrap_or(&joined).to_string()
}

fn fail(kind: &Failure) -> ExitCode {
    let (msg, code) = match kind {
        Failure::Usage(m) => (m, 2),
        Failure::Runtime(m) => (m, 1),
    };
    // One write: under mpirun a line written in pieces can interleave.
    eprint!("{}", format!("chare-bench: error: {msg}\n"));
    ExitCode::from(code)
}

/// The ranks to start under mpirun for an rsmpi model, `None` for the other
/// models. The options are validated first, so that a usage error is one
/// line from this process rather than one from every rank.
#[cfg(feature = "mpi")]
fn mpi_ranks(command: &Command) -> Result<Option<usize>, String> {
    use osu::cli::Model;
    Ok(Some(match command {
        Command::Latency(a) if a.model == Model::Mpi => osu::cli::latency_params(a).map(|_| osu::PAIR)?,
        Command::Bandwidth(a) if a.model == Model::Mpi => osu::cli::bandwidth_params(a).map(|_| osu::PAIR)?,
        Command::Stencil(a) if a.model == stencil::StencilModel::Mpi => {
            stencil::plan(a, MachineInfo::detect().cores)?.pes
        }
        Command::Lb(a) if lb::wants_mpirun(a) => lb::plan(a, MachineInfo::detect().cores)?.pes,
        Command::Pic(a) if pic::mpi::wants_mpirun(a) => pic::plan(a, MachineInfo::detect().cores)?.pes,
        _ => return Ok(None),
    }))
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                e.exit(); // prints help/version on stdout, exit 0
            }
            let msg = if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                "a subcommand is required: latency, bandwidth, stencil, stencil-sweep, stream, lb or pool".to_string()
            } else {
                one_line(&e.render().to_string())
            };
            let msg = format!("{msg} (try --help)");
            return fail(&Failure::Usage(msg));
        }
    };
    #[cfg(feature = "mpi")]
    if launch::launcher_rank().is_none() {
        // The rsmpi models need mpirun: when not started by one, start the
        // ranks ourselves.
        match mpi_ranks(&cli.command) {
            Err(m) => return fail(&Failure::Usage(m)),
            Ok(Some(np)) => {
                return match launch::relaunch(np) {
                    Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
                    Err(m) => fail(&Failure::Runtime(m)),
                }
            }
            Ok(None) => {}
        }
    }
    #[cfg(feature = "mpi")]
    let quiet = launch::launcher_rank().is_some_and(|r| r != 0);
    #[cfg(not(feature = "mpi"))]
    let quiet = false;
    match run(&cli, report::command_line(std::env::args())) {
        Ok(_) if quiet => ExitCode::SUCCESS,
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            // A closed pipe (e.g. `| head`) is not an error worth reporting.
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
            ExitCode::SUCCESS
        }
        // Every rank of an MPI job validates the same command line: only
        // rank 0 reports a usage error.
        Err(Failure::Usage(_)) if quiet => ExitCode::from(2),
        Err(f) => fail(&f),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("chare-bench").chain(args.iter().copied()))
    }

    #[test]
    fn parser_rejects_unknown_values() {
        for args in [
            &["latency", "--model", "tcp"][..],
            &["latency", "--model", "raw", "--format", "json"],
            &["latency", "--model", "raw", "--via", "pigeon"],
            &["latency"],
            &["bandwidth", "--model", "raw", "--min-size", "-1"],
            &[],
        ] {
            let e = parse(args).unwrap_err();
            assert_eq!(e.exit_code(), 2, "{args:?}");
            let line = one_line(&e.render().to_string());
            assert!(!line.is_empty() && !line.contains('\n'), "{line:?}");
        }
    }

    #[test]
    fn chare_model_runs_every_size_in_one_launch() {
        for via in ["channel", "entry"] {
            let cli = parse(&[
                "latency",
                "--model",
                "chare",
                "--via",
                via,
                "--max-size",
                "8",
                "--iters",
                "10",
                "--warmup",
                "1",
                "--format",
                "csv",
            ])
            .unwrap();
            let out = run(&cli, String::new()).unwrap_or_else(|f| panic!("{f:?}"));
            let rows: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).skip(1).collect();
            assert_eq!(rows.len(), 4, "{out}");
        }
        let cli = parse(&[
            "bandwidth",
            "--model",
            "chare",
            "--max-size",
            "64",
            "--iters",
            "2",
            "--warmup",
            "1",
            "--window",
            "4",
            "--format",
            "csv",
        ])
        .unwrap();
        let out = run(&cli, String::new()).unwrap_or_else(|f| panic!("{f:?}"));
        let rows: Vec<&str> = out.lines().filter(|l| !l.starts_with('#')).skip(1).collect();
        assert_eq!(rows.len(), 7, "{out}");
    }
}
