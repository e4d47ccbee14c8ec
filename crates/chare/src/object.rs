//! The object layer: what a chare type is, and the cell that holds one chare
//! on its PE.
//!
//! Execution semantics (the contract users rely on):
//! * one entry method runs at a time on a PE; a sync entry runs to completion;
//! * an async entry method holds the chare (`&mut self`) until it finishes.
//!   Entry calls that reach the chare meanwhile wait in arrival order and run
//!   afterwards. Channel data and future values are not entry calls: they
//!   reach the suspended task directly;
//! * calls from one sender chare to one receiver arrive in send order.

use crate::ctx::Ctx;
use crate::message::Incoming;
use crate::proxy::{BroadcastOf, EntriesOf};
use crate::scheduler::{Pe, TaskDesc};
use crate::value::Value;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::{Cell, RefCell, UnsafeCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

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
    /// Runs a sync entry method, or returns the task of an async one.
    fn dispatch<'a>(&'a mut self, ctx: &'a Ctx<Self>, msg: Self::Msg) -> Dispatch<'a>;
}

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
    /// The chare's async entry task finished.
    fn task_done(&self, this: &Rc<dyn AnyCell>, pe: &Pe);
}

/// One chare and its runtime state.
///
/// Invariant: while `busy` is true an async entry task holds `&mut` to `obj`
/// (obtained through the `UnsafeCell`); nothing else touches `obj` until the
/// task finishes and `task_done` clears `busy`. The cell is reference-counted
/// (`Rc`, so it never moves) and the task's slot holds a reference to it
/// until the task is dropped: the cell outlives every task that borrows it,
/// by construction.
pub(crate) struct ChareCell<T: Chare> {
    obj: UnsafeCell<T>,
    ctx: Ctx<T>,
    busy: Cell<bool>,
    deferred: RefCell<VecDeque<T::Msg>>,
}

impl<T: Chare> ChareCell<T> {
    pub(crate) fn new(obj: T, ctx: Ctx<T>) -> ChareCell<T> {
        ChareCell { obj: UnsafeCell::new(obj), ctx, busy: Cell::new(false), deferred: RefCell::default() }
    }

    fn run(&self, this: &Rc<dyn AnyCell>, pe: &Pe, msg: T::Msg) {
        let entry = T::entry_name(&msg);
        let desc = TaskDesc { chare: T::NAME, index: self.ctx.index(), entry };
        // SAFETY: `busy` is false (checked by callers), so no task holds the
        // object; this is the only reference to it until dispatch returns or
        // the task it creates finishes (see the struct invariant).
        let obj: &mut T = unsafe { &mut *self.obj.get() };
        match pe.guard(desc, || obj.dispatch(&self.ctx, msg)) {
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
                if pe.spawn(fut, Some(this.clone()), desc, false) {
                    self.busy.set(false);
                }
            }
        }
    }

    fn accept(&self, this: &Rc<dyn AnyCell>, pe: &Pe, msg: T::Msg) {
        if self.busy.get() {
            self.deferred.borrow_mut().push_back(msg);
        } else {
            self.run(this, pe, msg);
            self.drain(this, pe);
        }
    }

    fn drain(&self, this: &Rc<dyn AnyCell>, pe: &Pe) {
        while !self.busy.get() && !pe.shared.stopping() {
            let Some(m) = self.deferred.borrow_mut().pop_front() else { break };
            self.run(this, pe, m);
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
        self.drain(this, pe);
    }
}
