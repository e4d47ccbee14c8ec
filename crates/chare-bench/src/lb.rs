//! `chare-bench lb`: a synthetic load-imbalance benchmark of the runtime's
//! measurement-based load balancing (Charm++'s `lb_test`, Charm4Py's
//! `AtSync` examples).
//!
//! # The workload
//! An array of `K` (`--chares`) migratable chares, placed in contiguous
//! blocks (element `i` on PE `i * P / K`), each with a known cost per
//! iteration. The costs are skewed so that the initial placement is
//! imbalanced, and normalised so that their mean is `--work-us`
//! microseconds:
//!
//! * `--skew geometric` (default): element `i` costs `rho^i`. With `rho < 1`
//!   the first PE's block holds the heaviest elements. The default `rho` is
//!   the one that makes the block placement's max/avg PE load
//!   [`DEFAULT_IMBALANCE`] on the run's PE count (on 2 PEs
//!   `(2 / 1.7 - 1)^(2 / K)`, 0.9472 for `K = 64`).
//! * `--skew heavy`: a deterministic pseudo-random subset of
//!   `--heavy-fraction` of the elements costs `--heavy-factor` times the
//!   others; the subset is drawn from the first PE's block first (then the
//!   next blocks, if the fraction is larger than a block), so that PE 0 is
//!   overloaded.
//!
//! The header prints the max/avg PE load that the costs predict for the
//! block placement (`expected initial max/avg`) and for the placement the
//! greedy and refine strategies would choose if they saw these costs exactly.
//!
//! `--oracle` adds a row without balancing whose elements start where greedy
//! would put them if it measured the costs exactly (a `Placement::Table`):
//! the time per iteration that perfect balancing gives, the reference for
//! what the measured strategies achieve.
//!
//! Each element carries `--state-bytes` bytes of state (a [`Buffer`], which
//! the MPI layer sends as its own message), so a migration moves real state;
//! it is checked intact at the end of every run.
//!
//! # One iteration
//! The main task broadcasts `step` to the array; every element busy-works
//! for its cost and contributes its PE and measured work time to a gather
//! reduction into a future (the barrier). The main task starts the next
//! iteration when the barrier completes, so an iteration takes the slowest
//! PE's time; it is timed in the main task with [`Instant`], from the
//! broadcast to the barrier.
//!
//! The work is a dependent chain of integer multiply-add-xorshift steps whose
//! count and result pass through [`black_box`], so it cannot be folded or
//! removed. It is calibrated once per invocation on the root process (the
//! fastest of the timed samples of 100 ms of spinning: steps per
//! microsecond), and a cost is a fixed number of steps, not a time: a PE
//! that shares its core takes longer for the same work, as a real
//! application would.
//!
//! # Balancing
//! After every `--lb-period` iterations (not after the last), the elements
//! call [`Ctx::at_sync`] once they contributed to the barrier; the runtime
//! measures each element's time in entry methods since the last step, PE 0
//! decides with the array's strategy, elements move, and every element's
//! `resume_from_sync` contributes to a second future that the main task
//! awaits before the next iteration (the `sync_ms` column: the main task's
//! wall time from the barrier to every element resumed).
//!
//! Every strategy runs on a fresh array created with
//! [`CollectionBuilder::balancer`](chare::CollectionBuilder::balancer), so
//! one invocation compares strategies whatever `--balancer` or
//! `CHARE_BALANCER` say to the runtime: `--balancer all` runs `none`,
//! `greedy`, `refine` and `rotate` in turn, `--runs` times each
//! (interleaved: run 1 of every strategy, then run 2, ...). On the local
//! layer every (run, strategy) is a job of its own, started from a fresh
//! thread (the runtime leaves the thread that ran PE 0 pinned to one core);
//! on the MPI layer a process can start only one job (MPI is initialised
//! once), so all of them run in one job, one array after the other.
//!
//! # Layers
//! Under `mpirun` the runtime's MPI layer runs the job (one PE per rank;
//! the `mpi` feature); `--layer mpi` outside a launcher starts this program
//! again under `mpirun -np <--pes>`, as the rsmpi models do. Otherwise the
//! local layer runs `--pes` PE threads. The header says `oversubscribed:
//! yes` when there are more PEs than the machine has cores.
//!
//! # What is reported (one row per strategy, medians over the runs)
//! * `before_ms`: time per iteration before the first balancing step, the
//!   median of the first period's iterations except the first (warm-up);
//! * `after_ms`: the median of every iteration after the first step;
//! * `after/before`, and `after/none` (against the `none` strategy's
//!   `after_ms` of the same invocation, when it ran);
//! * `lb_before`, `lb_after`: max/avg PE load as the runtime measured it
//!   ([`chare::lb::LbStep::imbalance_before`] of steps 1 and 2: step 2's
//!   "before" is the period after step 1), and `predicted`, what the
//!   strategy predicted at step 1;
//! * `app_before`, `app_after`: the same max/avg from the elements' own
//!   timers (per iteration, the sum over each PE's elements of their work
//!   time; medians over the same iterations as the times): a check of the
//!   runtime's measurement;
//! * `moved`, `bytes`, `step_ms`: step 1's elements moved, bytes moved
//!   ([`chare::lb::LbStep::bytes`]: serialised state on the MPI layer, the
//!   objects' own size on the local layer, where they move without
//!   serialisation) and cost ([`chare::lb::LbStep::seconds`]); `sync_ms`,
//!   the main task's wall time for step 1;
//! * `slowdown`: the elements' measured work time over the calibrated work
//!   of the whole run: near 1 on a quiet machine, above when other processes
//!   (or more PEs than cores) share the cores: a warning that the times are
//!   disturbed. The header also prints the load average before and after.
//!
//! # `--cost-only`
//! Measures the cost of one balancing step with many chares: every
//! iteration is a step, with negligible work (a mean cost of 2 us unless
//! `--work-us` says otherwise), `--steps` of them per run; it reports the
//! median of [`chare::lb::LbStep::seconds`] over all steps of all runs, the
//! main task's wall time per step, elements and bytes moved per step.
//! `--balancer rotate` moves every element at every step: the worst case.
//!
//! Nothing here asserts a timing; the numbers are reported as measured.

