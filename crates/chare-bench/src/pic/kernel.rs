//! The PIC kernel itself, shared by every model: parameters and their
//! checks, the decomposition into tiles, the decomposition-independent
//! particle draw, the time step (force from the four corner charges of a
//! particle's cell, then the move), the routing of a particle that left its
//! tile, and the verification. The facts follow the Parallel Research
//! Kernels (ParRes/Kernels `SERIAL/PIC/pic.c`, `MPI1/PIC-static/pic.c`,
//! `common/random_draw.c`); the module docs of [`super`] list them with the
//! few places where we differ.
//!
//! Coordinates: the grid has `L x L` cells; cell `(x, y)` covers
//! `[x, x+1) x [y, y+1)`; lattice point `(i, j)` carries the charge `+Q` for
//! even `i` and `-Q` for odd `i` (`Q = 1`); the domain is periodic (`L` is
//! even, so the charges are too).

// The tiling, routing, packing and id-exchange helpers serve the
// decomposed models (mpi, chare); the serial model and the tests use the rest.
#![allow(dead_code)]

use super::random::Lcg;
use serde::{Deserialize, Serialize};

/// Charge of a lattice point (`+Q` at even x, `-Q` at odd x).
pub const Q: f64 = 1.0;
/// Time step.
pub const DT: f64 = 1.0;
/// Inverse particle mass.
pub const MASS_INV: f64 = 1.0;
/// Largest distance from its analytic position a particle may have.
pub const EPSILON: f64 = 1e-6;
/// Offset of a new particle inside its cell (the cell centre).
pub const REL_X: f64 = 0.5;
/// See [`REL_X`].
pub const REL_Y: f64 = 0.5;

/// Largest accepted grid side (keeps cell and stream indices far from
/// overflow).
pub const MAX_L: usize = 1 << 20;
/// Largest accepted number of requested particles.
pub const MAX_N: u64 = 1 << 32;
/// Largest accepted `k` and `m` (displacements stay exact in `f64`).
pub const MAX_KM: i64 = 1 << 30;

/// One particle: 80 bytes, `#[repr(C)]`, no padding (10 words of 8 bytes).
/// `k` and `m` are the PRK's `int64_t` (its MPI version stores them, and
/// the id, as doubles); [`Particle::to_words`] gives the 10 words for
/// sending as a `chare::Buffer<u64>`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Particle {
    /// Position.
    pub x: f64,
    /// Position.
    pub y: f64,
    /// Velocity.
    pub vx: f64,
    /// Velocity.
    pub vy: f64,
    /// Charge.
    pub q: f64,
    /// Initial position (verification).
    pub x0: f64,
    /// Initial position (verification).
    pub y0: f64,
    /// The particle moves `2k + 1` cells in x per step.
    pub k: i64,
    /// The particle moves `m` cells in y per step.
    pub m: i64,
    /// Identifier, `1..=N` over the whole run.
    pub id: u64,
}

const _: () = assert!(std::mem::size_of::<Particle>() == 80);

/// Words of a particle in [`Particle::to_words`].
pub const WORDS: usize = 10;

impl Particle {
    /// The particle as 10 words (floats by their bits): for sending in a
    /// buffer of plain numbers.
    pub fn to_words(self) -> [u64; WORDS] {
        [
            self.x.to_bits(),
            self.y.to_bits(),
            self.vx.to_bits(),
            self.vy.to_bits(),
            self.q.to_bits(),
            self.x0.to_bits(),
            self.y0.to_bits(),
            self.k as u64,
            self.m as u64,
            self.id,
        ]
    }

    /// The inverse of [`Particle::to_words`] (bit-exact).
    pub fn from_words(w: &[u64; WORDS]) -> Particle {
        Particle {
            x: f64::from_bits(w[0]),
            y: f64::from_bits(w[1]),
            vx: f64::from_bits(w[2]),
            vy: f64::from_bits(w[3]),
            q: f64::from_bits(w[4]),
            x0: f64::from_bits(w[5]),
            y0: f64::from_bits(w[6]),
            k: w[7] as i64,
            m: w[8] as i64,
            id: w[9],
        }
    }
}

/// Appends the words of `particles` to `out`.
pub fn pack(particles: &[Particle], out: &mut Vec<u64>) {
    out.reserve(particles.len() * WORDS);
    for p in particles {
        out.extend_from_slice(&p.to_words());
    }
}

/// Appends the particles of `words` (from [`pack`]) to `out`; an error if
/// the length is not a multiple of [`WORDS`].
pub fn unpack(words: &[u64], out: &mut Vec<Particle>) -> Result<(), String> {
    if !words.len().is_multiple_of(WORDS) {
        return Err(format!("{} words are not a whole number of particles ({WORDS} words each)", words.len()));
    }
    out.reserve(words.len() / WORDS);
    for c in words.chunks_exact(WORDS) {
        let w: &[u64; WORDS] = c.try_into().expect("chunks of WORDS");
        out.push(Particle::from_words(w));
    }
    Ok(())
}

/// The PATCH distribution's box: cells `left..=right` x `bottom..=top`
/// (inclusive, as the PRK's bounding box).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Patch {
    /// First column.
    pub left: usize,
    /// Last column.
    pub right: usize,
    /// First row.
    pub bottom: usize,
    /// Last row.
    pub top: usize,
}

impl Patch {
    /// Whether cell `(x, y)` is inside.
    pub fn contains(&self, x: usize, y: usize) -> bool {
        (self.left..=self.right).contains(&x) && (self.bottom..=self.top).contains(&y)
    }
}

/// The initial particle distribution (`mu` = expected particles per cell).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum Mode {
    /// `mu = A rho^x`, `A = n (1 - rho) / (1 - rho^L) / L` (`A = n / L^2`
    /// at `rho = 1`).
    Geometric {
        /// Attenuation per column, in `(0, 1]`.
        rho: f64,
    },
    /// `mu = 2 cos^2(x pi / L) n / L^2`.
    Sinusoidal,
    /// `mu = n (beta - alpha x / (L - 1)) / W / L`, `W = beta L - alpha L / 2`.
    Linear {
        /// Negative slope.
        alpha: f64,
        /// Offset.
        beta: f64,
    },
    /// `mu = n / cells of the box` inside the box, nothing outside.
    Patch(Patch),
}

impl Mode {
    /// The PRK's name of the mode.
    pub fn name(&self) -> &'static str {
        match self {
            Mode::Geometric { .. } => "GEOMETRIC",
            Mode::Sinusoidal => "SINUSOIDAL",
            Mode::Linear { .. } => "LINEAR",
            Mode::Patch(_) => "PATCH",
        }
    }

    /// The mode and its parameters, in one line.
    pub fn describe(&self) -> String {
        match self {
            Mode::Geometric { rho } => format!("geometric rho={rho}"),
            Mode::Sinusoidal => "sinusoidal".into(),
            Mode::Linear { alpha, beta } => format!("linear alpha={alpha} beta={beta}"),
            Mode::Patch(p) => format!("patch {},{},{},{}", p.left, p.right, p.bottom, p.top),
        }
    }
}

