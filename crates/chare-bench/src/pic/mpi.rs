//! The `mpi` model of PIC: one tile per rank on rsmpi, the counterpart of
//! the paper's mpi4py port (itself a port of the PRK's
//! `MPI1/PIC-static/pic.c`).
//!
//! * Tiles: [`Tiling::new`]`(L, P)` (the PRK's factoring; rank `r` owns
//!   tile `r`, `r = iy nx + ix`). With 2 ranks the tiling is `1 x 2`: the
//!   grid is cut along y.
//! * Initial particles: each rank counts the particles of its tile's
//!   columns ([`column_counts`]), the ranks exchange the counts
//!   (`MPI_Allgatherv`), and each places its own with the ids of the serial
//!   run ([`id_bases`], [`init_particles_with_bases`]): ids and positions do
//!   not depend on P.
//! * Each step: every rank moves its particles ([`step_tile`]: those that
//!   leave the tile go to one of 8 per-neighbour vectors), then exchanges
//!   with its 8 neighbours as the PRK does: first the counts (`Irecv` of
//!   one count from each neighbour, `Isend` of one count to each,
//!   `Waitall`), then the particles packed as 10 words each
//!   ([`Particle::to_words`]; `Irecv`/`Isend` of the non-empty ones,
//!   `Waitall`), and appends what it received. A neighbour appearing in
//!   several slots (fewer than 3 tiles along an axis) gets one message per
//!   slot; the tag names the slot (the direction of travel), counts on
//!   tags `0..8`, particles on `8..16`.
//! * Timing, as the PRK: one warm-up step (untimed), `MPI_Barrier`, then
//!   `iters` timed steps; the time of a run is the slowest rank's. Each rank
//!   also adds up its time in [`step_tile`] (compute) and in the exchange,
//!   and the particles it moved (particle-steps): the load imbalance is
//!   max/avg over the ranks of these.
//! * Verification: every rank checks its particles after `iters + 1` steps
//!   ([`Check::of`]); rank 0 gathers and merges the checks and judges them
//!   against the number placed (positions and the id checksum).
//!
//! Runs under mpirun; `chare-bench pic --model mpi` relaunches itself that
//! way when started without a launcher (see `main.rs` and
//! [`crate::launch`]). The report is the serial model's (same columns
//! first, same summary line) with the per-rank particles, compute times and
//! imbalance added.
//!
//! [`column_counts`]: super::kernel::column_counts
//! [`id_bases`]: super::kernel::id_bases
//! [`init_particles_with_bases`]: super::kernel::init_particles_with_bases
//! [`step_tile`]: super::kernel::step_tile
//! [`Particle::to_words`]: super::kernel::Particle::to_words

// Without the `mpi` feature only the option checks are used.
#![cfg_attr(not(feature = "mpi"), allow(dead_code))]

use super::kernel::{Check, Params, Tiling};
use super::{header, PicArgs, PicModel, Plan, COLUMNS};
use crate::launch::{launcher_size, under_launcher};
use crate::machine_info::MachineInfo;
use crate::report::{Format, Report};

/// Largest rank count accepted.
pub const MAX_RANKS: usize = 1 << 16;

/// Columns of the report: the serial model's, then the per-rank particles
/// at the end of the run, and the imbalance (max/avg over the ranks) of the
/// compute time and of the particle-steps.
pub const MPI_COLUMNS: [&str; 12] = [
    "model",
    "grid",
    "particles",
    "timed_steps",
    "time_s",
    "ms_per_step",
    "mparticle_steps_per_s",
    "verified",
    "particles_min",
    "particles_max",
    "compute_max_avg",
    "load_max_avg",
];

/// Whether `chare-bench pic` must start itself under mpirun (the mpi model,
/// not yet under a launcher).
pub fn wants_mpirun(a: &PicArgs) -> bool {
    a.model == PicModel::Mpi && !under_launcher()
}

