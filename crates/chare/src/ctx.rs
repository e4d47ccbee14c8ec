//! The user API's entry points: [`Rt`] (what the main task gets, and what
//! every context dereferences to) and [`Ctx`] (an element's view of itself).

use crate::channel::Channel;
use crate::collection::{CollInfo, CollectionBuilder, SingleBuilder};
use crate::future::{Future, RawFuture};
use crate::index::Index;
use crate::machine::wire::Wire;
use crate::message::{Addr, Msg};
use crate::object::Chare;
use crate::proxy::{CollectionProxy, ElemRef, Proxy};
use crate::reduction::{self, Contribution, Delivery, Reducer, Target};
use crate::route::Outgoing;
use crate::scheduler::{with_pe, Pe};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::any::{Any, TypeId};
use std::cell::Cell;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

/// Handle to the running job, valid on any PE thread. The main task receives
/// one; a [`Ctx`] dereferences to one.
#[derive(Clone)]
pub struct Rt {
    me: Addr,
    index: Index,
    info: Arc<CollInfo>,
}

impl Rt {
    pub(crate) fn main(info: Arc<CollInfo>) -> Rt {
        Rt { me: Addr { coll: 0, lin: 0 }, index: Index::from(0), info }
    }

    /// The PE running the caller.
    pub fn my_pe(&self) -> usize {
        with_pe(|pe| pe.id)
    }

    /// Number of PEs in the job.
    pub fn num_pes(&self) -> usize {
        with_pe(|pe| pe.shared.num_pes())
    }

