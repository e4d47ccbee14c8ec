//! The `chare` model of PIC: a 2-D array of migratable chares, one per tile
//! (PAPER.md section 5; Charm4Py's `pic-charm.py` in the paper's code).
//!
//! # Decomposition and placement
//! `--pes P --odf K` cut the grid into `P K` tiles by the PRK's rule
//! ([`Tiling::new`]: `nx` the largest divisor of `P K` not above
//! `sqrt(P K + 1)`). The array has dimensions `[ny, nx]` and element
//! `(iy, ix)` holds tile `iy nx + ix`, so that the array's row-major order
//! is the PRK's rank order and the default block placement puts tiles
//! `p K .. (p + 1) K` on PE `p` (with `K = 1`: tile `p` on PE `p`, as the
//! MPI model's rank `p`), as Charm4Py's 1-D array of `P K` chares does.
//!
//! # One step of a tile
//! [`kernel::step_tile`] moves the tile's particles and sorts out those
//! leaving it by neighbour slot ([`kernel::DIRECTIONS`]); to each of the 8
//! neighbours (the slots naming another tile) the tile sends one
//! `Buffer<u64>` of packed particles ([`kernel::pack`]: 10 words each; an
//! empty buffer when none leave that way, so that every channel carries
//! exactly one value per step), then receives one value per channel, in
//! whatever order they arrive ([`iwait`]), and appends the particles. The
//! received buffers are reused for the next step's sends.
//!
//! Channels are opened once, in the constructor, with explicit ports
//! ([`Ctx::channel_on`]): slot `d` of tile `A` pairs with slot
//! `opposite(d)` of its neighbour `B` on port `d` if `A < B`, else on port
//! `opposite(d)` (the slot on the lower tile's side), so both ends name the
//! same port even when one tile is a neighbour in several directions (2
//! tiles along an axis). Slots naming the tile itself (1 tile along an axis)
//! get no channel: [`kernel::Neighbourhood::route`] never sends there. The
//! channels live in the chare's state and keep working after it migrates.
//!
//! # The run
//! 1. Each tile counts the particles its columns get
//!    ([`kernel::column_counts`]) and the counts are gathered in the main
//!    task, which computes every tile's id bases ([`all_id_bases`]) and sends
//!    each tile its own; the tiles draw their particles
//!    ([`kernel::init_particles_with_bases`]): the same particles and ids as
//!    the serial run.
//! 2. The untimed warm-up step (a `run` of one step, ended by a barrier).
//! 3. The timed steps: the main task takes the time, broadcasts `run` and
//!    awaits the barrier (a `Nop` reduction) of the last step. The tiles run
//!    their steps on their own, in an async entry; with load balancing, after
//!    every `--lb-period` timed steps (not after the last) each tile calls
//!    [`Ctx::at_sync`] and *returns* (an element migrates only when none of
//!    its entries runs), and its `resume_from_sync` sends itself `steps` to
//!    go on, on whatever PE it now lives.
//! 4. Verification: every tile's [`Check`], merged by a reduction with a
//!    custom combiner ([`Check::merge`]); the tiles' measurements in a
//!    gather.
//!
//! # Load balancing
//! `--balancer S` (greedy, refine, rotate) balances every `--lb-period`
//! steps (default [`DEFAULT_LB_PERIOD`], the paper's 80) with strategy `S`;
//! `--lb-period` alone balances with the runtime's default strategy
//! (`CHARE_BALANCER`, greedy unless set); `--balancer none` alone does not
//! balance, and with `--lb-period` it stops at the sync points but moves
//! nothing (the cost of the sync points alone). The runtime measures each
//! tile's time in entry methods; note that the first period's measurement
//! also holds the tile's initialisation (counting and drawing its
//! particles) and the warm-up step.
//!
//! # What is reported
//! The serial model's columns, and in the header: the layer, the tiles, the
//! balancing, particles per PE (min/max) at the start and at the end, and
//! the tiles' own timers per period between sync points: each PE's compute
//! time (the tiles' `step_tile`, pack and unpack) gives the max/avg load of
//! the first period (before any balancing) and the mean of the later
//! periods' (after), the slowest PE's and the heaviest tile's compute time
//! per step, and the mean time a tile waits for its neighbours' particles.
//! After the rows, the runtime's report of every balancing step
//! ([`LbStep`]).
//!
//! On the MPI layer (started by `mpirun`, built with the `mpi` feature)
//! every rank is a PE; only rank 0 reports.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use chare::lb::strategy::{self, Strategy};
use chare::lb::LbStep;
use chare::prelude::*;
use chare::{Config, Layer, Runtime};
use serde::{Deserialize, Serialize};