/// The rank count of an mpi run: the launcher's under mpirun (`--pes`, if
/// given, must agree), else `--pes` or `default`; the tiling must exist and
/// keep every particle within its neighbours. Errors are one line.
pub fn ranks(params: &Params, asked: Option<usize>, default: usize) -> Result<usize, String> {
    if !cfg!(feature = "mpi") {
        return Err("model mpi needs the `mpi` feature (not built)".into());
    }
    let pes = match (under_launcher(), launcher_size()) {
        (true, Some(size)) => match asked {
            Some(p) if p != size => return Err(format!("--pes {p} but the launcher started {size} ranks")),
            _ => size,
        },
        _ => asked.unwrap_or(default),
    };
    if pes == 0 || pes > MAX_RANKS {
        return Err(format!("--pes must be from 1 to {MAX_RANKS}, got {pes}"));
    }
    let t = Tiling::new(params.l, pes)?;
    t.check_motion(params)?;
    Ok(pes)
}

/// What one rank measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RankStats {
    /// Particles placed on the rank.
    pub initial: u64,
    /// Particles on the rank after the last step.
    pub last: u64,
    /// Particles moved in the timed steps (sum over the steps).
    pub particle_steps: u64,
    /// Seconds to count, exchange the counts and place the particles (the
    /// rank's own; a barrier follows).
    pub init_s: f64,
    /// Seconds of the warm-up step (move and exchange).
    pub warmup_s: f64,
    /// Seconds of the timed steps.
    pub timed_s: f64,
    /// Of which moving particles ([`super::kernel::step_tile`]).
    pub compute_s: f64,
    /// Of which exchanging them (counts, particles, unpacking).
    pub exchange_s: f64,
}

/// Integers of [`RankStats`] and [`Check`] sent to rank 0.
const INTS: usize = 7;
/// Floats of [`RankStats`] sent to rank 0.
const FLOATS: usize = 5;

impl RankStats {
    fn to_ints(self, c: &Check) -> [u64; INTS] {
        [self.initial, self.last, self.particle_steps, c.particles, c.misplaced, c.first_misplaced, c.id_sum]
    }

    fn to_floats(self) -> [f64; FLOATS] {
        [self.init_s, self.warmup_s, self.timed_s, self.compute_s, self.exchange_s]
    }

    fn from_parts(i: &[u64], f: &[f64]) -> (RankStats, Check) {
        let s = RankStats {
            initial: i[0],
            last: i[1],
            particle_steps: i[2],
            init_s: f[0],
            warmup_s: f[1],
            timed_s: f[2],
            compute_s: f[3],
            exchange_s: f[4],
        };
        (s, Check { particles: i[3], misplaced: i[4], first_misplaced: i[5], id_sum: i[6] })
    }
}

/// Smallest, mean and largest of some per-rank values, and max/avg (1 when
/// every value is 0).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// Smallest.
    pub min: f64,
    /// Mean.
    pub avg: f64,
    /// Largest.
    pub max: f64,
}

impl Spread {
    /// Of `values` (at least one).
    pub fn of(values: impl IntoIterator<Item = f64>) -> Spread {
        let (mut min, mut max, mut sum, mut n) = (f64::INFINITY, f64::NEG_INFINITY, 0.0, 0usize);
        for v in values {
            min = min.min(v);
            max = max.max(v);
            sum += v;
            n += 1;
        }
        assert!(n > 0, "a spread of no values");
        Spread { min, avg: sum / n as f64, max }
    }

    /// `max / avg`: 1 for a perfect balance, P when one of P ranks does
    /// everything.
    pub fn max_avg(&self) -> f64 {
        if self.avg > 0.0 {
            self.max / self.avg
        } else {
            1.0
        }
    }
}

/// What rank 0 knows after a run.
#[derive(Clone, Debug, PartialEq)]
pub struct MpiRun {
    /// The tiles.
    pub tiling: Tiling,
    /// Particles placed on the whole grid.
    pub placed: u64,
    /// Per rank, by rank.
    pub ranks: Vec<RankStats>,
    /// Every rank's check, merged.
    pub check: Check,
}