    /// Name of the machine layer (`local`).
    pub fn layer(&self) -> &'static str {
        with_pe(|pe| pe.machine.name())
    }

    /// The host (node) of the calling PE, numbered `0..num_hosts()` in the
    /// order of each host's first PE (Charm4Py's `charm.myHost()`). On the
    /// local layer every PE is on host 0; on the MPI layer ranks are grouped
    /// by host name (gathered once at start).
    pub fn my_host(&self) -> usize {
        with_pe(|pe| pe.machine.pe_hosts().map_or(0, |h| h[pe.id]))
    }

    /// Number of hosts the job runs on (`charm.numHosts()`).
    pub fn num_hosts(&self) -> usize {
        with_pe(|pe| pe.machine.pe_hosts().map_or(1, |h| h.iter().max().map_or(1, |m| m + 1)))
    }

    /// The host of PE `p` (`charm.getPeHost(p)`). Panics if there is no PE `p`.
    #[track_caller]
    pub fn pe_host(&self, p: usize) -> usize {
        let n = self.num_pes();
        assert!(p < n, "PE {p} does not exist: the job has {n} PEs");
        with_pe(|pe| pe.machine.pe_hosts().map_or(0, |h| h[p]))
    }

    /// The PEs on host `h`, in increasing order (`charm.getHostPes(h)`);
    /// empty if there is no host `h`.
    pub fn host_pes(&self, h: usize) -> Vec<usize> {
        with_pe(|pe| match pe.machine.pe_hosts() {
            None => {
                if h == 0 {
                    (0..pe.shared.num_pes()).collect()
                } else {
                    Vec::new()
                }
            }
            Some(hosts) => (0..hosts.len()).filter(|&p| hosts[p] == h).collect(),
        })
    }

    /// The task pool (Charm4Py's `charm.pool`): `map`, `map_async` and
    /// single `task`s on every PE (see [`crate::Pool`]).
    pub fn pool(&self) -> crate::Pool {
        crate::Pool::default()
    }

    /// A new future owned by the calling PE.
    pub fn future<T: Serialize + DeserializeOwned + Send + 'static>(&self) -> Future<T> {
        Future::new_here(1)
    }

    /// A new future owned by the calling PE that `n` sends fulfil
    /// (Charm4Py's `Future(num_vals=n)`); awaiting it gives the `n` values
    /// in arrival order. Panics if `n` is 0. See [`crate::MultiFuture`].
    #[track_caller]
    pub fn future_n<T: Serialize + DeserializeOwned + Send + 'static>(&self, n: usize) -> crate::MultiFuture<T> {
        crate::MultiFuture::new_here(n)
    }

    /// Starts building an array of `T` with the given shape (`n`, `(n, m)`,
    /// `[n, m, k]`, ...): `rt.array::<W>([4, 4]).create((arg,))`.
    #[track_caller]
    pub fn array<T: Chare>(&self, dims: impl Into<Index>) -> CollectionBuilder<T> {
        CollectionBuilder::array(dims.into())
    }

    /// Starts building a group of `T`: one element per PE, element `i` on PE `i`.
    pub fn group<T: Chare>(&self) -> CollectionBuilder<T> {
        CollectionBuilder::group(self.num_pes())
    }

    /// Starts building a single chare of `T` on PE `pe`.
    pub fn chare<T: Chare>(&self, pe: usize) -> SingleBuilder<T> {
        SingleBuilder::new(pe)
    }

    /// Starts building a single chare of `T` on a PE the runtime picks
    /// (Charm4Py's `Chare(W, onPE=-1)`): round-robin from the calling PE,
    /// so the `k`-th chare created this way on PE `p` goes to PE
    /// `(p + 1 + k) mod P` (see [`SingleBuilder`]). `proxy.pe()` tells
    /// where it went.
    pub fn chare_anywhere<T: Chare>(&self) -> SingleBuilder<T> {
        SingleBuilder::anywhere()
    }

    /// Broadcasts read-only data to every PE; the future completes when every
    /// PE has it. Read it anywhere with [`Rt::readonly`].
    pub fn set_readonly<T: Serialize + DeserializeOwned + Send + Sync + 'static>(&self, value: T) -> Future<()> {
        let npes = self.num_pes();
        let (done, reply) = crate::future::Reply::new_counted(npes);
        let value = Arc::new(value);
        with_pe(|pe| {
            for to in 0..npes {
                pe.post(to, SetReadonly { value: value.clone(), reply: reply.clone() });
            }
        });
        done
    }

    /// The read-only value of type `T`. Panics if it was never set.
    #[track_caller]
    pub fn readonly<T: Serialize + DeserializeOwned + Send + Sync + 'static>(&self) -> Arc<T> {
        let v = with_pe(|pe| {
            if let Some(v) = pe.readonly.borrow().get(&TypeId::of::<T>()) {
                return Some(v.clone());
            }
            // From another process: decode once, on first use.
            let bytes = pe.readonly_bytes.borrow().get(&readonly_key::<T>()).cloned()?;
            let v: Arc<dyn Any + Send + Sync> = match crate::value::decode::<T>(&bytes) {
                Ok(v) => Arc::new(v),
                Err(e) => panic!("read-only value: {e}"),
            };
            pe.readonly.borrow_mut().insert(TypeId::of::<T>(), v.clone());
            Some(v)
        });
        match v {
            Some(v) => v.downcast::<T>().expect("readonly entry has its type"),
            None => panic!(
                "read-only value of type {} was not set (call set_readonly first and await it)",
                std::any::type_name::<T>()
            ),
        }
    }

    /// A future fulfilled when the job is quiescent: every PE idle and no
    /// message in flight (Charm4Py's `waitQD`).
    pub fn wait_quiescence(&self) -> Future<()> {
        let f = Future::<()>::new_here(1);
        let raw = f.raw();
        with_pe(|pe| pe.post(0, crate::quiescence::QdRegister(raw)));
        f
    }

    /// Starts quiescence detection and returns at once (Charm4Py's
    /// `charm.startQD(callback)`): at the next quiescence (every PE idle, no
    /// message in flight) `target` is told. `target` is a `Future<()>`, an
    /// entry method's callback taking `()` (`proxy.elem(i).m_callback()`,
    /// or `coll.m_callback()`: a broadcast), or [`crate::ExitJob`]`(code)`,
    /// which ends the job there.
    ///
    /// A callback or `ExitJob` is kept by a small task of the calling PE that
    /// waits for quiescence and then makes the call (a `Callback` cannot
    /// travel to PE 0, where quiescence is detected).
    pub fn start_quiescence(&self, target: impl Into<crate::reduction::Target<()>>) {
        let qd = self.wait_quiescence();
        let call: Box<dyn FnOnce()> = match target.into() {
            crate::reduction::Target::Future(f) => Box::new(move || f.set(())),
            crate::reduction::Target::Callback(cb) => Box::new(move || cb.send(())),
            crate::reduction::Target::Exit(code) => Box::new(move || with_pe(|pe| pe.shared.finish(Ok(code)))),
        };
        let task = async move {
            qd.await;
            call();
        };
        let desc = crate::scheduler::TaskDesc {
            chare: "quiescence",
            index: Index::from(0),
            entry: "start_quiescence",
            catch: None,
        };
        with_pe(|pe| pe.spawn(Box::pin(task), None, desc, crate::scheduler::TaskKind::Entry));
    }

    /// A future that completes `delay` from now (Charm4Py's `charm.sleep`
    /// in a coroutine). Awaiting it suspends only the awaiting task: the PE
    /// handles other messages and runs other entry methods meanwhile (in an
    /// exclusive `async` entry the chare itself stays held; in a
    /// `#[entry(reentrant)]` one its other entries run too). It completes
    /// no earlier than `delay` from now.
    ///
    /// A pending sleep counts as work to come: the job is not quiescent,
    /// and not deadlocked, while it waits (see [`Rt::schedule_after`]).
    /// Panics if `delay` overflows the clock.
    #[track_caller]
    pub fn sleep(&self, delay: std::time::Duration) -> crate::Sleep {
        crate::Sleep::until(crate::timer::deadline_after(delay))
    }

    /// [`Rt::sleep`] until `deadline` (at once if it has passed).
    pub fn sleep_until(&self, deadline: std::time::Instant) -> crate::Sleep {
        crate::Sleep::until(deadline)
    }

    /// Runs `f` on the calling PE `delay` from now (Charm4Py's
    /// `charm.scheduleCallableAfter(f, secs, args)`: capture the arguments
    /// in the closure). It runs between two messages, as an entry method
    /// does, no earlier than `delay` from now; closures whose delays end at
    /// the same instant run in the order they were scheduled. A panic in
    /// `f` ends the job (reported as `timer[0].schedule_after`).
    ///
    /// Quiescence detection waits for pending timers (unlike Charm++'s): a
    /// PE holding one is not idle, so `wait_quiescence` completes after the
    /// closure ran, and a job whose only work left is a timer waits for it
    /// instead of being reported as deadlocked. Panics if `delay` overflows
    /// the clock.
    #[track_caller]
    pub fn schedule_after(&self, delay: std::time::Duration, f: impl FnOnce() + 'static) {
        crate::timer::schedule_after(delay, Box::new(f));
    }

    /// Statistics of every PE (Charm4Py's `charm.printStats()`): messages
    /// sent and handled, chares, suspended tasks, timers, migrations and
    /// balancing steps, each PE's taken when it handles the request. See
    /// [`crate::Stats`]; [`Rt::print_stats`] prints them.
    pub fn stats(&self) -> impl std::future::Future<Output = crate::Stats> {
        let all = crate::stats::gather();
        async move { crate::Stats { pes: all.await } }
    }

    /// Prints [`Rt::stats`] as a table on stdout, one row per PE and a total.
    pub fn print_stats(&self) -> impl std::future::Future<Output = ()> {
        let stats = self.stats();
        async move {
            print!("{}", stats.await);
        }
    }

    /// The load-balancing steps taken so far, oldest first (kept on PE 0,
    /// where the main task runs; empty on other PEs). See [`crate::lb`].
    pub fn lb_steps(&self) -> Vec<crate::lb::LbStep> {
        with_pe(|pe| pe.lb.steps.borrow().clone())
    }

    /// Ends the job on every PE with exit code `code`.
    pub fn exit(&self, code: i32) {
        with_pe(|pe| pe.shared.finish(Ok(code)));
    }

    /// Ends the job with an error message naming this PE.
    pub fn abort(&self, message: &str) {
        with_pe(|pe| pe.shared.finish(Err(crate::JobError::Abort { pe: pe.id, message: message.to_string() })));
    }

    pub(crate) fn addr(&self) -> Addr {
        self.me
    }
}

