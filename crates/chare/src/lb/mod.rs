//! Measurement-based load balancing at sync points (Charm4Py's `AtSync`).
//!
//! An array created with [`CollectionBuilder::at_sync`](crate::CollectionBuilder::at_sync)
//! has its elements' time in entry methods measured (wall time of each
//! entry, and of each poll of an async entry's task). A step:
//!
//! 1. every element calls [`Ctx::at_sync`](crate::Ctx::at_sync); when all
//!    elements on a PE have, the PE sends PE 0 each element's load and its
//!    own background load (wall time since its last step not spent in the
//!    array's entries);
//! 2. once PE 0 has every element's load, it runs the strategy
//!    ([`strategy::decide`], a pure function of the loads: the same
//!    decision on both layers) and sends each PE the moves of its elements;
//! 3. each PE moves its elements (an element moves once it is idle), and
//!    calls `resume_from_sync` on those that stay; a moved element's
//!    `resume_from_sync` runs on its new PE after it arrived;
//! 4. each PE tells PE 0 what it moved; PE 0 records the step ([`LbStep`],
//!    printed to stderr with `CHARE_LB_VERBOSE=1`, appended to the file
//!    `CHARE_LB_LOG` names, kept for [`Rt::lb_steps`](crate::Rt::lb_steps)).
//!
//! Scaling: the decision is central. PE 0 receives one record per element
//! (16 bytes) and runs an `O(n log n)` strategy on `n` elements; at 10^5
//! elements that is a few MB and milliseconds, fine on one node and a few
//! nodes. Beyond, a tree would balance within groups of PEs first and send
//! only group totals and surplus elements up (Charm++'s TreeLB); the
//! strategies here are the leaves of such a tree. See [`strategy`] too.

pub mod strategy;

use crate::machine::wire::Wire;
use crate::message::{Addr, CollId, Msg};
use crate::route::Outgoing;
use crate::scheduler::Pe;
use rustc_hash::FxHashMap;
use std::cell::{Cell, RefCell};
use std::time::Instant;
use strategy::{ChareLoad, LoadTable, Strategy};

/// The report of one balancing step (PE 0).
#[derive(Clone, Debug, PartialEq)]
pub struct LbStep {
    /// Which collection (its chare type's name).
    pub chare: &'static str,
    /// The step's number for this collection, from 1.
    pub step: u32,
    /// The strategy that decided.
    pub strategy: Strategy,
    /// Elements balanced.
    pub chares: usize,
    /// Max/avg PE load measured over the period before the step (entry
    /// time plus background).
    pub imbalance_before: f64,
    /// Max/avg PE load the strategy predicts for the new placement.
    pub imbalance_predicted: f64,
    /// Elements moved.
    pub moved: usize,
    /// Bytes moved: serialised state on the MPI layer; on the local layer the
    /// chare objects' own size (`size_of`), as they move without serialisation.
    pub bytes: u64,
    /// From the last element's load reaching PE 0 to every PE having
    /// handled its moves (sent its movers away; before it resumes the others),
    /// in seconds.
    pub seconds: f64,
    /// Sum of the measured entry time of the array's elements in the period.
    pub total_load: f64,
    /// Max PE load of the period before the step, in seconds.
    pub max_load: f64,
    /// The previous step's prediction for the period that `imbalance_before`
    /// measured (None at the first step): prediction against outcome.
    pub previous_predicted: Option<f64>,
}

impl std::fmt::Display for LbStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "chare lb: {} step {} ({}): {} elements, max/avg {:.3} measured before",
            self.chare,
            self.step,
            self.strategy.name(),
            self.chares,
            self.imbalance_before,
        )?;
        if let Some(p) = self.previous_predicted {
            write!(f, " (step {} predicted {p:.3})", self.step - 1)?;
        }
        write!(
            f,
            ", {:.3} predicted after; moved {} ({} bytes) in {:.2} ms",
            self.imbalance_predicted,
            self.moved,
            self.bytes,
            self.seconds * 1e3
        )
    }
}

/// One PE's load-balancing state.
#[derive(Default)]
pub(crate) struct LbState {
    /// Elements here that reached the sync point, per collection.
    synced: RefCell<FxHashMap<CollId, usize>>,
    /// When this PE's current period began, and its idle total then, per collection.
    period_start: RefCell<FxHashMap<CollId, (Instant, f64)>>,
    /// Whether this PE measures its idle time (it holds elements of an
    /// at-sync array): two clock reads per idle period, not paid otherwise.
    measure_idle: Cell<bool>,
    idle_since: Cell<Option<Instant>>,
    /// Seconds this PE spent idle since it began measuring.
    idle_total: Cell<f64>,
    /// Bytes of the elements this PE sent away since it last reported.
    bytes_moved: Cell<u64>,
    /// PE 0: loads gathered for the next step, per collection.
    gathering: RefCell<FxHashMap<CollId, Gathering>>,
    /// PE 0: steps waiting for their PEs' reports.
    in_step: RefCell<FxHashMap<CollId, InStep>>,
    /// PE 0: finished steps.
    pub(crate) steps: RefCell<Vec<LbStep>>,
    /// PE 0: steps taken per collection, and the last step's prediction.
    counts: RefCell<FxHashMap<CollId, (u32, f64)>>,
}

