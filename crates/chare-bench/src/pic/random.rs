//! The Parallel Research Kernels' random stream (`common/random_draw.c` of
//! ParRes/Kernels): a mixed linear congruential generator modulo 2^64 with
//! jump-ahead, and `random_draw(mu)`, the number of particles a cell gets.
//!
//! * Generator: `s <- a s + c (mod 2^64)` with `a = 6364136223846793005`,
//!   `c = 1442695040888963407`, starting from `s = 27182818285`. A draw
//!   advances the state, then reduces it modulo a bound.
//! * Jump: the state after `n` draws from the start, in `O(log n)`
//!   ([`Lcg::at`]). The PRK sums powers of `a` (`SUMK`); we square the affine
//!   map instead. Both are exact in arithmetic modulo 2^64, so the state is
//!   the same.
//! * `random_draw(mu)` ([`Lcg::draw`]) takes exactly two draws whatever
//!   `mu`:
//!   - `mu >= 1`: two uniforms `u = (s mod (2^64 - 1)) * 2^-64`, a
//!     Box-Muller normal `z = sqrt(-2 ln u0) cos(2 pi u1)`, and the count
//!     `floor(z * 0.15 mu + mu + 0.5)` (truncation toward zero, as the
//!     PRK's cast to an unsigned integer);
//!   - `mu < 1`: a Bernoulli draw: `numerator = (u32)(mu * (2^32 - 1))`,
//!     the first draw (modulo `2^32 - 1`) is discarded, the second one `i1`
//!     (modulo `2^32 - 1`) gives one particle when `i1 <= numerator`.
//!
//! The floating-point expressions are evaluated in the PRK's order with the
//! same library functions (`ln`, `cos`, `sqrt` of the system's libm), so a
//! count equals the PRK's own (a C build of the PRK that fuses multiply-adds,
//! `-ffp-contract=fast` on an FMA machine, may round differently).

/// The multiplier of the generator.
pub const LCG_A: u64 = 6364136223846793005;
/// The increment of the generator.
pub const LCG_C: u64 = 1442695040888963407;
/// The state the stream starts from (the PRK's `LCG_seed_init`).
pub const LCG_SEED: u64 = 27182818285;

/// `2 pi`, as the PRK spells it (`2.0*3.14159265358979323846`).
const TWO_PI: f64 = 2.0 * std::f64::consts::PI;
/// The PRK's `rand_div = 1.0/ULLONG_MAX`: `ULLONG_MAX` rounds to `2^64`.
const RAND_DIV: f64 = 1.0 / (u64::MAX as f64);
/// The PRK's `denominator = UINT_MAX` of the Bernoulli draw.
const DENOMINATOR: u64 = u32::MAX as u64;

/// A position in the random stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lcg {
    state: u64,
}

impl Default for Lcg {
    fn default() -> Self {
        Lcg::new()
    }
}

impl Lcg {
    /// The start of the stream (the PRK's `LCG_init`).
    pub fn new() -> Lcg {
        Lcg { state: LCG_SEED }
    }

    /// The stream after `n` draws from its start (the PRK's `LCG_jump(n)`).
    pub fn at(n: u64) -> Lcg {
        // The map s -> mul * s + add, raised to the power n by squaring.
        let (mut mul, mut add) = (1u64, 0u64);
        let (mut pm, mut pa) = (LCG_A, LCG_C);
        let mut rest = n;
        while rest != 0 {
            if rest & 1 == 1 {
                // (pm, pa) after (mul, add): s -> pm (mul s + add) + pa.
                mul = pm.wrapping_mul(mul);
                add = pm.wrapping_mul(add).wrapping_add(pa);
            }
            // The map composed with itself.
            pa = pm.wrapping_mul(pa).wrapping_add(pa);
            pm = pm.wrapping_mul(pm);
            rest >>= 1;
        }
        Lcg { state: mul.wrapping_mul(LCG_SEED).wrapping_add(add) }
    }