/// What defines a run of the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    /// Cells per side of the grid (even).
    pub l: usize,
    /// Particles requested (the draw places about as many).
    pub n: u64,
    /// Timed steps; every model runs one more, untimed, first ([`Params::steps`]).
    pub iters: usize,
    /// Initial distribution.
    pub mode: Mode,
    /// Charge semi-increment: particles move `2k + 1` cells per step in x.
    pub k: i64,
    /// Vertical velocity: particles move `m` cells per step in y.
    pub m: i64,
}

impl Params {
    /// Checks the parameters; the error is one line.
    pub fn validate(&self) -> Result<(), String> {
        let l = self.l;
        if l < 2 || !l.is_multiple_of(2) {
            return Err(format!("the grid must have a positive, even number of cells per side, got {l}"));
        }
        if l > MAX_L {
            return Err(format!("the grid side ({l}) is above the limit of {MAX_L} cells"));
        }
        if self.n == 0 {
            return Err("at least one particle must be requested".into());
        }
        if self.n > MAX_N {
            return Err(format!("{} particles requested, above the limit of {MAX_N}", self.n));
        }
        if self.iters == 0 {
            return Err("the number of time steps must be at least 1".into());
        }
        if !(0..=MAX_KM).contains(&self.k) {
            return Err(format!("k (charge semi-increment) must be in 0..={MAX_KM}, got {}", self.k));
        }
        if self.m < -(l as i64) || self.m > MAX_KM {
            return Err(format!("m (vertical velocity) must be in -{l}..={MAX_KM} (-L at least), got {}", self.m));
        }
        match self.mode {
            Mode::Geometric { rho } => {
                if !(rho > 0.0 && rho <= 1.0) {
                    return Err(format!("rho (attenuation factor) must be in (0, 1], got {rho}"));
                }
            }
            Mode::Sinusoidal => {}
            Mode::Linear { alpha, beta } => {
                if !alpha.is_finite() || !beta.is_finite() {
                    return Err(format!("alpha and beta must be finite, got {alpha} and {beta}"));
                }
                if beta < 0.0 || beta < alpha {
                    return Err(format!(
                        "the linear profile gives a negative particle density (need beta >= 0 and beta >= alpha), \
                         got alpha={alpha} beta={beta}"
                    ));
                }
                if beta == 0.0 && alpha == 0.0 {
                    return Err("the linear profile is zero everywhere (alpha = beta = 0)".into());
                }
            }
            Mode::Patch(p) => {
                if p.left >= p.right || p.bottom >= p.top {
                    return Err(format!(
                        "the patch must have left < right and bottom < top, got {},{},{},{}",
                        p.left, p.right, p.bottom, p.top
                    ));
                }
                if p.right >= l || p.top >= l {
                    return Err(format!(
                        "the patch {},{},{},{} is not inside the grid (cells 0..={})",
                        p.left,
                        p.right,
                        p.bottom,
                        p.top,
                        l - 1
                    ));
                }
            }
        }
        Ok(())
    }

    /// Steps every model runs: one untimed warm-up step, then `iters` timed
    /// ones (as the PRK). Verification checks positions after this many.
    pub fn steps(&self) -> u64 {
        self.iters as u64 + 1
    }
}

/// Expected particle count per cell, column by column.
#[derive(Clone, Copy, Debug)]
enum Density {
    /// `mu = a * rho^x`.
    Geometric { a: f64, rho: f64 },
    /// `mu = 2 cos^2(x step) n / L^2`.
    Sinusoidal { step: f64, n: f64, cells: f64 },
    /// `mu = n (beta - alpha step x) / total / L`.
    Linear { alpha: f64, beta: f64, step: f64, total: f64, n: f64, l: f64 },
    /// `mu = per_cell` inside the box.
    Patch { per_cell: f64, patch: Patch },
}

impl Density {
    /// The expressions (and their order of evaluation) of the PRK.
    fn new(p: &Params) -> Density {
        let n = p.n as f64;
        let l = p.l as f64;
        match p.mode {
            Mode::Geometric { rho } => {
                // At rho = 1 the PRK's formula is 0/0; its limit is 1/L.
                let a = if rho == 1.0 { n / l / l } else { n * ((1.0 - rho) / (1.0 - rho.powf(l))) / l };
                Density::Geometric { a, rho }
            }
            Mode::Sinusoidal => {
                Density::Sinusoidal { step: std::f64::consts::PI / l, n, cells: (p.l as u64 * p.l as u64) as f64 }
            }
            Mode::Linear { alpha, beta } => {
                // MPI1/PIC-static/pic.c (the decomposed PRK): step 1/(L-1).
                let step = 1.0 / (p.l - 1) as f64;
                let total = beta * l - alpha * 0.5 * step * l * (p.l - 1) as f64;
                Density::Linear { alpha, beta, step, total, n, l }
            }
            Mode::Patch(patch) => {
                let cells = (patch.right - patch.left + 1) as u64 * (patch.top - patch.bottom + 1) as u64;
                Density::Patch { per_cell: n / cells as f64, patch }
            }
        }
    }

    /// `mu` of every cell of column `x` (the same for the whole column; for
    /// PATCH only inside the box, see [`Density::rows`]).
    fn mu(&self, x: usize) -> f64 {
        match *self {
            Density::Geometric { a, rho } => a * rho.powf(x as f64),
            Density::Sinusoidal { step, n, cells } => {
                let c = (x as f64 * step).cos();
                2.0 * c * c * n / cells
            }
            Density::Linear { alpha, beta, step, total, n, l } => {
                let weight = beta - alpha * step * x as f64;
                n * (weight / total) / l
            }
            Density::Patch { per_cell, .. } => per_cell,
        }
    }

    /// The rows of `y0..y1` in column `x` that can hold particles (PATCH:
    /// cells outside the box hold none, whatever their draw, so they need
    /// not be drawn: every cell's draw is found by its position in the
    /// stream, not by drawing the cells before it).
    fn rows(&self, x: usize, y0: usize, y1: usize) -> (usize, usize) {
        match *self {
            Density::Patch { patch, .. } => {
                if x < patch.left || x > patch.right {
                    (y0, y0)
                } else {
                    let lo = y0.max(patch.bottom);
                    let hi = y1.min(patch.top + 1).max(lo);
                    (lo, hi)
                }
            }
            _ => (y0, y1),
        }
    }
}

/// Where the draw of cell `(x, y)` starts in the stream: cells are drawn in
/// x-major order (column by column), two numbers each (the PRK's
/// `LCG_jump(2*(y + x*L))`).
pub fn stream_position(l: usize, x: usize, y: usize) -> u64 {
    2 * (x as u64 * l as u64 + y as u64)
}

/// Particles the cells `y0..y1` of column `x` get.
fn count_column(p: &Params, d: &Density, x: usize, y0: usize, y1: usize) -> u64 {
    let (lo, hi) = d.rows(x, y0, y1);
    if lo >= hi {
        return 0;
    }
    let mu = d.mu(x);
    let mut rng = Lcg::at(stream_position(p.l, x, lo));
    (lo..hi).map(|_| rng.draw(mu)).sum()
}

