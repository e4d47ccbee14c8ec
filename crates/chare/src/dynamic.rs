//! Dynamic arrays (Charm4Py's `ckInsert` / `ckDoneInserting`, Charm++'s
//! element deletion): elements inserted and deleted after creation.
//!
//! An array built with [`CollectionBuilder::dynamic`](crate::CollectionBuilder::dynamic)
//! (or created empty with
//! [`CollectionBuilder::create_empty`](crate::CollectionBuilder::create_empty))
//! has a **root**: the PE that created it. The root keeps the membership as
//! the reductions see it and combines the array's reductions. The shape
//! bounds the indices; an element lives on the PE its placement gives its
//! index (its *home*), or on the PE it was inserted on, and never migrates.
//! Calls to an element inserted away from its home travel by the home,
//! which forwards them (so each sender's calls keep their order).
//!
//! Protocol:
//! 1. `array.insert(ix, init)` (or `insert_on(ix, pe, init)`) goes to the
//!    root, which registers the element and its first reduction (the oldest
//!    reduction not completed at the root), tells the element's home where
//!    it will live if that is another PE (the home forwards the calls that
//!    wait for it there, and later ones), then sends it to its PE, which
//!    constructs it, delivers the calls that waited for it, and
//!    acknowledges to the root;
//! 2. `array.delete(ix)` goes to the root, then to the element's PE, which
//!    removes it once no entry of it runs (a suspended async entry: once it
//!    returns, after the calls that reached the element meanwhile) and
//!    tells the root how many reductions it contributed to;
//! 3. an insertion or deletion registered at the root opens an **insertion
//!    phase**: reductions of the array do not complete at the root until
//!    `array.done_inserting()` closes it, which happens once every insertion
//!    and deletion that reached the root before it has taken effect; the
//!    future `done_inserting` returns completes then;
//! 4. reduction k of the array completes (outside insertion phases) when it
//!    has a contribution from every element whose span covers k: inserted
//!    before k completed, and not deleted before contributing to k.
//!
//! Semantics, for users:
//! * a reduction started after `done_inserting().await` includes every
//!   inserted element and no deleted one; a reduction in flight during an
//!   insertion phase waits for `done_inserting`, and includes the elements
//!   inserted meanwhile (they must contribute to it: their first
//!   contribution counts for it), and those deleted meanwhile only if they
//!   contributed to it before their deletion;
//! * a broadcast reaches the elements that exist on each PE when it arrives
//!   there: after `done_inserting().await`, every inserted element and no
//!   deleted one; `m_ret` broadcasts and `len()` are not available (the
//!   element count changes): use a reduction;
//! * a message to an element never inserted waits (on its home) until the
//!   element is inserted; a message to a deleted element that arrives after
//!   its deletion is **dropped** (and so is anything that waited for it),
//!   also when the element is being inserted again: calls sent after
//!   `done_inserting().await` reach the new element;
//! * deleting an element twice, or one that does not exist, does nothing.
//! * a deleted element leaves the reductions of the sections it is a member
//!   of: reduction k of a section counts the members not deleted before
//!   contributing to k (the sections reduce at the array's root; see
//!   [`crate::section`]); inserting it again does not bring it back into a
//!   section built before.

use crate::collection::{CollDesc, CollInfo};
use crate::ctx::Ctx;
use crate::future::{Future, Reply};
use crate::index::Index;
use crate::machine::wire::Wire;
use crate::message::{Addr, CollId, Incoming, Msg};
use crate::object::{Chare, ChareCell};
use crate::proxy::CollectionProxy;
use crate::route::Outgoing;
use crate::scheduler::{with_pe, Pe};
use crate::section::SectionInfo;
use std::rc::Rc;
use std::sync::Arc;

/// A dynamic array's membership as its root keeps it.
#[derive(Default)]
pub(crate) struct DynRoot {
    /// Every element that was a member: (position, first reduction,
    /// first reduction without it once deleted).
    spans: Vec<(u32, u64, Option<u64>)>,
    /// Insertions and deletions registered here and not yet applied.
    pending: usize,
    /// An insertion phase is open: reductions wait.
    open: bool,
    /// `done_inserting` futures to fulfil when the phase closes.
    waiters: Vec<Reply>,
    /// Elements inserted on a PE other than their home, and that PE.
    placed: rustc_hash::FxHashMap<u32, usize>,
    /// One more than the newest reduction completed.
    next: u64,
    /// Deleted elements: per section they contributed to, how many
    /// contributions they made to it (a section not listed: none).
    left_sections: rustc_hash::FxHashMap<u32, Vec<(CollId, u64)>>,
}

