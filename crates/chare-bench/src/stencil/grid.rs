//! The domain decomposition, one block of the grid with its ghost layer
//! (halo packing and unpacking, the time step), and the checksum.
//!
//! Conventions (docs/stencil.md):
//! * the global grid has `n` rows and `m` columns of interior points;
//! * `P` parts form an `x x y` process grid ([`factor`]): `x` block-rows of
//!   `h = n / x` rows and `y` block-columns of `w = m / y` columns;
//! * part `(bx, by)` (0-based; `bx` counts block-rows from the top) is
//!   process `bx * y + by` (row-major, as `MPI_Cart_create` numbers ranks
//!   and as a 2-D chare array orders its elements) and owns global rows
//!   `bx*h .. (bx+1)*h` and columns `by*w .. (by+1)*w`;
//! * neighbours: up `(bx-1, by)`, down `(bx+1, by)`, left `(bx, by-1)`,
//!   right `(bx, by+1)`; no wrap-around.

use super::kernel;

/// The process grid for `p` parts: `x` is the largest divisor of `p` with
/// `x <= floor(sqrt(p + 1))`, `y = p / x` (the Stencil2D reference
/// code's `factor`, Fink et al. 2021). Always `x * y == p` and `x <= y`.
pub fn factor(p: usize) -> (usize, usize) {
    assert!(p >= 1, "at least one part");
    let limit = isqrt(p + 1);
    let x = (1..=limit).rev().find(|&d| divides(d, p)).unwrap_or(1);
    (x, p / x)
}

/// Whether `d` divides `v` (`is_multiple_of` needs Rust 1.87; MSRV is 1.80).
#[allow(clippy::manual_is_multiple_of)]
fn divides(d: usize, v: usize) -> bool {
    v % d == 0
}

/// `floor(sqrt(v))`, exactly.
fn isqrt(v: usize) -> usize {
    let mut r = (v as f64).sqrt() as usize;
    while r * r > v {
        r -= 1;
    }
    while (r + 1) * (r + 1) <= v {
        r += 1;
    }
    r
}

/// Which side of a block a halo belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Side {
    Up,
    Down,
    Left,
    Right,
}

// Tags and opposites are what the mpi model needs (and the tests).
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
impl Side {
    /// All sides, in the order neighbours are listed.
    pub const ALL: [Side; 4] = [Side::Up, Side::Down, Side::Left, Side::Right];

    /// The side the neighbour sees this block on.
    pub fn opposite(self) -> Side {
        match self {
            Side::Up => Side::Down,
            Side::Down => Side::Up,
            Side::Left => Side::Right,
            Side::Right => Side::Left,
        }
    }

    /// MPI tag of a halo that the receiver unpacks on this side.
    pub fn tag(self) -> i32 {
        match self {
            Side::Up => 101,
            Side::Down => 102,
            Side::Left => 103,
            Side::Right => 104,
        }
    }

    /// The side a tag stands for.
    pub fn from_tag(tag: i32) -> Option<Side> {
        Side::ALL.into_iter().find(|s| s.tag() == tag)
    }
}

/// A checked decomposition of an `n x m` grid into `x * y` blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Decomp {
    /// Global rows.
    pub n: usize,
    /// Global columns.
    pub m: usize,
    /// Block-rows of the process grid.
    pub x: usize,
    /// Block-columns of the process grid.
    pub y: usize,
    /// Rows of a block (`n / x`).
    pub h: usize,
    /// Columns of a block (`m / y`).
    pub w: usize,
}

impl Decomp {
    /// The decomposition of an `n x m` grid into `parts` blocks; an error
    /// (one line) if the grid does not divide evenly.
    pub fn new(n: usize, m: usize, parts: usize) -> Result<Decomp, String> {
        if n == 0 || m == 0 {
            return Err(format!("the grid must have at least one row and column, got {n} x {m}"));
        }
        if parts == 0 {
            return Err("at least one process is needed".into());
        }
        let (x, y) = factor(parts);
        if !divides(x, n) || !divides(y, m) {
            return Err(format!(
                "grid {n} x {m} does not divide evenly over the {x} x {y} process grid of {parts} processes \
                 (n must be a multiple of {x}, m a multiple of {y})"
            ));
        }
        Ok(Decomp { n, m, x, y, h: n / x, w: m / y })
    }

