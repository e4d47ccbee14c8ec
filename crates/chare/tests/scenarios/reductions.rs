//! Reductions: every operation, every target, overlap, allreduce.

use super::{Expect, Scenario};
use chare::prelude::*;

pub struct Elem {
    got: Vec<i64>,
}

/// Targets of the six built-in reductions of [`Elem::all_ops`].
type OpsTargets = (Future<i64>, Future<i64>, Future<i64>, Future<i64>, Future<bool>, Future<bool>);

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

#[chare]
impl Elem {
    fn new() -> Self {
        Elem { got: Vec::new() }
    }

    #[entry]
    fn all_ops(&self, ctx: &Ctx<Self>, fs: OpsTargets) {
        let i = ctx.index().i() as i64;
        ctx.contribute(i + 1, Sum, fs.0);
        ctx.contribute(i + 1, Product, fs.1);
        ctx.contribute(i * 7 % 5, Min, fs.2);
        ctx.contribute(i * 7 % 5, Max, fs.3);
        ctx.contribute(i >= 0, And, fs.4);
        ctx.contribute(i == 3, Or, fs.5);
    }

    /// Xor over `bool`; And, Or and Xor element-wise over `Vec<bool>`.
    #[entry]
    fn logic(
        &self,
        ctx: &Ctx<Self>,
        fs: (Future<bool>, Future<bool>, Future<Vec<bool>>, Future<Vec<bool>>, Future<Vec<bool>>),
    ) {
        let i = ctx.index().i();
        ctx.contribute(i < 3, Xor, fs.0);
        ctx.contribute(i == 2, Xor, fs.1);
        // Position k is true in element i when bit k of i is set; column 3: always.
        let v: Vec<bool> = (0..4).map(|k| k == 3 || (i >> k) & 1 == 1).collect();
        ctx.contribute(v.clone(), And, fs.2);
        ctx.contribute(v.clone(), Or, fs.3);
        ctx.contribute(v, Xor, fs.4);
    }

    #[entry]
    fn gather(&self, ctx: &Ctx<Self>, f: Future<Vec<usize>>) {
        ctx.contribute(ctx.index().i() * 3, Gather, f);
    }

    /// Contributes to several reductions at once: they overlap and must not mix.
    #[entry]
    fn overlap(&self, ctx: &Ctx<Self>, fs: Vec<Future<u64>>) {
        for (r, f) in fs.into_iter().enumerate() {
            ctx.contribute((r as u64 + 1) * 1000 + ctx.index().i() as u64, Sum, f);
        }
    }

    #[entry]
    fn custom(&self, ctx: &Ctx<Self>, f: Future<u64>) {
        ctx.contribute(12 * (ctx.index().i() as u64 + 1), Custom(gcd), f);
    }

    #[entry]
    fn to_callbacks(&self, ctx: &Ctx<Self>) {
        let i = ctx.index().i() as i64;
        ctx.contribute(i, Sum, ctx.proxy().elem(0).receive_callback());
        ctx.contribute(i, Max, ctx.proxy().receive_callback());
    }

    #[entry]
    fn receive(&mut self, v: i64) {
        self.got.push(v);
    }

    #[entry]
    fn received(&self) -> Vec<i64> {
        self.got.clone()
    }

    #[entry]
    async fn all(&self, ctx: &Ctx<Self>) -> (u64, Vec<u64>) {
        let i = ctx.index().i() as u64;
        let s = ctx.allreduce(i, Sum).await;
        let v = ctx.allreduce(vec![i, 1], Sum).await;
        (s, v)
    }
}