use std::cell::RefCell;
use std::hint::black_box;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use chare::lb::strategy::{self, ChareLoad, LoadTable, Strategy};
use chare::lb::LbStep;
use chare::prelude::*;
use chare::{Config, Layer, Runtime};
use clap::{Args, ValueEnum};

use crate::harness::{median, RankResult};
use crate::launch::{launcher_size, under_launcher};
use crate::machine_info::MachineInfo;
use crate::report::{fmt_runs, machine_lines, Format, Report};

/// The block placement's max/avg that the default `rho` produces.
pub const DEFAULT_IMBALANCE: f64 = 1.7;
/// Default mean cost of an element per iteration, microseconds: with 64
/// elements on 2 PEs an iteration takes about 27 ms before balancing and
/// 16 ms balanced.
pub const DEFAULT_WORK_US: f64 = 500.0;
/// Default mean cost in `--cost-only` mode, microseconds.
pub const COST_ONLY_WORK_US: f64 = 2.0;

/// How the elements' costs are skewed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Skew {
    /// Element `i` costs `rho^i`.
    Geometric,
    /// A pseudo-random subset, drawn from the first PE's block, costs more.
    Heavy,
}

/// Which strategies to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BalancerArg {
    /// No balancing (the steps are taken, nothing moves): the baseline.
    None,
    /// Heaviest element first onto the least loaded PE.
    Greedy,
    /// Repair the current placement with few moves.
    Refine,
    /// Every element to the next PE (balances nothing; moves everything).
    Rotate,
    /// Each of the above in turn.
    All,
}

impl BalancerArg {
    /// The strategies to run, in order.
    pub fn strategies(self) -> Vec<Strategy> {
        match self {
            BalancerArg::None => vec![Strategy::None],
            BalancerArg::Greedy => vec![Strategy::Greedy],
            BalancerArg::Refine => vec![Strategy::Refine],
            BalancerArg::Rotate => vec![Strategy::Rotate],
            BalancerArg::All => Strategy::ALL.to_vec(),
        }
    }
}

/// What one run balances with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// The array balances with this strategy; its elements start in blocks.
    Balancer(Strategy),
    /// No balancing, but the elements start where the greedy strategy would
    /// put them if it knew the costs exactly (`--oracle`): the best that
    /// balancing can do.
    Oracle,
}

impl Case {
    /// Its name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Case::Balancer(s) => s.name(),
            Case::Oracle => "oracle",
        }
    }

    /// The array's strategy.
    pub fn strategy(self) -> Strategy {
        match self {
            Case::Balancer(s) => s,
            Case::Oracle => Strategy::None,
        }
    }
}

impl std::fmt::Display for Case {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Which machine layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LayerArg {
    /// PEs are threads of this process.
    Local,
    /// One PE per MPI rank: under mpirun, or started with mpirun by this
    /// program (`--pes` ranks; needs the `mpi` feature).
    Mpi,
}

/// Options of `chare-bench lb`.
#[derive(Debug, Clone, Args)]
pub struct LbArgs {
    /// Elements of the array.
    #[arg(long, default_value_t = 64)]
    pub chares: usize,
    /// How the costs are skewed.
    #[arg(long, value_enum, default_value_t = Skew::Geometric)]
    pub skew: Skew,
    /// Geometric skew: element i costs rho^i (default: the rho that makes
    /// the block placement's max/avg 1.7 on the run's PE count).
    #[arg(long)]
    pub rho: Option<f64>,
    /// Heavy skew: the fraction of elements that are heavy [default: 0.25].
    #[arg(long)]
    pub heavy_fraction: Option<f64>,
    /// Heavy skew: how many times more a heavy element costs [default: 8].
    #[arg(long)]
    pub heavy_factor: Option<f64>,
    /// Mean cost of an element per iteration, microseconds [default: 500;
    /// 2 with --cost-only].
    #[arg(long)]
    pub work_us: Option<f64>,
    /// Iterations per run.
    #[arg(long, default_value_t = 40)]
    pub iters: usize,
    /// Iterations between balancing steps.
    #[arg(long, default_value_t = 10)]
    pub lb_period: usize,
    /// Strategy, or `all` to run each in turn.
    #[arg(long, value_enum, default_value_t = BalancerArg::All)]
    pub balancer: BalancerArg,
    /// Repetitions of each strategy; medians are reported.
    #[arg(long, default_value_t = 1)]
    pub runs: usize,
    /// PEs of the local layer (default: the number of cores); under mpirun,
    /// the rank count (checked).
    #[arg(long)]
    pub pes: Option<usize>,
    /// Bytes of state each element carries (and a migration moves).
    #[arg(long, default_value_t = 1024)]
    pub state_bytes: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Only measure the cost of balancing steps (negligible work, every
    /// iteration a step).
    #[arg(long)]
    pub cost_only: bool,
    /// Also run an `oracle` row: no balancing, elements placed from the
    /// start where greedy would put them on the exact costs (what perfect
    /// balancing gives).
    #[arg(long)]
    pub oracle: bool,
    /// Cost-only mode: balancing steps per run.
    #[arg(long, default_value_t = 10)]
    pub steps: usize,
    /// Machine layer (default: mpi under mpirun, local otherwise).
    #[arg(long, value_enum)]
    pub layer: Option<LayerArg>,
}

/// The costs' shape, validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Profile {
    /// Element `i` costs `rho^i`.
    Geometric { rho: f64 },
    /// `count` elements, first PE's block first, cost `factor` times more.
    Heavy { fraction: f64, factor: f64 },
}

/// A validated invocation.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Elements.
    pub chares: usize,
    /// PEs (ranks on the MPI layer).
    pub pes: usize,
    /// `local` or `mpi`.
    pub layer: &'static str,
    /// The costs' shape.
    pub profile: Profile,
    /// Mean cost per element and iteration, microseconds.
    pub work_us: f64,
    /// Iterations per run (cost-only: steps per run).
    pub iters: usize,
    /// Iterations between steps (cost-only: 1).
    pub lb_period: usize,
    /// What runs, in order.
    pub cases: Vec<Case>,
    /// Repetitions of each strategy.
    pub runs: usize,
    /// State bytes per element.
    pub state_bytes: usize,
    /// Cost-only mode.
    pub cost_only: bool,
}

/// Whether this invocation wants to be started again under mpirun
/// (`--layer mpi` outside a launcher).
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub fn wants_mpirun(a: &LbArgs) -> bool {
    a.layer == Some(LayerArg::Mpi) && !under_launcher()
}