impl MpiRun {
    /// The time of the timed steps: the slowest rank's (as the PRK).
    pub fn timed_s(&self) -> f64 {
        self.ranks.iter().map(|r| r.timed_s).fold(0.0, f64::max)
    }

    /// Particle-steps per second over the timed steps.
    pub fn rate(&self, iters: usize) -> f64 {
        self.placed as f64 * iters as f64 / self.timed_s()
    }

    fn spread(&self, f: impl Fn(&RankStats) -> f64) -> Spread {
        Spread::of(self.ranks.iter().map(f))
    }
}

/// Per-rank values on one line, comma-separated.
fn per_rank(values: impl Iterator<Item = String>) -> String {
    values.collect::<Vec<_>>().join(",")
}

/// The report of a verified run.
pub fn report(p: &Plan, r: &MpiRun, format: Format, command: String, machine: &MachineInfo) -> Report {
    let q = &p.params;
    let timed = r.timed_s();
    let per_step = timed / q.iters as f64;
    let rate = r.rate(q.iters);
    let start = r.spread(|s| s.initial as f64);
    let end = r.spread(|s| s.last as f64);
    let compute = r.spread(|s| s.compute_s);
    let exchange = r.spread(|s| s.exchange_s);
    let load = r.spread(|s| s.particle_steps as f64);
    let init = r.spread(|s| s.init_s);
    let warmup = r.spread(|s| s.warmup_s);
    let mut h = header(p, command, machine);
    h.push("layer: mpi".into());
    h.push(format!("tiles: {} x {} (x by y; rank iy*{}+ix)", r.tiling.nx, r.tiling.ny, r.tiling.nx));
    h.push(format!("particles placed: {}", r.placed));
    h.push(format!(
        "init: {:.3} s (slowest rank; counts allgathered); warmup step: {:.3} ms",
        init.max,
        warmup.max * 1e3
    ));
    h.push(format!("particles per rank at start: min {:.0} avg {:.1} max {:.0}", start.min, start.avg, start.max));
    h.push(format!("particles per rank at end: min {:.0} avg {:.1} max {:.0}", end.min, end.avg, end.max));
    h.push(format!(
        "compute per rank (s, timed steps): min {:.4} avg {:.4} max {:.4}; max/avg {:.3}",
        compute.min,
        compute.avg,
        compute.max,
        compute.max_avg()
    ));
    h.push(format!(
        "exchange per rank (s, timed steps): min {:.4} avg {:.4} max {:.4}",
        exchange.min, exchange.avg, exchange.max
    ));
    h.push(format!(
        "load (particle-steps per rank): min {:.0} avg {:.1} max {:.0}; max/avg {:.3}",
        load.min,
        load.avg,
        load.max,
        load.max_avg()
    ));
    h.push(format!("rank particles start: {}", per_rank(r.ranks.iter().map(|s| s.initial.to_string()))));
    h.push(format!("rank particles end: {}", per_rank(r.ranks.iter().map(|s| s.last.to_string()))));
    h.push(format!("rank compute s: {}", per_rank(r.ranks.iter().map(|s| format!("{:.4}", s.compute_s)))));
    h.push(format!("rank exchange s: {}", per_rank(r.ranks.iter().map(|s| format!("{:.4}", s.exchange_s)))));
    h.push(format!("rank timed s: {}", per_rank(r.ranks.iter().map(|s| format!("{:.4}", s.timed_s)))));
    h.push(format!(
        "id checksum: {} (expected {} for ids 1..={})",
        r.check.id_sum,
        super::kernel::expected_checksum(r.placed),
        r.placed
    ));
    h.push(format!("verification: passed ({} particles after {} steps)", r.check.particles, q.steps()));
    let (t, ms, mrate) = match format {
        Format::Csv => (format!("{timed:.9}"), format!("{:.6}", per_step * 1e3), format!("{:.3}", rate / 1e6)),
        Format::Table => (format!("{timed:.4}"), format!("{:.4}", per_step * 1e3), format!("{:.2}", rate / 1e6)),
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
        format!("{:.0}", end.min),
        format!("{:.0}", end.max),
        format!("{:.3}", compute.max_avg()),
        format!("{:.3}", load.max_avg()),
    ];
    debug_assert_eq!(MPI_COLUMNS[..COLUMNS.len()], COLUMNS);
    let footer = vec![format!(
        "summary: model={} pes={} grid={} particles={} iters={} mode={} k={} m={} ms_per_step={:.6} \
         mparticle_steps_per_s={:.3} ns_per_particle_step={:.3} compute_max_avg={:.3} load_max_avg={:.3} \
         particles_min={:.0} particles_max={:.0} verified=yes",
        p.model.name(),
        p.pes,
        q.l,
        r.placed,
        q.iters,
        q.mode.name().to_lowercase(),
        q.k,
        q.m,
        per_step * 1e3,
        rate / 1e6,
        1e9 / rate,
        compute.max_avg(),
        load.max_avg(),
        end.min,
        end.max,
    )];
    Report { header: h, columns: MPI_COLUMNS.to_vec(), rows: vec![row], footer }
}

