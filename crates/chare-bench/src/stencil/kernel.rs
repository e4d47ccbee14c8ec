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
//! `update_naive` give bitwise-identical results.
//!
//! Two kernels, bitwise equal (unit tests against the naive loop):
//! * [`update_portable`] walks whole rows as slices (`chunks_exact`) and zips
//!   the five equally long input slices with the output, so the compiler
//!   sees no index arithmetic, elides every bounds check and vectorises the
//!   inner loop for the baseline target. Each point reads one `f64` from
//!   memory and writes one (plus the write-allocate read of the output
//!   line): 24 bytes of memory traffic; the rows above and at the output row
//!   come from L2 (three 32 KiB rows do not fit in L1).
//! * `simd` (x86-64 with AVX-512F, chosen at run time): column strips that
//!   keep the three rows in L1, a software prefetch across the strips'
//!   row jumps, and streaming stores for large blocks (16 bytes of traffic
//!   per point). About 2x the portable kernel on a 4096 x 4096 grid; see
//!   `docs/perf.md` (v0.5) for the measurements and the roofline.

/// Weight of each of the five points.
pub const WEIGHT: f64 = 0.2;
/// Value the boundary condition writes into the top ghost row and the left
/// ghost column of every block.
pub const HOT: f64 = 255.0;

/// Writes the update of every interior point of `cur` into `next` (ghost
/// cells of `next` are left untouched). Panics if a slice is not
/// `(h + 2) * (w + 2)` long.
///
/// Uses the AVX-512 kernel (`simd`) where the processor has AVX-512F and
/// `CHARE_STENCIL_KERNEL` is not `portable`; otherwise [`update_portable`].
/// Both give bitwise-identical results.
pub fn update(next: &mut [f64], cur: &[f64], h: usize, w: usize) {
    let s = w + 2;
    assert_eq!(cur.len(), (h + 2) * s, "input is not a ({h}+2) x ({w}+2) block");
    assert_eq!(next.len(), cur.len(), "output and input differ in size");
    #[cfg(target_arch = "x86_64")]
    if simd::available() {
        let streaming = std::mem::size_of_val(cur) >= simd::STREAM_MIN_BYTES;
        simd::update(next, cur, h, w, simd::strip_for(w), streaming);
        return;
    }
    update_portable(next, cur, h, w);
}

/// Which kernel [`update`] runs: `"avx512"` or `"portable"`.
pub fn name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if simd::available() {
        return "avx512";
    }
    "portable"
}

/// STREAM's `scale` (`dst = q * src`) with streaming stores where the AVX-512
/// kernel runs (ordinary stores otherwise): the roof of that kernel.
pub fn scale_streaming(dst: &mut [f64], src: &[f64], q: f64) {
    #[cfg(target_arch = "x86_64")]
    if simd::available() {
        return simd::scale_streaming(dst, src, q);
    }
    for (x, y) in dst.iter_mut().zip(src) {
        *x = q * *y;
    }
}