use super::kernel::{self, Check, Neighbourhood, Params, Particle, Tiling};
use super::{header, Plan, COLUMNS};
use crate::harness::RankResult;
use crate::launch::{launcher_size, under_launcher};
use crate::machine_info::MachineInfo;
use crate::report::{Format, Report};

/// Steps between balancing steps when `--balancer` is given without
/// `--lb-period` (the paper's).
pub const DEFAULT_LB_PERIOD: usize = 80;

/// Most PEs the model accepts.
pub const MAX_PES: usize = 4096;

/// The PE count and the layer of a chare run: under an MPI launcher the
/// launcher's rank count (the MPI layer; `--pes`, if given, must agree),
/// otherwise `--pes` or the number of cores (the local layer). The error is
/// one line.
pub fn pes_and_layer(requested: Option<usize>, cores: usize) -> Result<(usize, &'static str), String> {
    if requested == Some(0) {
        return Err("--pes must be at least 1".into());
    }
    let (pes, layer) = if under_launcher() {
        if !cfg!(feature = "mpi") {
            return Err("started under mpirun but built without the `mpi` feature".into());
        }
        let size = launcher_size().ok_or("the MPI launcher does not say how many ranks it started")?;
        if let Some(p) = requested.filter(|&p| p != size) {
            return Err(format!("--pes {p} but the launcher started {size} ranks"));
        }
        (size, "mpi")
    } else {
        (requested.unwrap_or(cores.max(1)), "local")
    };
    if pes > MAX_PES {
        return Err(format!("--pes ({pes}) is above the limit of {MAX_PES}"));
    }
    Ok((pes, layer))
}

/// The tiling of a chare run (`pes * odf` tiles), checked against the
/// grid and the particles' motion; the error is one line.
pub fn tiling(params: &Params, pes: usize, odf: usize) -> Result<Tiling, String> {
    let parts = pes
        .checked_mul(odf)
        .filter(|&p| p <= 1 << 20)
        .ok_or_else(|| format!("--pes {pes} x --odf {odf} is too many tiles"))?;
    let t = Tiling::new(params.l, parts).map_err(|e| format!("{e} (--pes {pes} x --odf {odf} tiles)"))?;
    t.check_motion(params)?;
    Ok(t)
}

/// How the array balances: the strategy (`None`: the runtime's default)
/// and the timed steps between sync points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Balancing {
    /// The array's strategy; `None` leaves it to the runtime's
    /// configuration (`CHARE_BALANCER`).
    pub strategy: Option<Strategy>,
    /// Timed steps between sync points.
    pub period: usize,
}

/// The balancing that `--balancer` and `--lb-period` ask for (see the
/// module docs); `None`: no sync points.
pub fn balancing(balancer: Option<Strategy>, lb_period: Option<usize>) -> Option<Balancing> {
    match (balancer, lb_period) {
        (None, None) | (Some(Strategy::None), None) => None,
        (strategy, period) => Some(Balancing { strategy, period: period.unwrap_or(DEFAULT_LB_PERIOD) }),
    }
}

/// The port of the channel between tile `me` and its neighbour `peer` in
/// slot `slot` of `me` (see the module docs): the slot on the side of the
/// lower tile index.
pub fn port(me: usize, peer: usize, slot: usize) -> u32 {
    (if me < peer { slot } else { kernel::opposite(slot) }) as u32
}

/// Every tile's id bases ([`kernel::id_bases`] for all tiles at once, in
/// `O(L ny)` rather than `O(L ny)` per tile): `counts` holds every tile's
/// [`kernel::column_counts`], by tile index.
pub fn all_id_bases(tiling: &Tiling, counts: &[Vec<u64>]) -> Vec<Vec<u64>> {
    assert_eq!(counts.len(), tiling.parts(), "one count vector per tile");
    let mut column_total = vec![0u64; tiling.l];
    for (t, c) in counts.iter().enumerate() {
        let tile = tiling.tile(t);
        assert_eq!(c.len(), tile.width(), "tile {t}: one count per column");
        for (i, v) in c.iter().enumerate() {
            column_total[tile.x0 + i] += v;
        }
    }
    // Particles in the columns left of column x.
    let mut left = Vec::with_capacity(tiling.l);
    let mut acc = 0u64;
    for v in &column_total {
        left.push(acc);
        acc += v;
    }
    let mut out = vec![Vec::new(); tiling.parts()];
    for ix in 0..tiling.nx {
        let first = tiling.tile(tiling.index(ix, 0));
        // Per column of this column of tiles: particles in the tiles below.
        let mut below = vec![0u64; first.width()];
        for iy in 0..tiling.ny {
            let t = tiling.index(ix, iy);
            let x0 = tiling.tile(t).x0;
            out[t] = below.iter().enumerate().map(|(i, b)| left[x0 + i] + b).collect();
            for (b, c) in below.iter_mut().zip(&counts[t]) {
                *b += c;
            }
        }
    }
    out
}

