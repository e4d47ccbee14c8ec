//! Errors through futures: a panic in an entry called with `NAME_try_ret` /
//! `NAME_try_all_ret` reaches the caller as an `EntryError` and the job goes
//! on; the element continues (with the state the panic left); a broadcast's
//! `NAME_all_ret` gives every element's result in index order. The default
//! (a panic under a plain `NAME_ret` ends the job) is checked here too.

use super::{Expect, Scenario};
use chare::prelude::*;
use chare::EntryError;

/// Counts its calls; divides by its argument (panics on zero).
pub struct Faulty {
    calls: u32,
}

#[chare]
impl Faulty {
    fn new() -> Self {
        Faulty { calls: 0 }
    }
    /// 100 / d, after counting the call (the count survives a panic).
    #[entry]
    fn divide(&mut self, d: u32) -> u32 {
        self.calls += 1;
        if d == 0 {
            panic!("division of 100 by zero");
        }
        100 / d
    }
    /// The element's PE and its number of calls so far.
    #[entry]
    fn state(&self, ctx: &Ctx<Self>) -> (usize, u32) {
        (ctx.my_pe(), self.calls)
    }
    /// Panics after an await on the elements whose index is in `bad`.
    #[entry]
    async fn later(&mut self, ctx: &Ctx<Self>, bad: Vec<usize>) -> usize {
        self.calls += 1;
        let f = ctx.future::<usize>();
        f.set(ctx.index().i() * 10);
        let v = f.await;
        if bad.contains(&ctx.index().i()) {
            panic!("element {} fails after the await", ctx.index().i());
        }
        v
    }
    /// The element's index times `k`, as a string (a type that is not `()`).
    #[entry]
    fn label(&self, ctx: &Ctx<Self>, k: usize) -> String {
        format!("{}x{k}", ctx.index())
    }
}

/// The same for migratable arrays (their calls take the ordered path).
#[chare::message]
pub struct Mobile;

#[chare(migratable)]
impl Mobile {
    fn new() -> Self {
        Mobile
    }
    #[entry]
    fn square(&self, ctx: &Ctx<Self>) -> usize {
        let i = ctx.index().i();
        i * i
    }
    #[entry]
    fn hop(&self, ctx: &Ctx<Self>) {
        ctx.migrate((ctx.my_pe() + 1) % ctx.num_pes());
    }
}

fn check_error(e: &EntryError, pe: usize, index: &str, entry: &str, message: &str) {
    assert_eq!((e.pe, e.chare.as_str(), e.index.as_str(), e.entry.as_str()), (pe, "Faulty", index, entry), "{e}");
    assert_eq!(e.message, message, "{e}");
    let at = e.location.as_deref().unwrap_or("");
    assert!(at.contains("errors.rs"), "the location is the panic's line, got `{at}`");
    assert_eq!(e.to_string(), format!("PE {pe}: panic in Faulty[{index}].{entry}: {message} (at {at})"));
}

/// `divide_try_ret(0)` on element 2 gives `Err` naming PE, chare, index,
/// entry, message and location; the element continues with its state
/// (the panicking call was counted) and answers later calls; the job ends
/// normally.
pub fn a_panic_reaches_a_try_ret_caller_with_pe_chare_index_and_entry() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let a = rt.array::<Faulty>(4).map(Placement::RoundRobin).create(());
            assert_eq!(a.elem(2).divide_try_ret(4).await, Ok(25));
            let e = a.elem(2).divide_try_ret(0).await.unwrap_err();
            let (pe, calls) = a.elem(2).state_ret().await;
            check_error(&e, pe, "2", "divide", "division of 100 by zero");
            assert_eq!(calls, 2, "the element continues with the state the panic left");
            assert_eq!(a.elem(2).divide_ret(5).await, 20);
            // Several failing calls in flight at once, on every element.
            let fs: Vec<_> = (0..4).map(|i| a.elem(i).divide_try_ret(0)).collect();
            for (i, f) in fs.into_iter().enumerate() {
                let e = f.await.unwrap_err();
                assert_eq!(e.index, i.to_string());
            }
        })
    })
}

