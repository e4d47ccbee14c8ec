//! # sections: Charm4Py's `Section` — a multicast to part of an array, and
//! a reduction over that part
//!
//! A 4 x 6 grid of cells, cell (r, c) holding `10 r + c`.
//!
//! * Each row is a **section** (`grid.slice([r..r + 1, 0..6])`): the main
//!   task multicasts `scale(row, k, sum)` to a row (`row.scale(..)`, the
//!   same generated method as a broadcast), and the row's cells reduce their
//!   scaled values over the row (`ctx.section_contribute(&row, v, Sum, sum)`)
//!   into a future. The four rows reduce at the same time without mixing.
//! * A section by predicate (the diagonal, `section_where`) and a union of
//!   two rows (`union`) work the same way.
//! * The section travels inside the entry call: a cell needs it to say which
//!   reduction it contributes to (as Charm4Py's `contribute(.., section)`).
//!
//! Run: `cargo run -p chare-examples --release --bin sections -- --pes 4`

use chare::prelude::*;

const ROWS: usize = 4;
const COLS: usize = 6;

struct Cell {
    value: u64,
}

#[chare]
impl Cell {
    fn new(ctx: &Ctx<Self>) -> Self {
        let ix = ctx.index();
        Cell { value: (10 * ix.as_slice()[0] + ix.as_slice()[1]) as u64 }
    }

    /// Multiplies its value by `k` and adds it to the section's sum.
    #[entry]
    fn scale(&mut self, ctx: &Ctx<Self>, part: Section<Cell>, k: u64, sum: Future<u64>) {
        self.value *= k;
        ctx.section_contribute(&part, self.value, Sum, sum);
    }
}

fn main() {
    chare::run(|rt| async move {
        let grid = rt.array::<Cell>([ROWS, COLS]).create(());
        let rows: Vec<Section<Cell>> = (0..ROWS).map(|r| grid.slice([r..r + 1, 0..COLS])).collect();
        let mut sums = Vec::new();
        for (r, row) in rows.iter().enumerate() {
            let sum = rt.future();
            row.scale(row.clone(), r as u64 + 1, sum.clone());
            sums.push(sum);
        }
        for (r, sum) in sums.into_iter().enumerate() {
            println!("row {r} scaled by {}: sum {}", r + 1, sum.await);
        }
        let diagonal = grid.section_where(|ix| ix.as_slice()[0] == ix.as_slice()[1]);
        let sum = rt.future();
        diagonal.scale(diagonal.clone(), 1, sum.clone());
        println!("diagonal ({} cells): sum {}", diagonal.len(), sum.await);
        let ends = rows[0].union(&rows[ROWS - 1]);
        let sum = rt.future();
        ends.scale(ends.clone(), 2, sum.clone());
        println!("rows 0 and {} ({} cells) scaled by 2: sum {}", ROWS - 1, ends.len(), sum.await);
    });
}
