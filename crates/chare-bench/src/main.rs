//! `chare-bench`: the evaluation suite of the Chare runtime: OSU-style
//! latency and bandwidth micro-benchmarks (`--model chare` against a
//! no-runtime floor `--model raw`, and MPI), the Stencil2D mini-app
//! (`stencil`, `stencil-sweep`) and a STREAM-like bandwidth measurement
//! (`stream`).
//!
//! This file holds the command line, its validation and the dispatch to a
//! model; see [`osu`] for the micro-benchmarks, [`stencil`] for Stencil2D.
//!
//! Exit status: 0 on success, 2 for a usage error (always one line on stderr,
//! `chare-bench: error: ...`), 1 when a model fails at run time.

// No unsafe code but the stencil's AVX-512 kernel (`stencil::kernel::simd`).
#![deny(unsafe_code)]

#[cfg(feature = "mpi")]
mod launch;
mod machine_info;
mod osu;
mod stencil;
mod stream;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

use machine_info::MachineInfo;
use osu::{BandwidthParams, BandwidthRow, Format, LatencyParams, LatencyRow, RunInfo, Timing, Via, MIB};

/// Largest message size accepted (1 GiB).
const MAX_SIZE: usize = 1 << 30;
/// Largest bandwidth working set accepted: window × max-size (4 GiB).
const MAX_WINDOW_BYTES: u128 = 4 << 30;

/// Benchmarks of the Chare runtime: OSU-style point-to-point
/// micro-benchmarks, the Stencil2D mini-app, and memory bandwidth.
///
/// latency/bandwidth: message sizes are min-size, 2*min-size, 4*min-size,
/// ... up to max-size (max-size is included when doubling reaches it, i.e.
/// when max-size is min-size times a power of two). Messages are moved, not
/// copied. MB/s = 10^6 bytes per second. stencil: see docs/stencil.md.
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
}

/// Which implementation carries the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Model {
    /// The Chare runtime.
    Chare,
    /// Two pinned threads and lock-free queues, no runtime: the floor.
    Raw,
    /// The runtime over MPI (needs the `mpi` feature).
    Mpi,
    /// Plain C MPI for reference (needs the `mpi` feature).
    CMpi,
}

impl Model {
    fn name(self) -> &'static str {
        match self {
            Model::Chare => "chare",
            Model::Raw => "raw",
            Model::Mpi => "mpi",
            Model::CMpi => "c-mpi",
        }
    }
}

#[derive(Debug, Clone, Args)]
struct LatencyArgs {
    /// Implementation to measure.
    #[arg(long, value_enum)]
    model: Model,
    /// PEs to start (chare model; the ping-pong runs between PE 0 and the
    /// last PE). The raw model always uses exactly 2 threads.
    #[arg(long, default_value_t = 2)]
    pes: usize,
    /// Smallest message size in bytes.
    #[arg(long, default_value_t = 1)]
    min_size: usize,
    /// Largest message size in bytes.
    #[arg(long, default_value_t = 4 * MIB)]
    max_size: usize,
    /// Timed round trips per size up to 1 MiB; sizes above 1 MiB run half as
    /// many (at least 1), as OSU does (1000 vs 500).
    #[arg(long, default_value_t = 1000)]
    iters: usize,
    /// Untimed round trips per size before timing starts.
    #[arg(long, default_value_t = 60)]
    warmup: usize,
    /// How the chare model sends: through a channel or as entry-method calls
    /// (ignored by the raw model).
    #[arg(long, value_enum, default_value_t = Via::Channel)]
    via: Via,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Repetitions of each size; the median is reported and every run is
    /// listed in trailing `#` lines.
    #[arg(long, default_value_t = 1)]
    runs: usize,
}

#[derive(Debug, Clone, Args)]
struct BandwidthArgs {
    /// Implementation to measure.
    #[arg(long, value_enum)]
    model: Model,
    /// Smallest message size in bytes.
    #[arg(long, default_value_t = 1)]
    min_size: usize,
    /// Largest message size in bytes.
    #[arg(long, default_value_t = 4 * MIB)]
    max_size: usize,
    /// Messages sent per iteration before waiting for the 4-byte ack.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Timed iterations (windows) N for sizes above 8 KiB; sizes up to 8 KiB
    /// run 10*N (the paper's 1000 vs 100 with the default).
    #[arg(long, default_value_t = 100)]
    iters: usize,
    /// Untimed iterations (windows) per size before timing starts.
    #[arg(long, default_value_t = 10)]
    warmup: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Repetitions of each size; the median is reported and every run is
    /// listed in trailing `#` lines.
    #[arg(long, default_value_t = 1)]
    runs: usize,
}

