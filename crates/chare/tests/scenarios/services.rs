//! Runtime services: quiescence detection with a callback or an exit
//! (`start_quiescence`), a reduction that ends the job (`ExitJob`), and the
//! host topology (`my_host`, `num_hosts`, `host_pes`, `pe_host`).

use super::{Expect, Scenario};
use chare::prelude::*;

/// Passes a token around a ring; counts the hops it saw.
pub struct Hopper {
    hops: u64,
    done: Option<Future<u64>>,
}

#[chare]
impl Hopper {
    fn new() -> Self {
        Hopper { hops: 0, done: None }
    }

    /// Takes the token and passes it on `n` more times.
    #[entry]
    fn hop(&mut self, ctx: &Ctx<Self>, n: u32) {
        self.hops += 1;
        if n > 0 {
            let next = (ctx.index().i() + 1) % ctx.proxy().len();
            ctx.proxy().elem(next).hop(n - 1);
        }
    }

    #[entry]
    fn arm(&mut self, f: Future<u64>) {
        self.done = Some(f);
    }

    /// The quiescence callback: reports the hops this element saw.
    #[entry]
    fn quiet(&mut self, _: ()) {
        self.done.take().expect("armed before quiescence").set(self.hops);
    }

    /// Contributes to a reduction that ends the job, after `spins` self-calls.
    #[entry]
    fn finish_after(&self, ctx: &Ctx<Self>, spins: u32, code: i32) {
        if spins == 0 {
            ctx.contribute(ctx.index().i() as u64, Sum, ExitJob(code));
        } else {
            ctx.this().finish_after(spins - 1, code);
        }
    }

    /// This PE's host and whether `host_pes` of it lists this PE.
    #[entry]
    fn host(&self, ctx: &Ctx<Self>) -> (usize, bool) {
        let h = ctx.my_host();
        (h, ctx.host_pes(h).contains(&ctx.my_pe()) && ctx.pe_host(ctx.my_pe()) == h)
    }
}

/// `start_quiescence` calls an entry method (Charm4Py's `startQD(callback)`)
/// once every message of a token ring was handled, and fulfils a future
/// the same way.
pub fn start_quiescence_calls_an_entry_method_at_quiescence() -> Scenario {
    Scenario::new(&[1, 2, 3, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let len = 5usize;
            let a = rt.array::<Hopper>(len).map(Placement::RoundRobin).create(());
            let done = rt.future();
            a.elem(0).arm(done.clone());
            let n = 200u32;
            a.elem(0).hop(n);
            rt.start_quiescence(a.elem(0).quiet_callback());
            // Element 0 took hops 0, len, 2 len, ... up to n.
            assert_eq!(done.await, (n as u64) / len as u64 + 1);
            // Again, with a future as the target.
            a.elem(1).hop(n);
            let f = rt.future::<()>();
            rt.start_quiescence(f.clone());
            f.await;
            let d = rt.future();
            a.elem(0).arm(d.clone());
            rt.start_quiescence(a.elem(0).quiet_callback());
            assert_eq!(d.await, (n as u64) / len as u64 + 1 + (n as u64 - (len as u64 - 1)) / len as u64 + 1);
        })
    })
}

/// `start_quiescence(ExitJob(code))` ends the job at quiescence with `code`.
pub fn start_quiescence_can_end_the_job() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Exit(9), |rt| {
        Box::pin(async move {
            let a = rt.array::<Hopper>(4).create(());
            a.elem(3).hop(100);
            rt.start_quiescence(ExitJob(9));
            std::future::pending::<()>().await;
        })
    })
}

/// A reduction to `ExitJob(code)` (Charm4Py's reduction to
/// `charm.thisProxy.exit`) ends the job with `code` once every element
/// contributed, while the main task still waits.
pub fn a_reduction_to_exit_ends_the_job() -> Scenario {
    Scenario::new(&[1, 2, 3, 4], Expect::Exit(6), |rt| {
        Box::pin(async move {
            let a = rt.array::<Hopper>(7).map(Placement::RoundRobin).create(());
            for i in 0..7 {
                a.elem(i).finish_after(i as u32 * 20, 6);
            }
            std::future::pending::<()>().await;
        })
    })
}

/// On one machine every PE is on host 0, on both layers.
pub fn every_pe_is_on_the_one_host() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let n = rt.num_pes();
            assert_eq!((rt.my_host(), rt.num_hosts()), (0, 1));
            assert_eq!(rt.host_pes(0), (0..n).collect::<Vec<_>>());
            assert!(rt.host_pes(1).is_empty());
            assert_eq!((0..n).map(|p| rt.pe_host(p)).collect::<Vec<_>>(), vec![0; n]);
            let g = rt.group::<Hopper>().create(());
            assert_eq!(g.host_all_ret().await, vec![(0, true); n]);
        })
    })
}
