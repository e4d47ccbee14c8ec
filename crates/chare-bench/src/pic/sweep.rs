//! `chare-bench pic-sweep`: the paper's four PIC variants (PAPER.md
//! sections 5 and 6) per PE count, each run a `chare-bench pic` child
//! process (MPI initialises once per process, and a fresh process per run
//! keeps the runs independent):
//!
//! * `mpi`: `pic --model mpi --pes P` (rsmpi; it starts itself under
//!   mpirun; needs the `mpi` feature), the paper's mpi4py column;
//! * `chare`: `pic --model chare --odf 1`, no balancing (Charm4Py ODF 1);
//! * `chare-o`: `--odf K` (default 8), no balancing (Charm4Py (O));
//! * `chare-o-lb`: `--odf K --balancer S --lb-period D` (default greedy
//!   every 80 steps: Charm4Py (O, LB)).
//!
//! The chare variants run on the local layer (threads), or with `--layer
//! mpi` under `mpirun -np P` on the runtime's MPI layer. Runs are
//! interleaved (run 1 of every variant, then run 2, ...) so that slow and
//! fast periods of a shared machine hit the variants alike. Each run's CSV
//! goes to `<out>/<variant>-p<P>-r<run>.csv`.
//!
//! Reported per variant and PE count: the median time per step over
//! `--runs`, particles per PE at the end (min/max), the max/avg of the PEs'
//! compute time (for `chare-o-lb` after the first balancing step, else over
//! the run), whether balancing ran and how often, and whether the point was
//! oversubscribed (more PEs than cores). The summary table puts per PE
//! count the ratios of the `mpi` time to each chare variant beside the
//! paper's ratios (Stampede2, 24-768 PEs, L = 5998, n = 600,000).
//! `<out>/summary.csv` holds the rows, `<out>/ratios.csv` the ratios.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chare::lb::strategy::Strategy;
use clap::{Args, ValueEnum};

use super::{ModeArg, PicArgs, PicModel};
use crate::harness::median;
use crate::machine_info::MachineInfo;
use crate::report::{header_value, yes_no, Format, Report};
use crate::stencil::parse_summary;

/// One of the paper's variants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Variant {
    /// The MPI model (the paper's mpi4py).
    Mpi,
    /// Chares, one per PE, no balancing (Charm4Py ODF 1).
    Chare,
    /// `--odf` chares per PE, no balancing (Charm4Py (O)).
    ChareO,
    /// `--odf` chares per PE with load balancing (Charm4Py (O, LB)).
    ChareOLb,
}

impl Variant {
    /// Every variant, in the paper's column order.
    pub const ALL: [Variant; 4] = [Variant::Mpi, Variant::Chare, Variant::ChareO, Variant::ChareOLb];

    /// The name on the command line and in the output.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Mpi => "mpi",
            Variant::Chare => "chare",
            Variant::ChareO => "chare-o",
            Variant::ChareOLb => "chare-o-lb",
        }
    }

    /// The paper's column.
    fn paper(self) -> &'static str {
        match self {
            Variant::Mpi => "mpi4py",
            Variant::Chare => "Charm4Py (ODF 1)",
            Variant::ChareO => "Charm4Py (O)",
            Variant::ChareOLb => "Charm4Py (O, LB)",
        }
    }
}

/// Where the chare variants run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Layer {
    /// Threads of one process.
    Local,
    /// The runtime's MPI layer under `mpirun -np P` (the `mpi` feature).
    Mpi,
}

/// The paper's PIC table (PAPER.md section 6): PEs and ms per step of
/// mpi4py, Charm4Py ODF 1, (O) and (O, LB).
pub const PAPER: [(usize, [f64; 4]); 6] = [
    (24, [285.8, 303.0, 142.0, 108.5]),
    (48, [207.6, 225.0, 116.0, 77.6]),
    (96, [117.4, 126.0, 79.0, 52.4]),
    (192, [63.6, 69.0, 50.0, 39.2]),
    (384, [32.5, 33.0, 30.0, 38.4]),
    (768, [17.5, 20.0, 19.0, 43.1]),
];

