//! Reductions over the elements of a collection.
//!
//! Protocol (local layer):
//! 1. every element's k-th `contribute` belongs to reduction k of its
//!    collection (sequence numbers are per element, so several reductions may
//!    be in flight at once and still match up);
//! 2. each PE combines the contributions of its own elements; when all of them
//!    contributed to reduction k it sends the partial, with its element count,
//!    to the root (PE 0);
//! 3. the root combines partials until the count equals the collection's size,
//!    finishes the value (e.g. sorts a gather by index) and delivers it to the
//!    target: a future, a callback (one element or all elements), or, for
//!    `allreduce`, every contributor's own future.

use crate::future::{Future, RawFuture};
use crate::index::Index;
use crate::message::{CollId, Msg};
use crate::proxy::Callback;
use crate::scheduler::Pe;
use crate::section::SectionInfo;
use crate::value::Body;
use rustc_hash::FxHashMap;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;

/// A reduction operation over values of type `V`. Partials and results are
/// serialisable: on the MPI layer they travel between processes.
pub trait Reducer<V>: Send + 'static {
    /// What is combined on the way to the root.
    type Partial: Serialize + DeserializeOwned + Send + 'static;
    /// The result delivered to the target.
    type Out: Clone + Serialize + DeserializeOwned + Send + 'static;
    /// One element's contribution as a partial.
    fn lift(&self, index: Index, value: V) -> Self::Partial;
    /// Folds `other` into `acc`.
    fn combine(&self, acc: &mut Self::Partial, other: Self::Partial);
    /// The final result.
    fn finish(&self, p: Self::Partial) -> Self::Out;
}

/// Values that `Sum`, `Product`, `Min` and `Max` can reduce: numbers, and
/// vectors of numbers (element-wise; all contributions must have one length).
pub trait Arith: Clone + Send + Serialize + DeserializeOwned + 'static {
    /// `self += o`
    fn add(&mut self, o: Self);
    /// `self *= o`
    fn mul(&mut self, o: Self);
    /// `self = min(self, o)`
    fn min(&mut self, o: Self);
    /// `self = max(self, o)`
    fn max(&mut self, o: Self);
}

macro_rules! arith_num {
    ($($t:ty),*) => {$(
        impl Arith for $t {
            #[inline] fn add(&mut self, o: Self) { *self += o }
            #[inline] fn mul(&mut self, o: Self) { *self *= o }
            #[inline] fn min(&mut self, o: Self) { if o < *self { *self = o } }
            #[inline] fn max(&mut self, o: Self) { if o > *self { *self = o } }
        }
    )*};
}
arith_num!(i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize, f32, f64);

impl<T: Arith> Arith for Vec<T> {
    fn add(&mut self, o: Self) {
        zip_apply(self, o, T::add)
    }
    fn mul(&mut self, o: Self) {
        zip_apply(self, o, T::mul)
    }
    fn min(&mut self, o: Self) {
        zip_apply(self, o, T::min)
    }
    fn max(&mut self, o: Self) {
        zip_apply(self, o, T::max)
    }
}

fn zip_apply<T>(a: &mut [T], b: Vec<T>, f: fn(&mut T, T)) {
    assert_eq!(a.len(), b.len(), "element-wise reduction of vectors of different lengths");
    for (x, y) in a.iter_mut().zip(b) {
        f(x, y);
    }
}

/// A reducer that folds contributions of a type with trait `$bound` by its
/// method `$method` (the partial result is the value itself).
macro_rules! fold_reducer {
    ($bound:ident, $name:ident, $method:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;
        impl<V: $bound> Reducer<V> for $name {
            type Partial = V;
            type Out = V;
            fn lift(&self, _: Index, v: V) -> V {
                v
            }
            fn combine(&self, acc: &mut V, o: V) {
                acc.$method(o)
            }
            fn finish(&self, p: V) -> V {
                p
            }
        }
    };
}
fold_reducer!(Arith, Sum, add, "Sum of all contributions.");
fold_reducer!(Arith, Product, mul, "Product of all contributions.");
fold_reducer!(Arith, Min, min, "Smallest contribution.");
fold_reducer!(Arith, Max, max, "Largest contribution.");

