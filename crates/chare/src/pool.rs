//! The task pool (Charm4Py's `charm.pool`): many small independent tasks
//! run on every PE, the caller's included, without creating a chare per
//! task.
//!
//! A task is a function of one argument, `Fn(T) -> R`. Within a process it
//! travels as itself (a function or closure, moved into a closure message);
//! between processes (the MPI layer) code cannot travel, so a task that
//! reaches another process must be **registered**: a function declared
//! with [`task!`](crate::task), which keeps the function as written and
//! registers it (through `inventory`, as `#[chare]` registers chare types)
//! under its path. Its id is derived from the path, so every process
//! agrees, and the ranks' registry check covers tasks too. The sender finds
//! the registration by the function's type (every Rust function has a type
//! of its own, with the same `TypeId` in every process of one program; not
//! by its address: a small function may have a copy per codegen unit). A
//! closure or an unregistered function works on the local layer and is
//! refused, naming it, the first time a chunk of it would leave the
//! process (or, in the check mode, be sent at all).
//!
//! # Protocol (dynamic self-scheduling with credits)
//!
//! 1. `map_async(f, items)` on PE `o` (the *owner*) queues a job in `o`'s
//!    [`PoolState`]; nothing is sent to other PEs before there is work for
//!    them.
//! 2. The owner holds [`CREDITS`] credits per PE (itself included): the
//!    number of chunks of its work that PE may have queued or running.
//!    While a job has items left and some PE has a credit, the owner cuts
//!    the next chunk and sends it (one message) to the PE with the most
//!    credits left (ties rotate, starting after the owner, so single tasks
//!    spread). Chunk length: the pool's `chunk_size`, else *guided*: the
//!    items left / (2 x PEs), at least 1. Large chunks first (few
//!    messages), small ones at the end (balanced finish).
//! 3. A PE runs a chunk as a task that gives way after every time slice of
//!    [`SLICE`] (1 ms, or one item if an item takes longer), so that its
//!    messages and other tasks run in between whatever the chunk's length
//!    (a task yielding is polled again after the PE's next message): each
//!    item under [`Pe::catch_task`]; a panic
//!    stops the chunk. It sends the results (or the first panic) back to
//!    the owner, which gives that PE its credit back and sends more work
//!    (step 2).
//! 4. When every item's result is in, the owner fulfils the job's future
//!    with the results in input order; on the first panic, with the
//!    `EntryError` at once, and drops the items not yet sent (results of
//!    chunks still running are discarded when they arrive). A `map_each`
//!    job (and a single `task`) has one future per item instead: each is
//!    fulfilled when the results that hold it arrive, and a panic fails its
//!    own item only (the chunk sends the results before it, then the
//!    panic, and goes on with the next item: both messages `Close::Open`).
//!
//! # Stealing
//!
//! Credits balance chunks of similar cost; they cannot help once every item
//! has been sent and one PE is left with a chunk of long items (a `map`
//! whose first items are the expensive ones: its first chunk holds a
//! quarter of the items on 2 PEs). Then the idle PEs steal:
//!
//! 5. The owner counts, per PE, the parts of its work that PE holds
//!    (`PoolState::held`): chunks sent and not closed, stolen parts, steal
//!    requests for it not answered. A part's last results close it
//!    (`Close::Credit` for a chunk, `Close::Stolen` for a stolen part).
//! 6. When a part of PE `t` closes, no job of the owner has items left to
//!    send, and `t` holds nothing more, the owner sends a steal request for
//!    `t` to the PE holding the most parts (any PE, the owner and PE 0
//!    included), counting it as a part of `t`.
//! 7. The asked PE takes, of the chunks of that owner's work running there
//!    (between two time slices: requests are messages), the one with the
//!    most items not run; if it has two or more, it sends the last half to
//!    `t` as a stolen part, whose results go straight to the owner (by
//!    position, like any chunk's). Otherwise it answers `StealNone`; the
//!    owner uncounts the request and asks the next PE holding parts that
//!    has not refused `t` since `t` last closed a part (so `t` tries each
//!    such PE once; the owner cannot tell which PE runs the long chunk).
//!
//! Requests stop with the work: one follows only the close of a part or a
//! refusal (each PE refuses a thief at most once per idle period of that
//! thief), and a thief has at most one out, so a finished job leaves no
//! message behind and quiescence and deadlock detection see the pool idle.
//! `CHARE_POOL_STEAL=0` turns stealing off (to measure it).
//!
//! The owner's own chunks are messages to itself: they run between other
//! messages, so the owner's scheduler (and the task awaiting the job)
//! keeps running. Two credits per PE keep a chunk waiting while the
//! previous one runs, hiding the round trip to the owner.

