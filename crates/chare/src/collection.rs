//! Collections: groups (one element per PE), N-d arrays with a placement map,
//! and single chares; how they are created on every PE.
//!
//! Creation protocol:
//! 1. the creator allocates a collection id and an immutable [`CollInfo`]
//!    (shape, placement) that every proxy carries, so any PE can compute where
//!    an element lives without asking anyone;
//! 2. it sends one creation message to every PE;
//! 3. each PE constructs the elements the placement gives it, then delivers
//!    the calls and broadcasts that arrived for them before creation;
//! 4. an awaitable creation counts PEs down and fulfils its future at zero.

use crate::ctx::Ctx;
use crate::future::{Future, Reply};
use crate::index::Index;
use crate::machine::wire::Wire;
use crate::message::{Addr, CollId, Msg};
use crate::object::{Chare, ChareCell};
use crate::proxy::{CollRef, CollectionProxy, Proxy};
use crate::route::Outgoing;
use crate::scheduler::{with_pe, Pe};
use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Where the elements of an array live.
#[derive(Clone)]
pub enum Placement {
    /// Contiguous blocks of the row-major order: element `l` of `N` on PE `l * P / N`.
    Block,
    /// Element `l` of the row-major order on PE `l mod P`.
    RoundRobin,
    /// Every element on one PE.
    OnPe(usize),
    /// A user function of (index, number of PEs) -> PE, like Charm4Py's ArrayMap.
    /// It must be deterministic. On the MPI layer the creating process
    /// evaluates it for every element and sends the resulting table.
    Custom(Arc<dyn Fn(Index, usize) -> usize + Send + Sync>),
    /// The PE of every element, in row-major order.
    Table(Arc<[u32]>),
}

impl Placement {
    /// A placement from a closure.
    pub fn custom(f: impl Fn(Index, usize) -> usize + Send + Sync + 'static) -> Placement {
        Placement::Custom(Arc::new(f))
    }
}

impl fmt::Debug for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Placement::Block => f.write_str("Block"),
            Placement::RoundRobin => f.write_str("RoundRobin"),
            Placement::OnPe(p) => write!(f, "OnPe({p})"),
            Placement::Custom(_) => f.write_str("Custom"),
            Placement::Table(t) => write!(f, "Table({} elements)", t.len()),
        }
    }
}

/// What kind of collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) enum CollKind {
    Main,
    Group,
    Array,
}

/// Immutable description of a collection, shared by all its proxies.
///
/// Aligned to 128 bytes so that, inside its `Arc`, the fields start on a
/// cache line (pair) of their own: every PE reads them on each send, while
/// cloning and dropping proxies (`ctx.proxy().elem(i)`) writes the `Arc`'s
/// counters. Sharing a line made each such clone on one PE a cache miss on
/// the others.
#[repr(align(128))]
pub struct CollInfo {
    pub(crate) id: CollId,
    pub(crate) kind: CollKind,
    pub(crate) dims: Vec<usize>,
    pub(crate) total: usize,
    pub(crate) placement: Placement,
    pub(crate) npes: usize,
    pub(crate) chare: &'static str,
    /// Elements may move ([`crate::Migratable`] chares): messages to them are
    /// ordered and located ([`crate::migration`]).
    pub(crate) migratable: bool,
    /// Elements call `at_sync` and are balanced ([`crate::lb`]).
    pub(crate) at_sync: bool,
    /// The strategy for this collection, if not the job's (`--balancer`).
    pub(crate) balancer: Option<crate::lb::strategy::Strategy>,
    /// A dynamic array ([`crate::dynamic`]): the PE that keeps its
    /// membership and combines its reductions.
    pub(crate) dynamic: Option<usize>,
    /// A group on a subset of the PEs (Charm4Py's `Group(W, onPEs=..)`):
    /// its PEs, sorted, each once, at least one. Element `p` lives on PE
    /// `p` as in any group (the shape stays `[number of PEs]`, so addresses
    /// and routing are a group's); only these PEs create an element, and
    /// creation, broadcasts, reductions and `elem` consult the list. None:
    /// every PE (and every other kind of collection).
    pub(crate) members: Option<Arc<[u32]>>,
}