/// Values that `And`, `Or` and `Xor` can reduce: `bool`, and vectors of
/// them (element-wise, like Charm4Py's logical reducers over lists; all
/// contributions must have one length).
pub trait Logical: Clone + Send + Serialize + DeserializeOwned + 'static {
    /// `self = self && o`
    fn and(&mut self, o: Self);
    /// `self = self || o`
    fn or(&mut self, o: Self);
    /// `self = self ^ o`
    fn xor(&mut self, o: Self);
}

impl Logical for bool {
    #[inline]
    fn and(&mut self, o: Self) {
        *self = *self && o
    }
    #[inline]
    fn or(&mut self, o: Self) {
        *self = *self || o
    }
    #[inline]
    fn xor(&mut self, o: Self) {
        *self ^= o
    }
}

impl<T: Logical> Logical for Vec<T> {
    fn and(&mut self, o: Self) {
        zip_apply(self, o, T::and)
    }
    fn or(&mut self, o: Self) {
        zip_apply(self, o, T::or)
    }
    fn xor(&mut self, o: Self) {
        zip_apply(self, o, T::xor)
    }
}

fold_reducer!(Logical, And, and, "Logical and of `bool` contributions, or element-wise of `Vec<bool>` ones.");
fold_reducer!(Logical, Or, or, "Logical or of `bool` contributions, or element-wise of `Vec<bool>` ones.");
fold_reducer!(
    Logical,
    Xor,
    xor,
    "Logical exclusive or (Charm4Py's `logical_xor`) of `bool` contributions, or element-wise of `Vec<bool>` \
     ones: true where an odd number of contributions is true."
);

/// All contributions as a vector ordered by element index.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gather;
impl<V: Clone + Serialize + DeserializeOwned + Send + 'static> Reducer<V> for Gather {
    type Partial = Vec<(Index, V)>;
    type Out = Vec<V>;
    fn lift(&self, ix: Index, v: V) -> Vec<(Index, V)> {
        vec![(ix, v)]
    }
    fn combine(&self, acc: &mut Vec<(Index, V)>, mut o: Vec<(Index, V)>) {
        if acc.len() < o.len() {
            std::mem::swap(acc, &mut o);
        }
        acc.extend(o);
    }
    fn finish(&self, mut p: Vec<(Index, V)>) -> Vec<V> {
        p.sort_unstable_by_key(|(ix, _)| *ix);
        p.into_iter().map(|(_, v)| v).collect()
    }
}

/// No value: completes when every element contributed (a barrier).
#[derive(Clone, Copy, Debug, Default)]
pub struct Nop;
impl Reducer<()> for Nop {
    type Partial = ();
    type Out = ();
    fn lift(&self, _: Index, _: ()) {}
    fn combine(&self, _: &mut (), _: ()) {}
    fn finish(&self, _: ()) {}
}

/// A user function combining two values; it must be associative and
/// commutative (contributions are combined in no fixed order).
pub struct Custom<V>(pub fn(V, V) -> V);
impl<V> Clone for Custom<V> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<V> Copy for Custom<V> {}
impl<V: Clone + Serialize + DeserializeOwned + Send + 'static> Reducer<V> for Custom<V> {
    type Partial = Option<V>;
    type Out = V;
    fn lift(&self, _: Index, v: V) -> Option<V> {
        Some(v)
    }
    fn combine(&self, acc: &mut Option<V>, o: Option<V>) {
        *acc = match (acc.take(), o) {
            (Some(a), Some(b)) => Some((self.0)(a, b)),
            (a, b) => a.or(b),
        };
    }
    fn finish(&self, p: Option<V>) -> V {
        p.expect("a reduction has at least one contribution")
    }
}

/// Where a reduction's result goes.
pub enum Target<R> {
    /// Fulfil a future.
    Future(Future<R>),
    /// Call an entry method of one element or broadcast to all.
    Callback(Callback<R>),
    /// End the job with this exit code once the reduction completes (the
    /// result itself is dropped): see [`ExitJob`].
    Exit(i32),
}

/// A reduction target that ends the job (Charm4Py's reduction to
/// `charm.thisProxy.exit`): `ctx.contribute((), Nop, ExitJob(0))`. When the
/// reduction completes on its root, the job ends on every PE with exit code
/// `code`, as `rt.exit(code)` does there; the reduced value is dropped, so
/// any reducer works. Work still in flight is not waited for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExitJob(pub i32);

