//! The `latency` and `bandwidth` subcommands: their options, the checks on
//! them (usage errors), the table of models, and the run from the options to
//! the report.

use clap::{Args, ValueEnum};

use super::{BandwidthParams, BandwidthRow, LatencyParams, LatencyRow, RunInfo, Step, Timing, Via, MIB};
use crate::harness::RankResult;
use crate::machine_info::MachineInfo;
use crate::report::{Format, Report};

/// Largest message size accepted (1 GiB).
const MAX_SIZE: usize = 1 << 30;
/// Largest bandwidth working set accepted: window × max-size (4 GiB).
const MAX_WINDOW_BYTES: u128 = 4 << 30;

/// Which implementation carries the messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Model {
    /// The Chare runtime (its MPI layer when started under mpirun).
    Chare,
    /// Two pinned threads and lock-free queues, no runtime: the floor.
    Raw,
    /// MPI through rsmpi, no runtime (needs the `mpi` feature).
    Mpi,
    /// Plain C MPI for reference (needs the `mpi` feature).
    CMpi,
    /// Plain C MPI, message-driven: one receive from any source kept posted
    /// and polled with MPI_Test, MPI_Isend; the MPI calls of a runtime that
    /// cannot know what arrives next, without its work (needs `mpi`).
    CMpiAm,
}

impl Model {
    /// The name on the command line and in the output header.
    pub fn name(self) -> &'static str {
        match self {
            Model::Chare => "chare",
            Model::Raw => "raw",
            Model::Mpi => "mpi",
            Model::CMpi => "c-mpi",
            Model::CMpiAm => "c-mpi-am",
        }
    }
}

/// Options of `chare-bench latency`.
#[derive(Debug, Clone, Args)]
pub struct LatencyArgs {
    /// Implementation to measure.
    #[arg(long, value_enum)]
    pub model: Model,
    /// PEs to start (chare model; the ping-pong runs between PE 0 and the
    /// last PE). The raw model always uses exactly 2 threads, the MPI models
    /// 2 ranks.
    #[arg(long, default_value_t = 2)]
    pub pes: usize,
    /// Smallest message size in bytes.
    #[arg(long, default_value_t = 1)]
    pub min_size: usize,
    /// Largest message size in bytes.
    #[arg(long, default_value_t = 4 * MIB)]
    pub max_size: usize,
    /// Timed round trips per size up to 1 MiB; sizes above 1 MiB run half as
    /// many (at least 1), as OSU does (1000 vs 500).
    #[arg(long, default_value_t = 1000)]
    pub iters: usize,
    /// Untimed round trips per size before timing starts.
    #[arg(long, default_value_t = 60)]
    pub warmup: usize,
    /// How the chare model sends: through a channel or as entry-method calls
    /// (ignored by the other models).
    #[arg(long, value_enum, default_value_t = Via::Channel)]
    pub via: Via,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Repetitions of each size; the median is reported and every run is
    /// listed in trailing `#` lines.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
}

/// Options of `chare-bench bandwidth`.
#[derive(Debug, Clone, Args)]
pub struct BandwidthArgs {
    /// Implementation to measure.
    #[arg(long, value_enum)]
    pub model: Model,
    /// Smallest message size in bytes.
    #[arg(long, default_value_t = 1)]
    pub min_size: usize,
    /// Largest message size in bytes.
    #[arg(long, default_value_t = 4 * MIB)]
    pub max_size: usize,
    /// Messages sent per iteration before waiting for the 4-byte ack.
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Timed iterations (windows) N for sizes above 8 KiB; sizes up to 8 KiB
    /// run 10*N (the paper's 1000 vs 100 with the default).
    #[arg(long, default_value_t = 100)]
    pub iters: usize,
    /// Untimed iterations (windows) per size before timing starts.
    #[arg(long, default_value_t = 10)]
    pub warmup: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Repetitions of each size; the median is reported and every run is
    /// listed in trailing `#` lines.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
}

