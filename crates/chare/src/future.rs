//! Futures: a value that some chare will provide later.
//!
//! A [`Future`] is a small handle (owning PE, id) that can be cloned and sent
//! in messages. The value lives in a slot on the PE that created the future;
//! `set` sends it there from anywhere; `.await` on the creating PE takes it.
//!
//! Rules:
//! * a future is fulfilled once; a second fulfilment ends the job with an
//!   error naming the future (a broadcast's `_ret` future instead counts down
//!   one fulfilment per element);
//! * it is awaited by one awaiter (the value moves out). On the PE that
//!   created it the value is taken from its slot; on another PE (a future
//!   kept in a chare that migrated, or passed along) the first poll asks the
//!   owner to forward the value to a slot of the awaiting PE;
//! * fulfilled slots stay as small tombstones so that a late second
//!   fulfilment is still recognised.

use crate::error::EntryError;
use crate::message::{Msg, Payload};
use crate::scheduler::{with_pe, Pe, WaitOn};
use crate::value::Body;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// The owner-side state of one future.
pub(crate) struct FutureSlot {
    /// Fulfilments still expected (1 for plain futures).
    remaining: usize,
    value: Option<Body>,
    waker: Option<Waker>,
    /// The value was taken by an awaiter.
    taken: bool,
    /// An awaiter on another PE: the value goes there once complete.
    forward: Option<RawFuture>,
    /// How fulfilments become the value (futures of `_try_ret`, `_all_ret`,
    /// `_try_all_ret`); None: the fulfilment is the value.
    collect: Option<Box<dyn Collect>>,
}

/// Untyped future handle.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, serde::Serialize, serde::Deserialize)]
pub struct RawFuture {
    pub(crate) pe: usize,
    pub(crate) id: u64,
}

impl RawFuture {
    /// A new future owned by the calling PE, expecting `count` fulfilments.
    pub(crate) fn new_on(pe: &Pe, count: usize) -> RawFuture {
        Self::collecting_on(pe, count, None)
    }

    /// A new future whose fulfilments `collect` turns into its value.
    fn collecting_on(pe: &Pe, count: usize, collect: Option<Box<dyn Collect>>) -> RawFuture {
        let id = pe.next_future.get();
        pe.next_future.set(id + 1);
        pe.futures.borrow_mut().insert(
            id,
            FutureSlot { remaining: count, value: None, waker: None, taken: false, forward: None, collect },
        );
        RawFuture { pe: pe.id, id }
    }

    pub(crate) fn set_any(&self, value: Payload) {
        let (pe, id) = (self.pe, self.id);
        with_pe(|me| me.post(pe, Msg::Future { id, value }));
    }
}

/// Applies a fulfilment on the owning PE.
pub(crate) fn fulfil(pe: &Pe, id: u64, value: Body) {
    // A collecting future: the value joins the others, decoded outside the
    // table's borrow (a value's `Deserialize` may use the runtime).
    let collect = match pe.futures.borrow_mut().get_mut(&id) {
        Some(slot) if slot.remaining > 0 => slot.collect.take(),
        _ => None,
    };
    let value = match collect {
        None => Some(value),
        Some(mut c) => {
            let added = c.add(value);
            let mut futs = pe.futures.borrow_mut();
            let slot = futs.get_mut(&id).expect("a collecting future stays in its table");
            if let Err(e) = added {
                drop(futs);
                return pe.fail_usage(format!("future #{id} of PE {}: {e}", pe.id));
            }
            let last = slot.remaining == 1;
            let v = last.then(|| c.finish());
            slot.collect = Some(c);
            if !last {
                slot.remaining -= 1;
                return;
            }
            v
        }
    };
    let waker = {
        let mut futs = pe.futures.borrow_mut();
        let Some(slot) = futs.get_mut(&id) else {
            drop(futs);
            pe.fail_usage(format!("future #{id} of PE {} is unknown", pe.id));
            return;
        };
        if slot.remaining == 0 {
            drop(futs);
            pe.fail_usage(format!("future #{id} of PE {} was fulfilled twice", pe.id));
            return;
        }
        slot.remaining -= 1;
        slot.value = value;
        if slot.remaining == 0 {
            if let Some(to) = slot.forward {
                slot.taken = true;
                let v = slot.value.take().expect("just set");
                drop(futs);
                return send_body(pe, to, v);
            }
            slot.waker.take()
        } else {
            None
        }
    };
    if let Some(w) = waker {
        w.wake();
    }
}