impl<R> From<ExitJob> for Target<R> {
    fn from(e: ExitJob) -> Self {
        Target::Exit(e.0)
    }
}

impl<R> From<Future<R>> for Target<R> {
    fn from(f: Future<R>) -> Self {
        Target::Future(f)
    }
}
impl<R> From<Callback<R>> for Target<R> {
    fn from(c: Callback<R>) -> Self {
        Target::Callback(c)
    }
}

pub(crate) enum Delivery {
    Future(RawFuture),
    Callback(Box<dyn Any + Send>),
    All(Vec<RawFuture>),
    /// End the job with this exit code ([`ExitJob`]).
    Exit(i32),
    /// A partial from another process: the root delivers with its own target.
    AtRoot,
}

/// The target as it travels with a partial between processes.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) enum WireDelivery {
    Future(RawFuture),
    All(Vec<RawFuture>),
    Exit(i32),
    AtRoot,
}

/// How to combine and finish one reduction's partials; known where an
/// element contributed (the types are erased here).
trait Combiner: Send {
    fn combine(&self, acc: Body, other: Body) -> Result<Body, String>;
    fn finish(&self, acc: Body, delivery: Delivery) -> Result<(), String>;
}

struct Typed<V, R> {
    op: R,
    _v: PhantomData<fn(V)>,
}

impl<V: 'static, R: Reducer<V>> Combiner for Typed<V, R> {
    fn combine(&self, acc: Body, other: Body) -> Result<Body, String> {
        let mut a: R::Partial = acc.take()?;
        self.op.combine(&mut a, other.take()?);
        Ok(Body::Obj(Box::new(a)))
    }

    fn finish(&self, acc: Body, delivery: Delivery) -> Result<(), String> {
        let out = self.op.finish(acc.take()?);
        match delivery {
            Delivery::Future(f) => f.set_any(Box::new(out)),
            Delivery::Callback(cb) => match cb.downcast::<Callback<R::Out>>() {
                Ok(cb) => cb.send(out),
                Err(_) => return Err("reduction callback of the wrong type".into()),
            },
            Delivery::All(fs) => {
                for f in fs {
                    f.set_any(Box::new(out.clone()));
                }
            }
            Delivery::Exit(code) => crate::scheduler::with_pe(|pe| pe.shared.finish(Ok(code))),
            Delivery::AtRoot => return Err("reduction reached its root without a target".into()),
        }
        Ok(())
    }
}

/// A partial result of reduction `seq` of collection `coll`.
pub(crate) struct Contribution {
    pub coll: CollId,
    pub seq: u64,
    /// Elements folded into `partial`.
    pub count: usize,
    /// Elements of the collection.
    pub total: usize,
    /// The PE that finishes the reduction: the PE of element 0.
    pub root: usize,
    partial: Body,
    combiner: Option<Box<dyn Combiner>>,
    delivery: Delivery,
    /// The collection's elements migrate: a PE that sends its part to a root
    /// in another process keeps the combiner and target (see [`hand_off`]).
    pub keep: bool,
    /// The PE in another process this part came from.
    src: Option<usize>,
    /// A member's first contribution to a section of a dynamic array: the
    /// array and the section's members, for the root (the array's root),
    /// which counts the members not deleted ([`crate::dynamic`]).
    pub dyn_section: Option<(CollId, Arc<crate::section::SectionInfo>)>,
}

/// A contribution as it travels between processes.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct WireContribution {
    coll: CollId,
    seq: u64,
    count: usize,
    total: usize,
    root: usize,
    #[serde(with = "crate::value::bytes")]
    partial: Vec<u8>,
    delivery: WireDelivery,
    keep: bool,
    dyn_section: Option<(CollId, crate::section::SectionInfo)>,
}

