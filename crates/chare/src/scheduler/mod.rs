//! The per-PE scheduler: one PE's state, its dispatch of messages, its
//! tasks, its loop, and the job's start-up.
//!
//! * [`mod@self`]: the state. [`Shared`] is what every PE may touch (stop flag,
//!   outcome, quiescence counters, the collection registry); [`Pe`] is one
//!   PE's own state, reachable only from its thread through a thread-local
//!   pointer ([`with_pe`]). `Pe` uses `RefCell`s; no borrow of them is ever
//!   held across a call into user code, so user code may call back into the
//!   runtime.
//! * [`dispatch`]: [`Pe::handle`], the one function every message goes
//!   through, whatever its source, and the chare table.
//! * [`tasks`]: async entry methods and the main task as tasks; wakers.
//! * [`run_loop`]: the loop (arrival order, fairness) and the idle policy.
//! * [`job`]: starting a job on either machine layer, and ending it.
//!
//! The route (where a message goes) is [`crate::route`]; quiescence
//! detection and the deadlock report are [`crate::quiescence`].

mod dispatch;
mod idle;
mod job;
mod run_loop;
mod tasks;

pub(crate) use dispatch::ChareTable;
pub(crate) use job::{exit_when_stuck, run_job};
pub(crate) use tasks::{TaskDesc, TaskKind, TaskTable, WaitOn};

use crate::channel::ChannelTable;
use crate::collection::CollInfo;
use crate::config::Config;
use crate::error::JobError;
use crate::future::FutureSlot;
use crate::lb::LbState;
use crate::machine::{LocalMachine, Machine};
use crate::message::{Addr, CollId, Msg};
use crate::migration::location::LocationTable;
use crate::migration::order::Streams;
use crate::quiescence::{QdCounters, QdState};
use crate::reduction::ReductionTable;
use crossbeam_utils::CachePadded;
use rustc_hash::FxHashMap;
use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

/// State shared by all PEs of a job.
pub(crate) struct Shared {
    pub cfg: Config,
    /// More PEs than cores, decided once before any thread is pinned (after
    /// pinning, the OS reports one core per thread; asking is a system call).
    pub oversubscribed: bool,
    /// The local layer's inboxes (None on the MPI layer), for wake-ups at the
    /// job's end and for wakers used on threads that are not PEs.
    pub local: Option<Arc<LocalMachine>>,
    qd: Box<[CachePadded<QdCounters>]>,
    /// Messages sent from threads that are not PEs (wakers used elsewhere).
    extern_sent: AtomicU64,
    /// Set once the job ends; every PE leaves its loop when it sees it.
    stop: AtomicBool,
    outcome: Mutex<Option<Result<i32, JobError>>>,
    /// Notified when `outcome` is decided (the watchdog waits on it).
    decided: Condvar,
    /// PEs that left their loop.
    pes_out: AtomicUsize,
    pub next_coll: AtomicU32,
    /// Every collection of the job, by id.
    pub colls: Mutex<FxHashMap<CollId, Arc<CollInfo>>>,
    pub main_info: Arc<CollInfo>,
}

impl Shared {
    pub(crate) fn num_pes(&self) -> usize {
        self.cfg.pes
    }

    /// Ends the job with `outcome` unless it already ended. The first outcome wins.
    pub(crate) fn finish(&self, outcome: Result<i32, JobError>) {
        {
            let mut o = self.outcome.lock().unwrap_or_else(|e| e.into_inner());
            if o.is_none() {
                *o = Some(outcome);
            }
            self.decided.notify_all();
        }
        self.stop.store(true, Ordering::SeqCst);
        if let Some(m) = &self.local {
            for pe in 0..self.num_pes() {
                m.wake_pe(pe);
            }
        }
    }