/// Sends a complete future's value to the slot `to` (an awaiter elsewhere).
fn send_body(pe: &Pe, to: RawFuture, v: Body) {
    match v {
        Body::Obj(value) => pe.post(to.pe, Msg::Future { id: to.id, value }),
        Body::Bytes(enc) => pe.post(to.pe, ForwardedBytes { id: to.id, enc }),
    }
}

/// A future's value that arrived as bytes, on to another PE.
struct ForwardedBytes {
    id: u64,
    enc: crate::value::Encoded,
}

impl crate::route::Outgoing for ForwardedBytes {
    fn into_msg(self) -> Msg {
        Msg::FutureBytes(Box::new((self.id, self.enc)))
    }
    fn encode(&self, out: &mut Vec<u8>) -> Result<crate::machine::wire::Wire, String> {
        out.extend_from_slice(&self.enc.bytes);
        for raw in &self.enc.att {
            crate::buffer::reattach(raw);
        }
        Ok(crate::machine::wire::Wire::Future { id: self.id })
    }
}

/// Asks the owner of future `id` to send its value to `to`.
pub(crate) struct ForwardFuture {
    pub id: u64,
    pub to: RawFuture,
}

impl crate::route::Outgoing for ForwardFuture {
    fn into_msg(self) -> Msg {
        let ForwardFuture { id, to } = self;
        Msg::Control(Box::new(move |pe: &Pe| forward_to(pe, id, to)))
    }
    fn encode(&self, _out: &mut Vec<u8>) -> Result<crate::machine::wire::Wire, String> {
        Ok(crate::machine::wire::Wire::ForwardFuture { id: self.id, to: self.to })
    }
}

/// On the owner: the awaiter of future `id` is the slot `to` elsewhere.
pub(crate) fn forward_to(pe: &Pe, id: u64, to: RawFuture) {
    let mut futs = pe.futures.borrow_mut();
    let Some(slot) = futs.get_mut(&id) else {
        drop(futs);
        return pe.fail_usage(format!("future #{id} of PE {} is unknown", pe.id));
    };
    if slot.taken || slot.forward.is_some() {
        drop(futs);
        return pe.fail_usage(format!("future #{id} of PE {} was awaited twice", pe.id));
    }
    if slot.remaining == 0 {
        slot.taken = true;
        let v = slot.value.take().expect("a complete future has its value");
        drop(futs);
        send_body(pe, to, v);
    } else {
        slot.forward = Some(to);
    }
}

/// A value that will be provided later, possibly by another PE.
///
/// Create with `rt.future()` / `ctx.future()`, pass it in entry calls, fulfil
/// with [`Future::set`], and `.await` it (once) anywhere: on the PE that
/// created it, or on another PE, to which its owner then forwards the value.
#[must_use = "a future does nothing unless it is awaited or passed on"]
pub struct Future<T> {
    raw: RawFuture,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Future<T> {
    fn clone(&self) -> Self {
        Future { raw: self.raw, _t: PhantomData }
    }
}

impl<T> Future<T> {
    /// Untyped handle.
    pub fn raw(&self) -> RawFuture {
        self.raw
    }
}

impl<T> fmt::Debug for Future<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Future(#{} on PE {})", self.raw.id, self.raw.pe)
    }
}

impl<T: Serialize + DeserializeOwned + Send + 'static> Future<T> {
    pub(crate) fn new_here(count: usize) -> Future<T> {
        let raw = with_pe(|pe| RawFuture::new_on(pe, count));
        Future { raw, _t: PhantomData }
    }

    /// Fulfils the future. Fulfilling a future twice ends the job with an error.
    pub fn set(&self, value: T) {
        let raw = self.raw;
        if let Some(value) = crate::value::checked(value, || format!("future #{} of PE {}", raw.id, raw.pe)) {
            raw.set_any(Box::new(value));
        }
    }

    /// Whether the value has arrived (only meaningful on the owning PE).
    pub fn is_ready(&self) -> bool {
        with_pe(|pe| {
            pe.id == self.raw.pe && pe.futures.borrow().get(&self.raw.id).is_some_and(|s| s.remaining == 0 && !s.taken)
        })
    }
}