/// A rectangle of cells: columns `x0..x1`, rows `y0..y1` (half-open).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Tile {
    /// First column.
    pub x0: usize,
    /// One past the last column.
    pub x1: usize,
    /// First row.
    pub y0: usize,
    /// One past the last row.
    pub y1: usize,
}

impl Tile {
    /// The whole `l x l` grid.
    pub fn whole(l: usize) -> Tile {
        Tile { x0: 0, x1: l, y0: 0, y1: l }
    }

    /// Columns.
    pub fn width(&self) -> usize {
        self.x1 - self.x0
    }

    /// Rows.
    pub fn height(&self) -> usize {
        self.y1 - self.y0
    }

    /// Whether cell `(x, y)` is in the tile.
    pub fn contains_cell(&self, x: usize, y: usize) -> bool {
        (self.x0..self.x1).contains(&x) && (self.y0..self.y1).contains(&y)
    }
}

/// Start and end along one axis of part `i` of `parts`: `l / parts` cells
/// each, the first `l % parts` parts one more (the PRK's tiles).
fn split(l: usize, parts: usize, i: usize) -> (usize, usize) {
    let (w, extra) = (l / parts, l % parts);
    if i < extra {
        let s = (w + 1) * i;
        (s, s + w + 1)
    } else {
        let s = (w + 1) * extra + w * (i - extra);
        (s, s + w)
    }
}

/// The part owning cell `c` along one axis (inverse of [`split`]).
fn part_of(l: usize, parts: usize, c: usize) -> usize {
    let (w, extra) = (l / parts, l % parts);
    let crit = (w + 1) * extra;
    if c < crit {
        c / (w + 1)
    } else {
        extra + (c - crit) / w
    }
}

/// The directions of the 8 neighbours, `(dx, dy)` in tiles (y grows with
/// the row index), in the order of [`Tiling::neighbours`] and of the slots
/// of [`Route::Send`]: left, right, down, up, down-left, down-right,
/// up-left, up-right.
pub const DIRECTIONS: [(isize, isize); 8] = [(-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, -1), (-1, 1), (1, 1)];

/// The slot of the opposite direction (what a neighbour sends back on).
pub fn opposite(slot: usize) -> usize {
    let (dx, dy) = DIRECTIONS[slot];
    DIRECTIONS.iter().position(|&d| d == (-dx, -dy)).expect("every direction has an opposite")
}

/// The decomposition of the `l x l` grid into `nx x ny` tiles (the PRK's:
/// `nx` tiles along x, `ny` along y; the first `l % nx` columns of tiles
/// one cell wider, the first `l % ny` rows of tiles one cell taller). Tile
/// `(ix, iy)` has index `iy * nx + ix` (the PRK's rank order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tiling {
    /// Grid side.
    pub l: usize,
    /// Tiles along x.
    pub nx: usize,
    /// Tiles along y.
    pub ny: usize,
}

impl Tiling {
    /// `parts` tiles, the process grid factored as for the stencil
    /// ([`crate::stencil::grid::factor`]: `nx` the largest divisor of
    /// `parts` not above `floor(sqrt(parts + 1))`, as the PRK does).
    pub fn new(l: usize, parts: usize) -> Result<Tiling, String> {
        if parts == 0 {
            return Err("at least one tile is needed".into());
        }
        let (nx, ny) = crate::stencil::grid::factor(parts);
        Tiling::with_grid(l, nx, ny)
    }

    /// `nx x ny` tiles; an error if a tile would have no cells.
    pub fn with_grid(l: usize, nx: usize, ny: usize) -> Result<Tiling, String> {
        if nx == 0 || ny == 0 {
            return Err(format!("the tile grid must have at least one tile each way, got {nx} x {ny}"));
        }
        if nx > l || ny > l {
            return Err(format!("a {l} x {l} grid cannot be cut into {nx} x {ny} tiles (more tiles than cells)"));
        }
        Ok(Tiling { l, nx, ny })
    }

    /// Number of tiles.
    pub fn parts(&self) -> usize {
        self.nx * self.ny
    }

    /// `(ix, iy)` of tile `index`.
    pub fn coords(&self, index: usize) -> (usize, usize) {
        (index % self.nx, index / self.nx)
    }

    /// Index of tile `(ix, iy)`.
    pub fn index(&self, ix: usize, iy: usize) -> usize {
        iy * self.nx + ix
    }

    /// The cells of tile `index`.
    pub fn tile(&self, index: usize) -> Tile {
        let (ix, iy) = self.coords(index);
        let (x0, x1) = split(self.l, self.nx, ix);
        let (y0, y1) = split(self.l, self.ny, iy);
        Tile { x0, x1, y0, y1 }
    }

    /// Every tile, by index.
    pub fn tiles(&self) -> Vec<Tile> {
        (0..self.parts()).map(|i| self.tile(i)).collect()
    }

    /// The tile owning cell `(x, y)`.
    pub fn owner_of_cell(&self, x: usize, y: usize) -> usize {
        self.index(part_of(self.l, self.nx, x), part_of(self.l, self.ny, y))
    }

    /// The tile owning position `(x, y)` (in `[0, L)^2`).
    pub fn owner(&self, x: f64, y: f64) -> usize {
        self.owner_of_cell(x as usize, y as usize)
    }

    /// The neighbours of tile `index` in the order of [`DIRECTIONS`]
    /// (periodic; with fewer than 3 tiles along an axis some are the same
    /// tile, or the tile itself).
    pub fn neighbours(&self, index: usize) -> [usize; 8] {
        let (ix, iy) = self.coords(index);
        DIRECTIONS.map(|(dx, dy)| {
            let jx = (ix as isize + dx).rem_euclid(self.nx as isize) as usize;
            let jy = (iy as isize + dy).rem_euclid(self.ny as isize) as usize;
            self.index(jx, jy)
        })
    }

    /// Narrowest tile width and lowest tile height.
    pub fn min_tile(&self) -> (usize, usize) {
        (self.l / self.nx, self.l / self.ny)
    }

    /// Whether particles of `params` only ever move to a neighbouring tile
    /// in one step (they move exactly `2k + 1` cells in x and `m` in y): the
    /// narrowest tile must be at least `2k + 1` wide and `|m|` high (with
    /// one tile along an axis, any motion along it stays on the tile). The
    /// PRK asks for width `>= 2k` and height `>= m`; a width of exactly `2k`
    /// would let a particle skip a tile.
    pub fn check_motion(&self, params: &Params) -> Result<(), String> {
        let (w, h) = self.min_tile();
        let dx = 2 * params.k.unsigned_abs() + 1;
        if self.nx > 1 && (w as u64) < dx {
            return Err(format!(
                "k = {} moves particles {dx} cells per step, more than the narrowest tile ({w} cells of {} x {} \
                 tiles): use a larger grid, fewer tiles or a smaller k",
                params.k, self.nx, self.ny
            ));
        }
        if self.ny > 1 && (h as u64) < params.m.unsigned_abs() {
            return Err(format!(
                "m = {} moves particles {} cells per step, more than the lowest tile ({h} cells of {} x {} tiles): \
                 use a larger grid, fewer tiles or a smaller |m|",
                params.m,
                params.m.unsigned_abs(),
                self.nx,
                self.ny
            ));
        }
        Ok(())
    }
}