use crate::error::EntryError;
use crate::future::{Future, RawFuture};
use crate::index::Index;
use crate::machine::wire::Wire;
use crate::message::Msg;
use crate::route::Outgoing;
use crate::scheduler::{with_pe, Pe, TaskDesc};
use crate::value::Encoded;
use rustc_hash::FxHashMap;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::any::{Any, TypeId};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, VecDeque};
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::OnceLock;

/// Chunks of one owner's work a PE may have queued or running.
pub(crate) const CREDITS: u32 = 2;

/// Handle to the task pool: `rt.pool()` / `ctx.pool()`. Copy it freely; its
/// state lives on the PEs. See the crate docs (Task pool) for an example.
#[derive(Clone, Copy, Debug, Default)]
pub struct Pool {
    chunk: Option<usize>,
}

impl Pool {
    /// Sends the items in chunks of `n` (Charm4Py's `chunksize`) instead of
    /// the guided sizes (large first, then smaller). Panics if `n` is 0.
    #[track_caller]
    pub fn chunk_size(self, n: usize) -> Pool {
        assert!(n > 0, "a pool's chunk size must be positive");
        Pool { chunk: Some(n) }
    }

    /// Starts `f(item)` for every item on the PEs; the future gets the
    /// results in input order, or the first task panic as an
    /// [`EntryError`] (chare `pool`, index the item's position, entry the
    /// task's path). A task that may run in another process must be
    /// declared with [`task!`](crate::task).
    pub fn map_async<F, T, R>(&self, f: F, items: impl IntoIterator<Item = T>) -> Future<Result<Vec<R>, EntryError>>
    where
        F: Fn(T) -> R + Clone + Send + 'static,
        T: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let items: Vec<T> = items.into_iter().collect();
        let done = Future::<Result<Vec<R>, EntryError>>::new_here(1);
        if items.is_empty() {
            done.raw().set_any(Box::new(Ok::<Vec<R>, EntryError>(Vec::new())));
        } else {
            self.submit(f, items, Done::All(done.raw()));
        }
        done
    }

    /// `f(item)` for every item, run on the PEs, in input order: await it.
    /// A task's panic is raised again where this is awaited (ending the job
    /// unless that is a `NAME_try_ret` call); [`Pool::map_async`] gives it
    /// as a value instead.
    pub fn map<F, T, R>(&self, f: F, items: impl IntoIterator<Item = T>) -> impl std::future::Future<Output = Vec<R>>
    where
        F: Fn(T) -> R + Clone + Send + 'static,
        T: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let fut = self.map_async(f, items);
        async move {
            match fut.await {
                Ok(v) => v,
                Err(e) => panic!("pool task failed: {e}"),
            }
        }
    }

    /// Charm4Py's `map_async(f, items, multi_future=True)`: one future per
    /// item, each fulfilled as soon as its result is in (with its value, or
    /// its task's panic as an [`EntryError`]: a panic fails only its own
    /// item), so the caller can take results as they finish with
    /// [`iwait`](crate::iwait) or all of them with
    /// [`wait_all`](crate::wait_all). The items are scheduled as `map`'s.
    pub fn map_each<F, T, R>(&self, f: F, items: impl IntoIterator<Item = T>) -> Vec<Future<Result<R, EntryError>>>
    where
        F: Fn(T) -> R + Clone + Send + 'static,
        T: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let items: Vec<T> = items.into_iter().collect();
        let futs: Vec<Future<Result<R, EntryError>>> = (0..items.len()).map(|_| Future::new_here(1)).collect();
        if !items.is_empty() {
            self.submit(f, items, Done::Each(futs.iter().map(Future::raw).collect()));
        }
        futs
    }

    /// One task `f(arg)` on whichever PE has room; the future gets its
    /// result or its panic.
    pub fn task<F, T, R>(&self, f: F, arg: T) -> Future<Result<R, EntryError>>
    where
        F: Fn(T) -> R + Clone + Send + 'static,
        T: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.map_each(f, std::iter::once(arg)).pop().expect("one item, one future")
    }

    /// Queues a job of `items` (not empty) on this PE.
    fn submit<F, T, R>(&self, f: F, items: Vec<T>, done: Done)
    where
        F: Fn(T) -> R + Clone + Send + 'static,
        T: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        let (task, name) = match registered().get(&TypeId::of::<F>()) {
            Some(t) => (Some(t.0), t.1.path),
            None => (None, std::any::type_name::<F>()),
        };
        let job = MapJob {
            f,
            task,
            name,
            missing: items.len(),
            items: items.into_iter(),
            next: 0,
            parts: BTreeMap::new(),
            chunk: self.chunk,
            done,
        };
        with_pe(|pe| pe.pool_submit(Box::new(job)));
    }
}