/// Options of `chare-bench pic-sweep`.
#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    /// Cells per side of the grid (the paper's 5998).
    #[arg(long, default_value_t = 5998)]
    pub grid: usize,
    /// Particles requested (the paper's 600,000).
    #[arg(long, default_value_t = 600_000)]
    pub particles: u64,
    /// Timed steps per run (the paper's 1000).
    #[arg(long, default_value_t = 1000)]
    pub iters: usize,
    /// Initial particle distribution.
    #[arg(long, value_enum, default_value_t = ModeArg::Geometric)]
    pub mode: ModeArg,
    /// Attenuation factor of --mode geometric [default: 0.999].
    #[arg(long)]
    pub rho: Option<f64>,
    /// Negative slope of --mode linear.
    #[arg(long, allow_negative_numbers = true)]
    pub alpha: Option<f64>,
    /// Offset of --mode linear.
    #[arg(long, allow_negative_numbers = true)]
    pub beta: Option<f64>,
    /// Box of --mode patch: x0,x1,y0,y1.
    #[arg(long)]
    pub patch: Option<String>,
    /// Charge semi-increment.
    #[arg(short = 'k', default_value_t = 0, allow_negative_numbers = true)]
    pub k: i64,
    /// Vertical velocity.
    #[arg(short = 'm', default_value_t = 1, allow_negative_numbers = true)]
    pub m: i64,
    /// PE counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1, 2, 4])]
    pub pes: Vec<usize>,
    /// Variants to run, comma-separated (default: all this build can run).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub variants: Vec<Variant>,
    /// Runs per point (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub runs: usize,
    /// Chares per PE of chare-o and chare-o-lb (the paper's 8).
    #[arg(long, default_value_t = 8)]
    pub odf: usize,
    /// Strategy of chare-o-lb: greedy, refine or rotate.
    #[arg(long, value_parser = Strategy::parse, default_value = "greedy")]
    pub balancer: Strategy,
    /// Steps between balancing steps of chare-o-lb (the paper's 80).
    #[arg(long, default_value_t = 80)]
    pub lb_period: usize,
    /// Layer of the chare variants.
    #[arg(long, value_enum, default_value_t = Layer::Local)]
    pub layer: Layer,
    /// Directory for the CSV files.
    #[arg(long, default_value = "results/pic")]
    pub out: PathBuf,
    /// Format of the tables printed at the end.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// The variants this build can run.
fn available() -> Vec<Variant> {
    Variant::ALL.into_iter().filter(|&v| v != Variant::Mpi || cfg!(feature = "mpi")).collect()
}

/// The `pic` options of the kernel (shared by every variant).
fn kernel_args(a: &SweepArgs) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "--grid".into(),
        a.grid.to_string(),
        "--particles".into(),
        a.particles.to_string(),
        "--iters".into(),
        a.iters.to_string(),
        "--mode".into(),
        a.mode.to_possible_value().expect("no skipped modes").get_name().to_string(),
        "-k".into(),
        a.k.to_string(),
        "-m".into(),
        a.m.to_string(),
    ];
    let mut opt = |name: &str, value: Option<String>| {
        if let Some(x) = value {
            v.push(name.into());
            v.push(x);
        }
    };
    opt("--rho", a.rho.map(|x| x.to_string()));
    opt("--alpha", a.alpha.map(|x| x.to_string()));
    opt("--beta", a.beta.map(|x| x.to_string()));
    opt("--patch", a.patch.clone());
    v
}

/// The options of one variant's child (after the kernel's).
fn variant_args(a: &SweepArgs, v: Variant, pes: usize) -> Vec<String> {
    let model = if v == Variant::Mpi { "mpi" } else { "chare" };
    let mut args: Vec<String> = vec!["pic".into(), "--model".into(), model.into()];
    args.extend(kernel_args(a));
    args.extend(["--pes".into(), pes.to_string(), "--format".into(), "csv".into()]);
    match v {
        Variant::Mpi | Variant::Chare => {}
        Variant::ChareO => args.extend(["--odf".into(), a.odf.to_string()]),
        Variant::ChareOLb => args.extend([
            "--odf".into(),
            a.odf.to_string(),
            "--balancer".into(),
            a.balancer.name().into(),
            "--lb-period".into(),
            a.lb_period.to_string(),
        ]),
    }
    args
}