impl DynRoot {
    /// How many contributions reduction `k` needs.
    fn expected(&self, k: u64) -> usize {
        self.spans.iter().filter(|&&(_, s, e)| s <= k && e.is_none_or(|e| k < e)).count()
    }

    /// Whether reduction `k` with `count` contributions is complete.
    pub(crate) fn ready(&self, k: u64, count: usize) -> bool {
        !self.open && count >= self.expected(k)
    }

    /// How many contributions reduction `k` of section `sec` (of this
    /// array) needs: one per member, except the members deleted before
    /// contributing to it.
    pub(crate) fn section_expected(&self, sec: &SectionInfo, k: u64) -> usize {
        let gone = self
            .left_sections
            .iter()
            .filter(|(lin, made)| {
                sec.members.binary_search(lin).is_ok() && made.iter().find(|m| m.0 == sec.id).map_or(0, |m| m.1) <= k
            })
            .count();
        sec.members.len() - gone
    }

    /// Reduction `k` completed.
    pub(crate) fn finished(&mut self, k: u64) {
        self.next = self.next.max(k + 1);
    }
}

/// The creator registers a new dynamic array as its root: with every
/// element (`dense`) or none.
pub(crate) fn root_created(pe: &Pe, info: &CollInfo, dense: bool) {
    let mut root = DynRoot::default();
    if dense {
        root.spans = (0..info.total as u32).map(|l| (l, 0, None)).collect();
    }
    pe.reductions.borrow_mut().dynamic.insert(info.id, root);
}

/// Runs `f` on the root state of `coll` (this PE must be its root).
fn with_root<R>(pe: &Pe, coll: CollId, f: impl FnOnce(&mut DynRoot) -> R) -> Option<R> {
    let r = pe.reductions.borrow_mut().dynamic.get_mut(&coll).map(f);
    if r.is_none() {
        pe.fail_usage(format!("internal error: PE {} is not the root of dynamic array {coll}", pe.id));
    }
    r
}

/// The root registers an insertion of element `lin` on PE `on` (default:
/// its home) and tells its home where it goes; returns the element's first
/// reduction and its PE.
fn root_insert(pe: &Pe, info: &CollInfo, lin: u32, on: Option<usize>) -> Option<(u64, usize)> {
    let home = info.pe_of(&Index::from_linear(lin as usize, &info.dims));
    let at = on.unwrap_or(home);
    let (start, tell) = with_root(pe, info.id, |r| {
        r.open = true;
        r.pending += 1;
        r.spans.push((lin, r.next, None));
        let moved = if at != home { r.placed.insert(lin, at) != Some(at) } else { r.placed.remove(&lin).is_some() };
        (r.next, moved)
    })?;
    if tell {
        pe.post(home, DynWire::Placed { coll: info.id, lin, pe: at });
    }
    Some((start, at))
}

/// An insertion or deletion took effect: the phase may close.
fn root_applied(pe: &Pe, coll: CollId, left: Option<(u32, Option<u64>)>, sections: Vec<(CollId, u64)>) {
    let closed = with_root(pe, coll, |r| {
        r.pending = r.pending.saturating_sub(1);
        if let Some((lin, end)) = left {
            // Never inserted, or deleted twice (no `end`): nothing changes.
            if let (Some(end), Some(span)) = (end, r.spans.iter_mut().rev().find(|s| s.0 == lin && s.2.is_none())) {
                span.2 = Some(end);
                r.left_sections.insert(lin, sections);
            }
        }
        close_if_done(r)
    });
    finish_phase(pe, coll, closed.unwrap_or_default());
}

/// Closes the phase if `done_inserting` was called and nothing is pending.
fn close_if_done(r: &mut DynRoot) -> Vec<Reply> {
    if r.pending == 0 && !r.waiters.is_empty() {
        r.open = false;
        std::mem::take(&mut r.waiters)
    } else {
        Vec::new()
    }
}

fn finish_phase(pe: &Pe, coll: CollId, waiters: Vec<Reply>) {
    for w in waiters {
        Reply::send_opt(Some(w), ());
    }
    crate::reduction::recheck_root(pe, coll);
}

