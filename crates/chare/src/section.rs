//! Sections: a subset of a collection's elements (Charm4Py's `Section`),
//! built by index list, N-d slice or predicate and combined by union; an
//! entry call on a section is multicast to its members, and its members
//! reduce over it with [`Ctx::section_contribute`](crate::Ctx::section_contribute).
//!
//! A section is a value, not a runtime object: its handle carries its
//! collection, a job-wide id (taken from the collection id space, so it never
//! names a collection) and its members (sorted, each once). Building one
//! sends no message; handles are cheap to clone and travel in messages.
//! Members are indices: in a section of a dynamic array, a member not
//! inserted yet gets its calls once inserted, a deleted one drops them, and
//! a section reduction needs a contribution from every member not deleted
//! before contributing to it (see below).
//!
//! Multicast protocol:
//! 1. elements of a non-migratable collection: the sender groups the members
//!    by PE (the placement is fixed) and posts **one message per PE** with
//!    the members there and one copy of the call ([`Multicast`]); that PE
//!    delivers a clone to each of them, or holds it per element until the
//!    collection is created there;
//! 2. elements of a migratable collection: one ordered call per member, as a
//!    broadcast to such a collection does (the location service finds each
//!    element wherever it is, exactly once and in each sender's order, while
//!    it moves).
//!
//! Reduction protocol: a member's k-th contribution to a section belongs to
//! the section's reduction k. The counters are kept per (element, section)
//! in the element's outgoing stream counters (receiver: the pseudo-address
//! `(section id, u32::MAX)`), so they move with a migrating element. The
//! section's root (the PE of its first member at creation) combines the
//! parts as a collection's root does ([`crate::reduction`]) until they
//! count one contribution per member:
//! 1. elements of a non-migratable (and not dynamic) collection: each PE
//!    combines the contributions of its members (it knows how many it holds:
//!    the placement is fixed) and sends **one part per PE**;
//! 2. elements of a migratable (or dynamic) collection: each contribution
//!    goes straight to the root. The root may then hold no member (no typed
//!    combiner) on the MPI layer: the contributors keep their combiner and
//!    target, as a migratable collection's PEs do, and the reduction is
//!    handed off to one of them.
//!
//! A section of a dynamic array reduces at the **array's root** (not the
//! PE of its first member), which knows the deletions: each member's first
//! contribution carries the section's members, a deleted element's PE
//! reports how many contributions it made to each section (its stream
//! counters), and reduction k completes with one contribution per member
//! not deleted before contributing to k ([`crate::dynamic::DynRoot`]).

use crate::collection::CollInfo;
use crate::erased::Erased;
use crate::index::Index;
use crate::machine::wire::Wire;
use crate::message::{Addr, CollId, Incoming, Msg, Payload};
use crate::object::Chare;
use crate::proxy::{CollRef, CollectionProxy};
use crate::route::Outgoing;
use crate::scheduler::{with_pe, Pe};
use crate::value::{Body, Value};
use std::fmt;
use std::ops::{Deref, Range};
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// A section's identity and members (shared by its handles).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub(crate) struct SectionInfo {
    /// Job-wide id, from the collection id space (no collection has it).
    pub id: CollId,
    /// The PE that combines the section's reductions.
    pub root: usize,
    /// Row-major positions of the members, sorted, each once.
    pub members: Vec<u32>,
    /// Members per PE (a non-migratable collection's), computed on first use.
    #[serde(skip)]
    per_pe: std::sync::OnceLock<Vec<u32>>,
}

impl SectionInfo {
    /// A new section of `info` with members `members` (sorted, deduplicated here).
    fn new(info: &CollInfo, mut members: Vec<u32>) -> SectionInfo {
        members.sort_unstable();
        members.dedup();
        // A dynamic array's sections reduce at the array's root, which
        // knows which members were deleted (see `crate::dynamic`).
        let root = info
            .dynamic
            .unwrap_or_else(|| members.first().map_or(0, |&l| info.pe_of(&Index::from_linear(l as usize, &info.dims))));
        SectionInfo { id: new_id(), root, members, per_pe: Default::default() }
    }

    /// How many members live on PE `pe` (elements of `info`, which do not move).
    pub(crate) fn members_on(&self, info: &CollInfo, pe: usize) -> usize {
        let counts = self.per_pe.get_or_init(|| {
            let mut c = vec![0u32; info.npes];
            for &l in &self.members {
                c[info.pe_of(&Index::from_linear(l as usize, &info.dims))] += 1;
            }
            c
        });
        counts.get(pe).copied().unwrap_or(0) as usize
    }