    /// Number of blocks.
    pub fn parts(&self) -> usize {
        self.x * self.y
    }

    /// Block coordinates of process `rank`.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    pub fn coords(&self, rank: usize) -> (usize, usize) {
        (rank / self.y, rank % self.y)
    }

    /// Process of block `(bx, by)`.
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    pub fn rank(&self, bx: usize, by: usize) -> usize {
        bx * self.y + by
    }

    /// The neighbours of block `(bx, by)` that exist, with the side they are
    /// on, in the order up, down, left, right.
    pub fn neighbours(&self, bx: usize, by: usize) -> Vec<(Side, (usize, usize))> {
        let mut out = Vec::with_capacity(4);
        if bx > 0 {
            out.push((Side::Up, (bx - 1, by)));
        }
        if bx + 1 < self.x {
            out.push((Side::Down, (bx + 1, by)));
        }
        if by > 0 {
            out.push((Side::Left, (bx, by - 1)));
        }
        if by + 1 < self.y {
            out.push((Side::Right, (bx, by + 1)));
        }
        out
    }

    /// The block `(bx, by)`, initialised.
    pub fn block(&self, bx: usize, by: usize) -> Block {
        assert!(bx < self.x && by < self.y, "block ({bx},{by}) outside {} x {}", self.x, self.y);
        Block::new(self.h, self.w, bx * self.h, by * self.w)
    }
}

/// One block: `h x w` interior points and one ghost layer, two buffers.
///
/// Both buffers live in one allocation, the second `second` elements after
/// the first, so that the distance between the input and the output of the
/// update is chosen here and not by the allocator: two separate vectors of
/// tens of MiB may land exactly a large power of two apart (seen: 128 MiB
/// in MPI processes, presumably glibc's 64 MiB-aligned heaps), and then the
/// read and the write streams collide in the caches: one rank in ten ran
/// 25 % slower (docs/perf.md).
#[derive(Debug, Clone)]
pub struct Block {
    h: usize,
    w: usize,
    /// Global row of interior row 1.
    row0: usize,
    /// Global column of interior column 1.
    col0: usize,
    /// Elements of one buffer, `(h + 2) * (w + 2)`.
    len: usize,
    /// Where the second buffer starts in `buf`.
    second: usize,
    /// Whether the current values are in the second buffer.
    flip: bool,
    /// Both buffers (row-major, `(h + 2) x (w + 2)` each) and the padding
    /// between them.
    buf: Vec<f64>,
}

/// Blocks of at least this many bytes get a padded second buffer.
const PAD_FROM: usize = 1 << 18;
/// The distance between the buffers, in bytes, modulo [`PAD_PERIOD`]: far
/// from 0 and from the few rows the kernel reads around a point.
const PAD_TARGET: usize = (1 << 20) + 2048 + 64;
/// 2 MiB: a huge page; cache set and DRAM bank bits lie below it.
const PAD_PERIOD: usize = 1 << 21;

/// Start of the second buffer (elements) for buffers of `len` elements.
fn second_offset(len: usize) -> usize {
    let bytes = len * std::mem::size_of::<f64>();
    if bytes < PAD_FROM {
        return len;
    }
    let pad = (PAD_TARGET + PAD_PERIOD - bytes % PAD_PERIOD) % PAD_PERIOD;
    (bytes + pad) / std::mem::size_of::<f64>()
}

impl Block {
    /// A block whose interior starts at global `(row0, col0)`; both buffers
    /// are 1.0 everywhere.
    pub fn new(h: usize, w: usize, row0: usize, col0: usize) -> Block {
        let len = (h + 2) * (w + 2);
        let second = second_offset(len);
        Block { h, w, row0, col0, len, second, flip: false, buf: vec![1.0; second + len] }
    }