impl CollInfo {
    pub(crate) fn main() -> CollInfo {
        CollInfo {
            id: 0,
            kind: CollKind::Main,
            dims: vec![1],
            total: 1,
            placement: Placement::OnPe(0),
            npes: 1,
            chare: "main",
            migratable: false,
            at_sync: false,
            balancer: None,
            dynamic: None,
            members: None,
        }
    }

    /// The PE that finishes the collection's reductions: a dynamic array's
    /// root, a subset group's first PE, else the PE of element 0.
    pub(crate) fn reduction_root(&self) -> usize {
        if let Some(m) = &self.members {
            return m[0] as usize;
        }
        self.dynamic.unwrap_or_else(|| self.pe_of(&Index::from_linear(0, &self.dims)))
    }

    /// Number of elements: the shape's size, or a subset group's PE count.
    /// (A dynamic array's count changes; this is its shape's size.)
    #[inline]
    pub(crate) fn count(&self) -> usize {
        match &self.members {
            None => self.total,
            Some(m) => m.len(),
        }
    }

    /// The row-major positions of the elements, in order: every position
    /// of the shape, or a subset group's PEs.
    pub(crate) fn positions(&self) -> Box<dyn Iterator<Item = usize> + '_> {
        match &self.members {
            None => Box::new(0..self.total),
            Some(m) => Box::new(m.iter().map(|&p| p as usize)),
        }
    }

    /// The PE element `ix` lives on.
    #[inline]
    pub(crate) fn pe_of(&self, ix: &Index) -> usize {
        match &self.placement {
            Placement::OnPe(p) => *p,
            Placement::Block => {
                let lin = if self.dims.len() == 1 { ix.i() } else { ix.linear(&self.dims) };
                // 64-bit division (a 128-bit one is a library call, ~10x
                // slower); the product fits unless both factors are huge.
                match (lin as u64).checked_mul(self.npes as u64) {
                    Some(p) => (p / self.total as u64) as usize,
                    None => ((lin as u128 * self.npes as u128) / self.total as u128) as usize,
                }
            }
            Placement::RoundRobin => {
                let lin = if self.dims.len() == 1 { ix.i() } else { ix.linear(&self.dims) };
                lin % self.npes
            }
            Placement::Table(t) => {
                let lin = if self.dims.len() == 1 { ix.i() } else { ix.linear(&self.dims) };
                t[lin] as usize
            }
            Placement::Custom(f) => {
                let pe = f(*ix, self.npes);
                assert!(
                    pe < self.npes,
                    "placement of {}[{ix}] gave PE {pe}, but the job has {} PEs",
                    self.chare,
                    self.npes
                );
                pe
            }
        }
    }

    /// The address of element `ix`.
    #[inline]
    pub(crate) fn addr_of(&self, ix: &Index) -> Addr {
        let lin = if self.dims.len() == 1 { ix.i() } else { ix.linear(&self.dims) };
        Addr { coll: self.id, lin: lin as u32 }
    }

    /// The index of the element at `addr`.
    pub(crate) fn index_of(&self, addr: &Addr) -> Index {
        Index::from_linear(addr.lin as usize, &self.dims)
    }

    /// The PEs that may hold elements: creation and broadcasts go only there.
    pub(crate) fn pes(&self) -> Box<dyn Iterator<Item = usize> + '_> {
        match &self.members {
            Some(m) => Box::new(m.iter().map(|&p| p as usize)),
            None => Box::new(self.pe_range()),
        }
    }

    /// [`CollInfo::pes`] of a collection that is not a subset group.
    #[inline]
    pub(crate) fn pe_range(&self) -> std::ops::Range<usize> {
        match self.placement {
            Placement::OnPe(p) => p..p + 1,
            _ => 0..self.npes,
        }
    }

    /// Panics with a clear message if `ix` is not an element.
    #[track_caller]
    pub(crate) fn check(&self, ix: &Index) {
        assert!(ix.within(&self.dims), "index [{ix}] is outside {} of shape {:?}", self.chare, self.dims);
        if self.members.is_some() {
            self.check_member(ix);
        }
    }

    /// Panics with a clear message if a subset group has no element `ix`.
    #[track_caller]
    #[cold]
    fn check_member(&self, ix: &Index) {
        if let Err(e) = self.member(ix) {
            panic!("{e}");
        }
    }

    /// Whether `ix` is an element of a subset group (always, for other
    /// collections); the error names the PE and the group's PEs.
    pub(crate) fn member(&self, ix: &Index) -> Result<(), String> {
        match &self.members {
            Some(m) if m.binary_search(&(ix.i() as u32)).is_err() => {
                Err(format!("group {} has no element on PE {}: its PEs are {:?}", self.chare, ix.i(), m))
            }
            _ => Ok(()),
        }
    }
}