/// Rejects the models this build cannot run.
fn check_model(model: Model) -> Result<(), String> {
    match model {
        Model::Chare | Model::Raw => Ok(()),
        #[cfg(feature = "mpi")]
        Model::Mpi | Model::CMpi | Model::CMpiAm => Ok(()),
        #[cfg(not(feature = "mpi"))]
        Model::Mpi | Model::CMpi | Model::CMpiAm => {
            Err(format!("model {} needs the `mpi` feature (not built)", model.name()))
        }
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

/// Validates the latency options and builds the parameters (errors are
/// usage errors).
pub fn latency_params(a: &LatencyArgs) -> Result<LatencyParams, String> {
    check_model(a.model)?;
    check_common(a.min_size, a.max_size, a.iters, a.runs)?;
    if a.pes < 2 {
        return Err(format!("--pes ({}) must be at least 2", a.pes));
    }
    if a.model == Model::Raw && a.pes != super::raw::PES {
        return Err(format!("model raw always runs {} threads; --pes {} is not supported", super::raw::PES, a.pes));
    }
    Ok(LatencyParams::new(a.pes, a.via, a.runs, a.min_size, a.max_size, a.iters, a.warmup))
}

/// Validates the bandwidth options and builds the parameters (errors are
/// usage errors).
pub fn bandwidth_params(a: &BandwidthArgs) -> Result<BandwidthParams, String> {
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

/// What a model's benchmark function returns.
type Measured = Result<RankResult<Vec<Timing>>, String>;
/// What a benchmark run returns: the report on the root, or a run-time failure.
pub type Reported = Result<RankResult<Report>, String>;

/// One model's implementation of both benchmarks.
struct ModelFns {
    latency: fn(&LatencyParams) -> Measured,
    bandwidth: fn(&BandwidthParams) -> Measured,
    /// How its PEs or ranks communicate (the header's `layer`).
    layer: &'static str,
}

impl Model {
    fn fns(self) -> ModelFns {
        use super::{chare, raw};
        match self {
            Model::Raw => ModelFns { latency: raw::latency, bandwidth: raw::bandwidth, layer: "local" },
            Model::Chare => {
                // Under mpirun the runtime picks its MPI layer.
                let layer = if crate::launch::under_launcher() { "mpi" } else { "local" };
                ModelFns { latency: chare::latency, bandwidth: chare::bandwidth, layer }
            }
            #[cfg(feature = "mpi")]
            Model::Mpi => ModelFns { latency: super::mpi::latency, bandwidth: super::mpi::bandwidth, layer: "mpi" },
            #[cfg(feature = "mpi")]
            Model::CMpi => {
                ModelFns { latency: super::c_mpi::latency, bandwidth: super::c_mpi::bandwidth, layer: "mpi" }
            }
            #[cfg(feature = "mpi")]
            Model::CMpiAm => {
                ModelFns { latency: super::c_mpi::latency_am, bandwidth: super::c_mpi::bandwidth_am, layer: "mpi" }
            }
            #[cfg(not(feature = "mpi"))]
            Model::Mpi | Model::CMpi | Model::CMpiAm => unreachable!("rejected by check_model"),
        }
    }
}

/// Runs the model and, on the root, checks what it returned.
fn measure<P>(run: fn(&P) -> Measured, params: &P, steps: &[Step], runs: usize) -> Measured {
    let timings = run(params)?;
    if let RankResult::Root(t) = &timings {
        super::check_timings(steps, runs, t)?;
    }
    Ok(timings)
}

/// The header fields both benchmarks fill alike (a pair of PEs, no `via`).
fn run_info<'a>(
    benchmark: &'a str,
    model: Model,
    command: String,
    machine: &'a MachineInfo,
    runs: usize,
) -> RunInfo<'a> {
    let layer = model.fns().layer;
    RunInfo {
        benchmark,
        command,
        model: model.name(),
        pes: super::PAIR,
        via: None,
        runs,
        iterations: String::new(),
        machine,
        layer,
    }
}

/// Runs the latency benchmark with validated parameters `p` (from
/// [`latency_params`]); the root gets the report. Errors are run-time
/// failures.
pub fn latency(a: &LatencyArgs, p: &LatencyParams, command: String, machine: &MachineInfo) -> Reported {
    let timings = measure(a.model.fns().latency, p, &p.steps, p.runs)?;
    let info = RunInfo {
        pes: p.pes,
        via: (a.model == Model::Chare).then_some(a.via),
        iterations: format!(
            "{} round trips per size up to 1 MiB, {} above; warmup {}",
            a.iters,
            super::latency_iters(a.iters, usize::MAX),
            a.warmup
        ),
        ..run_info("latency", a.model, command, machine, p.runs)
    };
    Ok(timings.map(|t| {
        let rows: Vec<LatencyRow> = t.iter().map(LatencyRow::from_timing).collect();
        super::latency_report(&info, &rows)
    }))
}

/// Runs the bandwidth benchmark with validated parameters `p` (from
/// [`bandwidth_params`]); the root gets the report. Errors are run-time
/// failures.
pub fn bandwidth(a: &BandwidthArgs, p: &BandwidthParams, command: String, machine: &MachineInfo) -> Reported {
    let timings = measure(a.model.fns().bandwidth, p, &p.steps, p.runs)?;
    let info = RunInfo {
        iterations: format!(
            "{} windows of {} per size up to 8 KiB, {} above; warmup {}; ack {} bytes",
            super::bandwidth_iters(a.iters, 1),
            p.window,
            a.iters,
            a.warmup,
            super::ACK_BYTES
        ),
        ..run_info("bandwidth", a.model, command, machine, p.runs)
    };
    Ok(timings.map(|t| {
        let rows: Vec<BandwidthRow> = t.iter().map(|t| BandwidthRow::from_timing(t, p.window)).collect();
        super::bandwidth_report(&info, &rows)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    enum T {
        Latency(LatencyArgs),
        Bandwidth(BandwidthArgs),
    }

    fn latency_args(args: &[&str]) -> LatencyArgs {
        match T::try_parse_from([&["t", "latency"], args].concat()).unwrap() {
            T::Latency(a) => a,
            T::Bandwidth(_) => unreachable!(),
        }
    }

    fn bandwidth_args(args: &[&str]) -> BandwidthArgs {
        match T::try_parse_from([&["t", "bandwidth"], args].concat()).unwrap() {
            T::Bandwidth(a) => a,
            T::Latency(_) => unreachable!(),
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
    fn raw_model_reports_on_the_root() {
        let m = MachineInfo { cores: 2, cpu_model: "cpu".into(), hostname: "h".into() };
        let a = latency_args(&["--model", "raw", "--max-size", "4", "--iters", "5", "--warmup", "1"]);
        let p = latency_params(&a).unwrap();
        let r = latency(&a, &p, "x".into(), &m).unwrap().root().unwrap();
        assert_eq!(r.rows.len(), 3);
        assert!(r.header.contains(&"layer: local".to_string()));
    }
}