/// What every tile is created with.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Setup {
    /// The kernel's parameters.
    pub params: Params,
    /// The decomposition.
    pub tiling: Tiling,
    /// Timed steps between sync points (0: none).
    pub sync_every: u64,
}

/// One tile's figures for one period between sync points (or the whole
/// timed run without balancing).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PeriodRec {
    /// The PE the tile ran on.
    pub pe: u32,
    /// Timed steps in the period.
    pub steps: u32,
    /// Seconds computing: `step_tile`, packing and unpacking.
    pub compute_s: f64,
    /// Seconds between the sends and the last neighbour's particles.
    pub wait_s: f64,
    /// Particles at the end of the period.
    pub particles: u64,
    /// Particle-steps: particles moved, summed over the period's steps.
    pub moved: u64,
}

/// One tile's measurements of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TileStats {
    /// Tile index.
    pub index: u32,
    /// Steps the tile ran (the warm-up included).
    pub steps: u64,
    /// Its PE and particles after the initial draw.
    pub start_pe: u32,
    /// Particles after the initial draw.
    pub start_particles: u64,
    /// The timed run's periods.
    pub periods: Vec<PeriodRec>,
    /// Times it migrated.
    pub moves: u32,
}

/// The particles of a tile's state as a buffer of packed words when the
/// chare crosses processes (one attachment rather than 10 serialised
/// fields per particle).
mod packed {
    use super::{kernel, Particle};
    use chare::Buffer;
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(particles: &[Particle], s: S) -> Result<S::Ok, S::Error> {
        let mut words = Vec::new();
        kernel::pack(particles, &mut words);
        Buffer::from(words).serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Particle>, D::Error> {
        let words = Buffer::<u64>::deserialize(d)?;
        let mut out = Vec::new();
        kernel::unpack(&words, &mut out).map_err(D::Error::custom)?;
        Ok(out)
    }
}

/// The channel to one neighbour.
#[derive(Serialize, Deserialize)]
struct Link {
    /// The slot of [`kernel::DIRECTIONS`] whose leavers go on it.
    slot: u8,
    channel: Channel<Buffer<u64>>,
}

/// One tile: its particles, channels to its neighbours, where it is in the
/// run, and its measurements.
#[derive(Serialize, Deserialize)]
pub struct PicTile {
    setup: Setup,
    index: usize,
    #[serde(with = "packed")]
    particles: Vec<Particle>,
    links: Vec<Link>,
    /// Steps done (the warm-up included).
    step: u64,
    /// Run until this many steps are done.
    until: u64,
    /// Whether the current run is the timed one (sync points, periods).
    timed: bool,
    /// The barrier of the current run.
    done: Option<Future<()>>,
    current: PeriodRec,
    periods: Vec<PeriodRec>,
    start_pe: u32,
    start_particles: u64,
    moves: u32,
    /// Leavers per slot (scratch).
    #[serde(skip)]
    outgoing: [Vec<Particle>; 8],
    /// Buffers received last step, per link, reused for sending.
    #[serde(skip)]
    spare: Vec<Buffer<u64>>,
}

#[chare(migratable)]
impl PicTile {
    fn new(ctx: &Ctx<Self>, setup: Setup) -> Self {
        let tiling = setup.tiling;
        let ix = ctx.index();
        let index = tiling.index(ix.get(1), ix.get(0));
        let nbrs = tiling.neighbours(index);
        let tiles = ctx.proxy();
        let links: Vec<Link> = (0..8)
            .filter(|&slot| nbrs[slot] != index)
            .map(|slot| {
                let peer = nbrs[slot];
                let (px, py) = tiling.coords(peer);
                Link { slot: slot as u8, channel: ctx.channel_on(&tiles.elem((py, px)), port(index, peer, slot)) }
            })
            .collect();
        let spare = links.iter().map(|_| Buffer::default()).collect();
        PicTile {
            setup,
            index,
            particles: Vec::new(),
            links,
            step: 0,
            until: 0,
            timed: false,
            done: None,
            current: PeriodRec::default(),
            periods: Vec::new(),
            start_pe: ctx.my_pe() as u32,
            start_particles: 0,
            moves: 0,
            outgoing: Default::default(),
            spare,
        }
    }

    fn migrated(&mut self) {
        self.moves += 1;
    }

