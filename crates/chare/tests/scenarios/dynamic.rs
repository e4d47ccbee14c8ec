//! Dynamic arrays: insertion and deletion after creation, with broadcasts,
//! reductions and messages in flight.

use super::{Expect, Scenario};
use chare::prelude::*;

pub struct Node {
    tag: u64,
    hits: u64,
}

#[chare]
impl Node {
    fn new(tag: u64) -> Self {
        Node { tag, hits: 0 }
    }

    #[entry]
    fn hit(&mut self) {
        self.hits += 1;
    }

    /// Contributes (index, tag, hits) to a gather and the tag to a sum.
    #[entry]
    fn reduce(&self, ctx: &Ctx<Self>, gather: Future<Vec<(Index, u64, u64)>>, sum: Future<u64>) {
        ctx.contribute((ctx.index(), self.tag, self.hits), Gather, gather);
        ctx.contribute(self.tag, Sum, sum);
    }

    /// Adds its tag to a reduction over `sec`.
    #[entry]
    fn section_sum(&self, ctx: &Ctx<Self>, sec: Section<Node>, f: Future<u64>) {
        ctx.section_contribute(&sec, self.tag, Sum, f);
    }

    /// Holds the element until `f` is set.
    #[entry]
    async fn hold(&mut self, f: Future<u64>) {
        self.hits += f.await;
    }

    /// The PE it runs on and the calls it got.
    #[entry]
    fn whereabouts(&self, ctx: &Ctx<Self>) -> (usize, u64) {
        (ctx.my_pe(), self.hits)
    }

    /// Inserts element `ix` of its own array (from this element's PE).
    #[entry]
    fn spawn(&self, ctx: &Ctx<Self>, ix: Index, tag: u64) {
        ctx.proxy().insert(ix, (tag,));
    }
}

type Gathered = Vec<(Index, u64, u64)>;

async fn reduce_all(rt: &Rt, a: &Array<Node>) -> (Gathered, u64) {
    let (g, s) = (rt.future(), rt.future());
    a.reduce(g.clone(), s.clone());
    (g.await, s.await)
}

/// Inserted elements (by the main task, by the map, and by an element on
/// another PE) receive broadcasts and join reductions started after
/// `done_inserting`; deleted ones leave them; a deleted element can be
/// inserted again; quiescence is detected with the changed membership.
pub fn inserted_and_deleted_elements_join_and_leave_broadcasts_and_reductions() -> Scenario {
    Scenario::new(&[1, 2, 3, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let a = rt.array::<Node>([4, 4]).map(Placement::RoundRobin).create_empty();
            for (k, ix) in [(0, 0), (1, 2), (3, 3), (2, 1)].into_iter().enumerate() {
                a.insert(ix, (10 + k as u64,));
            }
            a.done_inserting().await;
            a.hit();
            let (g, s) = reduce_all(&rt, &a).await;
            let ixs: Vec<Index> = g.iter().map(|e| e.0).collect();
            assert_eq!(ixs, vec![Index::from((0, 0)), (1, 2).into(), (2, 1).into(), (3, 3).into()]);
            assert!(g.iter().all(|e| e.2 == 1), "{g:?}");
            assert_eq!(s, 10 + 11 + 12 + 13);
            // An element inserts another; main deletes one.
            a.elem((1, 2)).spawn_ret(Index::from((0, 3)), 20).await;
            a.delete((3, 3));
            a.done_inserting().await;
            a.hit();
            let (g, s) = reduce_all(&rt, &a).await;
            let got: Vec<(Index, u64, u64)> = g;
            assert_eq!(
                got,
                vec![((0, 0).into(), 10, 2), ((0, 3).into(), 20, 1), ((1, 2).into(), 11, 2), ((2, 1).into(), 13, 2)]
            );
            assert_eq!(s, 10 + 20 + 11 + 13);
            // Inserted again: a new element.
            a.insert((3, 3), (30,));
            a.done_inserting().await;
            let (g, s) = reduce_all(&rt, &a).await;
            assert_eq!(g.len(), 5);
            assert_eq!(g[4], ((3, 3).into(), 30, 0));
            assert_eq!(s, 10 + 20 + 11 + 13 + 30);
            rt.wait_quiescence().await;
        })
    })
}

