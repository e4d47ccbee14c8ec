//! Groups on a subset of the PEs (`on_pes`, Charm4Py's `Group(W,
//! onPEs=..)`) and single chares placed by the runtime (`chare_anywhere`,
//! Charm4Py's `Chare(W, onPE=-1)`).

use super::{Expect, Scenario};
use chare::prelude::*;

pub struct Member {
    hits: u32,
    got: Vec<u64>,
}

#[chare]
impl Member {
    fn new() -> Self {
        Member { hits: 0, got: Vec::new() }
    }
    /// Contributes its PE to a gather.
    #[entry]
    fn whereami(&self, ctx: &Ctx<Self>, f: Future<Vec<usize>>) {
        ctx.contribute(ctx.my_pe(), Gather, f);
    }
    #[entry]
    fn hit(&mut self) {
        self.hits += 1;
    }
    /// (index, PE, broadcasts received)
    #[entry]
    fn report(&self, ctx: &Ctx<Self>) -> (usize, usize, u32) {
        (ctx.index().i(), ctx.my_pe(), self.hits)
    }
    /// One reduction to each kind of target.
    #[entry]
    async fn reduce(&mut self, ctx: &Ctx<Self>, sum: Future<u64>, gather: Future<Vec<usize>>) {
        let pe = ctx.my_pe() as u64;
        ctx.contribute(pe + 1, Sum, sum);
        ctx.contribute(ctx.index().i(), Gather, gather);
        // Every element names the same element: the first.
        let first = ctx.proxy().indices().next().expect("a member");
        ctx.contribute(pe * 10, Max, ctx.proxy().elem(first).receive_callback());
        ctx.contribute(pe, Min, ctx.proxy().receive_callback());
        let all = ctx.allreduce(1u64, Sum).await;
        self.got.push(all);
    }
    #[entry]
    fn receive(&mut self, v: u64) {
        self.got.push(v);
    }
    #[entry]
    fn got(&self) -> Vec<u64> {
        self.got.clone()
    }
}

pub struct Probe;

#[chare]
impl Probe {
    fn new() -> Self {
        Probe
    }
    /// The broadcasts the element of `g` on this PE received, or why there
    /// is none here.
    #[entry]
    fn look(&self, ctx: &Ctx<Self>, g: Group<Member>) -> Result<u32, String> {
        ctx.try_local_branch(&g, |m: &mut Member| m.hits).map_err(|e| e.to_string())
    }
}

/// The odd PEs of the job, given in decreasing order (`on_pes` takes any order).
fn odd_pes(n: usize) -> Vec<usize> {
    (1..n).rev().filter(|p| p % 2 == 1).collect()
}

/// A group on the odd PEs: elements exist exactly there, with a group's
/// indices (element `p` on PE `p`); every broadcast reaches each of them
/// exactly once; `len`, `indices` and `group_pes` describe the members.
pub fn a_broadcast_to_a_subset_group_reaches_each_member_once() -> Scenario {
    Scenario::new(&[2, 3, 4, 8], Expect::Ok, |rt| {
        Box::pin(async move {
            let n = rt.num_pes();
            let mut pes = odd_pes(n);
            let g = rt.group::<Member>().on_pes(&pes).create(());
            pes.sort_unstable();
            assert_eq!(g.len(), pes.len());
            assert_eq!(g.group_pes(), Some(pes.clone()));
            assert_eq!(g.indices().map(|ix| ix.i()).collect::<Vec<_>>(), pes);
            assert_eq!(g.dims(), &[n], "a subset group keeps a group's shape");
            let born = rt.future();
            g.whereami(born.clone());
            assert_eq!(born.await, pes, "elements exist on exactly the group's PEs");
            for _ in 0..5 {
                g.hit();
            }
            g.hit_ret().await;
            let seen = g.report_all_ret().await;
            let want: Vec<(usize, usize, u32)> = pes.iter().map(|&p| (p, p, 6)).collect();
            assert_eq!(seen, want, "(index, PE, broadcasts) of each member");
            // Every PE looks for an element of its own.
            let probes = rt.group::<Probe>().create(());
            for (p, seen) in probes.look_all_ret(g.clone()).await.into_iter().enumerate() {
                let want = match pes.contains(&p) {
                    true => Ok(6),
                    false => Err(format!(
                        "local_branch of group Member on PE {p}: the group has no element here, its PEs are {pes:?}"
                    )),
                };
                assert_eq!(seen, want, "PE {p}");
            }
            for &p in &pes {
                assert_eq!(g.elem(p).pe(), p);
                assert_eq!(g.elem(p).report_ret().await, (p, p, 6));
            }
            // A section of the group: members only.
            let sec = g.section_where(|ix| ix.i() > 1);
            let in_sec: Vec<usize> = pes.iter().copied().filter(|&p| p > 1).collect();
            assert_eq!(sec.len(), in_sec.len());
            if !in_sec.is_empty() {
                let r = sec.report_all_ret().await;
                assert_eq!(r.iter().map(|t| t.0).collect::<Vec<_>>(), in_sec);
            }
            rt.wait_quiescence().await;
        })
    })
}