impl<T: DeserializeOwned + Send + 'static> std::future::Future for Future<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let raw = self.raw;
        with_pe(|pe| {
            let raw = if pe.id == raw.pe {
                raw
            } else {
                // Awaited away from its owner: the owner forwards the value to
                // a slot here (asked once, at the first poll).
                let local = *pe.future_redirects.borrow_mut().entry(raw).or_insert_with(|| {
                    let local = RawFuture::new_on(pe, 1);
                    pe.post(raw.pe, ForwardFuture { id: raw.id, to: local });
                    local
                });
                local
            };
            let mut futs = pe.futures.borrow_mut();
            let slot = futs.get_mut(&raw.id).expect("future slot exists on its owner");
            if slot.remaining == 0 {
                match slot.value.take() {
                    Some(v) => {
                        slot.taken = true;
                        match v.take::<T>() {
                            Ok(v) => Poll::Ready(v),
                            Err(e) => panic!("future #{}: {e}", raw.id),
                        }
                    }
                    None => panic!("future #{} was already awaited: its value was taken", raw.id),
                }
            } else {
                slot.waker = Some(cx.waker().clone());
                drop(futs);
                pe.note_wait(WaitOn::Future { pe: raw.pe, id: raw.id });
                Poll::Pending
            }
        })
    }
}

impl<T> Unpin for Future<T> {}

impl<T> serde::Serialize for Future<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de, T> serde::Deserialize<'de> for Future<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Future { raw: RawFuture::deserialize(d)?, _t: PhantomData })
    }
}

/// A future fulfilled by `n` sends (Charm4Py's `Future(num_vals=n)`):
/// awaiting it gives the `n` values **in the order they arrived** at the
/// owning PE (not by sender).
///
/// Create with `rt.future_n::<T>(n)` / `ctx.future_n::<T>(n)`; clone it,
/// pass it in messages, and have each sender call [`MultiFuture::set`]
/// once. A send beyond the `n`-th ends the job with an error, as a second
/// `set` of a plain future does. It is awaited once, anywhere (the owner
/// forwards the values).
#[must_use = "a future does nothing unless it is awaited or passed on"]
pub struct MultiFuture<T> {
    raw: RawFuture,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> Clone for MultiFuture<T> {
    fn clone(&self) -> Self {
        MultiFuture { raw: self.raw, _t: PhantomData }
    }
}

impl<T> fmt::Debug for MultiFuture<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MultiFuture(#{} on PE {})", self.raw.id, self.raw.pe)
    }
}

impl<T: Serialize + DeserializeOwned + Send + 'static> MultiFuture<T> {
    /// A new future owned by the calling PE, complete after `n` sends.
    #[track_caller]
    pub(crate) fn new_here(n: usize) -> MultiFuture<T> {
        assert!(n > 0, "a multi-value future needs at least one value (n = 0)");
        let collect: Box<dyn Collect> = Box::new(Arrivals::<T> { got: Vec::with_capacity(n.min(1 << 16)) });
        let raw = with_pe(|pe| RawFuture::collecting_on(pe, n, Some(collect)));
        MultiFuture { raw, _t: PhantomData }
    }

    /// Sends one of the `n` values.
    pub fn set(&self, value: T) {
        let raw = self.raw;
        if let Some(value) = crate::value::checked(value, || format!("future #{} of PE {}", raw.id, raw.pe)) {
            raw.set_any(Box::new(value));
        }
    }

    /// Whether all `n` values have arrived (only meaningful on the owning PE).
    pub fn is_ready(&self) -> bool {
        Future::<Vec<T>> { raw: self.raw, _t: PhantomData }.is_ready()
    }

    /// Untyped handle.
    pub fn raw(&self) -> RawFuture {
        self.raw
    }
}

impl<T: Serialize + DeserializeOwned + Send + 'static> std::future::Future for MultiFuture<T> {
    type Output = Vec<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Vec<T>> {
        Pin::new(&mut Future::<Vec<T>> { raw: self.raw, _t: PhantomData }).poll(cx)
    }
}

impl<T> Unpin for MultiFuture<T> {}

impl<T> serde::Serialize for MultiFuture<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw.serialize(s)
    }
}

impl<'de, T> serde::Deserialize<'de> for MultiFuture<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(MultiFuture { raw: RawFuture::deserialize(d)?, _t: PhantomData })
    }
}