/// A collection as one PE sees it.
#[derive(Default)]
pub(crate) struct LocalColl {
    /// Elements living on this PE, in index order.
    pub addrs: Vec<Addr>,
    /// The creation message was handled here (elements may arrive by
    /// migration before it).
    pub created: bool,
    /// Reduction bookkeeping: how many elements here will contribute next
    /// to reduction `k` (their next sequence number), by `k`. A PE's part of
    /// reduction `k` is complete when no element here owes `k` or earlier.
    pub owing: std::collections::BTreeMap<u64, u32>,
    /// A dynamic array: a message to an element not here waits for its
    /// insertion, unless the element was deleted here (then it is dropped).
    pub dynamic: bool,
    /// Elements of a dynamic array deleted here (and not inserted again).
    pub deleted: rustc_hash::FxHashSet<u32>,
    /// Elements of a dynamic array whose home is here, inserted on another
    /// PE: messages to them are forwarded there.
    pub placed: rustc_hash::FxHashMap<u32, usize>,
}

impl LocalColl {
    /// Adds an element (that will contribute next to reduction `seq`).
    pub(crate) fn join(&mut self, addr: Addr, seq: u64) {
        if let Err(at) = self.addrs.binary_search_by_key(&addr.lin, |a| a.lin) {
            self.addrs.insert(at, addr);
        }
        *self.owing.entry(seq).or_insert(0) += 1;
    }

    /// Removes an element (that would have contributed next to `seq`).
    pub(crate) fn leave(&mut self, addr: Addr, seq: u64) {
        if let Ok(at) = self.addrs.binary_search_by_key(&addr.lin, |a| a.lin) {
            self.addrs.remove(at);
        }
        self.owe_less(seq);
    }

    fn owe_less(&mut self, seq: u64) {
        if let Some(n) = self.owing.get_mut(&seq) {
            *n -= 1;
            if *n == 0 {
                self.owing.remove(&seq);
            }
        }
    }

    /// An element here contributed to reduction `seq`.
    pub(crate) fn contributed(&mut self, seq: u64) {
        self.owe_less(seq);
        *self.owing.entry(seq + 1).or_insert(0) += 1;
    }

    /// Whether an element here still owes a contribution to reduction `seq`.
    pub(crate) fn owes(&self, seq: u64) -> bool {
        self.owing.range(..=seq).next().is_some()
    }
}

/// Builds a collection. Obtained from [`crate::Rt::array`], [`crate::Rt::group`]
/// or [`crate::Rt::chare`].
#[must_use = "a collection is created only by calling .create(..) or .create_awaitable(..)"]
pub struct CollectionBuilder<T: Chare> {
    kind: CollKind,
    dims: Vec<usize>,
    placement: Placement,
    at_sync: bool,
    balancer: Option<crate::lb::strategy::Strategy>,
    dynamic: bool,
    empty: bool,
    /// A group's PEs, as given to [`CollectionBuilder::on_pes`] (checked
    /// when the group is created).
    on_pes: Option<Vec<usize>>,
    _t: PhantomData<fn() -> T>,
}

impl<T: Chare> CollectionBuilder<T> {
    #[track_caller]
    pub(crate) fn array(dims: Index) -> Self {
        let dims: Vec<usize> = dims.as_slice().iter().map(|&d| d as usize).collect();
        assert!(dims.iter().all(|&d| d > 0), "array dimensions must be positive, got {dims:?}");
        CollectionBuilder {
            kind: CollKind::Array,
            dims,
            placement: Placement::Block,
            at_sync: false,
            balancer: None,
            dynamic: false,
            empty: false,
            on_pes: None,
            _t: PhantomData,
        }
    }