/// The portable kernel: plain Rust that the compiler vectorises for the
/// baseline target (SSE2 on x86-64). Panics like [`update`].
pub fn update_portable(next: &mut [f64], cur: &[f64], h: usize, w: usize) {
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

/// The AVX-512 kernel. Three measures against the limits found in
/// `docs/perf.md` (v0.5), each bitwise neutral (same operations, same order,
/// no FMA):
///
/// * Column strips of `strip_for` columns (8 KiB of each row): the rows
///   above, at and below the output row of one strip (24 KiB) stay in L1,
///   so each input point is read from L2 or memory once instead of three
///   times.
/// * A software prefetch one strip-row ahead of the row below: the hardware
///   prefetchers lose the stream at every strip-row's jump, which made plain
///   strips slower than whole rows.
/// * Non-temporal (streaming) stores for blocks too large to stay in cache:
///   the output line is not read before it is written (no write-allocate),
///   16 instead of 24 bytes of memory traffic per point. For blocks that fit
///   in cache they would push the next iteration's input out to memory, so
///   smaller blocks use ordinary stores.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod simd {
    use super::WEIGHT;
    use std::arch::x86_64::*;

    /// Blocks of at least this many bytes use streaming stores (a quarter
    /// of the 32 MiB L3 of the development machine).
    pub const STREAM_MIN_BYTES: usize = 8 << 20;

    /// Columns per strip: whole rows when they are short enough for three to
    /// stay in L1, otherwise strips of 1024 (found best by experiment among
    /// 512-2048).
    pub fn strip_for(w: usize) -> usize {
        if w <= 1536 {
            w.max(1)
        } else {
            1024
        }
    }

    /// Whether this processor runs the kernel (checked once) and the user
    /// did not ask for the portable one.
    pub fn available() -> bool {
        static AVAILABLE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *AVAILABLE.get_or_init(|| {
            std::env::var("CHARE_STENCIL_KERNEL").map_or(true, |v| v != "portable")
                && is_x86_feature_detected!("avx512f")
        })
    }

    /// [`super::update`] by strips of `strip` columns, with streaming stores
    /// if `streaming`. The caller checked the slice lengths.
    pub fn update(next: &mut [f64], cur: &[f64], h: usize, w: usize, strip: usize, streaming: bool) {
        assert!(available() && strip > 0);
        // Checked: with wrapping arithmetic a huge `w` could make a wrong
        // size look right, and `sweep` trusts it.
        let len = h.checked_add(2).zip(w.checked_add(2)).and_then(|(a, b)| a.checked_mul(b));
        assert!(len == Some(cur.len()) && next.len() == cur.len(), "not a ({h}+2) x ({w}+2) block");
        // SAFETY: AVX-512F is present (`available`), and the lengths of both
        // slices are those `sweep` requires (asserted above).
        unsafe { sweep(next, cur, h, w, strip, streaming) }
    }

    /// `dst = q * src` with streaming stores (over the shorter length).
    pub fn scale_streaming(dst: &mut [f64], src: &[f64], q: f64) {
        assert!(available());
        let n = dst.len().min(src.len());
        // SAFETY: AVX-512F is present; `n` is within both slices.
        unsafe { scale_nt(dst.as_mut_ptr(), src.as_ptr(), n, q) }
    }

    /// # Safety
    /// AVX-512F is present; `dst` and `src` have `n` elements.
    #[target_feature(enable = "avx512f")]
    unsafe fn scale_nt(dst: *mut f64, src: *const f64, n: usize, q: f64) {
        let v = _mm512_set1_pd(q);
        let mut j = 0;
        while j < n && !(dst.wrapping_add(j) as usize).is_multiple_of(64) {
            // SAFETY: j < n.
            unsafe { *dst.add(j) = q * *src.add(j) };
            j += 1;
        }
        while j + 8 <= n {
            // SAFETY: j + 8 <= n; `dst + j` is 64-byte aligned (loop above).
            unsafe { _mm512_stream_pd(dst.add(j), _mm512_mul_pd(_mm512_loadu_pd(src.add(j)), v)) };
            j += 8;
        }
        while j < n {
            // SAFETY: j < n.
            unsafe { *dst.add(j) = q * *src.add(j) };
            j += 1;
        }
        _mm_sfence();
    }

    /// One point, in the kernel's order of operations.
    #[inline(always)]
    fn point(up: f64, down: f64, left: f64, right: f64, centre: f64) -> f64 {
        ((((up + down) + left) + right) + centre) * WEIGHT
    }

    /// # Safety
    /// The processor has AVX-512F; `cur` and `next` are `(h + 2) * (w + 2)`
    /// long; `strip > 0`.
    #[target_feature(enable = "avx512f")]
    unsafe fn sweep(next: &mut [f64], cur: &[f64], h: usize, w: usize, strip: usize, streaming: bool) {
        let s = w + 2;
        let q = _mm512_set1_pd(WEIGHT);
        let (out, inp) = (next.as_mut_ptr(), cur.as_ptr());
        let mut c0 = 0;
        while c0 < w {
            let c1 = (c0 + strip).min(w);
            let width = c1 - c0;
            for i in 1..=h {
                // Invariant for the whole row: every index below is
                // row-start + j (+2) with j < c1 <= w, i.e. inside rows
                // i - 1, i, i + 1 (<= h + 1) of a (h + 2) x s block.
                // SAFETY: row i (<= h) of `next`, row i - 1 and i + 1 (<= h + 1) of `cur`.
                let (o, u, m, d) =
                    unsafe { (out.add(i * s + 1), inp.add((i - 1) * s + 1), inp.add(i * s), inp.add((i + 1) * s + 1)) };
                // SAFETY: called with c0 <= j < c1 only: indices as in the invariant above.
                let scalar = |j: usize| unsafe {
                    *o.add(j) = point(*u.add(j), *d.add(j), *m.add(j), *m.add(j + 2), *m.add(j + 1));
                };
                let mut j = c0;
                // Streaming stores need 64-byte aligned addresses.
                while j < c1 && streaming && !(o.wrapping_add(j) as usize).is_multiple_of(64) {
                    scalar(j);
                    j += 1;
                }
                while j + 8 <= c1 {
                    // The same column one strip-row later (wrapping: a
                    // prefetch never faults, and past the block it is only
                    // wasted). Written with a division although it equals
                    // `s + j`: that form measured 20 % slower (2,365-2,396
                    // vs 2,889-2,961 Mpoints/s at 4096 x 4096; so did `s + j
                    // + 8`, `s + j + 16` and `2 * s + j`), presumably because
                    // the division paces the loop; not understood further.
                    let ahead = j - c0 + width;
                    let p = d.wrapping_add((ahead / width) * s + c0 + ahead % width);
                    _mm_prefetch::<_MM_HINT_T0>(p as *const i8);
                    // SAFETY: j + 8 <= c1 <= w: eight points inside the rows.
                    unsafe {
                        let a = _mm512_add_pd(_mm512_loadu_pd(u.add(j)), _mm512_loadu_pd(d.add(j)));
                        let a = _mm512_add_pd(a, _mm512_loadu_pd(m.add(j)));
                        let a = _mm512_add_pd(a, _mm512_loadu_pd(m.add(j + 2)));
                        let a = _mm512_add_pd(a, _mm512_loadu_pd(m.add(j + 1)));
                        let v = _mm512_mul_pd(a, q);
                        if streaming {
                            _mm512_stream_pd(o.add(j), v);
                        } else {
                            _mm512_storeu_pd(o.add(j), v);
                        }
                    }
                    j += 8;
                }
                while j < c1 {
                    scalar(j);
                    j += 1;
                }
            }
            c0 = c1;
        }
        if streaming {
            // Streaming stores are weakly ordered: make them visible before
            // anything that follows (halo packing, other threads).
            _mm_sfence();
        }
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

    /// The AVX-512 kernel (where the processor has it) with every strip
    /// width and store kind, against the naive loop, on shapes that cover
    /// unaligned heads, vector bodies, tails, several strips and a last
    /// partial strip.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn simd_kernel_is_bitwise_equal_to_the_naive_one() {
        if !is_x86_feature_detected!("avx512f") {
            eprintln!("no AVX-512F here: the SIMD kernel is not exercised");
            return;
        }
        for (h, w) in [(1, 1), (3, 7), (2, 9), (5, 17), (9, 64), (4, 130), (6, 1000), (3, 2500)] {
            for strip in [1, 7, 8, 24, 1024] {
                for streaming in [false, true] {
                    let cur = noise((h + 2) * (w + 2), (h * 7919 + w) as u64 + 3);
                    let init = noise(cur.len(), 5);
                    let (mut fast, mut slow) = (init.clone(), init.clone());
                    simd::update(&mut fast, &cur, h, w, strip, streaming);
                    update_naive(&mut slow, &cur, h, w);
                    let same = fast.iter().zip(&slow).all(|(a, b)| a.to_bits() == b.to_bits());
                    assert!(same, "{h} x {w}, strip {strip}, streaming {streaming}");
                }
            }
        }
    }

    #[test]
    fn portable_kernel_is_bitwise_equal_to_the_naive_one() {
        let (h, w) = (13, 301);
        let cur = noise((h + 2) * (w + 2), 11);
        let (mut fast, mut slow) = (vec![0.0; cur.len()], vec![0.0; cur.len()]);
        update_portable(&mut fast, &cur, h, w);
        update_naive(&mut slow, &cur, h, w);
        assert!(fast.iter().zip(&slow).all(|(a, b)| a.to_bits() == b.to_bits()));
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

    /// Sizes whose product wraps around are refused, never computed on.
    #[test]
    #[should_panic]
    fn sizes_that_overflow_panic() {
        update(&mut [], &[], 1, usize::MAX - 1);
    }

    #[test]
    #[should_panic(expected = "not a")]
    fn wrong_size_panics() {
        let mut a = vec![0.0; 10];
        update(&mut a.clone(), &a, 3, 3);
        boundary(&mut a, 3, 3);
    }
}