/// The PE running the caller: for pool tasks, which get no context (Charm4Py's
/// `charm.myPe()`). Panics outside a PE thread.
pub fn current_pe() -> usize {
    with_pe(|pe| pe.id)
}

/// A registered task function. Built by [`task!`](crate::task).
#[doc(hidden)]
pub struct TaskFn {
    /// `module::path::name`.
    pub path: &'static str,
    /// The `TypeId` of the function's own type.
    pub key: fn() -> TypeId,
    /// Runs a chunk that arrived from another process.
    pub run: fn(PoolWork<'_>),
}

inventory::collect!(TaskFn);

/// A chunk of a registered task's items from another process. Opaque to users.
#[doc(hidden)]
pub struct PoolWork<'a> {
    pe: &'a Pe,
    owner: usize,
    job: u64,
    start: u64,
    items: Encoded,
    task: &'static TaskFn,
    close: Close,
    each: bool,
}

/// [`TaskFn::key`] of `f`.
#[doc(hidden)]
pub fn task_key<F: 'static>(_f: &F) -> TypeId {
    TypeId::of::<F>()
}

/// [`TaskFn::run`] of `f`: decodes the items, runs them, sends the results back.
#[doc(hidden)]
pub fn run_work<F, T, R>(f: F, w: PoolWork<'_>)
where
    F: Fn(T) -> R + Clone + Send + 'static,
    T: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    let PoolWork { pe, owner, job, start, items, task, close, each } = w;
    match items.decode::<Vec<T>>() {
        Ok(items) => {
            let id = Some(crate::registry::stable_id(task.path));
            let head = Head { owner, job, task: id, name: task.path, close, each };
            Running::new(f, head, start, items).start(pe)
        }
        Err(e) => pe.fail_usage(format!("pool task {}: {e}", task.path)),
    }
}

/// Registered tasks by type: (id, registration).
fn registered() -> &'static FxHashMap<TypeId, (u64, &'static TaskFn)> {
    static TABLE: OnceLock<FxHashMap<TypeId, (u64, &'static TaskFn)>> = OnceLock::new();
    TABLE.get_or_init(|| {
        inventory::iter::<TaskFn>().map(|t| ((t.key)(), (crate::registry::stable_id(t.path), t))).collect()
    })
}

/// Registered tasks by id.
fn by_id(id: u64) -> Option<&'static TaskFn> {
    static TABLE: OnceLock<FxHashMap<u64, &'static TaskFn>> = OnceLock::new();
    TABLE
        .get_or_init(|| inventory::iter::<TaskFn>().map(|t| (crate::registry::stable_id(t.path), t)).collect())
        .get(&id)
        .copied()
}

/// The paths of the registered tasks (for the ranks' registry check).
pub(crate) fn task_paths() -> impl Iterator<Item = &'static str> {
    inventory::iter::<TaskFn>().map(|t| t.path)
}

/// The longest a chunk runs before the PE takes its other messages: a
/// chunk is a series of time slices, each one message.
const SLICE: std::time::Duration = std::time::Duration::from_millis(1);

/// What a chunk is, apart from its items: shared by the chunk and the parts
/// stolen from it.
#[derive(Clone, Copy)]
struct Head {
    owner: usize,
    job: u64,
    /// The registered task's id (None: unregistered, this process only).
    task: Option<u64>,
    /// The task's path (or type), for errors.
    name: &'static str,
    /// What the owner counts when the chunk's last results arrive.
    close: Close,
    /// `map_each`: a panic fails its item only, the chunk goes on.
    each: bool,
}

/// What a results message ends at the owner (see the module docs, Stealing).
#[derive(Clone, Copy, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) enum Close {
    /// Nothing: more results of the same chunk follow (`map_each` after a
    /// panic).
    Open,
    /// A chunk sent by the owner: the PE gets its credit back.
    Credit,
    /// A stolen part: no credit (none was taken).
    Stolen,
}

/// A chunk being run on its PE: the items left and the results so far.
struct Running<F, T, R> {
    f: F,
    head: Head,
    /// Position in the job of `out`'s first result (then of the next item).
    start: u64,
    items: std::vec::IntoIter<T>,
    out: Vec<R>,
}

