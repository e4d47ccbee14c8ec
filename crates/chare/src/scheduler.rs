//! The per-PE scheduler: inbox -> dispatch, ready tasks, idle policy, and the
//! job's life cycle (start, quiescence, exit, failure).
//!
//! State is split as in rayon's registry: [`Shared`] is what every PE may
//! touch (machine layer, stop flag, outcome, quiescence counters); [`Pe`] is
//! one PE's own state, reachable only from its thread through a thread-local
//! pointer ([`with_pe`]). `Pe` uses `RefCell`s; no borrow of them is ever held
//! across a call into user code, so user code may call back into the runtime.
//!
//! Loop of one PE (`Pe::run_loop`):
//! 1. handle up to 64 messages (local queue first, then the inbox);
//! 2. poll the tasks that were woken;
//! 3. if neither found work: mark idle, let PE 0 check quiescence, then spin
//!    or park according to the idle policy.
//!
//! Quiescence (local layer): every PE counts messages it sent and handled, and
//! bumps an activity counter whenever it leaves idle. PE 0, while idle, takes a
//! snapshot of all counters every `qd_interval`; two equal consecutive
//! snapshots with every PE idle and sent == handled mean quiescence. Then
//! waiters of `wait_quiescence` are released; if there are none, no task can
//! ever be woken again: every PE reports its waiting tasks and the job ends
//! with [`JobError::Deadlock`].

use crate::collection::{CollInfo, LocalColl};
use crate::config::{Config, IdlePolicy};
use crate::ctx::Rt;
use crate::error::JobError;
use crate::future::{FutureSlot, RawFuture};
use crate::index::Index;
use crate::machine::{LocalMachine, Machine};
use crate::message::{Addr, ChanKey, CollId, Incoming, Msg};
use crate::object::AnyCell;
use crate::reduction::ReductionTable;
use crate::value::Body;
use crossbeam_utils::CachePadded;
use rustc_hash::FxHashMap;
use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

/// Quiescence counters of one PE. Written only by that PE; read by PE 0.
#[derive(Default)]
pub(crate) struct QdCounters {
    pub(crate) sent: AtomicU64,
    pub(crate) handled: AtomicU64,
    pub(crate) activity: AtomicU64,
    idle: AtomicBool,
}

/// State shared by all PEs of a job.
pub(crate) struct Shared {
    pub cfg: Config,
    /// More PEs than cores, decided once before any thread is pinned (after
    /// pinning, the OS reports one core per thread; asking is a system call).
    pub oversubscribed: bool,
    pub machine: Machine,
    qd: Box<[CachePadded<QdCounters>]>,
    /// Messages sent from threads that are not PEs (wakers used elsewhere).
    extern_sent: AtomicU64,
    /// Set once the job ends; every PE leaves its loop when it sees it.
    stop: AtomicBool,
    outcome: Mutex<Option<Result<i32, JobError>>>,
    pub next_coll: AtomicU32,
    /// Every collection of the job, by id.
    pub colls: Mutex<FxHashMap<CollId, Arc<CollInfo>>>,
    pub main_info: Arc<CollInfo>,
    pub(crate) report: Mutex<Vec<String>>,
    pub(crate) report_done: AtomicUsize,
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
        }
        self.stop.store(true, Ordering::SeqCst);
        if let Some(m) = self.machine.local() {
            for pe in 0..self.num_pes() {
                m.wake_pe(pe);
            }
        }
    }

    /// The job's outcome, if decided.
    pub(crate) fn outcome_snapshot(&self) -> Option<Result<i32, JobError>> {
        self.outcome.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Relaxed)
    }

    /// Sends from a thread that is not a PE of this job.
    pub(crate) fn send_external(&self, to: usize, msg: Msg) {
        // On the MPI layer the PE is the only thread that uses the runtime.
        if let Some(m) = self.machine.local() {
            self.extern_sent.fetch_add(1, Ordering::SeqCst);
            m.send(to, msg);
        }
    }

    /// (sent, handled, activity) summed over PEs, or None if a PE is busy.
    fn qd_snapshot(&self) -> Option<(u64, u64, u64)> {
        let (mut s, mut h, mut a) = (self.extern_sent.load(Ordering::SeqCst), 0, 0);
        for q in self.qd.iter() {
            if !q.idle.load(Ordering::SeqCst) {
                return None;
            }
            s += q.sent.load(Ordering::SeqCst);
            h += q.handled.load(Ordering::SeqCst);
            a += q.activity.load(Ordering::SeqCst);
        }
        Some((s, h, a))
    }
}

