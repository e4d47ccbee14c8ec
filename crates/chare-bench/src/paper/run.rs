//! `chare-bench paper [--quick] [--out DIR] [--pes LIST] [--only LIST]`:
//! every CPU experiment of PAPER.md, for every model and layer this machine
//! can run, then the report (`report.md`, `report.html`, `figures/`, built
//! by [`super::report`]).
//!
//! # The plan
//! The run is a list of steps ([`Step`]), each one child process that
//! writes one CSV file into DIR under a fixed name:
//!
//! | experiment | file | child |
//! |---|---|---|
//! | `stream` | `stream/stream-t<T>.csv` | `chare-bench stream --threads T` (T = 1 and the core count) |
//! | `latency` | `latency/latency-<series>.<r>.csv` | `chare-bench latency --model ... --runs 1` |
//! | `bandwidth` | `bandwidth/bandwidth-<series>.<r>.csv` | `chare-bench bandwidth --model ... --runs 1` |
//! | `stencil-strong` | `stencil/strong-<series>-p<P>.<r>.csv` | `chare-bench stencil --pes P --verify` |
//! | `stencil-weak` | `stencil/weak-<series>-p<P>.<r>.csv` | the same, each PE keeping one block |
//! | `pic` | `pic/pic-<variant>-p<P>.<r>.csv` | `chare-bench pic --pes P` |
//! | `lb` | `lb/lb-<layer>.csv` | `chare-bench lb` (its strategies interleaved inside) |
//! | `lb-cost` | `lb/lb-cost-<layer>.csv` | `chare-bench lb --cost-only` |
//!
//! `<r>` is the round: round `r` of every series runs before round `r + 1`
//! of any (A B A B), so that the slow and fast periods of a shared machine
//! hit every model alike; [`super::report`] pools the files `name.1.csv`,
//! `name.2.csv`, ... of a series into one set of samples.
//!
//! Series of `latency` and `bandwidth`: `raw` (the local layer's floor),
//! `chare-local` and `chare-local-entry` (the runtime on threads, through a
//! channel and through entry methods), `chare-mpi` (the runtime on its MPI
//! layer, under `mpirun -np 2`), `mpi` (rsmpi), `c-mpi` (C MPI; not its
//! message-driven `c-mpi-am`, a floor rather than a model of the paper), `mpi4py` (the
//! peer `peers/python/osu_mpi4py.py` under mpirun) and `charm4py` (the
//! peer `peers/python/osu_charm4py.py` started with `python3 -m
//! charmrun.start +p2 ... ++quiet +quiet`).
//! Stencil series: `mpi`, `chare` (local layer), `chare-mpi` (plus `chare`
//! at ODF 2 and 8 in the full run), `mpi4py` (`stencil_mpi4py.py` under
//! mpirun) and `charm4py` (`stencil_charm4py.py`, ODF 1). PIC variants, the
//! paper's four in our models: `mpi`, `chare` (ODF 1), `chare-o` (ODF 8),
//! `chare-o-lb` (ODF 8, greedy balancing), run as `chare-bench pic`
//! children (the chare ones on the local layer; the report pools PIC rows by
//! model, ODF and balancer, not by layer, so the MPI layer's would mix with
//! them); and in the peers: `mpi4py` (`pic_mpi4py.py`), `charm4py`,
//! `charm4py-o`, `charm4py-o-lb` (`pic_charm4py.py`, the last with Charm++'s
//! `GreedyRefineLB`, the paper's greedy-refine). `pic-sweep` is not used:
//! one `pic` child per run gives one resumable file per run. The peers are
//! described in docs/peers.md.
//!
//! # Prerequisites
//! A step whose prerequisite is missing (the `mpi` feature, `mpirun`, the
//! C program `osu_pingpong`, Python with mpi4py and numpy, Charm4Py and
//! its launcher, a peer program, the chare model of `pic`) is not run: one
//! line per series says
//! why, on stderr, in the summary, and in the report's section "Steps of
//! chare-bench paper".
//!
//! # Resumption and interruption
//! A step whose file exists is done and is not run again: a second run of
//! the same command does no work. A child writes into a hidden temporary
//! file beside its target (`.NAME.csv.tmp`); only when it succeeded, and
//! its output parses and is the experiment expected, gets the header lines
//! below added and is renamed into place. Ctrl-C therefore leaves complete
//! CSVs only (temporary files of an interrupted run are removed by the
//! next). A failed step leaves `logs/NAME.log` (its standard error) and no
//! CSV; the other steps go on, and the exit status is 1.
//!
//! # What every CSV carries
//! The child's own header (its command line, CPU, cores, host,
//! oversubscription), and after the title: `paper command:` (this
//! command), `paper step:` (experiment, series, PEs, round, the child's
//! command line), `mpi library:` and a note of the versions (chare-bench
//! and its git commit, rustc, the MPI library, Python, mpi4py, numpy,
//! Charm4Py), which the report's "Machine and versions" table lists. PIC
//! files of the chare variants also get `odf:` and `balancer:`, which name
//! their series in the report.
//!
//! # Sizes
//! `--quick` (a few minutes on 2 cores, every figure): 3 rounds, OSU
//! sizes 1 B .. 4 MiB with 200 round trips (latency) and 5 windows
//! (bandwidth), stencil 2048² strong and 1024² per PE weak with 50
//! iterations, PIC on a 1000² grid with 200,000 particles for 100 steps
//! (balancing every 20), `lb` with 20 iterations and 2 runs; the Python
//! peers (mpi4py, Charm4Py) in the first 2 rounds only, at the same sizes,
//! except Charm4Py's OSU runs with 10 round trips (latency) and 1 window
//! without warm-up (bandwidth): its large messages take milliseconds each
//! here (seconds per 64-message window of 4 MiB). The full run: 5 rounds,
//! the paper's iteration counts for OSU, stencil 4096² strong and 2048² per
//! PE weak with 100 iterations (and ODF 2 and 8 for the chare series),
//! PIC with the paper's grid (5998²) and particles (600,000) for 200 steps
//! (balancing every 20), `lb` with 40 iterations and 3 runs. `--pes`
//! sets the PE counts of stencil and PIC (default 1, 2 and the core count;
//! counts above the core count run oversubscribed and are marked so in the
//! files and the plan). `--rounds` overrides the rounds.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use clap::Args;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::csv::Table;
use super::doc::Doc;
use super::report::{classify, Kind};

/// Options of `chare-bench paper`.
#[derive(Debug, Clone, Args)]
pub struct PaperArgs {
    /// Small sizes and few rounds: a few minutes on 2 cores, every figure.
    #[arg(long)]
    pub quick: bool,
    /// Directory of the CSV files and the report (steps whose file is
    /// there already are not run again).
    #[arg(long, default_value = "results/paper")]
    pub out: PathBuf,
    /// PE counts of the scaling experiments (stencil, PIC), comma-separated
    /// [default: 1, 2 and the number of cores].
    #[arg(long, value_delimiter = ',')]
    pub pes: Vec<usize>,
    /// Only these experiments, comma-separated: stream, latency, bandwidth,
    /// stencil-strong, stencil-weak (or stencil for both), pic, lb, lb-cost.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Rounds of the repeated experiments [default: 3 with --quick, else 5].
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Seconds one step may take before it is stopped and counted failed
    /// [default: 300 with --quick, else 3600].
    #[arg(long)]
    pub step_timeout: Option<u64>,
    /// Print the plan (each step: done, to run, or unavailable and why)
    /// and run nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not build the report at the end.
    #[arg(long)]
    pub no_report: bool,
}

/// The experiments this command runs, by the report's ids.
pub const EXPERIMENTS: [&str; 8] =
    ["stream", "latency", "bandwidth", "stencil-strong", "stencil-weak", "pic", "lb", "lb-cost"];

/// Checks the options (usage errors).
pub fn check(a: &PaperArgs) -> Result<(), String> {
    if crate::launch::under_launcher() {
        return Err("paper starts its own processes and mpirun jobs; run it without a launcher".into());
    }
    if a.pes.iter().any(|&p| p == 0 || p > 64) {
        return Err("--pes must list PE counts from 1 to 64".into());
    }
    if a.rounds == Some(0) || a.step_timeout == Some(0) {
        return Err("--rounds and --step-timeout must be at least 1".into());
    }
    experiments(&a.only)?;
    Ok(())
}

/// The experiments selected by `--only` (all when empty).
fn experiments(only: &[String]) -> Result<Vec<&'static str>, String> {
    if only.is_empty() {
        return Ok(EXPERIMENTS.to_vec());
    }
    let mut out = Vec::new();
    for o in only {
        let o = o.trim();
        let ids: Vec<&'static str> = match o {
            "stencil" => vec!["stencil-strong", "stencil-weak"],
            "gpu" => {
                return Err("experiment gpu has no chare-bench subcommand yet (this command runs the CPU ones)".into())
            }
            _ => match EXPERIMENTS.iter().find(|e| **e == o) {
                Some(e) => vec![*e],
                None => {
                    return Err(format!(
                        "--only: unknown experiment `{o}` (known: {}, stencil)",
                        EXPERIMENTS.join(", ")
                    ))
                }
            },
        };
        for id in ids {
            if !out.contains(&id) {
                out.push(id);
            }
        }
    }
    // In the plan's order, whatever the order given.
    out.sort_by_key(|id| EXPERIMENTS.iter().position(|e| e == id));
    Ok(out)
}