impl Contribution {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new<V: 'static, R: Reducer<V>>(
        coll: CollId,
        seq: u64,
        total: usize,
        root: usize,
        index: Index,
        value: V,
        op: R,
        delivery: Delivery,
    ) -> Option<Contribution> {
        let lifted = op.lift(index, value);
        let lifted = crate::value::checked(lifted, || format!("reduction {seq} of collection {coll}"))?;
        let partial = Body::Obj(Box::new(lifted));
        Some(Contribution {
            coll,
            seq,
            count: 1,
            total,
            root,
            partial,
            combiner: Some(Box::new(Typed { op, _v: PhantomData })),
            delivery,
            keep: false,
            src: None,
            dyn_section: None,
        })
    }

    pub(crate) fn to_wire(&self) -> Result<WireContribution, String> {
        let partial = match &self.partial {
            Body::Obj(v) => {
                let mut out = Vec::new();
                v.encode_into(&mut out)?;
                out
            }
            Body::Bytes(b) => b.bytes.to_vec(),
        };
        let delivery = match &self.delivery {
            Delivery::Future(f) => WireDelivery::Future(*f),
            Delivery::All(fs) => WireDelivery::All(fs.clone()),
            Delivery::Exit(code) => WireDelivery::Exit(*code),
            Delivery::Callback(_) | Delivery::AtRoot => WireDelivery::AtRoot,
        };
        Ok(WireContribution {
            coll: self.coll,
            seq: self.seq,
            count: self.count,
            total: self.total,
            root: self.root,
            partial,
            delivery,
            keep: self.keep,
            dyn_section: self.dyn_section.as_ref().map(|(a, s)| (*a, SectionInfo::clone(s))),
        })
    }

    pub(crate) fn from_wire(w: WireContribution, att: Vec<crate::buffer::RawBuf>, from: usize) -> Contribution {
        Contribution {
            keep: w.keep,
            src: Some(from),
            dyn_section: w.dyn_section.map(|(a, s)| (a, Arc::new(s))),
            coll: w.coll,
            seq: w.seq,
            count: w.count,
            total: w.total,
            root: w.root,
            partial: Body::Bytes(crate::value::Encoded { bytes: w.partial.into(), att }),
            combiner: None,
            delivery: match w.delivery {
                WireDelivery::Future(f) => Delivery::Future(f),
                WireDelivery::All(fs) => Delivery::All(fs),
                WireDelivery::Exit(code) => Delivery::Exit(code),
                WireDelivery::AtRoot => Delivery::AtRoot,
            },
        }
    }
}

pub(crate) fn delivery_of<R: Send + 'static>(t: Target<R>) -> Delivery {
    match t {
        Target::Future(f) => Delivery::Future(f.raw()),
        Target::Callback(cb) => Delivery::Callback(Box::new(cb)),
        Target::Exit(code) => Delivery::Exit(code),
    }
}

/// One reduction being combined on a PE.
struct Pending {
    count: usize,
    total: usize,
    root: usize,
    partial: Option<Body>,
    /// Partials from other processes that arrived before a local one told
    /// how to combine them.
    waiting: Vec<Body>,
    combiner: Option<Box<dyn Combiner>>,
    delivery: Delivery,
    /// At the root: the PEs in other processes whose parts arrived.
    srcs: Vec<usize>,
    keep: bool,
}

impl Pending {
    fn new(c: &Contribution) -> Pending {
        Pending {
            srcs: Vec::new(),
            keep: c.keep,
            count: 0,
            total: c.total,
            root: c.root,
            partial: None,
            waiting: Vec::new(),
            combiner: None,
            delivery: Delivery::AtRoot,
        }
    }

    fn fold(&mut self, p: Body) -> Result<(), String> {
        match (self.partial.take(), &self.combiner) {
            (None, _) => self.partial = Some(p),
            (Some(acc), Some(c)) => self.partial = Some(c.combine(acc, p)?),
            (Some(acc), None) => {
                self.partial = Some(acc);
                self.waiting.push(p);
            }
        }
        Ok(())
    }

    fn add(&mut self, c: Contribution) -> Result<(), String> {
        self.count += c.count;
        self.keep |= c.keep;
        if let Some(src) = c.src {
            self.srcs.push(src);
        }
        if self.combiner.is_none() && c.combiner.is_some() {
            self.combiner = c.combiner;
        }
        self.delivery = match (std::mem::replace(&mut self.delivery, Delivery::AtRoot), c.delivery) {
            (Delivery::All(mut a), Delivery::All(b)) => {
                a.extend(b);
                Delivery::All(a)
            }
            (Delivery::AtRoot, d) => d,
            (d, Delivery::AtRoot) => d,
            // Every element names the same target; keep the first.
            (d, _) => d,
        };
        self.fold(c.partial)?;
        if self.combiner.is_some() {
            for p in std::mem::take(&mut self.waiting) {
                self.fold(p)?;
            }
        }
        Ok(())
    }
}