/// The first particle of a cell: at the cell centre, charged so that it
/// moves `2k + 1` cells to the right per step (the PRK's
/// `finish_distribution`), at rest in x, `m / DT` in y. `id` 0.
fn first_particle(x: usize, y: usize, k: i64, m: i64) -> Particle {
    let x_coord = x as f64 + REL_X;
    let y_coord = y as f64 + REL_Y;
    let rel_x = x_coord % 1.0;
    let rel_y = y_coord % 1.0;
    let r1_sq = rel_y * rel_y + rel_x * rel_x;
    let r2_sq = rel_y * rel_y + (1.0 - rel_x) * (1.0 - rel_x);
    let cos_theta = rel_x / r1_sq.sqrt();
    let cos_phi = (1.0 - rel_x) / r2_sq.sqrt();
    let base_charge = 1.0 / ((DT * DT) * Q * (cos_theta / r1_sq + cos_phi / r2_sq));
    let semi = (2 * k + 1) as f64;
    // The PRK's `-1.0 * (2k+1) * base`; the negation is exact.
    let q = if x.is_multiple_of(2) { semi * base_charge } else { -semi * base_charge };
    Particle { x: x_coord, y: y_coord, vx: 0.0, vy: m as f64 / DT, q, x0: x_coord, y0: y_coord, k, m, id: 0 }
}

/// Per column of `tile`, the number of particles its cells get (for
/// [`id_bases`]: a model can exchange these instead of drawing other tiles'
/// cells).
pub fn column_counts(params: &Params, tile: &Tile) -> Vec<u64> {
    let d = Density::new(params);
    (tile.x0..tile.x1).map(|x| count_column(params, &d, x, tile.y0, tile.y1)).collect()
}

/// The id base of each column of tile `index`: how many particles the cells
/// before the tile's first cell of that column hold, in x-major cell order
/// (so the column's particles get ids `base + 1, base + 2, ...`). `counts`
/// holds [`column_counts`] of every tile of `tiling`, by tile index.
pub fn id_bases(tiling: &Tiling, counts: &[Vec<u64>], index: usize) -> Vec<u64> {
    assert_eq!(counts.len(), tiling.parts(), "one count vector per tile");
    let mut column_total = vec![0u64; tiling.l];
    for (t, c) in counts.iter().enumerate() {
        let tile = tiling.tile(t);
        assert_eq!(c.len(), tile.width(), "tile {t}: one count per column");
        for (i, v) in c.iter().enumerate() {
            column_total[tile.x0 + i] += v;
        }
    }
    let tile = tiling.tile(index);
    let (ix, iy) = tiling.coords(index);
    let before: u64 = column_total[..tile.x0].iter().sum();
    let mut bases = Vec::with_capacity(tile.width());
    let mut acc = before;
    for i in 0..tile.width() {
        let below: u64 = (0..iy).map(|jy| counts[tiling.index(ix, jy)][i]).sum();
        bases.push(acc + below);
        acc += column_total[tile.x0 + i];
    }
    bases
}

/// The particles whose initial cells lie in `tile`, with the ids and
/// coordinates they have in every decomposition (the serial run's). Ids are
/// found by counting, not placing, the particles of the cells before each
/// column (every column left of the tile, and the rows of its own columns
/// outside it): `O(L x1)` draws for the tile `x0..x1`. A model that would
/// rather exchange counts uses [`column_counts`], [`id_bases`] and
/// [`init_particles_with_bases`].
pub fn init_particles(params: &Params, tile: &Tile) -> Vec<Particle> {
    let d = Density::new(params);
    let l = params.l;
    let mut base: u64 = (0..tile.x0).map(|x| count_column(params, &d, x, 0, l)).sum();
    let mut out = Vec::new();
    for x in tile.x0..tile.x1 {
        base += count_column(params, &d, x, 0, tile.y0);
        let placed = place_column(params, &d, x, tile.y0, tile.y1, base, &mut out);
        base += placed + count_column(params, &d, x, tile.y1, l);
    }
    out
}

/// [`init_particles`] with the id bases given ([`id_bases`]): draws only
/// the tile's own cells.
pub fn init_particles_with_bases(params: &Params, tile: &Tile, bases: &[u64]) -> Vec<Particle> {
    assert_eq!(bases.len(), tile.width(), "one id base per column");
    let d = Density::new(params);
    let mut out = Vec::new();
    for (x, &base) in (tile.x0..tile.x1).zip(bases) {
        place_column(params, &d, x, tile.y0, tile.y1, base, &mut out);
    }
    out
}

/// Appends the particles of cells `y0..y1` of column `x`, ids from
/// `base + 1`; returns how many.
fn place_column(
    params: &Params,
    d: &Density,
    x: usize,
    y0: usize,
    y1: usize,
    base: u64,
    out: &mut Vec<Particle>,
) -> u64 {
    let (lo, hi) = d.rows(x, y0, y1);
    if lo >= hi {
        return 0;
    }
    let mu = d.mu(x);
    let mut rng = Lcg::at(stream_position(params.l, x, lo));
    let mut id = base;
    for y in lo..hi {
        let count = rng.draw(mu);
        if count == 0 {
            continue;
        }
        let mut p = first_particle(x, y, params.k, params.m);
        for _ in 0..count {
            id += 1;
            p.id = id;
            out.push(p);
        }
    }
    id - base
}

/// Total particles the draw places on the whole grid (what the ids count
/// up to).
pub fn total_particles(params: &Params) -> u64 {
    let d = Density::new(params);
    (0..params.l).map(|x| count_column(params, &d, x, 0, params.l)).sum()
}

/// The Coulomb force of charge `q2` at distance `(dx, dy)` on charge `q1`,
/// with the PRK's operations.
#[inline(always)]
fn coulomb(dx: f64, dy: f64, q1: f64, q2: f64) -> (f64, f64) {
    let r2 = dx * dx + dy * dy;
    let r = r2.sqrt();
    let f = q1 * q2 / r2;
    (f * dx / r, f * dy / r)
}

/// The force on `p` from the four charges at the corners of its cell (the
/// PRK's `computeTotalForce`; the charges are analytic: `+Q` at even x).
#[inline(always)]
pub fn total_force(p: &Particle) -> (f64, f64) {
    // Positions are in [0, L): truncation is the floor.
    let cell_x = p.x as u64;
    let cell_y = p.y as u64;
    let rel_x = p.x - cell_x as f64;
    let rel_y = p.y - cell_y as f64;
    let left = if cell_x & 1 == 0 { Q } else { -Q };
    let right = -left;
    // Lower-left corner.
    let (fx, fy) = coulomb(rel_x, rel_y, p.q, left);
    let (mut sx, mut sy) = (fx, fy);
    // Upper-left.
    let (fx, fy) = coulomb(rel_x, 1.0 - rel_y, p.q, left);
    sx += fx;
    sy -= fy;
    // Lower-right.
    let (fx, fy) = coulomb(1.0 - rel_x, rel_y, p.q, right);
    sx -= fx;
    sy += fy;
    // Upper-right.
    let (fx, fy) = coulomb(1.0 - rel_x, 1.0 - rel_y, p.q, right);
    sx -= fx;
    sy -= fy;
    (sx, sy)
}