impl<F, T, R> Running<F, T, R>
where
    F: Fn(T) -> R + Clone + Send + 'static,
    T: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    fn new(f: F, head: Head, start: u64, items: Vec<T>) -> Self {
        let out = Vec::with_capacity(items.len());
        Running { f, head, start, items: items.into_iter(), out }
    }

    /// Runs the chunk as a task of this PE that yields after every time
    /// slice: the PE's messages and its other tasks run in between. While
    /// it runs, the chunk is in the PE's `running` list, where a steal
    /// request finds it.
    fn start(self, pe: &Pe) {
        let desc =
            TaskDesc { chare: "pool", index: Index::from(self.start as usize), entry: self.head.name, catch: None };
        let me = Rc::new(RefCell::new(self));
        let entry: Rc<dyn Split> = me.clone();
        pe.pool.running.borrow_mut().push(entry);
        let task = async move {
            while !with_pe(|pe| me.borrow_mut().slice(pe)) {
                YieldNow(false).await;
            }
            with_pe(|pe| {
                let mut running = pe.pool.running.borrow_mut();
                let at = running.iter().position(|r| std::ptr::addr_eq(Rc::as_ptr(r), Rc::as_ptr(&me)));
                running.swap_remove(at.expect("a running chunk is in the list"));
            });
        };
        pe.spawn(Box::pin(task), None, desc, crate::scheduler::TaskKind::Entry);
    }

    /// Posts the results so far (from `start`) to the owner.
    fn post(&mut self, pe: &Pe, close: Close) {
        let out = std::mem::take(&mut self.out);
        let n = out.len() as u64;
        let h = self.head;
        pe.post(h.owner, ResultsMsg { from: pe.id, job: h.job, start: self.start, out: Ok(out), close });
        self.start += n;
    }

    /// Runs items for one time slice; true when the chunk is over (its
    /// results, or its first panic, sent to the owner). The clock is read
    /// every `stride` items, `stride` doubling while items are short.
    fn slice(&mut self, pe: &Pe) -> bool {
        let t0 = std::time::Instant::now();
        let (mut stride, mut since, mut last) = (1u32, 0u32, std::time::Duration::ZERO);
        let h = self.head;
        while let Some(x) = self.items.next() {
            let i = self.start + self.out.len() as u64;
            match pe.catch_task(h.name, i, || (self.f)(x)) {
                Ok(r) => self.out.push(r),
                Err(e) => {
                    // `map_each`: the results before it, then the panic for
                    // its item alone, and the chunk goes on after it. `map`:
                    // the panic ends the chunk (and the job).
                    let close = if h.each {
                        if !self.out.is_empty() {
                            self.post(pe, Close::Open);
                        }
                        Close::Open
                    } else {
                        h.close
                    };
                    pe.post(h.owner, ResultsMsg::<R> { from: pe.id, job: h.job, start: i, out: Err(e), close });
                    if !h.each {
                        return true;
                    }
                    self.start = i + 1;
                }
            }
            since += 1;
            if since < stride {
                continue;
            }
            since = 0;
            let now = t0.elapsed();
            if now >= SLICE || pe.shared.stopping() {
                if self.items.len() > 0 && !pe.shared.stopping() {
                    return false;
                }
                break;
            }
            if now - last < SLICE / 64 && stride < 4096 {
                stride *= 2;
            }
            last = now;
        }
        self.post(pe, h.close);
        true
    }
}

/// A running chunk as a steal request sees it, without its types.
trait Split {
    /// The owner of its job, and how many of its items have not run; None
    /// while it runs (a steal request never arrives then: pool tasks do not
    /// take messages).
    fn left(&self) -> Option<(usize, usize)>;
    /// Sends the last half of the items not run to PE `thief`, as a part
    /// with its own results (`Close::Stolen`); false if it cannot go there
    /// (an unregistered task to another process).
    fn split(&self, pe: &Pe, thief: usize) -> bool;
}

impl<F, T, R> Split for RefCell<Running<F, T, R>>
where
    F: Fn(T) -> R + Clone + Send + 'static,
    T: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    fn left(&self) -> Option<(usize, usize)> {
        self.try_borrow().ok().map(|r| (r.head.owner, r.items.len()))
    }

    fn split(&self, pe: &Pe, thief: usize) -> bool {
        let Ok(mut r) = self.try_borrow_mut() else { return false };
        let h = r.head;
        if h.task.is_none() && (!pe.machine.is_local() || pe.shared.cfg.check_serde) {
            return false;
        }
        let mut rest: Vec<T> = r.items.by_ref().collect();
        let keep = rest.len() - rest.len() / 2;
        let stolen = rest.split_off(keep);
        let at = r.start + (r.out.len() + keep) as u64;
        r.items = rest.into_iter();
        let head = Head { close: Close::Stolen, ..h };
        pe.post(thief, WorkMsg { head, start: at, f: r.f.clone(), _r: PhantomData, items: stolen });
        true
    }
}