/// Checks the options. Errors are one line (usage errors).
pub fn plan(a: &LbArgs, cores: usize) -> Result<Plan, String> {
    if a.chares == 0 || a.chares > 1 << 20 {
        return Err(format!("--chares must be from 1 to {}, got {}", 1 << 20, a.chares));
    }
    if a.runs == 0 {
        return Err("--runs must be at least 1".into());
    }
    if a.pes == Some(0) {
        return Err("--pes must be at least 1".into());
    }
    if a.state_bytes > 1 << 30 {
        return Err(format!("--state-bytes must be at most 2^30, got {}", a.state_bytes));
    }
    let launched = under_launcher();
    let layer = match (a.layer, launched) {
        (Some(LayerArg::Local), true) => return Err("--layer local, but started under mpirun".into()),
        (Some(LayerArg::Mpi), _) | (None, true) if !cfg!(feature = "mpi") => {
            return Err("the MPI layer needs the `mpi` feature (not built)".into())
        }
        (Some(LayerArg::Mpi), _) | (None, true) => "mpi",
        (Some(LayerArg::Local) | None, false) => "local",
    };
    let pes = match (launched, launcher_size()) {
        (true, Some(size)) => match a.pes {
            Some(p) if p != size => return Err(format!("--pes {p} but the launcher started {size} ranks")),
            _ => size,
        },
        _ => a.pes.unwrap_or(cores),
    };
    if pes > chare::config::MAX_PES {
        return Err(format!("--pes ({pes}) is above the limit of {}", chare::config::MAX_PES));
    }
    let profile = match a.skew {
        Skew::Geometric => {
            if a.heavy_fraction.is_some() || a.heavy_factor.is_some() {
                return Err("--heavy-fraction and --heavy-factor apply to --skew heavy".into());
            }
            let rho = match a.rho {
                Some(r) if r.is_finite() && r > 0.0 => r,
                Some(r) => return Err(format!("--rho must be a positive number, got {r}")),
                None => default_rho(a.chares, pes),
            };
            Profile::Geometric { rho }
        }
        Skew::Heavy => {
            if a.rho.is_some() {
                return Err("--rho applies to --skew geometric".into());
            }
            let fraction = a.heavy_fraction.unwrap_or(0.25);
            let factor = a.heavy_factor.unwrap_or(8.0);
            if !(0.0..=1.0).contains(&fraction) {
                return Err(format!("--heavy-fraction must be from 0 to 1, got {fraction}"));
            }
            if !(factor.is_finite() && factor >= 0.0) {
                return Err(format!("--heavy-factor must be a non-negative number, got {factor}"));
            }
            Profile::Heavy { fraction, factor }
        }
    };
    let work_us = a.work_us.unwrap_or(if a.cost_only { COST_ONLY_WORK_US } else { DEFAULT_WORK_US });
    if !(work_us.is_finite() && (0.0..=1e7).contains(&work_us)) {
        return Err(format!("--work-us must be from 0 to 10^7, got {work_us}"));
    }
    let (iters, lb_period) = if a.cost_only {
        if a.oracle {
            return Err("--oracle does not apply to --cost-only".into());
        }
        if a.steps == 0 {
            return Err("--steps must be at least 1".into());
        }
        (a.steps, 1)
    } else {
        if a.lb_period == 0 {
            return Err("--lb-period must be at least 1".into());
        }
        if a.iters <= a.lb_period {
            return Err(format!(
                "--iters ({}) must exceed --lb-period ({}): no balancing step would be measured",
                a.iters, a.lb_period
            ));
        }
        (a.iters, a.lb_period)
    };
    Ok(Plan {
        chares: a.chares,
        pes,
        layer,
        profile,
        work_us,
        iters,
        lb_period,
        cases: a
            .balancer
            .strategies()
            .into_iter()
            .map(Case::Balancer)
            .chain(a.oracle.then_some(Case::Oracle))
            .collect(),
        runs: a.runs,
        state_bytes: a.state_bytes,
        cost_only: a.cost_only,
    })
}

// ---------------------------------------------------------------------------
// Costs.

/// The PE of element `i` of `k` in the block placement on `pes` PEs (the
/// runtime's `Placement::Block`).
pub fn block_pe(i: usize, k: usize, pes: usize) -> usize {
    i * pes / k
}

/// splitmix64: a deterministic pseudo-random word per element.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The relative cost of every element (before normalisation).
fn shape(profile: Profile, k: usize, pes: usize) -> Vec<f64> {
    match profile {
        Profile::Geometric { rho } => {
            // rho^i relative to the largest term, so that neither end
            // underflows or overflows for any rho.
            let (lo, hi) = (0.0, (k.saturating_sub(1)) as f64);
            let top = if rho <= 1.0 { lo } else { hi };
            (0..k).map(|i| (rho.ln() * (i as f64 - top)).exp()).collect()
        }
        Profile::Heavy { fraction, factor } => {
            let heavy = ((fraction * k as f64).round() as usize).min(k);
            // Elements by block, then pseudo-randomly within the block: the
            // first `heavy` of this order are heavy.
            let mut order: Vec<usize> = (0..k).collect();
            order.sort_by_key(|&i| (block_pe(i, k, pes), mix(i as u64)));
            let mut costs = vec![1.0; k];
            for &i in &order[..heavy] {
                costs[i] = factor;
            }
            costs
        }
    }
}

/// Every element's cost per iteration in microseconds: `profile`'s shape
/// scaled to a mean of `mean_us` (all zero when the shape sums to zero).
pub fn costs_us(profile: Profile, k: usize, pes: usize, mean_us: f64) -> Vec<f64> {
    let s = shape(profile, k, pes);
    let total: f64 = s.iter().sum();
    let scale = if total > 0.0 { mean_us * k as f64 / total } else { 0.0 };
    s.into_iter().map(|c| c * scale).collect()
}

/// The table a strategy would see if it measured `costs` exactly, with
/// elements in the block placement and no background load.
fn cost_table(costs: &[f64], pes: usize) -> LoadTable {
    let k = costs.len();
    LoadTable {
        background: vec![0.0; pes],
        chares: costs.iter().enumerate().map(|(i, &load)| ChareLoad { pe: block_pe(i, k, pes), load }).collect(),
    }
}

