//! The one dispatch: [`Pe::handle`] handles every message, whatever its
//! source (this PE, another PE of the process, another process), and the
//! chare table it delivers entry calls through.
//!
//! Soundness of entry delivery: a chare's cell is reference-counted
//! (`Rc<dyn AnyCell>`). Delivery holds a reference while the entry runs, and
//! an async entry's task holds one until the task is dropped, so a cell is
//! never freed while anything borrows it, whatever happens to the table. A
//! second creation of an element that exists is refused (an error that ends
//! the job), never a silent replacement. A cell leaves the table for another
//! PE only when no entry of it runs ([`ChareTable::remove_if_idle`]) and its
//! table reference is the only one.
//!
//! Invariant: code that borrows a chare's state holds a reference to its
//! cell besides the table's for as long as the borrow lasts: a delivery
//! clones the cell out of the table before running an entry (and the
//! `when` conditions and deferred calls that follow it), a task's slot keeps
//! one, and the run loop holds the slot's while it tells a chare that a task
//! finished or stepped. Never call into a cell through the table's own
//! reference. A group's local branch ([`crate::branch`]) counts on it to
//! see, without a flag on this path, that the state is free.

use crate::collection::LocalColl;
use crate::message::{Addr, CollId, Incoming, Msg};
use crate::migration::order::Ordered;
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
    /// Migration count of the elements here that moved at least once.
    versions: RefCell<FxHashMap<Addr, u32>>,
}

impl ChareTable {
    /// The `when` calls held by the chares here (deadlock report), in
    /// address order.
    pub(crate) fn held_when(&self) -> Vec<String> {
        let cells = self.cells.borrow();
        let mut addrs: Vec<&Addr> = cells.keys().collect();
        addrs.sort_unstable_by_key(|a| (a.coll, a.lin));
        addrs.into_iter().flat_map(|a| cells[a].held_when()).collect()
    }

    pub(crate) fn cell(&self, addr: &Addr) -> Option<Rc<dyn AnyCell>> {
        self.cells.borrow().get(addr).cloned()
    }

    /// How many chares live on this PE (for statistics).
    pub(crate) fn len(&self) -> usize {
        self.cells.borrow().len()
    }

    /// Whether the element at `addr` lives on this PE.
    pub(crate) fn holds(&self, addr: &Addr) -> bool {
        self.cells.borrow().contains_key(addr)
    }

    /// Whether collection `coll`'s creation message was handled here.
    pub(crate) fn created(&self, coll: CollId) -> bool {
        self.colls.borrow().get(&coll).is_some_and(|c| c.created)
    }

    /// Takes the cell at `addr` out of the table if no entry of it runs.
    pub(crate) fn remove_if_idle(&self, addr: &Addr) -> Option<Rc<dyn AnyCell>> {
        let mut cells = self.cells.borrow_mut();
        match cells.get(addr) {
            Some(c) if !c.busy() => cells.remove(addr),
            _ => None,
        }
    }

    /// The move asked of the chare in `cell`, if any.
    pub(crate) fn take_move(&self, _addr: &Addr, cell: &Rc<dyn AnyCell>) -> Option<(usize, bool)> {
        cell.take_move()
    }

    /// Puts a cell taken with `remove_if_idle` back.
    pub(crate) fn put_back(&self, addr: Addr, cell: Rc<dyn AnyCell>) {
        self.cells.borrow_mut().insert(addr, cell);
    }

    /// The element at `addr` left this PE; returns its new migration count.
    pub(crate) fn left(&self, addr: Addr, red_seq: u64) -> u32 {
        if let Some(c) = self.colls.borrow_mut().get_mut(&addr.coll) {
            c.leave(addr, red_seq);
        }
        self.versions.borrow_mut().remove(&addr).unwrap_or(0) + 1
    }

    /// The element at `addr` (migration count `version`) arrived here.
    pub(crate) fn joined(&self, addr: Addr, red_seq: u64, version: u32) {
        self.colls.borrow_mut().entry(addr.coll).or_default().join(addr, red_seq);
        self.versions.borrow_mut().insert(addr, version);
    }

    /// The calls that waited for the element at `addr`.
    pub(crate) fn take_pending(&self, addr: &Addr) -> Vec<Incoming> {
        self.pending.borrow_mut().remove(addr).unwrap_or_default()
    }