/// Messages in flight across insertion and deletion: calls sent before the
/// element exists wait for it; a reduction in flight waits for
/// `done_inserting` and includes the element inserted meanwhile (which
/// contributes to it) and the one deleted after contributing; calls that
/// reach a deleted element are dropped, not an error.
pub fn insertion_and_deletion_with_messages_in_flight() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let n = 12usize;
            let a = rt.array::<Node>(n).create_empty();
            // Calls before the insertion: they wait for the element.
            for _ in 0..5 {
                a.elem(7).hit();
            }
            for i in 0..8 {
                a.insert(i, (i as u64,));
            }
            a.done_inserting().await;
            // Reduction r: 0..8 contribute; 9 is inserted and contributes
            // too; 3 is deleted after contributing (its reduce call reaches
            // it before the deletion: same route).
            let (g1, s1) = (rt.future(), rt.future());
            a.reduce(g1.clone(), s1.clone());
            a.insert(9, (9,));
            a.elem(9).reduce(g1.clone(), s1.clone());
            a.delete(3);
            let done = a.done_inserting();
            let g1: Gathered = g1.await;
            assert_eq!(g1.iter().map(|e| e.0.i()).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4, 5, 6, 7, 9]);
            assert_eq!(g1.iter().find(|e| e.0.i() == 7).map(|e| e.2), Some(5), "calls sent before the insertion");
            assert_eq!(s1.await, (0..8).sum::<u64>() + 9);
            done.await;
            // Calls to the deleted element are dropped.
            for _ in 0..3 {
                a.elem(3).hit();
            }
            let (g, s) = reduce_all(&rt, &a).await;
            assert_eq!(g.iter().map(|e| e.0.i()).collect::<Vec<_>>(), vec![0, 1, 2, 4, 5, 6, 7, 9]);
            assert_eq!(s, (0..8).sum::<u64>() - 3 + 9);
            // A dense dynamic array: every element to start with.
            let d = rt.array::<Node>(5).dynamic().create((1,));
            d.delete(0);
            d.delete(0);
            d.done_inserting().await;
            let (g, s) = reduce_all(&rt, &d).await;
            assert_eq!(g.len(), 4);
            assert_eq!(s, 4);
            // Deleting an element whose async entry is suspended: it goes
            // once the entry returns; done_inserting waits for that.
            let h = rt.future::<u64>();
            d.elem(1).hold(h.clone());
            d.delete(1);
            let done = d.done_inserting();
            h.set(5);
            done.await;
            let (g, s) = reduce_all(&rt, &d).await;
            assert_eq!(g.iter().map(|e| e.0.i()).collect::<Vec<_>>(), vec![2, 3, 4]);
            assert_eq!(s, 3);
            rt.wait_quiescence().await;
        })
    })
}

/// Elements inserted on a chosen PE (not their home) run there; calls sent
/// before and after the insertion reach them by their home, in order; a
/// deleted one leaves the reductions and can be inserted again at home.
pub fn elements_inserted_on_a_chosen_pe_get_their_calls_through_their_home() -> Scenario {
    Scenario::new(&[1, 2, 3, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let p = rt.num_pes();
            let a = rt.array::<Node>(8).create_empty();
            for i in 0..8 {
                a.elem(i).hit();
            }
            // Element i on PE (home + 1) mod p: never its home when p > 1.
            for i in 0..8usize {
                let home = i * p / 8;
                a.insert_on(i, (home + 1) % p, (i as u64,));
            }
            for i in 0..8 {
                a.elem(i).hit();
            }
            a.done_inserting().await;
            for i in 0..8usize {
                let (pe, hits) = a.elem(i).whereabouts_ret().await;
                assert_eq!((pe, hits), ((i * p / 8 + 1) % p, 2), "element {i}");
            }
            a.hit();
            let (g, s) = reduce_all(&rt, &a).await;
            assert!(g.iter().all(|e| e.2 == 3), "{g:?}");
            assert_eq!(s, (0..8).sum::<u64>());
            // A section of elements living away from their homes.
            let sec = a.section([1, 2, 6]);
            for round in 0..3 {
                let f = rt.future();
                sec.section_sum(sec.clone(), f.clone());
                assert_eq!(f.await, 1 + 2 + 6, "section reduction {round}");
            }
            a.delete(5);
            a.done_inserting().await;
            a.elem(5).hit();
            let (g, s) = reduce_all(&rt, &a).await;
            assert_eq!(g.len(), 7);
            assert_eq!(s, (0..8).sum::<u64>() - 5);
            // Calls that reach it before its new insertion took effect are
            // dropped (it is deleted there); after done_inserting they arrive.
            a.insert(5, (50,));
            a.done_inserting().await;
            a.elem(5).hit();
            assert_eq!(a.elem(5).whereabouts_ret().await, (5 * p / 8, 1));
            let (_, s) = reduce_all(&rt, &a).await;
            assert_eq!(s, (0..8).sum::<u64>() - 5 + 50);
        })
    })
}

/// A deleted member leaves its sections' reductions: a reduction completes
/// with the members not deleted before contributing to it, whether the
/// member was deleted after contributing to earlier reductions, before
/// contributing to any, or while the reduction waited for it.
pub fn a_section_reduction_completes_without_its_deleted_members() -> Scenario {
    Scenario::new(&[1, 2, 3, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let a = rt.array::<Node>(8).create_empty();
            for i in 0..8u64 {
                a.insert(i as usize, (i,));
            }
            a.done_inserting().await;
            let sum = |sec: &Section<Node>| {
                let f = rt.future();
                sec.section_sum(sec.clone(), f.clone());
                f
            };
            // Deleted after contributing to reduction 0.
            let s1 = a.section([1, 2, 5, 6]);
            assert_eq!(sum(&s1).await, 1 + 2 + 5 + 6);
            a.delete(5);
            a.done_inserting().await;
            assert_eq!(sum(&s1).await, 1 + 2 + 6);
            assert_eq!(sum(&s1).await, 1 + 2 + 6);
            // Deleted before contributing to any.
            let s2 = a.section([0, 3, 7]);
            a.delete(7);
            a.done_inserting().await;
            assert_eq!(sum(&s2).await, 3);
            // Deleted while the reduction waits for it: the two others have
            // contributed, then the deletion completes it.
            let s3 = a.section([0, 4, 6]);
            let f = rt.future();
            a.elem(0).section_sum(s3.clone(), f.clone());
            a.elem(6).section_sum(s3.clone(), f.clone());
            a.delete(4);
            assert_eq!(f.await, 6);
            a.done_inserting().await;
            assert_eq!(sum(&s3).await, 6);
            // A section whose members are all deleted has nothing to reduce;
            // the whole array still reduces over the 5 left.
            let (g, s) = reduce_all(&rt, &a).await;
            assert_eq!((g.len(), s), (5, 1 + 2 + 3 + 6));
        })
    })
}