/// Read-only data for one PE.
struct SetReadonly<T> {
    value: Arc<T>,
    reply: crate::future::Reply,
}

impl<T: Serialize + Send + Sync + 'static> Outgoing for SetReadonly<T> {
    fn into_msg(self) -> Msg {
        let SetReadonly { value, reply } = self;
        Msg::Control(Box::new(move |pe: &Pe| {
            let value: Arc<dyn Any + Send + Sync> = value;
            pe.readonly.borrow_mut().insert(TypeId::of::<T>(), value);
            crate::future::Reply::send_opt(Some(reply), ());
        }))
    }
    fn encode(&self, _out: &mut Vec<u8>) -> Result<Wire, String> {
        // Nested in the message: its `Buffer`s go inline, not as attachments.
        let value = crate::buffer::inline(|| crate::value::encode(&*self.value))
            .map_err(|e| format!("read-only value: {e}"))?;
        Ok(Wire::Readonly { key: readonly_key::<T>(), value, done: self.reply.clone() })
    }
}

/// The key of a read-only value's type, the same in every process.
fn readonly_key<T>() -> u64 {
    crate::registry::stable_id(std::any::type_name::<T>())
}

/// An element's context: who it is, and the runtime. Every entry method and
/// constructor may take `ctx: &Ctx<Self>`. Dereferences to [`Rt`].
pub struct Ctx<T: Chare> {
    rt: Rt,
    /// Sequence number of this element's next reduction contribution.
    red_seq: Cell<u64>,
    /// The PE this element was asked to move to (it moves once no entry of
    /// it runs).
    move_to: Cell<Option<usize>>,
    /// The element calls `resume_from_sync` on arrival.
    resume_on_arrival: Cell<bool>,
    /// The element is to be deleted once no entry of it runs.
    deleting: Cell<bool>,
    /// This element's collection, lent by [`Ctx::proxy`]: made once, so
    /// that `ctx.proxy().elem(i)` clones the collection's `Arc` once, not
    /// twice (each clone and drop is an atomic read-modify-write on a count
    /// that every PE sending to the collection writes).
    proxy: CollectionProxy<T>,
    _t: PhantomData<fn() -> T>,
}