#[derive(Default)]
struct Gathering {
    background: FxHashMap<usize, f64>,
    elems: Vec<(u32, usize, f64)>,
}

struct InStep {
    report: LbStep,
    waiting: usize,
    began: Instant,
}

/// An element at `addr` (on this PE) called `at_sync`.
pub(crate) fn at_sync(pe: &Pe, addr: Addr) {
    let Some(cell) = pe.chares.cell(&addr) else { return };
    if !cell.mark_synced() {
        return;
    }
    let local = pe.chares.colls.borrow().get(&addr.coll).map_or(0, |l| l.addrs.len());
    let n = {
        let mut s = pe.lb.synced.borrow_mut();
        let n = s.entry(addr.coll).or_insert(0);
        *n += 1;
        *n
    };
    if n >= local {
        pe.lb.synced.borrow_mut().remove(&addr.coll);
        send_loads(pe, addr.coll);
    }
}

/// Every element of `coll` here is at its sync point: send the loads to PE 0.
fn send_loads(pe: &Pe, coll: CollId) {
    let addrs = pe.chares.colls.borrow().get(&coll).map(|l| l.addrs.clone()).unwrap_or_default();
    let mut elems = Vec::with_capacity(addrs.len());
    let mut sum = 0.0;
    for a in addrs {
        if let Some(c) = pe.chares.cell(&a) {
            let load = c.take_load();
            sum += load;
            elems.push((a.lin, load));
        }
    }
    let now = Instant::now();
    let idle = pe.lb.idle_total.get();
    let (start, idle_then) = pe.lb.period_start.borrow_mut().insert(coll, (now, idle)).unwrap_or((now, idle));
    // Background: the period's time in neither these elements' entries nor
    // idle (other chares, the runtime's own work).
    let background = (now.duration_since(start).as_secs_f64() - sum - (idle - idle_then)).max(0.0);
    pe.post(0, LbWire::Loads { coll, pe: pe.id as u32, background, elems });
}

/// PE 0: one PE's loads arrived.
fn loads_arrived(pe: &Pe, coll: CollId, from: usize, background: f64, elems: Vec<(u32, f64)>) {
    let Some(info) = pe.coll_info(coll) else {
        return pe.fail_usage(format!("load-balancing loads of unknown collection {coll}"));
    };
    let complete = {
        let mut g = pe.lb.gathering.borrow_mut();
        let gather = g.entry(coll).or_default();
        *gather.background.entry(from).or_insert(0.0) += background;
        gather.elems.extend(elems.into_iter().map(|(lin, load)| (lin, from, load)));
        gather.elems.len() >= info.total
    };
    if !complete {
        return;
    }
    let Some(gather) = pe.lb.gathering.borrow_mut().remove(&coll) else { return };
    let began = Instant::now();
    let npes = pe.shared.num_pes();
    let mut elems = gather.elems;
    elems.sort_unstable_by_key(|e| e.0);
    let table = LoadTable {
        background: (0..npes).map(|p| gather.background.get(&p).copied().unwrap_or(0.0)).collect(),
        chares: elems.iter().map(|&(_, p, load)| ChareLoad { pe: p, load }).collect(),
    };
    let strategy = info.balancer.unwrap_or(pe.shared.cfg.balancer);
    let assignment = strategy::decide(strategy, &table);
    let before = strategy::pe_loads(&table, &elems.iter().map(|e| e.1).collect::<Vec<_>>());
    let after = strategy::pe_loads(&table, &assignment);
    let predicted = strategy::imbalance(&after);
    let (step, previous_predicted) = {
        let mut c = pe.lb.counts.borrow_mut();
        let (n, last) = c.entry(coll).or_insert((0, f64::NAN));
        let previous = (*n > 0).then_some(*last);
        *n += 1;
        *last = predicted;
        (*n, previous)
    };
    // Each PE that holds elements gets its moves (possibly none) and resumes them.
    let mut per_pe: FxHashMap<usize, Vec<(u32, u32)>> = FxHashMap::default();
    let mut moved = 0;
    for (&(lin, from, _), &to) in elems.iter().zip(&assignment) {
        let moves = per_pe.entry(from).or_default();
        if to != from {
            moves.push((lin, to as u32));
            moved += 1;
        }
    }
    let report = LbStep {
        chare: info.chare,
        step,
        strategy,
        chares: elems.len(),
        imbalance_before: strategy::imbalance(&before),
        imbalance_predicted: predicted,
        moved,
        bytes: 0,
        seconds: 0.0,
        total_load: table.chares.iter().map(|c| c.load).sum(),
        max_load: before.iter().copied().fold(0.0, f64::max),
        previous_predicted,
    };
    pe.lb.in_step.borrow_mut().insert(coll, InStep { report, waiting: per_pe.len(), began });
    let mut targets: Vec<_> = per_pe.into_iter().collect();
    targets.sort_unstable_by_key(|t| t.0);
    for (to, moves) in targets {
        pe.post(to, LbWire::Moves { coll, moves });
    }
}