    /// Checks a section that came from outside against its collection.
    pub(crate) fn check(&self, info: &CollInfo) -> Result<(), String> {
        let sorted = self.members.windows(2).all(|w| w[0] < w[1]);
        let inside = self.members.last().is_none_or(|&l| (l as usize) < info.total);
        // A group on a subset of the PEs: members among its elements.
        let elements = info.members.as_ref().is_none_or(|m| self.members.iter().all(|l| m.binary_search(l).is_ok()));
        if !sorted || !inside || !elements || self.root >= info.npes.max(1) {
            return Err(format!("malformed section {} of collection {}", self.id, info.id));
        }
        Ok(())
    }
}

/// A job-wide id for a new section, allocated as collection ids are.
fn new_id() -> CollId {
    with_pe(|pe| {
        let npes = pe.shared.num_pes();
        let k = pe.shared.next_coll.fetch_add(1, Ordering::Relaxed);
        if pe.machine.is_local() {
            k
        } else {
            (k - 1) * npes as u32 + pe.id as u32 + 1
        }
    })
}

/// The pseudo-receiver whose stream counter numbers an element's
/// contributions to section `id`.
pub(crate) fn seq_key(id: CollId) -> Addr {
    Addr { coll: id, lin: u32::MAX }
}

/// A subset of the elements of a collection of `T` (Charm4Py's `Section`).
/// Dereferences to the same generated methods as the collection's proxy:
/// `section.m(x)` multicasts `m` to every member (once each),
/// `section.m_ret(x)` completes once every member ran it, and
/// `section.m_callback()` is a reduction target that multicasts.
///
/// Built with [`CollectionProxy::section`], [`CollectionProxy::slice`],
/// [`CollectionProxy::section_where`] or [`CollectionProxy::split`];
/// combined with [`Section::union`]. Members reduce over it with
/// [`Ctx::section_contribute`](crate::Ctx::section_contribute) and
/// [`Ctx::section_allreduce`](crate::Ctx::section_allreduce).
pub struct Section<T: Chare> {
    coll: CollectionProxy<T>,
    bcast: T::Broadcast,
}

impl<T: Chare> Section<T> {
    fn of(coll: &CollectionProxy<T>, members: Vec<u32>) -> Section<T> {
        let raw = coll.coll_ref();
        let sec = Arc::new(SectionInfo::new(&raw.info, members));
        Section::from_raw(CollRef { info: raw.info.clone(), section: Some(sec) })
    }

    pub(crate) fn from_raw(raw: CollRef) -> Section<T> {
        let whole = CollRef { info: raw.info.clone(), section: None };
        Section { coll: CollectionProxy::from_raw(whole), bcast: <T::Broadcast as crate::BroadcastOf>::from_raw(raw) }
    }

    pub(crate) fn raw(&self) -> &CollRef {
        crate::BroadcastOf::raw(&self.bcast)
    }

    pub(crate) fn info(&self) -> &Arc<SectionInfo> {
        self.raw().section.as_ref().expect("a section's handle has its members")
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.info().members.len()
    }

    /// Whether the section has no member.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The members' indices in row-major order.
    pub fn indices(&self) -> impl Iterator<Item = Index> + '_ {
        let dims = &self.raw().info.dims;
        self.info().members.iter().map(move |&l| Index::from_linear(l as usize, dims))
    }

    /// Whether element `ix` is a member.
    pub fn contains(&self, ix: impl Into<Index>) -> bool {
        let ix = ix.into();
        let info = &self.raw().info;
        ix.within(&info.dims) && self.info().members.binary_search(&info.addr_of(&ix).lin).is_ok()
    }

    /// The whole collection the section is part of.
    pub fn collection(&self) -> &CollectionProxy<T> {
        &self.coll
    }

    /// The section of the members of `self` or `other` (Charm4Py's
    /// `charm.combine`): a new section, with its own reductions. Panics if
    /// they are sections of different collections.
    #[track_caller]
    pub fn union(&self, other: &Section<T>) -> Section<T> {
        assert!(
            self.raw().info.id == other.raw().info.id,
            "union of sections of different collections ({} and {})",
            self.raw().info.id,
            other.raw().info.id
        );
        let members = self.info().members.iter().chain(&other.info().members).copied().collect();
        Section::of(&self.coll, members)
    }
}

impl<T: Chare> Clone for Section<T> {
    fn clone(&self) -> Self {
        Section { coll: self.coll.clone(), bcast: self.bcast.clone() }
    }
}

impl<T: Chare> Deref for Section<T> {
    type Target = T::Broadcast;
    fn deref(&self) -> &T::Broadcast {
        &self.bcast
    }
}