/// Checks the options (the kernel's and every point's decomposition, as
/// the children would); returns the variants to run. Errors are one line.
pub fn check(a: &SweepArgs) -> Result<Vec<Variant>, String> {
    if crate::launch::under_launcher() {
        return Err("pic-sweep starts its own processes; run it without a launcher".into());
    }
    if a.pes.is_empty() || a.pes.iter().any(|&p| p == 0 || p > 256) {
        return Err("--pes must list PE counts from 1 to 256".into());
    }
    if a.runs == 0 || a.odf == 0 || a.lb_period == 0 {
        return Err("--runs, --odf and --lb-period must be at least 1".into());
    }
    if a.balancer == Strategy::None {
        return Err("the balancer of chare-o-lb cannot be none (chare-o is the variant without)".into());
    }
    if a.layer == Layer::Mpi && !cfg!(feature = "mpi") {
        return Err("--layer mpi needs the `mpi` feature (not built)".into());
    }
    let variants = if a.variants.is_empty() { available() } else { a.variants.clone() };
    if variants.contains(&Variant::Mpi) && !cfg!(feature = "mpi") {
        return Err("variant mpi needs the `mpi` feature (not built)".into());
    }
    let patch = a.patch.as_deref().map(super::parse_patch).transpose()?;
    let pic = PicArgs {
        model: PicModel::Serial,
        grid: a.grid,
        particles: a.particles,
        iters: a.iters,
        mode: a.mode,
        rho: a.rho,
        alpha: a.alpha,
        beta: a.beta,
        patch,
        k: a.k,
        m: a.m,
        pes: None,
        odf: 1,
        balancer: None,
        lb_period: None,
        format: Format::Csv,
    };
    let params = super::params(&pic)?;
    for &p in &a.pes {
        for &v in &variants {
            let odf = if matches!(v, Variant::ChareO | Variant::ChareOLb) { a.odf } else { 1 };
            super::chare::tiling(&params, p, odf).map_err(|e| format!("{} on {p} PEs: {e}", v.name()))?;
        }
    }
    let mut sorted = variants.clone();
    sorted.sort();
    sorted.dedup();
    Ok(sorted)
}

/// One run's output.
fn run_child(a: &SweepArgs, v: Variant, pes: usize) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let args = variant_args(a, v, pes);
    eprintln!("pic-sweep: {} on {pes} PEs: chare-bench {}", v.name(), args.join(" "));
    #[cfg(feature = "mpi")]
    if v != Variant::Mpi && a.layer == Layer::Mpi {
        return crate::launch::mpirun(pes, &exe, &args);
    }
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

/// What one run reported.
#[derive(Debug, Clone, PartialEq)]
pub struct RunFields {
    /// ms per timed step.
    pub ms: f64,
    /// Particles per PE at the end (min, max).
    pub ppe: (u64, u64),
    /// max/avg of the PEs' compute time (chare-o-lb: after the first
    /// balancing step).
    pub load: f64,
    /// Balancing steps.
    pub lb_steps: usize,
    /// Tiles moved.
    pub moved: usize,
    /// Whether the child said it was oversubscribed.
    pub oversubscribed: bool,
}

/// Reads a child's summary line (the MPI model's or the chare model's keys).
pub fn parse_run(text: &str) -> Option<RunFields> {
    let fields = parse_summary(text)?;
    let get = |k: &str| fields.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let num = |k: &str| get(k).and_then(|v| v.parse::<f64>().ok());
    if get("verified") != Some("yes") {
        return None;
    }
    let ms = num("ms_per_step")?;
    let ppe = (num("particles_min")? as u64, num("particles_max")? as u64);
    let lb_steps = num("lb_steps").unwrap_or(0.0) as usize;
    let load =
        if lb_steps > 0 { num("load_after") } else { None }.or_else(|| num("compute_max_avg")).unwrap_or(f64::NAN);
    Some(RunFields {
        ms,
        ppe,
        load,
        lb_steps,
        moved: num("moved").unwrap_or(0.0) as usize,
        oversubscribed: header_value(text, "oversubscribed") == Some("yes"),
    })
}

/// One point: a variant at a PE count, every run.
#[derive(Debug, Clone)]
struct Point {
    variant: Variant,
    pes: usize,
    runs: Vec<RunFields>,
}

