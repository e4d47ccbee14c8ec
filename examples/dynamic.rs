//! # dynamic: an array that grows and shrinks (Charm4Py's `ckInsert` /
//! `ckDoneInserting`, and deletion)
//!
//! A dynamic array of 16 slots starts with one element. Each round, every
//! element inserts a child into the next free slot (element `i` inserts
//! `i + width`, one generation older); the main task then ends the
//! insertion phase with `done_inserting().await` and counts the elements
//! with a reduction. At the end the odd elements are deleted.
//!
//! * `create_empty()` makes the array; `insert(ix, init)` places an element
//!   by the array's map (`insert_on(ix, pe, init)` on a chosen PE);
//!   `delete(ix)` removes one.
//! * Insertions and deletions go through the array's root (the PE that
//!   created it). Until `done_inserting()` closes an insertion phase, the
//!   array's reductions wait, so a reduction started after it counts exactly
//!   the elements then in the array. Here the elements insert: each `spawn`
//!   call returns after its insertion was sent, so `done_inserting()` called
//!   after all of them covers them.
//!
//! Run: `cargo run -p chare-examples --release --bin dynamic -- --pes 4`

use chare::prelude::*;

const SLOTS: usize = 16;

struct Cell {
    generation: u64,
}

#[chare]
impl Cell {
    fn new(generation: u64) -> Self {
        Cell { generation }
    }

    /// Inserts this element's child `width` slots further.
    #[entry]
    fn spawn(&self, ctx: &Ctx<Self>, width: usize) {
        ctx.proxy().insert(ctx.index().i() + width, (self.generation + 1,));
    }

    /// Adds (1, generation) to an element-wise sum: the count and the total.
    #[entry]
    fn census(&self, ctx: &Ctx<Self>, f: Future<Vec<u64>>) {
        ctx.contribute(vec![1, self.generation], Sum, f);
    }
}

async fn census(rt: &Rt, cells: &Array<Cell>) -> Vec<u64> {
    let f = rt.future();
    cells.census(f.clone());
    f.await
}

fn main() {
    chare::run(|rt| async move {
        let cells = rt.array::<Cell>(SLOTS).create_empty();
        cells.insert(0, (0,));
        cells.done_inserting().await;
        let mut width = 1;
        while 2 * width <= SLOTS {
            let spawned: Vec<_> = (0..width).map(|i| cells.elem(i).spawn_ret(width)).collect();
            for s in spawned {
                s.await;
            }
            cells.done_inserting().await;
            let c = census(&rt, &cells).await;
            println!("after a round of width {width}: {} elements, generations sum to {}", c[0], c[1]);
            width *= 2;
        }
        for i in (1..SLOTS).step_by(2) {
            cells.delete(i);
        }
        cells.done_inserting().await;
        let c = census(&rt, &cells).await;
        println!("odd elements deleted: {} elements, generations sum to {}", c[0], c[1]);
    });
}