impl<T: Chare> fmt::Debug for Section<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Section<{}>#{} ({} members)", T::NAME, self.info().id, self.len())
    }
}

impl<T: Chare> serde::Serialize for Section<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.raw().serialize(s)
    }
}

impl<'de, T: Chare> serde::Deserialize<'de> for Section<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = CollRef::deserialize(d)?;
        if raw.section.is_none() {
            return Err(serde::de::Error::custom("a collection proxy where a section was expected"));
        }
        Ok(Section::from_raw(raw))
    }
}

/// Building sections of a collection.
impl<T: Chare> CollectionProxy<T> {
    /// The section of the elements at `indices` (repeats count once).
    /// Panics if an index is outside the collection.
    #[track_caller]
    pub fn section<I: Into<Index>>(&self, indices: impl IntoIterator<Item = I>) -> Section<T> {
        let info = &self.coll_ref().info;
        let members = indices
            .into_iter()
            .map(|ix| {
                let ix = ix.into();
                info.check(&ix);
                info.addr_of(&ix).lin
            })
            .collect();
        Section::of(self, members)
    }

    /// The section of the elements whose index satisfies `keep`.
    pub fn section_where(&self, mut keep: impl FnMut(Index) -> bool) -> Section<T> {
        let info = &self.coll_ref().info;
        let members = self.indices().filter(|ix| keep(*ix)).map(|ix| info.addr_of(&ix).lin).collect();
        Section::of(self, members)
    }

    /// The section of the elements in the N-d box `ranges` (one half-open
    /// range per dimension, clipped to the shape): `a.slice([0..2, 4..8])`.
    /// Panics if the number of ranges is not the number of dimensions.
    #[track_caller]
    pub fn slice(&self, ranges: impl AsRef<[Range<usize>]>) -> Section<T> {
        let spec: Vec<(usize, usize, usize)> = ranges.as_ref().iter().map(|r| (r.start, r.end, 1)).collect();
        self.slice_step(&spec)
    }

    /// The section of the elements selected by Python-style slices, one
    /// `(start, stop, step)` per dimension (`stop` clipped to the shape):
    /// `a.slice_step(&[(0, 8, 2)])` is Charm4Py's `Section(a, slice(0, 8, 2))`.
    /// Panics on a step of 0 or a wrong number of dimensions.
    #[track_caller]
    pub fn slice_step(&self, spec: &[(usize, usize, usize)]) -> Section<T> {
        let dims = self.dims();
        assert!(
            spec.len() == dims.len(),
            "a slice of {} needs one range per dimension: {} given, shape {dims:?}",
            T::NAME,
            spec.len()
        );
        assert!(spec.iter().all(|s| s.2 > 0), "a slice's step must be positive");
        self.section_where(|ix| {
            spec.iter().zip(ix.as_slice()).all(|(&(start, stop, step), &i)| {
                let i = i as usize;
                i >= start && i < stop && (i - start).is_multiple_of(step)
            })
        })
    }

    /// Splits the collection into `n` sections: element `ix` goes to section
    /// `which(ix)` (Charm4Py's `charm.split`); an element for which it
    /// returns `n` or more is in none.
    pub fn split(&self, n: usize, mut which: impl FnMut(Index) -> usize) -> Vec<Section<T>> {
        let mut parts: Vec<Vec<u32>> = vec![Vec::new(); n];
        let info = &self.coll_ref().info;
        for ix in self.indices() {
            if let Some(p) = parts.get_mut(which(ix)) {
                p.push(info.addr_of(&ix).lin);
            }
        }
        parts.into_iter().map(|m| Section::of(self, m)).collect()
    }
}

/// Sends `msg` to every member of section `sec` of collection `info`.
pub(crate) fn multicast<M: Clone + serde::Serialize + Send + 'static>(info: &Arc<CollInfo>, sec: &SectionInfo, msg: M) {
    multicast_payload(info, sec, Box::new(msg), clone_payload::<M>, clone_erased::<M>)
}

fn clone_payload<M: Clone + serde::Serialize + Send + 'static>(p: &dyn Value) -> Payload {
    Box::new(p.as_any().downcast_ref::<M>().expect("payload type").clone())
}

fn clone_erased<M: Clone + serde::Serialize + Send + 'static>(p: &dyn Value) -> Erased {
    Erased::new(p.as_any().downcast_ref::<M>().expect("payload type").clone())
}