/// Gives way once: the task is polled again after the PE's next message.
struct YieldNow(bool);

impl std::future::Future for YieldNow {
    type Output = ();
    fn poll(mut self: std::pin::Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// One PE's pool: the jobs it owns, its credits with every PE, and the
/// chunks running here (of any owner).
#[derive(Default)]
pub(crate) struct PoolState {
    /// Per PE, chunks of this PE's work it may still be sent (see
    /// [`CREDITS`]); empty until the first job.
    credits: RefCell<Vec<u32>>,
    /// Per PE, the parts of this PE's work it holds: chunks sent (not
    /// closed), stolen parts, and steal requests made for it and not
    /// answered. 0: the PE has none of this owner's work, a thief.
    held: RefCell<Vec<u32>>,
    /// Per thief, the PEs that answered a steal request for it with
    /// nothing since it last closed a part: not asked again for it until
    /// then (so an idle PE tries every PE holding work once, and requests
    /// still end with the work).
    refused: RefCell<FxHashMap<usize, Vec<usize>>>,
    /// Where the search for the PE with the most credits starts.
    cursor: Cell<usize>,
    next_job: Cell<u64>,
    /// Jobs whose results are not all in. A job is out of the table while
    /// the owner works on it (no borrow is held across user code).
    jobs: RefCell<FxHashMap<u64, Box<dyn Job>>>,
    /// Jobs with items not sent yet, oldest first.
    queue: RefCell<VecDeque<u64>>,
    /// Chunks running on this PE, whoever owns them: what a steal request
    /// splits. Removed when the chunk is over.
    running: RefCell<Vec<Rc<dyn Split>>>,
}

/// A job as its owner sees it, without its types.
trait Job {
    /// Items not sent yet.
    fn left(&self) -> usize;
    /// The pool's fixed chunk size, if any.
    fn chunk(&self) -> Option<usize>;
    /// Sends the next `len` items to PE `to`.
    fn send(&mut self, pe: &Pe, to: usize, job: u64, len: usize);
    /// The results of the items from position `start` (a panic: of the
    /// item at `start` for `map_each`); true when the job is over
    /// (complete, or failed).
    fn arrive(&mut self, pe: &Pe, start: u64, out: Chunk) -> bool;
}

/// A chunk's results as they arrived: an object from this process
/// (`Result<Vec<R>, EntryError>`) or its bytes from another.
enum Chunk {
    Obj(Box<dyn Any + Send>),
    Bytes(Encoded),
}

/// Where a job's results go.
enum Done {
    /// `map_async`: the future gets all results in input order, or the
    /// first panic.
    All(RawFuture),
    /// `map_each`, `task`: one future per item, fulfilled as its result
    /// arrives.
    Each(Vec<RawFuture>),
}

struct MapJob<F, T, R> {
    f: F,
    /// The registered task's id (None: unregistered, this process only).
    task: Option<u64>,
    /// The task's path (or type), for errors.
    name: &'static str,
    items: std::vec::IntoIter<T>,
    /// Position of the next item to send.
    next: u64,
    /// Results not in yet.
    missing: usize,
    /// Results by the position of their first item (`Done::All` only).
    parts: BTreeMap<u64, Vec<R>>,
    chunk: Option<usize>,
    done: Done,
}

impl<F, T, R> Job for MapJob<F, T, R>
where
    F: Fn(T) -> R + Clone + Send + 'static,
    T: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    fn left(&self) -> usize {
        self.items.len()
    }

    fn chunk(&self) -> Option<usize> {
        self.chunk
    }

    fn send(&mut self, pe: &Pe, to: usize, job: u64, len: usize) {
        let items: Vec<T> = self.items.by_ref().take(len).collect();
        let start = self.next;
        self.next += items.len() as u64;
        let each = matches!(self.done, Done::Each(_));
        let head = Head { owner: pe.id, job, task: self.task, name: self.name, close: Close::Credit, each };
        pe.post(to, WorkMsg { head, start, f: self.f.clone(), _r: PhantomData, items });
    }

    fn arrive(&mut self, pe: &Pe, start: u64, out: Chunk) -> bool {
        let out = match out {
            Chunk::Obj(o) => match o.downcast::<Result<Vec<R>, EntryError>>() {
                Ok(o) => *o,
                Err(_) => {
                    pe.fail_usage(format!("pool task {}: results of another type", self.name));
                    return true;
                }
            },
            Chunk::Bytes(b) => match b.decode::<Result<Vec<R>, EntryError>>() {
                Ok(o) => o,
                Err(e) => {
                    pe.fail_usage(format!("pool task {}: {e}", self.name));
                    return true;
                }
            },
        };
        match (&self.done, out) {
            (Done::Each(futs), out) => {
                let start = start as usize;
                match out {
                    Ok(v) => {
                        self.missing = self.missing.saturating_sub(v.len());
                        for (f, r) in futs[start..start + v.len()].iter().zip(v) {
                            f.set_any(Box::new(Ok::<R, EntryError>(r)));
                        }
                    }
                    Err(e) => {
                        self.missing = self.missing.saturating_sub(1);
                        futs[start].set_any(Box::new(Err::<R, EntryError>(e)));
                    }
                }
                self.missing == 0
            }
            (Done::All(done), Ok(v)) => {
                self.missing = self.missing.saturating_sub(v.len());
                self.parts.insert(start, v);
                if self.missing > 0 {
                    return false;
                }
                let mut all = Vec::with_capacity(self.next as usize);
                for (_, v) in std::mem::take(&mut self.parts) {
                    all.extend(v);
                }
                done.set_any(Box::new(Ok::<Vec<R>, EntryError>(all)));
                true
            }
            (Done::All(done), Err(e)) => {
                done.set_any(Box::new(Err::<Vec<R>, EntryError>(e)));
                true
            }
        }
    }
}

impl Pe {
    /// Queues a job of this PE and sends what the credits allow.
    fn pool_submit(&self, job: Box<dyn Job>) {
        let p = &self.pool;
        let id = p.next_job.get();
        p.next_job.set(id + 1);
        p.jobs.borrow_mut().insert(id, job);
        p.queue.borrow_mut().push_back(id);
        self.pool_dispatch();
    }