/// A multi-value future's values, in arrival order.
struct Arrivals<T> {
    got: Vec<T>,
}

impl<T: Serialize + DeserializeOwned + Send + 'static> Collect for Arrivals<T> {
    fn add(&mut self, v: Body) -> Result<(), String> {
        self.got.push(v.take::<T>()?);
        Ok(())
    }
    fn finish(&mut self) -> Body {
        Body::Obj(Box::new(std::mem::take(&mut self.got)))
    }
}

/// Where an entry method's return value goes. Used by generated code.
///
/// One pointer wide: every entry call carries an `Option<Reply>`, and a
/// call that fits in 64 bytes travels inside its
/// message without an allocation. Calls without a reply (the common case)
/// allocate nothing.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Reply(Box<ReplyTo>);

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct ReplyTo {
    fut: RawFuture,
    kind: ReplyKind,
    /// The replying element's position in its collection (row-major),
    /// stamped where the call runs (gathering kinds only).
    lin: u32,
}

/// What a reply sends, and whether a panic of the entry is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
enum ReplyKind {
    /// The return value (`NAME_ret` of one element).
    Value,
    /// `()` instead of the return value (broadcast completion).
    Unit,
    /// `Ok(value)`; a panic sends `Err` (`NAME_try_ret`).
    Try,
    /// `(lin, value)`, gathered in index order (`NAME_all_ret`).
    Gather,
    /// `(lin, Ok(value))`; a panic sends `(lin, Err)` (`NAME_try_all_ret`).
    TryGather,
}

/// Where a panic of the running entry goes instead of ending the job: the
/// caller's future, and the element's position for a gathering reply.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Catch {
    fut: RawFuture,
    lin: Option<u32>,
}

impl Reply {
    fn to(fut: RawFuture, kind: ReplyKind) -> Reply {
        Reply(Box::new(ReplyTo { fut, kind, lin: 0 }))
    }

    fn collecting<V>(count: usize, kind: ReplyKind, collect: Box<dyn Collect>) -> (Future<V>, Reply) {
        let raw = with_pe(|pe| RawFuture::collecting_on(pe, count, Some(collect)));
        (Future { raw, _t: PhantomData }, Reply::to(raw, kind))
    }

