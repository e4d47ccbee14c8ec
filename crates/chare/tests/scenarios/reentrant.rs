//! Charm4Py's coroutine semantics: reentrant entries (other entries run while
//! one is suspended), `when` conditions, `wait_until`, and the migration of a
//! chare with a suspended reentrant entry.

use super::{Expect, Scenario};
use chare::prelude::*;

// ---------------------------------------------------------------------------
// A coroutine waiting for a value that another entry of its chare delivers
// (Charm4Py: `@coro def take(self): self.f = Future(); return self.f.get()`
// and `def deliver(self, v): self.f.send(v)`).

pub struct Mailbox {
    wanted: Option<Future<u64>>,
    log: Vec<String>,
}

#[chare]
impl Mailbox {
    fn new() -> Self {
        Mailbox { wanted: None, log: Vec::new() }
    }

    /// Reentrant: `deliver` and `note` run while it waits.
    #[entry(reentrant)]
    async fn take(me: &Reentrant<Self>) -> u64 {
        let f = me.future::<u64>();
        me.with(|s| {
            s.log.push("take waits".into());
            s.wanted = Some(f.clone());
        });
        let v = f.await;
        me.with(|s| s.log.push(format!("take got {v}")));
        v
    }

    /// The same coroutine as an exclusive async entry: it holds the chare,
    /// so `deliver` can never run and the program deadlocks.
    #[entry]
    async fn take_exclusive(&mut self, ctx: &Ctx<Self>) -> u64 {
        let f = ctx.future::<u64>();
        self.wanted = Some(f.clone());
        f.await
    }

    #[entry]
    fn deliver(&mut self, v: u64) {
        self.log.push(format!("deliver {v}"));
        self.wanted.take().expect("a coroutine waits").set(v);
    }

    #[entry]
    fn note(&mut self, s: String) {
        self.log.push(s);
    }

    #[entry]
    fn log(&self) -> Vec<String> {
        self.log.clone()
    }
}

/// A program that deadlocks under exclusive entries runs when the
/// coroutine is reentrant; calls that reach the chare while it waits run in
/// arrival order, before it resumes.
pub fn a_reentrant_coroutine_awaits_a_future_that_another_entry_fulfils() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let pe = 1 % rt.num_pes();
            let m = rt.chare::<Mailbox>(pe).create(());
            let got = m.take_ret();
            m.note("first".into());
            m.deliver(42);
            m.note("second".into());
            assert_eq!(got.await, 42);
            let log = m.log_ret().await;
            // `take` resumes when its task is next polled: after `deliver`,
            // and after or before `second` depending on when the PE polls.
            let mut rest = log[..3].to_vec();
            assert_eq!(rest, vec!["take waits", "first", "deliver 42"], "{log:?}");
            rest = log[3..].to_vec();
            rest.sort();
            assert_eq!(rest, vec!["second", "take got 42"], "{log:?}");
            // Twice more: the chare is free again.
            for v in [1, 2] {
                let got = m.take_ret();
                m.deliver(v);
                assert_eq!(got.await, v);
            }
        })
    })
}

/// The same program with the coroutine an exclusive async entry deadlocks,
/// and the report says so.
pub fn the_same_coroutine_as_an_exclusive_entry_deadlocks() -> Scenario {
    Scenario::new(
        &[1, 2],
        Expect::Deadlock(&["Mailbox[0].take_exclusive waits on future", "main[0].main waits on future"]),
        |rt| {
            Box::pin(async move {
                let m = rt.chare::<Mailbox>(rt.num_pes() - 1).create(());
                let got = m.take_exclusive_ret();
                m.deliver(42);
                got.await;
            })
        },
    )
}

// ---------------------------------------------------------------------------
// `when` conditions.

pub struct Stepper {
    step: u32,
    log: Vec<String>,
}

#[chare]
impl Stepper {
    fn new() -> Self {
        Stepper { step: 0, log: Vec::new() }
    }

    /// Runs only in its step (Charm4Py: `@when('self.step == step')`).
    #[entry(when = self.step == *step)]
    fn at(&mut self, step: u32, tag: String) {
        self.log.push(format!("{tag}@{step}"));
    }

    /// Runs in order of `k`, whatever the arrival order: each call enables
    /// the next.
    #[entry(when = self.step == *k)]
    fn ordered(&mut self, k: u32) {
        self.log.push(format!("#{k}"));
        self.step += 1;
    }

    #[entry]
    fn advance(&mut self) {
        self.step += 1;
        self.log.push(format!("step {}", self.step));
    }

    /// An async entry with a condition: it starts only in step `step`, then
    /// holds the chare until `go` is set.
    #[entry(when = self.step >= *step)]
    async fn later(&mut self, step: u32, go: Future<()>) {
        self.log.push(format!("later@{step} starts"));
        go.await;
        self.log.push(format!("later@{step} ends"));
    }

    #[entry]
    fn log(&mut self) -> Vec<String> {
        std::mem::take(&mut self.log)
    }
}