    /// Sends chunks while a job has items left and a PE has a credit.
    fn pool_dispatch(&self) {
        let p = &self.pool;
        let npes = self.shared.num_pes();
        loop {
            let Some(&id) = p.queue.borrow().front() else { return };
            let Some(to) = self.pool_pick(npes) else { return };
            let mut job = p.jobs.borrow_mut().remove(&id).expect("a queued job is in the table");
            let left = job.left();
            let len = job.chunk().unwrap_or_else(|| left.div_ceil(2 * npes)).clamp(1, left);
            p.credits.borrow_mut()[to] -= 1;
            p.held.borrow_mut()[to] += 1;
            job.send(self, to, id, len);
            if job.left() == 0 {
                p.queue.borrow_mut().pop_front();
            }
            p.jobs.borrow_mut().insert(id, job);
        }
    }

    /// The PE with the most credits left, the search starting at the cursor.
    fn pool_pick(&self, npes: usize) -> Option<usize> {
        let p = &self.pool;
        let mut credits = p.credits.borrow_mut();
        if credits.is_empty() {
            *credits = vec![CREDITS; npes];
            *p.held.borrow_mut() = vec![0; npes];
            p.cursor.set((self.id + 1) % npes);
        }
        let from = p.cursor.get();
        let mut best: Option<usize> = None;
        for i in 0..npes {
            let pe = (from + i) % npes;
            if credits[pe] > 0 && best.is_none_or(|b| credits[pe] > credits[b]) {
                best = Some(pe);
            }
        }
        if let Some(b) = best {
            p.cursor.set((b + 1) % npes);
        }
        best
    }

    /// Results of job `id` from PE `from`, from position `start`.
    fn pool_results(&self, from: usize, id: u64, start: u64, out: Chunk, close: Close) {
        let p = &self.pool;
        if close != Close::Open {
            if let Some(h) = p.held.borrow_mut().get_mut(from) {
                *h -= 1;
            }
            p.refused.borrow_mut().remove(&from);
        }
        if close == Close::Credit {
            if let Some(c) = p.credits.borrow_mut().get_mut(from) {
                *c += 1;
            }
        }
        let job = p.jobs.borrow_mut().remove(&id);
        // No job: it failed earlier, these results are not wanted.
        if let Some(mut job) = job {
            if job.arrive(self, start, out) {
                p.queue.borrow_mut().retain(|&j| j != id);
            } else {
                p.jobs.borrow_mut().insert(id, job);
            }
        }
        if close != Close::Open {
            self.pool_dispatch();
            self.pool_steal_for(from);
        }
    }