impl<T: Chare> Deref for Ctx<T> {
    type Target = Rt;
    fn deref(&self) -> &Rt {
        &self.rt
    }
}

impl<T: Chare> Ctx<T> {
    pub(crate) fn new(info: Arc<CollInfo>, index: Index) -> Ctx<T> {
        let me = info.addr_of(&index);
        let proxy = CollectionProxy::from_raw(crate::proxy::CollRef { info: info.clone(), section: None });
        Ctx {
            rt: Rt { me, index, info },
            red_seq: Cell::new(0),
            move_to: Cell::new(None),
            resume_on_arrival: Cell::new(false),
            deleting: Cell::new(false),
            proxy,
            _t: PhantomData,
        }
    }

    pub(crate) fn addr(&self) -> Addr {
        self.rt.me
    }

    pub(crate) fn info(&self) -> &Arc<CollInfo> {
        &self.rt.info
    }

    /// Asks for the element's deletion once no entry of it runs.
    pub(crate) fn request_delete(&self) {
        self.deleting.set(true)
    }

    /// Whether a deletion was asked for (and clears the request).
    #[inline]
    pub(crate) fn take_deleting(&self) -> bool {
        self.deleting.replace(false)
    }

    pub(crate) fn red_seq(&self) -> u64 {
        self.red_seq.get()
    }

    pub(crate) fn set_red_seq(&self, s: u64) {
        self.red_seq.set(s)
    }

    /// Whether the element's entry time is measured (at-sync collections).
    #[inline]
    pub(crate) fn measured(&self) -> bool {
        self.rt.info.at_sync
    }