/// A `when` call runs right after the entry that made its condition true,
/// before any later message; calls that arrived early wait; calls whose
/// conditions hold together run in arrival order.
pub fn a_when_entry_fires_exactly_when_its_condition_becomes_true() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let s = rt.chare::<Stepper>(rt.num_pes() - 1).create(());
            s.at(2, "a".into()); // waits for step 2
            s.at(1, "b".into()); // waits for step 1
            s.at(2, "c".into()); // waits for step 2, after a
            s.at(0, "d".into()); // runs at once
            s.advance();
            s.at(1, "e".into()); // arrives in step 1: runs at once
            s.advance();
            s.at(1, "f".into()); // too late: waits for ever
            s.at(2, "g".into());
            let log = s.log_ret().await;
            assert_eq!(log, vec!["d@0", "step 1", "b@1", "e@1", "step 2", "a@2", "c@2", "g@2"]);

            // Calls in reverse order run in condition order.
            let s = rt.chare::<Stepper>(0).create(());
            for k in (0..20).rev() {
                s.ordered(k);
            }
            let log = s.log_ret().await;
            let want: Vec<String> = (0..20).map(|k| format!("#{k}")).collect();
            assert_eq!(log, want);
        })
    })
}

/// An async entry with a condition holds its chare once started: later
/// calls (with conditions that hold, too) wait for it, then run in order.
pub fn an_async_when_entry_starts_when_its_condition_holds() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let s = rt.chare::<Stepper>(rt.num_pes() - 1).create(());
            let go = rt.future::<()>();
            let done = s.later_ret(1, go.clone());
            s.at(0, "x".into());
            s.advance(); // step 1: `later` starts and holds the chare
            s.at(1, "y".into());
            // `y` waits for `later`; `log` too.
            let log = s.log_ret();
            go.set(());
            done.await;
            assert_eq!(log.await, vec!["x@0", "step 1", "later@1 starts", "later@1 ends", "y@1"]);
        })
    })
}

// ---------------------------------------------------------------------------
// `wait_until`.

pub struct Collector {
    items: Vec<u32>,
    log: Vec<String>,
}

#[chare]
impl Collector {
    fn new() -> Self {
        Collector { items: Vec::new(), log: Vec::new() }
    }

    #[entry]
    fn put(&mut self, x: u32) {
        self.items.push(x);
    }

    /// Waits until `n` items arrived, then returns the first `n`.
    #[entry(reentrant)]
    async fn first(me: &Reentrant<Self>, n: usize) -> Vec<u32> {
        me.wait_until(|s| s.items.len() >= n).await;
        let items = me.with(|s| {
            s.log.push(format!("first {n}"));
            s.items[..n].to_vec()
        });
        items
    }

    /// Puts `x` from a reentrant entry: its `with` wakes the waiters too.
    #[entry(reentrant)]
    async fn put_later(me: &Reentrant<Self>, x: u32, go: Future<()>) {
        go.await;
        me.with(|s| s.items.push(x));
    }

    #[entry]
    fn log(&self) -> Vec<String> {
        self.log.clone()
    }

    /// Misuse: `with` inside `with`.
    #[entry(reentrant)]
    async fn nested(me: &Reentrant<Self>) {
        me.with(|_| me.with(|s| s.items.clear()));
    }

    /// Waits for a condition nothing will make true.
    #[entry(reentrant)]
    async fn never(me: &Reentrant<Self>) {
        me.wait_until(|s| s.items.len() > 1000).await;
    }
}

/// `wait_until` completes at once when its predicate holds, otherwise after
/// the entry that makes it true (a sync entry, or a `with` of another
/// reentrant entry); several waiters each wake at their own threshold.
pub fn wait_until_resumes_once_another_entry_makes_it_true() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let c = rt.chare::<Collector>(rt.num_pes() - 1).create(());
            let three = c.first_ret(3);
            let one = c.first_ret(1);
            c.put(10);
            assert_eq!(one.await, vec![10]);
            c.put(11);
            let go = rt.future::<()>();
            c.put_later(12, go.clone());
            let zero = c.first_ret(0); // holds at once
            assert_eq!(zero.await, Vec::<u32>::new());
            go.set(());
            assert_eq!(three.await, vec![10, 11, 12]);
            assert_eq!(c.first_ret(2).await, vec![10, 11]);
            assert_eq!(c.log_ret().await, vec!["first 1", "first 0", "first 3", "first 2"]);
        })
    })
}

/// A condition nothing makes true: the deadlock report says what the task
/// waits on.
pub fn a_wait_until_that_never_holds_is_reported_as_a_deadlock() -> Scenario {
    Scenario::new(
        &[1, 2],
        Expect::Deadlock(&["Collector[0].never waits on a wait_until condition", "main[0].main waits on future"]),
        |rt| {
            Box::pin(async move {
                let c = rt.chare::<Collector>(rt.num_pes() - 1).create(());
                c.never_ret().await;
            })
        },
    )
}

