//! Per-sender order for messages whose path can change.
//!
//! A message to an element of a migratable collection may travel by its old
//! PE (forwarded) while a later one goes straight to the new PE, and a
//! migratable sender sends from one PE and then from another: either way a
//! later message can overtake an earlier one. Such messages therefore carry a
//! sequence number per (sending chare, receiving chare) stream, counted by the
//! sender (the counters travel with a migrating sender) and checked by the
//! receiver's [`Gates`] (which travel with a migrating receiver): a message
//! that arrives early is held until the ones before it arrived. Entry calls
//! and channel values of one stream share the numbering, so they also keep
//! their order relative to each other.
//!
//! Messages between two non-migratable chares never take this path: their
//! route is fixed, and the machine layers keep per-pair order.

use crate::erased::Erased;
use crate::machine::wire::Wire;
use crate::message::{Addr, ChanKey, Incoming, Msg};
use crate::route::Outgoing;
use rustc_hash::FxHashMap;
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

/// The routing part of an ordered message.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct OrderedHead {
    /// The receiving element.
    pub to: Addr,
    /// The sending chare (or a PE's or the main task's pseudo-address).
    pub from: Addr,
    /// Position in the (from, to) stream.
    pub seq: u32,
    /// The PE that sent it: told the element's location if it was forwarded.
    pub src_pe: u32,
    /// How many times it was forwarded.
    pub hops: u16,
    /// A channel value on this channel, or (None) an entry call.
    pub chan: Option<ChanKey>,
}

/// An ordered message: an entry call or a channel value with its place in
/// its stream.
pub(crate) struct Ordered {
    pub head: OrderedHead,
    pub body: Incoming,
}

/// An ordered message leaving its sender.
pub(crate) struct OrderedOut {
    pub head: OrderedHead,
    pub body: Erased,
}

impl Outgoing for OrderedOut {
    #[inline]
    fn into_msg(self) -> Msg {
        Msg::Ordered(Box::new(Ordered { head: self.head, body: Incoming::Obj(self.body) }))
    }
    fn encode(&self, out: &mut Vec<u8>) -> Result<Wire, String> {
        self.body.encode_into(out)?;
        Ok(Wire::Ordered(Box::new(self.head)))
    }
}

/// A received ordered message forwarded to where its element went.
impl Outgoing for Box<Ordered> {
    fn into_msg(self) -> Msg {
        Msg::Ordered(self)
    }
    fn encode(&self, out: &mut Vec<u8>) -> Result<Wire, String> {
        self.body.encode_into(out)?;
        Ok(Wire::Ordered(Box::new(self.head)))
    }
}

/// The sender of messages sent now on a PE: the chare whose entry (or task)
/// runs, and whether its collection is migratable.
#[derive(Clone, Copy)]
pub(crate) struct Sender {
    pub addr: Addr,
    pub migratable: bool,
}

impl Sender {
    /// Runtime code running outside any chare on PE `pe`.
    pub(crate) fn runtime(pe: usize) -> Sender {
        Sender { addr: Addr { coll: u32::MAX, lin: pe as u32 }, migratable: false }
    }
}

/// A PE's outgoing stream counters: sender -> receiver -> next sequence
/// number. A migrating chare takes its row along.
#[derive(Default)]
pub(crate) struct Streams {
    pub rows: RefCell<FxHashMap<Addr, FxHashMap<Addr, u32>>>,
    pub current: Cell<Option<Sender>>,
}

impl Streams {
    /// The next sequence number from `from` to `to`.
    #[inline]
    pub(crate) fn next(&self, from: Addr, to: Addr) -> u32 {
        let mut rows = self.rows.borrow_mut();
        let c = rows.entry(from).or_default().entry(to).or_insert(0);
        let s = *c;
        *c = c.wrapping_add(1);
        s
    }
}

/// One incoming stream of a chare: the next sequence number to deliver and
/// the messages that arrived early.
#[derive(Default)]
pub(crate) struct Gate {
    pub next: u32,
    pub held: BTreeMap<u32, Box<Ordered>>,
}

/// A chare's incoming streams, by sender.
#[derive(Default)]
pub(crate) struct Gates(pub RefCell<FxHashMap<Addr, Gate>>);

impl Gates {
    /// Admits `o`: returns the messages that may be delivered now, in
    /// order (none if `o` arrived early and is held).
    pub(crate) fn admit(&self, o: Box<Ordered>) -> Vec<Box<Ordered>> {
        let mut gates = self.0.borrow_mut();
        let g = gates.entry(o.head.from).or_default();
        if o.head.seq != g.next {
            if o.head.seq.wrapping_sub(g.next) < u32::MAX / 2 {
                g.held.insert(o.head.seq, o);
            }
            // else: a duplicate of a delivered message; never produced by the
            // runtime (each message is delivered where its element is, once).
            return Vec::new();
        }
        let mut out = vec![o];
        g.next = g.next.wrapping_add(1);
        while let Some(m) = g.held.remove(&g.next) {
            out.push(m);
            g.next = g.next.wrapping_add(1);
        }
        out
    }
}

impl crate::scheduler::Pe {
    /// Whether the code running now belongs to a migratable chare (its
    /// messages are ordered, whatever their receiver).
    #[inline]
    pub(crate) fn sender_migratable(&self) -> bool {
        self.streams.current.get().is_some_and(|s| s.migratable)
    }

    /// Sends an entry call (`chan` None) or a channel value to element `ix`
    /// of `info` as the next message of the current sender's stream to it.
    pub(crate) fn send_ordered(
        &self,
        info: &crate::collection::CollInfo,
        ix: &crate::index::Index,
        chan: Option<ChanKey>,
        body: Erased,
    ) {
        let to = info.addr_of(ix);
        // A sender that never moves (a non-migratable chare, the main task,
        // the runtime) sends everything from this PE: one stream per PE keeps
        // its order.
        let from = match self.streams.current.get() {
            Some(s) => s.addr,
            None => Sender::runtime(self.id).addr,
        };
        let seq = self.streams.next(from, to);
        let head = OrderedHead { to, from, seq, src_pe: self.id as u32, hops: 0, chan };
        let pe = self.locate_elem(info, ix);
        self.post(pe, OrderedOut { head, body });
    }
}