/// Why a run failed.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Failure {
    /// Bad command line: exit status 2.
    Usage(String),
    /// The model failed: exit status 1.
    Runtime(String),
}

/// Rejects the models this build cannot run.
fn check_model(model: Model) -> Result<(), String> {
    match model {
        Model::Chare | Model::Raw => Ok(()),
        #[cfg(feature = "mpi")]
        Model::Mpi | Model::CMpi => Ok(()),
        #[cfg(not(feature = "mpi"))]
        Model::Mpi | Model::CMpi => Err(format!("model {} needs the `mpi` feature (not built)", model.name())),
    }
}

/// Checks the options common to both benchmarks.
fn check_common(min_size: usize, max_size: usize, iters: usize, runs: usize) -> Result<(), String> {
    if min_size == 0 {
        return Err("--min-size must be at least 1 byte".into());
    }
    if max_size == 0 {
        return Err("--max-size must be at least 1 byte".into());
    }
    if min_size > max_size {
        return Err(format!("--min-size ({min_size}) is larger than --max-size ({max_size})"));
    }
    if max_size > MAX_SIZE {
        return Err(format!("--max-size ({max_size}) is above the limit of {MAX_SIZE} bytes (1 GiB)"));
    }
    if iters == 0 {
        return Err("--iters must be at least 1".into());
    }
    if runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    Ok(())
}

/// Validates the latency options and builds the parameters.
fn latency_params(a: &LatencyArgs) -> Result<LatencyParams, String> {
    check_model(a.model)?;
    check_common(a.min_size, a.max_size, a.iters, a.runs)?;
    if a.pes < 2 {
        return Err(format!("--pes ({}) must be at least 2", a.pes));
    }
    if a.model == Model::Raw && a.pes != osu::raw::PES {
        return Err(format!("model raw always runs {} threads; --pes {} is not supported", osu::raw::PES, a.pes));
    }
    Ok(LatencyParams::new(a.pes, a.via, a.runs, a.min_size, a.max_size, a.iters, a.warmup))
}

/// Validates the bandwidth options and builds the parameters.
fn bandwidth_params(a: &BandwidthArgs) -> Result<BandwidthParams, String> {
    check_model(a.model)?;
    check_common(a.min_size, a.max_size, a.iters, a.runs)?;
    if a.window == 0 {
        return Err("--window must be at least 1".into());
    }
    if a.window as u128 * a.max_size as u128 > MAX_WINDOW_BYTES {
        return Err(format!(
            "--window ({}) x --max-size ({}) is above the limit of {MAX_WINDOW_BYTES} bytes (4 GiB)",
            a.window, a.max_size
        ));
    }
    Ok(BandwidthParams::new(a.window, a.runs, a.min_size, a.max_size, a.iters, a.warmup))
}

/// One model's implementation of both benchmarks.
struct ModelFns {
    latency: fn(&LatencyParams) -> Result<Vec<Timing>, String>,
    bandwidth: fn(&BandwidthParams) -> Result<Vec<Timing>, String>,
    layer: &'static str,
}

impl Model {
    fn fns(self) -> ModelFns {
        match self {
            Model::Raw => ModelFns { latency: osu::raw::latency, bandwidth: osu::raw::bandwidth, layer: "local" },
            Model::Chare => {
                // Under mpirun the runtime picks its MPI layer.
                let launched =
                    ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK"].iter().any(|v| std::env::var_os(v).is_some());
                let layer = if launched { "mpi" } else { "local" };
                ModelFns { latency: osu::chare::latency, bandwidth: osu::chare::bandwidth, layer }
            }
            #[cfg(feature = "mpi")]
            Model::Mpi => ModelFns { latency: osu::mpi::latency, bandwidth: osu::mpi::bandwidth, layer: "mpi" },
            #[cfg(feature = "mpi")]
            Model::CMpi => ModelFns { latency: osu::c_mpi::latency, bandwidth: osu::c_mpi::bandwidth, layer: "mpi" },
            #[cfg(not(feature = "mpi"))]
            Model::Mpi | Model::CMpi => unreachable!("rejected by check_model"),
        }
    }
}

