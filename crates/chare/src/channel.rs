//! Channels: typed, in-order streams between two chares (Charm4Py's
//! `Channel`). Values are moved, never copied, on the local layer.
//! `recv().await` suspends the calling async entry method until a value
//! arrives.
//!
//! Pairing: each side opens its end, and the two ends must name the same
//! channel:
//! * `ctx.channel_to(&peer)`: the n-th channel A opens to B this way pairs
//!   with the n-th channel B opens to A this way (Charm4Py's rule). Enough
//!   when two chares have one channel between them, or open several in the
//!   same order.
//! * `ctx.channel_on(&peer, port)`: the channel A opens to B on `port` pairs
//!   with the one B opens to A on the same `port`, whatever the order. Use it
//!   when two chares have several channels whose roles differ on the two
//!   sides: in a ring of 2, element 0's right neighbour is also its left one,
//!   and counted channels would pair 0's left with 1's left; naming each link
//!   (e.g. port = the index of the link's left end) pairs 0's right with 1's
//!   left. Opening the same port twice gives two handles on one channel.
//!   Ports and counted channels never pair with each other.

use crate::collection::CollInfo;
use crate::index::Index;
use crate::message::{Addr, ChanKey, ChannelValue, Incoming};
use crate::route::locate;
use crate::scheduler::{with_pe, Pe, WaitOn};
use rustc_hash::FxHashMap;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::Waker;
use std::task::{Context, Poll};

/// Channel buffer of one direction, on the receiving PE.
#[derive(Default)]
pub(crate) struct ChanState {
    pub queue: VecDeque<Incoming>,
    pub waker: Option<Waker>,
    /// The receiver was woken by an arrival and has not polled this buffer
    /// since: later arrivals need not wake it again (its next poll takes
    /// them all; a burst of values would otherwise queue the task once per
    /// value and poll it once per value, all but the first for nothing).
    /// Cleared by every poll that finds the buffer empty, before it waits.
    pub woken: bool,
}

impl ChanState {
    /// Queues an arrived value; gives the waker to wake, if the receiver
    /// waits and was not woken since its last poll.
    fn push(&mut self, item: Incoming) -> Option<&Waker> {
        self.queue.push_back(item);
        if self.woken {
            return None;
        }
        let w = self.waker.as_ref()?;
        self.woken = true;
        Some(w)
    }

    /// The receiver found the buffer empty and waits: the next arrival
    /// wakes `waker` (cloned only when it is not the one registered).
    fn wait(&mut self, waker: &Waker) {
        if !self.waker.as_ref().is_some_and(|w| w.will_wake(waker)) {
            self.waker = Some(waker.clone());
        }
        self.woken = false;
    }
}

/// The channel buffers of one PE, found by key.
///
/// The buffers sit in slots that never move while they live; the key's slot
/// is in a hash map. Hashing a key and probing the map cost ~70
/// instructions, paid up to three times per value (arrival, the receiver's
/// pending poll, its ready poll), so both ends of the hot path skip it: a
/// channel end remembers its buffer's slot (a hint, checked against the
/// slot's key before use, so a stale hint after a migration or on another PE
/// only costs the lookup), and arrivals check the slot of the last arrival
/// first (a stream or a ping-pong hits it every time).
#[derive(Default)]
pub(crate) struct ChannelTable {
    index: FxHashMap<ChanKey, u32>,
    slots: Vec<Option<(ChanKey, ChanState)>>,
    /// Emptied slots, for reuse.
    free: Vec<u32>,
    /// The slot of the last arrival.
    last: u32,
}

/// A slot number no slot has.
const NO_SLOT: u32 = u32::MAX;

impl ChannelTable {
    /// The buffer of `key` if `slot` holds it.
    #[inline]
    fn at(&mut self, slot: u32, key: &ChanKey) -> Option<&mut ChanState> {
        match self.slots.get_mut(slot as usize) {
            Some(Some((k, st))) if k == key => Some(st),
            _ => None,
        }
    }

