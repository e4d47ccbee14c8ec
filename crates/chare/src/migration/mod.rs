//! Migration: moving a chare to another PE while messages to it keep
//! arriving.
//!
//! A move (asked by [`crate::Ctx::migrate`] or the load balancer) is made
//! once no entry of the chare runs ([`schedule`] queues it behind the
//! current message; an async entry finishes first, and so do suspended
//! reentrant entries, while calls keep running: see [`crate::reentrant`]). [`Pe::depart`] takes the
//! chare out of its PE with everything that belongs to it here (its
//! [`Baggage`]: its outgoing stream counters, its counted channels, the
//! channel values that arrived for it) and sends it to the new PE: on the
//! local layer as the object itself, on the MPI layer as bytes (its state
//! through serde, `Buffer`s as attachments). [`Pe::arrive`] installs it,
//! tells its home PE where it is, delivers the messages that waited for it
//! and runs its `migrated` hook.
//!
//! * [`location`]: home PEs, the location cache, forwarding;
//! * [`order`]: per-sender order of messages whose path can change.
//!
//! Reductions keep working across moves: a PE finishes its part of
//! reduction `k` once no element on it still owes a contribution to `k`
//! (see [`crate::reduction`]), wherever the others contributed.

pub(crate) mod location;
pub(crate) mod order;

use crate::collection::{CollDesc, CollInfo};
use crate::machine::wire::Wire;
use crate::message::{Addr, ChanKey, Incoming, Msg};
use crate::object::{AnyCell, Migrant};
use crate::route::Outgoing;
use crate::scheduler::Pe;
use location::{Located, Where};
use order::{Gate, Gates, Ordered, OrderedHead};
use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;

/// What belongs to a chare on its PE besides the chare itself.
#[derive(Default)]
pub(crate) struct Baggage {
    /// Its outgoing stream counters (receiver -> next sequence number).
    pub streams: FxHashMap<Addr, u32>,
    /// Its counted channels: peer -> channels opened.
    pub chan_counts: Vec<(Addr, u32)>,
    /// Values that arrived on its channels and were not received yet.
    pub channels: Vec<(ChanKey, VecDeque<Incoming>)>,
}

/// Queues the move of the chare at `addr` (asked for with
/// `Ctx::request_move`) behind the messages already queued on this PE.
pub(crate) fn schedule(pe: &Pe, addr: Addr) {
    pe.post(pe.id, Msg::Control(Box::new(move |pe: &Pe| pe.depart(addr))));
}

impl Pe {
    /// Moves the chare at `addr` to the PE it was asked to move to, if it can
    /// move now (an async entry of it may have started since the move was
    /// scheduled: then it moves when that entry finishes).
    pub(crate) fn depart(&self, addr: Addr) {
        let Some(cell) = self.chares.remove_if_idle(&addr) else { return };
        let Some((to, resume)) = self.chares.take_move(&addr, &cell) else {
            self.chares.put_back(addr, cell);
            return;
        };
        let red_seq = cell.red_seq();
        let load = cell.take_load();
        let migrant = match cell.depart() {
            Ok(m) => m,
            Err(cell) => {
                self.chares.put_back(addr, cell);
                return self
                    .fail_usage(format!("internal error: {} is still in use and cannot move", self.describe(&addr)));
            }
        };
        let version = self.chares.left(addr, red_seq);
        crate::reduction::recheck(self, addr.coll);
        let bag = self.pack_baggage(addr);
        self.locations.learn(addr, Where { pe: to as u32, version });
        let bytes = migrant.size();
        self.lb_moved(addr, bytes);
        self.stats.departed();
        self.post(to, Moving::Object { migrant, bag, version, red_seq, resume, load });
    }

    fn pack_baggage(&self, addr: Addr) -> Baggage {
        let streams = self.streams.rows.borrow_mut().remove(&addr).unwrap_or_default();
        let mut chan_counts = Vec::new();
        self.chan_counts.borrow_mut().retain(|&(me, peer), n| {
            if me == addr {
                chan_counts.push((peer, *n));
                false
            } else {
                true
            }
        });
        let channels = self.channels.borrow_mut().take_to(addr);
        Baggage { streams, chan_counts, channels }
    }