    /// Contributes the tile's particle count per column to a gather.
    #[entry]
    fn counts(&self, ctx: &Ctx<Self>, done: Future<Vec<(u32, Buffer<u64>)>>) {
        let counts = kernel::column_counts(&self.setup.params, &self.setup.tiling.tile(self.index));
        ctx.contribute((self.index as u32, Buffer::from(counts)), Gather, done);
    }

    /// Draws the tile's particles with the id bases of its columns;
    /// contributes their number to a sum.
    #[entry]
    fn init(&mut self, ctx: &Ctx<Self>, bases: Buffer<u64>, done: Future<u64>) {
        let tile = self.setup.tiling.tile(self.index);
        self.particles = kernel::init_particles_with_bases(&self.setup.params, &tile, &bases);
        self.start_pe = ctx.my_pe() as u32;
        self.start_particles = self.particles.len() as u64;
        ctx.contribute(self.start_particles, Sum, done);
    }

    /// Runs steps until `until` are done (the timed run: with sync points
    /// and measured periods); the last step contributes to `done`.
    #[entry]
    async fn run(&mut self, ctx: &Ctx<Self>, until: u64, timed: bool, done: Future<()>) {
        self.until = until;
        self.timed = timed;
        self.done = Some(done);
        if timed {
            self.current = PeriodRec::default();
            self.periods.clear();
        }
        self.advance(ctx).await;
    }

    /// Goes on after a sync point.
    #[entry]
    async fn steps(&mut self, ctx: &Ctx<Self>) {
        self.advance(ctx).await;
    }

    /// After a balancing step, on the tile's (possibly new) PE: a new
    /// entry goes on with the steps (this one returns at once).
    #[entry]
    fn resume_from_sync(&mut self, ctx: &Ctx<Self>) {
        ctx.this().steps();
    }

    /// Contributes the verification to `check` (merged) and the
    /// measurements to `stats` (gathered).
    #[entry]
    fn finish(&self, ctx: &Ctx<Self>, check: Future<Check>, stats: Future<Vec<TileStats>>) {
        let params = &self.setup.params;
        ctx.contribute(Check::of(&self.particles, params.l, params.steps()), Custom(Check::merge), check);
        let s = TileStats {
            index: self.index as u32,
            steps: self.step,
            start_pe: self.start_pe,
            start_particles: self.start_particles,
            periods: self.periods.clone(),
            moves: self.moves,
        };
        ctx.contribute(s, Gather, stats);
    }

    /// Steps until the run's end or the next sync point (where it calls
    /// `at_sync` and returns).
    async fn advance(&mut self, ctx: &Ctx<Self>) {
        let hood = Neighbourhood::new(self.setup.tiling, self.index);
        if self.spare.len() != self.links.len() {
            self.spare = self.links.iter().map(|_| Buffer::default()).collect();
        }
        while self.step < self.until {
            if let Err(e) = self.one_step(&hood).await {
                ctx.abort(&format!("pic tile {}: {e}", self.index));
                return;
            }
            self.step += 1;
            if self.timed {
                self.current.steps += 1;
                // Timed steps done: the warm-up is step 1.
                let timed = self.step - 1;
                let every = self.setup.sync_every;
                if every > 0 && self.step < self.until && timed.is_multiple_of(every) {
                    self.close_period(ctx.my_pe());
                    ctx.at_sync();
                    return;
                }
            }
        }
        if self.timed {
            self.close_period(ctx.my_pe());
        }
        if let Some(done) = self.done.take() {
            ctx.contribute((), Nop, done);
        }
    }

    /// One step: move, send the leavers to each neighbour, receive theirs.
    async fn one_step(&mut self, hood: &Neighbourhood) -> Result<(), String> {
        let t0 = Instant::now();
        self.current.moved += self.particles.len() as u64;
        for o in self.outgoing.iter_mut() {
            o.clear();
        }
        kernel::step_tile(&mut self.particles, hood, &mut self.outgoing)?;
        for (link, spare) in self.links.iter().zip(self.spare.iter_mut()) {
            let mut buf = std::mem::take(spare);
            buf.clear();
            kernel::pack(&self.outgoing[link.slot as usize], &mut buf);
            link.channel.send(buf);
        }
        let sent = Instant::now();
        let mut unpacking = 0.0;
        let mut last = sent;
        let mut ready = iwait(self.links.iter().map(|l| l.channel.recv()));
        while let Some((k, buf)) = ready.next().await {
            let t = Instant::now();
            kernel::unpack(&buf, &mut self.particles)?;
            self.spare[k] = buf;
            last = Instant::now();
            unpacking += (last - t).as_secs_f64();
        }
        self.current.compute_s += (sent - t0).as_secs_f64() + unpacking;
        self.current.wait_s += (last - sent).as_secs_f64() - unpacking;
        Ok(())
    }