/// Sends the call `body` to every member: one message per PE, or (migratable
/// elements) one ordered call per member.
pub(crate) fn multicast_payload(
    info: &Arc<CollInfo>,
    sec: &SectionInfo,
    body: Payload,
    clone: fn(&dyn Value) -> Payload,
    each: fn(&dyn Value) -> Erased,
) {
    with_pe(|pe| {
        if info.migratable {
            for &l in &sec.members {
                let ix = Index::from_linear(l as usize, &info.dims);
                pe.send_ordered(info, &ix, None, each(&*body));
            }
            return;
        }
        let by_pe = by_pe(info, &sec.members);
        let mut body = Some(body);
        let n = by_pe.len();
        for (k, (to, lins)) in by_pe.into_iter().enumerate() {
            let b = if k + 1 == n { body.take().expect("one body per PE") } else { clone(&**body.as_ref().unwrap()) };
            pe.post(to, Multicast { coll: info.id, lins, body: b, each });
        }
    });
}

/// The members grouped by the PE they live on (elements that do not move),
/// PEs in order of their first member.
fn by_pe(info: &CollInfo, members: &[u32]) -> Vec<(usize, Vec<u32>)> {
    let mut out: Vec<(usize, Vec<u32>)> = Vec::new();
    for &l in members {
        let to = info.pe_of(&Index::from_linear(l as usize, &info.dims));
        match out.iter_mut().find(|(p, _)| *p == to) {
            Some((_, v)) => v.push(l),
            None => out.push((to, vec![l])),
        }
    }
    out
}

/// One PE's part of a multicast: the members there and one copy of the call.
pub(crate) struct Multicast {
    coll: CollId,
    lins: Vec<u32>,
    body: Payload,
    /// Clones the call as an element's message.
    each: fn(&dyn Value) -> Erased,
}

impl Outgoing for Multicast {
    fn into_msg(self) -> Msg {
        let Multicast { coll, lins, body, each } = self;
        Msg::Control(Box::new(move |pe: &Pe| {
            deliver(pe, coll, &lins, |_| Incoming::Obj(each(&*body)));
        }))
    }
    fn encode(&self, out: &mut Vec<u8>) -> Result<Wire, String> {
        self.body
            .encode_into(out)
            .map(|()| Wire::Multicast(Box::new((self.coll, self.lins.clone()))))
            .map_err(|e| format!("multicast to a section of collection {}: {e}", self.coll))
    }
}

/// A multicast from another process: its members here and the call's bytes.
pub(crate) fn from_wire(coll: CollId, lins: Vec<u32>, body: crate::value::Encoded) -> Msg {
    Msg::Control(Box::new(move |pe: &Pe| {
        let body = Body::Bytes(body);
        deliver(pe, coll, &lins, |_| match &body {
            Body::Bytes(b) => Incoming::Bytes(b.clone()),
            Body::Obj(_) => unreachable!("bytes from another process"),
        });
    }))
}

fn deliver(pe: &Pe, coll: CollId, lins: &[u32], mut item: impl FnMut(u32) -> Incoming) {
    for &lin in lins {
        pe.deliver_entry(Addr { coll, lin }, item(lin));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collection::{CollKind, Placement};

    fn block(total: usize, npes: usize) -> CollInfo {
        CollInfo {
            id: 7,
            kind: CollKind::Array,
            dims: vec![total],
            total,
            placement: Placement::Block,
            npes,
            chare: "T",
            migratable: false,
            at_sync: false,
            balancer: None,
            dynamic: None,
            members: None,
        }
    }

    /// A multicast sends one message per PE holding members, each with
    /// exactly its members; the per-PE counts for reductions agree.
    #[test]
    fn members_are_grouped_by_pe() {
        let info = block(12, 3);
        let members = vec![0, 1, 5, 6, 7, 11];
        let groups = by_pe(&info, &members);
        assert_eq!(groups, vec![(0, vec![0, 1]), (1, vec![5, 6, 7]), (2, vec![11])]);
        let sec = SectionInfo { id: 9, root: 0, members, per_pe: Default::default() };
        assert_eq!((0..4).map(|p| sec.members_on(&info, p)).collect::<Vec<_>>(), vec![2, 3, 1, 0]);
    }

    /// A section from outside is checked against its collection.
    #[test]
    fn malformed_sections_are_refused() {
        let info = block(4, 2);
        let ok = SectionInfo { id: 9, root: 1, members: vec![0, 3], per_pe: Default::default() };
        assert!(ok.check(&info).is_ok());
        for (members, root) in [(vec![3, 0], 0), (vec![0, 4], 0), (vec![1, 1], 0), (vec![0], 2)] {
            let bad = SectionInfo { id: 9, root, members, per_pe: Default::default() };
            assert!(bad.check(&info).is_err(), "{bad:?}");
        }
    }
}
