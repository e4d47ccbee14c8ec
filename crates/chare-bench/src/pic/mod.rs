//! PIC: the particle-in-cell kernel of the Parallel Research Kernels
//! (PAPER.md section 5), the load-imbalanced benchmark of the paper.
//!
//! # The kernel
//! An `L x L` grid of cells (`L` even) with fixed charges at the lattice
//! points, `+Q` in even columns and `-Q` in odd ones (`Q = 1`), periodic.
//! Particles are drawn per cell from one random stream ([`random`]: the
//! PRK's LCG with jump-ahead), so that a cell's draw does not depend on the
//! decomposition: cells are numbered x-major (`x L + y`), each takes exactly
//! two numbers of the stream, and a tile jumps to its columns' positions.
//! The expected count `mu` per cell follows the mode ([`kernel::Mode`]):
//! GEOMETRIC(rho), SINUSOIDAL, LINEAR(alpha, beta) or PATCH(box). Every
//! particle of a cell starts at the cell centre, at rest in x and with
//! velocity `m` in y, charged so that the four corner charges push it
//! exactly `2k + 1` cells to the right per step. Each step, per particle:
//! the Coulomb force of the four corner charges of its cell, the
//! acceleration, the position `x <- (x + v DT + a DT^2 / 2 + L) mod L`, and
//! the velocity `v <- v + a DT` (accumulated: the velocity alternates
//! between 0 and `2(2k+1)`). Verification: after `s` steps every particle
//! is within `1e-6` of `x0 + s (2k + 1)`, `y0 + s m` (mod `L`), and the ids
//! (`1..=N`) add up to `N (N + 1) / 2`.
//!
//! Every model runs `iters + 1` steps: the first is an untimed warm-up, as
//! in the PRK, and the verification counts all `iters + 1` of them.
//!
//! # Where the facts come from (ParRes/Kernels)
//! * `common/random_draw.c` (`include/random_draw.h`): the LCG, its jump,
//!   `random_draw` (Box-Muller at `mu >= 1`, Bernoulli below; two numbers
//!   per call either way).
//! * `MPI1/PIC-static/pic.c`: the decomposition (tiles of `L / nx` cells,
//!   the first `L mod nx` one wider, rank `iy nx + ix`, `nx` the largest
//!   divisor of the rank count not above `sqrt(P + 1)`), the per-column jump
//!   `LCG_jump(2 (y0 + x L))`, the LINEAR normalisation with step
//!   `1 / (L - 1)`, the 8 neighbours, the id checksum.
//! * `SERIAL/PIC/pic.c`: the charges, `finish_distribution` (charge,
//!   velocity), `computeTotalForce`, the step, `verifyParticle`, the
//!   parameter checks, one warm-up step before timing.
//!
//! # Where we differ, and why
//! * The paper's port overwrote the velocity each step instead of
//!   accumulating it, and counted the steps wrongly in its verification; we
//!   follow the PRK (accumulate; verify after `iters + 1` steps).
//! * Ids: the PRK's MPI code numbers particles in rank order (a prefix sum
//!   over ranks), so they depend on the decomposition. Ours are the serial
//!   (single-rank) PRK's order, x-major cells then draw order, in every
//!   decomposition ([`kernel::init_particles`] or, with exchanged counts,
//!   [`kernel::id_bases`]).
//! * LINEAR: the serial PRK uses the step `1 / L`, the MPI one
//!   `1 / (L - 1)` (PAPER.md too); we use the latter.
//! * PATCH: the PRK accepts a box reaching past the grid (`right = L`),
//!   which counts cells that do not exist; we require it inside. Cells
//!   outside the box are not drawn at all (their count is 0 whatever the
//!   draw, and every cell's draw is found by its stream position).
//! * GEOMETRIC at `rho = 1` (0/0 in the PRK) is its limit, uniform `n / L^2`;
//!   `rho` outside `(0, 1]` is refused.
//! * A particle whose position is NaN fails verification (the PRK's
//!   comparison lets it pass); `m < -L` is refused (the PRK's periodic wrap
//!   would go negative).
//! * Tiles must be at least `2k + 1` cells wide (the PRK: `2k`, one cell
//!   short: a particle could skip a tile) and `|m|` high.
//!
//! # Models
//! `--model serial` ([`serial`]). The decomposed models reuse [`kernel`]:
//! [`kernel::Tiling`] for the tiles, [`kernel::init_particles`] for a
//! tile's particles, [`kernel::step_tile`] to move them and sort out those
//! leaving (per neighbour slot), [`kernel::Check`] to verify across tiles;
//! `--pes`, `--odf`, `--balancer` and `--lb-period` are read for them.

