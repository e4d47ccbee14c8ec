//! Timers and statistics: `sleep` (Charm4Py's `charm.sleep` in a
//! coroutine), `schedule_after` (`charm.scheduleCallableAfter`), how pending
//! timers meet quiescence detection and the deadlock report, and `stats`
//! (`charm.printStats()`).
//!
//! Timing checks are lower bounds only (a timer never fires early): the
//! machines running the suite are shared and noisy.

use super::{Expect, Scenario};
use chare::prelude::*;
use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A chare whose entries sleep.
pub struct Napper {
    pings: u64,
    fired: u64,
}

#[chare]
impl Napper {
    fn new() -> Self {
        Napper { pings: 0, fired: 0 }
    }

    #[entry]
    fn ping(&mut self) {
        self.pings += 1;
    }

    #[entry]
    fn pings(&self) -> u64 {
        self.pings
    }

    /// Sleeps in steps of 1 ms until `n` pings arrived: only possible if
    /// the chare's other entries run while it sleeps. Returns how long it
    /// slept in all (microseconds) and how many steps it took.
    #[entry(reentrant)]
    async fn nap_until_pinged(me: &Reentrant<Self>, n: u64) -> (u64, u64) {
        let t0 = Instant::now();
        let mut steps = 0;
        while me.with(|s| s.pings) < n {
            me.sleep(ms(1)).await;
            steps += 1;
        }
        (t0.elapsed().as_micros() as u64, steps)
    }

    /// An exclusive async entry sleeping `millis`; returns how long it slept
    /// (microseconds).
    #[entry]
    async fn nap(&mut self, ctx: &Ctx<Self>, millis: u64) -> u64 {
        let t0 = Instant::now();
        ctx.sleep(ms(millis)).await;
        t0.elapsed().as_micros() as u64
    }

    /// Schedules closures with delays given out of order (two with the same
    /// delay), sleeps past the last, and returns the names in the order they
    /// ran, each with whether it ran no earlier than its delay.
    #[entry]
    async fn callables_in_order(&mut self, ctx: &Ctx<Self>) -> Vec<(String, bool)> {
        let log = Rc::new(RefCell::new(Vec::new()));
        let t0 = Instant::now();
        for (name, delay) in [("c", 30), ("a", 10), ("b", 20), ("a2", 10)] {
            let log = log.clone();
            ctx.schedule_after(ms(delay), move || {
                log.borrow_mut().push((name.to_string(), t0.elapsed() >= ms(delay)));
            });
        }
        ctx.sleep(ms(35)).await;
        let got = log.borrow().clone();
        got
    }

    /// Fulfils `f` from a closure `millis` from now, and returns at once.
    #[entry]
    fn set_later(&self, ctx: &Ctx<Self>, millis: u64, f: Future<u64>) {
        let pe = ctx.my_pe() as u64;
        ctx.schedule_after(ms(millis), move || f.set(pe));
    }

    /// Calls `fired` on element 0 from a closure `millis` from now.
    #[entry]
    fn fire_later(&self, ctx: &Ctx<Self>, millis: u64) {
        let first = ctx.proxy().elem(0);
        ctx.schedule_after(ms(millis), move || first.fired());
    }

    #[entry]
    fn fired(&mut self) {
        self.fired += 1;
    }

    #[entry]
    fn fired_count(&self) -> u64 {
        self.fired
    }
}

/// A reentrant entry that sleeps lets the other entries of its chare (and
/// so of its PE) run meanwhile: it waits in 1 ms sleeps for pings that only
/// those entries count, on the PE farthest from the main task.
pub fn a_sleeping_entry_lets_other_entries_of_its_pe_run() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let last = rt.num_pes() - 1;
            let g = rt.group::<Napper>().create(());
            let n = 20;
            let napping = g.elem(last).nap_until_pinged_ret(n);
            // Give the nap time to start sleeping first (not needed for
            // correctness: the pings may also arrive before).
            rt.sleep(ms(5)).await;
            for _ in 0..n {
                g.elem(last).ping();
            }
            let (_, steps) = napping.await;
            assert!(steps >= 1, "the nap never slept");
            assert_eq!(g.elem(last).pings_ret().await, n);
        })
    })
}

/// A sleep lasts at least what was asked, in the main task and in an
/// exclusive async entry on every PE.
pub fn a_sleep_lasts_at_least_its_delay() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            for d in [0, 1, 15] {
                let t0 = Instant::now();
                rt.sleep(ms(d)).await;
                assert!(t0.elapsed() >= ms(d), "the main task slept {:?}, asked {d} ms", t0.elapsed());
            }
            let g = rt.group::<Napper>().create(());
            for (pe, slept) in g.nap_all_ret(25).await.into_iter().enumerate() {
                assert!(slept >= 25_000, "PE {pe} slept {slept} us, asked 25 ms");
            }
        })
    })
}