/// max/avg PE load of the block placement of `costs`.
pub fn block_imbalance(costs: &[f64], pes: usize) -> f64 {
    let t = cost_table(costs, pes);
    let here: Vec<usize> = t.chares.iter().map(|c| c.pe).collect();
    strategy::imbalance(&strategy::pe_loads(&t, &here))
}

/// max/avg PE load after `s` decided on exact `costs`.
pub fn ideal_imbalance(costs: &[f64], pes: usize, s: Strategy) -> f64 {
    let t = cost_table(costs, pes);
    strategy::imbalance(&strategy::pe_loads(&t, &strategy::decide(s, &t)))
}

/// The geometric `rho` whose block placement on `pes` PEs has max/avg
/// [`DEFAULT_IMBALANCE`] (found by bisection: the imbalance falls as `rho`
/// rises to 1). On one PE, or with fewer elements than that allows, the
/// 2-PE value.
pub fn default_rho(k: usize, pes: usize) -> f64 {
    let p = pes.max(2);
    let imb = |rho: f64| block_imbalance(&costs_us(Profile::Geometric { rho }, k, p, 1.0), p);
    let (mut lo, mut hi) = (1e-9, 1.0);
    if imb(lo) < DEFAULT_IMBALANCE {
        return lo;
    }
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if imb(mid) >= DEFAULT_IMBALANCE {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

// ---------------------------------------------------------------------------
// Work.

/// `steps` dependent multiply-add-xorshift steps; the count and the result
/// pass through [`black_box`], so the loop is neither folded nor removed.
#[inline(never)]
pub fn spin(steps: u64) -> u64 {
    let mut x = black_box(0x2545_f491_4f6c_dd1d_u64);
    for _ in 0..black_box(steps) {
        x = x.wrapping_mul(0x5851_f42d_4c95_7f2d).wrapping_add(0x1405_7b7e_f767_814f);
        x ^= x >> 29;
    }
    black_box(x)
}

/// Steps of [`spin`] per microsecond on this core: the fastest sample of
/// about 2 ms over at least 100 ms of spinning (the first samples also
/// bring the core up to its working clock; the fastest is the least
/// disturbed).
pub fn calibrate() -> f64 {
    let mut n = 1u64 << 12;
    // Grow the sample until it takes about 2 ms.
    loop {
        let t = Instant::now();
        spin(n);
        if t.elapsed().as_secs_f64() > 2e-3 || n > 1 << 34 {
            break;
        }
        n *= 2;
    }
    let (start, mut best, mut samples) = (Instant::now(), 0.0f64, 0);
    while samples < 15 || start.elapsed().as_secs_f64() < 0.1 {
        let t = Instant::now();
        spin(n);
        best = best.max(n as f64 / (t.elapsed().as_secs_f64() * 1e6));
        samples += 1;
    }
    best
}

// ---------------------------------------------------------------------------
// The chare.

/// What an element reports per iteration: its PE and its work time (s).
type Sample = (u32, f64);

/// One element of the benchmark's array.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Worker {
    /// Steps of [`spin`] per iteration.
    work: u64,
    /// The state a migration moves: byte `j` is `pattern(index, j)`.
    state: Buffer<u8>,
    /// The future to contribute to once resumed after this period's step.
    resumed: Option<Future<()>>,
    /// Moves so far (the `migrated` hook).
    moves: u32,
}

/// Byte `j` of element `i`'s state.
fn pattern(i: usize, j: usize) -> u8 {
    (i.wrapping_mul(131).wrapping_add(j.wrapping_mul(7)) >> 1) as u8
}

#[chare(migratable)]
impl Worker {
    /// `work`: every element's steps of [`spin`] per iteration (shared, not
    /// copied, by the elements of a process).
    fn new(ctx: &Ctx<Self>, work: SharedBuffer<u64>, state_bytes: usize) -> Self {
        let i = ctx.index().i();
        let state: Vec<u8> = (0..state_bytes).map(|j| pattern(i, j)).collect();
        Worker { work: work[i], state: state.into(), resumed: None, moves: 0 }
    }

    fn migrated(&mut self) {
        self.moves += 1;
    }

    /// One iteration: work, contribute to the barrier, and with `resumed`
    /// reach a sync point (the balancer resumes the element later).
    #[entry]
    fn step(&mut self, ctx: &Ctx<Self>, it: usize, done: Future<Vec<Sample>>, resumed: Option<Future<()>>) {
        let t = Instant::now();
        spin(self.work);
        // Read the state, so that it is live.
        if !self.state.is_empty() {
            black_box(self.state[it % self.state.len()]);
        }
        let secs = t.elapsed().as_secs_f64();
        ctx.contribute((ctx.my_pe() as u32, secs), Gather, done);
        if let Some(r) = resumed {
            self.resumed = Some(r);
            ctx.at_sync();
        }
    }

    /// After a balancing step, on the element's (possibly new) PE.
    #[entry]
    fn resume_from_sync(&mut self, ctx: &Ctx<Self>) {
        if let Some(r) = self.resumed.take() {
            ctx.contribute((), Nop, r);
        }
    }

    /// The element's moves and whether its state is intact.
    #[entry]
    fn check(&self, ctx: &Ctx<Self>, done: Future<Vec<(u32, bool)>>) {
        let i = ctx.index().i();
        let intact = self.state.iter().enumerate().all(|(j, &b)| b == pattern(i, j));
        ctx.contribute((self.moves, intact), Gather, done);
    }
}

// ---------------------------------------------------------------------------
// Running.

/// One run of one strategy, as the main task saw it.
#[derive(Debug, Clone)]
pub struct RunRecord {
    /// What ran.
    pub case: Case,
    /// Seconds per iteration, broadcast to barrier.
    pub iter_s: Vec<f64>,
    /// Per iteration, max/avg over PEs of the elements' own work time.
    pub app_imbalance: Vec<f64>,
    /// Per iteration, the elements' work time summed over all elements.
    pub work_s: Vec<f64>,
    /// Per balancing step, the main task's wall time from the barrier to
    /// every element resumed.
    pub sync_s: Vec<f64>,
    /// The runtime's reports of this array's steps.
    pub steps: Vec<LbStep>,
    /// Element moves counted by the elements' `migrated` hooks.
    pub moves: u64,
}

/// max/avg of the per-PE sums of `samples`' work times over `pes` PEs.
fn app_imbalance(samples: &[Sample], pes: usize) -> f64 {
    let mut per_pe = vec![0.0; pes];
    for &(pe, secs) in samples {
        if let Some(p) = per_pe.get_mut(pe as usize) {
            *p += secs;
        }
    }
    strategy::imbalance(&per_pe)
}

/// What every run gets from the root's set-up.
#[derive(Clone)]
struct Setup {
    /// Steps of [`spin`] per iteration, per element.
    work: SharedBuffer<u64>,
    /// The oracle placement: the PE of every element.
    oracle: Arc<[u32]>,
}

/// One run of `case` on a fresh array, in the job's main task.
async fn one_run(rt: &Rt, p: &Plan, setup: &Setup, case: Case) -> Result<RunRecord, String> {
    let pes = rt.num_pes();
    let first_step = rt.lb_steps().len();
    let placement = match case {
        Case::Oracle => Placement::Table(setup.oracle.clone()),
        Case::Balancer(_) => Placement::Block,
    };
    let builder = rt.array::<Worker>(p.chares).map(placement).balancer(case.strategy());
    let a = builder.create_awaitable((setup.work.clone(), p.state_bytes)).await;
    let mut rec = RunRecord {
        case,
        iter_s: Vec::with_capacity(p.iters),
        app_imbalance: Vec::with_capacity(p.iters),
        work_s: Vec::with_capacity(p.iters),
        sync_s: Vec::new(),
        steps: Vec::new(),
        moves: 0,
    };
    for it in 0..p.iters {
        // Cost-only: every iteration is a step; otherwise after every
        // period but the last.
        let sync = (it + 1) % p.lb_period == 0 && (p.cost_only || it + 1 < p.iters);
        let resumed = sync.then(|| rt.future::<()>());
        let done = rt.future::<Vec<Sample>>();
        let t0 = Instant::now();
        a.step(it, done.clone(), resumed.clone());
        let samples = done.await;
        rec.iter_s.push(t0.elapsed().as_secs_f64());
        rec.app_imbalance.push(app_imbalance(&samples, pes));
        rec.work_s.push(samples.iter().map(|s| s.1).sum());
        if let Some(r) = resumed {
            let t1 = Instant::now();
            r.await;
            rec.sync_s.push(t1.elapsed().as_secs_f64());
        }
    }
    // Every PE has reported its moves to PE 0 once the job is quiescent.
    rt.wait_quiescence().await;
    rec.steps = rt.lb_steps().into_iter().skip(first_step).collect();
    let checked = rt.future::<Vec<(u32, bool)>>();
    a.check(checked.clone());
    let checked = checked.await;
    if let Some(i) = checked.iter().position(|&(_, intact)| !intact) {
        return Err(format!("element {i} of the {case} run: state changed by its moves"));
    }
    rec.moves = checked.iter().map(|&(m, _)| u64::from(m)).sum();
    if rec.steps.len() != rec.sync_s.len() {
        return Err(format!(
            "the {case} run took {} balancing steps, the runtime reported {}",
            rec.sync_s.len(),
            rec.steps.len()
        ));
    }
    let reported: u64 = rec.steps.iter().map(|s| s.moved as u64).sum();
    if reported != rec.moves {
        return Err(format!(
            "the {case} run: the runtime reported {reported} moves, the elements counted {}",
            rec.moves
        ));
    }
    Ok(rec)
}

/// What the main task of a job hands back.
type JobResult = Result<Vec<RunRecord>, String>;

/// Runs `cases` in order (one fresh array each) in one job; the root
/// gets the records. The configuration comes from the environment only, with
/// `p.pes` PEs (`--balancer all` is this program's option, not the
/// runtime's, and each array names its strategy anyway): `CHARE_IDLE`,
/// `CHARE_PIN`, `CHARE_LB_VERBOSE` and the others apply.
fn job(p: &Plan, setup: &Setup, cases: Vec<Case>) -> Result<RankResult<Vec<RunRecord>>, String> {
    let pes = p.pes.to_string();
    let env = |k: &str| if k == "CHARE_PES" { Some(pes.clone()) } else { std::env::var(k).ok() };
    let cfg = Config::from_sources(&[], env).map_err(|e| e.0)?;
    let layer = cfg.layer;
    let out: Rc<RefCell<Option<JobResult>>> = Rc::new(RefCell::new(None));
    let out2 = out.clone();
    let (p2, setup2) = (p.clone(), setup.clone());
    let code = Runtime::with_config(cfg)
        .run(move |rt| async move {
            let mut recs = Vec::with_capacity(cases.len());
            for c in cases {
                match one_run(&rt, &p2, &setup2, c).await {
                    Ok(r) => recs.push(r),
                    Err(e) => {
                        *out2.borrow_mut() = Some(Err(e));
                        return;
                    }
                }
            }
            *out2.borrow_mut() = Some(Ok(recs));
        })
        .map_err(|e| e.to_string())?;
    if code != 0 {
        return Err(format!("runtime exited with code {code}"));
    }
    let taken = out.borrow_mut().take();
    match taken {
        Some(r) => r.map(RankResult::Root),
        None if layer == Layer::Mpi => Ok(RankResult::NotRoot),
        None => Err("benchmark produced no result".into()),
    }
}

/// What the root learns: the calibration and every run's record, in the
/// order run (run 1 of every strategy, then run 2, ...).
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `/proc/loadavg`'s three averages before the runs (other work on the
    /// machine disturbs the timings).
    pub load_before: String,
    /// Steps of [`spin`] per microsecond.
    pub rate: f64,
    /// Every element's cost, microseconds.
    pub costs: Vec<f64>,
    /// The records.
    pub records: Vec<RunRecord>,
}