/// Reductions in progress on one PE.
#[derive(Default)]
pub(crate) struct ReductionTable {
    /// Combining the contributions of this PE's elements.
    local: FxHashMap<(CollId, u64), Pending>,
    /// On the root: combining the PEs' partials.
    root: FxHashMap<(CollId, u64), Pending>,
    /// Parts sent to a root in another process (migratable collections):
    /// their combiner and target, kept in case the root has none.
    kept: FxHashMap<(CollId, u64), (Box<dyn Combiner>, Delivery)>,
    /// On the root of a dynamic array: its membership ([`crate::dynamic`]).
    pub(crate) dynamic: FxHashMap<CollId, crate::dynamic::DynRoot>,
    /// On the root of a dynamic array: the sections of it whose reductions
    /// it combines, by section id: the array and the members (learnt from
    /// the members' first contributions).
    dyn_sections: FxHashMap<CollId, (CollId, Arc<SectionInfo>)>,
}

/// An element of this PE contributes.
pub(crate) fn contribute_local(pe: &Pe, c: Contribution) {
    let key = (c.coll, c.seq);
    if let Some(l) = pe.chares.colls.borrow_mut().get_mut(&c.coll) {
        l.contributed(c.seq);
    }
    let r = {
        let mut t = pe.reductions.borrow_mut();
        let p = t.local.entry(key).or_insert_with(|| Pending::new(&c));
        p.add(c)
    };
    match r {
        Ok(()) => flush_if_complete(pe, key),
        Err(e) => pe.fail_usage(format!("reduction {} of collection {}: {e}", key.1, key.0)),
    }
}

/// An element contributes to a section's reduction: straight to the root
/// (see [`crate::section`]). Keeps the combiner and target here when the
/// root is in another process and the elements migrate (see [`hand_off`]).
pub(crate) fn contribute_direct(pe: &Pe, mut c: Contribution) {
    if c.keep && pe.route(c.root) == crate::route::Route::Remote {
        if let Some(combiner) = c.combiner.take() {
            let sent = match &c.delivery {
                Delivery::Future(f) => Delivery::Future(*f),
                Delivery::All(fs) => Delivery::All(fs.clone()),
                Delivery::Exit(code) => Delivery::Exit(*code),
                Delivery::Callback(_) | Delivery::AtRoot => Delivery::AtRoot,
            };
            let kept = std::mem::replace(&mut c.delivery, sent);
            pe.reductions.borrow_mut().kept.insert((c.coll, c.seq), (combiner, kept));
        }
    }
    pe.post(c.root, Msg::Reduce(Box::new(c)));
}

/// A member of a section of a non-migratable collection contributes: the
/// contributions of the section's `here` members on this PE are combined
/// here, then go to the root as one part.
pub(crate) fn contribute_combined(pe: &Pe, c: Contribution, here: usize) {
    let key = (c.coll, c.seq);
    let r = {
        let mut t = pe.reductions.borrow_mut();
        let p = t.local.entry(key).or_insert_with(|| Pending::new(&c));
        p.add(c).map(|()| p.count >= here)
    };
    match r {
        Ok(true) => {
            let p = pe.reductions.borrow_mut().local.remove(&key).expect("a pending reduction");
            let part = Contribution {
                coll: key.0,
                seq: key.1,
                count: p.count,
                total: p.total,
                root: p.root,
                partial: p.partial.expect("a pending reduction has a partial"),
                combiner: p.combiner,
                delivery: p.delivery,
                keep: false,
                src: None,
                dyn_section: None,
            };
            pe.post(part.root, Msg::Reduce(Box::new(part)));
        }
        Ok(false) => {}
        Err(e) => pe.fail_usage(format!("reduction {} of section {}: {e}", key.1, key.0)),
    }
}

