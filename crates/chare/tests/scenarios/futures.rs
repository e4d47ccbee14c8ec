//! Futures: passed in messages, iwait, ready futures, misuse, nesting.

use super::{Expect, Scenario};
use chare::prelude::*;

pub struct Setter;

#[chare]
impl Setter {
    fn new() -> Self {
        Setter
    }
    /// Fulfils `f` with `v` after `spins` self-messages (to vary arrival order).
    #[entry]
    fn set_later(&self, ctx: &Ctx<Self>, f: Future<u64>, v: u64, spins: u32) {
        if spins == 0 {
            f.set(v);
        } else {
            ctx.this().set_later(f, v, spins - 1);
        }
    }

    /// Sends `v` to a multi-value future after `spins` self-messages.
    #[entry]
    fn set_multi(&self, ctx: &Ctx<Self>, f: MultiFuture<u64>, v: u64, spins: u32) {
        if spins == 0 {
            f.set(v);
        } else {
            ctx.this().set_multi(f, v, spins - 1);
        }
    }
}

/// Futures travel in messages and are fulfilled remotely; iwait yields each
/// exactly once, with its position.
pub fn futures_pass_in_messages_and_iwait_yields_each_once() -> Scenario {
    Scenario::new(&[1, 2, 4, 8], Expect::Ok, |rt| {
        Box::pin(async move {
            let s = rt.array::<Setter>(4).create(());
            let futs: Vec<Future<u64>> = (0..4).map(|_| rt.future()).collect();
            // Element i answers after (3 - i) * 50 hops: roughly reverse order.
            for (i, f) in futs.iter().enumerate() {
                s.elem(i).set_later(f.clone(), 100 + i as u64, (3 - i as u32) * 50);
            }
            let mut it = iwait(futs.iter().cloned());
            let mut seen = Vec::new();
            while let Some((pos, v)) = it.next().await {
                assert_eq!(v, 100 + pos as u64);
                seen.push(pos);
            }
            seen.sort();
            assert_eq!(seen, vec![0, 1, 2, 3]);
        })
    })
}

/// `wait_all` gives every value in input order, whatever order they
/// arrive in; an empty list is ready at once.
pub fn wait_all_gives_every_value_in_input_order() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let s = rt.array::<Setter>(6).create(());
            let futs: Vec<Future<u64>> = (0..6).map(|_| rt.future()).collect();
            for (i, f) in futs.iter().enumerate() {
                s.elem(i).set_later(f.clone(), 10 * i as u64, (5 - i as u32) * 30);
            }
            assert_eq!(wait_all(futs).await, vec![0, 10, 20, 30, 40, 50]);
            assert!(wait_all(Vec::<Future<u64>>::new()).await.is_empty());
        })
    })
}

/// A future of `n` values (`future_n`) is complete after `n` sends from
/// anywhere and gives them in arrival order; one more send is an error.
pub fn a_multi_value_future_collects_n_sends_in_arrival_order() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Usage("fulfilled twice"), |rt| {
        Box::pin(async move {
            let n = 8;
            let s = rt.array::<Setter>(n).create(());
            let f = rt.future_n::<u64>(n);
            for i in 0..n {
                s.elem(i).set_multi(f.clone(), i as u64, (n - i) as u32 * 20);
            }
            let mut got = f.clone().await;
            assert_eq!(got.len(), n);
            got.sort_unstable();
            assert_eq!(got, (0..n as u64).collect::<Vec<_>>());
            // Sent from this PE in this order: they arrive in this order.
            let g = rt.future_n::<String>(3);
            for w in ["c", "a", "b"] {
                g.set(w.to_string());
            }
            assert_eq!(g.clone().await, vec!["c", "a", "b"]);
            // A 4th send of a 3-value future.
            let h = rt.future_n::<u8>(3);
            for v in 0..4 {
                h.set(v);
            }
            std::future::pending::<()>().await;
        })
    })
}

/// A future set before it is awaited yields its value at once.
pub fn a_ready_future_is_awaited_at_once() -> Scenario {
    Scenario::new(&[1, 2, 4, 8], Expect::Ok, |rt| {
        Box::pin(async move {
            let f = rt.future::<String>();
            f.set("x".to_string());
            assert_eq!(f.await, "x");
        })
    })
}

/// Fulfilling a future twice ends the job with a usage error.
pub fn fulfilling_a_future_twice_is_an_error() -> Scenario {
    Scenario::new(&[1, 2, 4, 8], Expect::Usage("fulfilled twice"), |rt| {
        Box::pin(async move {
            let f = rt.future::<u32>();
            f.set(1);
            f.set(2);
            let _ = f.clone().await;
            std::future::pending::<()>().await;
        })
    })
}

pub struct Fib;

#[chare]
impl Fib {
    fn new() -> Self {
        Fib
    }
    #[entry]
    async fn fib(&self, ctx: &Ctx<Self>, n: u64) -> u64 {
        if n < 2 {
            return n;
        }
        let pes = ctx.num_pes();
        let a = ctx.chare::<Fib>((n as usize) % pes).create(());
        let b = ctx.chare::<Fib>((n as usize + 1) % pes).create(());
        let (fa, fb) = (a.fib_ret(n - 1), b.fib_ret(n - 2));
        fa.await + fb.await
    }
}

/// Async entries creating chares on other PEs and awaiting their results.
pub fn nested_parallelism_with_futures() -> Scenario {
    Scenario::new(&[1, 2, 3, 4, 8], Expect::Ok, |rt| {
        Box::pin(async move {
            let root = rt.chare::<Fib>(0).create(());
            assert_eq!(root.fib_ret(12).await, 144);
        })
    })
}