    pub(crate) fn group(npes: usize) -> Self {
        CollectionBuilder {
            kind: CollKind::Group,
            dims: vec![npes],
            placement: Placement::RoundRobin,
            at_sync: false,
            balancer: None,
            dynamic: false,
            empty: false,
            on_pes: None,
            _t: PhantomData,
        }
    }

    /// Sets the placement map (arrays only; default [`Placement::Block`]).
    #[track_caller]
    pub fn map(mut self, placement: Placement) -> Self {
        assert!(self.kind == CollKind::Array, "a group's placement is fixed: one element per PE");
        self.placement = placement;
        self
    }

    /// Creates the group on the PEs `pes` only (Charm4Py's
    /// `Group(W, onPEs=pes)`): element `p` lives on PE `p` for each `p` in
    /// `pes` (in any order), and no other PE has an element. Broadcasts
    /// reach exactly these elements, a reduction over the group completes
    /// with exactly their contributions (its root is the smallest of the
    /// PEs), `len()` is their count, `indices()` gives them in order, and
    /// `elem(p)` for a PE `p` outside them panics, naming `p` and the PEs.
    /// Groups only. Creating the group panics if `pes` is empty, names a PE
    /// twice, or names a PE the job does not have.
    ///
    /// ```
    /// use chare::prelude::*;
    /// struct W;
    /// #[chare]
    /// impl W {
    ///     fn new() -> Self { W }
    ///     #[entry]
    ///     fn pe(&self, ctx: &Ctx<Self>) -> usize { ctx.my_pe() }
    /// }
    /// chare::Runtime::with_pes(4).run(|rt| async move {
    ///     let g = rt.group::<W>().on_pes(&[3, 1]).create(());
    ///     assert_eq!(g.len(), 2);
    ///     assert_eq!(g.pe_all_ret().await, vec![1, 3]);
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn on_pes(mut self, pes: &[usize]) -> Self {
        assert!(self.kind == CollKind::Group, "only groups are created on a subset of the PEs (on_pes)");
        self.on_pes = Some(pes.to_vec());
        self
    }

    /// Balances the array's elements at sync points (Charm4Py's
    /// `useAtSync`): each element calls [`Ctx::at_sync`](crate::Ctx::at_sync)
    /// when it reaches one and gets its `resume_from_sync` entry called once
    /// the load balancer (chosen with `--balancer` or `CHARE_BALANCER`) has
    /// measured the elements' time in entry methods and moved some of them.
    /// Arrays of [`Migratable`](crate::Migratable) chares only.
    #[track_caller]
    pub fn at_sync(mut self) -> Self
    where
        T: crate::object::Migratable,
    {
        assert!(self.kind == CollKind::Array, "only arrays balance at sync; a group's elements never move");
        assert!(!self.dynamic, "a dynamic array's elements do not migrate: it cannot balance at sync");
        self.at_sync = true;
        self
    }

    /// Balances at sync points (as [`CollectionBuilder::at_sync`]) with
    /// `strategy`, whatever the job's `--balancer` says.
    #[track_caller]
    pub fn balancer(self, strategy: crate::lb::strategy::Strategy) -> Self
    where
        T: crate::object::Migratable,
    {
        let mut b = self.at_sync();
        b.balancer = Some(strategy);
        b
    }

    /// Makes the array dynamic (Charm4Py's `ckInsert`): elements can be
    /// inserted ([`CollectionProxy::insert`]) and deleted
    /// ([`CollectionProxy::delete`]) after creation, anywhere inside the
    /// shape, which bounds the indices. Its elements never migrate. See
    /// [`crate::dynamic`] for what broadcasts, reductions and messages in
    /// flight do meanwhile.
    #[track_caller]
    pub fn dynamic(mut self) -> Self {
        assert!(self.kind == CollKind::Array, "only arrays are dynamic");
        assert!(!self.at_sync, "a dynamic array's elements do not migrate: it cannot balance at sync");
        self.dynamic = true;
        self
    }