    /// The job's outcome, if decided.
    pub(crate) fn outcome_snapshot(&self) -> Option<Result<i32, JobError>> {
        self.outcome.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    #[inline]
    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sends from a thread that is not a PE of this job.
    pub(crate) fn send_external(&self, to: usize, msg: Msg) {
        // On the MPI layer the PE is the only thread that uses the runtime.
        if let Some(m) = &self.local {
            self.extern_sent.fetch_add(1, Ordering::SeqCst);
            m.send(to, msg);
        }
    }

    /// (sent, handled, activity) summed over PEs, or None if a PE is busy
    /// or holds a timer (local layer; see [`crate::quiescence`] and
    /// [`crate::timer`]).
    pub(crate) fn qd_snapshot(&self) -> Option<[u64; 3]> {
        let mut sum = [self.extern_sent.load(Ordering::SeqCst), 0, 0];
        for q in self.qd.iter() {
            if !q.idle.load(Ordering::SeqCst) || q.timers.load(Ordering::SeqCst) != 0 {
                return None;
            }
            let c = q.counts();
            sum[0] += c[0];
            sum[1] += c[1];
            sum[2] += c[2];
        }
        Some(sum)
    }
}

/// The state of one PE, owned by its thread. Each table belongs to the
/// module that uses it (the type says which).
pub(crate) struct Pe {
    pub id: usize,
    pub shared: Arc<Shared>,
    /// This PE's machine layer: its queue of arrived messages and the way to
    /// other PEs.
    pub machine: Machine,
    /// Chares living here, collections created here, calls waiting for
    /// their collection ([`dispatch`]).
    pub chares: ChareTable,
    /// Tasks, the ready queue ([`tasks`]).
    pub tasks: TaskTable,
    /// Futures owned here ([`crate::future`]).
    pub futures: RefCell<FxHashMap<u64, FutureSlot>>,
    pub next_future: Cell<u64>,
    /// Futures of other PEs awaited here, and the local slot each one's
    /// value is forwarded to ([`crate::future`]).
    pub future_redirects: RefCell<FxHashMap<crate::future::RawFuture, crate::future::RawFuture>>,
    /// Channel buffers of values arriving here ([`crate::channel`]).
    pub channels: RefCell<ChannelTable>,
    pub chan_counts: RefCell<FxHashMap<(Addr, Addr), u32>>,
    /// Reductions in progress ([`crate::reduction`]).
    pub reductions: RefCell<ReductionTable>,
    /// Where elements that are not here live ([`crate::migration::location`]).
    pub locations: LocationTable,
    /// Outgoing ordered streams and who sends now ([`crate::migration::order`]).
    pub streams: Streams,
    /// Load balancing at sync points ([`crate::lb`]).
    pub lb: LbState,
    /// Read-only data by type, and as bytes from other processes ([`crate::ctx`]).
    pub readonly: RefCell<FxHashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    pub readonly_bytes: RefCell<FxHashMap<u64, Vec<u8>>>,
    /// Quiescence detection ([`crate::quiescence`]).
    pub qd: QdState,
    /// The task pool's jobs owned here and credits ([`crate::pool`]).
    pub pool: crate::pool::PoolState,
    /// Single chares created here with the runtime choosing their PE
    /// ([`crate::collection::SingleBuilder`]).
    pub placed_anywhere: Cell<usize>,
    /// Sleeps and scheduled closures ([`crate::timer`]).
    pub timers: crate::timer::Timers,
    /// Counts kept for [`crate::Stats`] off the message path ([`crate::stats`]).
    pub stats: crate::stats::StatCounters,
}

thread_local! {
    static CURRENT: Cell<*const Pe> = const { Cell::new(std::ptr::null()) };
}

/// Runs `f` with the PE of the calling thread. Panics with a clear message
/// when called outside a PE thread (the runtime API needs one).
#[inline]
pub(crate) fn with_pe<R>(f: impl FnOnce(&Pe) -> R) -> R {
    let p = CURRENT.with(|c| c.get());
    if p.is_null() {
        not_on_pe()
    }
    // SAFETY: non-null CURRENT points at the `Pe` that `job::run_pe` keeps
    // alive on this thread's stack until it clears CURRENT.
    f(unsafe { &*p })
}

#[cold]
fn not_on_pe() -> ! {
    panic!("the Chare API was used outside a PE thread (inside chare::run, from an entry method or the main task)")
}

/// Whether the calling thread is a PE thread.
pub(crate) fn on_pe() -> bool {
    CURRENT.with(|c| !c.get().is_null())
}

impl Pe {
    fn new(id: usize, shared: Arc<Shared>, machine: Machine) -> Pe {
        Pe {
            id,
            shared,
            machine,
            chares: ChareTable::default(),
            tasks: TaskTable::default(),
            futures: RefCell::default(),
            next_future: Cell::new(0),
            future_redirects: RefCell::default(),
            channels: RefCell::default(),
            chan_counts: RefCell::default(),
            reductions: RefCell::default(),
            locations: LocationTable::default(),
            streams: Streams::default(),
            lb: LbState::default(),
            readonly: RefCell::default(),
            readonly_bytes: RefCell::default(),
            qd: QdState::default(),
            pool: Default::default(),
            placed_anywhere: Cell::new(0),
            timers: Default::default(),
            stats: Default::default(),
        }
    }

    pub(crate) fn qd_counters(&self) -> &QdCounters {
        &self.shared.qd[self.id]
    }

    /// Whether work is queued on this PE: messages, ready tasks, or timers
    /// (pending work for quiescence detection; see [`crate::timer`]).
    pub(crate) fn busy(&self) -> bool {
        self.machine.has_queued() || self.tasks.has_ready() || self.timers.pending() > 0
    }

    /// Ends the job because of a misuse found by the runtime.
    #[cold]
    pub(crate) fn fail_usage(&self, message: String) {
        self.shared.finish(Err(JobError::Usage { pe: self.id, message }));
    }

    /// `Chare[index]` for an address, for messages.
    pub(crate) fn describe(&self, addr: &Addr) -> String {
        if addr.coll == 0 {
            return "main".to_string();
        }
        let info = self.shared.colls.lock().unwrap().get(&addr.coll).cloned();
        match info {
            Some(c) => format!("{}[{}]", c.chare, c.index_of(addr)),
            None => format!("collection {} element #{}", addr.coll, addr.lin),
        }
    }
}
