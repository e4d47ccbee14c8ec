//! Migration and load balancing: messages across moves, reductions, at-sync.

use super::{Expect, Scenario};
use chare::lb::strategy::Strategy;
use chare::prelude::*;
use std::collections::BTreeMap;

/// Elements of the storm, steps each takes, entry calls per step.
const K: usize = 1000;
const R: u32 = 20;
const HITS: u32 = 5;
/// Words of state each storm element carries (a `Buffer`, attached on MPI).
const WORDS: usize = 600;

fn mix(mut x: u64) -> u64 {
    // splitmix64: a deterministic pseudo-random draw per (element, step, hit).
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn draw(me: u32, r: u32, h: u32) -> u64 {
    mix(((me as u64) << 40) ^ ((r as u64) << 20) ^ h as u64)
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Storm {
    /// Per target, entry calls sent to it (the sequence number of the next).
    sent: BTreeMap<u32, u32>,
    /// Per sender, the sequence number expected next.
    next: BTreeMap<u32, u32>,
    received: u64,
    disorder: u64,
    state: Buffer<u64>,
    right: Channel<u32>,
    left: Channel<u32>,
    tallies: Vec<u64>,
    moves: u32,
}

/// What each storm element reports at the end.
type StormReport = (u64, u64, bool, bool, Vec<u64>, u32);

#[chare(migratable)]
impl Storm {
    fn new(ctx: &Ctx<Self>) -> Self {
        let i = ctx.index().i();
        let k = ctx.proxy().len();
        let right = ctx.channel_on(&ctx.proxy().elem((i + 1) % k), i as u32);
        let left = ctx.channel_on(&ctx.proxy().elem((i + k - 1) % k), ((i + k - 1) % k) as u32);
        let state: Vec<u64> = (0..WORDS as u64).map(|w| w * 1_000_003 + i as u64).collect();
        Storm {
            sent: BTreeMap::new(),
            next: BTreeMap::new(),
            received: 0,
            disorder: 0,
            state: state.into(),
            right,
            left,
            tallies: Vec::new(),
            moves: 0,
        }
    }

    fn migrated(&mut self) {
        self.moves += 1;
    }

    /// One step: entry calls to random elements, a channel value to the right
    /// neighbour, a contribution, sometimes a move, then the next step.
    #[entry]
    fn step(&mut self, ctx: &Ctx<Self>, r: u32) {
        let me = ctx.index().i() as u32;
        for h in 0..HITS {
            let t = (draw(me, r, h) % K as u64) as u32;
            let seq = self.sent.entry(t).or_insert(0);
            ctx.proxy().elem(t as usize).hit(me, *seq);
            *seq += 1;
        }
        self.right.send(r);
        ctx.contribute(1u64, Sum, ctx.proxy().elem(0).tally_callback());
        let d = draw(me, r, 99);
        if d % 4 == 0 {
            ctx.migrate((d >> 8) as usize % ctx.num_pes());
        }
        if r + 1 < R {
            ctx.this().step(r + 1);
        }
    }

    #[entry]
    fn hit(&mut self, from: u32, seq: u32) {
        let e = self.next.entry(from).or_insert(0);
        if *e != seq {
            self.disorder += 1;
        }
        *e = seq + 1;
        self.received += 1;
    }

    #[entry]
    fn sum_indices(&self, ctx: &Ctx<Self>, f: Future<u64>) {
        ctx.contribute(ctx.index().i() as u64, Sum, f);
    }

    #[entry]
    fn tally(&mut self, v: u64) {
        self.tallies.push(v);
    }

    /// Receives every channel value (in order) and reports.
    #[entry]
    async fn report(&mut self, ctx: &Ctx<Self>) -> StormReport {
        let mut in_order = true;
        for r in 0..R {
            in_order &= self.left.recv().await == r;
        }
        let i = ctx.index().i() as u64;
        let intact = self.state.iter().enumerate().all(|(w, &v)| v == w as u64 * 1_000_003 + i);
        (self.received, self.disorder, in_order, intact, self.tallies.clone(), self.moves)
    }
}

/// 1,000 migratable elements move at random while 10^5 entry calls, 2 x 10^4
/// channel values and 20 reductions fly: every call arrives exactly once in
/// its sender's order, channels keep their order, state moves intact, every
/// reduction counts every element once.
pub fn a_migration_storm_loses_reorders_and_duplicates_nothing() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let a = rt.array::<Storm>(K).create_awaitable(()).await;
            a.step(0);
            rt.wait_quiescence().await;
            let reports: Vec<Future<StormReport>> = (0..K).map(|i| a.elem(i).report_ret()).collect();
            let (mut received, mut disorder, mut moves) = (0, 0, 0);
            for (i, f) in reports.into_iter().enumerate() {
                let (got, dis, in_order, intact, tallies, m) = f.await;
                received += got;
                disorder += dis;
                moves += m;
                assert!(in_order, "element {i}: channel values out of order");
                assert!(intact, "element {i}: state changed by its moves");
                if i == 0 {
                    assert_eq!(tallies, vec![K as u64; R as usize], "reductions during the storm");
                }
            }
            assert_eq!(received, K as u64 * R as u64 * HITS as u64, "entry calls delivered");
            assert_eq!(disorder, 0, "entry calls out of their sender's order");
            if rt.num_pes() > 1 {
                assert!(moves > 0, "no element moved");
            }
            // After the storm, a reduction over the moved elements still completes.
            let f = rt.future::<u64>();
            a.sum_indices(f.clone());
            assert_eq!(f.await, (K * (K - 1) / 2) as u64);
        })
    })
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Rotor {
    pes: Vec<usize>,
}