    /// PE `thief` has none of this owner's work left and there is none to
    /// send: asks the PE holding the most parts of it for half of a running
    /// chunk. At most one request per thief is out (it counts as a part
    /// `thief` holds), and a request follows only the end of a part, so
    /// requests stop when the owner's work does.
    fn pool_steal_for(&self, thief: usize) {
        let p = &self.pool;
        if !steal_enabled() || !p.queue.borrow().is_empty() {
            return;
        }
        let mut held = p.held.borrow_mut();
        if held.get(thief) != Some(&0) {
            return;
        }
        let npes = held.len();
        let refused = p.refused.borrow();
        let asked = |v: &usize| refused.get(&thief).is_some_and(|r| r.contains(v));
        let victim =
            (1..npes).map(|k| (thief + k) % npes).filter(|&v| held[v] > 0 && !asked(&v)).max_by_key(|&v| held[v]);
        drop(refused);
        if let Some(victim) = victim {
            held[thief] += 1;
            drop(held);
            self.post(victim, StealMsg { owner: self.id, thief });
        }
    }

    /// A steal request from `owner` for `thief`: the running chunk of
    /// `owner`'s work with the most items not run gives half of them, if it
    /// has two or more; otherwise the owner is told (the request is over).
    fn pool_steal(&self, owner: usize, thief: usize) {
        if self.shared.stopping() {
            return;
        }
        let best = {
            let running = self.pool.running.borrow();
            running
                .iter()
                .filter_map(|r| r.left().filter(|&(o, n)| o == owner && n >= 2).map(|(_, n)| (n, r.clone())))
                .max_by_key(|(n, _)| *n)
        };
        let given = best.is_some_and(|(_, r)| r.split(self, thief));
        if !given {
            self.post(owner, StealNone { thief, victim: self.id });
        }
    }

    /// The steal request made for `thief` found nothing to split at PE
    /// `victim`: ask the next PE holding work, if one was not asked yet.
    /// (Which PE holds the long chunk, the owner cannot tell: a PE whose
    /// last chunk is done but whose results are still on their way counts
    /// as much, and was often asked first when PEs shared the cores.)
    fn pool_steal_none(&self, thief: usize, victim: usize) {
        if let Some(h) = self.pool.held.borrow_mut().get_mut(thief) {
            *h -= 1;
        }
        self.pool.refused.borrow_mut().entry(thief).or_default().push(victim);
        self.pool_steal_for(thief);
    }
}

/// Whether idle PEs steal (`CHARE_POOL_STEAL`, default on; off only to
/// measure what stealing brings).
fn steal_enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(crate::config::pool_steal)
}

/// A chunk of a job, or a part stolen from one, to the PE that runs it.
struct WorkMsg<F, T, R> {
    head: Head,
    start: u64,
    f: F,
    _r: PhantomData<fn() -> R>,
    items: Vec<T>,
}

impl<F, T, R> Outgoing for WorkMsg<F, T, R>
where
    F: Fn(T) -> R + Clone + Send + 'static,
    T: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    fn into_msg(self) -> Msg {
        let WorkMsg { head, start, f, items, .. } = self;
        Msg::Control(Box::new(move |pe: &Pe| Running::new(f, head, start, items).start(pe)))
    }
    fn encode(&self, out: &mut Vec<u8>) -> Result<Wire, String> {
        let h = self.head;
        let Some(task) = h.task else { return Err(not_registered(h.name)) };
        crate::value::encode_into(&self.items, out).map_err(|e| format!("pool task {}: {e}", h.name))?;
        let head = PoolHead::Work { owner: h.owner, job: h.job, start: self.start, task, close: h.close, each: h.each };
        Ok(Wire::Pool(Box::new(head)))
    }
    fn checked(mut self) -> Result<Self, String> {
        if self.head.task.is_none() {
            return Err(not_registered(self.head.name));
        }
        self.items = crate::value::round_trip(&self.items).map_err(|e| format!("pool task {}: {e}", self.head.name))?;
        Ok(self)
    }
}

#[cold]
fn not_registered(name: &str) -> String {
    format!(
        "pool task {name} is not registered: a task that runs in another process must be declared with chare::task!"
    )
}

/// Results of a chunk (or of part of one), to the job's owner.
struct ResultsMsg<R> {
    from: usize,
    job: u64,
    start: u64,
    out: Result<Vec<R>, EntryError>,
    close: Close,
}

impl<R: Serialize + Send + 'static> Outgoing for ResultsMsg<R> {
    fn into_msg(self) -> Msg {
        let ResultsMsg { from, job, start, out, close } = self;
        Msg::Control(Box::new(move |pe: &Pe| pe.pool_results(from, job, start, Chunk::Obj(Box::new(out)), close)))
    }
    fn encode(&self, out: &mut Vec<u8>) -> Result<Wire, String> {
        crate::value::encode_into(&self.out, out).map_err(|e| format!("pool results: {e}"))?;
        Ok(Wire::Pool(Box::new(PoolHead::Results { job: self.job, start: self.start, close: self.close })))
    }
}

