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
use crate::message::{CollId, Msg, Payload};
use crate::proxy::Callback;
use crate::scheduler::Pe;
use rustc_hash::FxHashMap;

/// A reduction operation over values of type `V`.
pub trait Reducer<V>: Send + 'static {
    /// What is combined on the way to the root.
    type Partial: Send + 'static;
    /// The result delivered to the target.
    type Out: Clone + Send + 'static;
    /// One element's contribution as a partial.
    fn lift(&self, index: Index, value: V) -> Self::Partial;
    /// Folds `other` into `acc`.
    fn combine(acc: &mut Self::Partial, other: Self::Partial);
    /// The final result.
    fn finish(p: Self::Partial) -> Self::Out;
}

/// Values that `Sum`, `Product`, `Min` and `Max` can reduce: numbers, and
/// vectors of numbers (element-wise; all contributions must have one length).
pub trait Arith: Clone + Send + 'static {
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

macro_rules! arith_reducer {
    ($name:ident, $method:ident, $doc:literal) => {
        #[doc = $doc]
        #[derive(Clone, Copy, Debug, Default)]
        pub struct $name;
        impl<V: Arith> Reducer<V> for $name {
            type Partial = V;
            type Out = V;
            fn lift(&self, _: Index, v: V) -> V {
                v
            }
            fn combine(acc: &mut V, o: V) {
                acc.$method(o)
            }
            fn finish(p: V) -> V {
                p
            }
        }
    };
}
arith_reducer!(Sum, add, "Sum of all contributions.");
arith_reducer!(Product, mul, "Product of all contributions.");
arith_reducer!(Min, min, "Smallest contribution.");
arith_reducer!(Max, max, "Largest contribution.");

/// Logical and of `bool` contributions.
#[derive(Clone, Copy, Debug, Default)]
pub struct And;
impl Reducer<bool> for And {
    type Partial = bool;
    type Out = bool;
    fn lift(&self, _: Index, v: bool) -> bool {
        v
    }
    fn combine(acc: &mut bool, o: bool) {
        *acc = *acc && o
    }
    fn finish(p: bool) -> bool {
        p
    }
}

/// Logical or of `bool` contributions.
#[derive(Clone, Copy, Debug, Default)]
pub struct Or;
impl Reducer<bool> for Or {
    type Partial = bool;
    type Out = bool;
    fn lift(&self, _: Index, v: bool) -> bool {
        v
    }
    fn combine(acc: &mut bool, o: bool) {
        *acc = *acc || o
    }
    fn finish(p: bool) -> bool {
        p
    }
}

/// All contributions as a vector ordered by element index.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gather;
impl<V: Clone + Send + 'static> Reducer<V> for Gather {
    type Partial = Vec<(Index, V)>;
    type Out = Vec<V>;
    fn lift(&self, ix: Index, v: V) -> Vec<(Index, V)> {
        vec![(ix, v)]
    }
    fn combine(acc: &mut Vec<(Index, V)>, mut o: Vec<(Index, V)>) {
        if acc.len() < o.len() {
            std::mem::swap(acc, &mut o);
        }
        acc.extend(o);
    }
    fn finish(mut p: Vec<(Index, V)>) -> Vec<V> {
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
    fn combine(_: &mut (), _: ()) {}
    fn finish(_: ()) {}
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
impl<V: Clone + Send + 'static> Reducer<V> for Custom<V> {
    type Partial = (fn(V, V) -> V, Option<V>);
    type Out = V;
    fn lift(&self, _: Index, v: V) -> Self::Partial {
        (self.0, Some(v))
    }
    fn combine(acc: &mut Self::Partial, o: Self::Partial) {
        let a = acc.1.take().expect("partial holds a value");
        acc.1 = Some((acc.0)(a, o.1.expect("partial holds a value")));
    }
    fn finish(p: Self::Partial) -> V {
        p.1.expect("partial holds a value")
    }
}

/// Where a reduction's result goes.
pub enum Target<R> {
    /// Fulfil a future.
    Future(Future<R>),
    /// Call an entry method of one element or broadcast to all.
    Callback(Callback<R>),
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
    Callback(Payload),
    All(Vec<RawFuture>),
}