#[chare(migratable)]
impl Rotor {
    fn new(ctx: &Ctx<Self>) -> Self {
        Rotor { pes: vec![ctx.my_pe()] }
    }

    #[entry]
    fn sync(&mut self, ctx: &Ctx<Self>) {
        ctx.at_sync();
    }

    #[entry]
    fn resume_from_sync(&mut self, ctx: &Ctx<Self>) {
        self.pes.push(ctx.my_pe());
        ctx.contribute((), Nop, ctx.proxy().elem(0).synced_callback());
    }

    #[entry]
    fn synced(&mut self, _v: ()) {}

    #[entry]
    fn pes(&self) -> Vec<usize> {
        self.pes.clone()
    }
}

/// The rotate strategy moves every element of an at-sync array to the next
/// PE, once per step, and resumes each element where it then lives.
pub fn rotate_moves_every_element_once_per_step() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let n = 4 * rt.num_pes() + 1;
            let a = rt.array::<Rotor>(n).balancer(Strategy::Rotate).create_awaitable(()).await;
            for _ in 0..2 {
                a.sync();
                rt.wait_quiescence().await;
            }
            let p = rt.num_pes();
            for i in 0..n {
                let pes = a.elem(i).pes_ret().await;
                assert_eq!(pes.len(), 3, "element {i}: resumed {} times", pes.len() - 1);
                assert_eq!(pes[1], (pes[0] + 1) % p, "element {i}: {pes:?}");
                assert_eq!(pes[2], (pes[0] + 2) % p, "element {i}: {pes:?}");
            }
            let steps = rt.lb_steps();
            assert_eq!(steps.len(), 2);
            let moved = if p > 1 { n } else { 0 };
            assert!(steps.iter().all(|s| s.moved == moved && s.chares == n), "{steps:?}");
        })
    })
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Homebody {
    keeps: super::failures::Refusing,
}

#[chare(migratable)]
impl Homebody {
    fn new() -> Self {
        Homebody { keeps: super::failures::Refusing }
    }

    #[entry]
    fn leave(&self, ctx: &Ctx<Self>) {
        ctx.migrate((ctx.my_pe() + 1) % ctx.num_pes());
    }
}

