//! A group's local branch (`local_branch`, Charm4Py's `ckLocalBranch()`):
//! direct access to this PE's element, and the cases where it is refused.

use super::{Expect, Scenario};
use chare::prelude::*;
use chare::LocalBranchError;

pub struct Counter {
    n: u64,
}

#[chare]
impl Counter {
    fn new() -> Self {
        Counter { n: 0 }
    }
    #[entry]
    fn get(&self) -> u64 {
        self.n
    }
    #[entry]
    fn add(&mut self, k: u64) {
        self.n += k;
    }
    /// Its own code asks for its own local branch: refused.
    #[entry]
    fn own_branch(&mut self, ctx: &Ctx<Self>) -> String {
        ctx.try_local_branch(&ctx.proxy(), |c| c.n).unwrap_err().to_string()
    }
    /// The same, in the panicking form.
    #[entry]
    fn own_branch_panics(&mut self, ctx: &Ctx<Self>) {
        ctx.local_branch(&ctx.proxy(), |c| c.n += 1);
    }
    /// The same, from a reentrant entry.
    #[entry(reentrant)]
    async fn own_branch_reentrant(me: &Reentrant<Self>) -> String {
        me.try_local_branch(&me.proxy(), |c| c.n).unwrap_err().to_string()
    }
    /// Holds the element (an exclusive async entry) until `release`.
    #[entry]
    async fn hold(&mut self, started: Future<()>, release: Future<()>) {
        started.set(());
        release.await;
        self.n += 100;
    }
    /// Waits without holding the element (a reentrant entry), then reads it.
    #[entry(reentrant)]
    async fn wait_then_read(me: &Reentrant<Self>, started: Future<()>, release: Future<()>) -> u64 {
        started.set(());
        release.await;
        me.with(|s| s.n)
    }
}

pub struct User;

#[chare]
impl User {
    fn new() -> Self {
        User
    }
    /// From another chare's entry: adds `k` to this PE's counter, returns
    /// (PE, the counter's value).
    #[entry]
    fn bump(&self, ctx: &Ctx<Self>, counters: Group<Counter>, k: u64) -> (usize, u64) {
        let v = ctx.local_branch(&counters, |c: &mut Counter| {
            c.n += k;
            c.n
        });
        (ctx.my_pe(), v)
    }
    /// The same from a reentrant entry, between awaits.
    #[entry(reentrant)]
    async fn bump_between_awaits(me: &Reentrant<Self>, counters: Group<Counter>) -> u64 {
        let f = me.future::<u64>();
        f.set(1);
        let k = f.await;
        me.local_branch(&counters, |c: &mut Counter| {
            c.n += k;
            c.n
        })
    }
    /// A subset group's local branch, or the error where it has no element.
    #[entry]
    fn try_subset(&self, ctx: &Ctx<Self>, g: Group<Counter>) -> Result<u64, String> {
        ctx.try_local_branch(&g, |c: &mut Counter| c.n).map_err(|e| e.to_string())
    }
}

/// The main task and other chares' entries (sync, and reentrant between
/// awaits) read and change this PE's element directly; messages sent
/// afterwards see the changes.
pub fn local_branch_reads_and_mutates_the_element_and_later_messages_see_it() -> Scenario {
    Scenario::new(&[1, 2, 3, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let n = rt.num_pes();
            let counters = rt.group::<Counter>().create_awaitable(()).await;
            let users = rt.group::<User>().create_awaitable(()).await;
            assert_eq!(rt.local_branch(&counters, |c: &mut Counter| c.n), 0);
            rt.local_branch(&counters, |c: &mut Counter| c.n += 10);
            assert_eq!(counters.elem(0).get_ret().await, 10, "a message after the change sees it");
            counters.elem(0).add(5);
            assert_eq!(counters.elem(0).get_ret().await, 15);
            assert_eq!(rt.local_branch(&counters, |c: &mut Counter| c.n), 15, "and the branch sees messages' changes");
            let got = users.bump_all_ret(counters.clone(), 2).await;
            let want: Vec<(usize, u64)> = (0..n).map(|p| (p, if p == 0 { 17 } else { 2 })).collect();
            assert_eq!(got, want, "each user changed its own PE's counter");
            assert_eq!(
                users.bump_between_awaits_all_ret(counters.clone()).await,
                want.iter().map(|w| w.1 + 1).collect::<Vec<_>>()
            );
            let values = counters.get_all_ret().await;
            assert_eq!(values, want.iter().map(|w| w.1 + 1).collect::<Vec<_>>());
        })
    })
}