/// Calibrates, then runs every (run, strategy): a job each on the local
/// layer, one job for all on the MPI layer.
pub fn execute(p: &Plan) -> Result<RankResult<Outcome>, String> {
    let load_before = load_average();
    let rate = calibrate();
    let costs = costs_us(p.profile, p.chares, p.pes, p.work_us);
    let work: SharedBuffer<u64> = costs.iter().map(|&c| (c * rate).round() as u64).collect::<Vec<_>>().into();
    let t = cost_table(&costs, p.pes);
    let oracle = strategy::decide(Strategy::Greedy, &t).into_iter().map(|pe| pe as u32).collect();
    let setup = Setup { work, oracle };
    let order: Vec<Case> = (0..p.runs).flat_map(|_| p.cases.iter().copied()).collect();
    let records = if p.layer == "mpi" {
        job(p, &setup, order)?
    } else {
        let mut all = Vec::with_capacity(order.len());
        for c in order {
            // Each job on a thread of its own: the runtime pins the thread
            // that runs PE 0 to a core and leaves it pinned after the job,
            // so a second job started from the same thread would see one
            // core (`available_parallelism` and `core_affinity` read the
            // thread's affinity) and run every PE on it.
            let ran = std::thread::scope(|s| s.spawn(|| job(p, &setup, vec![c])).join());
            match ran.map_err(|_| "a benchmark job panicked".to_string())?? {
                RankResult::Root(r) => all.extend(r),
                RankResult::NotRoot => return Ok(RankResult::NotRoot),
            }
        }
        RankResult::Root(all)
    };
    Ok(records.map(|records| Outcome { load_before, rate, costs, records }))
}