/// `v mod l` for the PRK's `fmod(v, L)`, where `v` is a new position plus
/// `L`: one comparison in the usual case (`0 <= v < 2L`, where `v - L` is
/// exact and equals `fmod`).
#[inline(always)]
fn wrap(v: f64, l: f64) -> f64 {
    if v < l {
        if v >= 0.0 {
            v
        } else {
            v % l
        }
    } else if v < 2.0 * l {
        v - l
    } else {
        v % l
    }
}

/// One time step of one particle on an `l x l` grid (`l` as `f64`): force,
/// acceleration, position (periodic), then velocity (accumulated), as the
/// PRK.
#[inline(always)]
pub fn move_particle(p: &mut Particle, l: f64) {
    let (fx, fy) = total_force(p);
    let ax = fx * MASS_INV;
    let ay = fy * MASS_INV;
    p.x = wrap(p.x + p.vx * DT + 0.5 * ax * DT * DT + l, l);
    p.y = wrap(p.y + p.vy * DT + 0.5 * ay * DT * DT + l, l);
    p.vx += ax * DT;
    p.vy += ay * DT;
}

/// One time step of every particle (no allocation).
pub fn step(particles: &mut [Particle], l: usize) {
    let lf = l as f64;
    for p in particles {
        move_particle(p, lf);
    }
}

/// Where a particle goes after a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// It stays on the tile.
    Stay,
    /// To the neighbour in this slot of [`DIRECTIONS`] (the first slot
    /// naming that tile when several do).
    Send(usize),
    /// To a tile that is no neighbour (the motion check was skipped).
    Far(usize),
}

/// A tile with what routing its particles needs, computed once.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Neighbourhood {
    /// The decomposition.
    pub tiling: Tiling,
    /// The tile's index.
    pub index: usize,
    /// Its cells.
    pub tile: Tile,
    /// Its neighbours ([`Tiling::neighbours`]).
    pub neighbours: [usize; 8],
    bounds: [f64; 4],
}

impl Neighbourhood {
    /// Tile `index` of `tiling`.
    pub fn new(tiling: Tiling, index: usize) -> Neighbourhood {
        let tile = tiling.tile(index);
        Neighbourhood {
            tiling,
            index,
            tile,
            neighbours: tiling.neighbours(index),
            bounds: [tile.x0 as f64, tile.x1 as f64, tile.y0 as f64, tile.y1 as f64],
        }
    }

    /// Where a particle at `(x, y)` goes.
    #[inline(always)]
    pub fn route(&self, x: f64, y: f64) -> Route {
        let [x0, x1, y0, y1] = self.bounds;
        if x >= x0 && x < x1 && y >= y0 && y < y1 {
            return Route::Stay;
        }
        self.route_away(x, y)
    }

    #[cold]
    #[inline(never)]
    fn route_away(&self, x: f64, y: f64) -> Route {
        let owner = self.tiling.owner(x, y);
        if owner == self.index {
            return Route::Stay;
        }
        match self.neighbours.iter().position(|&n| n == owner) {
            Some(slot) => Route::Send(slot),
            None => Route::Far(owner),
        }
    }
}

/// One time step of a tile's particles: every particle moves; those that
/// stay are kept (in order, compacted in place), the others are appended to
/// `outgoing[slot]` (not cleared here). No allocation once the vectors have
/// grown. An error (after the step) names a particle that went past the
/// neighbours, which [`Tiling::check_motion`] rules out.
pub fn step_tile(
    particles: &mut Vec<Particle>,
    hood: &Neighbourhood,
    outgoing: &mut [Vec<Particle>; 8],
) -> Result<(), String> {
    let lf = hood.tiling.l as f64;
    let mut kept = 0;
    let mut far = None;
    for i in 0..particles.len() {
        let mut p = particles[i];
        move_particle(&mut p, lf);
        match hood.route(p.x, p.y) {
            Route::Stay => {
                particles[kept] = p;
                kept += 1;
            }
            Route::Send(slot) => outgoing[slot].push(p),
            Route::Far(owner) => {
                far.get_or_insert((p.id, owner));
                particles[kept] = p;
                kept += 1;
            }
        }
    }
    particles.truncate(kept);
    match far {
        None => Ok(()),
        Some((id, owner)) => {
            Err(format!("particle {id} moved from tile {} to tile {owner}, which is not a neighbour", hood.index))
        }
    }
}

/// Whether `p` is at its analytic position after `steps` steps (the PRK's
/// `verifyParticle`, with `iterations + 1` = `steps`): `x0 + steps (2k+1)`
/// (to the right, as the charge makes it go), `y0 + steps m`, both modulo
/// `L`, each within [`EPSILON`]. A NaN position fails (the PRK's test lets
/// it pass).
pub fn at_analytic_position(p: &Particle, l: usize, steps: u64) -> bool {
    let lf = l as f64;
    let t = steps as f64;
    let semi = (2 * p.k + 1) as f64;
    let disp = t * semi;
    let cell_charge = if (p.x0 as u64).is_multiple_of(2) { Q } else { -Q };
    let x_final = if p.q * cell_charge > 0.0 { p.x0 + disp } else { p.x0 - disp };
    let y_final = p.y0 + p.m as f64 * t;
    let x_periodic = (x_final + t * semi * lf) % lf;
    let y_periodic = (y_final + t * p.m.unsigned_abs() as f64 * lf) % lf;
    (p.x - x_periodic).abs() <= EPSILON && (p.y - y_periodic).abs() <= EPSILON
}

/// FNV-1a-style hash of the bits of x, y and vx of every particle, in the
/// order given (sorted by id, it is the hash the reference test computed on
/// the PRK's own runs; the serial model prints it, and the Python peers
/// print theirs, to show the same final state bit for bit).
pub fn state_hash(v: &[Particle]) -> u64 {
    let mut h: u64 = 1469598103934665603;
    for p in v {
        for w in [p.x.to_bits(), p.y.to_bits(), p.vx.to_bits()] {
            h ^= w;
            h = h.wrapping_mul(1099511628211);
        }
    }
    h
}

/// Sum of the ids (modulo 2^64).
pub fn id_checksum(particles: &[Particle]) -> u64 {
    particles.iter().fold(0u64, |s, p| s.wrapping_add(p.id))
}

/// `n (n + 1) / 2` modulo 2^64: the id checksum of particles `1..=n`.
pub fn expected_checksum(n: u64) -> u64 {
    let n = u128::from(n);
    (n * (n + 1) / 2) as u64
}

/// The verification of a set of particles, to be combined over tiles
/// ([`Check::merge`]) and judged once ([`Check::result`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Particles checked.
    pub particles: u64,
    /// Of which not at their analytic position.
    pub misplaced: u64,
    /// Smallest id of a misplaced particle (0: none).
    pub first_misplaced: u64,
    /// Sum of the ids (modulo 2^64).
    pub id_sum: u64,
}