/// `with` inside `with` would alias the state: it panics, naming the misuse.
pub fn with_inside_with_is_reported() -> Scenario {
    Scenario::new(
        &[1, 2],
        Expect::Panic {
            pe: None,
            chare: "Collector",
            index: "0",
            entry: "nested",
            message: "the chare's state is already borrowed: Reentrant::with or wait_until called inside \
                      Reentrant::with",
        },
        |rt| {
            Box::pin(async move {
                let c = rt.chare::<Collector>(rt.num_pes() - 1).create(());
                c.nested_ret().await;
            })
        },
    )
}

// ---------------------------------------------------------------------------
// Reentrant and exclusive entries of one chare.

pub struct Mixed {
    log: Vec<String>,
}

#[chare]
impl Mixed {
    fn new() -> Self {
        Mixed { log: Vec::new() }
    }

    #[entry(reentrant)]
    async fn light(me: &Reentrant<Self>, f: Future<u32>) {
        me.with(|s| s.log.push("light waits".into()));
        let v = f.await;
        me.with(|s| s.log.push(format!("light got {v}")));
    }

    /// Holds the chare (`&mut self`) across its await.
    #[entry]
    async fn heavy(&mut self, g: Future<u32>) {
        self.log.push("heavy starts".into());
        let v = g.await;
        self.log.push(format!("heavy got {v}"));
    }

    #[entry]
    fn log(&self) -> Vec<String> {
        self.log.clone()
    }
}

/// While an exclusive async entry holds the chare, a reentrant entry whose
/// future is ready does not resume (it would touch the state the exclusive
/// one borrows): it resumes after the exclusive one finishes.
pub fn a_reentrant_entry_waits_while_an_exclusive_one_holds_the_chare() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let m = rt.chare::<Mixed>(rt.num_pes() - 1).create(());
            let (f, g) = (rt.future::<u32>(), rt.future::<u32>());
            let light = m.light_ret(f.clone());
            let heavy = m.heavy_ret(g.clone());
            // `light` waits on f, `heavy` holds the chare waiting on g.
            f.set(1);
            let log = m.log_ret(); // waits for `heavy`
            g.set(2);
            heavy.await;
            let log = log.await;
            assert_eq!(&log[..3], ["light waits", "heavy starts", "heavy got 2"], "{log:?}");
            light.await;
            let log = m.log_ret().await;
            assert_eq!(log, vec!["light waits", "heavy starts", "heavy got 2", "light got 1"]);
        })
    })
}

// ---------------------------------------------------------------------------
// Migration.

#[derive(serde::Serialize, serde::Deserialize)]
pub struct Mover {
    flag: bool,
    step: u32,
    log: Vec<String>,
}

#[chare(migratable)]
impl Mover {
    fn new() -> Self {
        Mover { flag: false, step: 0, log: Vec::new() }
    }

    /// Asks to move to `to`, then waits (for a call of this chare, then for
    /// `go`): the move waits until this entry returns, calls run meanwhile.
    /// Returns the PE it started and ended on.
    #[entry(reentrant)]
    async fn hold(me: &Reentrant<Self>, to: usize, go: Future<u32>) -> (usize, usize) {
        let before = me.my_pe();
        me.migrate(to);
        me.wait_until(|s| s.flag).await;
        let v = go.await;
        me.with(|s| s.log.push(format!("got {v}")));
        (before, me.my_pe())
    }

    #[entry]
    fn set_flag(&mut self) {
        self.flag = true;
        self.log.push("flag".into());
    }

    #[entry(when = self.step == *step)]
    fn at(&mut self, ctx: &Ctx<Self>, step: u32) {
        self.log.push(format!("at {step} on PE {}", ctx.my_pe()));
    }

    #[entry]
    fn advance(&mut self) {
        self.step += 1;
    }

    #[entry]
    fn pe(&self, ctx: &Ctx<Self>) -> usize {
        ctx.my_pe()
    }

    #[entry]
    fn log(&self) -> Vec<String> {
        self.log.clone()
    }
}

/// A chare with a suspended reentrant entry moves once that entry returns;
/// until then calls to it run where it is; a held `when` call travels with
/// it and runs on the new PE when its condition becomes true there.
pub fn a_chare_with_a_suspended_reentrant_entry_moves_once_it_returns() -> Scenario {
    Scenario::new(&[2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let m = rt.array::<Mover>(1).create_awaitable(()).await;
            let m = m.elem(0);
            assert_eq!(m.pe_ret().await, 0);
            m.at(1); // held: step 0
            let go = rt.future::<u32>();
            let held = m.hold_ret(1, go.clone());
            m.set_flag(); // must run although a move is pending
            assert_eq!(m.pe_ret().await, 0, "the move waits for the suspended entry");
            go.set(5);
            assert_eq!(held.await, (0, 0), "a suspended entry never moves");
            while m.pe_ret().await != 1 {}
            m.advance();
            let log = m.log_ret().await;
            assert_eq!(log, vec!["flag", "got 5", "at 1 on PE 1"]);
        })
    })
}
