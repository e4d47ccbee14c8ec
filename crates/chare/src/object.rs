//! The object layer: what a chare type is, and the cell that holds one chare
//! on its PE.
//!
//! Execution semantics (the contract users rely on):
//! * one entry method runs at a time on a PE; a sync entry runs to completion;
//! * an (exclusive) async entry method holds the chare (`&mut self`) until it
//!   finishes. Entry calls that reach the chare meanwhile wait in arrival
//!   order and run afterwards. Channel data and future values are not entry
//!   calls: they reach the suspended task directly;
//! * a reentrant async entry holds nothing while suspended: other calls run
//!   meanwhile (see [`crate::reentrant`]);
//! * a `when` call whose condition does not hold is held, and runs after the
//!   first entry of the chare after which it holds (oldest first);
//! * calls from one sender chare to one receiver arrive in send order.

use crate::collection::CollInfo;
use crate::ctx::Ctx;
use crate::message::{Addr, Incoming};
use crate::migration::order::{Gates, Ordered, Sender};
use crate::migration::MigrantWire;
use crate::proxy::{BroadcastOf, EntriesOf};
use crate::reentrant::{Gated, ReState, Reentrant};
use crate::scheduler::{Pe, TaskDesc, TaskKind};
use crate::value::Value;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

/// A chare type. Implemented by `#[chare]`; users do not implement it by hand.
pub trait Chare: Sized + Send + 'static {
    /// Constructor arguments as a tuple, given once per collection and cloned
    /// for every element.
    type Init: Clone + Send + Serialize + DeserializeOwned + 'static;
    /// One variant per entry method. Serialisable: on the MPI layer calls
    /// between processes travel as bytes.
    type Msg: Clone + Send + Serialize + DeserializeOwned + 'static;
    /// What an element proxy (`Proxy<Self>`) dereferences to.
    type Entries: EntriesOf;
    /// What a collection proxy (`CollectionProxy<Self>`) dereferences to.
    type Broadcast: BroadcastOf;
    /// The type's name, for reports.
    const NAME: &'static str;
    /// The type's path (`module::Type`): its stable identity across processes.
    const PATH: &'static str;
    /// Builds one element.
    fn construct(ctx: &Ctx<Self>, init: Self::Init) -> Self;
    /// The entry method a message calls.
    fn entry_name(msg: &Self::Msg) -> &'static str;
    /// The reply handle a message carries, if its caller wants a reply.
    fn reply_of(msg: &mut Self::Msg) -> Option<&mut crate::Reply> {
        let _ = msg;
        None
    }
    /// Runs a sync entry method, or returns the task of an async one.
    fn dispatch<'a>(&'a mut self, ctx: &'a Ctx<Self>, msg: Self::Msg) -> Dispatch<'a>;
    /// Whether elements may move between PEs (`#[chare(migratable)]`).
    const MIGRATABLE: bool = false;
    /// Appends the chare's state to `out` (migratable chares; the MPI layer).
    fn pack(&self, out: &mut Vec<u8>) -> Result<(), String> {
        let _ = out;
        Err(format!("chare {} is not migratable", Self::NAME))
    }
    /// Reads a state written by `pack` from the front of `bytes`; returns the rest.
    fn unpack(bytes: &[u8]) -> Result<(Self, &[u8]), String> {
        let _ = bytes;
        Err(format!("chare {} is not migratable", Self::NAME))
    }
    /// Runs on the new PE after a migration (the chare's `fn migrated`).
    fn migrated(&mut self, ctx: &Ctx<Self>) {
        let _ = ctx;
    }
    /// The call of the chare's `resume_from_sync` entry, if it has one.
    fn resume_from_sync() -> Option<Self::Msg> {
        None
    }
    /// Whether the chare has `#[entry(reentrant)]` entries.
    const REENTRANT: bool = false;
    /// Whether `msg` calls a reentrant entry.
    fn is_reentrant(msg: &Self::Msg) -> bool {
        let _ = msg;
        false
    }
    /// The task of a reentrant entry call (`is_reentrant(&msg)`).
    fn dispatch_reentrant(me: Reentrant<Self>, msg: Self::Msg) -> Pin<Box<dyn Future<Output = ()>>> {
        let _ = (me, msg);
        unreachable!("{} has no reentrant entries", Self::NAME)
    }
    /// Whether the chare has `#[entry(when = ..)]` entries.
    const WHEN: bool = false;
    /// Whether the `when` condition of the call `msg` holds (true for calls
    /// of entries without one).
    fn when_ready(&self, msg: &Self::Msg) -> bool {
        let _ = msg;
        true
    }
}

