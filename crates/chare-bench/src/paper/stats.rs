//! Medians and their confidence intervals, as every figure of the report
//! gives them.
//!
//! # Method
//! A figure is the **median** of the repeated measurements of one point (the
//! mean of the two middle values for an even count). Its uncertainty is a
//! **percentile bootstrap** interval: the samples are resampled with
//! replacement `resamples` times (10,000 by default), the median of every
//! resample is taken, and the interval runs from the `(1 - confidence) / 2`
//! to the `(1 + confidence) / 2` quantile of those medians (99% by default,
//! the paper's level). A quantile is an order statistic of the sorted
//! resample medians: the lower end is the one at index
//! `floor(B * (1 - confidence) / 2)`, the upper end the one at index
//! `ceil(B * (1 + confidence) / 2) - 1` (clamped to the range), with `B`
//! resamples. The resampling uses a fixed-seed generator (SplitMix64), so a
//! report built twice from the same data prints the same intervals.
//!
//! A **ratio of two medians** (`a / b`, two independent sets of samples) has
//! its interval from the same bootstrap: each of the `B` rounds resamples `a`
//! and `b` independently and records the ratio of their medians.
//!
//! With one sample the interval is that sample (the data say nothing about
//! the spread; [`Estimate::n`] tells the reader); for constant data it is
//! degenerate as well.

use std::fmt;

/// Why a statistic cannot be computed.
#[derive(Debug, Clone, PartialEq)]
pub enum StatsError {
    /// No samples.
    Empty,
    /// A sample is NaN or infinite.
    NotFinite(f64),
    /// The denominator of a ratio has median zero.
    ZeroDenominator,
    /// `confidence` outside (0, 1) or zero resamples.
    BadConfig(String),
}

impl fmt::Display for StatsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StatsError::Empty => write!(f, "no samples"),
            StatsError::NotFinite(v) => write!(f, "sample {v} is not a finite number"),
            StatsError::ZeroDenominator => write!(f, "the denominator's median is zero"),
            StatsError::BadConfig(m) => write!(f, "bad bootstrap configuration: {m}"),
        }
    }
}

impl std::error::Error for StatsError {}

/// How a bootstrap interval is computed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bootstrap {
    /// Resamples drawn (B).
    pub resamples: usize,
    /// Coverage of the interval, in (0, 1).
    pub confidence: f64,
    /// Seed of the generator: the same data and seed give the same interval.
    pub seed: u64,
}

impl Default for Bootstrap {
    /// 10,000 resamples, 99%, a fixed seed.
    fn default() -> Self {
        Bootstrap { resamples: 10_000, confidence: 0.99, seed: 0x5eed_c4a2_e000_0099 }
    }
}

impl Bootstrap {
    fn check(&self) -> Result<(), StatsError> {
        if self.resamples == 0 {
            return Err(StatsError::BadConfig("zero resamples".into()));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(StatsError::BadConfig(format!("confidence {} is not in (0, 1)", self.confidence)));
        }
        Ok(())
    }

    /// The indices of the interval's ends among `b` sorted resample values.
    fn quantile_indices(&self, b: usize) -> (usize, usize) {
        let tail = (1.0 - self.confidence) / 2.0;
        let lo = (b as f64 * tail).floor() as usize;
        let hi = ((b as f64 * (1.0 - tail)).ceil() as usize).saturating_sub(1);
        (lo.min(b - 1), hi.clamp(lo.min(b - 1), b - 1))
    }
}

/// A median with its confidence interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    /// The median of the samples (or the ratio of two medians).
    pub value: f64,
    /// Lower end of the interval.
    pub lo: f64,
    /// Upper end of the interval.
    pub hi: f64,
    /// Samples behind the value (for a ratio, the smaller of the two counts).
    pub n: usize,
}

