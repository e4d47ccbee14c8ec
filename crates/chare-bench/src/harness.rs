//! What the benchmarks share around their timed loops: starting a job on the
//! chare runtime, the per-rank result of a job (under mpirun only rank 0
//! reports), keeping a received buffer alive, and the medians over
//! repetitions.

use std::hint::black_box;

use chare::{Config, Layer, Rt, Runtime};

/// What one process of a job has to report. Under an MPI launcher every rank
/// runs the model, but only rank 0 (the root) collects the results and
/// prints; the others take part and print nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RankResult<T> {
    /// The root process, with the results.
    Root(T),
    /// Another rank of an MPI job: no results.
    NotRoot,
}

impl<T> RankResult<T> {
    /// `Root(value)` on rank 0, `NotRoot` elsewhere (the rsmpi models).
    #[cfg_attr(not(feature = "mpi"), allow(dead_code))]
    pub fn on_rank(rank: usize, value: T) -> Self {
        if rank == 0 {
            RankResult::Root(value)
        } else {
            RankResult::NotRoot
        }
    }

    /// Applies `f` to the root's results.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> RankResult<U> {
        match self {
            RankResult::Root(v) => RankResult::Root(f(v)),
            RankResult::NotRoot => RankResult::NotRoot,
        }
    }

    /// The root's results, `None` on another rank.
    pub fn root(self) -> Option<T> {
        match self {
            RankResult::Root(v) => Some(v),
            RankResult::NotRoot => None,
        }
    }
}

/// Runs `body` as the main task of a chare runtime job and returns its
/// value. The environment decides the layer (`mpi` under mpirun) and the
/// idle policy; on the local layer `pes` decides the PE count. On the MPI
/// layer only rank 0 runs the main task: the other ranks return
/// [`RankResult::NotRoot`].
pub fn run_chare_job<T: Send + 'static>(
    pes: usize,
    body: impl FnOnce(Rt) -> std::pin::Pin<Box<dyn std::future::Future<Output = T>>> + 'static,
) -> Result<RankResult<T>, String> {
    let out = std::rc::Rc::new(std::cell::RefCell::new(None));
    let out2 = out.clone();
    let mut cfg = Config::from_env().map_err(|e| e.0)?;
    if cfg.layer == Layer::Local {
        let env = cfg;
        cfg = Config::with_pes(pes);
        cfg.idle = env.idle;
    }
    let layer = cfg.layer;
    let r = Runtime::with_config(cfg).run(move |rt| async move {
        let v = body(rt).await;
        *out2.borrow_mut() = Some(v);
    });
    let v = out.borrow_mut().take();
    match (r, v) {
        (Ok(0), Some(v)) => Ok(RankResult::Root(v)),
        (Ok(0), None) if layer == Layer::Mpi => Ok(RankResult::NotRoot),
        (Ok(0), None) => Err("benchmark produced no result".to_string()),
        (Ok(code), _) => Err(format!("runtime exited with code {code}")),
        (Err(e), _) => Err(e.to_string()),
    }
}

/// Reads the first and last byte of a received message so that the receive
/// cannot be optimised away (the benchmarks' "touch").
#[inline]
pub fn touch(buf: &[u8]) {
    black_box((buf.first().copied(), buf.last().copied()));
}

/// Median of `values` (mean of the two middle values for an even count);
/// `NaN` for an empty slice.
pub fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Index of the median of `values`, the lower middle one for an even count:
/// the repetition to report when a whole run, not a number, is reported.
///
/// # Panics
/// If `values` is empty.
pub fn median_index(values: &[f64]) -> usize {
    assert!(!values.is_empty(), "median_index of no values");
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    order[(order.len() - 1) / 2]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0]), 3.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[2.0, 1.0]), 1.5);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn median_index_picks_the_lower_middle() {
        assert_eq!(median_index(&[7.0]), 0);
        assert_eq!(median_index(&[5.0, 3.0, 4.0]), 2);
        assert_eq!(median_index(&[5.0, 3.0]), 1);
        assert_eq!(median_index(&[4.0, 1.0, 3.0, 2.0]), 3);
    }

    #[test]
    fn rank_results() {
        assert_eq!(RankResult::on_rank(0, 5), RankResult::Root(5));
        assert_eq!(RankResult::on_rank(1, 5), RankResult::NotRoot);
        assert_eq!(RankResult::Root(2).map(|v| v * 2).root(), Some(4));
        assert_eq!(RankResult::<i32>::NotRoot.map(|v| v * 2).root(), None);
    }

    #[test]
    fn chare_job_returns_the_main_task_value() {
        if std::env::var_os("OMPI_COMM_WORLD_SIZE").is_none() {
            let r = run_chare_job(2, |_rt| Box::pin(async { 42 }));
            assert_eq!(r, Ok(RankResult::Root(42)));
        }
    }
}