    /// A future for one return value and its reply handle.
    pub fn new_single<R: Serialize + DeserializeOwned + Send + 'static>() -> (Future<R>, Reply) {
        let f = Future::<R>::new_here(1);
        let raw = f.raw;
        (f, Reply::to(raw, ReplyKind::Value))
    }

    /// A future fulfilled after `n` replies (each `()`).
    pub fn new_counted(n: usize) -> (Future<()>, Reply) {
        // Nothing to count (a broadcast to an empty section): complete at once.
        let f = Future::<()>::new_here(n.max(1));
        let raw = f.raw;
        if n == 0 {
            raw.set_any(Box::new(()));
        }
        (f, Reply::to(raw, ReplyKind::Unit))
    }

    /// A future of one return value, or of the entry's panic.
    pub fn new_try<R: Serialize + DeserializeOwned + Send + 'static>() -> (Future<Result<R, EntryError>>, Reply) {
        Reply::collecting(1, ReplyKind::Try, Box::new(TryOne::<R> { value: None, _r: PhantomData }))
    }

    /// A future of the return values of `n` elements, in index order.
    pub fn new_gather<R: Serialize + DeserializeOwned + Send + 'static>(n: usize) -> (Future<Vec<R>>, Reply) {
        let parts = Parts::<R>::new(n, None, None);
        Reply::collecting(n, ReplyKind::Gather, Box::new(parts))
    }

    /// A future of the return value or panic of each of `n` elements, in index order.
    pub fn new_try_gather<R: Serialize + DeserializeOwned + Send + 'static>(
        n: usize,
    ) -> (Future<Vec<Result<R, EntryError>>>, Reply) {
        let parts = Parts::<Result<R, EntryError>>::new(n, Some(Err), None);
        Reply::collecting(n, ReplyKind::TryGather, Box::new(parts))
    }

    /// A future of the return values of every element of `to` (a
    /// collection, or a section: then of its members, in the section's
    /// order, which is index order) — `NAME_all_ret`.
    #[track_caller]
    pub fn new_gather_for<R: Serialize + DeserializeOwned + Send + 'static>(
        to: &crate::proxy::CollRef,
    ) -> (Future<Vec<R>>, Reply) {
        let (n, members) = gathered(to);
        if n == 0 {
            return Reply::nothing_to_gather(ReplyKind::Gather);
        }
        Reply::collecting(n, ReplyKind::Gather, Box::new(Parts::<R>::new(n, None, members)))
    }

    /// As [`Reply::new_gather_for`], each element's value or panic — `NAME_try_all_ret`.
    #[track_caller]
    pub fn new_try_gather_for<R: Serialize + DeserializeOwned + Send + 'static>(
        to: &crate::proxy::CollRef,
    ) -> (Future<Vec<Result<R, EntryError>>>, Reply) {
        let (n, members) = gathered(to);
        if n == 0 {
            return Reply::nothing_to_gather(ReplyKind::TryGather);
        }
        let parts = Parts::<Result<R, EntryError>>::new(n, Some(Err), members);
        Reply::collecting(n, ReplyKind::TryGather, Box::new(parts))
    }

    /// Where the call runs: stamps the element's position `lin` and gives
    /// where a panic goes, if the caller asked for it.
    #[inline]
    pub(crate) fn prepare(&mut self, lin: u32) -> Option<Catch> {
        let r = &mut *self.0;
        match r.kind {
            ReplyKind::Value | ReplyKind::Unit => None,
            ReplyKind::Gather => {
                r.lin = lin;
                None
            }
            ReplyKind::Try => Some(Catch { fut: r.fut, lin: None }),
            ReplyKind::TryGather => {
                r.lin = lin;
                Some(Catch { fut: r.fut, lin: Some(lin) })
            }
        }
    }

    /// Sends `value` if there is a reply handle.
    pub fn send_opt<R: Serialize + Send + 'static>(reply: Option<Reply>, value: R) {
        if let Some(Reply(r)) = reply {
            match r.kind {
                ReplyKind::Value => r.fut.set_any(Box::new(value)),
                ReplyKind::Unit => r.fut.set_any(Box::new(())),
                ReplyKind::Try => r.fut.set_any(Box::new(Ok::<R, EntryError>(value))),
                ReplyKind::Gather => r.fut.set_any(Box::new((r.lin, value))),
                ReplyKind::TryGather => r.fut.set_any(Box::new((r.lin, Ok::<R, EntryError>(value)))),
            }
        }
    }
}

impl Reply {
    /// A gather over an empty section: complete at once with no values.
    fn nothing_to_gather<V: Serialize + DeserializeOwned + Send + 'static>(kind: ReplyKind) -> (Future<Vec<V>>, Reply) {
        let f = Future::<Vec<V>>::new_here(1);
        f.raw.set_any(Box::new(Vec::<V>::new()));
        let raw = f.raw;
        (f, Reply::to(raw, kind))
    }
}

/// How many replies a gather over `to` expects, and, for a section, the
/// members' positions in the collection (replies carry those).
#[track_caller]
fn gathered(to: &crate::proxy::CollRef) -> (usize, Option<std::sync::Arc<[u32]>>) {
    let n = to.len();
    (n, to.section_members())
}

impl Catch {
    /// Delivers the entry's panic to the caller.
    pub(crate) fn deliver(self, pe: &Pe, err: EntryError) {
        pe.post(self.fut.pe, Msg::Future { id: self.fut.id, value: Box::new(Failure { lin: self.lin, err }) });
    }
}

/// A panic on its way to a `Try` or `TryGather` future. Its bytes are those
/// of `Err(err)` (or `(lin, Err(err))`), whatever the entry's return type,
/// so the caller's process decodes them as its `Result<R, EntryError>`; in
/// the process, the future's [`Collect`] turns it into that `Result`.
struct Failure {
    lin: Option<u32>,
    err: EntryError,
}

impl Serialize for Failure {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let err = Err::<(), &EntryError>(&self.err);
        match self.lin {
            None => err.serialize(s),
            Some(lin) => (lin, err).serialize(s),
        }
    }
}

/// How the fulfilments of a collecting future become its value (on the
/// owning PE, where the value's type is known).
trait Collect {
    /// One fulfilment.
    fn add(&mut self, v: Body) -> Result<(), String>;
    /// The value, after the last fulfilment.
    fn finish(&mut self) -> Body;
}