    /// Back to the initial state (both buffers 1.0), without reallocating.
    pub fn reset(&mut self) {
        self.buf.fill(1.0);
        self.flip = false;
    }

    /// The current values.
    fn cur(&self) -> &[f64] {
        let at = if self.flip { self.second } else { 0 };
        &self.buf[at..at + self.len]
    }

    /// The current values, writable.
    fn cur_mut(&mut self) -> &mut [f64] {
        let at = if self.flip { self.second } else { 0 };
        &mut self.buf[at..at + self.len]
    }

    /// (current, other) buffers.
    fn both(&mut self) -> (&[f64], &mut [f64]) {
        let (a, b) = self.buf.split_at_mut(self.second);
        let (a, b) = (&mut a[..self.len], &mut b[..self.len]);
        if self.flip {
            (b, a)
        } else {
            (a, b)
        }
    }

    /// Length of the halo exchanged on `side`: a row (`w`) or a column (`h`).
    pub fn halo_len(&self, side: Side) -> usize {
        match side {
            Side::Up | Side::Down => self.w,
            Side::Left | Side::Right => self.h,
        }
    }

    /// Copies the interior edge on `side` into `out` (what the neighbour on
    /// that side needs).
    pub fn pack(&self, side: Side, out: &mut [f64]) {
        let (h, w, s) = (self.h, self.w, self.w + 2);
        assert_eq!(out.len(), self.halo_len(side), "halo buffer of the wrong length for {side:?}");
        match side {
            Side::Up => out.copy_from_slice(&self.cur()[s + 1..s + 1 + w]),
            Side::Down => out.copy_from_slice(&self.cur()[h * s + 1..h * s + 1 + w]),
            Side::Left | Side::Right => {
                let j = if side == Side::Left { 1 } else { w };
                for (o, r) in out.iter_mut().zip(self.cur().chunks_exact(s).skip(1)) {
                    *o = r[j];
                }
            }
        }
    }

    /// Writes a neighbour's halo into the ghost cells on `side`.
    pub fn unpack(&mut self, side: Side, halo: &[f64]) {
        let (h, w, s) = (self.h, self.w, self.w + 2);
        assert_eq!(
            halo.len(),
            self.halo_len(side),
            "received a {side:?} halo of {} values, expected {}",
            halo.len(),
            self.halo_len(side)
        );
        let cur = self.cur_mut();
        match side {
            Side::Up => cur[1..=w].copy_from_slice(halo),
            Side::Down => cur[(h + 1) * s + 1..(h + 1) * s + 1 + w].copy_from_slice(halo),
            Side::Left | Side::Right => {
                let j = if side == Side::Left { 0 } else { w + 1 };
                for (r, v) in cur.chunks_exact_mut(s).skip(1).zip(halo) {
                    r[j] = *v;
                }
            }
        }
    }

    /// The computation of one iteration: update into the other buffer, swap,
    /// boundary condition on the new current buffer.
    pub fn step(&mut self) {
        let (h, w) = (self.h, self.w);
        let (cur, next) = self.both();
        kernel::update(next, cur, h, w);
        self.flip = !self.flip;
        kernel::boundary(self.cur_mut(), h, w);
    }

    /// Interior point `(i, j)` (0-based, block-local).
    #[cfg(test)]
    pub fn get(&self, i: usize, j: usize) -> f64 {
        assert!(i < self.h && j < self.w);
        self.cur()[(i + 1) * (self.w + 2) + j + 1]
    }

    /// This block's part of the checksum (see [`point_hash`]).
    pub fn checksum(&self) -> u64 {
        let s = self.w + 2;
        let mut sum = 0u64;
        for (i, r) in self.cur().chunks_exact(s).skip(1).take(self.h).enumerate() {
            let gi = (self.row0 + i) as u64;
            for (j, v) in r[1..=self.w].iter().enumerate() {
                sum = sum.wrapping_add(point_hash(gi, (self.col0 + j) as u64, v.to_bits()));
            }
        }
        sum
    }
}