/// What a suspended task waits on, for deadlock reports.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) enum WaitOn {
    #[default]
    Unknown,
    Future {
        pe: usize,
        id: u64,
    },
    Channel {
        from: Addr,
    },
}

impl fmt::Display for WaitOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitOn::Unknown => f.write_str("something that is not a Chare future or channel"),
            WaitOn::Future { pe, id } => write!(f, "future #{id} (owned by PE {pe})"),
            WaitOn::Channel { from } => {
                write!(f, "channel recv from collection {} element #{}", from.coll, from.lin)
            }
        }
    }
}

/// Who runs a task, for reports.
#[derive(Clone, Copy)]
pub(crate) struct TaskDesc {
    pub chare: &'static str,
    pub index: Index,
    pub entry: &'static str,
}

type BoxedTask = Pin<Box<dyn Future<Output = ()>>>;

struct TaskSlot {
    gen: u32,
    /// None while the task is being polled or after it finished.
    fut: Option<BoxedTask>,
    /// The chare whose async entry this is; told when the task finishes.
    /// Invariant: the cell outlives the task (cells are never removed while
    /// a task of theirs exists).
    owner: Option<*const dyn AnyCell>,
    desc: TaskDesc,
    waiting: WaitOn,
    waker: Option<Waker>,
    is_main: bool,
    live: bool,
}

struct TaskWaker {
    shared: Arc<Shared>,
    pe: usize,
    task: u32,
    gen: u32,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let here = CURRENT.with(|c| {
            let p = c.get();
            // SAFETY: CURRENT is non-null only while the PE it points to is
            // alive on this thread (set and cleared by `run_pe`).
            !p.is_null() && unsafe { (*p).id == self.pe && Arc::ptr_eq(&(*p).shared, &self.shared) }
        });
        if here {
            with_pe(|pe| pe.ready.borrow_mut().push_back((self.task, self.gen)));
        } else {
            self.shared.send_external(self.pe, Msg::Wake { task: self.task, gen: self.gen });
        }
    }
}

/// Channel buffer of one direction, on the receiving PE.
#[derive(Default)]
pub(crate) struct ChanState {
    pub queue: VecDeque<Incoming<ChanKey>>,
    pub waker: Option<Waker>,
}

/// The state of one PE, owned by its thread.
pub(crate) struct Pe {
    pub id: usize,
    pub shared: Arc<Shared>,
    local: RefCell<VecDeque<Msg>>,
    /// Chares living here. Boxes give each cell a stable address.
    chares: RefCell<FxHashMap<Addr, Box<dyn AnyCell>>>,
    pub colls: RefCell<FxHashMap<CollId, LocalColl>>,
    /// Entry calls for elements of collections not yet created here.
    pending: RefCell<FxHashMap<Addr, Vec<Incoming<Addr>>>>,
    /// Broadcasts to collections not yet created here.
    pending_bcast: RefCell<FxHashMap<CollId, Vec<Body>>>,
    tasks: RefCell<Vec<TaskSlot>>,
    free_tasks: RefCell<Vec<u32>>,
    ready: RefCell<VecDeque<(u32, u32)>>,
    wait_note: Cell<WaitOn>,
    pub futures: RefCell<FxHashMap<u64, FutureSlot>>,
    pub next_future: Cell<u64>,
    pub channels: RefCell<FxHashMap<ChanKey, ChanState>>,
    pub chan_counts: RefCell<FxHashMap<(Addr, Addr), u32>>,
    pub reductions: RefCell<ReductionTable>,
    pub readonly: RefCell<FxHashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    pub qd_waiters: RefCell<Vec<RawFuture>>,
    pub(crate) collecting_report: Cell<bool>,
    /// The MPI endpoint and its protocol state (MPI layer only).
    #[cfg(feature = "mpi")]
    pub(crate) net: Option<crate::net::NetState>,
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
    // SAFETY: non-null CURRENT points at the `Pe` that `run_pe` keeps alive on
    // this thread's stack until it clears CURRENT.
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
    fn new(id: usize, shared: Arc<Shared>, #[cfg(feature = "mpi")] net: Option<crate::net::NetState>) -> Pe {
        Pe {
            id,
            shared,
            local: RefCell::default(),
            chares: RefCell::default(),
            colls: RefCell::default(),
            pending: RefCell::default(),
            pending_bcast: RefCell::default(),
            tasks: RefCell::default(),
            free_tasks: RefCell::default(),
            ready: RefCell::default(),
            wait_note: Cell::new(WaitOn::Unknown),
            futures: RefCell::default(),
            next_future: Cell::new(0),
            channels: RefCell::default(),
            chan_counts: RefCell::default(),
            reductions: RefCell::default(),
            readonly: RefCell::default(),
            qd_waiters: RefCell::default(),
            collecting_report: Cell::new(false),
            #[cfg(feature = "mpi")]
            net,
        }
    }