/// Chares whose elements may migrate: implemented by `#[chare(migratable)]`
/// (whose state must be `Serialize + Deserialize`). [`Ctx::migrate`] and
/// [`crate::CollectionBuilder::at_sync`] require it, so moving a chare that
/// is not migratable is a compile error.
pub trait Migratable: Chare {}

/// Result of [`Chare::dispatch`].
pub enum Dispatch<'a> {
    /// A sync entry method ran to completion.
    Done,
    /// An async entry method: the task to run, borrowing the chare.
    Task(Pin<Box<dyn Future<Output = ()> + 'a>>),
}

/// A chare cell seen without its type, as the PE's chare table holds it.
/// `this` is the table's reference to the cell itself, which a task of the
/// cell keeps (see [`ChareCell`]'s invariant).
pub(crate) trait AnyCell {
    /// Delivers an entry call (its body is the chare's `Msg`).
    fn deliver(&self, this: &Rc<dyn AnyCell>, pe: &Pe, item: Incoming);
    /// Delivers a clone of a broadcast entry call.
    fn deliver_clone(&self, this: &Rc<dyn AnyCell>, pe: &Pe, body: &dyn Value);
    /// The chare's exclusive async entry task finished.
    fn task_done(&self, this: &Rc<dyn AnyCell>, pe: &Pe);
    /// A reentrant entry task of the chare was polled (and may have
    /// finished): its state may have changed.
    fn stepped(&self, this: &Rc<dyn AnyCell>, pe: &Pe);
    /// An ordered message for this chare (see [`crate::migration`]).
    fn admit(&self, this: &Rc<dyn AnyCell>, pe: &Pe, o: Box<Ordered>);
    /// The chare's address.
    fn addr(&self) -> Addr;
    /// Who sends when this chare's code runs.
    fn sender(&self) -> Sender;
    /// Whether an async entry of the chare is running or suspended (it
    /// cannot move now).
    fn busy(&self) -> bool;
    /// The next reduction this element will contribute to.
    fn red_seq(&self) -> u64;
    /// Seconds spent in the chare's entry methods since the last reset (only
    /// measured for collections with at-sync load balancing).
    fn take_load(&self) -> f64;
    /// Adds `seconds` to the chare's measured load.
    fn add_load(&self, seconds: f64);
    /// Whether the chare's load is measured.
    fn measured(&self) -> bool;
    /// Marks the chare as having called `at_sync` in this period; false if it already had.
    fn mark_synced(&self) -> bool;
    /// Whether the chare called `at_sync` and was not resumed yet.
    fn synced(&self) -> bool;
    /// Calls the chare's `resume_from_sync` entry (if it has one) and clears the sync mark.
    fn resume(&self, this: &Rc<dyn AnyCell>, pe: &Pe);
    /// Delivers calls that waited while the chare was moving.
    fn kick(&self, this: &Rc<dyn AnyCell>, pe: &Pe);
    /// Runs the `migrated` hook.
    fn migrated(&self, pe: &Pe);
    /// The move asked of the chare (PE, resume on arrival), taken.
    fn take_move(&self) -> Option<(usize, bool)>;
    /// Asks the chare to move to `pe` once idle (the load balancer).
    fn request_move(&self, pe: usize, resume: bool);
    /// Asks the element (of a dynamic array) to be deleted once no entry of
    /// it runs (see [`crate::dynamic`]).
    fn request_delete(&self);
    /// The chare, out of its table, on its way to another PE. Fails (and
    /// gives the cell back) if something still holds it.
    fn depart(self: Rc<Self>) -> Result<Box<dyn Migrant>, Rc<dyn AnyCell>>;
    /// The cell as `Any`, to get its type back (a group's local branch,
    /// [`crate::branch`]).
    fn as_any(&self) -> &dyn std::any::Any;
    /// Its `when` calls held now, for a deadlock report: one line per
    /// entry (`Chare[index].entry: n call(s) held ...`), oldest first.
    fn held_when(&self) -> Vec<String>;
}