/// Constructs element `lin` of dynamic array `info` here (an insertion),
/// with first reduction `start`, and tells the root.
pub(crate) fn insert_local<T: Chare>(pe: &Pe, info: Arc<CollInfo>, lin: u32, init: T::Init, start: u64) {
    let ix = Index::from_linear(lin as usize, &info.dims);
    let addr = info.addr_of(&ix);
    let ctx = Ctx::<T>::new(info.clone(), ix);
    ctx.set_red_seq(start);
    let desc = crate::scheduler::TaskDesc { chare: T::NAME, index: ix, entry: "new", catch: None };
    let Some(obj) = pe.guard(desc, || T::construct(&ctx, init)) else { return };
    if let Err(e) = pe.insert_chare(addr, Rc::new(ChareCell::new(obj, ctx))) {
        return pe.fail_usage(e);
    }
    {
        let mut colls = pe.chares.colls.borrow_mut();
        let local = colls.entry(info.id).or_default();
        local.dynamic = true;
        local.deleted.remove(&lin);
        local.join(addr, start);
    }
    for item in pe.chares.take_pending(&addr) {
        pe.deliver_entry(addr, item);
    }
    if let Some(root) = info.dynamic {
        pe.post(root, DynWire::Applied { coll: info.id, left: None, sections: Vec::new() });
    }
}

/// Deletes element `lin` of `coll` here once no entry of it runs.
fn destroy_local(pe: &Pe, coll: CollId, lin: u32) {
    let Some(root) = pe.shared.colls.lock().unwrap().get(&coll).and_then(|i| i.dynamic) else {
        return pe.fail_usage(format!("deletion of an element of collection {coll}, which is not a dynamic array"));
    };
    let addr = Addr { coll, lin };
    let mut sections = Vec::new();
    let end = match pe.chares.remove_if_idle(&addr) {
        Some(cell) => {
            let end = cell.red_seq();
            // Its contributions to sections: its stream counters towards
            // the sections' pseudo-addresses (`section::seq_key`).
            if let Some(row) = pe.streams.rows.borrow().get(&addr) {
                sections =
                    row.iter().filter(|(to, _)| to.lin == u32::MAX).map(|(to, &n)| (to.coll, n as u64)).collect();
            }
            pe.chares.left(addr, end);
            if let Some(local) = pe.chares.colls.borrow_mut().get_mut(&coll) {
                local.deleted.insert(lin);
            }
            drop(pe.chares.take_pending(&addr));
            drop(cell);
            crate::reduction::recheck(pe, coll);
            Some(end)
        }
        // An entry of it runs (a suspended async entry): deleted when the
        // chare is idle again (`ChareCell::drain` calls `destroy_later`).
        None => match pe.chares.cell(&addr) {
            Some(cell) => return cell.request_delete(),
            None => None,
        },
    };
    pe.post(root, DynWire::Applied { coll, left: Some((lin, end)), sections });
}

/// The element at `addr`, asked to be deleted while an entry of it ran, is
/// idle: delete it (after the messages queued before this).
pub(crate) fn destroy_later(pe: &Pe, addr: Addr) {
    pe.post(pe.id, DynWire::Destroy { coll: addr.coll, lin: addr.lin });
}

/// Insertion, deletion and their protocol messages, between PEs of any
/// process (see the module docs).
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) enum DynWire {
    /// Create this PE's part of a dynamic array with no element.
    CreateEmpty { desc: Box<CollDesc> },
    /// To the root: insert element `lin` with these constructor arguments.
    Insert {
        chare: u64,
        desc: Box<CollDesc>,
        lin: u32,
        on: Option<usize>,
        #[serde(with = "crate::value::bytes")]
        init: Vec<u8>,
    },
    /// From the root to the element's PE: construct it.
    Build {
        chare: u64,
        desc: Box<CollDesc>,
        lin: u32,
        #[serde(with = "crate::value::bytes")]
        init: Vec<u8>,
        start: u64,
    },
    /// To the root: delete element `lin`.
    Delete { coll: CollId, lin: u32 },
    /// From the root to the element's PE: delete it.
    Destroy { coll: CollId, lin: u32 },
    /// From the root to the element's home: it lives on PE `pe`.
    Placed { coll: CollId, lin: u32, pe: usize },
    /// To the root: an insertion (`left: None`) or deletion took effect
    /// (the element, and the first reduction it did not contribute to; none
    /// if it did not exist; per section it contributed to, how many times).
    Applied { coll: CollId, left: Option<(u32, Option<u64>)>, sections: Vec<(CollId, u64)> },
    /// To the root: close the insertion phase, then reply.
    Done { coll: CollId, reply: Reply },
}