/// A reduction over a subset group completes with exactly its members'
/// contributions, to every kind of target: a future, an entry of one
/// element, a broadcast to the group, and every contributor (allreduce).
pub fn a_reduction_over_a_subset_group_sums_exactly_its_members() -> Scenario {
    Scenario::new(&[2, 3, 4, 8], Expect::Ok, |rt| {
        Box::pin(async move {
            let n = rt.num_pes();
            // PE 0 too, where the main task runs, and the last PE.
            let mut pes: Vec<usize> = vec![n - 1, 0];
            if n > 3 {
                pes.push(2);
            }
            let g = rt.group::<Member>().on_pes(&pes).create_awaitable(()).await;
            pes.sort_unstable();
            for round in 0..3 {
                let (sum, gather) = (rt.future(), rt.future());
                g.reduce(sum.clone(), gather.clone());
                let want: u64 = pes.iter().map(|&p| p as u64 + 1).sum();
                assert_eq!(sum.await, want, "round {round}");
                assert_eq!(gather.await, pes, "round {round}");
            }
            g.hit_ret().await;
            rt.wait_quiescence().await;
            let max = *pes.last().unwrap() as u64 * 10;
            let min = pes[0] as u64;
            let members = pes.len() as u64;
            for (i, got) in g.got_all_ret().await.into_iter().enumerate() {
                let mut got = got;
                got.sort_unstable();
                // Every element: 3 broadcasts of the Min and 3 allreduce
                // results; the first also the 3 Max results.
                let mut want = vec![min; 3];
                want.extend([members; 3]);
                if i == 0 {
                    want.extend([max; 3]);
                }
                want.sort_unstable();
                assert_eq!(got, want, "element {}", pes[i]);
            }
        })
    })
}

/// The main task (on PE 0) panics with `message`.
fn main_panic(message: &'static str) -> Expect {
    Expect::Panic { pe: Some(0), chare: "main", index: "0", entry: "main", message }
}

/// `elem(p)` for a PE outside the group: a one-line error at the call,
/// naming the PE and the group's PEs.
pub fn elem_outside_a_subset_group_is_a_one_line_error() -> Scenario {
    Scenario::new(&[2, 4], main_panic("group Member has no element on PE 0: its PEs are [1]"), |rt| {
        Box::pin(async move {
            let g = rt.group::<Member>().on_pes(&[1]).create(());
            g.elem(1).hit();
            g.elem(0).hit();
        })
    })
}

/// A PE listed twice (an empty list: see the unit test of
/// `check_group_pes`): a one-line error naming the list.
pub fn a_subset_group_with_a_pe_listed_twice_is_refused() -> Scenario {
    Scenario::new(&[2, 4], main_panic("cannot create a group of Member on PEs [1, 0, 1]: PE 1 is listed twice"), |rt| {
        Box::pin(async move {
            let _g = rt.group::<Member>().on_pes(&[1, 0, 1]).create(());
        })
    })
}

/// A PE the job does not have.
pub fn a_subset_group_on_a_missing_pe_is_refused() -> Scenario {
    Scenario::new(
        &[2],
        main_panic("cannot create a group of Member on PEs [0, 2]: PE 2 does not exist: the job has 2 PEs"),
        |rt| {
            Box::pin(async move {
                let _g = rt.group::<Member>().on_pes(&[0, 2]).create(());
            })
        },
    )
}

pub struct Placed;

#[chare]
impl Placed {
    fn new() -> Self {
        Placed
    }
    #[entry]
    fn pe(&self, ctx: &Ctx<Self>) -> usize {
        ctx.my_pe()
    }
    /// Creates `k` chares anywhere; the PEs they went to, as they report them.
    #[entry]
    async fn spawn(&self, ctx: &Ctx<Self>, k: usize) -> Vec<usize> {
        let mut pes = Vec::new();
        for _ in 0..k {
            let c = ctx.chare_anywhere::<Placed>().create(());
            let told = c.pe();
            let ran = c.pe_ret().await;
            assert_eq!(told, ran, "the proxy and the chare agree on its PE");
            pes.push(ran);
        }
        pes
    }
}

/// Chares placed by the runtime go round-robin from their creator's PE:
/// the k-th created on PE p goes to PE (p + 1 + k) mod P. The main task's
/// spread over every PE; a creator on another PE starts after its own.
pub fn chares_placed_anywhere_spread_round_robin_from_their_creator() -> Scenario {
    Scenario::new(&[1, 2, 3, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let n = rt.num_pes();
            let mut got = Vec::new();
            for _ in 0..2 * n {
                got.push(rt.chare_anywhere::<Placed>().create_awaitable(()).await.pe_ret().await);
            }
            let want: Vec<usize> = (0..2 * n).map(|k| (1 + k) % n).collect();
            assert_eq!(got, want, "the main task's chares");
            let last = rt.chare::<Placed>(n - 1).create(());
            let want: Vec<usize> = (0..n + 1).map(|k| (n - 1 + 1 + k) % n).collect();
            assert_eq!(last.spawn_ret(n + 1).await, want, "chares created on PE {}", n - 1);
            // The main task's counter went on where it was.
            assert_eq!(rt.chare_anywhere::<Placed>().create(()).pe(), (1 + 2 * n) % n);
        })
    })
}
