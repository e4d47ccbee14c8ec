//! Sections: construction (list, slice, predicate, split, union), multicast
//! to exactly the members, reductions over a section to every target, and
//! both while the members migrate.

use super::{Expect, Scenario};
use chare::prelude::*;

/// Records the tags of the multicasts that reached it.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Cell2 {
    tags: Vec<u32>,
    got: Vec<u64>,
}

#[chare]
impl Cell2 {
    fn new() -> Self {
        Cell2 { tags: Vec::new(), got: Vec::new() }
    }

    #[entry]
    fn hit(&mut self, tag: u32) {
        self.tags.push(tag);
    }

    /// Every element's tags, gathered in index order.
    #[entry]
    fn report(&self, ctx: &Ctx<Self>, f: Future<Vec<Vec<u32>>>) {
        let mut t = self.tags.clone();
        t.sort_unstable();
        ctx.contribute(t, Gather, f);
    }

    /// Reduces over `sec` to a future, to an element's entry, to a multicast
    /// and with an allreduce, twice each (overlapping reductions).
    #[entry]
    async fn reduce(&mut self, ctx: &Ctx<Self>, sec: Section<Cell2>, sum: Future<u64>, gather: Future<Vec<u64>>) {
        let l = lin(ctx.index(), ctx.proxy().dims()) as u64;
        ctx.section_contribute(&sec, l, Sum, sum);
        ctx.section_contribute(&sec, l * 10, Gather, gather);
        let first = sec.indices().next().expect("a member");
        ctx.section_contribute(&sec, l, Max, ctx.proxy().elem(first).got_callback());
        ctx.section_contribute(&sec, l + 1, Min, sec.got_callback());
        let all = ctx.section_allreduce(&sec, 1u64, Sum).await;
        self.got.push(all);
    }

    #[entry]
    fn got(&mut self, v: u64) {
        self.got.push(v);
    }

    #[entry]
    fn take_got(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.got)
    }

    /// This element's row-major position times `k`, and its PE; panics
    /// for the positions in `bad`.
    #[entry]
    fn where_am_i(&self, ctx: &Ctx<Self>, k: usize, bad: Vec<usize>) -> (usize, usize) {
        let l = lin(ctx.index(), ctx.proxy().dims());
        assert!(!bad.contains(&l), "member {l} fails");
        (l * k, ctx.my_pe())
    }
}

/// Row-major position of `ix` in `dims`.
fn lin(ix: Index, dims: &[usize]) -> usize {
    ix.as_slice().iter().zip(dims).fold(0, |acc, (&i, &d)| acc * d + i as usize)
}

/// Expected tags per element (row-major) from which sections it is in.
fn expected(total: usize, sections: &[(u32, Vec<usize>)]) -> Vec<Vec<u32>> {
    let mut e = vec![Vec::new(); total];
    for (tag, members) in sections {
        for &m in members {
            e[m].push(*tag);
        }
    }
    for v in &mut e {
        v.sort_unstable();
    }
    e
}

fn lins<T: Chare>(a: &Array<T>, s: &Section<T>) -> Vec<usize> {
    s.indices().map(|ix| lin(ix, a.dims())).collect()
}