/// `NAME_try_ret`: the value is `Result<R, EntryError>`.
struct TryOne<R> {
    value: Option<Body>,
    _r: PhantomData<fn() -> R>,
}

impl<R: Serialize + Send + 'static> Collect for TryOne<R> {
    fn add(&mut self, v: Body) -> Result<(), String> {
        self.value = Some(match v {
            Body::Obj(o) if o.as_any().is::<Failure>() => {
                let f = o.into_any().downcast::<Failure>().expect("checked");
                Body::Obj(Box::new(Err::<R, EntryError>(f.err)))
            }
            v => v,
        });
        Ok(())
    }
    fn finish(&mut self) -> Body {
        self.value.take().expect("finished after its fulfilment")
    }
}

/// `NAME_all_ret` and `NAME_try_all_ret`: one `(lin, V)` per element; the
/// value is the `Vec<V>` in index order.
struct Parts<V> {
    parts: Vec<Option<V>>,
    /// A panic as a `V` (`TryGather`: `Err`); None where none may arrive.
    failure: Option<fn(EntryError) -> V>,
    /// A section's members (sorted row-major positions in the collection):
    /// a reply's `lin` is found among them. None: `lin` is the position.
    members: Option<std::sync::Arc<[u32]>>,
}

impl<V> Parts<V> {
    fn new(n: usize, failure: Option<fn(EntryError) -> V>, members: Option<std::sync::Arc<[u32]>>) -> Parts<V> {
        Parts { parts: (0..n).map(|_| None).collect(), failure, members }
    }
}

impl<V: Serialize + DeserializeOwned + Send + 'static> Collect for Parts<V> {
    fn add(&mut self, v: Body) -> Result<(), String> {
        let (lin, v) = match v {
            Body::Obj(o) if o.as_any().is::<Failure>() => {
                let f = o.into_any().downcast::<Failure>().expect("checked");
                match (f.lin, self.failure) {
                    (Some(lin), Some(as_v)) => (lin, as_v(f.err)),
                    _ => return Err("a panic where none may arrive".to_string()),
                }
            }
            v => v.take::<(u32, V)>()?,
        };
        let at = match &self.members {
            None => lin as usize,
            Some(m) => m.binary_search(&lin).map_err(|_| format!("a reply from element #{lin}, not a member"))?,
        };
        match self.parts.get_mut(at) {
            Some(p @ None) => {
                *p = Some(v);
                Ok(())
            }
            Some(Some(_)) => Err(format!("element #{lin} replied twice")),
            None => Err(format!("a reply from element #{lin} of {}", self.parts.len())),
        }
    }
    fn finish(&mut self) -> Body {
        let all: Vec<V> =
            std::mem::take(&mut self.parts).into_iter().map(|p| p.expect("every element replied")).collect();
        Body::Obj(Box::new(all))
    }
}
#[cfg(test)]
mod tests {
    use super::{EntryError, Failure};
    use crate::value::{decode, encode};

    /// A panic's bytes decode as the caller's `Result`, whatever the
    /// entry's return type: what a `Try` / `TryGather` future receives
    /// from another process.
    #[test]
    fn a_failure_decodes_as_any_result() {
        let err = EntryError {
            pe: 3,
            chare: "T".into(),
            index: "(1, 2)".into(),
            entry: "m".into(),
            message: "boom".into(),
            location: Some("a.rs:1:2".into()),
        };
        let one = encode(&Failure { lin: None, err: err.clone() }).unwrap();
        assert_eq!(decode::<Result<u64, EntryError>>(&one).unwrap(), Err(err.clone()));
        assert_eq!(decode::<Result<Vec<String>, EntryError>>(&one).unwrap(), Err(err.clone()));
        let gathered = encode(&Failure { lin: Some(70_000), err: err.clone() }).unwrap();
        assert_eq!(decode::<(u32, Result<(f64, u8), EntryError>)>(&gathered).unwrap(), (70_000, Err(err)));
    }

    /// Entry calls carry an `Option<Reply>`: it must stay one pointer wide
    /// for calls to fit inside their message.
    #[test]
    fn an_optional_reply_is_one_pointer() {
        assert_eq!(std::mem::size_of::<Option<super::Reply>>(), std::mem::size_of::<usize>());
    }
}