/// A PE's moves of this step arrived: move, resume the others, report.
fn moves_arrived(pe: &Pe, coll: CollId, moves: Vec<(u32, u32)>) {
    let addrs = pe.chares.colls.borrow().get(&coll).map(|l| l.addrs.clone()).unwrap_or_default();
    let moving: FxHashMap<u32, usize> = moves.iter().map(|&(lin, to)| (lin, to as usize)).collect();
    let mut staying = Vec::new();
    for a in addrs {
        let Some(cell) = pe.chares.cell(&a) else { continue };
        match moving.get(&a.lin) {
            Some(&to) => {
                cell.request_move(to, true);
                drop(cell);
                pe.depart(a);
            }
            // Elements that arrived during this step were resumed on arrival.
            None if cell.synced() => staying.push(cell),
            None => {}
        }
    }
    // Report before resuming: the step's time is the balancer's, not the
    // resumed entries' work.
    let bytes = pe.lb.bytes_moved.replace(0);
    pe.post(0, LbWire::Moved { coll, moved: moves.len() as u32, bytes });
    for cell in staying {
        cell.resume(&cell, pe);
    }
}

/// PE 0: a PE handled its moves.
fn moved_arrived(pe: &Pe, coll: CollId, bytes: u64) {
    let done = {
        let mut s = pe.lb.in_step.borrow_mut();
        let Some(st) = s.get_mut(&coll) else { return };
        st.report.bytes += bytes;
        st.waiting -= 1;
        if st.waiting > 0 {
            return;
        }
        s.remove(&coll)
    };
    if let Some(mut st) = done {
        st.report.seconds = st.began.elapsed().as_secs_f64();
        if pe.shared.cfg.lb_verbose {
            eprintln!("{}", st.report);
        }
        if let Some(path) = &pe.shared.cfg.lb_log {
            use std::io::Write;
            let line = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .and_then(|mut f| writeln!(f, "{}", st.report));
            if let Err(e) = line {
                return pe.fail_usage(format!("CHARE_LB_LOG: cannot append to {}: {e}", path.display()));
            }
        }
        pe.lb.steps.borrow_mut().push(st.report);
    }
}

impl Pe {
    /// This PE holds elements of at-sync array `coll`: measure its idle
    /// time; the array's first period starts now (not at the job's start:
    /// work before the array existed is not its background).
    pub(crate) fn lb_measure_idle(&self, coll: CollId) {
        self.lb.measure_idle.set(true);
        let now = (Instant::now(), self.lb.idle_total.get());
        self.lb.period_start.borrow_mut().entry(coll).or_insert(now);
    }

    #[inline]
    pub(crate) fn lb_idle_begins(&self) {
        if self.lb.measure_idle.get() {
            self.lb.idle_since.set(Some(Instant::now()));
        }
    }

    #[inline]
    pub(crate) fn lb_idle_ends(&self) {
        if let Some(t) = self.lb.idle_since.take() {
            self.lb.idle_total.set(self.lb.idle_total.get() + t.elapsed().as_secs_f64());
        }
    }

    /// An element left this PE (`bytes`: see [`LbStep::bytes`]).
    pub(crate) fn lb_moved(&self, _addr: Addr, bytes: usize) {
        if self.machine.is_local() {
            self.lb.bytes_moved.set(self.lb.bytes_moved.get() + bytes as u64);
        }
    }

    /// Serialised bytes of an element sent to another process.
    pub(crate) fn lb_moved_bytes(&self, bytes: usize) {
        self.lb.bytes_moved.set(self.lb.bytes_moved.get() + bytes as u64);
    }

    /// An element arrived with `load` measured so far in this period.
    pub(crate) fn lb_arrived(&self, addr: Addr, load: f64) {
        if load > 0.0 {
            if let Some(c) = self.chares.cell(&addr) {
                c.add_load(load);
            }
        }
    }
}

/// The balancing protocol's messages.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub(crate) enum LbWire {
    /// To PE 0: a PE's elements' loads (element, seconds) and its background load.
    Loads { coll: CollId, pe: u32, background: f64, elems: Vec<(u32, f64)> },
    /// To a PE: its elements to move (element, PE).
    Moves { coll: CollId, moves: Vec<(u32, u32)> },
    /// To PE 0: a PE handled its moves.
    Moved { coll: CollId, moved: u32, bytes: u64 },
}

impl LbWire {
    pub(crate) fn into_msg(self, _from: usize) -> Msg {
        Msg::Control(Box::new(move |pe: &Pe| match self {
            LbWire::Loads { coll, pe: from, background, elems } => {
                loads_arrived(pe, coll, from as usize, background, elems)
            }
            LbWire::Moves { coll, moves } => moves_arrived(pe, coll, moves),
            LbWire::Moved { coll, moved: _, bytes } => moved_arrived(pe, coll, bytes),
        }))
    }
}

impl Outgoing for LbWire {
    fn into_msg(self) -> Msg {
        LbWire::into_msg(self, 0)
    }
    fn encode(&self, _out: &mut Vec<u8>) -> Result<Wire, String> {
        Ok(Wire::Lb(Box::new(self.clone())))
    }
}