    /// The slot of `key`'s buffer, made if it has none.
    fn slot_of(&mut self, key: ChanKey) -> u32 {
        if let Some(&s) = self.index.get(&key) {
            return s;
        }
        let entry = Some((key, ChanState::default()));
        let s = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = entry;
                s
            }
            None => {
                self.slots.push(entry);
                (self.slots.len() - 1) as u32
            }
        };
        self.index.insert(key, s);
        s
    }

    /// `key`'s buffer, made if it has none; `hint` is where it was last
    /// found, and is updated.
    #[inline]
    fn state(&mut self, key: ChanKey, hint: &AtomicU32) -> &mut ChanState {
        let h = hint.load(Ordering::Relaxed);
        if self.at(h, &key).is_none() {
            hint.store(self.slot_of(key), Ordering::Relaxed);
        }
        let h = hint.load(Ordering::Relaxed);
        self.at(h, &key).expect("the slot was just found")
    }

    /// The buffer a value arriving on `key` joins.
    #[inline]
    fn arrival(&mut self, key: ChanKey) -> &mut ChanState {
        if self.at(self.last, &key).is_none() {
            self.last = self.slot_of(key);
        }
        let last = self.last;
        self.at(last, &key).expect("the slot was just found")
    }

    /// `key`'s buffer, if it has one.
    pub(crate) fn get(&self, key: &ChanKey) -> Option<&ChanState> {
        let s = *self.index.get(key)?;
        self.slots[s as usize].as_ref().map(|(_, st)| st)
    }

    /// Removes the buffers of the channels to `addr`, returning their
    /// values (a chare leaving the PE).
    pub(crate) fn take_to(&mut self, addr: Addr) -> Vec<(ChanKey, VecDeque<Incoming>)> {
        let keys: Vec<ChanKey> = self.index.keys().filter(|k| k.to == addr).copied().collect();
        let mut out = Vec::with_capacity(keys.len());
        for key in keys {
            let s = self.index.remove(&key).expect("listed above");
            let (_, st) = self.slots[s as usize].take().expect("an indexed slot is full");
            self.free.push(s);
            out.push((key, st.queue));
        }
        out
    }

    /// Puts values that arrived elsewhere in front of those that reached
    /// this PE first (a chare arriving with its channels' values).
    pub(crate) fn prepend(&mut self, key: ChanKey, mut queue: VecDeque<Incoming>) {
        let s = self.slot_of(key);
        let st = self.at(s, &key).expect("the slot was just found");
        queue.append(&mut st.queue);
        st.queue = queue;
    }
}

/// A value arrives on the channel `key` of this PE: queue it and wake the
/// receiver, unless an earlier arrival woke it and it has not polled since
/// ([`ChanState::woken`]). The waker stays registered (a receiver that polls
/// again with the same waker need not clone it); a spurious wake of a task
/// that no longer waits costs one poll. Waking only touches the ready queue,
/// never `channels`.
pub(crate) fn arrive(pe: &Pe, key: ChanKey, item: Incoming) {
    let mut chans = pe.channels.borrow_mut();
    let st = chans.arrival(key);
    if let Some(w) = st.push(item) {
        w.wake_by_ref();
    }
}

/// One end of a channel carrying values of type `T` in both directions.
/// Open it with [`Ctx::channel_to`](crate::Ctx::channel_to) (the n-th
/// channel between two chares pairs with the other side's n-th) or
/// [`Ctx::channel_on`](crate::Ctx::channel_on) (pairs by port number); see
/// the module docs for when each is right.
#[must_use = "a channel does nothing unless values are sent or received on it"]
pub struct Channel<T> {
    me: Addr,
    peer: Addr,
    peer_index: Index,
    peer_info: Arc<CollInfo>,
    n: u32,
    /// Where this end's buffer was last found ([`ChannelTable::state`]).
    slot: AtomicU32,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> Clone for Channel<T> {
    fn clone(&self) -> Self {
        Channel {
            me: self.me,
            peer: self.peer,
            peer_index: self.peer_index,
            peer_info: self.peer_info.clone(),
            n: self.n,
            slot: AtomicU32::new(self.slot.load(Ordering::Relaxed)),
            _t: PhantomData,
        }
    }
}

impl<T> fmt::Debug for Channel<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.n >= PORT {
            write!(f, "Channel(port {} to {}[{}])", self.n - PORT, self.peer_info.chare, self.peer_index)
        } else {
            write!(f, "Channel(#{} to {}[{}])", self.n, self.peer_info.chare, self.peer_index)
        }
    }
}

