//! `chare-bench stream`: a STREAM-like measurement of memory bandwidth
//! (McCalpin's copy, scale, add and triad), the roof of the stencil's
//! roofline (docs/perf.md).
//!
//! Each of `threads` threads (pinned to core `t mod cores`) owns three arrays
//! of `elements / threads` `f64`s, first touched by itself; every repetition
//! all threads start together (barrier), and the repetition's time is the
//! slowest thread's. The best repetition is reported, as STREAM does.
//!
//! Bytes are counted two ways:
//! * STREAM's convention (`mb_s`): bytes named by the kernel, 16 per element
//!   for copy and scale, 24 for add and triad;
//! * memory traffic (`traffic_mb_s`): plus the write-allocate read of every
//!   written line (one more 8 bytes per element), which a regular store
//!   costs. `copy` is a `memcpy` (the compiler recognises the loop), which
//!   for arrays this large may use non-temporal stores without the
//!   write-allocate, so its traffic figure may overstate; `scale` is
//!   the one with the stencil's access pattern (read one stream, write one
//!   with regular stores).
//!
//! The stencil's roof: it reads one `f64` and writes one per point (24
//! bytes of traffic), exactly like `scale`, so its best possible rate in
//! points per second is `scale`'s elements per second. A fifth kernel,
//! `scale-nt`, is `scale` with streaming (non-temporal) stores, which skip
//! the write-allocate (16 bytes of traffic per element): the roof of the
//! AVX-512 stencil kernel, which stores that way (measured only where the
//! processor has AVX-512F).

use crate::machine_info::MachineInfo;
use crate::report::{machine_lines, Format, Report};
use clap::Args;
use std::hint::black_box;
use std::sync::{Arc, Barrier};
use std::time::Instant;

/// Options of `chare-bench stream`.
#[derive(Debug, Clone, Args)]
pub struct StreamArgs {
    /// Elements (f64) per array, over all threads; default 2^25 (256 MiB
    /// per array), far beyond any cache.
    #[arg(long, default_value_t = 1 << 25)]
    pub elements: usize,
    /// Threads, each on its own core and its own part of the arrays.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Repetitions of each kernel; the best is reported.
    #[arg(long, default_value_t = 10)]
    pub reps: usize,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

/// The kernels, in STREAM's order, with STREAM's bytes per element, then
/// `scale-nt`.
pub const KERNELS: [(&str, usize); 5] = [("copy", 16), ("scale", 16), ("add", 24), ("triad", 24), ("scale-nt", 16)];

/// Best time of each kernel, seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamResult {
    /// Kernel name.
    pub kernel: &'static str,
    /// STREAM's bytes per element.
    pub bytes: usize,
    /// Best repetition, seconds.
    pub best_s: f64,
}

impl StreamResult {
    /// Bandwidth in STREAM's convention, 10^6 bytes per second.
    pub fn mb_s(&self, elements: usize) -> f64 {
        (self.bytes * elements) as f64 / self.best_s / 1e6
    }
    /// Memory traffic including the write-allocate read of the output
    /// (none for the streaming stores of `scale-nt`).
    pub fn traffic_mb_s(&self, elements: usize) -> f64 {
        let allocate = if self.kernel == "scale-nt" { 0 } else { 8 };
        ((self.bytes + allocate) * elements) as f64 / self.best_s / 1e6
    }
    /// Elements per second.
    pub fn elements_per_s(&self, elements: usize) -> f64 {
        elements as f64 / self.best_s
    }
}

fn run_kernel(k: usize, a: &mut [f64], b: &mut [f64], c: &mut [f64]) {
    const Q: f64 = 3.0;
    match k {
        0 => {
            for (x, y) in c.iter_mut().zip(a.iter()) {
                *x = *y;
            }
        }
        1 => {
            for (x, y) in b.iter_mut().zip(c.iter()) {
                *x = Q * *y;
            }
        }
        2 => {
            for ((x, y), z) in c.iter_mut().zip(a.iter()).zip(b.iter()) {
                *x = *y + *z;
            }
        }
        3 => {
            for ((x, y), z) in a.iter_mut().zip(b.iter()).zip(c.iter()) {
                *x = *y + Q * *z;
            }
        }
        _ => crate::stencil::kernel::scale_streaming(b, c, Q),
    }
    black_box((&a[..1], &b[..1], &c[..1]));
}