    /// Whether the element is about to move: calls wait and travel with it.
    #[inline]
    pub(crate) fn moving(&self) -> bool {
        self.move_to.get().is_some()
    }

    /// The requested destination, taken (the move is being made).
    pub(crate) fn take_move(&self) -> Option<(usize, bool)> {
        self.move_to.take().map(|pe| (pe, self.resume_on_arrival.replace(false)))
    }

    /// Asks the element to move to `pe` (by the load balancer: with its
    /// `resume_from_sync` on arrival).
    pub(crate) fn request_move(&self, pe: usize, resume: bool) {
        self.move_to.set(Some(pe));
        self.resume_on_arrival.set(resume);
    }

    /// Tells the load balancer that this element reached a sync point
    /// (Charm4Py's `AtSync()`): once every element of the collection has,
    /// the balancer measures, may move elements, and calls each element's
    /// `resume_from_sync` entry (where it is then). Only for collections
    /// created with [`CollectionBuilder::at_sync`]; calling it twice in one
    /// period counts once.
    #[track_caller]
    pub fn at_sync(&self) {
        assert!(
            self.rt.info.at_sync,
            "at_sync on {}[{}], whose collection was not created with .at_sync()",
            T::NAME,
            self.index()
        );
        let addr = self.addr();
        with_pe(|pe| crate::lb::at_sync(pe, addr));
    }

    /// This element's index.
    pub fn index(&self) -> Index {
        self.rt.index
    }

    /// Moves this element to PE `pe` (Charm4Py's `migrate(toPe)`). The move
    /// happens once the running entry method returns (an async entry: once it
    /// finishes; a suspended reentrant entry: once it returns, calls running
    /// meanwhile); calls that reach the element while the move is due wait
    /// and move with it, and its `fn migrated(&mut self, ctx)` hook (if it
    /// has one) runs on arrival. Messages to it are forwarded and keep each sender's order.
    /// Panics if `pe` is not a PE of the job. Moving to its own PE does
    /// nothing.
    #[track_caller]
    pub fn migrate(&self, pe: usize)
    where
        T: crate::object::Migratable,
    {
        let npes = self.num_pes();
        assert!(
            self.rt.info.migratable,
            "cannot migrate {}[{}]: only elements of (non-dynamic) arrays migrate",
            T::NAME,
            self.index()
        );
        assert!(pe < npes, "cannot migrate {}[{}] to PE {pe}: the job has {npes} PEs", T::NAME, self.index());
        if pe != self.my_pe() {
            self.request_move(pe, false);
        }
    }

    /// Proxy to this element's whole collection (Charm4Py's `thisProxy`),
    /// lent: `ctx.proxy().elem(i).m(..)` and `ctx.proxy().m(..)` need no
    /// copy of it; `.clone()` gives one to keep or send.
    pub fn proxy(&self) -> &CollectionProxy<T> {
        &self.proxy
    }

    /// Proxy to this element.
    pub fn this(&self) -> Proxy<T> {
        Proxy::from_raw(ElemRef { info: self.rt.info.clone(), index: self.index() })
    }

