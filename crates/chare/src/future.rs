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
        let id = pe.next_future.get();
        pe.next_future.set(id + 1);
        pe.futures
            .borrow_mut()
            .insert(id, FutureSlot { remaining: count, value: None, waker: None, taken: false, forward: None });
        RawFuture { pe: pe.id, id }
    }

    pub(crate) fn set_any(&self, value: Payload) {
        let (pe, id) = (self.pe, self.id);
        with_pe(|me| me.post(pe, Msg::Future { id, value }));
    }
}

/// Applies a fulfilment on the owning PE.
pub(crate) fn fulfil(pe: &Pe, id: u64, value: Body) {
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
        slot.value = Some(value);
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

/// Where an entry method's return value goes. Used by generated code.
///
/// One pointer wide: every entry call carries an `Option<Reply>`, and a
/// call that fits in 48 bytes travels inside its
/// message without an allocation. Calls without a reply (the common case)
/// allocate nothing.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Reply(Box<ReplyTo>);

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct ReplyTo {
    fut: RawFuture,
    /// Send `()` instead of the return value (broadcast completion).
    unit: bool,
}

impl Reply {
    /// A future for one return value and its reply handle.
    pub fn new_single<R: Serialize + DeserializeOwned + Send + 'static>() -> (Future<R>, Reply) {
        let f = Future::<R>::new_here(1);
        let raw = f.raw;
        (f, Reply(Box::new(ReplyTo { fut: raw, unit: false })))
    }

    /// A future fulfilled after `n` replies (each `()`).
    pub fn new_counted(n: usize) -> (Future<()>, Reply) {
        // Nothing to count (a broadcast to an empty section): complete at once.
        let f = Future::<()>::new_here(n.max(1));
        let raw = f.raw;
        if n == 0 {
            raw.set_any(Box::new(()));
        }
        (f, Reply(Box::new(ReplyTo { fut: raw, unit: true })))
    }

    /// Sends `value` if there is a reply handle.
    pub fn send_opt<R: Serialize + Send + 'static>(reply: Option<Reply>, value: R) {
        if let Some(Reply(r)) = reply {
            if r.unit {
                r.fut.set_any(Box::new(()));
            } else {
                r.fut.set_any(Box::new(value));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    /// Entry calls carry an `Option<Reply>`: it must stay one pointer wide
    /// for calls to fit inside their message.
    #[test]
    fn an_optional_reply_is_one_pointer() {
        assert_eq!(std::mem::size_of::<Option<super::Reply>>(), std::mem::size_of::<usize>());
    }
}
