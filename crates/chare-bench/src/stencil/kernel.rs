//! The compute kernel: one Jacobi sweep of the 5-point stencil over a block
//! stored row-major with one ghost layer, and the boundary condition.
//!
//! Layout: a block of `h x w` interior points is a slice of `(h + 2) x (w + 2)`
//! `f64`s, row `r` at `r * (w + 2)`; rows `0` and `h + 1` and columns `0` and
//! `w + 1` are the ghost layer.
//!
//! Arithmetic, the same in every model and in the reference:
//! `new = ((((up + down) + left) + right) + centre) * 0.2`, evaluated left to
//! right. Rust never reassociates or contracts floating-point operations
//! (no fast-math, no implicit FMA), so the vectorised kernel and
//! [`update_naive`] give bitwise-identical results.
//!
//! Speed: the kernel walks whole rows as slices (`chunks_exact`) and zips
//! the five equally long input slices with the output, so the compiler sees
//! no index arithmetic, elides every bounds check and vectorises the inner
//! loop. With three rows of the input in cache, each point reads one `f64`
//! from memory and writes one (plus the write-allocate read of the output
//! line): 24 bytes of memory traffic per point (see `docs/perf.md`).

/// Weight of each of the five points.
pub const WEIGHT: f64 = 0.2;
/// Value the boundary condition writes into the top ghost row and the left
/// ghost column of every block.
pub const HOT: f64 = 255.0;

/// Writes the update of every interior point of `cur` into `next` (ghost
/// cells of `next` are left untouched). Panics if a slice is not
/// `(h + 2) * (w + 2)` long.
pub fn update(next: &mut [f64], cur: &[f64], h: usize, w: usize) {
    let s = w + 2;
    assert_eq!(cur.len(), (h + 2) * s, "input is not a ({h}+2) x ({w}+2) block");
    assert_eq!(next.len(), cur.len(), "output and input differ in size");
    let up = cur.chunks_exact(s);
    let mid = cur.chunks_exact(s).skip(1);
    let down = cur.chunks_exact(s).skip(2);
    let out = next.chunks_exact_mut(s).skip(1);
    for (((o, u), c), d) in out.zip(up).zip(mid).zip(down) {
        row(&mut o[1..=w], &u[1..=w], c, &d[1..=w]);
    }
}

/// One row: `out`, `up` and `down` are the `w` interior points, `mid` the
/// whole row of `w + 2` points (left neighbour, centre, right neighbour).
#[inline(always)]
fn row(out: &mut [f64], up: &[f64], mid: &[f64], down: &[f64]) {
    let w = out.len();
    // Equal lengths, stated once, so the zips below need no checks.
    let (up, down) = (&up[..w], &down[..w]);
    let (left, centre, right) = (&mid[..w], &mid[1..w + 1], &mid[2..w + 2]);
    for ((((o, u), d), l), (c, r)) in out.iter_mut().zip(up).zip(down).zip(left).zip(centre.iter().zip(right)) {
        *o = ((((u + d) + l) + r) + c) * WEIGHT;
    }
}

/// The boundary condition: the top ghost row and the left ghost column
/// (corners excluded, they are never read) are set to [`HOT`].
pub fn boundary(cur: &mut [f64], h: usize, w: usize) {
    let s = w + 2;
    assert_eq!(cur.len(), (h + 2) * s, "not a ({h}+2) x ({w}+2) block");
    cur[1..=w].fill(HOT);
    for r in cur.chunks_exact_mut(s).skip(1).take(h) {
        r[0] = HOT;
    }
}

/// The textbook version with 2-D indexing, for tests.
#[cfg(test)]
pub fn update_naive(next: &mut [f64], cur: &[f64], h: usize, w: usize) {
    let s = w + 2;
    let at = |i: usize, j: usize| cur[i * s + j];
    for i in 1..=h {
        for j in 1..=w {
            next[i * s + j] = (at(i - 1, j) + at(i + 1, j) + at(i, j - 1) + at(i, j + 1) + at(i, j)) * WEIGHT;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random values with varied exponents, so that
    /// any difference in the order of additions would show in the bits.
    fn noise(len: usize, seed: u64) -> Vec<f64> {
        let mut x = seed;
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let mant = (x >> 11) as f64 / (1u64 << 53) as f64;
                let exp = ((x & 0x3f) as i32) - 32;
                mant * 2f64.powi(exp)
            })
            .collect()
    }

    #[test]
    fn fast_kernel_is_bitwise_equal_to_the_naive_one() {
        for (h, w) in [(1, 1), (1, 7), (5, 1), (3, 4), (17, 33), (64, 48), (7, 130)] {
            let cur = noise((h + 2) * (w + 2), (h * 1000 + w) as u64 + 1);
            let init = noise(cur.len(), 99);
            let (mut fast, mut slow) = (init.clone(), init.clone());
            update(&mut fast, &cur, h, w);
            update_naive(&mut slow, &cur, h, w);
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&fast), bits(&slow), "{h} x {w}");
            // Ghost cells of the output are untouched.
            let s = w + 2;
            for (k, (a, b)) in fast.iter().zip(&init).enumerate() {
                let (i, j) = (k / s, k % s);
                if i == 0 || i == h + 1 || j == 0 || j == w + 1 {
                    assert_eq!(a.to_bits(), b.to_bits(), "ghost ({i},{j}) of {h} x {w}");
                }
            }
        }
    }

    #[test]
    fn uniform_field_stays_uniform() {
        let (h, w) = (4, 6);
        let cur = vec![1.0; (h + 2) * (w + 2)];
        let mut next = vec![0.0; cur.len()];
        update(&mut next, &cur, h, w);
        // 5 * 1.0 * 0.2 rounds to exactly 1.0.
        assert!(next.chunks(w + 2).skip(1).take(h).all(|r| r[1..=w].iter().all(|&v| v == 1.0)));
    }

    #[test]
    fn boundary_sets_top_row_and_left_column_only() {
        let (h, w) = (3, 4);
        let mut b = vec![1.0; (h + 2) * (w + 2)];
        boundary(&mut b, h, w);
        let s = w + 2;
        for i in 0..h + 2 {
            for j in 0..s {
                let hot = (i == 0 && (1..=w).contains(&j)) || (j == 0 && (1..=h).contains(&i));
                assert_eq!(b[i * s + j], if hot { HOT } else { 1.0 }, "({i},{j})");
            }
        }
    }

    #[test]
    #[should_panic(expected = "not a")]
    fn wrong_size_panics() {
        let mut a = vec![0.0; 10];
        update(&mut a.clone(), &a, 3, 3);
        boundary(&mut a, 3, 3);
    }
}