    /// Opens the next channel to `peer`. The n-th channel this element opens
    /// to `peer` this way pairs with the n-th channel `peer` opens to this
    /// element this way. When the two sides would open several channels in
    /// different orders (a ring of two, where the left and right neighbour
    /// are the same element), use [`Ctx::channel_on`] instead.
    pub fn channel_to<U: Chare, V: Serialize + DeserializeOwned + Send + 'static>(
        &self,
        peer: &Proxy<U>,
    ) -> Channel<V> {
        let raw = peer.raw();
        Channel::open(self.rt.addr(), raw.index, raw.info.clone())
    }

    /// Opens the channel to `peer` on `port` (0 ..= 2^31 - 1; larger panics):
    /// it pairs with the channel `peer` opens to this element on the same
    /// port, in whatever order either side opens its channels. Opening a
    /// port twice gives two handles on one channel. Ports never pair with
    /// [`Ctx::channel_to`]'s counted channels.
    pub fn channel_on<U: Chare, V: Serialize + DeserializeOwned + Send + 'static>(
        &self,
        peer: &Proxy<U>,
        port: u32,
    ) -> Channel<V> {
        let raw = peer.raw();
        Channel::open_port(self.rt.addr(), raw.index, raw.info.clone(), port)
    }

    /// Contributes `value` to this collection's next reduction with operation
    /// `op`; the result goes to `target` (a `Future` or a `Callback`).
    pub fn contribute<V: 'static, R: Reducer<V>>(&self, value: V, op: R, target: impl Into<Target<R::Out>>) {
        self.contribute_with(value, op, reduction::delivery_of(target.into()));
    }

    /// Contributes to a reduction whose result every contributor receives.
    pub fn allreduce<V: 'static, R: Reducer<V>>(&self, value: V, op: R) -> Future<R::Out> {
        let f = Future::<R::Out>::new_here(1);
        let raw: RawFuture = f.raw();
        self.contribute_with(value, op, Delivery::All(vec![raw]));
        f
    }

    /// Contributes `value` to the next reduction of `section`, of which this
    /// element must be a member (Charm4Py's `contribute(.., section)`): a
    /// member's k-th contribution to a section belongs to the section's
    /// reduction k, which completes once every member contributed to it,
    /// wherever the members have moved meanwhile. The result goes to `target`.
    /// Panics if this element is not a member.
    #[track_caller]
    pub fn section_contribute<V: 'static, R: Reducer<V>>(
        &self,
        section: &crate::Section<T>,
        value: V,
        op: R,
        target: impl Into<Target<R::Out>>,
    ) {
        self.section_contribute_with(section, value, op, reduction::delivery_of(target.into()));
    }

    /// Contributes to a reduction over `section` whose result every member
    /// receives (see [`Ctx::section_contribute`]).
    #[track_caller]
    pub fn section_allreduce<V: 'static, R: Reducer<V>>(
        &self,
        section: &crate::Section<T>,
        value: V,
        op: R,
    ) -> Future<R::Out> {
        let f = Future::<R::Out>::new_here(1);
        let raw: RawFuture = f.raw();
        self.section_contribute_with(section, value, op, Delivery::All(vec![raw]));
        f
    }

    #[track_caller]
    fn section_contribute_with<V: 'static, R: Reducer<V>>(
        &self,
        section: &crate::Section<T>,
        value: V,
        op: R,
        d: Delivery,
    ) {
        let sec = section.info();
        let me = self.addr();
        assert!(
            section.raw().info.id == self.rt.info.id && sec.members.binary_search(&me.lin).is_ok(),
            "{}[{}] contributes to section {}, of which it is not a member",
            T::NAME,
            self.index(),
            sec.id
        );
        let seq = with_pe(|pe| pe.streams.next(me, crate::section::seq_key(sec.id))) as u64;
        if let Some(mut c) = Contribution::new(sec.id, seq, sec.members.len(), sec.root, self.index(), value, op, d) {
            let info = &self.rt.info;
            if info.migratable || info.dynamic.is_some() {
                c.keep = true;
                if seq == 0 && info.dynamic.is_some() {
                    c.dyn_section = Some((info.id, section.info().clone()));
                }
                with_pe(|pe| reduction::contribute_direct(pe, c));
            } else {
                with_pe(|pe| reduction::contribute_combined(pe, c, sec.members_on(info, pe.id)));
            }
        }
    }

    fn contribute_with<V: 'static, R: Reducer<V>>(&self, value: V, op: R, d: Delivery) {
        let seq = self.red_seq.get();
        self.red_seq.set(seq + 1);
        let info = &self.rt.info;
        let root = info.reduction_root();
        // None: the check mode found a partial that cannot travel (the job ends).
        if let Some(mut c) = Contribution::new(info.id, seq, info.count(), root, self.index(), value, op, d) {
            // The root may hold no element: keep the combiner (see `reduction::hand_off`).
            c.keep = info.migratable || info.dynamic.is_some();
            with_pe(|pe| reduction::contribute_local(pe, c));
        }
    }
}