/// Channel numbers at and above this are ports ([`Channel::open_port`]);
/// counted channels are numbered below it.
const PORT: u32 = 1 << 31;

/// The largest port number of `channel_on` (2^31 - 1).
pub(crate) const MAX_PORT: u32 = PORT - 1;

impl<T: Serialize + DeserializeOwned + Send + 'static> Channel<T> {
    /// The channel on `port` between `me` and the peer. Panics if `port`
    /// exceeds [`MAX_PORT`].
    pub(crate) fn open_port(me: Addr, peer_index: Index, peer_info: Arc<CollInfo>, port: u32) -> Channel<T> {
        assert!(port <= MAX_PORT, "channel port {port} is above the largest, {MAX_PORT}");
        let peer = peer_info.addr_of(&peer_index);
        Channel { me, peer, peer_index, peer_info, n: PORT | port, slot: AtomicU32::new(NO_SLOT), _t: PhantomData }
    }

    pub(crate) fn open(me: Addr, peer_index: Index, peer_info: Arc<CollInfo>) -> Channel<T> {
        let peer = peer_info.addr_of(&peer_index);
        let n = with_pe(|pe| {
            let mut counts = pe.chan_counts.borrow_mut();
            let c = counts.entry((me, peer)).or_insert(0);
            let n = *c;
            assert!(n < PORT, "more than {PORT} channels between two chares");
            *c += 1;
            n
        });
        Channel { me, peer, peer_index, peer_info, n, slot: AtomicU32::new(NO_SLOT), _t: PhantomData }
    }

    /// Sends a value to the other end. Never blocks.
    #[inline]
    pub fn send(&self, value: T) {
        let key = ChanKey { from: self.me, to: self.peer, n: self.n };
        with_pe(|pe| {
            if self.peer_info.migratable || pe.sender_migratable() {
                let Some(value) = crate::value::checked(value, || key.to_string()) else { return };
                pe.send_ordered(&self.peer_info, &self.peer_index, Some(key), crate::erased::Erased::new(value));
            } else {
                let to = locate(&self.peer_info, &self.peer_index);
                pe.post(to, ChannelValue { key, value })
            }
        });
    }

    /// Receives the next value, in send order; awaits until one arrives.
    pub fn recv(&self) -> Recv<'_, T> {
        Recv { ch: self }
    }

    /// Whether a value is waiting to be received.
    pub fn ready(&self) -> bool {
        let key = self.in_key();
        with_pe(|pe| pe.channels.borrow().get(&key).is_some_and(|s| !s.queue.is_empty()))
    }

    fn in_key(&self) -> ChanKey {
        ChanKey { from: self.peer, to: self.me, n: self.n }
    }
}

/// On the wire (a channel kept in a migrating chare's state, or sent in a
/// message) a channel is its own end's address, the peer as a proxy, and its
/// number. Both ends must stay with the chares that opened them: a channel
/// end receives what its peer sends to the chare that opened it.
#[derive(serde::Serialize, serde::Deserialize)]
struct ChannelWire {
    me: Addr,
    peer: crate::proxy::ElemRef,
    n: u32,
}

impl<T> Serialize for Channel<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let peer = crate::proxy::ElemRef { info: self.peer_info.clone(), index: self.peer_index };
        ChannelWire { me: self.me, peer, n: self.n }.serialize(s)
    }
}

impl<'de, T> serde::Deserialize<'de> for Channel<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let w = ChannelWire::deserialize(d)?;
        let peer = w.peer.info.addr_of(&w.peer.index);
        Ok(Channel {
            me: w.me,
            peer,
            peer_index: w.peer.index,
            peer_info: w.peer.info,
            n: w.n,
            slot: AtomicU32::new(NO_SLOT),
            _t: PhantomData,
        })
    }
}

/// Future returned by [`Channel::recv`].
#[must_use = "recv() does nothing unless awaited"]
pub struct Recv<'a, T> {
    ch: &'a Channel<T>,
}