/// A chare between two PEs.
pub(crate) trait Migrant: Send {
    /// The chare's cell on the PE it reached (same process).
    fn install(self: Box<Self>) -> Rc<dyn AnyCell>;
    /// Its state, deferred calls and early messages as bytes (another process).
    fn encode(&self, out: &mut Vec<u8>) -> Result<MigrantWire, String>;
    fn addr(&self) -> Addr;
    fn info(&self) -> &Arc<CollInfo>;
    fn chare_path(&self) -> &'static str;
    /// Size of the chare object itself (bytes moved on the local layer).
    fn size(&self) -> usize;
}

/// One chare and its runtime state.
///
/// Invariant: while `busy` is true an exclusive async entry task holds
/// `&mut` to `obj` (obtained through the `UnsafeCell`); nothing else touches
/// `obj` until the task finishes and `task_done` clears `busy`. Reentrant
/// tasks hold no reference to `obj` while suspended; they borrow it only
/// during their own poll, never while `busy` (see [`crate::reentrant`],
/// whose `re.lent` flag tells when). The cell is reference-counted (`Rc`, so
/// it never moves) and the task's slot holds a reference to it until the
/// task is dropped: the cell outlives every task that borrows it, by
/// construction. A cell leaves its PE ([`AnyCell::depart`]) only when its
/// table's reference is the only one, so never while anything borrows it.
/// Outside reentrant tasks' own polls, whatever borrows `obj` holds a
/// reference to the cell besides the table's for the borrow's duration (the
/// invariant of [`crate::scheduler::ChareTable`]); a group's local branch
/// ([`crate::branch`]) relies on it.
pub(crate) struct ChareCell<T: Chare> {
    obj: UnsafeCell<T>,
    ctx: Ctx<T>,
    busy: Cell<bool>,
    deferred: RefCell<VecDeque<T::Msg>>,
    /// Reentrant tasks, `when` calls held, `wait_until` waiters.
    re: ReState<T::Msg>,
    /// Incoming ordered streams ([`crate::migration::order`]).
    pub(crate) gates: Gates,
    /// Seconds spent in entry methods since the last load-balancing step
    /// (measured only when the collection balances at sync).
    load: Cell<f64>,
    /// `at_sync` was called in this period.
    synced: Cell<bool>,
}

impl<T: Chare> ChareCell<T> {
    pub(crate) fn new(obj: T, ctx: Ctx<T>) -> ChareCell<T> {
        ChareCell {
            obj: UnsafeCell::new(obj),
            ctx,
            busy: Cell::new(false),
            deferred: RefCell::default(),
            re: ReState::default(),
            gates: Gates::default(),
            load: Cell::new(0.0),
            synced: Cell::new(false),
        }
    }

    /// A cell arriving from another process.
    pub(crate) fn arriving(obj: T, ctx: Ctx<T>, deferred: VecDeque<T::Msg>, gates: Gates) -> ChareCell<T> {
        let c = ChareCell::new(obj, ctx);
        *c.deferred.borrow_mut() = deferred;
        ChareCell { gates, ..c }
    }

    pub(crate) fn ctx(&self) -> &Ctx<T> {
        &self.ctx
    }

    pub(crate) fn re(&self) -> &ReState<T::Msg> {
        &self.re
    }

    /// Whether an exclusive async entry holds the chare.
    #[inline]
    pub(crate) fn busy(&self) -> bool {
        self.busy.get()
    }

    /// The chare object; see the struct invariant for who may borrow it when.
    pub(crate) fn obj_ptr(&self) -> *mut T {
        self.obj.get()
    }

    /// Runs a call, or holds it if it is a `when` call whose condition does
    /// not hold. Callers check that `busy` is false.
    fn run(&self, this: &Rc<dyn AnyCell>, pe: &Pe, msg: T::Msg) {
        if T::WHEN && !self.condition_holds(pe, &msg) {
            self.re.held.borrow_mut().push_back(msg);
            return;
        }
        self.start(this, pe, msg)
    }

    /// Evaluates the `when` condition of `msg` (a panic in it ends the job).
    fn condition_holds(&self, pe: &Pe, msg: &T::Msg) -> bool {
        debug_assert!(!self.busy.get() && !self.re.lent());
        let desc = TaskDesc { chare: T::NAME, index: self.ctx.index(), entry: T::entry_name(msg), catch: None };
        // SAFETY: no exclusive task holds the object (`busy` is false), no
        // entry of the chare runs (entries never run inside each other) and
        // no reentrant task borrows it (they do only during their own poll,
        // and this is not one): a shared reference is the only one.
        let obj: &T = unsafe { &*self.obj.get() };
        pe.guard(desc, || obj.when_ready(msg)).unwrap_or(false)
    }

