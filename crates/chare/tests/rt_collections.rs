//! Groups, N-d arrays, placement maps, single chares, creation, context.

use chare::prelude::*;
use chare::Runtime;

struct Where;

#[chare]
impl Where {
    fn new() -> Self {
        Where
    }
    /// (index coordinates, PE, number of PEs, own proxy's index)
    #[entry]
    fn report(&self, ctx: &Ctx<Self>, done: Future<Vec<(Vec<u32>, usize, usize, Vec<u32>)>>) {
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

#[test]
fn group_has_one_element_per_pe() {
    let r = Runtime::with_pes(3).run(|rt| async move {
        let g = rt.group::<Where>().create(());
        assert_eq!(g.len(), 3);
        let f = rt.future();
        g.report(f.clone());
        let got = f.await;
        for (i, (ix, pe, n, ix2)) in got.into_iter().enumerate() {
            assert_eq!((ix, pe, n, ix2), (vec![i as u32], i, 3, vec![i as u32]));
        }
    });
    assert_eq!(r, Ok(0));
}

#[test]
fn three_d_array_with_block_map() {
    let r = Runtime::with_pes(4).run(|rt| async move {
        let a = rt.array::<Where>([2, 3, 4]).create(());
        let f = rt.future();
        a.report(f.clone());
        let got = f.await;
        assert_eq!(got.len(), 24);
        for (lin, (ix, pe, _, _)) in got.into_iter().enumerate() {
            let expect = vec![(lin / 12) as u32, ((lin / 4) % 3) as u32, (lin % 4) as u32];
            assert_eq!(ix, expect);
            assert_eq!(pe, lin * 4 / 24, "block placement of element {lin}");
        }
    });
    assert_eq!(r, Ok(0));
}

#[test]
fn round_robin_and_custom_maps() {
    let r = Runtime::with_pes(3).run(|rt| async move {
        let rr = rt.array::<Where>(7).map(Placement::RoundRobin).create(());
        for i in 0..7 {
            assert_eq!(rr.elem(i).pe_ret().await, i % 3);
        }
        let last = Placement::custom(|ix, npes| (ix.get(0) + ix.get(1)) % npes);
        let c = rt.array::<Where>((3, 3)).map(last).create(());
        for i in 0..3 {
            for j in 0..3 {
                assert_eq!(c.elem((i, j)).pe(), (i + j) % 3);
                assert_eq!(c.elem((i, j)).pe_ret().await, (i + j) % 3);
            }
        }
    });
    assert_eq!(r, Ok(0));
}

#[test]
fn single_chare_on_a_chosen_pe_and_awaited_creation() {
    let r = Runtime::with_pes(3).run(|rt| async move {
        let one = rt.chare::<Where>(2).create_awaitable(()).await;
        assert_eq!(one.pe_ret().await, 2);
        let arr = rt.array::<Where>(5).create_awaitable(()).await;
        assert_eq!(arr.len(), 5);
        assert_eq!(arr.elem(4).pe_ret().await, 4 * 3 / 5);
    });
    assert_eq!(r, Ok(0));
}

struct Config {
    scale: u64,
}

struct Reader;

#[chare]
impl Reader {
    fn new() -> Self {
        Reader
    }
    #[entry]
    fn scaled(&self, ctx: &Ctx<Self>, x: u64) -> u64 {
        ctx.readonly::<Config>().scale * x
    }
}

#[test]
fn readonly_data_reaches_every_pe() {
    let r = Runtime::with_pes(4).run(|rt| async move {
        rt.set_readonly(Config { scale: 3 }).await;
        let g = rt.group::<Reader>().create(());
        for i in 0..4 {
            assert_eq!(g.elem(i).scaled_ret(i as u64).await, 3 * i as u64);
        }
    });
    assert_eq!(r, Ok(0));
}

#[test]
fn exit_code_reaches_the_caller() {
    let r = Runtime::with_pes(2).run(|rt| async move {
        rt.exit(7);
        std::future::pending::<()>().await;
    });
    assert_eq!(r, Ok(7));
}