// ---------------------------------------------------------------------------
// Summaries and the report.

/// One run's figures (see the module docs for their meaning).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunFigures {
    /// Seconds per iteration before the first step.
    pub before_s: f64,
    /// Seconds per iteration after the first step.
    pub after_s: f64,
    /// The runtime's max/avg before step 1, before step 2 (NaN without
    /// one), and step 1's prediction.
    pub lb_before: f64,
    pub lb_after: f64,
    pub predicted: f64,
    /// The elements' own max/avg before and after step 1.
    pub app_before: f64,
    pub app_after: f64,
    /// Step 1: elements moved, bytes, cost in seconds; the main task's
    /// wall time for it.
    pub moved: f64,
    pub bytes: f64,
    pub step_s: f64,
    pub sync_s: f64,
    /// The elements' measured work time over the calibrated one, whole run:
    /// above 1 when the PEs shared their cores or ran slower than at
    /// calibration.
    pub slowdown: f64,
}

/// The figures of one (non-cost-only) run; `work_s` is the calibrated work
/// of one iteration, all elements together.
pub fn figures(r: &RunRecord, period: usize, work_s: f64) -> RunFigures {
    let before = 1.min(period - 1)..period;
    let step = |k: usize| r.steps.get(k);
    RunFigures {
        before_s: median(&r.iter_s[before.clone()]),
        after_s: median(&r.iter_s[period..]),
        lb_before: step(0).map_or(f64::NAN, |s| s.imbalance_before),
        lb_after: step(1).map_or(f64::NAN, |s| s.imbalance_before),
        predicted: step(0).map_or(f64::NAN, |s| s.imbalance_predicted),
        app_before: median(&r.app_imbalance[before]),
        app_after: median(&r.app_imbalance[period..]),
        moved: step(0).map_or(f64::NAN, |s| s.moved as f64),
        bytes: step(0).map_or(f64::NAN, |s| s.bytes as f64),
        step_s: step(0).map_or(f64::NAN, |s| s.seconds),
        sync_s: r.sync_s.first().copied().unwrap_or(f64::NAN),
        slowdown: r.work_s.iter().sum::<f64>() / (work_s * r.work_s.len() as f64),
    }
}

/// A number with `d` decimals, `n/a` for NaN.
fn num(v: f64, d: usize) -> String {
    if v.is_nan() {
        "n/a".into()
    } else {
        format!("{v:.d$}")
    }
}

/// The header lines every mode shares.
fn header(p: &Plan, o: &Outcome, command: &str, machine: &MachineInfo) -> Vec<String> {
    let profile = match p.profile {
        Profile::Geometric { rho } => format!("geometric, rho {rho:.6} (element i costs rho^i)"),
        Profile::Heavy { fraction, factor } => format!(
            "heavy, fraction {fraction}, factor {factor} ({} heavy elements, first PE's block first)",
            ((fraction * p.chares as f64).round() as usize).min(p.chares)
        ),
    };
    let max_cost = o.costs.iter().copied().fold(0.0, f64::max);
    let min_cost = o.costs.iter().copied().fold(f64::INFINITY, f64::min);
    let mut h = vec![
        format!("command: {command}"),
        format!("layer: {}", p.layer),
        format!("pes: {}", p.pes),
        format!("chares: {} (block placement: element i on PE i*P/K)", p.chares),
        format!("skew: {profile}"),
        format!("work: mean {} us per element and iteration (min {min_cost:.2}, max {max_cost:.2})", p.work_us),
        format!("calibration: {:.1} work steps per us (root process, fastest 2 ms sample in 100 ms)", o.rate),
        format!("state: {} bytes per element", p.state_bytes),
        format!("expected initial max/avg (costs, block placement): {:.3}", block_imbalance(&o.costs, p.pes)),
        format!(
            "expected max/avg on exact costs: greedy {:.3}, refine {:.3}",
            ideal_imbalance(&o.costs, p.pes, Strategy::Greedy),
            ideal_imbalance(&o.costs, p.pes, Strategy::Refine)
        ),
        format!("strategies: {}", p.cases.iter().map(|c| c.name()).collect::<Vec<_>>().join(", ")),
        format!("runs: {} per strategy, interleaved; figures are medians over the runs", p.runs),
        if p.layer == "mpi" {
            "jobs: one for all runs (MPI starts once per process), a fresh array per run, one after the other".into()
        } else {
            "jobs: one per run, each from a fresh thread".into()
        },
    ];
    h.extend(machine_lines(machine, Some(p.pes)));
    h.push(format!("load average (1, 5, 15 min): {} before, {} after", o.load_before, load_average()));
    h
}

/// The three load averages of `/proc/loadavg`, or `unknown`.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// Table columns of the imbalance benchmark.
pub const COLUMNS: [&str; 16] = [
    "strategy",
    "before_ms",
    "after_ms",
    "after/before",
    "after/none",
    "lb_before",
    "lb_after",
    "predicted",
    "app_before",
    "app_after",
    "moved",
    "bytes",
    "step_ms",
    "sync_ms",
    "slowdown",
    "runs",
];