    /// The oldest held `when` call whose condition holds now, taken.
    fn take_ready_held(&self, pe: &Pe) -> Option<T::Msg> {
        let n = self.re.held.borrow().len();
        for i in 0..n {
            let ready = {
                let held = self.re.held.borrow();
                self.condition_holds(pe, &held[i])
            };
            if ready {
                return self.re.held.borrow_mut().remove(i);
            }
        }
        None
    }

    /// Starts a call whose condition (if any) holds.
    fn start(&self, this: &Rc<dyn AnyCell>, pe: &Pe, mut msg: T::Msg) {
        if T::REENTRANT {
            // Any entry may change the state `wait_until` predicates read.
            self.re.touch();
            if T::is_reentrant(&msg) {
                return self.start_reentrant(this, pe, msg);
            }
        }
        let entry = T::entry_name(&msg);
        // The reply learns the element's position (gathering replies), and
        // says whether the caller takes a panic (`NAME_try_ret`).
        let mut catch = T::reply_of(&mut msg).and_then(|r| r.prepare(self.ctx.addr().lin));
        // Made only when needed (a panic, or a task): not on the hot path.
        let desc = |catch| TaskDesc { chare: T::NAME, index: self.ctx.index(), entry, catch };
        debug_assert!(!self.re.lent());
        // SAFETY: `busy` is false (checked by callers), so no task holds the
        // object, and no reentrant task borrows it now (they do only during
        // their own poll); this is the only reference to it until dispatch
        // returns or the task it creates finishes (see the struct invariant).
        let obj: &mut T = unsafe { &mut *self.obj.get() };
        // A migratable chare's messages are ordered in its own streams (it
        // may send from several PEs); others' need no order beyond the
        // machine's (see `crate::migration::order`). No entry runs inside
        // another, so "current" is None whenever no migratable chare runs.
        if T::MIGRATABLE {
            pe.streams.current.set(Some(self.sender()));
        }
        // Only migratable chares can be in an at-sync array: for the others
        // the measurement is compiled out.
        let t0 = (T::MIGRATABLE && self.ctx.measured()).then(std::time::Instant::now);
        let r = pe.guard_with(|| desc(catch.take()), || obj.dispatch(&self.ctx, msg));
        if let Some(t0) = t0 {
            self.load.set(self.load.get() + t0.elapsed().as_secs_f64());
        }
        if T::MIGRATABLE {
            pe.streams.current.set(None);
        }
        match r {
            Some(Dispatch::Done) | None => {}
            Some(Dispatch::Task(fut)) => {
                // SAFETY: the task borrows `obj` and `ctx` of this cell. `this`
                // is a reference to this cell, which the task's slot keeps
                // until the task is dropped (the slot drops the task first), so
                // the cell outlives the task; `busy` keeps every other access
                // to `obj` out until the task finishes. Erasing the lifetime
                // cannot produce a dangling or aliased reference.
                let fut: Pin<Box<dyn Future<Output = ()> + 'static>> = unsafe { std::mem::transmute(fut) };
                self.busy.set(true);
                if pe.spawn(fut, Some(this.clone()), desc(catch.take()), TaskKind::Entry) {
                    self.busy.set(false);
                }
            }
        }
    }

    /// Starts a reentrant entry's task: it holds no borrow of the object
    /// while suspended, so the chare stays free for other calls.
    #[cold]
    fn start_reentrant(&self, this: &Rc<dyn AnyCell>, pe: &Pe, mut msg: T::Msg) {
        let catch = T::reply_of(&mut msg).and_then(|r| r.prepare(self.ctx.addr().lin));
        let desc = TaskDesc { chare: T::NAME, index: self.ctx.index(), entry: T::entry_name(&msg), catch };
        // SAFETY: the handle goes into the task spawned below, owned by
        // `this` (this cell), whose slot keeps the cell alive and drops the
        // task first; the task is polled only through the gate.
        let me = unsafe { Reentrant::new(self) };
        let fut = T::dispatch_reentrant(me, msg);
        // SAFETY: the same task.
        let task = Box::pin(unsafe { Gated::new(self, fut) });
        // Finished at once or not, the task's handle counted it and uncounts
        // it when dropped; the caller's `drain` follows.
        pe.spawn(task, Some(this.clone()), desc, TaskKind::Reentrant);
    }