/// Closures scheduled on a PE run in deadline order (ties in the order they
/// were scheduled), none before its delay, on every PE.
pub fn scheduled_callables_run_in_deadline_order() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let g = rt.group::<Napper>().create(());
            for (pe, log) in g.callables_in_order_all_ret().await.into_iter().enumerate() {
                let names: Vec<&str> = log.iter().map(|(n, _)| n.as_str()).collect();
                assert_eq!(names, ["a", "a2", "b", "c"], "PE {pe}");
                assert!(log.iter().all(|(_, on_time)| *on_time), "PE {pe}: a closure ran early: {log:?}");
            }
        })
    })
}

/// A job whose only pending work is a timer is not deadlocked: the main
/// task waits for a future that a closure on the last PE fulfils 300 ms
/// later, then for an entry sleeping 300 ms there, while quiescence is
/// looked for every few milliseconds.
pub fn a_job_waiting_only_on_a_timer_completes() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let last = rt.num_pes() - 1;
            let g = rt.group::<Napper>().create(());
            let f = rt.future::<u64>();
            g.elem(last).set_later(300, f.clone());
            assert_eq!(f.await, last as u64);
            assert!(g.elem(last).nap_ret(300).await >= 300_000);
            let t0 = Instant::now();
            rt.sleep(ms(300)).await;
            assert!(t0.elapsed() >= ms(300));
        })
    })
}

/// Quiescence waits for pending timers (unlike Charm++'s): a closure
/// scheduled on every PE sends a message 50 ms later, and
/// `wait_quiescence` completes only after every one was handled.
pub fn quiescence_waits_for_pending_timers() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let g = rt.group::<Napper>().create(());
            g.fire_later(50);
            rt.wait_quiescence().await;
            assert_eq!(g.elem(0).fired_count_ret().await, rt.num_pes() as u64);
            // No timer is left: quiescence again at once.
            rt.wait_quiescence().await;
        })
    })
}

/// A chare that moves when asked, for the statistics of migrations.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Traveller;

#[chare(migratable)]
impl Traveller {
    fn new() -> Self {
        Traveller
    }

    #[entry]
    fn go_to(&self, ctx: &Ctx<Self>, pe: usize) {
        ctx.migrate(pe);
    }

    #[entry]
    fn pe(&self, ctx: &Ctx<Self>) -> usize {
        ctx.my_pe()
    }
}

/// `stats` counts a known message pattern: between two gathers, `n` calls
/// and one `_ret` call to an element on the last PE add exactly `n + 2`
/// handled messages there (the calls, the `_ret` call, the first gather's
/// request, handled after its snapshot) and 2 sent (the `_ret` answer and
/// the first gather's answer); a migration counts on both PEs; timers count.
pub fn stats_count_a_known_message_pattern() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let npes = rt.num_pes();
            let last = npes - 1;
            let g = rt.group::<Napper>().create(());
            assert_eq!(g.elem(last).pings_ret().await, 0);
            let before = rt.stats().await;
            assert_eq!(before.pes.len(), npes);
            assert!(before.pes.iter().enumerate().all(|(i, p)| p.pe == i));
            let n = 100;
            for _ in 0..n {
                g.elem(last).ping();
            }
            assert_eq!(g.elem(last).pings_ret().await, n);
            let after = rt.stats().await;
            let (b, a) = (&before.pes[last], &after.pes[last]);
            if last > 0 {
                assert_eq!(a.msgs_handled - b.msgs_handled, n + 2, "handled on PE {last}");
                assert_eq!(a.msgs_sent - b.msgs_sent, 2, "sent by PE {last}");
                // PE 0 sent the calls, the `_ret` call and the requests.
                assert!(after.pes[0].msgs_sent - before.pes[0].msgs_sent >= n + 1 + npes as u64);
            } else {
                assert!(a.msgs_handled - b.msgs_handled >= n + 2);
                assert!(a.msgs_sent - b.msgs_sent >= n + 1);
            }
            // One group element per PE, and the main task suspended on PE 0.
            assert!(after.pes.iter().all(|p| p.chares >= 1));
            assert!(after.pes[0].tasks >= 1);
            let total = after.total();
            assert_eq!(total.msgs_sent, after.pes.iter().map(|p| p.msgs_sent).sum::<u64>());
            // Timers: the main task's sleep fired on PE 0; nothing pends.
            rt.sleep(ms(1)).await;
            let timed = rt.stats().await;
            assert!(timed.pes[0].timers_fired >= 1);
            assert!(timed.pes.iter().all(|p| p.timers_pending == 0));
            // A migration from PE 0 to the last PE.
            if last > 0 {
                let t = rt.array::<Traveller>(1).map(Placement::OnPe(0)).create(());
                t.elem(0).go_to(last);
                assert_eq!(t.elem(0).pe_ret().await, last);
                let moved = rt.stats().await;
                assert_eq!(moved.pes[0].migrated_out, 1);
                assert_eq!(moved.pes[last].migrated_in, 1);
                assert_eq!(moved.total().migrated_out, 1);
            }
            rt.print_stats().await;
        })
    })
}