    /// The current state (the last value drawn, before any reduction).
    #[allow(dead_code)] // tests, and models that check their position
    pub fn state(&self) -> u64 {
        self.state
    }

    /// Advances one draw and returns the new state modulo `bound` (the
    /// PRK's `LCG_next`).
    #[inline]
    pub fn next(&mut self, bound: u64) -> u64 {
        self.state = LCG_A.wrapping_mul(self.state).wrapping_add(LCG_C);
        self.state % bound
    }

    /// The PRK's `random_draw(mu)`: how many particles a cell whose expected
    /// count is `mu` gets. Always advances the stream by two draws.
    #[inline]
    pub fn draw(&mut self, mu: f64) -> u64 {
        if mu >= 1.0 {
            // Standard deviation 15% of the mean.
            let sigma = mu * 0.15;
            let u0 = self.next(u64::MAX) as f64 * RAND_DIV;
            let u1 = self.next(u64::MAX) as f64 * RAND_DIV;
            let z0 = (-2.0 * u0.ln()).sqrt() * (TWO_PI * u1).cos();
            // `as` truncates toward zero like the PRK's cast, and saturates
            // where the cast would be undefined (a negative value, about
            // 1e-11 likely per draw: then no particle).
            (z0 * sigma + mu + 0.5) as u64
        } else {
            let numerator = (mu * DENOMINATOR as f64) as u32 as u64;
            let _ = self.next(DENOMINATOR); // drawn and discarded, as in the PRK
            let i1 = self.next(DENOMINATOR);
            u64::from(i1 <= numerator)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jump_lands_where_stepping_does() {
        let mut seq = Lcg::new();
        assert_eq!(Lcg::at(0), seq);
        for n in 1..=1000u64 {
            seq.next(u64::MAX);
            assert_eq!(Lcg::at(n), seq, "after {n} draws");
        }
        // Far jumps compose: at(a) then b steps == at(a + b).
        for (a, b) in [(123_456_789u64, 17u64), (u64::MAX - 5, 3), (1 << 40, 1)] {
            let mut s = Lcg::at(a);
            for _ in 0..b {
                s.next(u64::MAX);
            }
            assert_eq!(s, Lcg::at(a.wrapping_add(b)), "{a} + {b}");
        }
    }

    /// The state after the PRK's `LCG_jump(2*(123*5998+77))` (its
    /// `common/random_draw.c`, run).
    #[test]
    fn far_jump_matches_the_prk() {
        assert_eq!(Lcg::at(2 * (123 * 5998 + 77)).state(), 1137535516705311315);
    }

    #[test]
    fn first_states_follow_the_recurrence() {
        let mut s = Lcg::new();
        let first = LCG_A.wrapping_mul(LCG_SEED).wrapping_add(LCG_C);
        assert_eq!(s.next(u64::MAX), first);
        assert_eq!(s.state(), first);
        assert_eq!(s.next(1000), LCG_A.wrapping_mul(first).wrapping_add(LCG_C) % 1000);
    }

    #[test]
    fn every_draw_takes_two_numbers() {
        for mu in [0.0, 0.3, 0.999, 1.0, 7.5, 1e6] {
            let mut s = Lcg::at(10);
            s.draw(mu);
            assert_eq!(s, Lcg::at(12), "mu {mu}");
        }
    }

    #[test]
    fn draws_have_the_expected_mean() {
        for mu in [0.25, 3.0, 40.0] {
            let mut s = Lcg::new();
            let n = 100_000;
            let total: u64 = (0..n).map(|_| s.draw(mu)).sum();
            let mean = total as f64 / n as f64;
            assert!((mean - mu).abs() < 0.02 * mu.max(1.0), "mu {mu}: mean {mean}");
        }
        // Zero is (almost) never drawn: 2^-32 per cell.
        let mut s = Lcg::new();
        assert_eq!((0..10_000).map(|_| s.draw(0.0)).sum::<u64>(), 0);
    }
}