/// The report of the imbalance benchmark.
pub fn report(p: &Plan, o: &Outcome, command: &str, machine: &MachineInfo) -> Report {
    let mut header = vec!["chare-bench lb (synthetic load imbalance, measurement-based balancing)".to_string()];
    header.extend(self::header(p, o, command, machine));
    header.push(format!(
        "iterations: {} per run, a balancing step after every {} (not after the last): {} steps",
        p.iters,
        p.lb_period,
        (p.iters - 1) / p.lb_period
    ));
    header.push(format!(
        "before: median of iterations 2..{} (the first is warm-up); after: median of iterations {}..{}",
        p.lb_period,
        p.lb_period + 1,
        p.iters
    ));
    header.push("lb_before/lb_after: the runtime's measured max/avg PE load before step 1 and before step 2; app_*: the same from the elements' own timers; moved/bytes/step_ms: step 1 (bytes: objects' size on the local layer, serialised state on MPI); sync_ms: main task's wall time for step 1; slowdown: measured work time / calibrated work time".into());
    let work_s = o.costs.iter().sum::<f64>() * 1e-6;
    let per: Vec<(Case, Vec<RunFigures>)> = p
        .cases
        .iter()
        .map(|&c| (c, o.records.iter().filter(|r| r.case == c).map(|r| figures(r, p.lb_period, work_s)).collect()))
        .collect();
    let med = |f: &[RunFigures], g: fn(&RunFigures) -> f64| median(&f.iter().map(g).collect::<Vec<_>>());
    let none_after = per.iter().find(|(c, _)| *c == Case::Balancer(Strategy::None)).map(|(_, f)| med(f, |x| x.after_s));
    let rows = per
        .iter()
        .map(|(s, f)| {
            let (before, after) = (med(f, |x| x.before_s), med(f, |x| x.after_s));
            vec![
                s.name().to_string(),
                num(before * 1e3, 3),
                num(after * 1e3, 3),
                num(after / before, 3),
                none_after.map_or("n/a".into(), |n| num(after / n, 3)),
                num(med(f, |x| x.lb_before), 3),
                num(med(f, |x| x.lb_after), 3),
                num(med(f, |x| x.predicted), 3),
                num(med(f, |x| x.app_before), 3),
                num(med(f, |x| x.app_after), 3),
                num(med(f, |x| x.moved), 0),
                num(med(f, |x| x.bytes), 0),
                num(med(f, |x| x.step_s) * 1e3, 3),
                num(med(f, |x| x.sync_s) * 1e3, 3),
                num(med(f, |x| x.slowdown), 3),
                f.len().to_string(),
            ]
        })
        .collect();
    let mut footer = Vec::new();
    for (s, f) in &per {
        let col = |g: fn(&RunFigures) -> f64, scale: f64, d: usize| {
            fmt_runs(&f.iter().map(|x| g(x) * scale).collect::<Vec<_>>(), d)
        };
        footer.push(format!(
            "{}: per run before_ms={} after_ms={} lb_before={} lb_after={} app_before={} app_after={} moved={} step_ms={} slowdown={}",
            s.name(),
            col(|x| x.before_s, 1e3, 3),
            col(|x| x.after_s, 1e3, 3),
            col(|x| x.lb_before, 1.0, 3),
            col(|x| x.lb_after, 1.0, 3),
            col(|x| x.app_before, 1.0, 3),
            col(|x| x.app_after, 1.0, 3),
            col(|x| x.moved, 1.0, 0),
            col(|x| x.step_s, 1e3, 3),
            col(|x| x.slowdown, 1.0, 3),
        ));
    }
    for (k, r) in o.records.iter().enumerate() {
        let steps: Vec<String> = r
            .steps
            .iter()
            .map(|s| {
                format!(
                    "{:.3}->{:.3} moved {} ({} B) {:.2} ms",
                    s.imbalance_before,
                    s.imbalance_predicted,
                    s.moved,
                    s.bytes,
                    s.seconds * 1e3
                )
            })
            .collect();
        footer.push(format!("record {} ({}): steps {}", k + 1, r.case, steps.join("; ")));
    }
    Report { header, columns: COLUMNS.to_vec(), rows, footer }
}

/// Table columns of `--cost-only`.
pub const COST_COLUMNS: [&str; 9] =
    ["strategy", "chares", "state_bytes", "steps", "step_ms", "step_ms_max", "sync_ms", "moved", "bytes"];

/// The report of `--cost-only`: per strategy, medians over every step of
/// every run.
pub fn cost_report(p: &Plan, o: &Outcome, command: &str, machine: &MachineInfo) -> Report {
    let mut header = vec!["chare-bench lb --cost-only (cost of one balancing step)".to_string()];
    header.extend(self::header(p, o, command, machine));
    header.push(format!("steps: {} per run, one after every iteration", p.iters));
    header.push("step_ms: median LbStep.seconds (last load at PE 0 to every PE done moving); step_ms_max: the largest; sync_ms: median main-task wall time from the barrier to every element resumed; moved, bytes: medians per step (bytes: objects' size on the local layer, serialised state on MPI)".into());
    let mut rows = Vec::new();
    let mut footer = Vec::new();
    for &s in &p.cases {
        let steps: Vec<&LbStep> = o.records.iter().filter(|r| r.case == s).flat_map(|r| &r.steps).collect();
        let sync: Vec<f64> = o.records.iter().filter(|r| r.case == s).flat_map(|r| r.sync_s.clone()).collect();
        let secs: Vec<f64> = steps.iter().map(|x| x.seconds * 1e3).collect();
        rows.push(vec![
            s.name().to_string(),
            p.chares.to_string(),
            p.state_bytes.to_string(),
            steps.len().to_string(),
            num(median(&secs), 3),
            num(secs.iter().copied().fold(f64::NAN, f64::max), 3),
            num(median(&sync) * 1e3, 3),
            num(median(&steps.iter().map(|x| x.moved as f64).collect::<Vec<_>>()), 0),
            num(median(&steps.iter().map(|x| x.bytes as f64).collect::<Vec<_>>()), 0),
        ]);
        footer.push(format!("{}: step_ms per step {}", s.name(), fmt_runs(&secs, 3)));
    }
    Report { header, columns: COST_COLUMNS.to_vec(), rows, footer }
}