    pub(crate) fn qd(&self) -> &QdCounters {
        &self.shared.qd[self.id]
    }

    /// Whether this PE has tasks to poll or messages of its own to handle.
    #[inline]
    pub(crate) fn has_local_work(&self) -> bool {
        !self.ready.borrow().is_empty() || !self.local.borrow().is_empty()
    }

    /// Counts one message sent, for quiescence detection.
    #[inline]
    pub(crate) fn count_sent(&self) {
        let q = self.qd();
        q.sent.store(q.sent.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Sends `msg` to PE `to`. Messages to oneself go through the local queue,
    /// so they run later, never inside the sender's entry method.
    #[inline]
    pub(crate) fn send(&self, to: usize, msg: Msg) {
        self.count_sent();
        if to == self.id {
            self.local.borrow_mut().push_back(msg);
        } else {
            match self.shared.machine.local() {
                Some(m) => m.send(to, msg),
                None => self.send_remote(to, msg),
            }
        }
    }

    /// Whether PE `to` shares this process (messages to it move as objects).
    #[inline]
    pub(crate) fn in_process(&self, to: usize) -> bool {
        to == self.id || self.shared.machine.local().is_some()
    }

    #[cfg(not(feature = "mpi"))]
    fn send_remote(&self, _to: usize, _msg: Msg) {
        unreachable!("only the MPI layer has PEs in other processes")
    }

    #[cfg(not(feature = "mpi"))]
    pub(crate) fn send_create<T: crate::object::Chare>(
        &self,
        _to: usize,
        _info: &CollInfo,
        _init: &T::Init,
        _done: Option<crate::future::Reply>,
    ) {
        unreachable!("only the MPI layer has PEs in other processes")
    }

    #[cfg(not(feature = "mpi"))]
    pub(crate) fn send_readonly(&self, _to: usize, _key: u64, _value: Vec<u8>, _done: crate::future::Reply) {
        unreachable!("only the MPI layer has PEs in other processes")
    }

    #[cfg(not(feature = "mpi"))]
    pub(crate) fn send_qd_register(&self, _fut: RawFuture) {
        unreachable!("only the MPI layer has PEs in other processes")
    }

    #[cfg(not(feature = "mpi"))]
    pub(crate) fn readonly_bytes(&self, _key: u64) -> Option<Vec<u8>> {
        None
    }

    /// Whether work is queued on this PE (for quiescence waves).
    pub(crate) fn busy(&self) -> bool {
        !self.local.borrow().is_empty() || !self.ready.borrow().is_empty()
    }

    /// Records what the task being polled now waits on (for deadlock reports).
    pub(crate) fn note_wait(&self, w: WaitOn) {
        self.wait_note.set(w);
    }

    /// Ends the job because of a misuse found by the runtime.
    #[cold]
    pub(crate) fn fail_usage(&self, message: String) {
        self.shared.finish(Err(JobError::Usage { pe: self.id, message }));
    }

    /// Ends the job because user code panicked.
    #[cold]
    pub(crate) fn fail_panic(&self, desc: TaskDesc, payload: Box<dyn Any + Send>) {
        let message = panic_message(&*payload);
        let err = JobError::Panic {
            pe: self.id,
            chare: desc.chare.to_string(),
            index: desc.index.to_string(),
            entry: desc.entry.to_string(),
            message,
        };
        self.shared.finish(Err(err));
    }

    // ---- chares -------------------------------------------------------

    /// Adds a chare cell to this PE and delivers calls that waited for it.
    pub(crate) fn insert_chare(&self, addr: Addr, cell: Box<dyn AnyCell>) {
        self.chares.borrow_mut().insert(addr, cell);
    }

    fn cell(&self, addr: &Addr) -> Option<*const dyn AnyCell> {
        self.chares.borrow().get(addr).map(|b| &**b as *const dyn AnyCell)
    }

    /// Marks a collection created here and delivers what waited for it.
    pub(crate) fn collection_created(&self, coll: CollId, local: LocalColl) {
        let addrs = local.addrs.clone();
        self.colls.borrow_mut().insert(coll, local);
        for addr in addrs {
            let waiting = self.pending.borrow_mut().remove(&addr);
            for item in waiting.into_iter().flatten() {
                self.deliver_entry(addr, item);
            }
        }
        let bcasts = self.pending_bcast.borrow_mut().remove(&coll);
        for body in bcasts.into_iter().flatten() {
            self.deliver_broadcast(coll, body);
        }
    }

    pub(crate) fn deliver_entry(&self, to: Addr, item: Incoming<Addr>) {
        match self.cell(&to) {
            // SAFETY: cells are boxed and never removed while the job runs, so
            // the pointer stays valid; no RefCell borrow is held across the call.
            Some(cell) => unsafe { (*cell).deliver(self, item) },
            None => {
                if self.colls.borrow().contains_key(&to.coll) {
                    let name = self.describe(&to);
                    self.fail_usage(format!("message to {name}, which does not exist on this PE"));
                } else {
                    self.pending.borrow_mut().entry(to).or_default().push(item);
                }
            }
        }
    }

    pub(crate) fn deliver_broadcast(&self, coll: CollId, body: Body) {
        let addrs = match self.colls.borrow().get(&coll) {
            Some(c) => c.addrs.clone(),
            None => {
                self.pending_bcast.borrow_mut().entry(coll).or_default().push(body);
                return;
            }
        };
        for addr in addrs {
            if let Some(cell) = self.cell(&addr) {
                // SAFETY: as in `deliver_entry`.
                unsafe {
                    match &body {
                        Body::Obj(v) => (*cell).deliver_clone(self, &**v),
                        Body::Bytes(b) => (*cell).deliver(self, Incoming::Bytes(b.clone())),
                    }
                }
            }
        }
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

    // ---- tasks --------------------------------------------------------

    /// Starts a task and polls it once. Returns true if it already finished
    /// (then `owner` is not told: the caller handles that case itself).
    pub(crate) fn spawn(
        &self,
        fut: BoxedTask,
        owner: Option<*const dyn AnyCell>,
        desc: TaskDesc,
        is_main: bool,
    ) -> bool {
        let id = {
            let mut tasks = self.tasks.borrow_mut();
            let id = match self.free_tasks.borrow_mut().pop() {
                Some(id) => id,
                None => {
                    tasks.push(TaskSlot {
                        gen: 0,
                        fut: None,
                        owner: None,
                        desc,
                        waiting: WaitOn::Unknown,
                        waker: None,
                        is_main: false,
                        live: false,
                    });
                    (tasks.len() - 1) as u32
                }
            };
            let slot = &mut tasks[id as usize];
            slot.gen = slot.gen.wrapping_add(1);
            slot.fut = Some(fut);
            slot.owner = owner;
            slot.desc = desc;
            slot.waiting = WaitOn::Unknown;
            slot.is_main = is_main;
            slot.live = true;
            slot.waker = Some(Waker::from(Arc::new(TaskWaker {
                shared: self.shared.clone(),
                pe: self.id,
                task: id,
                gen: slot.gen,
            })));
            id
        };
        let gen = self.tasks.borrow()[id as usize].gen;
        self.poll_task(id, gen, false)
    }

    /// Polls task `id` if it is still generation `gen`. Returns true when it
    /// finished during this poll. `notify_owner`: tell the owning chare.
    fn poll_task(&self, id: u32, gen: u32, notify_owner: bool) -> bool {
        let (mut fut, waker, desc) = {
            let mut tasks = self.tasks.borrow_mut();
            let slot = &mut tasks[id as usize];
            if slot.gen != gen || !slot.live {
                return false;
            }
            let Some(f) = slot.fut.take() else {
                return false;
            };
            (f, slot.waker.clone().expect("live task has a waker"), slot.desc)
        };
        self.wait_note.set(WaitOn::Unknown);
        let mut cx = Context::from_waker(&waker);
        let r = catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(&mut cx)));
        match r {
            Ok(Poll::Pending) => {
                let mut tasks = self.tasks.borrow_mut();
                let slot = &mut tasks[id as usize];
                slot.fut = Some(fut);
                slot.waiting = self.wait_note.get();
                false
            }
            Ok(Poll::Ready(())) => {
                drop(fut);
                let (owner, is_main) = {
                    let mut tasks = self.tasks.borrow_mut();
                    let slot = &mut tasks[id as usize];
                    slot.live = false;
                    slot.waker = None;
                    (slot.owner.take(), slot.is_main)
                };
                self.free_tasks.borrow_mut().push(id);
                if is_main {
                    self.shared.finish(Ok(0));
                }
                if notify_owner {
                    if let Some(owner) = owner {
                        // SAFETY: the owner cell outlives its tasks (TaskSlot::owner).
                        unsafe { (*owner).task_done(self) };
                    }
                }
                true
            }
            Err(payload) => {
                drop(fut);
                self.fail_panic(desc, payload);
                true
            }
        }
    }

    // ---- message handling ---------------------------------------------

    pub(crate) fn handle(&self, msg: Msg) {
        match msg {
            Msg::Entry(packet) => self.deliver_entry(*packet.head(), Incoming::Packet(packet)),
            Msg::Broadcast { coll, body } => self.deliver_broadcast(coll, Body::Obj(body)),
            Msg::Future { id, value } => crate::future::fulfil(self, id, crate::value::Body::Obj(value)),
            Msg::Channel(packet) => {
                // The waker stays registered (a receiver that polls again with
                // the same waker need not clone it); a spurious wake of a task
                // that no longer waits costs one poll. Waking only touches
                // `ready`, never `channels`.
                let mut chans = self.channels.borrow_mut();
                let st = chans.entry(*packet.head()).or_default();
                st.queue.push_back(Incoming::Packet(packet));
                if let Some(w) = &st.waker {
                    w.wake_by_ref();
                }
            }
            Msg::Reduce(c) => crate::reduction::receive(self, *c),
            Msg::Wake { task, gen } => self.ready.borrow_mut().push_back((task, gen)),
            Msg::Control(f) => f(self),
        }
    }

    fn next_msg(&self) -> Option<Msg> {
        if let Some(m) = self.local.borrow_mut().pop_front() {
            return Some(m);
        }
        self.shared.machine.local().and_then(|m| m.try_recv(self.id))
    }

    pub(crate) fn count_handled(&self) {
        let q = self.qd();
        q.handled.store(q.handled.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    fn run_loop(&self) {
        let cfg = &self.shared.cfg;
        let mut idle_since: Option<Instant> = None;
        let mut idle_rounds: u64 = 0;
        let mut last_qd = Instant::now();
        let mut prev_snapshot = None;
        let oversubscribed = self.shared.oversubscribed;
        #[cfg(feature = "mpi")]
        let polls_network = self.net.is_some();
        #[cfg(not(feature = "mpi"))]
        let polls_network = false;
        loop {
            if self.shared.stopping() {
                break;
            }
            let mut worked = false;
            for _ in 0..64 {
                let Some(m) = self.next_msg() else { break };
                if !worked {
                    self.leave_idle(&mut idle_rounds, &mut idle_since);
                    worked = true;
                }
                self.handle(m);
                self.count_handled();
            }
            #[cfg(feature = "mpi")]
            if self.net.is_some() && self.poll_network() && !worked {
                self.leave_idle(&mut idle_rounds, &mut idle_since);
                worked = true;
            }
            let n = self.ready.borrow().len();
            if n > 0 && !worked {
                self.leave_idle(&mut idle_rounds, &mut idle_since);
                worked = true;
            }
            for _ in 0..n {
                let Some((id, gen)) = self.ready.borrow_mut().pop_front() else {
                    break;
                };
                self.poll_task(id, gen, true);
            }
            if worked {
                continue;
            }
            // Idle. The clock is read only every 256 idle rounds: reading it
            // on every round would cost as much as handling a message.
            if idle_rounds == 0 {
                self.qd().idle.store(true, Ordering::SeqCst);
            }
            idle_rounds += 1;
            if idle_rounds & 255 != 0 && cfg.idle != IdlePolicy::Park {
                if oversubscribed {
                    std::thread::yield_now();
                } else if !polls_network {
                    // A pause between looks at the queue. Not on the MPI
                    // layer: there each round's MPI test already takes far
                    // longer than a pause, which would only delay the next
                    // look by up to its length.
                    std::hint::spin_loop();
                }
                continue;
            }
            let now = Instant::now();
            let since = *idle_since.get_or_insert(now);
            if self.id == 0 && now.duration_since(last_qd) >= cfg.qd_interval {
                last_qd = now;
                #[cfg(feature = "mpi")]
                if self.net.is_some() {
                    self.quiescence_wave();
                    continue;
                }
                self.check_quiescence(&mut prev_snapshot);
            }
            #[cfg(feature = "mpi")]
            if self.net.is_some() {
                // MPI needs polling: an idle rank never parks.
                if oversubscribed {
                    std::thread::yield_now();
                }
                continue;
            }
            let park = match cfg.idle {
                IdlePolicy::Spin => false,
                IdlePolicy::Park => true,
                IdlePolicy::SpinThenPark => now.duration_since(since) >= cfg.spin,
            };
            if park {
                let timeout = if self.id == 0 { cfg.qd_interval } else { Duration::from_millis(50) };
                let shared = &self.shared;
                let id = self.id;
                if let Some(m) = self.shared.machine.local() {
                    m.park(id, timeout, || shared.stopping() || !self.local.borrow().is_empty());
                }
            }
        }
    }

    #[inline]
    fn leave_idle(&self, idle_rounds: &mut u64, idle_since: &mut Option<Instant>) {
        *idle_since = None;
        if std::mem::take(idle_rounds) > 0 {
            let q = self.qd();
            q.idle.store(false, Ordering::SeqCst);
            // Only this PE writes `activity`: a plain store suffices (no RMW).
            q.activity.store(q.activity.load(Ordering::Relaxed) + 1, Ordering::SeqCst);
        }
    }

    #[cold]
    fn check_quiescence(&self, prev: &mut Option<(u64, u64, u64)>) {
        if self.collecting_report.get() {
            if self.shared.report_done.load(Ordering::SeqCst) == self.shared.num_pes() {
                let mut lines = std::mem::take(&mut *self.shared.report.lock().unwrap());
                lines.sort();
                self.shared.finish(Err(JobError::Deadlock { waiting: lines }));
            }
            return;
        }
        let snap = self.shared.qd_snapshot();
        let quiet = matches!(snap, Some((s, h, _)) if s == h) && snap == *prev;
        *prev = snap;
        if !quiet {
            return;
        }
        *prev = None;
        if self.release_qd_waiters() {
            return;
        }
        // Deadlock: ask every PE for its waiting tasks.
        self.collecting_report.set(true);
        for pe in 0..self.shared.num_pes() {
            self.send(
                pe,
                Msg::Control(Box::new(|pe: &Pe| {
                    let lines = pe.waiting_tasks();
                    pe.shared.report.lock().unwrap().extend(lines);
                    pe.shared.report_done.fetch_add(1, Ordering::SeqCst);
                })),
            );
        }
    }

    /// At quiescence: fulfils the `wait_quiescence` futures. Returns false
    /// when there were none (then quiescence means deadlock).
    pub(crate) fn release_qd_waiters(&self) -> bool {
        let waiters = std::mem::take(&mut *self.qd_waiters.borrow_mut());
        let any = !waiters.is_empty();
        for w in waiters {
            w.set_any(Box::new(()));
        }
        any
    }

    /// This PE's quiescence counters: (sent, handled, activity).
    pub(crate) fn qd_counts(&self) -> [u64; 3] {
        let q = self.qd();
        [q.sent.load(Ordering::Relaxed), q.handled.load(Ordering::Relaxed), q.activity.load(Ordering::Relaxed)]
    }

    /// One line per suspended task of this PE.
    pub(crate) fn waiting_tasks(&self) -> Vec<String> {
        let tasks = self.tasks.borrow();
        tasks
            .iter()
            .filter(|t| t.live)
            .map(|t| {
                let waiting = match t.waiting {
                    WaitOn::Channel { from } => {
                        format!("channel recv from {}", self.describe(&from))
                    }
                    w => w.to_string(),
                };
                format!("PE {}: {}[{}].{} waits on {}", self.id, t.desc.chare, t.desc.index, t.desc.entry, waiting)
            })
            .collect()
    }

    /// Drops tasks before chares: tasks may borrow their chare.
    fn shutdown(&self) {
        let tasks = std::mem::take(&mut *self.tasks.borrow_mut());
        drop(tasks);
        let chares = std::mem::take(&mut *self.chares.borrow_mut());
        drop(chares);
        self.local.borrow_mut().clear();
        if let Some(m) = self.shared.machine.local() {
            while m.try_recv(self.id).is_some() {}
        }
    }
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}

fn pin_thread(pe: usize, cfg: &Config) {
    if !cfg.pin {
        return;
    }
    if let Some(ids) = core_affinity::get_core_ids() {
        if !ids.is_empty() {
            core_affinity::set_for_current(ids[pe % ids.len()]);
        }
    }
}

/// Runs PE `id` on the calling thread until the job stops. PE 0 also starts
/// the main task.
fn run_pe(
    shared: Arc<Shared>,
    id: usize,
    main: Option<BoxedMain>,
    #[cfg(feature = "mpi")] net: Option<crate::net::NetState>,
) {
    pin_thread(id, &shared.cfg);
    if let Some(m) = shared.machine.local() {
        m.register_thread(id);
    }
    let pe = Pe::new(
        id,
        shared.clone(),
        #[cfg(feature = "mpi")]
        net,
    );
    CURRENT.with(|c| c.set(&pe as *const Pe));
    let r = catch_unwind(AssertUnwindSafe(|| {
        if let Some(main) = main {
            let rt = Rt::main(shared.main_info.clone());
            let fut = main(rt);
            let desc = TaskDesc { chare: "main", index: Index::from(0), entry: "main" };
            pe.spawn(fut, None, desc, true);
        }
        pe.run_loop();
    }));
    if let Err(payload) = r {
        shared.finish(Err(JobError::Usage {
            pe: id,
            message: format!("internal runtime error: {}", panic_message(&*payload)),
        }));
    }
    #[cfg(feature = "mpi")]
    if pe.net.is_some() {
        pe.end_of_job();
    }
    let _ = catch_unwind(AssertUnwindSafe(|| pe.shutdown()));
    CURRENT.with(|c| c.set(std::ptr::null()));
}

type BoxedMain = Box<dyn FnOnce(Rt) -> BoxedTask>;

/// Runs a job with `cfg`: PE 0 on the calling thread runs `main`'s task; the
/// job ends when it returns, on `exit`, `abort`, a panic or a deadlock.
/// Returns the exit code (0 when main returned) or the error.
pub fn run_job<F, Fut>(cfg: Config, main: F) -> Result<i32, JobError>
where
    F: FnOnce(Rt) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    if on_pe() {
        return Err(JobError::Config("a job cannot be started from inside another job".into()));
    }
    #[cfg(feature = "mpi")]
    if cfg.layer == crate::config::Layer::Mpi {
        return run_mpi_job(cfg, main);
    }
    #[cfg(not(feature = "mpi"))]
    if cfg.layer == crate::config::Layer::Mpi {
        return Err(JobError::Config("the MPI layer is not built: rebuild with the cargo feature `mpi`".into()));
    }
    let pes = cfg.pes;
    let shared = new_shared(cfg, Machine::Local(LocalMachine::new(pes)));
    let mut handles = Vec::with_capacity(pes.saturating_sub(1));
    for id in 1..pes {
        let sh = shared.clone();
        let h = std::thread::Builder::new().name(format!("chare-pe-{id}")).spawn(move || {
            run_pe(
                sh,
                id,
                None,
                #[cfg(feature = "mpi")]
                None,
            )
        });
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                shared.finish(Err(JobError::Config(format!("cannot start PE thread {id}: {e}"))));
                break;
            }
        }
    }
    let boxed: BoxedMain = Box::new(move |rt| Box::pin(main(rt)) as BoxedTask);
    run_pe(
        shared.clone(),
        0,
        Some(boxed),
        #[cfg(feature = "mpi")]
        None,
    );
    for h in handles {
        let _ = h.join();
    }
    let outcome = shared.outcome.lock().unwrap().take();
    outcome.unwrap_or(Ok(0))
}