    /// Whether the chare is asked to move (only migratable chares can be).
    #[inline]
    fn moving(&self) -> bool {
        T::MIGRATABLE && self.ctx.moving()
    }

    /// Whether the chare moves as soon as no entry of it runs: it is asked
    /// to, and no reentrant entry of it is suspended (until they finish,
    /// calls keep running: a suspended entry may wait for one of them).
    #[inline]
    fn move_pending(&self) -> bool {
        self.moving() && (!T::REENTRANT || self.re.tasks() == 0)
    }

    fn accept(&self, this: &Rc<dyn AnyCell>, pe: &Pe, msg: T::Msg) {
        if self.busy.get() || self.move_pending() {
            self.deferred.borrow_mut().push_back(msg);
        } else {
            self.run(this, pe, msg);
            self.drain(this, pe);
        }
    }

    /// After an entry of the chare: runs what may run now, in order: held
    /// `when` calls whose condition holds (oldest first), then the calls
    /// that waited while the chare was held; wakes `wait_until` waiters
    /// after each. Stops while an exclusive async entry holds the chare.
    #[inline]
    fn drain(&self, this: &Rc<dyn AnyCell>, pe: &Pe) {
        while !self.busy.get() && !pe.shared.stopping() {
            if T::WHEN {
                if let Some(m) = self.take_ready_held(pe) {
                    self.start(this, pe, m);
                    continue;
                }
            }
            if T::REENTRANT {
                self.re.wake_changed();
            }
            if self.move_pending() {
                // The deferred calls travel with the chare.
                return crate::migration::schedule(pe, self.ctx.addr());
            }
            let Some(m) = self.deferred.borrow_mut().pop_front() else {
                if self.ctx.take_deleting() {
                    crate::dynamic::destroy_later(pe, self.ctx.addr());
                }
                return;
            };
            self.run(this, pe, m);
        }
    }

    fn release(&self, this: &Rc<dyn AnyCell>, pe: &Pe, o: Box<Ordered>) {
        let Ordered { head, body } = *o;
        match head.chan {
            None => self.deliver(this, pe, body),
            Some(key) => crate::channel::arrive(pe, key, body),
        }
    }
}

impl<T: Chare> AnyCell for ChareCell<T> {
    fn deliver(&self, this: &Rc<dyn AnyCell>, pe: &Pe, item: Incoming) {
        let msg = match item.take::<T::Msg>() {
            Ok(m) => m,
            Err(e) => {
                pe.fail_usage(format!("entry call to chare {}: {e}", T::NAME));
                return;
            }
        };
        self.accept(this, pe, msg);
    }

    fn deliver_clone(&self, this: &Rc<dyn AnyCell>, pe: &Pe, body: &dyn Value) {
        match body.as_any().downcast_ref::<T::Msg>() {
            Some(m) => self.accept(this, pe, m.clone()),
            None => pe.fail_usage(format!("broadcast of the wrong type for chare {}", T::NAME)),
        }
    }

    fn task_done(&self, this: &Rc<dyn AnyCell>, pe: &Pe) {
        self.busy.set(false);
        if T::REENTRANT {
            // Its steps may have changed the state; parked reentrant tasks resume.
            self.re.touch();
        }
        self.drain(this, pe);
    }

    fn stepped(&self, this: &Rc<dyn AnyCell>, pe: &Pe) {
        self.drain(this, pe);
    }

    fn admit(&self, this: &Rc<dyn AnyCell>, pe: &Pe, o: Box<Ordered>) {
        for m in self.gates.admit(o) {
            self.release(this, pe, m);
        }
    }

    fn addr(&self) -> Addr {
        self.ctx.addr()
    }

    fn sender(&self) -> Sender {
        Sender { addr: self.ctx.addr(), migratable: T::MIGRATABLE }
    }

    fn busy(&self) -> bool {
        self.busy.get() || (T::REENTRANT && self.re.tasks() > 0)
    }

    fn red_seq(&self) -> u64 {
        self.ctx.red_seq()
    }