/// Sends this PE's part of reduction `key` to the root once no element here
/// still owes it a contribution.
fn flush_if_complete(pe: &Pe, key: (CollId, u64)) {
    let owes = pe.chares.colls.borrow().get(&key.0).is_some_and(|l| l.owes(key.1));
    if owes {
        return;
    }
    let p = {
        let mut t = pe.reductions.borrow_mut();
        match t.local.get(&key) {
            Some(p) if p.waiting.is_empty() => t.local.remove(&key),
            _ => None,
        }
    };
    let Some(p) = p else { return };
    let (mut combiner, mut delivery) = (p.combiner, p.delivery);
    if p.keep && pe.route(p.root) == crate::route::Route::Remote {
        // The root may hold no element of the collection any more, and then
        // no typed contribution: keep what it would need.
        if let Some(c) = combiner.take() {
            let sent = match &delivery {
                Delivery::Future(f) => Delivery::Future(*f),
                Delivery::All(fs) => Delivery::All(fs.clone()),
                Delivery::Exit(code) => Delivery::Exit(*code),
                Delivery::Callback(_) | Delivery::AtRoot => Delivery::AtRoot,
            };
            pe.reductions.borrow_mut().kept.insert(key, (c, std::mem::replace(&mut delivery, sent)));
        }
    }
    let part = Contribution {
        coll: key.0,
        seq: key.1,
        count: p.count,
        total: p.total,
        root: p.root,
        partial: p.partial.expect("a pending reduction has a partial"),
        combiner,
        delivery,
        keep: p.keep,
        src: None,
        dyn_section: None,
    };
    pe.post(part.root, Msg::Reduce(Box::new(part)));
}

/// An element of collection `coll` left this PE: the parts it no longer
/// holds back may be complete.
pub(crate) fn recheck(pe: &Pe, coll: CollId) {
    let mut keys: Vec<(CollId, u64)> = pe.reductions.borrow().local.keys().filter(|k| k.0 == coll).copied().collect();
    keys.sort_unstable();
    for key in keys {
        flush_if_complete(pe, key);
    }
}

/// The root receives a PE's partial.
pub(crate) fn receive(pe: &Pe, mut c: Contribution) {
    let key = (c.coll, c.seq);
    let r = {
        let mut t = pe.reductions.borrow_mut();
        if let Some(s) = c.dyn_section.take() {
            t.dyn_sections.entry(c.coll).or_insert(s);
        }
        let p = t.root.entry(key).or_insert_with(|| Pending::new(&c));
        p.add(c)
    };
    match r {
        Ok(()) => try_finish(pe, key),
        Err(e) => pe.fail_usage(format!("reduction {} of collection {}: {e}", key.1, key.0)),
    }
}

/// The root checks again the reductions of `coll` it holds (a dynamic
/// array's membership or insertion phase changed).
pub(crate) fn recheck_root(pe: &Pe, coll: CollId) {
    let keys: Vec<(CollId, u64)> = {
        let t = pe.reductions.borrow();
        let of_coll = |id: CollId| id == coll || t.dyn_sections.get(&id).is_some_and(|s| s.0 == coll);
        t.root.keys().filter(|k| of_coll(k.0)).copied().collect()
    };
    let mut keys = keys;
    keys.sort_unstable();
    for key in keys {
        try_finish(pe, key);
    }
}

/// Finishes reduction `key` at the root if it has every contribution.
fn try_finish(pe: &Pe, key: (CollId, u64)) {
    let done = {
        let mut t = pe.reductions.borrow_mut();
        let t = &mut *t;
        let Some(p) = t.root.get(&key) else { return };
        let complete = match t.dynamic.get_mut(&key.0) {
            Some(d) if d.ready(key.1, p.count) => {
                d.finished(key.1);
                true
            }
            Some(_) => false,
            // A section of a dynamic array: its members not deleted before
            // contributing to it.
            None => match t.dyn_sections.get(&key.0) {
                Some((array, sec)) => match t.dynamic.get(array) {
                    Some(d) => p.count >= d.section_expected(sec, key.1),
                    None => p.count >= p.total,
                },
                None => p.count >= p.total,
            },
        };
        if !complete {
            return;
        }
        t.root.remove(&key).expect("a pending reduction")
    };
    let srcs = done.srcs.clone();
    let keep = done.keep;
    if done.combiner.is_none() && keep && !srcs.is_empty() {
        return hand_off(pe, key, done.partial, done.waiting, done.delivery, &srcs);
    }
    let (Some(combiner), Some(partial)) = (done.combiner, done.partial) else {
        return pe.fail_usage(format!(
            "reduction {} of collection {} finished without its root's contribution",
            key.1, key.0
        ));
    };
    if let Err(e) = combiner.finish(partial, done.delivery) {
        pe.fail_usage(format!("reduction {} of collection {}: {e}", key.1, key.0));
    }
    if keep {
        for &src in &srcs {
            pe.post(src, ReduceWire::Release { coll: key.0, seq: key.1 });
        }
    }
}

