//! The one dispatch: [`Pe::handle`] handles every message, whatever its
//! source (this PE, another PE of the process, another process), and the
//! chare table it delivers entry calls through.
//!
//! Soundness of entry delivery: a chare's cell is reference-counted
//! (`Rc<dyn AnyCell>`). Delivery holds a reference while the entry runs, and
//! an async entry's task holds one until the task is dropped, so a cell is
//! never freed while anything borrows it, whatever happens to the table. A
//! second creation of an element that exists is refused (an error that ends
//! the job), never a silent replacement.

use crate::collection::LocalColl;
use crate::message::{Addr, CollId, Incoming, Msg};
use crate::object::AnyCell;
use crate::scheduler::Pe;
use crate::value::Body;
use rustc_hash::FxHashMap;
use std::cell::RefCell;
use std::rc::Rc;

/// The chares of one PE and what waits for them.
#[derive(Default)]
pub(crate) struct ChareTable {
    cells: RefCell<FxHashMap<Addr, Rc<dyn AnyCell>>>,
    /// Collections with elements created here.
    pub(crate) colls: RefCell<FxHashMap<CollId, LocalColl>>,
    /// Entry calls for elements of collections not yet created here.
    pending: RefCell<FxHashMap<Addr, Vec<Incoming>>>,
    /// Broadcasts to collections not yet created here.
    pending_bcast: RefCell<FxHashMap<CollId, Vec<Body>>>,
}

impl ChareTable {
    fn cell(&self, addr: &Addr) -> Option<Rc<dyn AnyCell>> {
        self.cells.borrow().get(addr).cloned()
    }

    /// Empties the table (at the job's end, after the tasks were dropped).
    pub(crate) fn clear(&self) {
        let cells = std::mem::take(&mut *self.cells.borrow_mut());
        drop(cells);
    }
}

impl Pe {
    /// Handles one message. Every message of the PE's queue comes here.
    pub(crate) fn handle(&self, msg: Msg) {
        match msg {
            Msg::Entry { to, body } => self.deliver_entry(to, Incoming::Obj(body)),
            Msg::EntryBytes(b) => {
                let (to, body) = *b;
                self.deliver_entry(to, Incoming::Bytes(body))
            }
            Msg::Broadcast { coll, body } => self.deliver_broadcast(coll, Body::Obj(body)),
            Msg::BroadcastBytes(b) => {
                let (coll, body) = *b;
                self.deliver_broadcast(coll, Body::Bytes(body))
            }
            Msg::Future { id, value } => crate::future::fulfil(self, id, Body::Obj(value)),
            Msg::FutureBytes(b) => {
                let (id, body) = *b;
                crate::future::fulfil(self, id, Body::Bytes(body))
            }
            Msg::Channel { key, body } => crate::channel::arrive(self, key, Incoming::Obj(body)),
            Msg::ChannelBytes(b) => {
                let (key, body) = *b;
                crate::channel::arrive(self, key, Incoming::Bytes(body))
            }
            Msg::Reduce(c) => crate::reduction::receive(self, *c),
            Msg::Wake { task, gen } => self.tasks.make_ready(task, gen),
            Msg::Control(f) | Msg::System(f) => f(self),
        }
    }

    /// Adds a chare cell to this PE. An element that already exists here is
    /// an error (a duplicated creation), never replaced.
    pub(crate) fn insert_chare(&self, addr: Addr, cell: Rc<dyn AnyCell>) -> Result<(), String> {
        let mut cells = self.chares.cells.borrow_mut();
        if cells.contains_key(&addr) {
            drop(cells);
            return Err(format!("{} was created twice on PE {}", self.describe(&addr), self.id));
        }
        cells.insert(addr, cell);
        Ok(())
    }

    /// Marks a collection created here and delivers what waited for it.
    pub(crate) fn collection_created(&self, coll: CollId, local: LocalColl) {
        let addrs = local.addrs.clone();
        self.chares.colls.borrow_mut().insert(coll, local);
        for addr in addrs {
            let waiting = self.chares.pending.borrow_mut().remove(&addr);
            for item in waiting.into_iter().flatten() {
                self.deliver_entry(addr, item);
            }
        }
        let bcasts = self.chares.pending_bcast.borrow_mut().remove(&coll);
        for body in bcasts.into_iter().flatten() {
            self.deliver_broadcast(coll, body);
        }
    }

    fn deliver_entry(&self, to: Addr, item: Incoming) {
        match self.chares.cell(&to) {
            Some(cell) => cell.deliver(&cell, self, item),
            None => {
                if self.chares.colls.borrow().contains_key(&to.coll) {
                    let name = self.describe(&to);
                    self.fail_usage(format!("message to {name}, which does not exist on this PE"));
                } else {
                    self.chares.pending.borrow_mut().entry(to).or_default().push(item);
                }
            }
        }
    }

    fn deliver_broadcast(&self, coll: CollId, body: Body) {
        let addrs = match self.chares.colls.borrow().get(&coll) {
            Some(c) => c.addrs.clone(),
            None => {
                self.chares.pending_bcast.borrow_mut().entry(coll).or_default().push(body);
                return;
            }
        };
        for addr in addrs {
            if let Some(cell) = self.chares.cell(&addr) {
                match &body {
                    Body::Obj(v) => cell.deliver_clone(&cell, self, &**v),
                    Body::Bytes(b) => cell.deliver(&cell, self, Incoming::Bytes(b.clone())),
                }
            }
        }
    }
}