    fn close_period(&mut self, pe: usize) {
        let mut rec = std::mem::take(&mut self.current);
        rec.pe = pe as u32;
        rec.particles = self.particles.len() as u64;
        self.periods.push(rec);
    }
}

/// What the main task measured.
#[derive(Debug, Clone)]
pub struct Measured {
    /// PEs of the job.
    pub pes: usize,
    /// Particles the tiles' column counts add up to.
    pub counted: u64,
    /// Particles the tiles placed.
    pub placed: u64,
    /// Seconds from creating the array to every tile's particles drawn.
    pub init_s: f64,
    /// Seconds of the warm-up step (broadcast to barrier).
    pub warmup_s: f64,
    /// Seconds of the timed steps (broadcast to barrier).
    pub timed_s: f64,
    /// The merged verification.
    pub check: Check,
    /// Every tile's measurements, by tile index.
    pub tiles: Vec<TileStats>,
    /// The runtime's balancing steps of this run.
    pub lb: Vec<LbStep>,
}

/// The main task of one run.
async fn main_task(rt: Rt, setup: Setup, bal: Option<Balancing>) -> Measured {
    let tiling = setup.tiling;
    let first_lb = rt.lb_steps().len();
    let t0 = Instant::now();
    let mut builder = rt.array::<PicTile>([tiling.ny, tiling.nx]);
    match bal {
        Some(Balancing { strategy: Some(s), .. }) => builder = builder.balancer(s),
        Some(Balancing { strategy: None, .. }) => builder = builder.at_sync(),
        None => {}
    }
    let tiles = builder.create_awaitable((setup,)).await;
    let counts_f = rt.future::<Vec<(u32, Buffer<u64>)>>();
    tiles.counts(counts_f.clone());
    let mut gathered = counts_f.await;
    gathered.sort_unstable_by_key(|c| c.0);
    let counts: Vec<Vec<u64>> = gathered.into_iter().map(|(_, c)| c.into_vec()).collect();
    let counted = counts.iter().flatten().sum();
    let placed_f = rt.future::<u64>();
    for (t, bases) in all_id_bases(&tiling, &counts).into_iter().enumerate() {
        let (ix, iy) = tiling.coords(t);
        tiles.elem((iy, ix)).init(Buffer::from(bases), placed_f.clone());
    }
    let placed = placed_f.await;
    let init_s = t0.elapsed().as_secs_f64();

    let warm = rt.future::<()>();
    let t1 = Instant::now();
    tiles.run(1, false, warm.clone());
    warm.await;
    let warmup_s = t1.elapsed().as_secs_f64();

    let done = rt.future::<()>();
    let t2 = Instant::now();
    tiles.run(setup.params.steps(), true, done.clone());
    done.await;
    let timed_s = t2.elapsed().as_secs_f64();

    // Every PE has reported its moves to PE 0 once the job is quiescent.
    rt.wait_quiescence().await;
    let lb = rt.lb_steps().into_iter().skip(first_lb).collect();
    let check_f = rt.future::<Check>();
    let stats_f = rt.future::<Vec<TileStats>>();
    tiles.finish(check_f.clone(), stats_f.clone());
    let check = check_f.await;
    let mut stats = stats_f.await;
    stats.sort_unstable_by_key(|s| s.index);
    Measured { pes: rt.num_pes(), counted, placed, init_s, warmup_s, timed_s, check, tiles: stats, lb }
}

/// Runs the model once: on the local layer with `p.pes` PEs, or on the MPI
/// layer's ranks under mpirun (only rank 0 gets the measurements). The
/// runtime's configuration comes from the environment (`CHARE_PIN`,
/// `CHARE_IDLE`, `CHARE_BALANCER`, `CHARE_LB_VERBOSE`, ...), not from this
/// program's command line, with `p.pes` PEs on the local layer.
pub fn execute(p: &Plan) -> Result<RankResult<Measured>, String> {
    let tiling = tiling(&p.params, p.pes, p.odf)?;
    let bal = balancing(p.balancer, p.lb_period);
    let setup = Setup { params: p.params, tiling, sync_every: bal.map_or(0, |b| b.period as u64) };
    let pes = p.pes.to_string();
    let env = |k: &str| if k == "CHARE_PES" { Some(pes.clone()) } else { std::env::var(k).ok() };
    let cfg = Config::from_sources(&[], env).map_err(|e| e.0)?;
    let layer = cfg.layer;
    let out: Rc<RefCell<Option<Measured>>> = Rc::new(RefCell::new(None));
    let out2 = out.clone();
    let code = Runtime::with_config(cfg)
        .run(move |rt| async move {
            let m = main_task(rt, setup, bal).await;
            *out2.borrow_mut() = Some(m);
        })
        .map_err(|e| e.to_string())?;
    if code != 0 {
        return Err(format!("runtime exited with code {code}"));
    }
    let taken = out.borrow_mut().take();
    match taken {
        Some(m) => Ok(RankResult::Root(m)),
        None if layer == Layer::Mpi => Ok(RankResult::NotRoot),
        None => Err("the chare model produced no result".into()),
    }
}

/// Runs, verifies and reports (a failed verification is a run-time
/// failure).
pub fn run(p: &Plan, format: Format, command: String, machine: &MachineInfo) -> Result<RankResult<Report>, String> {
    let m = match execute(p)? {
        RankResult::Root(m) => m,
        RankResult::NotRoot => return Ok(RankResult::NotRoot),
    };
    if m.placed != m.counted {
        return Err(format!("pic: the tiles placed {} particles, their counts add up to {}", m.placed, m.counted));
    }
    if let Err(e) = m.check.result(m.placed) {
        return Err(format!("pic: verification failed after {} steps: {e}", p.params.steps()));
    }
    if let Some(t) = m.tiles.iter().find(|t| t.steps != p.params.steps()) {
        return Err(format!("pic: tile {} ran {} steps, {} expected", t.index, t.steps, p.params.steps()));
    }
    Ok(RankResult::Root(report(p, &m, format, command, machine)))
}

/// Figures derived from a run's measurements.
#[derive(Debug, Clone, PartialEq)]
pub struct Figures {
    /// Particles per PE (min, max) after the draw.
    pub start_ppe: (u64, u64),
    /// Particles per PE (min, max) at the end.
    pub end_ppe: (u64, u64),
    /// max/avg of the PEs' compute time, first period.
    pub load_first: f64,
    /// Mean over the later periods of their max/avg (NaN with one period).
    pub load_after: f64,
    /// max/avg of the PEs' compute time over the whole timed run.
    pub load_whole: f64,
    /// The slowest PE's compute time per step, first period and later
    /// periods (NaN with one period), seconds.
    pub max_pe_step_first: f64,
    pub max_pe_step_after: f64,
    /// The heaviest tile's compute time per step, first period, seconds.
    pub max_tile_step: f64,
    /// A tile's mean wait for its neighbours per step, seconds.
    pub wait_step: f64,
    /// Compute time per particle-step, all tiles, seconds: the serial
    /// model's `ns_per_particle_step` on a quiet machine, more when the PEs
    /// share their cores or memory bandwidth.
    pub compute_per_particle_step: f64,
    /// Periods between sync points.
    pub periods: usize,
}

fn min_max(v: &[u64]) -> (u64, u64) {
    (v.iter().copied().min().unwrap_or(0), v.iter().copied().max().unwrap_or(0))
}

/// The per-PE figures of a run.
pub fn figures(m: &Measured) -> Figures {
    let pes = m.pes;
    let mut start = vec![0u64; pes];
    let mut end = vec![0u64; pes];
    for t in &m.tiles {
        start[t.start_pe as usize % pes] += t.start_particles;
        if let Some(last) = t.periods.last() {
            end[last.pe as usize % pes] += last.particles;
        }
    }
    let periods = m.tiles.iter().map(|t| t.periods.len()).min().unwrap_or(0);
    let mut whole = vec![0.0; pes];
    for r in m.tiles.iter().flat_map(|t| &t.periods) {
        whole[r.pe as usize % pes] += r.compute_s;
    }
    // Per period: (max/avg, slowest PE's compute per step).
    let per_period: Vec<(f64, f64)> = (0..periods)
        .map(|k| {
            let mut load = vec![0.0; pes];
            let mut steps = 1;
            for t in &m.tiles {
                let r = &t.periods[k];
                load[r.pe as usize % pes] += r.compute_s;
                steps = steps.max(r.steps);
            }
            let max = load.iter().copied().fold(0.0, f64::max);
            (strategy::imbalance(&load), max / steps as f64)
        })
        .collect();
    let mean = |v: &[(f64, f64)], f: fn(&(f64, f64)) -> f64| {
        if v.is_empty() {
            f64::NAN
        } else {
            v.iter().map(f).sum::<f64>() / v.len() as f64
        }
    };
    let max_tile_step = m
        .tiles
        .iter()
        .filter_map(|t| t.periods.first())
        .map(|r| r.compute_s / r.steps.max(1) as f64)
        .fold(0.0, f64::max);
    let (wait, steps) =
        m.tiles.iter().flat_map(|t| &t.periods).fold((0.0, 0u64), |(w, s), r| (w + r.wait_s, s + u64::from(r.steps)));
    let (compute, moved) =
        m.tiles.iter().flat_map(|t| &t.periods).fold((0.0, 0u64), |(c, n), r| (c + r.compute_s, n + r.moved));
    Figures {
        start_ppe: min_max(&start),
        end_ppe: min_max(&end),
        load_first: per_period.first().map_or(f64::NAN, |p| p.0),
        load_after: mean(per_period.get(1..).unwrap_or(&[]), |p| p.0),
        load_whole: strategy::imbalance(&whole),
        max_pe_step_first: per_period.first().map_or(f64::NAN, |p| p.1),
        max_pe_step_after: mean(per_period.get(1..).unwrap_or(&[]), |p| p.1),
        max_tile_step,
        wait_step: if steps > 0 { wait / steps as f64 } else { f64::NAN },
        compute_per_particle_step: if moved > 0 { compute / moved as f64 } else { f64::NAN },
        periods,
    }
}

/// `v` with three decimals, `-` for NaN.
fn fmt3(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.3}")
    }
}