impl Estimate {
    /// An estimate without spread: one measurement, or a number read from a
    /// table that kept only the median.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn exact(value: f64) -> Estimate {
        Estimate { value, lo: value, hi: value, n: 1 }
    }

    /// Half the interval's width relative to the value (0 for a degenerate
    /// interval, infinite for a zero value with spread).
    pub fn relative_half_width(&self) -> f64 {
        let w = (self.hi - self.lo) / 2.0;
        if w == 0.0 {
            0.0
        } else {
            w / self.value.abs()
        }
    }

    /// Whether `x` lies inside the interval (ends included).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn covers(&self, x: f64) -> bool {
        self.lo <= x && x <= self.hi
    }
}

/// Rejects empty or non-finite samples.
fn check_samples(xs: &[f64]) -> Result<(), StatsError> {
    if xs.is_empty() {
        return Err(StatsError::Empty);
    }
    match xs.iter().find(|v| !v.is_finite()) {
        Some(&v) => Err(StatsError::NotFinite(v)),
        None => Ok(()),
    }
}

/// The median of `xs` reordering `xs` in place (mean of the two middle
/// values for an even count); `xs` is not empty.
fn median_in_place(xs: &mut [f64]) -> f64 {
    let n = xs.len();
    let mid = n / 2;
    let (left, m, _) = xs.select_nth_unstable_by(mid, f64::total_cmp);
    let upper = *m;
    if n % 2 == 1 {
        upper
    } else {
        let lower = left.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (lower + upper) / 2.0
    }
}

/// The median of `xs`: the middle value, or the mean of the two middle values
/// for an even count.
pub fn median(xs: &[f64]) -> Result<f64, StatsError> {
    check_samples(xs)?;
    Ok(median_in_place(&mut xs.to_vec()))
}

/// The median of `xs` with its percentile-bootstrap interval (see the module
/// documentation).
pub fn median_ci(xs: &[f64], cfg: &Bootstrap) -> Result<Estimate, StatsError> {
    check_samples(xs)?;
    cfg.check()?;
    let value = median(xs)?;
    if xs.iter().all(|&v| v == xs[0]) {
        return Ok(Estimate { value, lo: value, hi: value, n: xs.len() });
    }
    let mut rng = SplitMix64::new(cfg.seed);
    let mut buf = vec![0.0; xs.len()];
    let mut medians: Vec<f64> = (0..cfg.resamples).map(|_| resample_median(xs, &mut buf, &mut rng)).collect();
    let (lo, hi) = interval(&mut medians, cfg);
    Ok(Estimate { value, lo, hi, n: xs.len() })
}

/// The ratio of the medians of `num` and `den` (independent samples) with
/// its percentile-bootstrap interval: every round resamples both sets.
pub fn ratio_ci(num: &[f64], den: &[f64], cfg: &Bootstrap) -> Result<Estimate, StatsError> {
    check_samples(num)?;
    check_samples(den)?;
    cfg.check()?;
    let d = median(den)?;
    if d == 0.0 {
        return Err(StatsError::ZeroDenominator);
    }
    let value = median(num)? / d;
    let n = num.len().min(den.len());
    let constant = |xs: &[f64]| xs.iter().all(|&v| v == xs[0]);
    if constant(num) && constant(den) {
        return Ok(Estimate { value, lo: value, hi: value, n });
    }
    let mut rng = SplitMix64::new(cfg.seed);
    let (mut bn, mut bd) = (vec![0.0; num.len()], vec![0.0; den.len()]);
    let mut ratios = Vec::with_capacity(cfg.resamples);
    for _ in 0..cfg.resamples {
        let a = resample_median(num, &mut bn, &mut rng);
        let b = resample_median(den, &mut bd, &mut rng);
        // A resample whose denominator is zero has an infinite ratio; it
        // sorts to one end and, being rare, only widens that end.
        ratios.push(if b == 0.0 { f64::INFINITY.copysign(a) } else { a / b });
    }
    let (lo, hi) = interval(&mut ratios, cfg);
    Ok(Estimate { value, lo, hi, n })
}

/// One bootstrap resample of `xs` into `buf`, and its median.
fn resample_median(xs: &[f64], buf: &mut [f64], rng: &mut SplitMix64) -> f64 {
    for slot in buf.iter_mut() {
        *slot = xs[rng.below(xs.len())];
    }
    median_in_place(buf)
}