impl Point {
    fn ms(&self) -> f64 {
        median(&self.runs.iter().map(|r| r.ms).collect::<Vec<_>>())
    }

    /// The run whose time is the median's (the lower middle one).
    fn middle(&self) -> &RunFields {
        let times: Vec<f64> = self.runs.iter().map(|r| r.ms).collect();
        &self.runs[crate::harness::median_index(&times)]
    }
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Runs the sweep; returns the tables.
pub fn run(a: &SweepArgs) -> Result<String, String> {
    let variants = check(a)?;
    std::fs::create_dir_all(&a.out).map_err(|e| format!("cannot create {}: {e}", a.out.display()))?;
    let mut points: Vec<Point> = Vec::new();
    for &p in &a.pes {
        for r in 1..=a.runs {
            for &v in &variants {
                let text = run_child(a, v, p)?;
                write(&a.out.join(format!("{}-p{p}-r{r}.csv", v.name())), &text)?;
                let fields = parse_run(&text)
                    .ok_or_else(|| format!("{} on {p} PEs printed no verified summary line", v.name()))?;
                match points.iter_mut().find(|pt| pt.variant == v && pt.pes == p) {
                    Some(pt) => pt.runs.push(fields),
                    None => points.push(Point { variant: v, pes: p, runs: vec![fields] }),
                }
            }
        }
    }
    let cores = MachineInfo::detect().cores;
    let rows = rows_report(a, &points, cores);
    let ratios = ratios_report(a, &points);
    write(&a.out.join("summary.csv"), &rows.render(Format::Csv))?;
    write(&a.out.join("ratios.csv"), &ratios.render(Format::Csv))?;
    Ok(format!("{}\n{}", rows.render(a.format), ratios.render(a.format)))
}

fn rows_report(a: &SweepArgs, points: &[Point], cores: usize) -> Report {
    let rows = points
        .iter()
        .map(|pt| {
            let mid = pt.middle();
            let over = pt.pes > cores || pt.runs.iter().any(|r| r.oversubscribed);
            vec![
                pt.variant.name().to_string(),
                pt.pes.to_string(),
                yes_no(over).to_string(),
                format!("{:.4}", pt.ms()),
                pt.runs.iter().map(|r| format!("{:.4}", r.ms)).collect::<Vec<_>>().join(";"),
                mid.ppe.0.to_string(),
                mid.ppe.1.to_string(),
                if mid.load.is_nan() { "-".into() } else { format!("{:.3}", mid.load) },
                yes_no(mid.lb_steps > 0).to_string(),
                mid.lb_steps.to_string(),
                mid.moved.to_string(),
            ]
        })
        .collect();
    let mode = match a.mode {
        ModeArg::Geometric => format!("geometric rho={}", a.rho.unwrap_or(super::DEFAULT_RHO)),
        m => m.to_possible_value().map_or_else(String::new, |v| v.get_name().to_string()),
    };
    Report {
        header: vec![
            "chare-bench pic-sweep (PAPER.md sections 5 and 6)".into(),
            format!(
                "grid: {}; particles: {}; mode: {mode}; k: {}; m: {}; iters: {} timed + 1 warmup; runs: {} (median)",
                a.grid, a.particles, a.k, a.m, a.iters, a.runs
            ),
            format!(
                "chare-o and chare-o-lb: odf {}; chare-o-lb: {} every {} steps; chare layer: {}",
                a.odf,
                a.balancer.name(),
                a.lb_period,
                match a.layer {
                    Layer::Local => "local",
                    Layer::Mpi => "mpi",
                }
            ),
            format!("cores: {cores}; oversubscribed: more PEs than cores"),
            "particles per PE: at the end of the median run; load: max/avg of the PEs' compute time (chare-o-lb: \
             mean over the periods after the first balancing step)"
                .into(),
            format!("csv files: {}", a.out.display()),
        ],
        columns: vec![
            "variant",
            "pes",
            "oversubscribed",
            "ms_per_step",
            "runs_ms",
            "particles_per_pe_min",
            "particles_per_pe_max",
            "load_max_avg",
            "lb",
            "lb_steps",
            "moved",
        ],
        rows,
        footer: Vec::new(),
    }
}

fn ratios_report(a: &SweepArgs, points: &[Point]) -> Report {
    let ms = |v: Variant, p: usize| points.iter().find(|pt| pt.variant == v && pt.pes == p).map(Point::ms);
    let ratio = |p: usize, v: Variant| match (ms(Variant::Mpi, p), ms(v, p)) {
        (Some(m), Some(x)) => format!("{:.2}", m / x),
        _ => "-".into(),
    };
    let mut pes: Vec<usize> = points.iter().map(|pt| pt.pes).collect();
    pes.sort_unstable();
    pes.dedup();
    let rows = pes
        .iter()
        .map(|&p| {
            vec![
                p.to_string(),
                ratio(p, Variant::Chare),
                ratio(p, Variant::ChareO),
                ratio(p, Variant::ChareOLb),
                ms(Variant::Mpi, p).map_or("-".into(), |m| format!("{m:.4}")),
                ms(Variant::ChareOLb, p).map_or("-".into(), |m| format!("{m:.4}")),
            ]
        })
        .collect();
    let mut footer = vec![format!(
        "paper (Stampede2, L=5998, n=600000, rho=0.999, 1000 steps, ODF 8, LB every 80): mpi4py / {}, / {}, / {}",
        Variant::Chare.paper(),
        Variant::ChareO.paper(),
        Variant::ChareOLb.paper()
    )];
    for (p, t) in PAPER {
        footer.push(format!("paper {p} PEs: {:.2} {:.2} {:.2}", t[0] / t[1], t[0] / t[2], t[0] / t[3]));
    }
    let _ = a;
    Report {
        header: vec!["ratios: the mpi variant's time per step over each chare variant's (above 1: chare faster)".into()],
        columns: vec!["pes", "mpi/chare", "mpi/chare-o", "mpi/chare-o-lb", "mpi_ms", "chare-o-lb_ms"],
        rows,
        footer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paper_ratios_are_the_table_s() {
        let r = |p: usize| PAPER.iter().find(|e| e.0 == p).map(|e| e.1[0] / e.1[3]).unwrap();
        assert!((r(24) - 2.63).abs() < 0.01 && (r(48) - 2.68).abs() < 0.01 && (r(768) - 0.41).abs() < 0.01);
    }

    #[test]
    fn summaries_of_both_models_parse() {
        let mpi = "# oversubscribed: no\n# summary: model=mpi pes=2 ms_per_step=3.5 compute_max_avg=1.900 \
                   load_max_avg=1.2 particles_min=10 particles_max=90 verified=yes\n";
        let r = parse_run(mpi).unwrap();
        assert_eq!((r.ms, r.ppe, r.load, r.lb_steps, r.oversubscribed), (3.5, (10, 90), 1.9, 0, false));
        let chare = "# oversubscribed: yes\n# summary: model=chare lb_steps=3 moved=7 ms_per_step=2.0 \
                     particles_min=48 particles_max=52 compute_max_avg=1.5 load_first=1.9 load_after=1.05 \
                     verified=yes\n";
        let r = parse_run(chare).unwrap();
        assert_eq!((r.ms, r.ppe, r.load, r.lb_steps, r.moved, r.oversubscribed), (2.0, (48, 52), 1.05, 3, 7, true));
        assert!(parse_run("# summary: ms_per_step=1 verified=no\n").is_none());
    }

    #[test]
    fn children_get_each_variant_s_options() {
        use clap::Parser;
        #[derive(Parser)]
        struct T {
            #[command(flatten)]
            a: SweepArgs,
        }
        let a = T::parse_from(["x", "--grid", "100", "--rho", "0.9", "--lb-period", "5"]).a;
        let lb = variant_args(&a, Variant::ChareOLb, 2).join(" ");
        assert!(lb.starts_with("pic --model chare --grid 100 "), "{lb}");
        assert!(lb.contains("--rho 0.9") && lb.ends_with("--odf 8 --balancer greedy --lb-period 5"), "{lb}");
        assert!(variant_args(&a, Variant::Mpi, 2).join(" ").starts_with("pic --model mpi "));
        assert!(!variant_args(&a, Variant::Chare, 2).contains(&"--odf".to_string()));
    }
}
