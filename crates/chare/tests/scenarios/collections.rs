//! Groups, N-d arrays, placement maps, single chares, awaitable creation,
//! read-only data, exit codes.

use super::{Expect, Scenario};
use chare::prelude::*;

pub struct Where;

/// (index coordinates, PE, number of PEs, own proxy's index)
type Report = (Vec<u32>, usize, usize, Vec<u32>);

#[chare]
impl Where {
    fn new() -> Self {
        Where
    }
    #[entry]
    fn report(&self, ctx: &Ctx<Self>, done: Future<Vec<Report>>) {
        let me = ctx.index();
        let via_proxy = ctx.this().index();
        let v = (me.as_slice().to_vec(), ctx.my_pe(), ctx.num_pes(), via_proxy.as_slice().to_vec());
        ctx.contribute(v, Gather, done);
    }
    #[entry]
    fn pe(&self, ctx: &Ctx<Self>) -> usize {
        ctx.my_pe()
    }
}

/// A group has one element per PE, element `i` on PE `i`; elements know
/// their index, PE, the PE count, and their own proxy.
pub fn group_has_one_element_per_pe() -> Scenario {
    Scenario::new(&[1, 2, 3, 4, 8], Expect::Ok, |rt| {
        Box::pin(async move {
            let n = rt.num_pes();
            let g = rt.group::<Where>().create(());
            assert_eq!(g.len(), n);
            let f = rt.future();
            g.report(f.clone());
            let got = f.await;
            assert_eq!(got.len(), n);
            for (i, (ix, pe, npes, ix2)) in got.into_iter().enumerate() {
                assert_eq!((ix, pe, npes, ix2), (vec![i as u32], i, n, vec![i as u32]));
            }
        })
    })
}

/// A 2x3x4 array with the default block map: row-major indices, element `l`
/// of 24 on PE `l * P / 24`.
pub fn three_d_array_with_block_map() -> Scenario {
    Scenario::new(&[1, 2, 3, 4, 8], Expect::Ok, |rt| {
        Box::pin(async move {
            let n = rt.num_pes();
            let a = rt.array::<Where>([2, 3, 4]).create(());
            assert_eq!(a.len(), 24);
            let f = rt.future();
            a.report(f.clone());
            let got = f.await;
            assert_eq!(got.len(), 24);
            for (lin, (ix, pe, _, ix2)) in got.into_iter().enumerate() {
                let expect = vec![(lin / 12) as u32, ((lin / 4) % 3) as u32, (lin % 4) as u32];
                assert_eq!(ix, expect);
                assert_eq!(ix2, expect);
                assert_eq!(pe, lin * n / 24, "block placement of element {lin}");
            }
        })
    })
}

/// Round-robin map: element `i` on PE `i mod P`, seen by the element itself.
pub fn round_robin_map() -> Scenario {
    Scenario::new(&[1, 2, 3, 4, 8], Expect::Ok, |rt| {
        Box::pin(async move {
            let n = rt.num_pes();
            let rr = rt.array::<Where>(7).map(Placement::RoundRobin).create(());
            for i in 0..7 {
                assert_eq!(rr.elem(i).pe(), i % n);
                assert_eq!(rr.elem(i).pe_ret().await, i % n);
            }
        })
    })
}

/// A custom map (a function of index and PE count) places a 2-d array; the
/// proxy and the element agree on where each element lives.
pub fn custom_map() -> Scenario {
    Scenario::new(&[1, 2, 3, 4, 8], Expect::Ok, |rt| {
        Box::pin(async move {
            let n = rt.num_pes();
            let map = Placement::custom(|ix, npes| (ix.get(0) + ix.get(1)) % npes);
            let c = rt.array::<Where>((3, 3)).map(map).create(());
            for i in 0..3 {
                for j in 0..3 {
                    assert_eq!(c.elem((i, j)).pe(), (i + j) % n);
                    assert_eq!(c.elem((i, j)).pe_ret().await, (i + j) % n);
                }
            }
        })
    })
}

/// A single chare on a chosen PE (the last one) and awaitable creation of a
/// single chare and of an array (block map: element 4 of 5 on PE `4 * P / 5`).
pub fn single_chare_on_a_chosen_pe_and_awaited_creation() -> Scenario {
    Scenario::new(&[1, 2, 3, 4, 8], Expect::Ok, |rt| {
        Box::pin(async move {
            let n = rt.num_pes();
            let one = rt.chare::<Where>(n - 1).create_awaitable(()).await;
            assert_eq!(one.pe(), n - 1);
            assert_eq!(one.pe_ret().await, n - 1);
            let arr = rt.array::<Where>(5).create_awaitable(()).await;
            assert_eq!(arr.len(), 5);
            assert_eq!(arr.elem(4).pe_ret().await, 4 * n / 5);
        })
    })
}

/// Read-only data of the job.
#[derive(serde::Serialize, serde::Deserialize)]
pub struct Scale {
    pub factor: u64,
}

pub struct Reader;

#[chare]
impl Reader {
    fn new() -> Self {
        Reader
    }
    #[entry]
    fn scaled(&self, ctx: &Ctx<Self>, x: u64) -> u64 {
        ctx.readonly::<Scale>().factor * x
    }
}

/// `set_readonly` reaches every PE before its future completes.
pub fn readonly_data_reaches_every_pe() -> Scenario {
    Scenario::new(&[1, 2, 4, 8], Expect::Ok, |rt| {
        Box::pin(async move {
            rt.set_readonly(Scale { factor: 3 }).await;
            let g = rt.group::<Reader>().create(());
            for i in 0..rt.num_pes() {
                assert_eq!(g.elem(i).scaled_ret(i as u64 + 1).await, 3 * (i as u64 + 1));
            }
        })
    })
}

/// `rt.exit(code)` ends the job with that code while the main task still waits.
pub fn exit_code_reaches_the_caller() -> Scenario {
    Scenario::new(&[1, 2, 4, 8], Expect::Exit(7), |rt| {
        Box::pin(async move {
            rt.exit(7);
            std::future::pending::<()>().await;
        })
    })
}

/// `rt.exit(code)` followed by the main task returning keeps the code.
pub fn exit_then_return_keeps_the_code() -> Scenario {
    Scenario::new(&[1, 2, 4, 8], Expect::Exit(4), |rt| {
        Box::pin(async move {
            rt.exit(4);
        })
    })
}

pub struct Holder {
    sum: u64,
}

#[chare]
impl Holder {
    fn new(data: Buffer<u64>) -> Self {
        Holder { sum: data.iter().sum() }
    }

    #[entry]
    fn sums(&self, ctx: &Ctx<Self>) -> (u64, u64) {
        let ro = ctx.readonly::<Buffer<u64>>();
        (self.sum, ro.iter().sum())
    }
}

/// `Buffer`s large enough to travel as attachments inside creation
/// arguments and read-only data reach every PE intact (they are nested in
/// those messages, so they travel inline).
pub fn buffers_in_creation_arguments_and_readonly_data_arrive_intact() -> Scenario {
    Scenario::new(&[1, 2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let data: Vec<u64> = (0..10_000).collect();
            let want: u64 = data.iter().sum();
            rt.set_readonly(Buffer::from(data.iter().map(|x| 2 * x).collect::<Vec<u64>>())).await;
            let h = rt.array::<Holder>(2 * rt.num_pes()).create_awaitable((Buffer::from(data),)).await;
            for i in 0..h.len() {
                assert_eq!(h.elem(i).sums_ret().await, (want, 2 * want), "element {i}");
            }
        })
    })
}