/// splitmix64's finaliser: a bijection of `u64` with good avalanche.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Hash of one point: its global position and the bits of its value. The
/// checksum of a grid is the wrapping sum of the hashes of all interior
/// points, so it does not depend on how the grid is cut into blocks or in
/// which order blocks are combined, and any change to a single bit of a
/// single value changes it (the last step is a bijection of the value's
/// bits for a fixed position).
#[inline]
pub fn point_hash(i: u64, j: u64, bits: u64) -> u64 {
    mix(mix(mix(i) ^ j) ^ bits)
}

/// Combines blocks' checksums.
pub fn combine(parts: impl IntoIterator<Item = u64>) -> u64 {
    parts.into_iter().fold(0u64, u64::wrapping_add)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factor_rule() {
        // (P, x, y): x = largest divisor of P with x <= floor(sqrt(P + 1)).
        let cases = [
            (1, 1, 1),
            (2, 1, 2),
            (3, 1, 3),
            (4, 2, 2),
            (5, 1, 5),
            (6, 2, 3),
            (8, 2, 4),
            (9, 3, 3),
            (12, 3, 4),
            (15, 3, 5),
            (16, 4, 4),
            (24, 4, 6),
            (35, 5, 7),
            (48, 6, 8),
            (6144, 64, 96),
        ];
        for (p, x, y) in cases {
            assert_eq!(factor(p), (x, y), "P = {p}");
        }
        for p in 1..2000 {
            let (x, y) = factor(p);
            assert_eq!(x * y, p);
            assert!(x * x <= p + 1 && x <= y);
            // No larger divisor fits under the limit.
            assert!((x + 1..=isqrt(p + 1)).all(|d| !divides(d, p)), "P = {p}");
        }
        assert_eq!(
            (0..100).map(isqrt).collect::<Vec<_>>(),
            (0..100).map(|v| (v as f64).sqrt() as usize).collect::<Vec<_>>()
        );
    }

    #[test]
    fn decomposition_checks_divisibility() {
        let d = Decomp::new(64, 48, 8).unwrap();
        assert_eq!((d.x, d.y, d.h, d.w), (2, 4, 32, 12));
        let e = Decomp::new(64, 47, 8).unwrap_err();
        assert!(e.contains("2 x 4") && !e.contains('\n'), "{e}");
        assert!(Decomp::new(63, 48, 8).is_err());
        assert!(Decomp::new(0, 48, 1).is_err());
        assert!(Decomp::new(4, 4, 0).is_err());
        // Every part at least one point.
        assert!(Decomp::new(1, 2, 2).is_ok());
        assert!(Decomp::new(1, 1, 2).is_err());
    }

    #[test]
    fn ranks_coordinates_and_neighbours() {
        let d = Decomp::new(6, 12, 6).unwrap(); // 2 x 3
        for r in 0..6 {
            let (bx, by) = d.coords(r);
            assert_eq!(d.rank(bx, by), r);
        }
        assert_eq!(d.neighbours(0, 0), vec![(Side::Down, (1, 0)), (Side::Right, (0, 1))]);
        assert_eq!(d.neighbours(1, 1), vec![(Side::Up, (0, 1)), (Side::Left, (1, 0)), (Side::Right, (1, 2))]);
        let one = Decomp::new(3, 3, 1).unwrap();
        assert!(one.neighbours(0, 0).is_empty());
        for s in Side::ALL {
            assert_eq!(s.opposite().opposite(), s);
            assert_eq!(Side::from_tag(s.tag()), Some(s));
        }
    }

    #[test]
    fn pack_and_unpack_move_the_right_cells() {
        let d = Decomp::new(6, 8, 4).unwrap(); // 2 x 2 blocks of 3 x 4
        let mut a = d.block(0, 0);
        let mut b = d.block(0, 1);
        let mut c = d.block(1, 0);
        // Give a's interior distinct values by stepping a few times.
        for _ in 0..3 {
            a.step();
        }
        let mut row = vec![0.0; 4];
        a.pack(Side::Down, &mut row);
        assert_eq!(row, (0..4).map(|j| a.get(2, j)).collect::<Vec<_>>());
        c.unpack(Side::Up, &row);
        assert_eq!(c.cur()[1..5], row[..]);
        let mut col = vec![0.0; 3];
        a.pack(Side::Right, &mut col);
        assert_eq!(col, (0..3).map(|i| a.get(i, 3)).collect::<Vec<_>>());
        b.unpack(Side::Left, &col);
        assert_eq!((1..4).map(|i| b.cur()[i * 6]).collect::<Vec<_>>(), col);
    }

    /// The whole algorithm on blocks, with halos copied directly, gives the
    /// same grid (checksum) as one block: the decomposition changes nothing.
    #[test]
    fn blocked_run_equals_single_block() {
        let (n, m, iters) = (12, 10, 7);
        let serial = {
            let mut b = Decomp::new(n, m, 1).unwrap().block(0, 0);
            for _ in 0..iters {
                b.step();
            }
            b
        };
        for parts in [2, 4, 6] {
            let Ok(d) = Decomp::new(n, m, parts) else { continue };
            let mut blocks: Vec<Block> = (0..d.parts())
                .map(|r| {
                    let (i, j) = d.coords(r);
                    d.block(i, j)
                })
                .collect();
            for _ in 0..iters {
                let mut halos = Vec::new();
                for (r, b) in blocks.iter().enumerate() {
                    let (bx, by) = d.coords(r);
                    for (side, (i, j)) in d.neighbours(bx, by) {
                        let mut buf = vec![0.0; b.halo_len(side)];
                        b.pack(side, &mut buf);
                        halos.push((d.rank(i, j), side.opposite(), buf));
                    }
                }
                for (to, side, buf) in halos {
                    blocks[to].unpack(side, &buf);
                }
                blocks.iter_mut().for_each(Block::step);
            }
            assert_eq!(combine(blocks.iter().map(Block::checksum)), serial.checksum(), "{parts} parts");
            for (r, b) in blocks.iter().enumerate() {
                let (bx, by) = d.coords(r);
                for i in 0..d.h {
                    for j in 0..d.w {
                        assert_eq!(b.get(i, j).to_bits(), serial.get(bx * d.h + i, by * d.w + j).to_bits());
                    }
                }
            }
        }
    }

    #[test]
    fn buffers_are_apart_by_a_chosen_distance() {
        assert_eq!(second_offset(100), 100);
        for len in [32_768, 1 << 20, (4098 * 4098), (2050 * 2050), 1 << 24] {
            let second = second_offset(len);
            assert!(second >= len && second - len < PAD_PERIOD / 8, "{len}");
            assert_eq!(second * 8 % PAD_PERIOD, PAD_TARGET, "{len}");
        }
        // Stepping flips between the buffers; reset goes back to the first.
        let mut b = Block::new(300, 300, 0, 0);
        b.step();
        assert!(b.flip);
        // The first update sees the initial ghosts (1.0); the boundary
        // condition comes after it.
        assert_eq!(b.get(0, 0), 1.0);
        b.step();
        assert!(!b.flip);
        assert_eq!(b.get(0, 0), ((((255.0 + 1.0) + 255.0) + 1.0) + 1.0) * 0.2);
        b.reset();
        assert!(!b.flip && b.buf.iter().all(|&v| v == 1.0));
    }

    #[test]
    fn checksum_sees_every_bit_and_position() {
        let mut b = Block::new(3, 3, 0, 0);
        b.step();
        let c0 = b.checksum();
        let k = 2 * 5 + 2;
        let cur = b.cur_mut();
        cur[k] = f64::from_bits(cur[k].to_bits() ^ 1);
        assert_ne!(b.checksum(), c0);
        // The same values at other global coordinates hash differently.
        let mut moved = Block::new(3, 3, 0, 1);
        moved.step();
        assert_ne!(moved.checksum(), c0);
        assert_ne!(point_hash(1, 2, 0), point_hash(2, 1, 0));
    }
}