/// Measures all kernels: `elements` per array over `threads` threads.
pub fn measure(elements: usize, threads: usize, reps: usize) -> Vec<StreamResult> {
    assert!(threads >= 1 && reps >= 1 && elements >= threads);
    let per = elements / threads;
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let barrier = barrier.clone();
            let core = (!cores.is_empty() && threads <= cores.len()).then(|| cores[t % cores.len()]);
            std::thread::spawn(move || {
                if let Some(c) = core {
                    core_affinity::set_for_current(c);
                }
                let (mut a, mut b, mut c) = (vec![1.0f64; per], vec![2.0f64; per], vec![0.0f64; per]);
                let mut times = vec![[f64::INFINITY; KERNELS.len()]; reps];
                for rep in times.iter_mut() {
                    for (k, slot) in rep.iter_mut().enumerate() {
                        barrier.wait();
                        let t0 = Instant::now();
                        run_kernel(k, &mut a, &mut b, &mut c);
                        *slot = t0.elapsed().as_secs_f64();
                    }
                }
                times
            })
        })
        .collect();
    let per_thread: Vec<Vec<[f64; KERNELS.len()]>> =
        handles.into_iter().map(|h| h.join().expect("stream thread")).collect();
    KERNELS
        .iter()
        .enumerate()
        .filter(|&(_, &(kernel, _))| kernel != "scale-nt" || crate::stencil::kernel::name() == "avx512")
        .map(|(k, &(kernel, bytes))| {
            // A repetition lasts as long as its slowest thread; the best one counts.
            let best_s =
                (0..reps).map(|r| per_thread.iter().map(|t| t[r][k]).fold(0.0, f64::max)).fold(f64::INFINITY, f64::min);
            StreamResult { kernel, bytes, best_s }
        })
        .collect()
}

/// Runs `chare-bench stream` and builds its report.
pub fn report(a: &StreamArgs, command: String, machine: &MachineInfo) -> Result<Report, String> {
    if a.threads == 0 || a.reps == 0 {
        return Err("--threads and --reps must be at least 1".into());
    }
    if a.elements < a.threads * 1024 {
        return Err(format!("--elements must be at least 1024 per thread ({})", a.threads * 1024));
    }
    if a.elements > 1 << 31 {
        return Err("--elements is above the limit of 2^31".into());
    }
    let elements = a.elements / a.threads * a.threads;
    let results = measure(elements, a.threads, a.reps);
    let scale = &results[1];
    Ok(Report {
        header: [
            "chare-bench stream (STREAM-like memory bandwidth)".into(),
            format!("command: {command}"),
            format!("elements: {elements} f64 per array ({:.0} MiB), 3 arrays", elements as f64 * 8.0 / (1 << 20) as f64),
            format!("threads: {} (pinned, each its own part)", a.threads),
            format!("reps: {} (best reported)", a.reps),
        ]
        .into_iter()
        .chain(machine_lines(machine, None))
        .chain(["mb_s: STREAM's convention (copy/scale 16 B, add/triad 24 B per element); traffic_mb_s: plus the write-allocate read (8 B)".into()])
        .collect(),
        columns: vec!["kernel", "best_s", "mb_s", "traffic_mb_s", "melements_per_s"],
        rows: results
            .iter()
            .map(|r| {
                vec![
                    r.kernel.to_string(),
                    format!("{:.6}", r.best_s),
                    format!("{:.1}", r.mb_s(elements)),
                    format!("{:.1}", r.traffic_mb_s(elements)),
                    format!("{:.1}", r.elements_per_s(elements) / 1e6),
                ]
            })
            .collect(),
        footer: std::iter::once(format!(
            "stencil roof: {:.1} Mpoints/s (= scale's elements/s: 8 B read + 8 B written + 8 B write-allocate per point, {:.1} MB/s of traffic)",
            scale.elements_per_s(elements) / 1e6,
            scale.traffic_mb_s(elements)
        ))
        .chain(results.iter().find(|r| r.kernel == "scale-nt").map(|nt| {
            format!(
                "stencil roof with streaming stores (the avx512 kernel): {:.1} Mpoints/s (= scale-nt's elements/s: 8 B read + 8 B written per point, {:.1} MB/s of traffic)",
                nt.elements_per_s(elements) / 1e6,
                nt.traffic_mb_s(elements)
            )
        }))
        .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernels_compute_stream_values() {
        let (mut a, mut b, mut c) = (vec![1.0; 8], vec![2.0; 8], vec![0.0; 8]);
        run_kernel(0, &mut a, &mut b, &mut c); // c = a
        assert_eq!(c, vec![1.0; 8]);
        run_kernel(1, &mut a, &mut b, &mut c); // b = 3c
        assert_eq!(b, vec![3.0; 8]);
        run_kernel(2, &mut a, &mut b, &mut c); // c = a + b
        assert_eq!(c, vec![4.0; 8]);
        run_kernel(3, &mut a, &mut b, &mut c); // a = b + 3c
        assert_eq!(a, vec![15.0; 8]);
        let mut d = vec![0.0; 8];
        run_kernel(4, &mut a, &mut d, &mut c); // b = 3c, streaming where possible
        assert_eq!(d, vec![12.0; 8]);
        let r = measure(4096, 2, 2);
        assert_eq!(r.len(), if crate::stencil::kernel::name() == "avx512" { 5 } else { 4 });
        assert!(r.iter().all(|x| x.best_s > 0.0 && x.mb_s(4096) > 0.0));
    }
}