    /// Creates a dynamic array with no element yet (see
    /// [`CollectionBuilder::dynamic`]): insert them, then call
    /// [`CollectionProxy::done_inserting`].
    #[track_caller]
    pub fn create_empty(mut self) -> CollectionProxy<T> {
        self = self.dynamic();
        self.empty = true;
        let npes = with_pe(|pe| pe.shared.num_pes());
        let info = self.describe(npes);
        with_pe(|pe| {
            for target in info.pes() {
                pe.post(target, crate::dynamic::DynWire::CreateEmpty { desc: Box::new(info.desc()) });
            }
        });
        CollectionProxy::from_raw(CollRef { info, section: None })
    }

    /// Creates the collection; calls may be sent at once and are delivered
    /// once each element exists. `init` is cloned for every element.
    #[track_caller]
    pub fn create(self, init: T::Init) -> CollectionProxy<T> {
        self.start(init, None)
    }

    /// Creates the collection and returns a future of its proxy that is
    /// fulfilled once every element has been constructed.
    #[track_caller]
    pub fn create_awaitable(self, init: T::Init) -> impl std::future::Future<Output = CollectionProxy<T>> {
        let targets = match (&self.on_pes, &self.placement) {
            (Some(pes), _) => pes.len(),
            (None, Placement::OnPe(_)) => 1,
            _ => with_pe(|pe| pe.shared.num_pes()),
        };
        let (done, reply): (Future<()>, Reply) = Reply::new_counted(targets);
        let proxy = self.start(init, Some(reply));
        async move {
            done.await;
            proxy
        }
    }

    #[track_caller]
    fn start(self, init: T::Init, done: Option<Reply>) -> CollectionProxy<T> {
        let npes = with_pe(|pe| pe.shared.num_pes());
        if let Placement::OnPe(p) = self.placement {
            assert!(p < npes, "cannot place a chare on PE {p}: the job has {npes} PEs");
        }
        if let Some(pes) = &self.on_pes {
            if let Err(e) = check_group_pes(pes, npes) {
                panic!("cannot create a group of {} on PEs {pes:?}: {e}", T::NAME);
            }
        }
        let info = self.describe(npes);
        with_pe(|pe| {
            for target in info.pes() {
                pe.post(target, Create::<T> { info: info.clone(), init: init.clone(), done: done.clone() });
            }
        });
        CollectionProxy::from_raw(CollRef { info, section: None })
    }

    /// The new collection's id and description, registered on this PE (and,
    /// for a dynamic array, its membership: every element, or none).
    fn describe(self, npes: usize) -> Arc<CollInfo> {
        with_pe(|pe| {
            // Ids must be unique in the whole job: on the MPI layer every
            // process allocates its own, interleaved by PE.
            let k = pe.shared.next_coll.fetch_add(1, Ordering::Relaxed);
            let id = if pe.machine.is_local() { k } else { (k - 1) * npes as u32 + pe.id as u32 + 1 };
            let info = Arc::new(CollInfo {
                id,
                kind: self.kind,
                total: self.dims.iter().product(),
                dims: self.dims,
                placement: self.placement,
                npes,
                chare: T::NAME,
                migratable: T::MIGRATABLE && self.kind == CollKind::Array && !self.dynamic,
                at_sync: self.at_sync,
                balancer: self.balancer,
                dynamic: self.dynamic.then_some(pe.id),
                members: self.on_pes.map(|pes| {
                    let mut m: Vec<u32> = pes.iter().map(|&p| p as u32).collect();
                    m.sort_unstable();
                    m.into()
                }),
            });
            pe.shared.colls.lock().unwrap().insert(id, info.clone());
            if self.dynamic {
                crate::dynamic::root_created(pe, &info, !self.empty);
            }
            info
        })
    }
}

/// Why `pes` cannot be the PEs of a group in a job of `npes` PEs: empty,
/// a PE twice, or a PE the job does not have.
pub(crate) fn check_group_pes(pes: &[usize], npes: usize) -> Result<(), String> {
    if pes.is_empty() {
        return Err("the list of PEs is empty".to_string());
    }
    if let Some(&p) = pes.iter().find(|&&p| p >= npes) {
        return Err(format!("PE {p} does not exist: the job has {npes} PEs"));
    }
    let mut seen = vec![false; npes];
    for &p in pes {
        if std::mem::replace(&mut seen[p], true) {
            return Err(format!("PE {p} is listed twice"));
        }
    }
    Ok(())
}