/// A migratable chare whose state cannot be serialised cannot cross
/// processes: the job ends with the type's own error text (under MPI, and on
/// one machine in the check mode).
pub fn a_state_that_cannot_travel_is_reported_with_its_text() -> Scenario {
    Scenario::new(&[2, 4], Expect::Usage("a Refusing value refuses to travel"), |rt| {
        Box::pin(async move {
            let h = rt.array::<Homebody>(2).map(Placement::RoundRobin).create(());
            h.elem(1).leave();
            std::future::pending::<()>().await;
        })
    })
    .across_processes()
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Nomad {
    got: Vec<u64>,
}

#[chare(migratable)]
impl Nomad {
    fn new() -> Self {
        Nomad { got: Vec::new() }
    }

    #[entry]
    fn go_to(&self, ctx: &Ctx<Self>, pe: usize) {
        ctx.migrate(pe);
    }

    #[entry]
    fn reduce(&self, ctx: &Ctx<Self>, f: Future<u64>) {
        let i = ctx.index().i() as u64;
        ctx.contribute(i, Sum, f);
        ctx.contribute(i + 1, Max, ctx.proxy().elem(1).got_callback());
    }

    #[entry]
    async fn all(&self, ctx: &Ctx<Self>) -> u64 {
        ctx.allreduce(ctx.index().i() as u64 * 2, Sum).await
    }

    #[entry]
    fn got(&mut self, v: u64) {
        self.got.push(v);
    }

    /// Where this PE sees every element: an element that moved here is here.
    #[entry]
    fn where_are(&self, ctx: &Ctx<Self>) -> Vec<usize> {
        (0..ctx.proxy().len()).map(|i| ctx.proxy().elem(i).pe()).collect()
    }

    #[entry]
    fn received(&self, ctx: &Ctx<Self>) -> (Vec<u64>, usize) {
        (self.got.clone(), ctx.my_pe())
    }
}

/// Every element of an array moves away from the reduction's root PE (the
/// home of element 0): reductions to a future, to an entry method and
/// `allreduce` still complete with the right values (under MPI the root then
/// has no typed contribution and hands the reduction to a PE that has one).
pub fn reductions_complete_when_every_element_left_the_root() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let n = 6;
            let last = rt.num_pes() - 1;
            let a = rt.array::<Nomad>(n).create_awaitable(()).await;
            a.go_to(last);
            rt.wait_quiescence().await;
            let f = rt.future::<u64>();
            a.reduce(f.clone());
            assert_eq!(f.await, 15);
            let alls: Vec<_> = (0..n).map(|i| a.elem(i).all_ret()).collect();
            for f in alls {
                assert_eq!(f.await, 30);
            }
            rt.wait_quiescence().await;
            let (got, pe) = a.elem(1).received_ret().await;
            assert_eq!((got, pe), (vec![6], last));
            // Seen from the PE they moved to, every element is local.
            assert_eq!(a.elem(0).where_are_ret().await, vec![last; n]);
        })
    })
}

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Keeper {
    kept: Option<Future<u64>>,
}

#[chare(migratable)]
impl Keeper {
    fn new() -> Self {
        Keeper { kept: None }
    }

    /// Makes a future (owned by this PE), keeps it, and moves away.
    #[entry]
    fn keep_and_leave(&mut self, ctx: &Ctx<Self>) -> Future<u64> {
        let f = ctx.future::<u64>();
        self.kept = Some(f.clone());
        ctx.migrate((ctx.my_pe() + 1) % ctx.num_pes());
        f
    }

    /// Awaits the kept future on whatever PE the element is now.
    #[entry]
    async fn await_kept(&mut self, ctx: &Ctx<Self>) -> (u64, usize) {
        let f = self.kept.take().expect("kept");
        (f.await, ctx.my_pe())
    }
}

/// A future created on one PE and kept in a chare's state is fulfilled and
/// awaited after the chare moved to another PE (its owner forwards the
/// value), both when it was fulfilled before and after the await began.
pub fn a_future_kept_by_a_moving_chare_is_awaited_on_its_new_pe() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let a = rt.array::<Keeper>(2).map(Placement::RoundRobin).create_awaitable(()).await;
            let p = rt.num_pes();
            // Fulfilled before the await.
            let f0 = a.elem(0).keep_and_leave_ret().await;
            rt.wait_quiescence().await;
            f0.set(41);
            assert_eq!(a.elem(0).await_kept_ret().await, (41, 1 % p));
            // Fulfilled while the await waits.
            let f1 = a.elem(1).keep_and_leave_ret().await;
            rt.wait_quiescence().await;
            let r = a.elem(1).await_kept_ret();
            rt.wait_quiescence().await;
            f1.set(42);
            assert_eq!(r.await, (42, (1 + 1) % p));
        })
    })
}