/// Where the element cannot be lent, `try_local_branch` says why in one
/// line and calls nothing: its own code asks (a sync or a reentrant entry),
/// an exclusive async entry of it is suspended, a nested call, no element
/// on this PE (a subset group elsewhere, or not created here yet), an
/// array. A suspended reentrant entry does not hold the element, and sees
/// the change.
pub fn local_branch_is_refused_while_the_element_is_in_use() -> Scenario {
    Scenario::new(&[2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let g = rt.group::<Counter>().create_awaitable(()).await;
            let in_use = "local_branch of group Counter on PE 0: the element is in use";
            let own = g.elem(0).own_branch_ret().await;
            assert_eq!(own, format!("{in_use} (an entry of it is running: its own code called local_branch)"));
            assert_eq!(g.elem(0).own_branch_reentrant_ret().await, own);
            // An exclusive async entry suspended: it holds the element.
            let (started, release) = (rt.future::<()>(), rt.future::<()>());
            let held = g.elem(0).hold_ret(started.clone(), release.clone());
            started.await;
            let mut called = false;
            let e = rt.try_local_branch(&g, |_| called = true).unwrap_err();
            assert!(!called);
            assert!(matches!(e, LocalBranchError::InUse { pe: 0, .. }), "{e:?}");
            assert_eq!(e.to_string(), format!("{in_use} (an exclusive async entry of it is suspended)"));
            release.set(());
            held.await;
            assert_eq!(rt.local_branch(&g, |c: &mut Counter| c.n), 100, "free again once it returned");
            // A nested call.
            let nested = rt.local_branch(&g, |_| rt.try_local_branch(&g, |c: &mut Counter| c.n).unwrap_err());
            assert_eq!(
                nested.to_string(),
                format!("{in_use} (its state is lent: local_branch or Reentrant::with of it is in progress)")
            );
            // A suspended reentrant entry holds nothing.
            let (started, release) = (rt.future::<()>(), rt.future::<()>());
            let read = g.elem(0).wait_then_read_ret(started.clone(), release.clone());
            started.await;
            rt.local_branch(&g, |c: &mut Counter| c.n = 42);
            release.set(());
            assert_eq!(read.await, 42, "the reentrant entry sees the change");
            // A subset group: no element here; elsewhere, its own.
            let sub = rt.group::<Counter>().on_pes(&[1]).create_awaitable(()).await;
            sub.elem(1).add(7);
            let e = rt.try_local_branch(&sub, |c: &mut Counter| c.n).unwrap_err();
            assert_eq!(e, LocalBranchError::NotHere { chare: "Counter", pe: 0, pes: vec![1] }, "{e}");
            assert_eq!(
                e.to_string(),
                "local_branch of group Counter on PE 0: the group has no element here, its PEs are [1]"
            );
            let users = rt.group::<User>().create_awaitable(()).await;
            assert_eq!(users.elem(1).try_subset_ret(sub.clone()).await, Ok(7));
            // Not created here yet: the creation message is still queued.
            let fresh = rt.group::<Counter>().create(());
            let e = rt.try_local_branch(&fresh, |c: &mut Counter| c.n).unwrap_err();
            assert_eq!(e, LocalBranchError::NotCreated { chare: "Counter", pe: 0 });
            // An array has no local branch.
            let a = rt.array::<Counter>(2).create_awaitable(()).await;
            let e = rt.try_local_branch(&a, |c: &mut Counter| c.n).unwrap_err();
            assert_eq!(e.to_string(), "local_branch of Counter: only a group has a local branch, this is an array");
        })
    })
}

/// `local_branch` (not `try_`) called by the element's own entry: the job
/// ends with one line naming the entry, the group and the PE.
pub fn local_branch_from_the_elements_own_entry_is_a_one_line_error() -> Scenario {
    Scenario::new(
        &[2, 4],
        Expect::Panic {
            pe: Some(1),
            chare: "Counter",
            index: "1",
            entry: "own_branch_panics",
            message:
                "local_branch of group Counter on PE 1: the element is in use (an entry of it is running: its own \
                      code called local_branch)",
        },
        |rt| {
            Box::pin(async move {
                let g = rt.group::<Counter>().create(());
                g.elem(1).own_branch_panics_ret().await;
            })
        },
    )
}