/// Judges the gathered run: a failed verification is a run-time error.
fn judge(p: &Plan, r: MpiRun, format: Format, command: String, machine: &MachineInfo) -> Result<Report, String> {
    if let Err(e) = r.check.result(r.placed) {
        return Err(format!("pic: verification failed after {} steps: {e}", p.params.steps()));
    }
    Ok(report(p, &r, format, command, machine))
}

/// Without the `mpi` feature the model does not exist ([`ranks`] refuses
/// it first).
#[cfg(not(feature = "mpi"))]
pub fn run(_p: &Plan, _f: Format, _c: String, _m: &MachineInfo) -> Result<crate::harness::RankResult<Report>, String> {
    Err("model mpi needs the `mpi` feature (not built)".into())
}

#[cfg(feature = "mpi")]
pub use ranks_impl::run;

#[cfg(feature = "mpi")]
mod ranks_impl {
    use super::super::kernel::{
        self, column_counts, id_bases, init_particles_with_bases, opposite, Check, Neighbourhood, Particle, Tiling,
        WORDS,
    };
    use super::{judge, MpiRun, RankStats, FLOATS, INTS};
    use crate::harness::RankResult;
    use crate::machine_info::MachineInfo;
    use crate::pic::Plan;
    use crate::report::{Format, Report};
    use ::mpi::datatype::PartitionMut;
    use ::mpi::request::{multiple_scope, RequestCollection};
    use ::mpi::topology::{Process, SimpleCommunicator};
    use ::mpi::traits::*;
    use ::mpi::Count;
    use std::time::Instant;

    /// Tag of the count sent in direction `slot`.
    fn count_tag(slot: usize) -> i32 {
        slot as i32
    }

    /// Tag of the particles sent in direction `slot`.
    fn data_tag(slot: usize) -> i32 {
        8 + slot as i32
    }

    /// A rank's exchange with its 8 neighbours, with buffers kept from step
    /// to step.
    struct Exchange<'c> {
        /// The neighbours, in the slots of [`kernel::DIRECTIONS`].
        procs: [Process<'c>; 8],
        /// Packed outgoing particles, per slot.
        out_words: [Vec<u64>; 8],
        /// Packed incoming particles, per slot.
        in_words: [Vec<u64>; 8],
    }