/// The percentile interval of the bootstrap values `v` (sorted in place).
fn interval(v: &mut [f64], cfg: &Bootstrap) -> (f64, f64) {
    v.sort_unstable_by(f64::total_cmp);
    let (lo, hi) = cfg.quantile_indices(v.len());
    (v[lo], v[hi])
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a small, fast generator whose
/// whole state is one seed: reproducible resampling.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform integer in `0..n` (`n > 0`), by the multiply-high
    /// reduction (bias below n / 2^64: nil for sample counts).
    pub fn below(&mut self, n: usize) -> usize {
        ((self.next_u64() as u128 * n as u128) >> 64) as usize
    }

    /// A uniform number in [0, 1) with 53 random bits.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fewer resamples than the report uses, to keep the repeated
    /// experiments quick in a debug build.
    fn quick(seed: u64) -> Bootstrap {
        Bootstrap { resamples: 2_000, seed, ..Bootstrap::default() }
    }

    fn uniform(rng: &mut SplitMix64, n: usize, lo: f64, hi: f64) -> Vec<f64> {
        (0..n).map(|_| lo + (hi - lo) * rng.unit()).collect()
    }

    /// Box-Muller normal samples.
    fn normal(rng: &mut SplitMix64, n: usize, mu: f64, sigma: f64) -> Vec<f64> {
        (0..n)
            .map(|_| {
                let u1 = 1.0 - rng.unit();
                let u2 = rng.unit();
                mu + sigma * (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
            })
            .collect()
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0]), Ok(3.0));
        assert_eq!(median(&[3.0, 1.0, 2.0]), Ok(2.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Ok(2.5));
        assert_eq!(median(&[2.0, 1.0]), Ok(1.5));
        assert_eq!(median(&[5.0, -1.0, 5.0, 7.0, 0.0]), Ok(5.0));
    }

    #[test]
    fn empty_and_non_finite_input_are_errors() {
        assert_eq!(median(&[]), Err(StatsError::Empty));
        assert_eq!(median_ci(&[], &Bootstrap::default()), Err(StatsError::Empty));
        assert_eq!(ratio_ci(&[1.0], &[], &Bootstrap::default()), Err(StatsError::Empty));
        assert!(matches!(median(&[1.0, f64::NAN]), Err(StatsError::NotFinite(_))));
        assert!(matches!(median_ci(&[f64::INFINITY], &Bootstrap::default()), Err(StatsError::NotFinite(_))));
        assert_eq!(ratio_ci(&[1.0], &[0.0, 0.0, 1.0], &Bootstrap::default()), Err(StatsError::ZeroDenominator));
        let bad = Bootstrap { confidence: 1.0, ..Bootstrap::default() };
        assert!(matches!(median_ci(&[1.0, 2.0], &bad), Err(StatsError::BadConfig(_))));
        let bad = Bootstrap { resamples: 0, ..Bootstrap::default() };
        assert!(matches!(median_ci(&[1.0, 2.0], &bad), Err(StatsError::BadConfig(_))));
    }

    #[test]
    fn constant_data_and_single_samples_give_degenerate_intervals() {
        let e = median_ci(&[4.5; 17], &Bootstrap::default()).unwrap();
        assert_eq!(e, Estimate { value: 4.5, lo: 4.5, hi: 4.5, n: 17 });
        assert_eq!(e.relative_half_width(), 0.0);
        let e = median_ci(&[2.0], &Bootstrap::default()).unwrap();
        assert_eq!((e.lo, e.value, e.hi, e.n), (2.0, 2.0, 2.0, 1));
        let r = ratio_ci(&[6.0; 3], &[2.0; 5], &Bootstrap::default()).unwrap();
        assert_eq!(r, Estimate { value: 3.0, lo: 3.0, hi: 3.0, n: 3 });
    }

    #[test]
    fn interval_brackets_the_median_and_is_reproducible() {
        let mut rng = SplitMix64::new(1);
        let xs = normal(&mut rng, 31, 10.0, 2.0);
        let a = median_ci(&xs, &Bootstrap::default()).unwrap();
        let b = median_ci(&xs, &Bootstrap::default()).unwrap();
        assert_eq!(a, b, "same data and seed, same interval");
        assert!(a.lo < a.value && a.value < a.hi, "{a:?}");
        let min = xs.iter().copied().fold(f64::INFINITY, f64::min);
        let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        assert!(min <= a.lo && a.hi <= max, "{a:?}");
    }

    /// Repeated experiments: the 99% interval covers the true median in
    /// about 99% of them.
    fn coverage(draw: impl Fn(&mut SplitMix64) -> Vec<f64>, truth: f64) -> usize {
        let mut rng = SplitMix64::new(0xc0ffee);
        (0..200u64).filter(|&k| median_ci(&draw(&mut rng), &quick(k)).unwrap().covers(truth)).count()
    }

    #[test]
    fn ci_covers_the_true_median_about_99_percent_of_the_time() {
        // Uniform(2, 6): median 4. Normal(10, 3): median 10. Odd and even n.
        for n in [25, 40] {
            let u = coverage(|r| uniform(r, n, 2.0, 6.0), 4.0);
            let g = coverage(|r| normal(r, n, 10.0, 3.0), 10.0);
            // Expected about 198 of 200; a binomial with p = 0.99 falls
            // below 192 with probability ~1e-3; the percentile interval of
            // a median is slightly conservative for small n, so no upper
            // bound below 200.
            assert!(u >= 192, "uniform n={n}: covered {u} of 200");
            assert!(g >= 192, "normal n={n}: covered {g} of 200");
        }
    }

    #[test]
    fn ci_shrinks_as_n_grows() {
        let mut rng = SplitMix64::new(7);
        let widths: Vec<f64> = [10, 100, 1000]
            .iter()
            .map(|&n| {
                let e = median_ci(&normal(&mut rng, n, 0.0, 1.0), &quick(3)).unwrap();
                e.hi - e.lo
            })
            .collect();
        assert!(widths[0] > widths[1] && widths[1] > widths[2], "{widths:?}");
        // Roughly 1/sqrt(n): a tenfold n narrows it about 3.2 times.
        assert!(widths[1] / widths[2] > 2.0, "{widths:?}");
    }

    #[test]
    fn ratio_of_medians_with_interval() {
        let mut rng = SplitMix64::new(11);
        let a = normal(&mut rng, 50, 20.0, 1.0);
        let b = normal(&mut rng, 50, 10.0, 0.5);
        let r = ratio_ci(&a, &b, &Bootstrap::default()).unwrap();
        assert!((r.value - median(&a).unwrap() / median(&b).unwrap()).abs() < 1e-12);
        assert!(r.covers(2.0), "{r:?}");
        assert!(r.lo < r.value && r.value < r.hi && r.hi - r.lo < 0.5, "{r:?}");
        assert_eq!(r, ratio_ci(&a, &b, &Bootstrap::default()).unwrap());
        // The ratio's coverage in repeated experiments.
        let mut rng = SplitMix64::new(12);
        let covered = (0..200u64)
            .filter(|&k| {
                let a = uniform(&mut rng, 30, 0.0, 8.0);
                let b = uniform(&mut rng, 30, 0.0, 2.0);
                ratio_ci(&a, &b, &quick(k)).unwrap().covers(4.0)
            })
            .count();
        assert!(covered >= 190, "covered {covered} of 200");
    }

    #[test]
    fn quantile_indices() {
        let c = Bootstrap::default();
        assert_eq!(c.quantile_indices(10_000), (50, 9949));
        assert_eq!(c.quantile_indices(1), (0, 0));
        let c = Bootstrap { confidence: 0.5, ..c };
        assert_eq!(c.quantile_indices(4), (1, 2));
    }

    #[test]
    fn generator_is_uniform_enough() {
        let mut rng = SplitMix64::new(42);
        let mut counts = [0usize; 10];
        for _ in 0..100_000 {
            counts[rng.below(10)] += 1;
        }
        assert!(counts.iter().all(|&c| (9_500..10_500).contains(&c)), "{counts:?}");
        assert_eq!(SplitMix64::new(5).next_u64(), SplitMix64::new(5).next_u64());
    }
}