/// A multicast reaches every member once and no other element; sections by
/// index list (with repeats), N-d slice, stepped slice, predicate, split and
/// union; an empty section; `_ret` completes after every member ran it.
pub fn a_multicast_reaches_exactly_the_members_once() -> Scenario {
    Scenario::new(&[1, 2, 3, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let (r, c) = (6usize, 5usize);
            let a = rt.array::<Cell2>([r, c]).map(Placement::RoundRobin).create(());
            let listed = a.section([(0, 0), (5, 4), (2, 3), (0, 0)]);
            assert_eq!(listed.len(), 3);
            assert!(listed.contains((2, 3)) && !listed.contains((2, 2)));
            let sliced = a.slice([1..3, 2..9]);
            assert_eq!(sliced.len(), 2 * 3);
            let stepped = a.slice_step(&[(0, 6, 2), (1, 5, 3)]);
            assert_eq!(lins(&a, &stepped), vec![1, 4, 11, 14, 21, 24]);
            let diag = a.section_where(|ix| ix.as_slice()[0] == ix.as_slice()[1]);
            assert_eq!(diag.len(), 5);
            let both = sliced.union(&diag);
            let parts = a.split(3, |ix| lin(ix, &[r, c]) % 4);
            assert_eq!(parts.iter().map(|p| p.len()).sum::<usize>(), 30 - 7);
            let empty = a.section_where(|_| false);
            assert!(empty.is_empty());
            let mut all = vec![
                (1, lins(&a, &listed)),
                (2, lins(&a, &sliced)),
                (3, lins(&a, &stepped)),
                (4, lins(&a, &diag)),
                (5, lins(&a, &both)),
            ];
            listed.hit(1);
            sliced.hit(2);
            stepped.hit(3);
            diag.hit(4);
            both.hit_ret(5).await;
            for (k, p) in parts.iter().enumerate() {
                p.hit(10 + k as u32);
                all.push((10 + k as u32, lins(&a, p)));
            }
            empty.hit_ret(99).await;
            // Multicasts and the broadcast travel by one route per PE: in order.
            let f = rt.future();
            a.report(f.clone());
            assert_eq!(f.await, expected(r * c, &all));
            // A group's section.
            let g = rt.group::<Cell2>().create(());
            let odd = g.section_where(|ix| ix.i() % 2 == 1);
            odd.hit_ret(7).await;
            let f = rt.future();
            g.report(f.clone());
            let want: Vec<Vec<u32>> = (0..rt.num_pes()).map(|p| if p % 2 == 1 { vec![7] } else { vec![] }).collect();
            assert_eq!(f.await, want);
        })
    })
}

/// `NAME_all_ret` / `NAME_try_all_ret` on a section: one result per member,
/// in the section's (row-major) order, not sized or placed by the whole
/// collection; an empty section gives an empty vector.
pub fn a_section_gathers_its_members_results_in_order() -> Scenario {
    Scenario::new(&[1, 2, 3, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let a = rt.array::<Cell2>([4, 5]).map(Placement::RoundRobin).create(());
            let sec = a.section([(3, 4), (0, 1), (2, 2), (1, 0)]);
            let got: Vec<usize> = sec.where_am_i_all_ret(3, vec![]).await.into_iter().map(|(l, _)| l).collect();
            assert_eq!(got, vec![3, 15, 36, 57]);
            assert_eq!(got, lins(&a, &sec).iter().map(|l| l * 3).collect::<Vec<_>>());
            let r = sec.where_am_i_try_all_ret(1, vec![12]).await;
            assert_eq!(r.len(), 4);
            assert_eq!(r[0].as_ref().map(|v| v.0), Ok(1));
            assert_eq!(r[1].as_ref().map(|v| v.0), Ok(5));
            let e = r[2].as_ref().expect_err("member 12 panics");
            assert_eq!((e.index.as_str(), e.message.as_str()), ("2,2", "member 12 fails"));
            assert_eq!(r[3].as_ref().map(|v| v.0), Ok(19));
            let empty = a.section_where(|_| false);
            assert!(empty.where_am_i_all_ret(1, vec![]).await.is_empty());
            // A group's section: each member on its own PE.
            let g = rt.group::<Cell2>().create(());
            let odd = g.section_where(|ix| ix.i() % 2 == 1);
            let pes: Vec<usize> = odd.where_am_i_all_ret(0, vec![]).await.into_iter().map(|(_, pe)| pe).collect();
            assert_eq!(pes, (0..rt.num_pes()).filter(|p| p % 2 == 1).collect::<Vec<_>>());
        })
    })
}