/// Runs the model and checks what it returned.
fn measure<P>(
    run: fn(&P) -> Result<Vec<Timing>, String>,
    params: &P,
    steps: &[osu::Step],
    runs: usize,
) -> Result<Vec<Timing>, Failure> {
    let timings = run(params).map_err(Failure::Runtime)?;
    osu::check_timings(steps, runs, &timings).map_err(Failure::Runtime)?;
    Ok(timings)
}

/// Parses nothing, validates, runs, and returns the text to print.
fn run(cli: &Cli, command: String) -> Result<String, Failure> {
    let machine = MachineInfo::detect();
    match &cli.command {
        Command::Latency(a) => {
            let p = latency_params(a).map_err(Failure::Usage)?;
            let fns = a.model.fns();
            let timings = measure(fns.latency, &p, &p.steps, p.runs)?;
            let rows: Vec<LatencyRow> = timings.iter().map(LatencyRow::from_timing).collect();
            let info = RunInfo {
                benchmark: "latency",
                command,
                model: a.model.name(),
                pes: p.pes,
                via: (a.model == Model::Chare).then_some(a.via),
                runs: p.runs,
                iterations: format!(
                    "{} round trips per size up to 1 MiB, {} above; warmup {}",
                    a.iters,
                    osu::latency_iters(a.iters, usize::MAX),
                    a.warmup
                ),
                machine: &machine,
                layer: fns.layer,
            };
            Ok(osu::latency_report(&info, &rows).render(a.format))
        }
        Command::Bandwidth(a) => {
            let p = bandwidth_params(a).map_err(Failure::Usage)?;
            let fns = a.model.fns();
            let timings = measure(fns.bandwidth, &p, &p.steps, p.runs)?;
            let rows: Vec<BandwidthRow> = timings.iter().map(|t| BandwidthRow::from_timing(t, p.window)).collect();
            let info = RunInfo {
                benchmark: "bandwidth",
                command,
                model: a.model.name(),
                pes: osu::raw::PES,
                via: None,
                runs: p.runs,
                iterations: format!(
                    "{} windows of {} per size up to 8 KiB, {} above; warmup {}; ack {} bytes",
                    osu::bandwidth_iters(a.iters, 1),
                    p.window,
                    a.iters,
                    a.warmup,
                    osu::ACK_BYTES
                ),
                machine: &machine,
                layer: fns.layer,
            };
            Ok(osu::bandwidth_report(&info, &rows).render(a.format))
        }
        Command::Stencil(a) => {
            let plan = stencil::plan(a, machine.cores).map_err(Failure::Usage)?;
            match stencil::execute(&plan).map_err(Failure::Runtime)? {
                stencil::Outcome::NotRoot => Ok(String::new()),
                stencil::Outcome::Root(runs) => {
                    Ok(stencil::report(&plan, &runs, a.format, command, &machine).render(a.format))
                }
            }
        }
        Command::StencilSweep(a) => {
            stencil::sweep::check(a).map_err(Failure::Usage)?;
            stencil::sweep::run(a).map_err(Failure::Runtime)
        }
        Command::Stream(a) => {
            let report = stream::report(a, command, &machine).map_err(Failure::Usage)?;
            Ok(report.render(a.format))
        }
    }
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
    eprintln!("chare-bench: error: {msg}");
    ExitCode::from(code)
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
                "a subcommand is required: latency, bandwidth, stencil, stencil-sweep or stream".to_string()
            } else {
                one_line(&e.render().to_string())
            };
            let msg = format!("{msg} (try --help)");
            return fail(&Failure::Usage(msg));
        }
    };
    #[cfg(feature = "mpi")]
    {
        // The rsmpi models need mpirun: when not started by one, start the
        // ranks ourselves (after validating, so a usage error is one line).
        let ranks = match &cli.command {
            _ if launch::launcher_rank().is_some() => None,
            Command::Latency(a) => (a.model == Model::Mpi).then_some(2),
            Command::Bandwidth(a) => (a.model == Model::Mpi).then_some(2),
            Command::Stencil(a) if a.model == stencil::StencilModel::Mpi => {
                match stencil::plan(a, MachineInfo::detect().cores) {
                    Ok(p) => Some(p.pes),
                    Err(m) => return fail(&Failure::Usage(m)),
                }
            }
            _ => None,
        };
        if let Some(np) = ranks {
            return match launch::relaunch(np) {
                Ok(code) => ExitCode::from(code.clamp(0, 255) as u8),
                Err(m) => fail(&Failure::Runtime(m)),
            };
        }
    }
    #[cfg(feature = "mpi")]
    let quiet = launch::launcher_rank().is_some_and(|r| r != 0);
    #[cfg(not(feature = "mpi"))]
    let quiet = false;
    match run(&cli, osu::command_line(std::env::args())) {
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

    fn latency_args(args: &[&str]) -> LatencyArgs {
        match parse(&[&["latency"], args].concat()).unwrap().command {
            Command::Latency(a) => a,
            _ => unreachable!(),
        }
    }

    fn bandwidth_args(args: &[&str]) -> BandwidthArgs {
        match parse(&[&["bandwidth"], args].concat()).unwrap().command {
            Command::Bandwidth(a) => a,
            _ => unreachable!(),
        }
    }

    #[test]
    fn defaults() {
        let a = latency_args(&["--model", "raw"]);
        assert_eq!((a.pes, a.min_size, a.max_size, a.iters, a.warmup, a.runs), (2, 1, 4 * MIB, 1000, 60, 1));
        assert_eq!((a.via, a.format), (Via::Channel, Format::Table));
        let p = latency_params(&a).unwrap();
        assert_eq!(p.steps.len(), 23);
        let b = bandwidth_args(&["--model", "chare"]);
        assert_eq!((b.window, b.iters, b.warmup, b.runs), (64, 100, 10, 1));
        let p = bandwidth_params(&b).unwrap();
        assert_eq!(p.steps[0].iters, 1000);
        assert_eq!(p.steps.last().unwrap().iters, 100);
    }

    #[test]
    fn latency_validation() {
        let err = |args: &[&str]| latency_params(&latency_args(args)).unwrap_err();
        assert!(err(&["--model", "raw", "--min-size", "0"]).contains("--min-size"));
        assert!(err(&["--model", "raw", "--max-size", "0"]).contains("--max-size"));
        assert!(err(&["--model", "raw", "--min-size", "64", "--max-size", "8"]).contains("larger"));
        assert!(err(&["--model", "raw", "--iters", "0"]).contains("--iters"));
        assert!(err(&["--model", "raw", "--runs", "0"]).contains("--runs"));
        assert!(err(&["--model", "raw", "--pes", "4"]).contains("2 threads"));
        assert!(err(&["--model", "chare", "--pes", "1"]).contains("--pes"));
        assert!(err(&["--model", "raw", "--max-size", "4294967296"]).contains("limit"));
        #[cfg(not(feature = "mpi"))]
        {
            assert_eq!(err(&["--model", "mpi"]), "model mpi needs the `mpi` feature (not built)");
            assert_eq!(err(&["--model", "c-mpi"]), "model c-mpi needs the `mpi` feature (not built)");
        }
        assert!(latency_params(&latency_args(&["--model", "chare", "--pes", "4", "--via", "entry"])).is_ok());
        assert!(latency_params(&latency_args(&["--model", "raw", "--warmup", "0"])).is_ok());
    }

    #[test]
    fn bandwidth_validation() {
        let err = |args: &[&str]| bandwidth_params(&bandwidth_args(args)).unwrap_err();
        assert!(err(&["--model", "raw", "--window", "0"]).contains("--window"));
        assert!(err(&["--model", "raw", "--iters", "0"]).contains("--iters"));
        assert!(err(&["--model", "raw", "--min-size", "0"]).contains("--min-size"));
        assert!(err(&["--model", "raw", "--window", "4096", "--max-size", "1073741824"]).contains("limit"));
        #[cfg(not(feature = "mpi"))]
        assert_eq!(err(&["--model", "mpi"]), "model mpi needs the `mpi` feature (not built)");
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
