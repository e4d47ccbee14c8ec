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
//!    chunks still running are discarded when they arrive).
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
        self.submit(f, items.into_iter().collect(), false)
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

    /// One task `f(arg)` on whichever PE has room; the future gets its
    /// result or its panic.
    pub fn task<F, T, R>(&self, f: F, arg: T) -> Future<Result<R, EntryError>>
    where
        F: Fn(T) -> R + Clone + Send + 'static,
        T: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
    {
        self.submit(f, vec![arg], true)
    }

    fn submit<F, T, R, V>(&self, f: F, items: Vec<T>, single: bool) -> Future<V>
    where
        F: Fn(T) -> R + Clone + Send + 'static,
        T: Serialize + DeserializeOwned + Send + 'static,
        R: Serialize + DeserializeOwned + Send + 'static,
        V: Serialize + DeserializeOwned + Send + 'static,
    {
        let done = Future::<V>::new_here(1);
        let (task, name) = match registered().get(&TypeId::of::<F>()) {
            Some(t) => (Some(t.0), t.1.path),
            None => (None, std::any::type_name::<F>()),
        };
        if items.is_empty() {
            done.raw().set_any(Box::new(Ok::<Vec<R>, EntryError>(Vec::new())));
            return done;
        }
        let job = MapJob {
            f,
            task,
            name,
            missing: items.len(),
            items: items.into_iter(),
            next: 0,
            parts: BTreeMap::new(),
            chunk: self.chunk,
            single,
            done: done.raw(),
        };
        with_pe(|pe| pe.pool_submit(Box::new(job)));
        done
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
    task: &'static str,
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
    F: Fn(T) -> R + Send + 'static,
    T: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
{
    let PoolWork { pe, owner, job, start, items, task } = w;
    match items.decode::<Vec<T>>() {
        Ok(items) => Running::new(f, task, owner, job, start, items).start(pe),
        Err(e) => pe.fail_usage(format!("pool task {task}: {e}")),
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

/// A chunk being run on its PE: the items left and the results so far.
struct Running<F, T, R> {
    f: F,
    task: &'static str,
    owner: usize,
    job: u64,
    /// Position of the chunk's first item in the job.
    start: u64,
    items: std::vec::IntoIter<T>,
    out: Vec<R>,
}

impl<F, T, R> Running<F, T, R>
where
    F: Fn(T) -> R + Send + 'static,
    T: Send + 'static,
    R: Serialize + Send + 'static,
{
    fn new(f: F, task: &'static str, owner: usize, job: u64, start: u64, items: Vec<T>) -> Self {
        let out = Vec::with_capacity(items.len());
        Running { f, task, owner, job, start, items: items.into_iter(), out }
    }

    /// Runs the chunk as a task of this PE that yields after every time
    /// slice: the PE's messages and its other tasks run in between.
    fn start(self, pe: &Pe) {
        let desc = TaskDesc { chare: "pool", index: Index::from(self.start as usize), entry: self.task, catch: None };
        let task = async move {
            let mut me = self;
            while !with_pe(|pe| me.slice(pe)) {
                YieldNow(false).await;
            }
        };
        pe.spawn(Box::pin(task), None, desc, crate::scheduler::TaskKind::Entry);
    }

    /// Runs items for one time slice; true when the chunk is over (its
    /// results, or its first panic, sent to the owner). The clock is read
    /// every `stride` items, `stride` doubling while items are short.
    fn slice(&mut self, pe: &Pe) -> bool {
        let t0 = std::time::Instant::now();
        let (mut stride, mut since, mut last) = (1u32, 0u32, std::time::Duration::ZERO);
        while let Some(x) = self.items.next() {
            let i = self.start + self.out.len() as u64;
            match pe.catch_task(self.task, i, || (self.f)(x)) {
                Ok(r) => self.out.push(r),
                Err(e) => {
                    pe.post(self.owner, ResultsMsg::<R> { from: pe.id, job: self.job, start: self.start, out: Err(e) });
                    return true;
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
        let out = std::mem::take(&mut self.out);
        pe.post(self.owner, ResultsMsg { from: pe.id, job: self.job, start: self.start, out: Ok(out) });
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

/// One PE's pool: the jobs it owns and its credits with every PE.
#[derive(Default)]
pub(crate) struct PoolState {
    /// Per PE, chunks of this PE's work it may still be sent (see
    /// [`CREDITS`]); empty until the first job.
    credits: RefCell<Vec<u32>>,
    /// Where the search for the PE with the most credits starts.
    cursor: Cell<usize>,
    next_job: Cell<u64>,
    /// Jobs whose results are not all in. A job is out of the table while
    /// the owner works on it (no borrow is held across user code).
    jobs: RefCell<FxHashMap<u64, Box<dyn Job>>>,
    /// Jobs with items not sent yet, oldest first.
    queue: RefCell<VecDeque<u64>>,
}

/// A job as its owner sees it, without its types.
trait Job {
    /// Items not sent yet.
    fn left(&self) -> usize;
    /// The pool's fixed chunk size, if any.
    fn chunk(&self) -> Option<usize>;
    /// Sends the next `len` items to PE `to`.
    fn send(&mut self, pe: &Pe, to: usize, job: u64, len: usize);
    /// The results of the chunk that started at `start`; true when the job
    /// is over (complete, or failed).
    fn arrive(&mut self, pe: &Pe, start: u64, out: Chunk) -> bool;
}

/// A chunk's results as they arrived: an object from this process
/// (`Result<Vec<R>, EntryError>`) or its bytes from another.
enum Chunk {
    Obj(Box<dyn Any + Send>),
    Bytes(Encoded),
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
    /// Results by the position of their chunk's first item.
    parts: BTreeMap<u64, Vec<R>>,
    chunk: Option<usize>,
    /// One task (`Pool::task`): the future gets its result, not a `Vec`.
    single: bool,
    done: RawFuture,
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
        pe.post(
            to,
            WorkMsg {
                owner: pe.id,
                job,
                start,
                f: self.f.clone(),
                _r: PhantomData,
                task: self.task,
                name: self.name,
                items,
            },
        );
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
        match out {
            Ok(v) => {
                self.missing = self.missing.saturating_sub(v.len());
                self.parts.insert(start, v);
                if self.missing > 0 {
                    return false;
                }
                let mut all = Vec::with_capacity(self.next as usize);
                for (_, v) in std::mem::take(&mut self.parts) {
                    all.extend(v);
                }
                if self.single {
                    match all.pop() {
                        Some(r) => self.done.set_any(Box::new(Ok::<R, EntryError>(r))),
                        None => pe.fail_usage(format!("pool task {}: no result", self.name)),
                    }
                } else {
                    self.done.set_any(Box::new(Ok::<Vec<R>, EntryError>(all)));
                }
            }
            Err(e) => {
                if self.single {
                    self.done.set_any(Box::new(Err::<R, EntryError>(e)));
                } else {
                    self.done.set_any(Box::new(Err::<Vec<R>, EntryError>(e)));
                }
            }
        }
        true
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

    /// Results of a chunk of job `id` from PE `from`.
    fn pool_results(&self, from: usize, id: u64, start: u64, out: Chunk) {
        let p = &self.pool;
        if let Some(c) = p.credits.borrow_mut().get_mut(from) {
            *c += 1;
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
        self.pool_dispatch();
    }
}

/// A chunk of a job, to the PE that runs it.
struct WorkMsg<F, T, R> {
    owner: usize,
    job: u64,
    start: u64,
    f: F,
    _r: PhantomData<fn() -> R>,
    task: Option<u64>,
    name: &'static str,
    items: Vec<T>,
}

impl<F, T, R> Outgoing for WorkMsg<F, T, R>
where
    F: Fn(T) -> R + Send + 'static,
    T: Serialize + DeserializeOwned + Send + 'static,
    R: Serialize + DeserializeOwned + Send + 'static,
{
    fn into_msg(self) -> Msg {
        let WorkMsg { owner, job, start, f, name, items, .. } = self;
        Msg::Control(Box::new(move |pe: &Pe| Running::new(f, name, owner, job, start, items).start(pe)))
    }
    fn encode(&self, out: &mut Vec<u8>) -> Result<Wire, String> {
        let Some(task) = self.task else { return Err(not_registered(self.name)) };
        crate::value::encode_into(&self.items, out).map_err(|e| format!("pool task {}: {e}", self.name))?;
        Ok(Wire::Pool(Box::new(PoolHead::Work { job: self.job, start: self.start, task })))
    }
    fn checked(mut self) -> Result<Self, String> {
        if self.task.is_none() {
            return Err(not_registered(self.name));
        }
        self.items = crate::value::round_trip(&self.items).map_err(|e| format!("pool task {}: {e}", self.name))?;
        Ok(self)
    }
}

#[cold]
fn not_registered(name: &str) -> String {
    format!(
        "pool task {name} is not registered: a task that runs in another process must be declared with chare::task!"
    )
}

/// A chunk's results, to the job's owner.
struct ResultsMsg<R> {
    from: usize,
    job: u64,
    start: u64,
    out: Result<Vec<R>, EntryError>,
}

impl<R: Serialize + Send + 'static> Outgoing for ResultsMsg<R> {
    fn into_msg(self) -> Msg {
        let ResultsMsg { from, job, start, out } = self;
        Msg::Control(Box::new(move |pe: &Pe| pe.pool_results(from, job, start, Chunk::Obj(Box::new(out)))))
    }
    fn encode(&self, out: &mut Vec<u8>) -> Result<Wire, String> {
        crate::value::encode_into(&self.out, out).map_err(|e| format!("pool results: {e}"))?;
        Ok(Wire::Pool(Box::new(PoolHead::Results { job: self.job, start: self.start })))
    }
}

/// A pool message between processes; the items or results are the body.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) enum PoolHead {
    /// Run registered task `task` on the items from position `start` of
    /// the sender's job `job`.
    Work { job: u64, start: u64, task: u64 },
    /// Results of the chunk of the receiver's job `job` from position `start`.
    Results { job: u64, start: u64 },
}

impl PoolHead {
    /// Handles the message from PE `from` (MPI layer).
    pub(crate) fn handle(self, pe: &Pe, from: usize, body: Encoded) {
        match self {
            PoolHead::Work { job, start, task } => match by_id(task) {
                Some(t) => (t.run)(PoolWork { pe, owner: from, job, start, items: body, task: t.path }),
                None => pe.fail_usage(format!("PE {from} sent a pool task that is not registered here")),
            },
            PoolHead::Results { job, start } => pe.pool_results(from, job, start, Chunk::Bytes(body)),
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