/// Builds a single chare on a chosen PE, or on a PE the runtime picks.
/// Obtained from [`crate::Rt::chare`] and [`crate::Rt::chare_anywhere`].
///
/// The runtime's pick (Charm4Py's `Chare(W, onPE=-1)`) is round-robin from
/// the creating PE: the `k`-th chare (`k` = 0, 1, ..) that PE `p` creates
/// this way goes to PE `(p + 1 + k) mod P`. So one creator's chares spread
/// over every PE in a fixed order (the main task's: PE 1, 2, .., P-1, 0, 1,
/// ..), creators on different PEs start at different PEs, and a job places
/// them the same way on every run and on both machine layers (the counter
/// is the creating PE's own; nothing is asked of other PEs).
#[must_use = "the chare is created only by calling .create(..)"]
pub struct SingleBuilder<T: Chare> {
    inner: CollectionBuilder<T>,
    /// The PE is picked at creation (see the type's docs).
    anywhere: bool,
}

impl<T: Chare> SingleBuilder<T> {
    pub(crate) fn new(pe: usize) -> Self {
        SingleBuilder { inner: CollectionBuilder::array(Index::from(1)).map(Placement::OnPe(pe)), anywhere: false }
    }
    pub(crate) fn anywhere() -> Self {
        SingleBuilder { inner: CollectionBuilder::array(Index::from(1)), anywhere: true }
    }
    /// The builder of the one-element array, on its PE.
    fn placed(mut self) -> CollectionBuilder<T> {
        if self.anywhere {
            let pe = with_pe(|pe| {
                let k = pe.placed_anywhere.get();
                pe.placed_anywhere.set(k + 1);
                (pe.id + 1 + k % pe.shared.num_pes()) % pe.shared.num_pes()
            });
            self.inner.placement = Placement::OnPe(pe);
        }
        self.inner
    }
    /// Creates the chare.
    #[track_caller]
    pub fn create(self, init: T::Init) -> Proxy<T> {
        self.placed().create(init).elem(0)
    }
    /// Creates the chare; the future is fulfilled once it is constructed.
    #[track_caller]
    pub fn create_awaitable(self, init: T::Init) -> impl std::future::Future<Output = Proxy<T>> {
        let f = self.placed().create_awaitable(init);
        async move { f.await.elem(0) }
    }
}

/// The message that creates one PE's elements of a new collection.
struct Create<T: Chare> {
    info: Arc<CollInfo>,
    init: T::Init,
    done: Option<Reply>,
}

impl<T: Chare> Outgoing for Create<T> {
    fn into_msg(self) -> Msg {
        let Create { info, init, done } = self;
        Msg::Control(Box::new(move |pe: &Pe| create_local::<T>(pe, info, init, done)))
    }
    fn encode(&self, _out: &mut Vec<u8>) -> Result<Wire, String> {
        // Nested in the message: its `Buffer`s go inline, not as attachments.
        let init = crate::buffer::inline(|| crate::value::encode(&self.init))
            .map_err(|e| format!("creating {}: {e}", T::NAME))?;
        Ok(Wire::Create {
            chare: crate::registry::stable_id(T::PATH),
            desc: Box::new(self.info.desc_for_creation()),
            init,
            done: self.done.clone(),
        })
    }
}

/// Creates this PE's elements of a collection described in a message from
/// another process.
pub(crate) fn create_from_wire<T: Chare>(w: crate::registry::WireCreate<'_>) -> Result<(), String> {
    let info = w.desc.resolve()?;
    let init: T::Init = crate::value::decode(&w.init)?;
    if let Some((lin, start)) = w.only {
        if lin as usize >= info.total || info.dynamic.is_none() {
            return Err(format!("insertion of element #{lin} into collection {}", info.id));
        }
        crate::dynamic::insert_local::<T>(w.pe, info, lin, init, start);
        return Ok(());
    }
    create_local::<T>(w.pe, info, init, w.done);
    Ok(())
}