pub mod chare;
pub mod kernel;
pub mod mpi;
pub mod random;
pub mod serial;
pub mod sweep;

use crate::harness::RankResult;
use crate::machine_info::MachineInfo;
use crate::report::{machine_lines, Format, Report};
// `::chare`: the crate, not the `chare` model module below.
use ::chare::lb::strategy::Strategy;
use clap::{Args, ValueEnum};
use kernel::{Mode, Params, Patch};

/// Which implementation runs the kernel.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PicModel {
    /// One tile, no communication: the reference.
    Serial,
    /// A 2-D array of migratable chares, `--odf` tiles per PE, with
    /// optional load balancing (the local layer, or the MPI layer under
    /// mpirun).
    Chare,
    /// One tile per rank on rsmpi (needs the `mpi` feature; started under
    /// mpirun unless already under a launcher).
    Mpi,
}

impl PicModel {
    /// The name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PicModel::Serial => "serial",
            PicModel::Chare => "chare",
            PicModel::Mpi => "mpi",
        }
    }

    /// Whether the model decomposes the grid over PEs.
    pub fn is_parallel(self) -> bool {
        match self {
            PicModel::Serial => false,
            PicModel::Chare => true,
            PicModel::Mpi => true,
        }
    }

    /// Whether the model is the chare model (the only one that reads
    /// `--odf`, `--balancer` and `--lb-period`).
    pub fn is_chare(self) -> bool {
        self == PicModel::Chare
    }
}

/// The initial distribution on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// `A rho^x` particles per cell in column x (`--rho`).
    Geometric,
    /// `2 cos^2(x pi / L) n / L^2` per cell.
    Sinusoidal,
    /// Decreasing linearly with x (`--alpha`, `--beta`).
    Linear,
    /// Uniform in a box of cells (`--patch`).
    Patch,
}