impl DynWire {
    pub(crate) fn handle(self, pe: &Pe, from: usize) {
        let r = match self {
            DynWire::CreateEmpty { desc } => desc.resolve().map(|info| {
                pe.chares.colls.borrow_mut().entry(info.id).or_default().dynamic = true;
                pe.collection_created(info.id, Vec::new());
            }),
            DynWire::Insert { chare, desc, lin, on, init } => desc.resolve().and_then(|info| {
                if on.is_some_and(|p| p >= info.npes) {
                    return Err(format!("insertion on PE {on:?} of {}", info.npes));
                }
                if let Some((start, at)) = root_insert(pe, &info, lin, on) {
                    let desc = Box::new(info.desc_for_creation());
                    pe.post(at, DynWire::Build { chare, desc, lin, init, start });
                }
                Ok(())
            }),
            DynWire::Placed { coll, lin, pe: at } => {
                let addr = Addr { coll, lin };
                if at == pe.id {
                    if let Some(local) = pe.chares.colls.borrow_mut().get_mut(&coll) {
                        local.placed.remove(&lin);
                    }
                } else {
                    pe.chares.colls.borrow_mut().entry(coll).or_default().placed.insert(lin, at);
                    for item in pe.chares.take_pending(&addr) {
                        pe.post(at, Forwarded { to: addr, body: item });
                    }
                }
                Ok(())
            }
            DynWire::Build { chare, desc, lin, init, start } => match crate::registry::find(chare) {
                Some(t) => (t.create)(crate::registry::WireCreate {
                    pe,
                    desc: *desc,
                    init,
                    done: None,
                    only: Some((lin, start)),
                })
                .map_err(|e| format!("inserting an element of {}: {e}", t.path)),
                None => Err("a chare type unknown here".to_string()),
            },
            DynWire::Delete { coll, lin } => {
                let info = pe.shared.colls.lock().unwrap().get(&coll).cloned();
                match info {
                    Some(info) => {
                        let home = info.pe_of(&Index::from_linear(lin as usize, &info.dims));
                        let at = with_root(pe, coll, |r| {
                            r.open = true;
                            r.pending += 1;
                            r.placed.get(&lin).copied().unwrap_or(home)
                        });
                        if let Some(at) = at {
                            pe.post(at, DynWire::Destroy { coll, lin });
                        }
                        Ok(())
                    }
                    None => Err(format!("deletion from collection {coll}, unknown here")),
                }
            }
            DynWire::Destroy { coll, lin } => {
                destroy_local(pe, coll, lin);
                Ok(())
            }
            DynWire::Applied { coll, left, sections } => {
                root_applied(pe, coll, left, sections);
                Ok(())
            }
            DynWire::Done { coll, reply } => {
                let closed = with_root(pe, coll, |r| {
                    r.waiters.push(reply);
                    close_if_done(r)
                });
                finish_phase(pe, coll, closed.unwrap_or_default());
                Ok(())
            }
        };
        if let Err(e) = r {
            pe.fail_usage(format!("dynamic array (message from PE {from}): {e}"));
        }
    }
}

impl Outgoing for DynWire {
    fn into_msg(self) -> Msg {
        Msg::Control(Box::new(move |pe: &Pe| self.handle(pe, pe.id)))
    }
    fn encode(&self, _out: &mut Vec<u8>) -> Result<Wire, String> {
        let mut b = Vec::new();
        crate::value::encode_into(self, &mut b)?;
        Ok(Wire::Dynamic(Box::new(crate::value::decode(&b)?)))
    }
}

/// An insertion on its way to the root, with its typed arguments.
struct InsertTyped<T: Chare> {
    info: Arc<CollInfo>,
    lin: u32,
    on: Option<usize>,
    init: T::Init,
}

fn init_bytes<T: Chare>(init: &T::Init) -> Result<Vec<u8>, String> {
    // Nested in the message: its `Buffer`s go inline, not as attachments.
    crate::buffer::inline(|| crate::value::encode(init)).map_err(|e| format!("inserting into {}: {e}", T::NAME))
}

impl<T: Chare> Outgoing for InsertTyped<T> {
    fn into_msg(self) -> Msg {
        let InsertTyped { info, lin, on, init } = self;
        Msg::Control(Box::new(move |pe: &Pe| {
            if let Some((start, at)) = root_insert(pe, &info, lin, on) {
                pe.post(at, BuildTyped::<T> { info, lin, init, start });
            }
        }))
    }
    fn encode(&self, _out: &mut Vec<u8>) -> Result<Wire, String> {
        Ok(Wire::Dynamic(Box::new(DynWire::Insert {
            chare: crate::registry::stable_id(T::PATH),
            desc: Box::new(self.info.desc_for_creation()),
            lin: self.lin,
            on: self.on,
            init: init_bytes::<T>(&self.init)?,
        })))
    }
}