/// A panic after an await in an async entry: the caller gets `Err`; calls
/// that waited for the element run afterwards.
pub fn a_panic_in_an_async_entry_reaches_its_try_ret_caller() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let a = rt.array::<Faulty>(2).map(Placement::RoundRobin).create(());
            let failing = a.elem(1).later_try_ret(vec![1]);
            let waiting = a.elem(1).state_ret(); // waits for the task
            let e = failing.await.unwrap_err();
            let (pe, calls) = waiting.await;
            check_error(&e, pe, "1", "later", "element 1 fails after the await");
            assert_eq!(calls, 1);
            assert_eq!(a.elem(0).later_try_ret(vec![1]).await, Ok(0));
            assert_eq!(a.elem(1).later_try_ret(vec![]).await, Ok(10));
        })
    })
}

/// `NAME_all_ret` of a broadcast: every element's value, in index order,
/// for an array (round-robin and block maps), a group and a migratable
/// array whose elements moved; `NAME_try_all_ret`: `Err` where an element
/// panicked, `Ok` elsewhere, and the job goes on.
pub fn broadcast_results_arrive_in_index_order() -> Scenario {
    Scenario::new(&[1, 2, 3, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let n = 37;
            let a = rt.array::<Faulty>(n).map(Placement::RoundRobin).create(());
            let want: Vec<String> = (0..n).map(|i| format!("{i}x3")).collect();
            assert_eq!(a.label_all_ret(3).await, want);
            let b = rt.array::<Faulty>([3, 4]).map(Placement::Block).create(());
            let got = b.label_all_ret(1).await;
            let want: Vec<String> = b.indices().map(|ix| format!("{ix}x1")).collect();
            assert_eq!(got, want);
            let g = rt.group::<Faulty>().create(());
            let pes: Vec<(usize, u32)> = g.state_all_ret().await;
            assert_eq!(pes, (0..rt.num_pes()).map(|p| (p, 0)).collect::<Vec<_>>());

            let bad = vec![3, 5];
            let r = a.later_try_all_ret(bad.clone()).await;
            assert_eq!(r.len(), n);
            for (i, r) in r.iter().enumerate() {
                match r {
                    Ok(v) => assert!(!bad.contains(&i) && *v == i * 10, "element {i}: {v}"),
                    Err(e) => {
                        assert!(bad.contains(&i), "element {i}: {e}");
                        assert_eq!((e.index.clone(), e.entry.as_str()), (i.to_string(), "later"));
                        assert_eq!(e.message, format!("element {i} fails after the await"));
                    }
                }
            }
            // Every element ran `later` once, and continues.
            let calls: Vec<u32> = a.state_all_ret().await.into_iter().map(|(_, c)| c).collect();
            assert_eq!(calls, vec![1; n]);

            let m = rt.array::<Mobile>(9).create_awaitable(()).await;
            m.hop_ret().await;
            let want: Vec<usize> = (0..9).map(|i| i * i).collect();
            assert_eq!(m.square_all_ret().await, want);
            assert_eq!(m.square_try_all_ret().await, want.into_iter().map(Ok).collect::<Vec<_>>());
        })
    })
}

/// The default stays: a panic under a plain `NAME_ret` ends the job.
pub fn a_panic_under_a_plain_ret_still_ends_the_job() -> Scenario {
    Scenario::new(
        &[2, 4],
        Expect::Panic { pe: Some(1), chare: "Faulty", index: "1", entry: "divide", message: "division of 100 by zero" },
        |rt| {
            Box::pin(async move {
                let a = rt.array::<Faulty>(2).map(Placement::RoundRobin).create(());
                a.elem(1).divide_ret(0).await;
                std::future::pending::<()>().await;
            })
        },
    )
}