fn create_local<T: Chare>(pe: &Pe, info: Arc<CollInfo>, init: T::Init, done: Option<Reply>) {
    let mut elems = Vec::new();
    if info.kind == CollKind::Group {
        elems.push(Index::from(pe.id));
    } else {
        for lin in 0..info.total {
            let ix = Index::from_linear(lin, &info.dims);
            if info.pe_of(&ix) == pe.id {
                elems.push(ix);
            }
        }
    }
    for &ix in &elems {
        let ctx = Ctx::<T>::new(info.clone(), ix);
        let desc = crate::scheduler::TaskDesc { chare: T::NAME, index: ix, entry: "new", catch: None };
        let Some(obj) = pe.guard(desc, || T::construct(&ctx, init.clone())) else { return };
        if let Err(e) = pe.insert_chare(info.addr_of(&ix), Rc::new(ChareCell::new(obj, ctx))) {
            return pe.fail_usage(e);
        }
    }
    if info.at_sync {
        pe.lb_measure_idle(info.id);
    }
    if info.dynamic.is_some() {
        pe.chares.colls.borrow_mut().entry(info.id).or_default().dynamic = true;
    }
    let addrs = elems.iter().map(|ix| info.addr_of(ix)).collect();
    pe.collection_created(info.id, addrs);
    Reply::send_opt(done, ());
}

/// A placement as it travels between processes: a closure cannot, so a
/// custom placement is known by name only and must be registered locally.
#[derive(serde::Serialize, serde::Deserialize)]
enum PlacementDesc {
    Block,
    RoundRobin,
    OnPe(usize),
    /// A custom placement, known only where the collection was created.
    Custom,
    /// A custom placement evaluated for every element (creation messages).
    Table(Vec<u32>),
}

/// A collection's description as it travels inside proxies and creation
/// messages: enough to rebuild its [`CollInfo`] on a process that has not
/// seen the collection yet.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct CollDesc {
    id: CollId,
    kind: CollKind,
    dims: Vec<usize>,
    npes: usize,
    placement: PlacementDesc,
    chare: String,
    migratable: bool,
    at_sync: bool,
    balancer: Option<String>,
    dynamic: Option<usize>,
    /// A subset group's PEs.
    members: Option<Vec<u32>>,
}

impl CollInfo {
    /// The description sent in creation messages: a custom placement goes
    /// as the table of every element's PE.
    pub(crate) fn desc_for_creation(&self) -> CollDesc {
        let mut d = self.desc();
        if let Placement::Custom(_) = self.placement {
            let table = (0..self.total).map(|l| self.pe_of(&Index::from_linear(l, &self.dims)) as u32).collect();
            d.placement = PlacementDesc::Table(table);
        }
        d
    }

    pub(crate) fn desc(&self) -> CollDesc {
        CollDesc {
            id: self.id,
            kind: self.kind,
            dims: self.dims.clone(),
            npes: self.npes,
            placement: match &self.placement {
                Placement::Block => PlacementDesc::Block,
                Placement::RoundRobin => PlacementDesc::RoundRobin,
                Placement::OnPe(p) => PlacementDesc::OnPe(*p),
                Placement::Custom(_) => PlacementDesc::Custom,
                Placement::Table(t) => PlacementDesc::Table(t.to_vec()),
            },
            chare: self.chare.to_string(),
            migratable: self.migratable,
            at_sync: self.at_sync,
            balancer: self.balancer.map(|b| b.name().to_string()),
            dynamic: self.dynamic,
            members: self.members.as_ref().map(|m| m.to_vec()),
        }
    }
}