/// The sizes of one mode (quick or full).
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    /// Rounds of the repeated experiments.
    pub rounds: usize,
    /// Largest OSU message (bytes).
    pub osu_max: usize,
    /// Latency round trips and warm-up.
    pub lat_iters: usize,
    /// Latency warm-up round trips.
    pub lat_warmup: usize,
    /// Bandwidth windows (above 8 KiB; 10x below).
    pub bw_iters: usize,
    /// Bandwidth warm-up windows.
    pub bw_warmup: usize,
    /// Strong scaling: the global grid's side before rounding to the
    /// process grids.
    pub strong_side: usize,
    /// Weak scaling: each PE's block side.
    pub weak_block: usize,
    /// Stencil timed and warm-up iterations.
    pub stencil_iters: usize,
    /// Stencil warm-up iterations.
    pub stencil_warmup: usize,
    /// Overdecomposition factors above 1 of extra chare/local strong series.
    pub stencil_odfs: Vec<usize>,
    /// PIC grid side (even).
    pub pic_grid: usize,
    /// PIC particles.
    pub pic_particles: u64,
    /// PIC timed steps.
    pub pic_iters: usize,
    /// PIC chares per PE of the (O) variants.
    pub pic_odf: usize,
    /// PIC steps between balancing steps.
    pub pic_lb_period: usize,
    /// `lb` iterations.
    pub lb_iters: usize,
    /// `lb` runs per strategy.
    pub lb_runs: usize,
    /// `lb --cost-only` steps.
    pub lb_cost_steps: usize,
    /// STREAM elements per array.
    pub stream_elements: usize,
    /// STREAM repetitions.
    pub stream_reps: usize,
    /// Longest a step may take.
    pub timeout: Duration,
    /// Rounds of the Python peers (mpi4py, Charm4Py): their rounds are the
    /// first ones of the others, interleaved as theirs.
    pub peer_rounds: usize,
    /// Charm4Py's OSU latency round trips and warm-up (its large messages
    /// are slow: milliseconds each on 2 cores).
    pub charm_lat_iters: (usize, usize),
    /// Charm4Py's OSU bandwidth windows and warm-up.
    pub charm_bw_iters: (usize, usize),
}

impl Params {
    /// The sizes of `--quick` or of the full run.
    pub fn new(quick: bool) -> Params {
        if quick {
            Params {
                rounds: 3,
                osu_max: 4 << 20,
                lat_iters: 200,
                lat_warmup: 20,
                bw_iters: 5,
                bw_warmup: 1,
                strong_side: 2048,
                weak_block: 1024,
                stencil_iters: 50,
                stencil_warmup: 5,
                stencil_odfs: Vec::new(),
                pic_grid: 1000,
                pic_particles: 200_000,
                pic_iters: 100,
                pic_odf: 8,
                pic_lb_period: 20,
                lb_iters: 20,
                lb_runs: 2,
                lb_cost_steps: 3,
                stream_elements: 1 << 22,
                stream_reps: 3,
                timeout: Duration::from_secs(300),
                peer_rounds: 2,
                charm_lat_iters: (10, 1),
                charm_bw_iters: (1, 0),
            }
        } else {
            Params {
                rounds: 5,
                osu_max: 4 << 20,
                lat_iters: 1000,
                lat_warmup: 60,
                bw_iters: 100,
                bw_warmup: 10,
                strong_side: 4096,
                weak_block: 2048,
                stencil_iters: 100,
                stencil_warmup: 10,
                stencil_odfs: vec![2, 8],
                pic_grid: 5998,
                pic_particles: 600_000,
                pic_iters: 200,
                pic_odf: 8,
                pic_lb_period: 20,
                lb_iters: 40,
                lb_runs: 3,
                lb_cost_steps: 10,
                stream_elements: 1 << 25,
                stream_reps: 10,
                timeout: Duration::from_secs(3600),
                peer_rounds: 5,
                charm_lat_iters: (1000, 60),
                charm_bw_iters: (100, 10),
            }
        }
    }
}

/// What a step needs beyond this program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Need {
    /// Nothing.
    Nothing,
    /// The `mpi` feature and a working `mpirun`.
    Mpi,
    /// That and the C program `osu_pingpong`.
    CMpi,
    /// That and Python with mpi4py and numpy, and the OSU peer.
    Mpi4py,
    /// Python with Charm4Py, and the OSU peer.
    Charm4py,
    /// `chare-bench pic --model chare` (being written beside this).
    PicChare,
}

impl Need {
    /// Whether the step runs a Python peer (mpi4py, Charm4Py).
    pub fn is_peer(self) -> bool {
        matches!(self, Need::Mpi4py | Need::Charm4py)
    }
}

/// How a step's child is started.
#[derive(Debug, Clone, PartialEq)]
pub enum Launch {
    /// chare-bench itself with these arguments (its MPI models start
    /// themselves under mpirun).
    Bench(Vec<String>),
    /// chare-bench under `mpirun -np N` (the runtime's MPI layer).
    BenchMpirun(usize, Vec<String>),
    /// A Python peer (file name in the peers' python folder) under
    /// `mpirun -np N`.
    PeerMpirun(usize, String, Vec<String>),
    /// A Charm4Py peer: `python3 -m charmrun.start +pN peer args`.
    PeerCharm(usize, String, Vec<String>),
}

/// One child process and the CSV file it writes.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// Experiment id (the report's).
    pub experiment: &'static str,
    /// Series (model and layer, or variant).
    pub series: String,
    /// PEs (processes or threads) of the child.
    pub pes: usize,
    /// Round (1-based), 0 for the experiments without rounds.
    pub round: usize,
    /// The file, relative to DIR.
    pub file: String,
    /// The child.
    pub launch: Launch,
    /// What the file must hold.
    pub expect: Kind,
    /// The prerequisite.
    pub need: Need,
    /// Header lines added to the file (besides the provenance lines).
    pub meta: Vec<String>,
    /// Estimated seconds (the progress bar's weights).
    pub cost: f64,
}

impl Step {
    /// A one-line name: `latency chare-mpi round 1`.
    pub fn label(&self) -> String {
        let mut s = format!("{} {}", self.experiment, self.series);
        if matches!(self.experiment, "stencil-strong" | "stencil-weak" | "pic") {
            let _ = write!(s, " {} PE{}", self.pes, if self.pes == 1 { "" } else { "s" });
        }
        if self.round > 0 {
            let _ = write!(s, " round {}", self.round);
        }
        s
    }

    /// The command line of the child, as shown (program names short).
    pub fn command(&self) -> String {
        let (pre, args): (String, &Vec<String>) = match &self.launch {
            Launch::Bench(a) => ("chare-bench".into(), a),
            Launch::BenchMpirun(np, a) => (format!("mpirun -np {np} chare-bench"), a),
            Launch::PeerMpirun(np, peer, a) => (format!("mpirun -np {np} python3 {peer}"), a),
            Launch::PeerCharm(np, peer, a) => (format!("python3 -m charmrun.start +p{np} {peer} {CHARM_QUIET}"), a),
        };
        std::iter::once(pre).chain(args.iter().cloned()).collect::<Vec<_>>().join(" ")
    }
}

/// A series not run, and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Skipped {
    /// Experiment id.
    pub experiment: String,
    /// Series.
    pub series: String,
    /// Why.
    pub reason: String,
}

/// `mpirun` as found on this machine.
#[derive(Debug, Clone, PartialEq)]
pub struct Mpirun {
    /// The program (`$MPIRUN`, default `mpirun`).
    pub program: String,
    /// Whether it is Open MPI's (root needs its permission variables).
    pub open_mpi: bool,
    /// The library and version, e.g. `Open MPI 4.1.4`.
    pub library: String,
}

impl Mpirun {
    /// Finds `mpirun` the way `crate::launch` starts it (`$MPIRUN`, Open
    /// MPI recognised by `--version`).
    fn detect() -> Result<Mpirun, String> {
        let program = std::env::var("MPIRUN").unwrap_or_else(|_| "mpirun".into());
        let out = Command::new(&program)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("`{program}` cannot be started ({e}); scripts/setup-mpi.sh installs Open MPI"))?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        Ok(Mpirun { open_mpi: text.contains("Open MPI"), library: mpi_library(&text), program })
    }

    /// `mpirun -np N` with what this machine needs: as `crate::launch`
    /// does, permission to run as root (Open MPI), and `--oversubscribe`
    /// above the core count, else one rank per core.
    fn command(&self, np: usize, cores: usize) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.arg("-np").arg(np.to_string());
        if self.open_mpi {
            cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
            if np > cores {
                cmd.arg("--oversubscribe");
            } else {
                cmd.args(["--bind-to", "core"]);
            }
        }
        cmd
    }
}