/// An entry call forwarded by an element's home to the PE it was inserted on.
pub(crate) struct Forwarded {
    pub to: Addr,
    pub body: Incoming,
}

impl Outgoing for Forwarded {
    fn into_msg(self) -> Msg {
        match self.body {
            Incoming::Obj(body) => Msg::Entry { to: self.to, body },
            Incoming::Bytes(b) => Msg::EntryBytes(Box::new((self.to, b))),
        }
    }
    fn encode(&self, out: &mut Vec<u8>) -> Result<Wire, String> {
        self.body.encode_into(out)?;
        Ok(Wire::Entry { to: self.to })
    }
}

/// An insertion on its way from the root to the element's PE.
struct BuildTyped<T: Chare> {
    info: Arc<CollInfo>,
    lin: u32,
    init: T::Init,
    start: u64,
}

impl<T: Chare> Outgoing for BuildTyped<T> {
    fn into_msg(self) -> Msg {
        let BuildTyped { info, lin, init, start } = self;
        Msg::Control(Box::new(move |pe: &Pe| insert_local::<T>(pe, info, lin, init, start)))
    }
    fn encode(&self, _out: &mut Vec<u8>) -> Result<Wire, String> {
        Ok(Wire::Dynamic(Box::new(DynWire::Build {
            chare: crate::registry::stable_id(T::PATH),
            desc: Box::new(self.info.desc_for_creation()),
            lin: self.lin,
            init: init_bytes::<T>(&self.init)?,
            start: self.start,
        })))
    }
}

/// Inserting and deleting elements of a dynamic array.
impl<T: Chare> CollectionProxy<T> {
    #[track_caller]
    fn dynamic_root(&self, what: &str) -> (usize, &Arc<CollInfo>) {
        let info = &self.coll_ref().info;
        match info.dynamic {
            Some(root) => (root, info),
            None => panic!("{what} on {}, which is not a dynamic array (build it with .dynamic())", T::NAME),
        }
    }

    /// Inserts element `ix` (Charm4Py's `ckInsert`), constructed with `init`
    /// on the PE the array's placement gives it. Calls sent to it meanwhile
    /// wait for it. Panics if the array is not dynamic or `ix` is outside
    /// its shape; inserting an element that exists ends the job with an error.
    #[track_caller]
    pub fn insert(&self, ix: impl Into<Index>, init: T::Init) {
        self.insert_at(ix.into(), None, init)
    }

    /// Inserts element `ix` on PE `pe` (Charm4Py's `ckInsert(.., onPE)`).
    /// Calls to it travel by its home (the PE the placement gives its
    /// index), which forwards them. Panics as [`CollectionProxy::insert`],
    /// and if `pe` is not a PE of the job.
    #[track_caller]
    pub fn insert_on(&self, ix: impl Into<Index>, pe: usize, init: T::Init) {
        let npes = self.coll_ref().info.npes;
        assert!(pe < npes, "cannot insert an element of {} on PE {pe}: the job has {npes} PEs", T::NAME);
        self.insert_at(ix.into(), Some(pe), init)
    }

    #[track_caller]
    fn insert_at(&self, ix: Index, on: Option<usize>, init: T::Init) {
        let (root, info) = self.dynamic_root("insert");
        info.check(&ix);
        let lin = info.addr_of(&ix).lin;
        let info = info.clone();
        with_pe(|pe| pe.post(root, InsertTyped::<T> { info, lin, on, init }));
    }

    /// Deletes element `ix` once no entry of it runs. Calls that reach it
    /// afterwards are dropped. Panics if the array is not dynamic.
    #[track_caller]
    pub fn delete(&self, ix: impl Into<Index>) {
        let (root, info) = self.dynamic_root("delete");
        let ix = ix.into();
        info.check(&ix);
        let (coll, lin) = (info.id, info.addr_of(&ix).lin);
        with_pe(|pe| pe.post(root, DynWire::Delete { coll, lin }));
    }

    /// Ends the insertion phase (Charm4Py's `ckDoneInserting`): the future
    /// completes once every insertion and deletion that reached the array's
    /// root before this call has taken effect; reductions held by the phase
    /// then complete. Panics if the array is not dynamic.
    #[track_caller]
    pub fn done_inserting(&self) -> Future<()> {
        let (root, info) = self.dynamic_root("done_inserting");
        let coll = info.id;
        let (f, reply) = Reply::new_counted(1);
        with_pe(|pe| pe.post(root, DynWire::Done { coll, reply }));
        f
    }
}