impl CollDesc {
    /// The collection's info on this PE: the registered one, or one rebuilt
    /// from the description (and registered). Checks the description, since
    /// it came from outside.
    pub(crate) fn resolve(self) -> Result<Arc<CollInfo>, String> {
        if self.id == 0 {
            return Ok(with_pe(|pe| pe.shared.main_info.clone()));
        }
        with_pe(|pe| {
            let mut colls = pe.shared.colls.lock().unwrap();
            if let Some(info) = colls.get(&self.id) {
                return Ok(info.clone());
            }
            let npes = pe.shared.num_pes();
            let total = self.dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d));
            let placement = match self.placement {
                PlacementDesc::Block => Placement::Block,
                PlacementDesc::RoundRobin => Placement::RoundRobin,
                PlacementDesc::OnPe(p) if p < npes => Placement::OnPe(p),
                PlacementDesc::OnPe(p) => return Err(format!("collection placed on PE {p} of {npes}")),
                PlacementDesc::Table(t) => {
                    if t.iter().any(|&p| p as usize >= npes) || Some(t.len()) != total {
                        return Err(format!("malformed placement table of collection {}", self.id));
                    }
                    Placement::Table(t.into())
                }
                PlacementDesc::Custom => {
                    return Err(format!(
                        "a proxy to collection {} ({}) with a custom placement arrived before the collection was created here",
                        self.id, self.chare
                    ))
                }
            };
            let ok_shape = !self.dims.is_empty()
                && self.dims.len() <= crate::index::MAX_DIMS
                && self.dims.iter().all(|&d| d > 0)
                && total.is_some_and(|t| t <= u32::MAX as usize);
            // A subset group's PEs: sorted, each once, PEs of the job.
            let ok_members = self.members.as_ref().is_none_or(|m| {
                self.kind == CollKind::Group
                    && !m.is_empty()
                    && m.windows(2).all(|w| w[0] < w[1])
                    && m.last().is_some_and(|&p| (p as usize) < npes)
            });
            if !ok_shape || !ok_members || self.npes != npes || self.dynamic.is_some_and(|r| r >= npes) {
                return Err(format!("malformed description of collection {}", self.id));
            }
            let info = Arc::new(CollInfo {
                id: self.id,
                kind: self.kind,
                total: total.unwrap_or(0),
                dims: self.dims,
                placement,
                npes,
                chare: Box::leak(self.chare.into_boxed_str()),
                migratable: self.migratable && self.kind == CollKind::Array && self.dynamic.is_none(),
                at_sync: self.at_sync && self.migratable,
                balancer: match self.balancer {
                    Some(b) => Some(crate::lb::strategy::Strategy::parse(&b)?),
                    None => None,
                },
                dynamic: self.dynamic.filter(|_| self.kind == CollKind::Array),
                members: self.members.map(Into::into),
            });
            colls.insert(info.id, info.clone());
            Ok(info)
        })
    }
}

#[cfg(test)]
mod duplicate_creation {
    use crate::prelude::*;
    use crate::{BroadcastOf, JobError};

    struct Elem;

    #[chare]
    impl Elem {
        fn new() -> Self {
            Elem
        }
        #[entry]
        fn touch(&mut self) {}
    }

    /// A creation message that arrives twice (as a duplicated message from
    /// another rank would) must not replace a live chare's cell.
    #[test]
    fn a_second_creation_of_an_element_is_refused() {
        let outcome = crate::Runtime::with_pes(1).run(|rt| async move {
            let a = rt.array::<Elem>(2).create_awaitable(()).await;
            let info = BroadcastOf::raw(&*a).info.clone();
            crate::scheduler::with_pe(|pe| super::create_local::<Elem>(pe, info, (), None));
            a.touch();
            std::future::pending::<()>().await;
        });
        match outcome {
            Err(JobError::Usage { message, .. }) => assert!(message.contains("created twice"), "{message}"),
            other => panic!("expected a usage error, got {other:?}"),
        }
    }
}

#[cfg(test)]
mod group_pes {
    use super::check_group_pes;

    #[test]
    fn a_subset_groups_pes_are_checked() {
        assert_eq!(check_group_pes(&[3, 1], 4), Ok(()));
        assert_eq!(check_group_pes(&[], 4), Err("the list of PEs is empty".to_string()));
        assert_eq!(check_group_pes(&[0, 2, 0], 4), Err("PE 0 is listed twice".to_string()));
        assert_eq!(check_group_pes(&[1, 4], 4), Err("PE 4 does not exist: the job has 4 PEs".to_string()));
    }
}