/// The MPI library and version from `mpirun --version`'s text.
pub fn mpi_library(text: &str) -> String {
    let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or("unknown");
    if let Some(rest) = first.split("(Open MPI)").nth(1) {
        return format!("Open MPI {}", rest.trim());
    }
    if text.contains("HYDRA") || text.contains("MPICH") {
        let v = text.lines().find_map(|l| l.trim().strip_prefix("Version:")).map(str::trim).unwrap_or("?");
        return format!("MPICH {v}");
    }
    first.to_string()
}

/// What this machine has, found once per run.
#[derive(Debug, Clone)]
pub struct Env {
    /// This program.
    pub exe: PathBuf,
    /// Cores.
    pub cores: usize,
    /// mpirun, or why not (the `mpi` feature included).
    pub mpi: Result<Mpirun, String>,
    /// The C program of `c-mpi`, or why not.
    pub c_mpi: Result<PathBuf, String>,
    /// Folder of the Python peers.
    pub peers: PathBuf,
    /// `Python X, mpi4py Y, numpy Z`, or why not.
    pub mpi4py: Result<String, String>,
    /// `Charm4Py X`, or why not.
    pub charm4py: Result<String, String>,
    /// Whether `pic --model chare` runs, or why not.
    pub pic_chare: Result<(), String>,
    /// The note of versions in every file.
    pub versions: String,
}

/// The first line of a command's output, if it ran and succeeded.
fn output_of(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).stdin(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// Python's interpreter for the peers (`$CHARE_PYTHON`, default `python3`).
fn python() -> String {
    std::env::var("CHARE_PYTHON").unwrap_or_else(|_| "python3".into())
}

impl Env {
    /// Looks at the machine. With `probe_pic`, runs a tiny `pic --model
    /// chare` to learn whether that model exists in this build.
    pub fn detect(probe_pic: bool) -> Env {
        let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("chare-bench"));
        let cores = crate::machine_info::MachineInfo::detect().cores;
        let mpi = if cfg!(feature = "mpi") {
            Mpirun::detect()
        } else {
            Err("this chare-bench was built without the `mpi` feature (cargo build --features mpi)".into())
        };
        let c_mpi = match &mpi {
            Err(e) => Err(e.clone()),
            Ok(_) => {
                let p = std::env::var_os("CHARE_OSU_C").map(PathBuf::from).unwrap_or_else(|| {
                    exe.parent().and_then(Path::parent).map_or_else(PathBuf::new, |t| t.join("peers/osu_pingpong"))
                });
                if p.is_file() {
                    Ok(p)
                } else {
                    Err(format!("the C program {} is not built (scripts/setup-mpi.sh builds it)", p.display()))
                }
            }
        };
        let peers = std::env::var_os("CHARE_PEERS")
            .map(PathBuf::from)
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("peers"))
            .join("python");
        let py = python();
        let mpi4py = match &mpi {
            Err(e) => Err(e.clone()),
            Ok(_) => output_of(
                &py,
                &[
                    "-c",
                    "import sys, mpi4py, numpy; print(sys.version.split()[0], mpi4py.__version__, numpy.__version__)",
                ],
            )
            .and_then(|v| {
                let v: Vec<&str> = v.split_whitespace().collect();
                (v.len() == 3).then(|| format!("Python {}, mpi4py {}, numpy {}", v[0], v[1], v[2]))
            })
            .ok_or_else(|| format!("`{py}` cannot import mpi4py and numpy (pip install mpi4py numpy)")),
        };
        // Importing charm4py without starting it prints a line on stdout
        // at exit: the version is the first line.
        let charm4py = output_of(
            &py,
            &["-c", "import numpy, charm4py, charmrun.start, importlib.metadata as m; print(m.version('charm4py'))"],
        )
        .and_then(|v| v.lines().next().map(|l| format!("Charm4Py {}", l.trim())))
        .ok_or_else(|| {
            format!("`{py}` cannot import charm4py, its launcher charmrun and numpy (pip install charm4py)")
        });
        let pic_chare = if probe_pic { probe_pic_chare(&exe) } else { Ok(()) };
        let mut v = vec![format!("chare-bench {}", env!("CARGO_PKG_VERSION"))];
        if let Some(h) = output_of("git", &["-C", env!("CARGO_MANIFEST_DIR"), "rev-parse", "--short", "HEAD"]) {
            v[0].push_str(&format!(" (git {h})"));
        }
        if let Some(r) = output_of("rustc", &["--version"]) {
            v.push(format!("rustc {}", r.split_whitespace().nth(1).unwrap_or("?")));
        }
        match &mpi {
            Ok(m) => v.push(m.library.clone()),
            Err(_) => v.push("no MPI".into()),
        }
        if let Ok(p) = &mpi4py {
            v.push(p.clone());
        }
        if let Ok(c) = &charm4py {
            v.push(c.clone());
        }
        Env { exe, cores, mpi, c_mpi, peers, mpi4py, charm4py, pic_chare, versions: v.join(", ") }
    }

    /// Why a step with this need cannot run here, or `None`.
    pub fn missing(&self, need: Need, peer: Option<&str>) -> Option<String> {
        let peer_missing = || {
            let p = self.peers.join(peer?);
            (!p.is_file()).then(|| format!("no peer program {}", p.display()))
        };
        match need {
            Need::Nothing => None,
            Need::Mpi => self.mpi.as_ref().err().cloned(),
            Need::CMpi => self.c_mpi.as_ref().err().cloned(),
            Need::Mpi4py => self.mpi4py.as_ref().err().cloned().or_else(peer_missing),
            Need::Charm4py => match (peer_missing(), self.charm4py.as_ref().err()) {
                (Some(p), Some(c)) => Some(format!("{p}, and {c}")),
                (p, c) => p.or(c.cloned()),
            },
            Need::PicChare => self.pic_chare.as_ref().err().cloned(),
        }
    }
}

/// Runs `pic --model chare` on a tiny grid: whether this build has it.
fn probe_pic_chare(exe: &Path) -> Result<(), String> {
    let args = ["pic", "--model", "chare", "--pes", "1", "--grid", "8", "--particles", "16", "--iters", "1"];
    let out = Command::new(exe)
        .args(args)
        .args(["--format", "csv"])
        .env_remove("CHARE_MACHINE")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let line = err.lines().find(|l| !l.trim().is_empty()).unwrap_or("no message").trim();
        Err(format!("`chare-bench pic --model chare` does not run in this build ({line})"))
    }
}

/// The default PE counts: 1, 2 and the core count.
pub fn default_pes(cores: usize) -> Vec<usize> {
    let mut v = vec![1, 2, cores.max(1)];
    v.sort_unstable();
    v.dedup();
    v
}