/// A partial result of reduction `seq` of collection `coll`.
pub(crate) struct Contribution {
    pub coll: CollId,
    pub seq: u64,
    /// Elements folded into `partial`.
    pub count: usize,
    /// Elements of the collection.
    pub total: usize,
    partial: Payload,
    combine: fn(&mut Payload, Payload),
    finish: fn(Payload, Delivery),
    delivery: Delivery,
}

fn combine_erased<V, R: Reducer<V>>(acc: &mut Payload, other: Payload) {
    let acc = acc.downcast_mut::<R::Partial>().expect("one reduction mixes value types");
    let other = *other.downcast::<R::Partial>().expect("one reduction mixes value types");
    R::combine(acc, other);
}

fn finish_erased<V, R: Reducer<V>>(partial: Payload, delivery: Delivery) {
    let p = *partial.downcast::<R::Partial>().expect("one reduction mixes value types");
    let out = R::finish(p);
    match delivery {
        Delivery::Future(f) => f.set_any(Box::new(out)),
        Delivery::Callback(cb) => match cb.downcast::<Callback<R::Out>>() {
            Ok(cb) => cb.send(out),
            Err(_) => panic!("reduction callback of the wrong type"),
        },
        Delivery::All(fs) => {
            for f in fs {
                f.set_any(Box::new(out.clone()));
            }
        }
    }
}

impl Contribution {
    pub(crate) fn new<V, R: Reducer<V>>(
        coll: CollId,
        seq: u64,
        total: usize,
        index: Index,
        value: V,
        op: R,
        delivery: Delivery,
    ) -> Contribution {
        Contribution {
            coll,
            seq,
            count: 1,
            total,
            partial: Box::new(op.lift(index, value)),
            combine: combine_erased::<V, R>,
            finish: finish_erased::<V, R>,
            delivery,
        }
    }

    fn merge(&mut self, other: Contribution) {
        (self.combine)(&mut self.partial, other.partial);
        self.count += other.count;
        if let (Delivery::All(a), Delivery::All(b)) = (&mut self.delivery, other.delivery) {
            a.extend(b);
        }
    }
}

pub(crate) fn delivery_of<R: Send + 'static>(t: Target<R>) -> Delivery {
    match t {
        Target::Future(f) => Delivery::Future(f.raw()),
        Target::Callback(cb) => Delivery::Callback(Box::new(cb)),
    }
}

/// Reductions in progress on one PE.
#[derive(Default)]
pub(crate) struct ReductionTable {
    /// Combining the contributions of this PE's elements.
    local: FxHashMap<(CollId, u64), Contribution>,
    /// On the root: combining the PEs' partials.
    root: FxHashMap<(CollId, u64), Contribution>,
}

const ROOT_PE: usize = 0;

/// An element of this PE contributes.
pub(crate) fn contribute_local(pe: &Pe, c: Contribution) {
    let expected = pe.colls.borrow().get(&c.coll).map(|l| l.addrs.len()).unwrap_or(1);
    let key = (c.coll, c.seq);
    let done = {
        let mut t = pe.reductions.borrow_mut();
        let merged = match t.local.remove(&key) {
            Some(mut acc) => {
                acc.merge(c);
                acc
            }
            None => c,
        };
        if merged.count >= expected {
            Some(merged)
        } else {
            t.local.insert(key, merged);
            None
        }
    };
    if let Some(part) = done {
        pe.send(ROOT_PE, Msg::Reduce(Box::new(part)));
    }
}

/// The root receives a PE's partial.
pub(crate) fn receive(pe: &Pe, c: Contribution) {
    let key = (c.coll, c.seq);
    let done = {
        let mut t = pe.reductions.borrow_mut();
        let merged = match t.root.remove(&key) {
            Some(mut acc) => {
                acc.merge(c);
                acc
            }
            None => c,
        };
        if merged.count >= merged.total {
            Some(merged)
        } else {
            t.root.insert(key, merged);
            None
        }
    };
    if let Some(c) = done {
        (c.finish)(c.partial, c.delivery);
    }
}