/// A steal request, from a work's owner to the PE it asks.
struct StealMsg {
    owner: usize,
    thief: usize,
}

impl Outgoing for StealMsg {
    fn into_msg(self) -> Msg {
        let StealMsg { owner, thief } = self;
        Msg::Control(Box::new(move |pe: &Pe| pe.pool_steal(owner, thief)))
    }
    fn encode(&self, _out: &mut Vec<u8>) -> Result<Wire, String> {
        Ok(Wire::Pool(Box::new(PoolHead::Steal { thief: self.thief })))
    }
}

/// The answer to a steal request that found nothing, to the owner.
struct StealNone {
    thief: usize,
    /// The PE that answers (on the MPI layer the message's source).
    victim: usize,
}

impl Outgoing for StealNone {
    fn into_msg(self) -> Msg {
        let StealNone { thief, victim } = self;
        Msg::Control(Box::new(move |pe: &Pe| pe.pool_steal_none(thief, victim)))
    }
    fn encode(&self, _out: &mut Vec<u8>) -> Result<Wire, String> {
        Ok(Wire::Pool(Box::new(PoolHead::StealNone { thief: self.thief })))
    }
}

/// A pool message between processes; the items or results are the body.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) enum PoolHead {
    /// Run registered task `task` on the items from position `start` of
    /// PE `owner`'s job `job` (a stolen part comes from another PE than
    /// its owner).
    Work { owner: usize, job: u64, start: u64, task: u64, close: Close, each: bool },
    /// Results of the receiver's job `job` from position `start`.
    Results { job: u64, start: u64, close: Close },
    /// The sender (an owner) asks for part of a running chunk of its work,
    /// for PE `thief`.
    Steal { thief: usize },
    /// The steal request for `thief` found nothing.
    StealNone { thief: usize },
}

impl PoolHead {
    /// Handles the message from PE `from` (MPI layer).
    pub(crate) fn handle(self, pe: &Pe, from: usize, body: Encoded) {
        match self {
            PoolHead::Work { owner, job, start, task, close, each } => match by_id(task) {
                Some(task) => (task.run)(PoolWork { pe, owner, job, start, items: body, task, close, each }),
                None => pe.fail_usage(format!("PE {from} sent a pool task that is not registered here")),
            },
            PoolHead::Results { job, start, close } => pe.pool_results(from, job, start, Chunk::Bytes(body), close),
            PoolHead::Steal { thief } => pe.pool_steal(from, thief),
            PoolHead::StealNone { thief } => pe.pool_steal_none(thief, from),
        }
    }
}

/// Declares a pool task: a function of one argument that [`Pool`]'s
/// `map`, `map_async` and `task` may run in any process. The function stays
/// as written (callable as usual); the macro registers it under its path.
/// The argument is a name or a tuple pattern: several arguments are one tuple,
/// `fn add((a, b): (u64, u64)) -> u64`.
///
/// ```
/// chare::task! {
///     /// The number of Collatz steps from `n` to 1.
///     pub fn collatz(n: u64) -> u32 {
///         let (mut n, mut steps) = (n, 0);
///         while n != 1 {
///             n = if n % 2 == 0 { n / 2 } else { 3 * n + 1 };
///             steps += 1;
///         }
///         steps
///     }
/// }
///
/// let code = chare::Runtime::with_pes(2).run(|rt| async move {
///     let steps = rt.pool().map(collatz, 1..=1000).await;
///     assert_eq!(steps[26], collatz(27));
///     assert_eq!(steps[26], 111);
/// });
/// assert_eq!(code, Ok(0));
/// ```
#[macro_export]
macro_rules! task {
    ($(#[$attr:meta])* $vis:vis fn $name:ident($arg:tt: $t:ty) -> $r:ty $body:block) => {
        $(#[$attr])* $vis fn $name($arg: $t) -> $r $body

        const _: () = {
            fn key() -> ::core::any::TypeId {
                $crate::__private::task_key(&$name)
            }
            fn run(w: $crate::__private::PoolWork<'_>) {
                $crate::__private::run_work::<_, $t, $r>($name, w)
            }
            $crate::__private::inventory::submit! {
                $crate::__private::TaskFn {
                    path: ::core::concat!(::core::module_path!(), "::", ::core::stringify!($name)),
                    key,
                    run,
                }
            }
        };
    };
}