/// The root of a migratable collection's reduction got every part but no
/// typed one (its elements all moved away): the first PE that sent a part
/// finishes it with the combiner and target it kept; the others drop theirs.
fn hand_off(pe: &Pe, key: (CollId, u64), first: Option<Body>, rest: Vec<Body>, d: Delivery, srcs: &[usize]) {
    let mut parts = Vec::with_capacity(rest.len() + 1);
    for b in first.into_iter().chain(rest) {
        match b {
            Body::Bytes(e) => parts.push(crate::migration::MovedItem::of_encoded(&e)),
            Body::Obj(_) => {
                return pe.fail_usage(format!(
                    "internal error: reduction {} of collection {} lost its combiner",
                    key.1, key.0
                ))
            }
        }
    }
    let delivery = match d {
        Delivery::Future(f) => WireDelivery::Future(f),
        Delivery::All(fs) => WireDelivery::All(fs),
        Delivery::Exit(code) => WireDelivery::Exit(code),
        Delivery::Callback(_) | Delivery::AtRoot => WireDelivery::AtRoot,
    };
    pe.post(srcs[0], ReduceWire::Finish { coll: key.0, seq: key.1, parts, delivery });
    for &src in &srcs[1..] {
        pe.post(src, ReduceWire::Release { coll: key.0, seq: key.1 });
    }
}

/// The reduction protocol's messages between processes for migratable
/// collections (see [`hand_off`]).
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) enum ReduceWire {
    /// Finish reduction `seq` with these parts (the root had no combiner).
    Finish { coll: CollId, seq: u64, parts: Vec<crate::migration::MovedItem>, delivery: WireDelivery },
    /// Reduction `seq` is finished: drop what was kept for it.
    Release { coll: CollId, seq: u64 },
}

impl ReduceWire {
    pub(crate) fn handle(self, pe: &Pe) {
        match self {
            ReduceWire::Release { coll, seq } => {
                pe.reductions.borrow_mut().kept.remove(&(coll, seq));
            }
            ReduceWire::Finish { coll, seq, parts, delivery } => {
                let r = finish_kept(pe, (coll, seq), parts, delivery);
                if let Err(e) = r {
                    pe.fail_usage(format!("reduction {seq} of collection {coll}: {e}"));
                }
            }
        }
    }
}

fn finish_kept(
    pe: &Pe,
    key: (CollId, u64),
    parts: Vec<crate::migration::MovedItem>,
    delivery: WireDelivery,
) -> Result<(), String> {
    let (combiner, kept) = pe.reductions.borrow_mut().kept.remove(&key).ok_or("no combiner kept for it")?;
    let mut acc: Option<Body> = None;
    for part in parts {
        let b = Body::Bytes(part.into_encoded()?);
        acc = Some(match acc {
            None => b,
            Some(a) => combiner.combine(a, b)?,
        });
    }
    let delivery = match delivery {
        WireDelivery::Future(f) => Delivery::Future(f),
        WireDelivery::All(fs) => Delivery::All(fs),
        WireDelivery::Exit(code) => Delivery::Exit(code),
        WireDelivery::AtRoot => kept,
    };
    combiner.finish(acc.ok_or("no part")?, delivery)
}

impl crate::route::Outgoing for ReduceWire {
    fn into_msg(self) -> Msg {
        Msg::Control(Box::new(move |pe: &Pe| self.handle(pe)))
    }
    fn encode(&self, _out: &mut Vec<u8>) -> Result<crate::machine::wire::Wire, String> {
        let w = match self {
            ReduceWire::Release { coll, seq } => ReduceWire::Release { coll: *coll, seq: *seq },
            ReduceWire::Finish { .. } => {
                let mut b = Vec::new();
                crate::value::encode_into(self, &mut b)?;
                crate::value::decode(&b)?
            }
        };
        Ok(crate::machine::wire::Wire::Reduction(Box::new(w)))
    }
}