/// Runs the plan; the root gets the report. Errors are run-time failures.
pub fn run(p: &Plan, command: String, machine: &MachineInfo) -> Result<RankResult<Report>, String> {
    Ok(execute(p)?.map(|o| {
        if p.cost_only {
            cost_report(p, &o, &command, machine)
        } else {
            report(p, &o, &command, machine)
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_rho_gives_the_target_imbalance() {
        for (k, pes) in [(64, 2), (64, 4), (100, 3), (1000, 2)] {
            let rho = default_rho(k, pes);
            let imb = block_imbalance(&costs_us(Profile::Geometric { rho }, k, pes, 1.0), pes);
            assert!((imb - DEFAULT_IMBALANCE).abs() < 1e-6, "k={k} pes={pes}: rho {rho} gives {imb}");
        }
        // The closed form on 2 PEs: 2 / (1 + rho^(K/2)) = 1.7.
        let rho = default_rho(64, 2);
        assert!((rho - (2.0f64 / 1.7 - 1.0).powf(2.0 / 64.0)).abs() < 1e-9);
    }

    #[test]
    fn costs_have_the_requested_mean() {
        for profile in [
            Profile::Geometric { rho: 0.9 },
            Profile::Geometric { rho: 1.3 },
            Profile::Heavy { fraction: 0.25, factor: 8.0 },
        ] {
            let c = costs_us(profile, 64, 2, 500.0);
            let mean = c.iter().sum::<f64>() / 64.0;
            assert!((mean - 500.0).abs() < 1e-9, "{profile:?}: {mean}");
        }
        assert!(costs_us(Profile::Heavy { fraction: 1.0, factor: 0.0 }, 8, 2, 5.0).iter().all(|&c| c == 0.0));
    }

    #[test]
    fn heavy_elements_fill_the_first_block() {
        let c = costs_us(Profile::Heavy { fraction: 0.25, factor: 8.0 }, 64, 2, 1.0);
        let heavy: Vec<usize> = (0..64).filter(|&i| c[i] > c.iter().copied().fold(f64::INFINITY, f64::min)).collect();
        assert_eq!(heavy.len(), 16);
        assert!(heavy.iter().all(|&i| i < 32), "{heavy:?}");
        // 16 * 8 + 16 against 32: max/avg = 144 / 88.
        assert!((block_imbalance(&c, 2) - 144.0 / 88.0).abs() < 1e-9);
        // More heavy elements than a block: the rest come from the next block.
        let c = costs_us(Profile::Heavy { fraction: 0.75, factor: 2.0 }, 8, 2, 1.0);
        let light = c.iter().copied().fold(f64::INFINITY, f64::min);
        assert_eq!(c.iter().filter(|&&x| x > light).count(), 6);
        assert!(c[..4].iter().all(|&x| x > light), "{c:?}");
    }

    #[test]
    fn validation() {
        use clap::Parser;
        #[derive(Parser)]
        struct P {
            #[command(flatten)]
            a: LbArgs,
        }
        let parse = |args: &[&str]| P::try_parse_from(std::iter::once("lb").chain(args.iter().copied())).unwrap().a;
        if under_launcher() {
            return;
        }
        let p = plan(&parse(&[]), 2).unwrap();
        assert_eq!((p.chares, p.pes, p.iters, p.lb_period, p.runs, p.layer), (64, 2, 40, 10, 1, "local"));
        assert_eq!(p.cases, Strategy::ALL.map(Case::Balancer).to_vec());
        assert_eq!(p.work_us, DEFAULT_WORK_US);
        let p = plan(&parse(&["--cost-only", "--balancer", "rotate", "--chares", "1000"]), 2).unwrap();
        assert_eq!((p.iters, p.lb_period, p.work_us), (10, 1, COST_ONLY_WORK_US));
        assert_eq!(p.cases, vec![Case::Balancer(Strategy::Rotate)]);
        let p = plan(&parse(&["--balancer", "greedy", "--oracle"]), 2).unwrap();
        assert_eq!(p.cases, vec![Case::Balancer(Strategy::Greedy), Case::Oracle]);
        for bad in [
            &["--chares", "0"][..],
            &["--runs", "0"],
            &["--pes", "0"],
            &["--lb-period", "0"],
            &["--iters", "10"],
            &["--rho", "0"],
            &["--rho=-1"],
            &["--heavy-factor", "2"],
            &["--skew", "heavy", "--rho", "0.9"],
            &["--skew", "heavy", "--heavy-fraction", "1.5"],
            &["--work-us=-1"],
            &["--cost-only", "--steps", "0"],
            &["--layer", "local", "--pes", "5000"],
        ] {
            assert!(plan(&parse(bad), 2).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn spin_is_calibrated() {
        let rate = calibrate();
        assert!(rate.is_finite() && rate > 0.0);
        assert_ne!(spin(1000), spin(1001));
    }

    #[test]
    fn every_strategy_runs_and_moves_state_intact() {
        if under_launcher() {
            return;
        }
        let a = LbArgs {
            chares: 16,
            skew: Skew::Geometric,
            rho: None,
            heavy_fraction: None,
            heavy_factor: None,
            work_us: Some(50.0),
            iters: 7,
            lb_period: 2,
            balancer: BalancerArg::All,
            runs: 1,
            pes: Some(2),
            state_bytes: 64,
            format: Format::Csv,
            cost_only: false,
            oracle: true,
            steps: 1,
            layer: None,
        };
        let p = plan(&a, 2).unwrap();
        let o = execute(&p).unwrap().root().unwrap();
        assert_eq!(o.records.len(), 5);
        for r in &o.records {
            assert_eq!(r.iter_s.len(), 7);
            assert_eq!(r.steps.len(), 3, "{:?}", r.case);
            if r.case == Case::Balancer(Strategy::Rotate) {
                assert!(r.steps.iter().all(|s| s.moved == 16));
            }
            if r.case.strategy() == Strategy::None {
                assert_eq!(r.moves, 0);
            }
        }
        let text = report(&p, &o, "lb", &MachineInfo::detect()).render(Format::Csv);
        assert_eq!(text.lines().filter(|l| !l.starts_with('#')).count(), 6, "{text}");
        let p =
            plan(&LbArgs { cost_only: true, steps: 3, balancer: BalancerArg::Rotate, oracle: false, ..a }, 2).unwrap();
        let o = execute(&p).unwrap().root().unwrap();
        assert_eq!(o.records[0].steps.len(), 3);
        let text = cost_report(&p, &o, "lb", &MachineInfo::detect()).render(Format::Table);
        assert!(text.contains("rotate"), "{text}");
    }
}