    impl<'c> Exchange<'c> {
        fn new(world: &'c SimpleCommunicator, hood: &Neighbourhood) -> Exchange<'c> {
            Exchange {
                procs: hood.neighbours.map(|n| world.process_at_rank(n as i32)),
                out_words: Default::default(),
                in_words: Default::default(),
            }
        }

        /// Sends `outgoing` (emptied) to the neighbours and appends what
        /// they sent to `particles`. A neighbour in slot `r` is in direction
        /// `r`: what it sent us travelled in direction `opposite(r)`.
        fn run(&mut self, outgoing: &mut [Vec<Particle>; 8], particles: &mut Vec<Particle>) {
            let procs = &self.procs;
            let count_out: [u64; 8] = std::array::from_fn(|s| outgoing[s].len() as u64);
            let mut count_in = [0u64; 8];
            multiple_scope(16, |scope, reqs: &mut RequestCollection<'_, [u64]>| {
                for (r, c) in count_in.chunks_mut(1).enumerate() {
                    reqs.add(procs[r].immediate_receive_into_with_tag(scope, c, count_tag(opposite(r))));
                }
                for (s, c) in count_out.chunks(1).enumerate() {
                    reqs.add(procs[s].immediate_send_with_tag(scope, c, count_tag(s)));
                }
                let mut done = Vec::with_capacity(16);
                reqs.wait_all(&mut done);
            });
            for (words, out) in self.out_words.iter_mut().zip(outgoing.iter_mut()) {
                words.clear();
                kernel::pack(out, words);
                out.clear();
            }
            for (words, &n) in self.in_words.iter_mut().zip(&count_in) {
                words.clear();
                words.resize(n as usize * WORDS, 0);
            }
            let (in_words, out_words) = (&mut self.in_words, &self.out_words);
            multiple_scope(16, |scope, reqs: &mut RequestCollection<'_, [u64]>| {
                for (r, buf) in in_words.iter_mut().enumerate() {
                    if !buf.is_empty() {
                        reqs.add(procs[r].immediate_receive_into_with_tag(scope, &mut buf[..], data_tag(opposite(r))));
                    }
                }
                for (s, buf) in out_words.iter().enumerate() {
                    if !buf.is_empty() {
                        reqs.add(procs[s].immediate_send_with_tag(scope, &buf[..], data_tag(s)));
                    }
                }
                let mut done = Vec::with_capacity(16);
                reqs.wait_all(&mut done);
            });
            for words in &self.in_words {
                kernel::unpack(words, particles).expect("whole particles: the length is a count times WORDS");
            }
        }
    }

    /// Moves the rank's particles; a particle past the neighbours (ruled
    /// out by the option checks) aborts the job.
    fn step(
        world: &SimpleCommunicator,
        particles: &mut Vec<Particle>,
        hood: &Neighbourhood,
        outgoing: &mut [Vec<Particle>; 8],
    ) {
        if let Err(e) = kernel::step_tile(particles, hood, outgoing) {
            // One write, so mpirun cannot interleave the abort banner.
            eprint!("{}", format!("chare-bench: error: rank {}: {e}\n", hood.index));
            world.abort(1);
        }
    }

    /// Column counts of every tile, by tile (`MPI_Allgatherv` of each
    /// rank's own).
    fn all_counts(world: &SimpleCommunicator, tiling: &Tiling, mine: &[u64]) -> Result<Vec<Vec<u64>>, String> {
        let widths: Vec<usize> = tiling.tiles().iter().map(|t| t.width()).collect();
        let total: usize = widths.iter().sum();
        if total > Count::MAX as usize {
            return Err(format!("{total} column counts are too many for one MPI_Allgatherv"));
        }
        let counts: Vec<Count> = widths.iter().map(|&w| w as Count).collect();
        let displs: Vec<Count> = counts
            .iter()
            .scan(0, |acc, &c| {
                let d = *acc;
                *acc += c;
                Some(d)
            })
            .collect();
        let mut all = vec![0u64; total];
        {
            let mut part = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
            world.all_gather_varcount_into(mine, &mut part);
        }
        let mut out = Vec::with_capacity(widths.len());
        let mut at = 0;
        for w in widths {
            out.push(all[at..at + w].to_vec());
            at += w;
        }
        Ok(out)
    }

    /// Runs the model on this rank; rank 0 returns the report.
    pub fn run(p: &Plan, format: Format, command: String, machine: &MachineInfo) -> Result<RankResult<Report>, String> {
        let universe = ::mpi::initialize().ok_or_else(|| "MPI was already initialised".to_string())?;
        let world = universe.world();
        let size = world.size() as usize;
        let rank = world.rank() as usize;
        if size != p.pes {
            return Err(format!("the run is planned for {} ranks but mpirun started {size}", p.pes));
        }
        let q = p.params;
        let tiling = Tiling::new(q.l, size)?;
        let hood = Neighbourhood::new(tiling, rank);
        let mut exchange = Exchange::new(&world, &hood);
        let mut outgoing: [Vec<Particle>; 8] = Default::default();

        world.barrier();
        let t0 = Instant::now();
        let mine = column_counts(&q, &hood.tile);
        let counts = all_counts(&world, &tiling, &mine)?;
        let placed: u64 = counts.iter().flatten().sum();
        let bases = id_bases(&tiling, &counts, rank);
        let mut particles = init_particles_with_bases(&q, &hood.tile, &bases);
        let initial = particles.len() as u64;
        let t1 = Instant::now();
        // The warm-up's time is the step's, not the wait for slower inits.
        world.barrier();
        let t1b = Instant::now();
        step(&world, &mut particles, &hood, &mut outgoing);
        exchange.run(&mut outgoing, &mut particles);
        let t2 = Instant::now();

        world.barrier();
        let (mut compute_s, mut exchange_s, mut particle_steps) = (0.0, 0.0, 0u64);
        let start = Instant::now();
        for _ in 0..q.iters {
            let a = Instant::now();
            particle_steps += particles.len() as u64;
            step(&world, &mut particles, &hood, &mut outgoing);
            let b = Instant::now();
            exchange.run(&mut outgoing, &mut particles);
            let c = Instant::now();
            compute_s += (b - a).as_secs_f64();
            exchange_s += (c - b).as_secs_f64();
        }
        let timed_s = start.elapsed().as_secs_f64();

        let check = Check::of(&particles, q.l, q.steps());
        let stats = RankStats {
            initial,
            last: particles.len() as u64,
            particle_steps,
            init_s: (t1 - t0).as_secs_f64(),
            warmup_s: (t2 - t1b).as_secs_f64(),
            timed_s,
            compute_s,
            exchange_s,
        };
        let ints = stats.to_ints(&check);
        let floats = stats.to_floats();
        let root = world.process_at_rank(0);
        if rank != 0 {
            root.gather_into(&ints[..]);
            root.gather_into(&floats[..]);
            return Ok(RankResult::NotRoot);
        }
        let mut all_ints = vec![0u64; INTS * size];
        let mut all_floats = vec![0f64; FLOATS * size];
        root.gather_into_root(&ints[..], &mut all_ints[..]);
        root.gather_into_root(&floats[..], &mut all_floats[..]);
        let mut ranks = Vec::with_capacity(size);
        let mut merged = Check::default();
        for (i, f) in all_ints.chunks_exact(INTS).zip(all_floats.chunks_exact(FLOATS)) {
            let (s, c) = RankStats::from_parts(i, f);
            ranks.push(s);
            merged = merged.merge(c);
        }
        let r = MpiRun { tiling, placed, ranks, check: merged };
        judge(p, r, format, command, machine).map(RankResult::Root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pic::kernel::{Mode, Patch};

    fn plan(pes: usize) -> Plan {
        Plan {
            model: PicModel::Mpi,
            params: Params {
                l: 20,
                n: 1000,
                iters: 4,
                mode: Mode::Patch(Patch { left: 0, right: 19, bottom: 0, top: 9 }),
                k: 0,
                m: 0,
            },
            pes,
            odf: 1,
            balancer: None,
            lb_period: None,
        }
    }

    fn stats(initial: u64, compute_s: f64) -> RankStats {
        RankStats {
            initial,
            last: initial,
            particle_steps: 4 * initial,
            init_s: 0.01,
            warmup_s: 0.001,
            timed_s: 0.5,
            compute_s,
            exchange_s: 0.1,
        }
    }

    #[test]
    fn spread_and_imbalance() {
        let s = Spread::of([1.0, 3.0]);
        assert_eq!((s.min, s.avg, s.max, s.max_avg()), (1.0, 2.0, 3.0, 1.5));
        assert_eq!(Spread::of([0.0, 0.0]).max_avg(), 1.0);
        assert_eq!(Spread::of([4.0, 0.0]).max_avg(), 2.0);
    }

    #[test]
    fn stats_round_trip_through_the_gathered_words() {
        let s = stats(7, 0.25);
        let c = Check { particles: 7, misplaced: 1, first_misplaced: 3, id_sum: 28 };
        assert_eq!(RankStats::from_parts(&s.to_ints(&c), &s.to_floats()), (s, c));
    }

    #[test]
    fn report_has_the_serial_columns_then_the_imbalance() {
        let p = plan(2);
        let particles = [900u64, 100];
        let ids: u64 = 1000 * 1001 / 2;
        let r = MpiRun {
            tiling: Tiling::new(20, 2).unwrap(),
            placed: 1000,
            ranks: vec![stats(particles[0], 0.45), stats(particles[1], 0.05)],
            check: Check { particles: 1000, misplaced: 0, first_misplaced: 0, id_sum: ids },
        };
        let text = judge(&p, r.clone(), Format::Csv, "chare-bench pic".into(), &MachineInfo::detect())
            .unwrap()
            .render(Format::Csv);
        let rows: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(rows[0], MPI_COLUMNS.join(","));
        assert!(rows[0].starts_with(&COLUMNS.join(",")));
        let cells: Vec<&str> = rows[1].split(',').collect();
        assert_eq!(cells[..4], ["mpi", "20", "1000", "4"]);
        assert_eq!(cells[7..], ["yes", "100", "900", "1.800", "1.800"]);
        assert!(text.contains("# layer: mpi\n"), "{text}");
        assert!(text.contains("# tiles: 1 x 2"), "{text}");
        assert!(text.contains("# rank particles start: 900,100\n"), "{text}");
        assert!(text.contains(&format!("# id checksum: {ids} (expected {ids}")), "{text}");
        assert!(text.contains("compute_max_avg=1.800 load_max_avg=1.800"), "{text}");
        // A lost particle or a bad checksum is a run-time failure.
        let mut bad = r.clone();
        bad.check.particles = 999;
        let e = judge(&p, bad, Format::Csv, String::new(), &MachineInfo::detect()).unwrap_err();
        assert!(e.contains("verification failed after 5 steps") && !e.contains('\n'), "{e}");
        let mut bad = r;
        bad.check.id_sum += 1;
        assert!(judge(&p, bad, Format::Table, String::new(), &MachineInfo::detect()).is_err());
    }

    #[test]
    fn rank_checks_want_the_feature_a_tiling_and_short_moves() {
        let mut q = plan(1).params;
        if !cfg!(feature = "mpi") {
            assert!(ranks(&q, Some(2), 2).unwrap_err().contains("feature"));
            return;
        }
        if under_launcher() {
            return;
        }
        assert_eq!(ranks(&q, Some(4), 2), Ok(4));
        assert_eq!(ranks(&q, None, 3), Ok(3));
        // 23 ranks: 1 x 23 tiles on 20 cells; 11 ranks: 1 x 11 tiles of height 1, m = 2.
        assert!(ranks(&q, Some(23), 2).is_err());
        q.m = 2;
        let e = ranks(&q, Some(11), 2).unwrap_err();
        assert!(e.contains("m = 2") && !e.contains('\n'), "{e}");
        assert!(ranks(&q, Some(MAX_RANKS + 1), 2).is_err());
    }
}