    /// A chare arrived: install it, tell its home, deliver what waited.
    pub(crate) fn arrive(&self, cell: Rc<dyn AnyCell>, info: &Arc<CollInfo>, a: Arrival) {
        let addr = cell.addr();
        if let Err(e) = self.insert_chare(addr, cell.clone()) {
            return self.fail_usage(e);
        }
        self.chares.joined(addr, a.red_seq, a.version);
        self.locations.arrived(&addr);
        self.stats.arrived();
        let home = info.pe_of(&info.index_of(&addr));
        if home != self.id {
            self.post(home, Located { addr, at: Where { pe: self.id as u32, version: a.version } });
        }
        let Baggage { streams, chan_counts, channels } = a.bag;
        if !streams.is_empty() {
            self.streams.rows.borrow_mut().insert(addr, streams);
        }
        {
            let mut counts = self.chan_counts.borrow_mut();
            for (peer, n) in chan_counts {
                counts.insert((addr, peer), n);
            }
        }
        {
            let mut chans = self.channels.borrow_mut();
            for (key, queue) in channels {
                // Values that reached this PE first are the later ones.
                chans.prepend(key, queue);
            }
        }
        if info.at_sync {
            self.lb_measure_idle(addr.coll);
        }
        self.lb_arrived(addr, a.load);
        cell.migrated(self);
        for o in self.locations.take_waiting(&addr) {
            self.handle(Msg::Ordered(o));
        }
        if a.resume {
            cell.resume(&cell, self);
        }
        cell.kick(&cell, self);
    }
}

/// What [`Pe::arrive`] needs besides the cell.
pub(crate) struct Arrival {
    pub bag: Baggage,
    pub version: u32,
    pub red_seq: u64,
    pub resume: bool,
    pub load: f64,
}

/// A chare on its way to another PE: the object itself, or (the check
/// mode, `CHARE_CHECK_SERDE`) the bytes another process would receive.
enum Moving {
    Object { migrant: Box<dyn Migrant>, bag: Baggage, version: u32, red_seq: u64, resume: bool, load: f64 },
    Bytes { wire: Box<MigrateWire>, body: crate::value::Encoded },
}

impl Outgoing for Moving {
    fn into_msg(self) -> Msg {
        match self {
            Moving::Object { migrant, bag, version, red_seq, resume, load } => {
                Msg::Control(Box::new(move |pe: &Pe| {
                    let info = migrant.info().clone();
                    let cell = migrant.install();
                    pe.arrive(cell, &info, Arrival { bag, version, red_seq, resume, load });
                }))
            }
            Moving::Bytes { wire, body } => wire.into_msg(usize::MAX, body),
        }
    }

    fn encode(&self, out: &mut Vec<u8>) -> Result<Wire, String> {
        let Moving::Object { migrant, bag, version, red_seq, resume, load } = self else {
            return Err("internal error: a checked migration left its process".into());
        };
        let before = out.len();
        let mw = migrant.encode(out).map_err(|e| format!("migrating {}: {e}", migrant.chare_path()))?;
        crate::scheduler::with_pe(|pe| pe.lb_moved_bytes(out.len() - before));
        let mut channels = Vec::with_capacity(bag.channels.len());
        for (key, q) in &bag.channels {
            let items = q.iter().map(MovedItem::of).collect::<Result<Vec<_>, _>>()?;
            channels.push((*key, items));
        }
        Ok(Wire::Migrate(Box::new(MigrateWire {
            chare: crate::registry::stable_id(migrant.chare_path()),
            desc: migrant.info().desc_for_creation(),
            lin: migrant.addr().lin,
            version: *version,
            red_seq: *red_seq,
            resume: *resume,
            load: *load,
            streams: bag.streams.iter().map(|(a, n)| (*a, *n)).collect(),
            chan_counts: bag.chan_counts.clone(),
            channels,
            gates: mw.gates,
        })))
    }

    /// The chare through the MPI layer's bytes and back: a state that
    /// cannot travel fails on one machine too.
    fn checked(self) -> Result<Self, String> {
        let mut out = Vec::new();
        let (w, att) = crate::buffer::collecting(|| self.encode(&mut out));
        let Wire::Migrate(wire) = w? else { unreachable!("a migration encodes as Wire::Migrate") };
        let att = crate::value::received_copies(&att)?;
        Ok(Moving::Bytes { wire, body: crate::value::Encoded { bytes: out.into(), att } })
    }
}

/// A value that travels inside a migration message: its bytes, and the
/// bytes of its `Buffer`s (copied: such values are rare, and they are
/// re-attached on arrival).
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct MovedItem {
    #[serde(with = "crate::value::bytes")]
    bytes: Vec<u8>,
    att: Vec<MovedAtt>,
}

/// One attachment of a [`MovedItem`]: alignment and bytes.
#[derive(serde::Serialize, serde::Deserialize)]
struct MovedAtt {
    align: u32,
    #[serde(with = "crate::value::bytes")]
    data: Vec<u8>,
}

impl MovedItem {
    fn of(item: &Incoming) -> Result<MovedItem, String> {
        match item {
            Incoming::Obj(e) => {
                let mut bytes = Vec::new();
                crate::buffer::inline(|| e.encode_into(&mut bytes))?;
                Ok(MovedItem { bytes, att: Vec::new() })
            }
            Incoming::Bytes(b) => Ok(MovedItem::of_encoded(b)),
        }
    }