impl Check {
    /// Checks `particles` after `steps` steps on an `l x l` grid.
    pub fn of(particles: &[Particle], l: usize, steps: u64) -> Check {
        let mut c = Check { particles: particles.len() as u64, ..Check::default() };
        for p in particles {
            c.id_sum = c.id_sum.wrapping_add(p.id);
            if !at_analytic_position(p, l, steps) {
                c.misplaced += 1;
                if c.first_misplaced == 0 || p.id < c.first_misplaced {
                    c.first_misplaced = p.id;
                }
            }
        }
        c
    }

    /// Both sets together.
    pub fn merge(self, o: Check) -> Check {
        let first = match (self.first_misplaced, o.first_misplaced) {
            (0, b) => b,
            (a, 0) => a,
            (a, b) => a.min(b),
        };
        Check {
            particles: self.particles + o.particles,
            misplaced: self.misplaced + o.misplaced,
            first_misplaced: first,
            id_sum: self.id_sum.wrapping_add(o.id_sum),
        }
    }

    /// The verdict for a run that placed `placed` particles: all still
    /// there, all at their analytic positions, ids summing to
    /// `placed (placed + 1) / 2`. The error is one line.
    pub fn result(&self, placed: u64) -> Result<(), String> {
        if self.particles != placed {
            return Err(format!("{} particles at the end, {placed} placed", self.particles));
        }
        if self.misplaced > 0 {
            return Err(format!(
                "{} of {} particles are not at their analytic position (first: id {})",
                self.misplaced, self.particles, self.first_misplaced
            ));
        }
        let want = expected_checksum(placed);
        if self.id_sum != want {
            return Err(format!("the particle id checksum is {}, {want} expected", self.id_sum));
        }
        Ok(())
    }
}