/// Options of `chare-bench pic`.
#[derive(Debug, Clone, Args)]
pub struct PicArgs {
    /// Implementation to run.
    #[arg(long, value_enum, default_value_t = PicModel::Serial)]
    pub model: PicModel,
    /// Cells per side of the grid (L, even).
    #[arg(long, default_value_t = 1000)]
    pub grid: usize,
    /// Particles requested (the draw places about as many).
    #[arg(long, default_value_t = 100_000)]
    pub particles: u64,
    /// Timed steps (one untimed warm-up step runs first).
    #[arg(long, default_value_t = 100)]
    pub iters: usize,
    /// Initial particle distribution.
    #[arg(long, value_enum, default_value_t = ModeArg::Geometric)]
    pub mode: ModeArg,
    /// Attenuation factor of --mode geometric, in (0, 1] [default: 0.999].
    #[arg(long)]
    pub rho: Option<f64>,
    /// Negative slope of --mode linear.
    #[arg(long, allow_negative_numbers = true)]
    pub alpha: Option<f64>,
    /// Offset of --mode linear.
    #[arg(long, allow_negative_numbers = true)]
    pub beta: Option<f64>,
    /// Box of --mode patch: first and last column, first and last row
    /// (inclusive), as x0,x1,y0,y1.
    #[arg(long, value_parser = parse_patch)]
    pub patch: Option<Patch>,
    /// Charge semi-increment: particles move 2k+1 cells per step in x.
    #[arg(short = 'k', default_value_t = 0, allow_negative_numbers = true)]
    pub k: i64,
    /// Vertical velocity: particles move m cells per step in y.
    #[arg(short = 'm', default_value_t = 1, allow_negative_numbers = true)]
    pub m: i64,
    /// Processes (decomposed models only; serial: 1).
    #[arg(long)]
    pub pes: Option<usize>,
    /// Chares per PE (--model chare only).
    #[arg(long, default_value_t = 1)]
    pub odf: usize,
    /// Load-balancing strategy: none, greedy, refine or rotate (--model
    /// chare only).
    #[arg(long, value_parser = Strategy::parse)]
    pub balancer: Option<Strategy>,
    /// Steps between load-balancing steps (--model chare only).
    #[arg(long)]
    pub lb_period: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// The paper's attenuation factor, `--rho`'s default.
pub const DEFAULT_RHO: f64 = 0.999;

/// Parses `x0,x1,y0,y1`.
fn parse_patch(s: &str) -> Result<Patch, String> {
    let v: Vec<usize> = s
        .split(',')
        .map(|t| t.trim().parse::<usize>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("the patch must be four cell indices x0,x1,y0,y1, got `{}`", s.escape_debug()))?;
    match v[..] {
        [left, right, bottom, top] => Ok(Patch { left, right, bottom, top }),
        _ => Err(format!("the patch must be four cell indices x0,x1,y0,y1, got {} numbers", v.len())),
    }
}

/// A validated invocation.
#[derive(Debug, Clone)]
#[allow(dead_code)] // odf, balancer, lb_period: read by the chare model
pub struct Plan {
    /// The model.
    pub model: PicModel,
    /// The kernel's parameters.
    pub params: Params,
    /// PEs (1 for serial).
    pub pes: usize,
    /// Chares per PE (1 unless chare model).
    pub odf: usize,
    /// Load balancer (chare model).
    pub balancer: Option<Strategy>,
    /// Steps between load-balancing steps (chare model).
    pub lb_period: Option<usize>,
}

/// The kernel's parameters from the options (mode options checked against
/// the mode); the error is one line.
pub fn params(a: &PicArgs) -> Result<Params, String> {
    let only = |given: bool, opt: &str, mode: &str| {
        if given {
            Err(format!("{opt} applies to --mode {mode} only"))
        } else {
            Ok(())
        }
    };
    if a.mode != ModeArg::Geometric {
        only(a.rho.is_some(), "--rho", "geometric")?;
    }
    if a.mode != ModeArg::Linear {
        only(a.alpha.is_some() || a.beta.is_some(), "--alpha/--beta", "linear")?;
    }
    if a.mode != ModeArg::Patch {
        only(a.patch.is_some(), "--patch", "patch")?;
    }
    let mode = match a.mode {
        ModeArg::Geometric => Mode::Geometric { rho: a.rho.unwrap_or(DEFAULT_RHO) },
        ModeArg::Sinusoidal => Mode::Sinusoidal,
        ModeArg::Linear => match (a.alpha, a.beta) {
            (Some(alpha), Some(beta)) => Mode::Linear { alpha, beta },
            _ => return Err("--mode linear needs --alpha and --beta".into()),
        },
        ModeArg::Patch => Mode::Patch(a.patch.ok_or("--mode patch needs --patch x0,x1,y0,y1")?),
    };
    let p = Params { l: a.grid, n: a.particles, iters: a.iters, mode, k: a.k, m: a.m };
    p.validate()?;
    Ok(p)
}

/// Checks the options; errors are one line (usage errors: exit status 2).
pub fn plan(a: &PicArgs, cores: usize) -> Result<Plan, String> {
    let params = params(a)?;
    if a.odf == 0 {
        return Err("--odf must be at least 1".into());
    }
    if a.lb_period == Some(0) {
        return Err("--lb-period must be at least 1".into());
    }
    if !a.model.is_chare() {
        let m = a.model.name();
        if a.odf != 1 {
            return Err(format!("--odf applies to the chare model only (model {m})"));
        }
        if a.balancer.is_some() {
            return Err(format!("--balancer applies to the chare model only (model {m})"));
        }
        if a.lb_period.is_some() {
            return Err(format!("--lb-period applies to the chare model only (model {m})"));
        }
    }
    let pes = if a.model.is_parallel() {
        match a.pes {
            Some(0) => return Err("--pes must be at least 1".into()),
            Some(p) => p,
            None => cores.max(1),
        }
    } else {
        if a.pes.is_some_and(|p| p != 1) {
            return Err(format!("model {} runs on one PE; leave out --pes", a.model.name()));
        }
        1
    };
    let pes = if a.model == PicModel::Mpi { mpi::ranks(&params, a.pes, pes)? } else { pes };
    let pes = if a.model == PicModel::Chare { chare::pes_and_layer(a.pes, cores)?.0 } else { pes };
    if a.model == PicModel::Chare {
        chare::tiling(&params, pes, a.odf)?;
    }
    Ok(Plan { model: a.model, params, pes, odf: a.odf, balancer: a.balancer, lb_period: a.lb_period })
}

/// Runs the planned model; the root gets the report. A failed verification
/// is a run-time failure.
pub fn run(p: &Plan, format: Format, command: String, machine: &MachineInfo) -> Result<RankResult<Report>, String> {
    match p.model {
        PicModel::Serial => {
            let r = serial::run(&p.params);
            if let Err(e) = &r.verdict {
                return Err(format!("pic: verification failed after {} steps: {e}", r.steps));
            }
            Ok(RankResult::Root(serial_report(p, &r, format, command, machine)))
        }
        PicModel::Chare => chare::run(p, format, command, machine),
        PicModel::Mpi => mpi::run(p, format, command, machine),
    }
}

/// Columns of the report (one row per run).
pub const COLUMNS: [&str; 8] =
    ["model", "grid", "particles", "timed_steps", "time_s", "ms_per_step", "mparticle_steps_per_s", "verified"];

/// The header lines every model shares.
pub fn header(p: &Plan, command: String, machine: &MachineInfo) -> Vec<String> {
    let q = &p.params;
    let mut h = vec![
        "chare-bench pic (PRK particle-in-cell; PAPER.md section 5)".to_string(),
        format!("command: {command}"),
        format!("model: {}", p.model.name()),
        format!("pes: {}", p.pes),
        format!("grid: {} x {} cells", q.l, q.l),
        format!("particles requested: {}", q.n),
        format!("mode: {}", q.mode.describe()),
        format!("k: {} ({} cells per step in x); m: {}", q.k, 2 * q.k + 1, q.m),
        format!("steps: {} timed, 1 warmup (not timed); verified after {}", q.iters, q.steps()),
    ];
    h.extend(machine_lines(machine, Some(p.pes)));
    h
}

fn serial_report(p: &Plan, r: &serial::SerialRun, format: Format, command: String, machine: &MachineInfo) -> Report {
    let q = &p.params;
    let mut header = header(p, command, machine);
    header.push(format!("particles placed: {}", r.placed));
    header.push(format!("init: {:.3} s; warmup step: {:.3} ms", r.init_s, r.warmup_s * 1e3));
    let per_step = r.timed_s / q.iters as f64;
    let rate = r.rate(q.iters);
    let (t, ms, mrate) = match format {
        Format::Csv => (format!("{:.9}", r.timed_s), format!("{:.6}", per_step * 1e3), format!("{:.3}", rate / 1e6)),
        Format::Table => (format!("{:.4}", r.timed_s), format!("{:.4}", per_step * 1e3), format!("{:.2}", rate / 1e6)),
    };
    let row = vec![
        p.model.name().to_string(),
        q.l.to_string(),
        r.placed.to_string(),
        q.iters.to_string(),
        t,
        ms,
        mrate,
        "yes".to_string(),
    ];
    let footer = vec![
        format!("state hash: {}", r.state_hash),
        format!(
            "summary: model={} grid={} particles={} iters={} mode={} k={} m={} ms_per_step={:.6} \
         mparticle_steps_per_s={:.3} ns_per_particle_step={:.3} verified=yes",
            p.model.name(),
            q.l,
            r.placed,
            q.iters,
            q.mode.name().to_lowercase(),
            q.k,
            q.m,
            per_step * 1e3,
            rate / 1e6,
            1e9 / rate,
        ),
    ];
    Report { header, columns: COLUMNS.to_vec(), rows: vec![row], footer }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct T {
        #[command(flatten)]
        a: PicArgs,
    }

    fn args(v: &[&str]) -> Result<PicArgs, clap::Error> {
        T::try_parse_from(std::iter::once("pic").chain(v.iter().copied())).map(|t| t.a)
    }

    #[test]
    fn options_make_the_parameters() {
        let p = params(&args(&[]).unwrap()).unwrap();
        assert_eq!(p, Params { l: 1000, n: 100_000, iters: 100, mode: Mode::Geometric { rho: 0.999 }, k: 0, m: 1 });
        let p = params(&args(&["--mode", "linear", "--alpha", "-1", "--beta", "2", "-k", "2", "-m", "-3"]).unwrap())
            .unwrap();
        assert_eq!((p.mode, p.k, p.m), (Mode::Linear { alpha: -1.0, beta: 2.0 }, 2, -3));
        let p = params(&args(&["--mode", "patch", "--patch", "1,5,2,9", "--grid", "10"]).unwrap()).unwrap();
        assert_eq!(p.mode, Mode::Patch(Patch { left: 1, right: 5, bottom: 2, top: 9 }));
        let p = params(&args(&["--mode", "sinusoidal", "--particles", "7", "--iters", "3"]).unwrap()).unwrap();
        assert_eq!((p.mode, p.n, p.iters), (Mode::Sinusoidal, 7, 3));
    }

    #[test]
    fn bad_options_are_one_line_errors() {
        for v in [
            &["--grid", "999"][..],
            &["--grid", "0"],
            &["--particles", "0"],
            &["--iters", "0"],
            &["--rho", "0"],
            &["--rho", "1.01"],
            &["--mode", "sinusoidal", "--rho", "0.5"],
            &["--mode", "linear", "--alpha", "1"],
            &["--mode", "linear", "--alpha", "3", "--beta", "1"],
            &["--alpha", "1"],
            &["--mode", "patch"],
            &["--mode", "patch", "--patch", "0,1000,0,5"],
            &["--mode", "patch", "--patch", "5,2,0,5"],
            &["--patch", "1,2,3,4"],
            &["-k", "-1"],
            &["--odf", "2"],
            &["--odf", "0"],
            &["--balancer", "greedy"],
            &["--lb-period", "5"],
            &["--pes", "4"],
        ] {
            let a = args(v).unwrap_or_else(|e| panic!("{v:?}: {e}"));
            let e = plan(&a, 8).expect_err(&format!("{v:?}"));
            assert!(!e.is_empty() && !e.contains('\n'), "{v:?}: {e:?}");
        }
        for v in [&["--patch", "1,2,3"][..], &["--patch", "a,b,c,d"], &["--mode", "circle"], &["--balancer", "x"]] {
            assert!(args(v).is_err(), "{v:?}");
        }
        assert!(plan(&args(&["--pes", "1"]).unwrap(), 8).is_ok());
    }

    #[test]
    fn serial_report_has_the_rate_and_one_row() {
        let a = args(&["--grid", "20", "--particles", "2000", "--iters", "4", "--format", "csv"]).unwrap();
        let p = plan(&a, 1).unwrap();
        let out = run(&p, a.format, "chare-bench pic".into(), &MachineInfo::detect()).unwrap().root().unwrap();
        let text = out.render(Format::Csv);
        let rows: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(rows.len(), 2, "{text}");
        assert_eq!(rows[0], COLUMNS.join(","));
        assert!(rows[1].starts_with("serial,20,"), "{text}");
        assert!(text.contains("verified=yes"), "{text}");
    }

    /// The command line end to end, through the binary's own parser and
    /// dispatcher: a bad value is a usage error (exit status 2), a good run
    /// prints its report.
    #[test]
    fn cli_reports_usage_errors_and_runs() {
        use crate::{run as run_cli, Cli, Failure};
        let cli = |v: &[&str]| Cli::try_parse_from(["chare-bench", "pic"].iter().chain(v.iter()).copied());
        for v in [&["--grid", "7"][..], &["--mode", "linear"], &["--rho", "2"]] {
            match run_cli(&cli(v).unwrap(), String::new()) {
                Err(Failure::Usage(m)) => assert!(!m.contains('\n'), "{m}"),
                other => panic!("{v:?}: {other:?}"),
            }
        }
        assert!(cli(&["--model", "quantum"]).is_err());
        let out = run_cli(&cli(&["--grid", "10", "--particles", "100", "--iters", "2"]).unwrap(), String::new())
            .unwrap_or_else(|f| panic!("{f:?}"));
        assert!(out.contains("mparticle_steps_per_s"), "{out}");
    }
}