impl<T: Serialize + DeserializeOwned + Send + 'static> std::future::Future for Recv<'_, T> {
    type Output = T;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let key = self.ch.in_key();
        with_pe(|pe| {
            let mut chans = pe.channels.borrow_mut();
            let st = chans.state(key, &self.ch.slot);
            match st.queue.pop_front() {
                Some(item) => match item.take::<T>() {
                    Ok(v) => Poll::Ready(v),
                    Err(e) => panic!("channel from {}[{}]: {e}", self.ch.peer_info.chare, self.ch.peer_index),
                },
                None => {
                    st.wait(cx.waker());
                    drop(chans);
                    pe.note_wait(WaitOn::Channel { from: key.from });
                    Poll::Pending
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::erased::Erased;

    fn key(to: u32, n: u32) -> ChanKey {
        ChanKey { from: Addr { coll: 1, lin: 0 }, to: Addr { coll: 1, lin: to }, n }
    }

    fn value(v: u32) -> Incoming {
        Incoming::Obj(Erased::new(v))
    }

    /// A waker that counts its wakes.
    struct Counter(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Counter {
        fn wake(self: std::sync::Arc<Self>) {
            self.wake_by_ref();
        }
        fn wake_by_ref(self: &std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// A burst of arrivals wakes a waiting receiver once; once it has
    /// found the buffer empty again, the next arrival wakes it again. No
    /// wake before anyone waits.
    #[test]
    fn a_burst_wakes_the_receiver_once_per_wait() {
        let counter = std::sync::Arc::new(Counter(Default::default()));
        let waker = Waker::from(counter.clone());
        let wakes = || counter.0.load(std::sync::atomic::Ordering::Relaxed);
        let mut st = ChanState::default();
        let arrive = |st: &mut ChanState, v| {
            if let Some(w) = st.push(value(v)) {
                w.wake_by_ref();
            }
        };
        arrive(&mut st, 1);
        assert_eq!(wakes(), 0, "nobody waits yet");
        assert_eq!(drain(&mut st), vec![1]);
        st.wait(&waker);
        for v in 2..=4 {
            arrive(&mut st, v);
        }
        assert_eq!(wakes(), 1, "three arrivals while woken: one wake");
        assert_eq!(drain(&mut st), vec![2, 3, 4]);
        st.wait(&waker);
        arrive(&mut st, 5);
        assert_eq!(wakes(), 2, "after the receiver waited again, the next arrival wakes it");
    }

    fn drain(st: &mut ChanState) -> Vec<u32> {
        st.queue.drain(..).map(|i| i.take::<u32>().unwrap()).collect()
    }

    /// Arrivals and receives find one buffer per key, whatever the hints
    /// say: stale hints (a slot emptied and reused by another key) fall back
    /// to the lookup.
    #[test]
    fn hints_never_lead_to_another_channels_buffer() {
        let mut t = ChannelTable::default();
        let (a, b) = (key(1, 0), key(2, 0));
        let hint_a = AtomicU32::new(NO_SLOT);
        t.arrival(a).queue.push_back(value(1));
        t.arrival(b).queue.push_back(value(2));
        t.arrival(a).queue.push_back(value(3));
        assert_eq!(drain(t.state(a, &hint_a)), vec![1, 3]);
        let slot_a = hint_a.load(Ordering::Relaxed);
        // The chare at element 1 leaves: its buffer goes, its slot is free.
        t.arrival(a).queue.push_back(value(4));
        let gone = t.take_to(Addr { coll: 1, lin: 1 });
        assert_eq!(gone.len(), 1);
        assert_eq!(gone[0].1.len(), 1);
        // A new channel takes a's old slot; a's hint now points at it.
        let d = key(3, 0);
        t.arrival(d).queue.push_back(value(5));
        assert!(t.get(&a).is_none());
        assert_eq!(drain(t.state(a, &hint_a)), Vec::<u32>::new());
        assert_ne!(hint_a.load(Ordering::Relaxed), slot_a, "a got a slot of its own");
        assert_eq!(drain(t.state(d, &AtomicU32::new(slot_a))), vec![5]);
        assert_eq!(drain(t.state(b, &AtomicU32::new(NO_SLOT))), vec![2]);
    }

    /// Values that travelled with a chare come before those that reached
    /// its new PE first.
    #[test]
    fn prepended_values_come_first() {
        let mut t = ChannelTable::default();
        let k = key(1, 0);
        t.arrival(k).queue.push_back(value(3));
        t.prepend(k, [value(1), value(2)].into_iter().collect());
        assert_eq!(drain(t.state(k, &AtomicU32::new(NO_SLOT))), vec![1, 2, 3]);
    }
}