/// Verifies a complete set of particles (all `placed` of them, e.g. the
/// serial run's) after `steps` steps.
pub fn verify(particles: &[Particle], params: &Params, steps: u64) -> Result<(), String> {
    Check::of(particles, params.l, steps).result(particles.len() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(l: usize, n: u64, mode: Mode) -> Params {
        Params { l, n, iters: 3, mode, k: 0, m: 1 }
    }

    /// Small configurations of every mode (with mu above and below 1).
    fn every_mode() -> Vec<Params> {
        vec![
            params(10, 1000, Mode::Geometric { rho: 0.9 }),
            params(12, 30, Mode::Geometric { rho: 0.5 }),
            params(10, 100, Mode::Geometric { rho: 1.0 }),
            params(16, 2000, Mode::Sinusoidal),
            params(14, 500, Mode::Linear { alpha: 1.0, beta: 2.0 }),
            params(10, 50, Mode::Linear { alpha: -1.0, beta: 0.5 }),
            params(12, 900, Mode::Patch(Patch { left: 2, right: 7, bottom: 3, top: 10 })),
            params(10, 5, Mode::Patch(Patch { left: 0, right: 9, bottom: 0, top: 9 })),
        ]
    }

    fn sorted(mut v: Vec<Particle>) -> Vec<Particle> {
        v.sort_by_key(|p| p.id);
        v
    }

    /// Reference numbers from the PRK itself: ParRes/Kernels
    /// `SERIAL/PIC/pic.c` with `common/random_draw.c` (gcc -O2
    /// -ffp-contract=off, x86-64, glibc), extended to print the particle
    /// count, [`state_hash`] after its `iterations + 1` steps and the bits of
    /// the first particle's charge. For LINEAR its step was set to
    /// `1/(L-1)`, as in `MPI1/PIC-static/pic.c`. Arguments as the PRK's:
    /// iterations, L, n, k, m, mode.
    #[test]
    fn matches_the_prk_reference_runs() {
        let g = |rho| Mode::Geometric { rho };
        let patch = |left, right, bottom, top| Mode::Patch(Patch { left, right, bottom, top });
        // iterations, L, n, k, m, mode; particles placed, state hash, bits of q.
        type Case = (usize, usize, u64, i64, i64, Mode, u64, u64, u64);
        let cases: [Case; 11] = [
            (10, 10, 1000, 0, 1, g(0.9), 1000, 15769571733196107299, 4600040671590431693),
            (5, 12, 30, 1, -1, g(0.5), 22, 11991628524879475707, 4607455607927041242),
            (6, 16, 2000, 0, 1, Mode::Sinusoidal, 2012, 15442987705123078131, 4600040671590431693),
            (4, 14, 500, 2, 3, Mode::Linear { alpha: 1.0, beta: 2.0 }, 502, 16107809805750485883, 4610640133763304128),
            (4, 10, 50, 0, 1, Mode::Linear { alpha: -1.0, beta: 0.5 }, 45, 15001804349168752913, 4600040671590431693),
            (7, 12, 900, 1, 2, patch(2, 7, 3, 10), 886, 7682838189594503547, 4607455607927041242),
            (9, 100, 100_000, 0, 1, g(0.99), 100_028, 14008170621662523251, 4600040671590431693),
            (3, 1000, 100_000, 0, 1, g(0.999), 100_260, 4208012987081629715, 4600040671590431693),
            (3, 200, 1_000_000, 1, -2, Mode::Sinusoidal, 999_893, 9394082155085505777, 4607455607927041242),
            (
                3,
                300,
                500_000,
                0,
                1,
                Mode::Linear { alpha: 1.0, beta: 1.5 },
                500_405,
                17505432564932888433,
                4600040671590431693,
            ),
            (3, 300, 500_000, 2, 1, patch(10, 250, 40, 100), 500_078, 13363631572279112027, 4610640133763304128),
        ];
        for (iters, l, n, k, m, mode, placed, hash, q0) in cases {
            let p = Params { l, n, iters, mode, k, m };
            p.validate().unwrap();
            let mut v = init_particles(&p, &Tile::whole(l));
            assert_eq!(v.len() as u64, placed, "{p:?}");
            assert_eq!(v[0].q.to_bits(), q0, "{p:?}");
            for _ in 0..p.steps() {
                step(&mut v, l);
            }
            assert_eq!(state_hash(&v), hash, "{p:?}");
            assert_eq!(verify(&v, &p, p.steps()), Ok(()));
        }
    }

    #[test]
    fn particle_is_80_bytes_and_round_trips_through_words() {
        assert_eq!(std::mem::size_of::<Particle>(), 80);
        let p =
            Particle { x: 1.5, y: -0.0, vx: f64::NAN, vy: 3.0, q: -2.5, x0: 1.5, y0: 7.5, k: -3, m: 9, id: u64::MAX };
        let back = Particle::from_words(&p.to_words());
        assert_eq!(back.to_words(), p.to_words());
        let mut words = Vec::new();
        pack(&[p, p], &mut words);
        let mut out = Vec::new();
        unpack(&words, &mut out).unwrap();
        assert_eq!(out.len(), 2);
        assert!(unpack(&words[..7], &mut out).is_err());
    }

    #[test]
    fn split_and_owner_agree_and_give_remainders_to_the_first_tiles() {
        for l in [2usize, 7, 10, 64, 101] {
            for parts in 1..=l.min(9) {
                let mut next = 0;
                for i in 0..parts {
                    let (s, e) = split(l, parts, i);
                    assert_eq!(s, next);
                    let want = l / parts + usize::from(i < l % parts);
                    assert_eq!(e - s, want, "l {l} parts {parts} tile {i}");
                    for c in s..e {
                        assert_eq!(part_of(l, parts, c), i);
                    }
                    next = e;
                }
                assert_eq!(next, l);
            }
        }
    }

    #[test]
    fn tiling_factors_like_the_stencil_and_orders_tiles_x_first() {
        let t = Tiling::new(10, 6).unwrap();
        assert_eq!((t.nx, t.ny), (2, 3));
        assert_eq!(t.tile(0), Tile { x0: 0, x1: 5, y0: 0, y1: 4 });
        assert_eq!(t.tile(1), Tile { x0: 5, x1: 10, y0: 0, y1: 4 });
        assert_eq!(t.tile(5), Tile { x0: 5, x1: 10, y0: 7, y1: 10 });
        assert_eq!(t.owner(9.5, 9.5), 5);
        assert_eq!(t.owner(0.0, 4.0), 2);
        assert!(Tiling::new(2, 9).is_err());
        assert!(Tiling::new(4, 0).is_err());
        // Neighbours of a corner tile wrap around.
        let n = Tiling::with_grid(12, 3, 3).unwrap().neighbours(0);
        assert_eq!(n, [2, 1, 6, 3, 8, 7, 5, 4]);
        for s in 0..8 {
            assert_eq!(opposite(opposite(s)), s);
            let (dx, dy) = DIRECTIONS[s];
            assert_eq!(DIRECTIONS[opposite(s)], (-dx, -dy));
        }
    }

    #[test]
    fn motion_check_wants_tiles_wider_than_a_step() {
        let mut p = params(20, 100, Mode::Sinusoidal);
        p.k = 2; // 5 cells per step
        assert!(Tiling::with_grid(20, 4, 1).unwrap().check_motion(&p).is_ok()); // 5 wide
        assert!(Tiling::with_grid(20, 5, 1).unwrap().check_motion(&p).is_err()); // 4 wide
        assert!(Tiling::with_grid(20, 1, 5).unwrap().check_motion(&p).is_ok());
        p.m = -5;
        assert!(Tiling::with_grid(20, 1, 4).unwrap().check_motion(&p).is_ok());
        assert!(Tiling::with_grid(20, 1, 5).unwrap().check_motion(&p).is_err());
    }

    #[test]
    fn bad_parameters_are_one_line_errors() {
        let good = params(10, 100, Mode::Geometric { rho: 0.9 });
        assert!(good.validate().is_ok());
        let bad = [
            Params { l: 9, ..good },
            Params { l: 0, ..good },
            Params { l: MAX_L + 2, ..good },
            Params { n: 0, ..good },
            Params { n: MAX_N + 1, ..good },
            Params { iters: 0, ..good },
            Params { k: -1, ..good },
            Params { m: -11, ..good },
            Params { mode: Mode::Geometric { rho: 0.0 }, ..good },
            Params { mode: Mode::Geometric { rho: 1.5 }, ..good },
            Params { mode: Mode::Geometric { rho: f64::NAN }, ..good },
            Params { mode: Mode::Linear { alpha: 2.0, beta: 1.0 }, ..good },
            Params { mode: Mode::Linear { alpha: -1.0, beta: -0.5 }, ..good },
            Params { mode: Mode::Linear { alpha: 0.0, beta: 0.0 }, ..good },
            Params { mode: Mode::Linear { alpha: f64::INFINITY, beta: f64::INFINITY }, ..good },
            Params { mode: Mode::Patch(Patch { left: 3, right: 3, bottom: 0, top: 5 }), ..good },
            Params { mode: Mode::Patch(Patch { left: 0, right: 5, bottom: 6, top: 2 }), ..good },
            Params { mode: Mode::Patch(Patch { left: 0, right: 10, bottom: 0, top: 5 }), ..good },
            Params { mode: Mode::Patch(Patch { left: 0, right: 5, bottom: 0, top: 10 }), ..good },
        ];
        for p in bad {
            let e = p.validate().expect_err(&format!("{p:?}"));
            assert!(!e.is_empty() && !e.contains('\n'), "{e:?}");
        }
        assert!(Params { m: -10, ..good }.validate().is_ok());
        assert!(Params { mode: Mode::Linear { alpha: 2.0, beta: 2.0 }, ..good }.validate().is_ok());
        assert!(Params { mode: Mode::Patch(Patch { left: 0, right: 9, bottom: 8, top: 9 }), ..good }
            .validate()
            .is_ok());
    }

    #[test]
    fn serial_draw_is_x_major_with_two_numbers_per_cell() {
        // The whole grid drawn cell after cell from the start of the stream,
        // as the PRK's serial code does without jumping.
        for p in every_mode() {
            let d = Density::new(&p);
            let mut rng = Lcg::new();
            let mut want = Vec::new();
            for x in 0..p.l {
                for y in 0..p.l {
                    let mut c = rng.draw(d.mu(x));
                    if let Mode::Patch(b) = p.mode {
                        if !b.contains(x, y) {
                            c = 0;
                        }
                    }
                    want.extend(std::iter::repeat_n((x, y), c as usize));
                }
            }
            let got = init_particles(&p, &Tile::whole(p.l));
            assert_eq!(got.len(), want.len(), "{p:?}");
            for (i, (q, &(x, y))) in got.iter().zip(&want).enumerate() {
                assert_eq!(q.id, i as u64 + 1);
                assert_eq!((q.x, q.y), (x as f64 + 0.5, y as f64 + 0.5));
            }
            assert_eq!(total_particles(&p), got.len() as u64);
        }
    }

    #[test]
    fn placed_count_is_close_to_requested_and_follows_the_mode() {
        let p = params(100, 100_000, Mode::Geometric { rho: 0.99 });
        let v = init_particles(&p, &Tile::whole(100));
        let n = v.len() as f64;
        assert!((n - 1e5).abs() < 1e3, "{n}");
        let left = v.iter().filter(|q| q.x < 50.0).count() as f64;
        // rho^50 = 0.605: the left half holds 1 / (1 + 0.605) of them.
        assert!((left / n - 1.0 / (1.0 + 0.99f64.powi(50))).abs() < 0.01);
        let p = params(10, 1000, Mode::Patch(Patch { left: 2, right: 4, bottom: 5, top: 9 }));
        let v = init_particles(&p, &Tile::whole(10));
        assert!(v.iter().all(|q| (2.0..5.0).contains(&q.x) && (5.0..10.0).contains(&q.y)));
        assert!((v.len() as f64 - 1000.0).abs() < 150.0, "{}", v.len());
        let p = params(10, 1000, Mode::Sinusoidal);
        let v = init_particles(&p, &Tile::whole(10));
        // cos^2(x pi / L) vanishes at x = L/2.
        assert!(v.iter().all(|q| q.x0 != 5.5));
    }

    #[test]
    fn every_decomposition_draws_the_same_particles() {
        let grids = [(1, 1), (2, 1), (1, 2), (2, 2), (3, 2), (2, 3), (3, 3)];
        for p in every_mode() {
            let serial = init_particles(&p, &Tile::whole(p.l));
            assert!(!serial.is_empty());
            for parts in [1, 2, 4, 6] {
                // The factoring rule.
                let t = Tiling::new(p.l, parts).unwrap();
                assert_eq!(t.parts(), parts);
                check_union(&p, &t, &serial);
            }
            for (nx, ny) in grids {
                check_union(&p, &Tiling::with_grid(p.l, nx, ny).unwrap(), &serial);
            }
        }
    }

    fn check_union(p: &Params, t: &Tiling, serial: &[Particle]) {
        let counts: Vec<Vec<u64>> = t.tiles().iter().map(|tile| column_counts(p, tile)).collect();
        let mut all = Vec::new();
        let mut exchanged = Vec::new();
        for i in 0..t.parts() {
            let tile = t.tile(i);
            let own = init_particles(p, &tile);
            assert!(own.iter().all(|q| tile.contains_cell(q.x as usize, q.y as usize)));
            assert!(own.iter().all(|q| t.owner(q.x, q.y) == i));
            let bases = id_bases(t, &counts, i);
            let via_counts = init_particles_with_bases(p, &tile, &bases);
            assert_eq!(own, via_counts, "{p:?} {t:?} tile {i}");
            assert_eq!(own.len() as u64, counts[i].iter().sum::<u64>());
            all.extend(own);
            exchanged.extend(via_counts);
        }
        assert_eq!(sorted(all), serial, "{p:?} {t:?}");
        assert_eq!(sorted(exchanged), serial, "{p:?} {t:?}");
    }

    #[test]
    fn initial_particles_are_charged_to_move_right() {
        for k in [0i64, 1, 3] {
            let mut p = params(12, 2000, Mode::Sinusoidal);
            p.k = k;
            p.m = -2;
            for q in init_particles(&p, &Tile::whole(12)) {
                assert_eq!((q.x0, q.y0, q.vx, q.vy), (q.x, q.y, 0.0, -2.0));
                assert_eq!((q.k, q.m), (k, -2));
                let even = (q.x as u64).is_multiple_of(2);
                assert_eq!(q.q > 0.0, even);
                // The horizontal force makes a half step of 2k+1 cells.
                let (fx, fy) = total_force(&q);
                assert!((0.5 * fx - (2 * k + 1) as f64).abs() < 1e-12, "{fx}");
                assert_eq!(fy, 0.0);
            }
        }
    }

    #[test]
    fn particles_follow_the_analytic_motion_in_every_mode() {
        for mut p in every_mode() {
            for (k, m) in [(0, 1), (1, -1), (2, 0), (0, 3)] {
                p.k = k;
                p.m = m;
                let mut v = init_particles(&p, &Tile::whole(p.l));
                for s in 1..=7u64 {
                    step(&mut v, p.l);
                    assert_eq!(verify(&v, &p, s), Ok(()), "{p:?} after {s} steps");
                    // The count of steps matters.
                    assert!(verify(&v, &p, s + 1).is_err());
                }
            }
        }
    }

    #[test]
    fn verification_catches_a_misplaced_particle_and_a_bad_checksum() {
        let p = params(10, 200, Mode::Geometric { rho: 0.8 });
        let mut v = init_particles(&p, &Tile::whole(10));
        for _ in 0..4 {
            step(&mut v, 10);
        }
        assert_eq!(verify(&v, &p, 4), Ok(()));
        let mut bad = v.clone();
        bad[3].x += 2e-6;
        let e = verify(&bad, &p, 4).unwrap_err();
        assert!(e.contains(&format!("id {}", bad[3].id)), "{e}");
        let mut bad = v.clone();
        bad[0].y = f64::NAN;
        assert!(verify(&bad, &p, 4).is_err());
        let mut bad = v.clone();
        bad[0].id += 1;
        assert!(verify(&bad, &p, 4).unwrap_err().contains("checksum"));
        // A lost particle.
        let c = Check::of(&v[1..], 10, 4).merge(Check::default());
        assert!(c.result(v.len() as u64).is_err());
        // Split checks merge to the whole.
        let (a, b) = v.split_at(v.len() / 2);
        assert_eq!(Check::of(a, 10, 4).merge(Check::of(b, 10, 4)), Check::of(&v, 10, 4));
        assert_eq!(expected_checksum(4), 10);
        assert_eq!(id_checksum(&v), expected_checksum(v.len() as u64));
    }

    #[test]
    fn wrap_matches_fmod() {
        let l = 10.0;
        for v in [0.0, 0.5, 9.999, 10.0, 10.5, 19.99, 20.0, 25.5, 1234.5, -0.5, -12.5] {
            assert_eq!(wrap(v, l).to_bits(), (v % l).to_bits(), "{v}");
        }
    }

    #[test]
    fn tiles_route_their_particles_to_neighbours_like_a_single_run() {
        for (nx, ny) in [(1, 1), (2, 1), (1, 2), (2, 2), (3, 2), (3, 3), (4, 3)] {
            let mut p = params(24, 3000, Mode::Geometric { rho: 0.95 });
            p.k = 1;
            p.m = -2;
            let t = Tiling::with_grid(p.l, nx, ny).unwrap();
            t.check_motion(&p).unwrap();
            let mut serial = init_particles(&p, &Tile::whole(p.l));
            let mut tiles: Vec<Vec<Particle>> = t.tiles().iter().map(|tile| init_particles(&p, tile)).collect();
            let hoods: Vec<Neighbourhood> = (0..t.parts()).map(|i| Neighbourhood::new(t, i)).collect();
            let mut out: Vec<[Vec<Particle>; 8]> = (0..t.parts()).map(|_| Default::default()).collect();
            for s in 1..=10u64 {
                step(&mut serial, p.l);
                for i in 0..t.parts() {
                    step_tile(&mut tiles[i], &hoods[i], &mut out[i]).unwrap();
                }
                for i in 0..t.parts() {
                    for (slot, &to) in hoods[i].neighbours.iter().enumerate() {
                        let moved = std::mem::take(&mut out[i][slot]);
                        tiles[to].extend(moved);
                    }
                }
                for (i, v) in tiles.iter().enumerate() {
                    assert!(v.iter().all(|q| t.owner(q.x, q.y) == i), "step {s}");
                }
                let all = sorted(tiles.concat());
                assert_eq!(all, serial, "{nx} x {ny} step {s}");
                let c = tiles.iter().fold(Check::default(), |c, v| c.merge(Check::of(v, p.l, s)));
                assert_eq!(c.result(serial.len() as u64), Ok(()));
            }
        }
    }

    #[test]
    fn a_particle_past_the_neighbours_is_reported() {
        let t = Tiling::with_grid(20, 5, 1).unwrap();
        let mut p = params(20, 500, Mode::Sinusoidal);
        p.k = 2; // 5 cells per step on 4-cell tiles
        assert!(t.check_motion(&p).is_err());
        let hood = Neighbourhood::new(t, 0);
        let mut v = init_particles(&p, &t.tile(0));
        assert!(!v.is_empty());
        let mut out: [Vec<Particle>; 8] = Default::default();
        let e = step_tile(&mut v, &hood, &mut out).unwrap_err();
        assert!(e.contains("not a neighbour"), "{e}");
    }
}