/// Reductions over a section: to a future, to one element's entry, to a
/// multicast and an allreduce; two sections reducing at once do not mix;
/// the sections travel in the entry call that makes their members reduce.
pub fn section_reductions_reach_every_target() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let a = rt.array::<Cell2>(12).create(());
            let evens = a.section_where(|ix| ix.i() % 2 == 0);
            let high = a.section([7, 9, 11]);
            let mut pending = Vec::new();
            for (sec, members) in [(&evens, vec![0u64, 2, 4, 6, 8, 10]), (&high, vec![7, 9, 11])] {
                let (sum, gather) = (rt.future(), rt.future());
                sec.reduce(sec.clone(), sum.clone(), gather.clone());
                pending.push((sum, gather, members));
            }
            for (sum, gather, members) in pending {
                assert_eq!(sum.await, members.iter().sum::<u64>());
                assert_eq!(gather.await, members.iter().map(|m| m * 10).collect::<Vec<_>>());
            }
            // Each member got the allreduce; the first also the Max, every
            // member the Min (in some order after the allreduce).
            for (sec, first, max, min, n) in [(&evens, 0usize, 10u64, 1u64, 6u64), (&high, 7, 11, 8, 3)] {
                for ix in sec.indices() {
                    let mut got = a.elem(ix).take_got_ret().await;
                    while got.len() < if ix.i() == first { 3 } else { 2 } {
                        got.extend(a.elem(ix).take_got_ret().await);
                    }
                    got.sort_unstable();
                    let mut want = vec![n, min];
                    if ix.i() == first {
                        want.push(max);
                    }
                    want.sort_unstable();
                    assert_eq!(got, want, "element {ix} of a section of {n}");
                }
            }
        })
    })
}

/// A migratable element that moves between multicasts.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Rover {
    tags: Vec<u32>,
    moves: u32,
}

#[chare(migratable)]
impl Rover {
    fn new() -> Self {
        Rover { tags: Vec::new(), moves: 0 }
    }

    fn migrated(&mut self) {
        self.moves += 1;
    }

    /// Takes a multicast tag, moves to a pseudo-random PE and reduces over
    /// the section: the sum of its index and the tags it has seen.
    #[entry]
    fn step(&mut self, ctx: &Ctx<Self>, sec: Section<Rover>, tag: u32, f: Future<u64>) {
        self.tags.push(tag);
        let i = ctx.index().i() as u32;
        let npes = ctx.num_pes();
        let to = (ctx.my_pe() + 1 + (i + tag) as usize % (npes - 1).max(1)) % npes;
        ctx.section_contribute(&sec, i as u64 + tag as u64, Sum, f);
        ctx.migrate(to);
    }

    #[entry]
    fn report(&self, ctx: &Ctx<Self>, f: Future<Vec<(Vec<u32>, bool)>>) {
        ctx.contribute((self.tags.clone(), self.moves > 0), Gather, f);
    }
}

/// Members migrate after every multicast (to pseudo-random PEs), while the
/// next multicasts and section reductions are already in flight: each
/// multicast reaches each member once and in order, and every reduction
/// has every member's contribution.
pub fn section_multicasts_and_reductions_while_members_migrate() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let n = 40;
            let a = rt.array::<Rover>(n).create(());
            let sec = a.section_where(|ix| ix.i() % 3 != 1);
            let members: Vec<usize> = sec.indices().map(|ix| ix.i()).collect();
            let rounds = 25u32;
            let mut fs = Vec::new();
            for tag in 0..rounds {
                let f = rt.future();
                sec.step(sec.clone(), tag, f.clone());
                fs.push((tag, f));
            }
            for (tag, f) in fs {
                let want: u64 = members.iter().map(|&m| m as u64 + tag as u64).sum();
                assert_eq!(f.await, want, "reduction of round {tag}");
            }
            let f = rt.future();
            a.report(f.clone());
            let got = f.await;
            for (i, (tags, moved)) in got.into_iter().enumerate() {
                if i % 3 != 1 {
                    assert_eq!(tags, (0..rounds).collect::<Vec<_>>(), "element {i}");
                    assert!(moved || rt.num_pes() == 1, "element {i} never moved");
                } else {
                    assert!(tags.is_empty(), "element {i} is not a member");
                }
            }
        })
    })
}