fn new_shared(cfg: Config, machine: Machine) -> Arc<Shared> {
    let pes = cfg.pes;
    let main_info = Arc::new(CollInfo::main());
    Arc::new(Shared {
        machine,
        qd: (0..pes).map(|_| CachePadded::new(QdCounters::default())).collect(),
        extern_sent: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        outcome: Mutex::new(None),
        next_coll: AtomicU32::new(1),
        colls: Mutex::new(FxHashMap::default()),
        main_info,
        report: Mutex::new(Vec::new()),
        report_done: AtomicUsize::new(0),
        oversubscribed: cfg.oversubscribed(),
        cfg,
    })
}

/// Runs this process's PE of a job on the MPI layer (one PE per rank).
#[cfg(feature = "mpi")]
fn run_mpi_job<F, Fut>(mut cfg: Config, main: F) -> Result<i32, JobError>
where
    F: FnOnce(Rt) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let ep = crate::machine::mpi::MpiEndpoint::init().map_err(JobError::Config)?;
    let (rank, size) = (ep.rank, ep.size);
    let mine = crate::registry::registry_hash();
    let all = ep.all_gather(mine);
    if let Some(other) = all.iter().position(|&h| h != all[0]) {
        drop(ep);
        return Err(JobError::Config(format!(
            "ranks 0 and {other} run different programs (their chare-type registries differ): start the same binary on every rank"
        )));
    }
    cfg.pes = size;
    cfg.pin = false; // mpirun binds ranks
    let shared = new_shared(cfg, Machine::Mpi { rank });
    // `new_shared` judged oversubscription by this process's PE count
    // against its cores; with one PE per rank it is ranks per machine.
    let shared = {
        let mut s = Arc::try_unwrap(shared).unwrap_or_else(|_| unreachable!("not shared yet"));
        s.oversubscribed = crate::config::ranks_oversubscribed();
        Arc::new(s)
    };
    let main: Option<BoxedMain> = (rank == 0).then(|| Box::new(move |rt| Box::pin(main(rt)) as BoxedTask) as BoxedMain);
    run_pe(shared.clone(), rank, main, Some(crate::net::NetState::new(ep)));
    let outcome = shared.outcome.lock().unwrap().take();
    outcome.unwrap_or(Ok(0))
}