fn gcd(a: usize, b: usize) -> usize {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

/// `v` rounded up to a multiple of `k`.
fn round_up(v: usize, k: usize) -> usize {
    v.div_ceil(k) * k
}

/// The strong-scaling grid: `side` rounded up so that every point's process
/// grid (PEs times ODF) divides it.
pub fn strong_grid(side: usize, parts: &[usize]) -> (usize, usize) {
    let (mut lx, mut ly) = (1, 1);
    for &p in parts {
        let (x, y) = crate::stencil::grid::factor(p);
        lx = lx / gcd(lx, x) * x;
        ly = ly / gcd(ly, y) * y;
    }
    (round_up(side, lx), round_up(side, ly))
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// An OSU series: its name in file names, and what it needs (how it is
/// started is decided in [`plan`]).
struct OsuSeries {
    name: &'static str,
    need: Need,
}

const OSU_SERIES: [OsuSeries; 7] = [
    OsuSeries { name: "raw", need: Need::Nothing },
    OsuSeries { name: "chare-local", need: Need::Nothing },
    OsuSeries { name: "chare-local-entry", need: Need::Nothing },
    OsuSeries { name: "chare-mpi", need: Need::Mpi },
    OsuSeries { name: "mpi", need: Need::Mpi },
    OsuSeries { name: "c-mpi", need: Need::CMpi },
    OsuSeries { name: "mpi4py", need: Need::Mpi4py },
];

/// The peer programs (in the peers' python folder).
const MPI4PY_OSU: &str = "osu_mpi4py.py";
const CHARM4PY_OSU: &str = "osu_charm4py.py";
const MPI4PY_STENCIL: &str = "stencil_mpi4py.py";
const CHARM4PY_STENCIL: &str = "stencil_charm4py.py";
const MPI4PY_PIC: &str = "pic_mpi4py.py";
const CHARM4PY_PIC: &str = "pic_charm4py.py";

/// What a Charm4Py peer's command line gets after the program: no
/// start-up banner from charmrun (`++quiet`) nor from Charm++ (`+quiet`),
/// so that standard output is the CSV alone.
const CHARM_QUIET: &str = "++quiet +quiet";

/// Charm++'s balancer of the Charm4Py (O, LB) PIC variant: the paper's
/// (TreeLB's greedy-refine strategy; GreedyRefineLB in Charm++'s wheel).
const CHARM4PY_BALANCER: &str = "GreedyRefineLB";

/// The whole plan: the steps this machine can run, and the series it
/// cannot (with the reason).
pub fn plan(only: &[&'static str], p: &Params, pes: &[usize], env: &Env) -> (Vec<Step>, Vec<Skipped>) {
    let mut steps = Vec::new();
    let mut skipped: Vec<Skipped> = Vec::new();
    let mut skip = |experiment: &str, series: &str, reason: String| {
        let s = Skipped { experiment: experiment.into(), series: series.into(), reason };
        if !skipped.contains(&s) {
            skipped.push(s);
        }
    };
    let mpi_cost = if p.timeout.as_secs() > 600 { 10.0 } else { 1.0 };
    for &exp in only {
        match exp {
            "stream" => {
                let mut threads = vec![1];
                if env.cores > 1 {
                    threads.push(env.cores);
                }
                for t in threads {
                    let args = vec![
                        "stream".to_string(),
                        "--threads".into(),
                        t.to_string(),
                        "--elements".into(),
                        p.stream_elements.to_string(),
                        "--reps".into(),
                        p.stream_reps.to_string(),
                        "--format".into(),
                        "csv".into(),
                    ];
                    steps.push(Step {
                        experiment: exp,
                        series: format!("{t} thread{}", if t == 1 { "" } else { "s" }),
                        pes: t,
                        round: 0,
                        file: format!("stream/stream-t{t}.csv"),
                        launch: Launch::Bench(args),
                        expect: Kind::Stream,
                        need: Need::Nothing,
                        meta: Vec::new(),
                        cost: 0.5 * mpi_cost,
                    });
                }
            }
            "latency" | "bandwidth" => {
                let lat = exp == "latency";
                let expect = if lat { Kind::Latency } else { Kind::Bandwidth };
                let mut opts = strings(&["--min-size", "1"]);
                opts.extend(["--max-size".into(), p.osu_max.to_string()]);
                let (iters, warmup) = if lat { (p.lat_iters, p.lat_warmup) } else { (p.bw_iters, p.bw_warmup) };
                opts.extend(["--iters".into(), iters.to_string(), "--warmup".into(), warmup.to_string()]);
                if !lat {
                    opts.extend(strings(&["--window", "64"]));
                }
                opts.extend(strings(&["--runs", "1", "--format", "csv"]));
                let bench = |model: &str, extra: &[&str]| -> Vec<String> {
                    let mut a = strings(&[exp, "--model", model]);
                    a.extend(strings(extra));
                    a.extend(opts.iter().cloned());
                    a
                };
                let mut series: Vec<(&str, Need, Launch, f64)> = Vec::new();
                for s in &OSU_SERIES {
                    let (launch, cost) = match s.name {
                        "raw" => (Launch::Bench(bench("raw", &[])), 0.3),
                        "chare-local" if lat => (Launch::Bench(bench("chare", &["--via", "channel"])), 0.3),
                        "chare-local" => (Launch::Bench(bench("chare", &[])), 0.3),
                        "chare-local-entry" => {
                            if !lat {
                                continue; // bandwidth has no entry-method variant
                            }
                            (Launch::Bench(bench("chare", &["--via", "entry"])), 0.3)
                        }
                        "chare-mpi" => (Launch::BenchMpirun(2, bench("chare", &[])), 2.0),
                        "mpi" => (Launch::Bench(bench("mpi", &[])), 2.0),
                        "c-mpi" => (Launch::Bench(bench("c-mpi", &[])), 2.0),
                        _ => {
                            let mut a = vec![exp.to_string()];
                            a.extend(opts.iter().cloned());
                            (Launch::PeerMpirun(2, MPI4PY_OSU.into(), a), 3.0)
                        }
                    };
                    series.push((s.name, s.need, launch, cost * mpi_cost));
                }
                skip(
                    exp,
                    "c-mpi-am",
                    "not planned: the floor of message-driven runtimes, not one of the paper's models \
                     (scripts/bench-mpi.sh runs it)"
                        .into(),
                );
                let (ci, cw) = if lat { p.charm_lat_iters } else { p.charm_bw_iters };
                let mut a = vec![exp.to_string()];
                a.extend(opts.iter().cloned());
                let at = |k: &str| a.iter().position(|x| x == k).map(|i| i + 1);
                if let (Some(i), Some(w)) = (at("--iters"), at("--warmup")) {
                    a[i] = ci.to_string();
                    a[w] = cw.to_string();
                }
                series.push(("charm4py", Need::Charm4py, Launch::PeerCharm(2, CHARM4PY_OSU.into(), a), 5.0 * mpi_cost));
                let peer = |n: Need| match n {
                    Need::Mpi4py => Some(MPI4PY_OSU),
                    Need::Charm4py => Some(CHARM4PY_OSU),
                    _ => None,
                };
                let available: Vec<_> = series
                    .into_iter()
                    .filter(|(name, need, _, _)| match env.missing(*need, peer(*need)) {
                        Some(why) => {
                            skip(exp, name, why);
                            false
                        }
                        None => true,
                    })
                    .collect();
                for r in 1..=p.rounds {
                    for (name, need, launch, cost) in &available {
                        if need.is_peer() && r > p.peer_rounds {
                            continue;
                        }
                        steps.push(Step {
                            experiment: exp,
                            series: name.to_string(),
                            pes: 2,
                            round: r,
                            file: format!("{exp}/{exp}-{name}.{r}.csv"),
                            launch: launch.clone(),
                            expect: expect.clone(),
                            need: *need,
                            meta: Vec::new(),
                            cost: *cost,
                        });
                    }
                }
            }
            "stencil-strong" | "stencil-weak" => {
                let strong = exp == "stencil-strong";
                let kind = if strong { "strong" } else { "weak" };
                // (file series, model, odf, how, need): `how` is chare-bench
                // itself (None), under mpirun (Some("")), or a Python peer.
                let mut series: Vec<(String, &str, usize, Option<&str>, Need)> = vec![
                    ("mpi".into(), "mpi", 1, None, Need::Mpi),
                    ("chare".into(), "chare", 1, None, Need::Nothing),
                    ("chare-mpi".into(), "chare", 1, Some(""), Need::Mpi),
                    ("mpi4py".into(), "mpi4py", 1, Some(MPI4PY_STENCIL), Need::Mpi4py),
                    ("charm4py".into(), "charm4py", 1, Some(CHARM4PY_STENCIL), Need::Charm4py),
                ];
                if strong {
                    for &k in &p.stencil_odfs {
                        series.push((format!("chare-odf{k}"), "chare", k, None, Need::Nothing));
                    }
                }
                series.retain(|(name, _, _, how, need)| match env.missing(*need, how.filter(|h| !h.is_empty())) {
                    Some(why) => {
                        skip(exp, name, why);
                        false
                    }
                    None => true,
                });
                let parts: Vec<usize> =
                    pes.iter().flat_map(|&q| series.iter().map(move |(_, _, odf, _, _)| q * odf)).collect();
                let (sn, sm) = strong_grid(p.strong_side, &parts);
                for r in 1..=p.rounds {
                    for &q in pes {
                        for (name, model, odf, how, need) in &series {
                            if need.is_peer() && r > p.peer_rounds {
                                continue;
                            }
                            let (n, m) = if strong {
                                (sn, sm)
                            } else {
                                let (x, y) = crate::stencil::grid::factor(q);
                                (p.weak_block * x, p.weak_block * y)
                            };
                            let mut a = match how {
                                None | Some("") => strings(&["stencil", "--model", model]),
                                Some(_) => Vec::new(),
                            };
                            if how.is_none_or(|h| h.is_empty()) {
                                a.extend(["--pes".into(), q.to_string()]);
                            }
                            for (k, v) in [
                                ("--n", n),
                                ("--m", m),
                                ("--iters", p.stencil_iters),
                                ("--warmup", p.stencil_warmup),
                                ("--runs", 1),
                            ] {
                                a.extend([k.to_string(), v.to_string()]);
                            }
                            if *model == "chare" || *model == "charm4py" {
                                a.extend(["--odf".into(), odf.to_string()]);
                            }
                            a.extend(strings(&["--verify", "--format", "csv"]));
                            let launch = match (how, *need) {
                                (None, _) => Launch::Bench(a),
                                (Some(""), _) => Launch::BenchMpirun(q, a),
                                (Some(peer), Need::Charm4py) => Launch::PeerCharm(q, peer.to_string(), a),
                                (Some(peer), _) => Launch::PeerMpirun(q, peer.to_string(), a),
                            };
                            let work = (n * m) as f64 * (p.stencil_iters + p.stencil_warmup) as f64 * 1e-9;
                            let (scale, start) = match *need {
                                Need::Mpi => (1.0, 1.0),
                                Need::Mpi4py | Need::Charm4py => (3.0, 1.5),
                                _ => (1.0, 0.1),
                            };
                            steps.push(Step {
                                experiment: exp,
                                series: name.clone(),
                                pes: q,
                                round: r,
                                file: format!("stencil/{kind}-{name}-p{q}.{r}.csv"),
                                launch,
                                expect: Kind::StencilPoint,
                                need: *need,
                                meta: Vec::new(),
                                cost: work * scale + start,
                            });
                        }
                    }
                }
            }
            "pic" => {
                // (variant, model, odf, balancer, need, peer program)
                let variants: [(&str, &str, usize, Option<&str>, Need, Option<&str>); 8] = [
                    ("mpi", "mpi", 1, None, Need::Mpi, None),
                    ("chare", "chare", 1, Some("none"), Need::PicChare, None),
                    ("chare-o", "chare", p.pic_odf, Some("none"), Need::PicChare, None),
                    ("chare-o-lb", "chare", p.pic_odf, Some("greedy"), Need::PicChare, None),
                    ("mpi4py", "mpi4py", 1, None, Need::Mpi4py, Some(MPI4PY_PIC)),
                    ("charm4py", "charm4py", 1, Some("none"), Need::Charm4py, Some(CHARM4PY_PIC)),
                    ("charm4py-o", "charm4py", p.pic_odf, Some("none"), Need::Charm4py, Some(CHARM4PY_PIC)),
                    (
                        "charm4py-o-lb",
                        "charm4py",
                        p.pic_odf,
                        Some(CHARM4PY_BALANCER),
                        Need::Charm4py,
                        Some(CHARM4PY_PIC),
                    ),
                ];
                let available: Vec<_> = variants
                    .into_iter()
                    .filter(|(name, _, _, _, need, peer)| match env.missing(*need, *peer) {
                        Some(why) => {
                            skip(exp, name, why);
                            false
                        }
                        None => true,
                    })
                    .collect();
                skip(
                    exp,
                    "chare variants on the MPI layer",
                    "not planned: the report pools PIC rows by model, ODF and balancer, not by layer".into(),
                );
                let work = p.pic_particles as f64 * (p.pic_iters + 1) as f64 * 30e-9;
                for r in 1..=p.rounds {
                    for &q in pes {
                        for (name, model, odf, balancer, need, peer) in &available {
                            if need.is_peer() && r > p.peer_rounds {
                                continue;
                            }
                            let mut a = match peer {
                                None => strings(&["pic", "--model", model, "--pes", &q.to_string()]),
                                Some(_) => Vec::new(),
                            };
                            for (k, v) in [
                                ("--grid", p.pic_grid.to_string()),
                                ("--particles", p.pic_particles.to_string()),
                                ("--iters", p.pic_iters.to_string()),
                            ] {
                                a.extend([k.to_string(), v]);
                            }
                            let mut meta = Vec::new();
                            if let Some(b) = balancer {
                                a.extend(["--odf".into(), odf.to_string()]);
                                if *b != "none" {
                                    if peer.is_some() {
                                        // Charm++ reads `+balancer`; the peer's own
                                        // `--balancer` names it in the output.
                                        a.extend([
                                            "+balancer".into(),
                                            b.to_string(),
                                            "--balancer".into(),
                                            b.to_string(),
                                        ]);
                                    } else {
                                        a.extend(["--balancer".into(), b.to_string()]);
                                    }
                                    a.extend(["--lb-period".into(), p.pic_lb_period.to_string()]);
                                }
                                meta.push(format!("odf: {odf}"));
                                meta.push(format!("balancer: {b}"));
                            }
                            a.extend(strings(&["--format", "csv"]));
                            let (launch, start, scale) = match (peer, need) {
                                (None, _) => (Launch::Bench(a), if *need == Need::Mpi { 1.0 } else { 0.2 }, 1.0),
                                (Some(f), Need::Charm4py) => (Launch::PeerCharm(q, f.to_string(), a), 2.0, 3.0),
                                (Some(f), _) => (Launch::PeerMpirun(q, f.to_string(), a), 2.0, 3.0),
                            };
                            steps.push(Step {
                                experiment: exp,
                                series: name.to_string(),
                                pes: q,
                                round: r,
                                file: format!("pic/pic-{name}-p{q}.{r}.csv"),
                                launch,
                                expect: Kind::Pic,
                                need: *need,
                                meta,
                                cost: scale * work / q.min(env.cores) as f64 + start,
                            });
                        }
                    }
                }
            }
            "lb" | "lb-cost" => {
                let cost_only = exp == "lb-cost";
                let q = env.cores.max(2);
                for (layer, need) in [("local", Need::Nothing), ("mpi", Need::Mpi)] {
                    if let Some(why) = env.missing(need, None) {
                        skip(exp, layer, why);
                        continue;
                    }
                    let mut a = strings(&["lb", "--layer", layer, "--pes"]);
                    a.push(q.to_string());
                    if cost_only {
                        a.extend(["--cost-only".into(), "--steps".into(), p.lb_cost_steps.to_string()]);
                    } else {
                        a.extend([
                            "--iters".into(),
                            p.lb_iters.to_string(),
                            "--runs".into(),
                            p.lb_runs.to_string(),
                            "--oracle".into(),
                        ]);
                    }
                    a.extend(strings(&["--format", "csv"]));
                    let cost = if cost_only {
                        0.3 + p.lb_cost_steps as f64 * 0.05
                    } else {
                        (p.lb_iters * p.lb_runs * 5) as f64 * 0.035 + 0.5
                    } + if need == Need::Mpi { 1.0 } else { 0.0 };
                    steps.push(Step {
                        experiment: exp,
                        series: layer.into(),
                        pes: q,
                        round: 0,
                        file: format!("lb/{exp}-{layer}.csv"),
                        launch: Launch::Bench(a),
                        expect: if cost_only { Kind::LbCost } else { Kind::Lb },
                        need,
                        meta: Vec::new(),
                        cost,
                    });
                }
            }
            _ => {}
        }
    }
    skipped.sort();
    (steps, skipped)
}

/// The provenance lines and a step's own lines, placed after the child's
/// title line (before everything when it has none), so that they are read
/// before any same-named line of the child.
pub fn annotate(text: &str, lines: &[String]) -> Result<String, String> {
    let t = Table::parse(text)?;
    let mut out = String::with_capacity(text.len() + 512);
    let mut rest = text;
    if t.title().is_some() {
        let end = text.find('\n').map_or(text.len(), |i| i + 1);
        out.push_str(&text[..end]);
        rest = &text[end..];
    }
    for l in lines {
        out.push_str("# ");
        out.push_str(l);
        out.push('\n');
    }
    out.push_str(rest);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// Checks a child's output: it parses, is the experiment expected, has
/// rows, and (PIC) verified.
pub fn validate(text: &str, expect: &Kind) -> Result<Table, String> {
    let t = Table::parse(text).map_err(|e| format!("output is not chare-bench CSV: {e}"))?;
    let kind = classify(&t);
    if &kind != expect {
        return Err(format!("output holds {kind:?}, expected {expect:?}"));
    }
    if t.rows.is_empty() {
        return Err("output has no rows".into());
    }
    if *expect == Kind::Pic && (0..t.rows.len()).any(|r| t.cell(r, "verified") != Some("yes")) {
        return Err("PIC run failed its verification (verified != yes)".into());
    }
    Ok(t)
}

/// A hidden temporary file beside `target`: `.NAME.tmp`.
fn temp_of(target: &Path, ext: &str) -> PathBuf {
    let name = target.file_name().map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    target.with_file_name(format!(".{name}.{ext}"))
}

/// Removes the temporary files an interrupted run left in DIR's folders.
fn clean_temporaries(dir: &Path) {
    let mut folders = vec![dir.to_path_buf()];
    folders.extend(EXPERIMENT_FOLDERS.iter().map(|f| dir.join(f)));
    for f in folders {
        let Ok(entries) = std::fs::read_dir(&f) else { continue };
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n.starts_with('.') && (n.ends_with(".tmp") || n.ends_with(".err")) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// The folders of DIR that steps write into.
const EXPERIMENT_FOLDERS: [&str; 6] = ["stream", "latency", "bandwidth", "stencil", "pic", "lb"];

/// How a step ended.
#[derive(Debug)]
enum Outcome {
    /// Its CSV is in place.
    Written,
    /// It failed; the message and (maybe) the log file.
    Failed(String),
}

/// Sends SIGTERM through `kill` (no libc here), then kills outright.
fn stop(child: &mut Child) {
    let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(10) {
        if matches!(child.try_wait(), Ok(Some(_))) {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs one step: the child's stdout into the temporary file, checked,
/// annotated, renamed into place.
fn run_step(dir: &Path, s: &Step, env: &Env, lines: &[String], timeout: Duration) -> Outcome {
    let target = dir.join(&s.file);
    if let Some(parent) = target.parent() {
        if let Err(e) = std::fs::create_dir_all(parent) {
            return Outcome::Failed(format!("cannot create {}: {e}", parent.display()));
        }
    }
    let tmp = temp_of(&target, "tmp");
    let err = temp_of(&target, "err");
    let fail = |msg: String| -> Outcome {
        let _ = std::fs::remove_file(&tmp);
        let logs = dir.join("logs");
        let log = logs.join(format!("{}.log", s.file.trim_end_matches(".csv").replace('/', "-")));
        let kept = std::fs::create_dir_all(&logs).is_ok() && std::fs::rename(&err, &log).is_ok();
        let _ = std::fs::remove_file(&err);
        if kept {
            Outcome::Failed(format!("{msg} (stderr in {})", log.display()))
        } else {
            Outcome::Failed(msg)
        }
    };
    let (Ok(out), Ok(errf)) = (File::create(&tmp), File::create(&err)) else {
        return fail(format!("cannot create {} or {}", tmp.display(), err.display()));
    };
    let mut cmd = match (&s.launch, &env.mpi) {
        (Launch::Bench(a), _) => {
            let mut c = Command::new(&env.exe);
            c.args(a);
            c
        }
        (Launch::BenchMpirun(np, a), Ok(m)) => {
            let mut c = m.command(*np, env.cores);
            c.arg(&env.exe).args(a);
            c
        }
        (Launch::PeerMpirun(np, peer, a), Ok(m)) => {
            let mut c = m.command(*np, env.cores);
            c.arg(python()).arg(env.peers.join(peer)).args(a);
            c
        }
        (Launch::PeerCharm(np, peer, a), _) => {
            let mut c = Command::new(python());
            c.args(["-m", "charmrun.start", &format!("+p{np}")]).arg(env.peers.join(peer));
            c.args(CHARM_QUIET.split(' ')).args(a);
            c
        }
        (_, Err(e)) => return fail(e.clone()),
    };
    cmd.env_remove("CHARE_MACHINE").stdin(Stdio::null()).stdout(out).stderr(errf);
    if matches!(s.launch, Launch::BenchMpirun(..) | Launch::PeerMpirun(..)) {
        cmd.env("OMPI_ALLOW_RUN_AS_ROOT", "1").env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => return fail(format!("cannot start `{}`: {e}", s.command())),
    };
    let t0 = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if t0.elapsed() > timeout => {
                stop(&mut child);
                return fail(format!("stopped after {} s (--step-timeout)", timeout.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return fail(format!("cannot wait for the child: {e}")),
        }
    };
    if !status.success() {
        return fail(format!("`{}` exited with {status}", s.command()));
    }
    let text = match std::fs::read_to_string(&tmp) {
        Ok(t) => t,
        Err(e) => return fail(format!("cannot read {}: {e}", tmp.display())),
    };
    if let Err(e) = validate(&text, &s.expect) {
        let _ = std::fs::write(
            &err,
            format!("{}\n--- output ---\n{text}", std::fs::read_to_string(&err).unwrap_or_default()),
        );
        return fail(e);
    }
    let mut all = lines.to_vec();
    all.push(format!("paper step: {}; {}", s.label(), s.command()));
    if s.pes > env.cores {
        all.push(format!("paper note: oversubscribed ({} PEs on {} cores)", s.pes, env.cores));
    }
    all.extend(s.meta.iter().cloned());
    let text = match annotate(&text, &all) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    if let Err(e) = std::fs::write(&tmp, text).and_then(|()| std::fs::rename(&tmp, &target)) {
        return fail(format!("cannot write {}: {e}", target.display()));
    }
    let _ = std::fs::remove_file(&err);
    Outcome::Written
}

/// Stencil points that computed a different grid than their peers: every
/// strong-scaling file of DIR must hold the same checksum (one global grid,
/// any decomposition), every weak-scaling file of one PE count too. One
/// line per disagreement (none when all agree); `None` without stencil
/// files.
pub fn stencil_mismatches(dir: &Path, steps: &[Step]) -> Option<Vec<String>> {
    let mut groups: BTreeMap<(String, usize), BTreeMap<String, Vec<String>>> = BTreeMap::new();
    for s in steps.iter().filter(|s| s.experiment.starts_with("stencil-")) {
        let Ok(text) = std::fs::read_to_string(dir.join(&s.file)) else { continue };
        let Some(sum) = crate::stencil::parse_checksum(&text) else { continue };
        let pes = if s.experiment == "stencil-weak" { s.pes } else { 0 };
        groups.entry((s.experiment.to_string(), pes)).or_default().entry(sum).or_default().push(s.file.clone());
    }
    if groups.is_empty() {
        return None;
    }
    let lines = groups
        .into_iter()
        .filter(|(_, sums)| sums.len() > 1)
        .map(|((exp, pes), sums)| {
            let at = if pes > 0 { format!(" at {pes} PEs") } else { String::new() };
            let parts: Vec<String> =
                sums.iter().map(|(c, files)| format!("{c} in {} file(s), e.g. {}", files.len(), files[0])).collect();
            format!("{exp}{at}: the grids differ ({}); were the files written with other sizes?", parts.join("; "))
        })
        .collect();
    Some(lines)
}

/// The newest modification time of the CSV files under `dir`.
fn newest_csv(dir: &Path) -> Option<SystemTime> {
    fn walk(d: &Path, depth: usize, best: &mut Option<SystemTime>) {
        let Ok(entries) = std::fs::read_dir(d) else { return };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && depth < 8 && !e.file_name().to_string_lossy().starts_with('.') {
                walk(&p, depth + 1, best);
            } else if p.extension().is_some_and(|x| x == "csv") && p.file_name().is_some_and(|n| n != "medians.csv") {
                if let Ok(t) = e.metadata().and_then(|m| m.modified()) {
                    *best = Some(best.map_or(t, |b: SystemTime| b.max(t)));
                }
            }
        }
    }
    let mut best = None;
    walk(dir, 0, &mut best);
    best
}

/// Progress: an overall bar (weighted by the steps' estimated cost, with
/// ETA) and the current step, on stderr; plain lines where stderr is not
/// a terminal.
struct Progress {
    multi: MultiProgress,
    total: ProgressBar,
    current: ProgressBar,
}

impl Progress {
    fn new(cost: f64, steps: usize) -> Progress {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let total = multi.add(ProgressBar::new((cost * 100.0).max(1.0) as u64));
        total.set_style(
            ProgressStyle::with_template(
                "paper [{elapsed_precise}] [{wide_bar:.cyan/blue}] {percent:>3}% ETA {eta_precise} ({msg})",
            )
            .expect("valid template")
            .progress_chars("=> "),
        );
        total.set_message(format!("0/{steps} steps"));
        let current = multi.add(ProgressBar::new_spinner());
        current.set_style(ProgressStyle::with_template("  {spinner} {msg} {elapsed}").expect("valid template"));
        if !multi.is_hidden() {
            total.enable_steady_tick(Duration::from_millis(200));
            current.enable_steady_tick(Duration::from_millis(120));
        }
        Progress { multi, total, current }
    }

    fn line(&self, s: &str) {
        if self.multi.is_hidden() {
            eprintln!("{s}");
        } else {
            let _ = self.multi.println(s);
        }
    }

    fn finish(&self) {
        self.current.finish_and_clear();
        self.total.finish_and_clear();
    }
}

/// What a run did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Steps run (and written).
    pub ran: usize,
    /// Steps whose file was there.
    pub done: usize,
    /// Steps that failed: label and message.
    pub failed: Vec<(String, String)>,
    /// Seconds spent running steps.
    pub seconds: f64,
    /// Seconds per experiment.
    pub per_experiment: BTreeMap<&'static str, f64>,
}

/// The plan as text (`--dry-run`).
fn plan_text(dir: &Path, steps: &[Step], skipped: &[Skipped], cores: usize) -> String {
    let mut out = String::new();
    for s in steps {
        let state = if dir.join(&s.file).is_file() { "done" } else { "to run" };
        let over = if s.pes > cores { " (oversubscribed)" } else { "" };
        let _ = writeln!(out, "{state:>6}  {}  {}{over}  [{}]", s.file, s.command(), s.label());
    }
    for k in skipped {
        let _ = writeln!(out, "unavailable  {} {}: {}", k.experiment, k.series, k.reason);
    }
    out
}

/// The report's section on this command: the run's settings, the series
/// not run and why, the failures.
fn paper_section(
    a: &PaperArgs,
    p: &Params,
    pes: &[usize],
    env: &Env,
    skipped: &[Skipped],
    failed: &[(String, String)],
    mismatches: Option<&[String]>,
) -> Doc {
    let mut d = Doc::default();
    d.h(2, "Steps of chare-bench paper");
    d.p(format!(
        "Mode: {} ({} round(s) of the repeated experiments, interleaved between models: round r of every model runs \
         before round r+1 of any). PEs of the scaling experiments: {} on {} core(s){}. Versions: {}.",
        if a.quick { "`--quick`" } else { "full" },
        p.rounds,
        pes.iter()
            .map(|q| if *q > env.cores { format!("{q} (oversubscribed)") } else { q.to_string() })
            .collect::<Vec<_>>()
            .join(", "),
        env.cores,
        match &env.mpi {
            Ok(m) => format!(", MPI: {}", m.library),
            Err(_) => ", no MPI".into(),
        },
        env.versions
    ));
    if skipped.is_empty() {
        d.p("Every model and layer of the plan ran.");
    } else {
        d.p("Not run (prerequisite missing or not planned), per experiment and series:");
        d.list(skipped.iter().map(|k| format!("`{}` {}: {}", k.experiment, k.series, k.reason)).collect());
    }
    d.p("Not run at all: `gpu` (PAPER.md section 3: chare-bench has no GPU experiment).");
    if mismatches.is_some_and(|m| m.is_empty()) {
        d.p("Stencil checksums: every point of a strong-scaling series, and every series at one PE count of the weak \
             one, computed the same grid.");
    } else if let Some(m) = mismatches {
        d.p("Stencil checksums that disagree:");
        d.list(m.to_vec());
    }
    if !failed.is_empty() {
        d.p("Failed in the last run (no CSV written; rerun to retry):");
        d.list(failed.iter().map(|(l, m)| format!("{l}: {m}")).collect());
    }
    d
}

/// Puts the section into report.md and report.html, after their list of
/// experiments (at the end when that is not found).
fn add_section(dir: &Path, doc: &Doc) -> Result<(), String> {
    let md_path = dir.join("report.md");
    let md = std::fs::read_to_string(&md_path).map_err(|e| format!("cannot read {}: {e}", md_path.display()))?;
    let section = doc.markdown();
    let at =
        md.find("## Experiments\n").and_then(|i| md[i + 3..].find("\n## ").map(|j| i + 3 + j + 1)).unwrap_or(md.len());
    let md = format!("{}{}{}", &md[..at], section, &md[at..]);
    std::fs::write(&md_path, md).map_err(|e| format!("cannot write {}: {e}", md_path.display()))?;
    let html_path = dir.join("report.html");
    let html = std::fs::read_to_string(&html_path).map_err(|e| format!("cannot read {}: {e}", html_path.display()))?;
    let page = doc.html("", dir)?;
    let body = page.split_once("<body>").and_then(|(_, b)| b.rsplit_once("</body>")).map_or("", |(b, _)| b);
    let at = html
        .find("<h2>Experiments</h2>")
        .and_then(|i| html[i + 4..].find("<h2>").map(|j| i + 4 + j))
        .or_else(|| html.rfind("</body>"))
        .unwrap_or(html.len());
    let html = format!("{}{}{}", &html[..at], body.trim_start(), &html[at..]);
    std::fs::write(&html_path, html).map_err(|e| format!("cannot write {}: {e}", html_path.display()))
}

/// Runs the plan and builds the report; returns the summary to print.
pub fn run(a: &PaperArgs, command: &str) -> Result<String, String> {
    check(a)?;
    let only = experiments(&a.only)?;
    let mut p = Params::new(a.quick);
    if let Some(r) = a.rounds {
        p.rounds = r;
        // --quick keeps the peers at their fewer rounds (at most R).
        p.peer_rounds = if a.quick { p.peer_rounds.min(r) } else { r };
    }
    if let Some(t) = a.step_timeout {
        p.timeout = Duration::from_secs(t);
    }
    let env = Env::detect(only.contains(&"pic"));
    let pes = if a.pes.is_empty() { default_pes(env.cores) } else { a.pes.clone() };
    let (steps, skipped) = plan(&only, &p, &pes, &env);
    let dir = &a.out;
    if a.dry_run {
        return Ok(plan_text(dir, &steps, &skipped, env.cores));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    clean_temporaries(dir);
    for k in &skipped {
        eprintln!("paper: not run: {} {}: {}", k.experiment, k.series, k.reason);
    }
    let pending: Vec<&Step> = steps.iter().filter(|s| !dir.join(&s.file).is_file()).collect();
    let mut sum = Summary { done: steps.len() - pending.len(), ..Summary::default() };
    if sum.done > 0 {
        eprintln!("paper: {} of {} steps already done in {} (not run again)", sum.done, steps.len(), dir.display());
    }
    let lines = vec![
        format!("paper command: {command}"),
        format!("mpi library: {}", env.mpi.as_ref().map_or("none", |m| m.library.as_str())),
        env.versions.clone(),
    ];
    let mut log = String::new();
    if !pending.is_empty() {
        let progress = Progress::new(pending.iter().map(|s| s.cost).sum(), pending.len());
        let _ = writeln!(log, "# {command}: {} step(s) to run, {} done before", pending.len(), sum.done);
        for (i, s) in pending.iter().enumerate() {
            let over = if s.pes > env.cores { " (oversubscribed)" } else { "" };
            progress.current.set_message(format!("{}{over}", s.label()));
            progress.current.reset_elapsed();
            let t = Instant::now();
            let outcome = run_step(dir, s, &env, &lines, p.timeout);
            let secs = t.elapsed().as_secs_f64();
            sum.seconds += secs;
            *sum.per_experiment.entry(s.experiment).or_default() += secs;
            let line = match &outcome {
                Outcome::Written => {
                    sum.ran += 1;
                    format!("paper: [{}/{}] {}{over}: {:.1} s -> {}", i + 1, pending.len(), s.label(), secs, s.file)
                }
                Outcome::Failed(m) => {
                    sum.failed.push((s.label(), m.clone()));
                    format!("paper: [{}/{}] {}{over}: FAILED after {:.1} s: {m}", i + 1, pending.len(), s.label(), secs)
                }
            };
            progress.line(&line);
            let _ = writeln!(log, "{}", line.trim_start_matches("paper: "));
            progress.total.inc((s.cost * 100.0) as u64);
            progress.total.set_message(format!("{}/{} steps", i + 1, pending.len()));
        }
        progress.finish();
        let _ = writeln!(log, "# {:.1} s running steps", sum.seconds);
        let path = dir.join("paper.log");
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        let _ = std::fs::write(&path, old + &log);
    }
    let mut text = format!(
        "paper: {}\nsteps: {} planned, {} run ({:.1} s), {} already done (skipped), {} failed, {} series not available\n",
        dir.display(),
        steps.len(),
        sum.ran,
        sum.seconds,
        sum.done,
        sum.failed.len(),
        skipped.len()
    );
    for (e, s) in &sum.per_experiment {
        let _ = writeln!(text, "time: {e}: {s:.1} s");
    }
    for k in &skipped {
        let _ = writeln!(text, "not run: {} {}: {}", k.experiment, k.series, k.reason);
    }
    for (l, m) in &sum.failed {
        let _ = writeln!(text, "failed: {l}: {m}");
    }
    let mismatches = stencil_mismatches(dir, &steps);
    for m in mismatches.iter().flatten() {
        let _ = writeln!(text, "warning: {m}");
    }
    if !a.no_report {
        let report_md = dir.join("report.md");
        let stale = match (std::fs::metadata(&report_md).and_then(|m| m.modified()), newest_csv(dir)) {
            (Ok(r), Some(c)) => c > r,
            (Ok(_), None) => false,
            (Err(_), _) => true,
        };
        if sum.ran > 0 || !sum.failed.is_empty() || stale {
            let t = Instant::now();
            let ra = super::ReportArgs { dir: dir.clone(), out: None, resamples: 10_000, confidence: 0.99 };
            text.push_str(&super::run(&ra)?);
            add_section(dir, &paper_section(a, &p, &pes, &env, &skipped, &sum.failed, mismatches.as_deref()))?;
            let _ = writeln!(text, "report built in {:.1} s", t.elapsed().as_secs_f64());
        } else {
            let _ = writeln!(text, "report: {} is up to date (nothing ran)", report_md.display());
        }
    }
    if sum.failed.is_empty() {
        Ok(text)
    } else {
        print!("{text}");
        Err(format!("{} step(s) failed; rerun the same command to retry them", sum.failed.len()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::report::EXPECTED;
    use super::*;

    fn env(mpi: bool) -> Env {
        let m = Mpirun { program: "mpirun".into(), open_mpi: true, library: "Open MPI 4.1.4".into() };
        Env {
            exe: PathBuf::from("/x/chare-bench"),
            cores: 2,
            mpi: if mpi { Ok(m) } else { Err("no mpi".into()) },
            c_mpi: if mpi { Ok(PathBuf::from("/x/osu")) } else { Err("no mpi".into()) },
            peers: PathBuf::from("/nonexistent/peers/python"),
            mpi4py: Ok("Python 3, mpi4py 4, numpy 2".into()),
            charm4py: Err("no charm4py".into()),
            pic_chare: Ok(()),
            versions: "chare-bench 0.1.0".into(),
        }
    }

    #[test]
    fn plan_interleaves_rounds_and_names_files_uniquely() {
        let p = Params::new(true);
        let (steps, skipped) = plan(&EXPERIMENTS, &p, &[1, 2], &env(true));
        let mut files: Vec<&str> = steps.iter().map(|s| s.file.as_str()).collect();
        let n = files.len();
        files.sort_unstable();
        files.dedup();
        assert_eq!(files.len(), n, "file names are unique");
        // Every experiment has steps.
        for e in EXPERIMENTS {
            assert!(steps.iter().any(|s| s.experiment == e), "{e}");
        }
        // A B A B: every latency series' round 1 before any round 2.
        let lat: Vec<&Step> = steps.iter().filter(|s| s.experiment == "latency").collect();
        let last1 = lat.iter().rposition(|s| s.round == 1).unwrap();
        let first2 = lat.iter().position(|s| s.round == 2).unwrap();
        assert!(last1 < first2);
        assert!(lat.iter().any(|s| s.series == "c-mpi") && lat.iter().any(|s| s.series == "chare-mpi"));
        assert_eq!(lat[0].file, "latency/latency-raw.1.csv");
        // The peer files do not exist here: mpi4py and charm4py are skipped with a reason.
        assert!(skipped.iter().any(|k| k.experiment == "latency" && k.series == "mpi4py" && k.reason.contains("peer")));
        assert!(skipped.iter().any(|k| k.series == "charm4py" && k.reason.contains("charm4py")));
        // Stencil files say their kind first (the report reads it).
        assert!(steps.iter().any(|s| s.file == "stencil/strong-chare-mpi-p2.2.csv"));
        assert!(steps.iter().any(|s| s.file == "stencil/weak-mpi-p1.1.csv"));
        // PIC chare variants name their ODF and balancer.
        let lb = steps.iter().find(|s| s.file == "pic/pic-chare-o-lb-p2.1.csv").unwrap();
        assert_eq!(lb.meta, ["odf: 8", "balancer: greedy"]);
        assert!(matches!(&lb.launch, Launch::Bench(a) if a.contains(&"--lb-period".to_string())));
    }

    #[test]
    fn peers_are_planned_in_their_rounds_with_their_launchers() {
        let mut e = env(true);
        e.peers = Path::new(env!("CARGO_MANIFEST_DIR")).join("peers/python");
        e.charm4py = Ok("Charm4Py 1.1".into());
        let p = Params::new(true);
        let (steps, skipped) = plan(&EXPERIMENTS, &p, &[1, 2], &e);
        assert!(!skipped.iter().any(|k| k.series.contains("4py")), "{skipped:?}");
        assert!(steps.iter().filter(|s| s.need.is_peer()).all(|s| s.round <= p.peer_rounds));
        for f in [
            "latency/latency-charm4py.2.csv",
            "bandwidth/bandwidth-mpi4py.1.csv",
            "stencil/strong-mpi4py-p2.1.csv",
            "stencil/weak-charm4py-p1.2.csv",
            "pic/pic-mpi4py-p2.1.csv",
            "pic/pic-charm4py-p1.1.csv",
            "pic/pic-charm4py-o-lb-p2.2.csv",
        ] {
            assert!(steps.iter().any(|s| s.file == f), "{f}");
        }
        assert!(!steps.iter().any(|s| s.file == "pic/pic-mpi4py-p1.3.csv"), "quick: peers in 2 rounds");
        assert!(steps.iter().any(|s| s.file == "pic/pic-mpi-p1.3.csv"));
        let lb = steps.iter().find(|s| s.file == "pic/pic-charm4py-o-lb-p2.1.csv").unwrap();
        assert_eq!(lb.meta, ["odf: 8", "balancer: GreedyRefineLB"]);
        match &lb.launch {
            Launch::PeerCharm(2, f, a) => {
                assert_eq!(f, CHARM4PY_PIC);
                assert!(a.windows(2).any(|w| w == ["+balancer", "GreedyRefineLB"]), "{a:?}");
                assert!(a.windows(2).any(|w| w == ["--lb-period", "20"]), "{a:?}");
            }
            other => panic!("{other:?}"),
        }
        assert!(lb.command().contains("pic_charm4py.py ++quiet +quiet --grid"), "{}", lb.command());
        let st = steps.iter().find(|s| s.file == "stencil/strong-mpi4py-p2.1.csv").unwrap();
        assert!(
            matches!(&st.launch, Launch::PeerMpirun(2, f, a) if f == MPI4PY_STENCIL && !a.contains(&"--pes".to_string())),
            "{:?}",
            st.launch
        );
        let lat = steps.iter().find(|s| s.file == "latency/latency-charm4py.1.csv").unwrap();
        assert!(lat.command().ends_with("--iters 10 --warmup 1 --runs 1 --format csv"), "{}", lat.command());
    }

    #[test]
    fn without_mpi_only_the_local_series_are_planned() {
        let (steps, skipped) = plan(&["latency", "pic", "lb"], &Params::new(true), &[1, 2], &env(false));
        assert!(steps.iter().all(|s| s.need != Need::Mpi && s.need != Need::CMpi));
        assert!(skipped.iter().any(|k| k.experiment == "latency" && k.series == "mpi" && k.reason == "no mpi"));
        assert!(skipped.iter().any(|k| k.experiment == "lb" && k.series == "mpi"));
        assert!(steps.iter().any(|s| s.file == "lb/lb-local.csv"));
    }

    #[test]
    fn only_filter() {
        assert_eq!(experiments(&["bandwidth".into(), "latency".into()]).unwrap(), ["latency", "bandwidth"]);
        assert_eq!(experiments(&["stencil".into()]).unwrap(), ["stencil-strong", "stencil-weak"]);
        assert!(experiments(&["nope".into()]).is_err());
        assert!(experiments(&["gpu".into()]).is_err());
        assert_eq!(experiments(&[]).unwrap().len(), EXPERIMENTS.len());
        // Every experiment this command runs is one the report expects.
        for e in EXPERIMENTS {
            assert!(EXPECTED.iter().any(|(id, _, _)| *id == e), "{e}");
        }
    }

    #[test]
    fn grids_and_pes() {
        assert_eq!(default_pes(2), [1, 2]);
        assert_eq!(default_pes(8), [1, 2, 8]);
        assert_eq!(default_pes(1), [1, 2]);
        // 3 PEs: process grid 1 x 3; 2: 1 x 2 -> columns a multiple of 6.
        assert_eq!(strong_grid(1024, &[1, 2, 3]), (1024, 1026));
        assert_eq!(strong_grid(1024, &[1, 2, 4]), (1024, 1024));
    }

    #[test]
    fn mpi_library_names() {
        assert_eq!(mpi_library("mpirun (Open MPI) 4.1.4\n\nReport bugs to ..."), "Open MPI 4.1.4");
        assert_eq!(mpi_library("HYDRA build details:\n    Version:   4.0.2\n"), "MPICH 4.0.2");
        assert_eq!(mpi_library(""), "unknown");
    }

    #[test]
    fn annotation_goes_after_the_title_and_wins() {
        let text = "# chare-bench pic (PRK)\n# command: x\n# odf: 8; tiles: 4 x 4\nmodel,ms_per_step,verified\nchare,1.5,yes\n";
        let out = annotate(text, &["paper command: chare-bench paper".into(), "odf: 8".into()]).unwrap();
        assert!(
            out.starts_with("# chare-bench pic (PRK)\n# paper command: chare-bench paper\n# odf: 8\n# command: x\n")
        );
        let t = validate(&out, &Kind::Pic).unwrap();
        assert_eq!(t.meta("odf"), Some("8"));
        assert_eq!(t.meta("command"), Some("x"));
        assert!(validate(&out.replace(",yes", ",no"), &Kind::Pic).is_err());
        assert!(validate(&out, &Kind::Latency).is_err());
        assert!(validate("no csv", &Kind::Pic).is_err());
    }

    #[test]
    fn stencil_checksums_are_compared() {
        let dir = std::env::temp_dir().join(format!("chare-paper-run-sums-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("stencil")).unwrap();
        let (steps, _) = plan(&["stencil-strong", "stencil-weak"], &Params::new(true), &[1, 2], &env(false));
        assert_eq!(stencil_mismatches(&dir, &steps), None, "no files");
        let put = |f: &str, sum: &str| std::fs::write(dir.join(f), format!("# checksum: {sum}\n")).unwrap();
        put("stencil/strong-chare-p1.1.csv", "0xa");
        put("stencil/strong-chare-p2.1.csv", "0xa");
        put("stencil/weak-chare-p1.1.csv", "0xb");
        put("stencil/weak-chare-p2.1.csv", "0xc");
        assert_eq!(stencil_mismatches(&dir, &steps), Some(Vec::new()), "weak grids differ per PE count");
        put("stencil/strong-chare-p2.2.csv", "0xd");
        let m = stencil_mismatches(&dir, &steps).unwrap();
        assert_eq!(m.len(), 1);
        assert!(m[0].starts_with("stencil-strong: the grids differ (0xa in 2 file(s)"), "{m:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn temporaries_are_hidden_and_not_csv() {
        let t = temp_of(Path::new("d/latency/latency-raw.1.csv"), "tmp");
        assert_eq!(t, Path::new("d/latency/.latency-raw.1.csv.tmp"));
        assert!(t.extension().is_some_and(|x| x != "csv"));
    }
}