/// The report of a verified run.
pub fn report(p: &Plan, m: &Measured, format: Format, command: String, machine: &MachineInfo) -> Report {
    let q = &p.params;
    let tiling = tiling(q, p.pes, p.odf).expect("checked by execute");
    let bal = balancing(p.balancer, p.lb_period);
    let f = figures(m);
    let layer = if under_launcher() { "mpi" } else { "local" };
    let balancer = match bal {
        None => "none".to_string(),
        Some(b) => b.strategy.map_or_else(|| "default".to_string(), |s| s.name().to_string()),
    };
    let lb_period = bal.map_or("-".to_string(), |b| b.period.to_string());
    let moved: usize = m.lb.iter().map(|s| s.moved).sum();
    let lb_bytes: u64 = m.lb.iter().map(|s| s.bytes).sum();
    let lb_secs: f64 = m.lb.iter().map(|s| s.seconds).sum();
    let rt_before = m.lb.first().map_or(f64::NAN, |s| s.imbalance_before);
    let rt_after =
        m.lb.get(1..)
            .filter(|s| !s.is_empty())
            .map_or(f64::NAN, |s| s.iter().map(|s| s.imbalance_before).sum::<f64>() / s.len() as f64);

    let mut h = header(p, command, machine);
    h.push(format!("layer: {layer}"));
    h.push(format!(
        "odf: {}; tiles: {} x {} ({} tiles, placed in blocks of the PRK rank order)",
        p.odf,
        tiling.nx,
        tiling.ny,
        tiling.parts()
    ));
    h.push(match bal {
        None => "load balancing: none".to_string(),
        Some(b) => format!("load balancing: {balancer} every {} timed steps", b.period),
    });
    h.push(format!("particles placed: {}", m.placed));
    h.push(format!("init: {:.3} s; warmup step: {:.3} ms", m.init_s, m.warmup_s * 1e3));
    h.push(format!(
        "particles per PE: {}..{} at the start, {}..{} at the end (min..max)",
        f.start_ppe.0, f.start_ppe.1, f.end_ppe.0, f.end_ppe.1
    ));
    h.push(format!(
        "compute max/avg over PEs (tiles' timers): {} whole run, {} first period, {} mean of the {} later",
        fmt3(f.load_whole),
        fmt3(f.load_first),
        fmt3(f.load_after),
        f.periods.saturating_sub(1)
    ));
    h.push(format!(
        "slowest PE's compute per step: {} ms first period, {} ms later; heaviest tile: {} ms per step; \
         mean wait per tile and step: {} ms; compute per particle-step: {} ns",
        fmt3(f.max_pe_step_first * 1e3),
        fmt3(f.max_pe_step_after * 1e3),
        fmt3(f.max_tile_step * 1e3),
        fmt3(f.wait_step * 1e3),
        fmt3(f.compute_per_particle_step * 1e9)
    ));
    if !m.lb.is_empty() {
        h.push(format!(
            "lb steps: {}; moved {} tiles ({} bytes); {:.3} ms in all; runtime max/avg {} before step 1, {} mean \
             before the later steps",
            m.lb.len(),
            moved,
            lb_bytes,
            lb_secs * 1e3,
            fmt3(rt_before),
            fmt3(rt_after)
        ));
    }

    let per_step = m.timed_s / q.iters as f64;
    let rate = m.placed as f64 * q.iters as f64 / m.timed_s;
    let (t, ms, mrate) = match format {
        Format::Csv => (format!("{:.9}", m.timed_s), format!("{:.6}", per_step * 1e3), format!("{:.3}", rate / 1e6)),
        Format::Table => (format!("{:.4}", m.timed_s), format!("{:.4}", per_step * 1e3), format!("{:.2}", rate / 1e6)),
    };
    let row = vec![
        p.model.name().to_string(),
        q.l.to_string(),
        m.placed.to_string(),
        q.iters.to_string(),
        t,
        ms,
        mrate,
        "yes".into(),
    ];
    let mut footer: Vec<String> = m.lb.iter().map(|s| s.to_string()).collect();
    footer.push(format!(
        "summary: model={} layer={layer} pes={} odf={} tiles={} grid={} particles={} iters={} mode={} k={} m={} \
         balancer={balancer} lb_period={lb_period} lb_steps={} moved={moved} ms_per_step={:.6} \
         mparticle_steps_per_s={:.3} ns_per_particle_step={:.3} ppe_start_min={} ppe_start_max={} ppe_end_min={} \
         ppe_end_max={} particles_min={} particles_max={} compute_max_avg={} load_first={} load_after={} rt_load_before={} rt_load_after={} lb_ms={:.3} compute_ns_per_particle_step={} wait_ms_per_step={} verified=yes",
        p.model.name(),
        p.pes,
        p.odf,
        tiling.parts(),
        q.l,
        m.placed,
        q.iters,
        q.mode.name().to_lowercase(),
        q.k,
        q.m,
        m.lb.len(),
        per_step * 1e3,
        rate / 1e6,
        1e9 / rate,
        f.start_ppe.0,
        f.start_ppe.1,
        f.end_ppe.0,
        f.end_ppe.1,
        f.end_ppe.0,
        f.end_ppe.1,
        fmt3(f.load_whole),
        fmt3(f.load_first),
        fmt3(f.load_after),
        fmt3(rt_before),
        fmt3(rt_after),
        lb_secs * 1e3,
        fmt3(f.compute_per_particle_step * 1e9),
        fmt3(f.wait_step * 1e3),
    ));
    Report { header: h, columns: COLUMNS.to_vec(), rows: vec![row], footer }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pic::kernel::Mode;

    #[test]
    fn all_id_bases_match_the_kernel_per_tile() {
        let params = Params { l: 14, n: 3000, iters: 1, mode: Mode::Geometric { rho: 0.8 }, k: 0, m: 1 };
        for (nx, ny) in [(1, 1), (1, 2), (2, 2), (3, 4), (5, 2), (4, 7)] {
            let tiling = Tiling::with_grid(params.l, nx, ny).unwrap();
            let counts: Vec<Vec<u64>> = tiling.tiles().iter().map(|t| kernel::column_counts(&params, t)).collect();
            let all = all_id_bases(&tiling, &counts);
            for (t, bases) in all.iter().enumerate() {
                assert_eq!(*bases, kernel::id_bases(&tiling, &counts, t), "{nx} x {ny}, tile {t}");
            }
        }
    }

    /// Both ends of every channel name each other, in opposite slots, on
    /// the same port; no two channels between one pair share a port.
    #[test]
    fn ports_pair_up_in_opposite_slots() {
        for (nx, ny) in [(1, 1), (1, 2), (2, 1), (2, 2), (2, 3), (3, 3), (4, 4), (1, 5)] {
            let tiling = Tiling::with_grid(20, nx, ny).unwrap();
            let mut ends = std::collections::BTreeMap::new();
            for a in 0..tiling.parts() {
                let nbrs = tiling.neighbours(a);
                for (slot, &b) in nbrs.iter().enumerate() {
                    if b == a {
                        continue;
                    }
                    assert_eq!(tiling.neighbours(b)[kernel::opposite(slot)], a);
                    let p = port(a, b, slot);
                    assert_eq!(p, port(b, a, kernel::opposite(slot)), "{nx} x {ny}: {a} slot {slot}");
                    assert!(ends.insert((a, b, p), slot).is_none(), "{nx} x {ny}: {a}->{b} port {p} twice");
                }
            }
        }
    }

    #[test]
    fn balancing_follows_the_options() {
        assert_eq!(balancing(None, None), None);
        assert_eq!(balancing(Some(Strategy::None), None), None);
        assert_eq!(
            balancing(Some(Strategy::Greedy), None),
            Some(Balancing { strategy: Some(Strategy::Greedy), period: DEFAULT_LB_PERIOD })
        );
        assert_eq!(balancing(None, Some(5)), Some(Balancing { strategy: None, period: 5 }));
        assert_eq!(
            balancing(Some(Strategy::None), Some(5)),
            Some(Balancing { strategy: Some(Strategy::None), period: 5 })
        );
    }
}