    /// Empties the table (at the job's end, after the tasks were dropped).
    pub(crate) fn clear(&self) {
        let cells = std::mem::take(&mut *self.cells.borrow_mut());
        drop(cells);
    }
}

impl Pe {
    /// Handles one message. Every message of the PE's queue comes here.
    #[inline]
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
            Msg::Ordered(o) => self.deliver_ordered(o),
            Msg::Reduce(c) => crate::reduction::receive(self, *c),
            Msg::Wake { task, gen } => self.tasks.make_ready(task, gen),
            Msg::Control(f) | Msg::System(f) => f(self),
        }
    }

    /// Handles one message taken from the MPI machine (see
    /// [`crate::machine::wire::Arrived`]): entry calls and channel values
    /// straight from their decoded bytes, the rest as any message.
    #[cfg(feature = "mpi")]
    #[inline]
    pub(crate) fn handle_arrived(&self, a: crate::machine::wire::Arrived) {
        use crate::machine::wire::Arrived;
        match a {
            Arrived::Entry(to, body) => self.deliver_entry(to, Incoming::Bytes(body)),
            Arrived::Channel(key, body) => crate::channel::arrive(self, key, Incoming::Bytes(body)),
            Arrived::Msg(m) => self.handle(m),
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

    /// Marks a collection created here (with elements `addrs`) and delivers
    /// what waited for it.
    pub(crate) fn collection_created(&self, coll: CollId, addrs: Vec<Addr>) {
        {
            let mut colls = self.chares.colls.borrow_mut();
            let local: &mut LocalColl = colls.entry(coll).or_default();
            local.created = true;
            for &a in &addrs {
                local.join(a, 0);
            }
        }
        let waiting: Vec<Addr> = self.locations.waiting_for(coll);
        for addr in waiting {
            for o in self.locations.take_waiting(&addr) {
                self.handle(Msg::Ordered(o));
            }
        }
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

    /// An ordered message: to its chare's gate, or on to where the chare is.
    fn deliver_ordered(&self, o: Box<Ordered>) {
        match self.chares.cell(&o.head.to) {
            Some(cell) => {
                if o.head.hops > 0 && o.head.src_pe as usize != self.id {
                    // Tell the sender's PE where the element is now.
                    let at = crate::migration::location::Where {
                        pe: self.id as u32,
                        version: self.chares.versions.borrow().get(&o.head.to).copied().unwrap_or(0),
                    };
                    let src = o.head.src_pe as usize;
                    self.post(src, crate::migration::location::Located { addr: o.head.to, at });
                }
                cell.admit(&cell, self, o)
            }
            None => self.forward(o),
        }
    }

    #[inline]
    pub(crate) fn deliver_entry(&self, to: Addr, item: Incoming) {
        match self.chares.cell(&to) {
            Some(cell) => cell.deliver(&cell, self, item),
            None => self.deliver_entry_elsewhere(to, item),
        }
    }

    /// An entry call for an element not in this PE's table (cold).
    #[cold]
    fn deliver_entry_elsewhere(&self, to: Addr, item: Incoming) {
        let dynamic = self
            .chares
            .colls
            .borrow()
            .get(&to.coll)
            .map(|c| (c.dynamic, c.deleted.contains(&to.lin), c.placed.get(&to.lin).copied()));
        if let Some((true, deleted, placed)) = dynamic {
            // A dynamic array's element: inserted on another PE (the message
            // goes on there), deleted here (it is dropped), or not inserted
            // yet (it waits).
            if let Some(pe) = placed {
                self.post(pe, crate::dynamic::Forwarded { to, body: item });
            } else if !deleted {
                self.chares.pending.borrow_mut().entry(to).or_default().push(item);
            }
        } else if self.chares.created(to.coll) {
            let name = self.describe(&to);
            self.fail_usage(format!("message to {name}, which does not exist on this PE"));
        } else {
            self.chares.pending.borrow_mut().entry(to).or_default().push(item);
        }
    }

    fn deliver_broadcast(&self, coll: CollId, body: Body) {
        let addrs = match self.chares.colls.borrow().get(&coll) {
            Some(c) if c.created => c.addrs.clone(),
            _ => {
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