    pub(crate) fn of_encoded(b: &crate::value::Encoded) -> MovedItem {
        MovedItem {
            bytes: b.bytes.to_vec(),
            att: b
                .att
                .iter()
                .map(|r| {
                    let (align, data) = r.to_moved();
                    MovedAtt { align, data }
                })
                .collect(),
        }
    }

    pub(crate) fn into_encoded(self) -> Result<crate::value::Encoded, String> {
        match self.into_incoming()? {
            Incoming::Bytes(e) => Ok(e),
            Incoming::Obj(_) => unreachable!("a moved item comes back as bytes"),
        }
    }

    fn into_incoming(self) -> Result<Incoming, String> {
        let att = self
            .att
            .into_iter()
            .map(|a| crate::buffer::RawBuf::from_moved(a.align, a.data))
            .collect::<Result<_, _>>()?;
        Ok(Incoming::Bytes(crate::value::Encoded { bytes: self.bytes.into(), att }))
    }
}

/// A chare's incoming streams as they travel: (sender, next, early messages).
pub(crate) type GatesWire = Vec<(Addr, u32, Vec<(OrderedHead, MovedItem)>)>;

/// What a chare's cell adds to its migration message.
pub(crate) struct MigrantWire {
    pub gates: GatesWire,
}

pub(crate) fn gates_to_wire(g: &Gates, _red_seq: u64) -> Result<MigrantWire, String> {
    let mut out = Vec::new();
    for (from, gate) in g.0.borrow().iter() {
        let held =
            gate.held.values().map(|o| Ok((o.head, MovedItem::of(&o.body)?))).collect::<Result<Vec<_>, String>>()?;
        out.push((*from, gate.next, held));
    }
    Ok(MigrantWire { gates: out })
}

fn gates_from_wire(w: GatesWire) -> Result<Gates, String> {
    let mut map = FxHashMap::default();
    for (from, next, held) in w {
        let mut gate = Gate { next, ..Gate::default() };
        for (head, item) in held {
            gate.held.insert(head.seq, Box::new(Ordered { head, body: item.into_incoming()? }));
        }
        map.insert(from, gate);
    }
    Ok(Gates(std::cell::RefCell::new(map)))
}

/// A migration between processes: the header; the chare's state and its
/// deferred calls follow as the message's body.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct MigrateWire {
    chare: u64,
    desc: CollDesc,
    lin: u32,
    version: u32,
    red_seq: u64,
    resume: bool,
    load: f64,
    streams: Vec<(Addr, u32)>,
    chan_counts: Vec<(Addr, u32)>,
    channels: Vec<(ChanKey, Vec<MovedItem>)>,
    gates: GatesWire,
}

impl MigrateWire {
    /// The arrival of a chare from PE `from` with its state in `body`.
    pub(crate) fn into_msg(self, from: usize, body: crate::value::Encoded) -> Msg {
        Msg::Control(Box::new(move |pe: &Pe| {
            if let Err(e) = self.arrive(pe, body) {
                if from == usize::MAX {
                    pe.fail_usage(format!("CHARE_CHECK_SERDE: a migrating chare: {e}"));
                } else {
                    pe.fail_usage(format!("a chare migrating from PE {from}: {e}"));
                }
            }
        }))
    }

    fn arrive(self, pe: &Pe, body: crate::value::Encoded) -> Result<(), String> {
        let t = crate::registry::find(self.chare).ok_or("a chare type unknown here")?;
        let info = self.desc.resolve()?;
        if self.lin as usize >= info.total {
            return Err(format!("element #{} outside {}", self.lin, info.chare));
        }
        let index = crate::index::Index::from_linear(self.lin as usize, &info.dims);
        let gates = gates_from_wire(self.gates)?;
        let crate::value::Encoded { bytes, att } = body;
        let w = crate::registry::WireArrive { info: info.clone(), index, red_seq: self.red_seq, bytes: &bytes, gates };
        let cell = crate::buffer::providing(att, || (t.arrive)(w))?.0;
        let mut channels = Vec::with_capacity(self.channels.len());
        for (key, items) in self.channels {
            let q = items.into_iter().map(MovedItem::into_incoming).collect::<Result<VecDeque<_>, _>>()?;
            channels.push((key, q));
        }
        let bag = Baggage { streams: self.streams.into_iter().collect(), chan_counts: self.chan_counts, channels };
        pe.arrive(
            cell,
            &info,
            Arrival { bag, version: self.version, red_seq: self.red_seq, resume: self.resume, load: self.load },
        );
        Ok(())
    }
}