    fn held_when(&self) -> Vec<String> {
        if !T::WHEN {
            return Vec::new();
        }
        let mut per_entry: Vec<(&'static str, usize)> = Vec::new();
        for m in self.re.held.borrow().iter() {
            let name = T::entry_name(m);
            match per_entry.iter_mut().find(|e| e.0 == name) {
                Some(e) => e.1 += 1,
                None => per_entry.push((name, 1)),
            }
        }
        let index = self.ctx.index();
        per_entry
            .into_iter()
            .map(|(entry, n)| format!("{}[{index}].{entry}: {n} call(s) held, their `when` condition false", T::NAME))
            .collect()
    }

    fn request_delete(&self) {
        self.ctx.request_delete();
    }

    fn take_load(&self) -> f64 {
        self.load.replace(0.0)
    }

    fn add_load(&self, seconds: f64) {
        self.load.set(self.load.get() + seconds);
    }

    fn measured(&self) -> bool {
        self.ctx.measured()
    }

    fn mark_synced(&self) -> bool {
        !self.synced.replace(true)
    }

    fn synced(&self) -> bool {
        self.synced.get()
    }

    fn resume(&self, this: &Rc<dyn AnyCell>, pe: &Pe) {
        self.synced.set(false);
        if let Some(m) = T::resume_from_sync() {
            self.accept(this, pe, m);
        }
    }

    fn kick(&self, this: &Rc<dyn AnyCell>, pe: &Pe) {
        self.drain(this, pe);
    }

    fn migrated(&self, pe: &Pe) {
        // SAFETY: called right after the cell arrived, before any message or
        // task can reach it: nothing else refers to `obj`.
        let obj: &mut T = unsafe { &mut *self.obj.get() };
        let desc = TaskDesc { chare: T::NAME, index: self.ctx.index(), entry: "migrated", catch: None };
        pe.streams.current.set(Some(self.sender()));
        pe.guard(desc, || obj.migrated(&self.ctx));
        pe.streams.current.set(None);
    }

    fn take_move(&self) -> Option<(usize, bool)> {
        self.ctx.take_move()
    }

    fn request_move(&self, pe: usize, resume: bool) {
        self.ctx.request_move(pe, resume)
    }

    fn depart(self: Rc<Self>) -> Result<Box<dyn Migrant>, Rc<dyn AnyCell>> {
        match Rc::try_unwrap(self) {
            Ok(cell) => Ok(Box::new(cell)),
            Err(rc) => Err(rc),
        }
    }

    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
}

impl<T: Chare> Migrant for ChareCell<T> {
    fn install(self: Box<Self>) -> Rc<dyn AnyCell> {
        let cell: ChareCell<T> = *self;
        Rc::new(cell)
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<MigrantWire, String> {
        // SAFETY: the cell departed: nothing else refers to `obj`.
        let obj: &T = unsafe { &*self.obj.get() };
        obj.pack(out)?;
        // Held `when` calls first: they are checked again on arrival.
        let held = self.re.held.borrow();
        let deferred = self.deferred.borrow();
        let deferred: Vec<&T::Msg> = held.iter().chain(deferred.iter()).collect();
        crate::value::encode_into(&deferred, out)?;
        crate::migration::gates_to_wire(&self.gates, self.ctx.red_seq())
    }

    fn addr(&self) -> Addr {
        self.ctx.addr()
    }

    fn info(&self) -> &Arc<CollInfo> {
        self.ctx.info()
    }

    fn chare_path(&self) -> &'static str {
        T::PATH
    }

    fn size(&self) -> usize {
        std::mem::size_of::<T>()
    }
}

/// Rebuilds a chare that arrived from another process: its state and
/// deferred calls from `bytes` (written by [`Migrant::encode`]).
pub(crate) fn cell_from_bytes<T: Chare>(
    info: Arc<CollInfo>,
    index: crate::index::Index,
    red_seq: u64,
    bytes: &[u8],
    gates: Gates,
) -> Result<Rc<dyn AnyCell>, String> {
    let (obj, rest) = T::unpack(bytes)?;
    let deferred: Vec<T::Msg> = crate::value::decode(rest)?;
    let ctx = Ctx::<T>::new(info, index);
    ctx.set_red_seq(red_seq);
    Ok(Rc::new(ChareCell::arriving(obj, ctx, deferred.into(), gates)))
}