/// Sum, Product, Min, Max, And, Or and a custom operation (gcd) over 6 elements.
pub fn every_reduction_operation() -> Scenario {
    Scenario::new(&[1, 2, 3, 4, 8], Expect::Ok, |rt| {
        Box::pin(async move {
            let a = rt.array::<Elem>(6).create(());
            let fs = (rt.future(), rt.future(), rt.future(), rt.future(), rt.future(), rt.future());
            a.all_ops(fs.clone());
            assert_eq!(fs.0.await, 21);
            assert_eq!(fs.1.await, 720);
            assert_eq!(fs.2.await, 0);
            assert_eq!(fs.3.await, 4);
            assert!(fs.4.await);
            assert!(fs.5.await);
            let c = rt.future();
            a.custom(c.clone());
            assert_eq!(c.await, 12);
        })
    })
}

/// `Xor` over `bool`, and `And` / `Or` / `Xor` element-wise over `Vec<bool>`,
/// over 6 elements (indices 0..6: bits 0 to 2).
pub fn logical_reductions_over_bools_and_vectors_of_bools() -> Scenario {
    Scenario::new(&[1, 2, 3, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let a = rt.array::<Elem>(6).map(Placement::RoundRobin).create(());
            let fs = (rt.future(), rt.future(), rt.future(), rt.future(), rt.future());
            a.logic(fs.clone());
            // Three of six are true: odd, so true; one of six: true.
            assert!(fs.0.await);
            assert!(fs.1.await);
            assert_eq!(fs.2.await, vec![false, false, false, true]);
            assert_eq!(fs.3.await, vec![true, true, true, true]);
            // Bit 0 set in 1, 3, 5 (odd count), bit 1 in 2, 3 (even), bit 2 in 4, 5 (even), column 3 six times.
            assert_eq!(fs.4.await, vec![true, false, false, false]);
        })
    })
}

/// Gather over 10^4 round-robin elements comes out in index order.
pub fn gather_of_ten_thousand_elements_is_in_index_order() -> Scenario {
    Scenario::new(&[1, 2, 4, 8], Expect::Ok, |rt| {
        Box::pin(async move {
            let a = rt.array::<Elem>(10_000).map(Placement::RoundRobin).create(());
            let f = rt.future();
            a.gather(f.clone());
            let v = f.await;
            assert_eq!(v, (0..10_000).map(|i| i * 3).collect::<Vec<_>>());
        })
    })
}

/// Five reductions in flight at once match contributions by sequence number.
pub fn overlapping_reductions_match_by_sequence() -> Scenario {
    Scenario::new(&[1, 2, 4, 8], Expect::Ok, |rt| {
        Box::pin(async move {
            let n = 10u64;
            let a = rt.array::<Elem>(n as usize).map(Placement::RoundRobin).create(());
            let fs: Vec<Future<u64>> = (0..5).map(|_| rt.future()).collect();
            a.overlap(fs.clone());
            for (r, f) in fs.into_iter().enumerate() {
                let expect = (r as u64 + 1) * 1000 * n + n * (n - 1) / 2;
                assert_eq!(f.await, expect);
            }
        })
    })
}

/// Reductions delivered to an entry method of one element and to a
/// broadcast of an entry method.
pub fn reductions_to_entry_methods_and_broadcasts() -> Scenario {
    Scenario::new(&[1, 2, 4, 8], Expect::Ok, |rt| {
        Box::pin(async move {
            let a = rt.array::<Elem>(4).create(());
            a.to_callbacks();
            rt.wait_quiescence().await;
            let mut first = a.elem(0).received_ret().await;
            first.sort();
            assert_eq!(first, vec![3, 6]);
            for i in 1..4 {
                assert_eq!(a.elem(i).received_ret().await, vec![3]);
            }
        })
    })
}

/// allreduce gives every contributor the result, for scalars and vectors.
pub fn allreduce_gives_every_contributor_the_result() -> Scenario {
    Scenario::new(&[1, 2, 3, 4, 8], Expect::Ok, |rt| {
        Box::pin(async move {
            let a = rt.array::<Elem>(5).create(());
            let fs: Vec<_> = (0..5).map(|i| a.elem(i).all_ret()).collect();
            for f in fs {
                assert_eq!(f.await, (10, vec![10, 5]));
            }
        })
    })
}
