//! The paper's published numbers, to print beside ours.
//!
//! Source: the evaluation of Fink, Liu, Choi, Diener, Kale, "Performance
//! Evaluation of Python Parallel Programming Models: Charm4Py and mpi4py"
//! (ESPM2 at SC21, arXiv 2111.04872), as transcribed in PAPER.md section 6
//! ("Results to compare with"). Values marked `~` there are read off the
//! paper's figures; they are kept here with `approximate: true`.

/// One published value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Value {
    /// The number.
    pub value: f64,
    /// Read off a figure (`~` in PAPER.md) rather than from a table.
    pub approximate: bool,
}

const fn v(value: f64) -> Value {
    Value { value, approximate: false }
}

const fn approx(value: f64) -> Value {
    Value { value, approximate: true }
}

/// A published table: columns and rows keyed by an x value (message size in
/// bytes, PE count).
#[derive(Debug, Clone, Copy)]
pub struct Published {
    /// What the table shows and where (machine, unit).
    pub caption: &'static str,
    /// Name of the x column.
    pub x_name: &'static str,
    /// Column names (models and placements).
    pub columns: &'static [&'static str],
    /// Rows: x and a value per column.
    pub rows: &'static [(f64, &'static [Value])],
}

impl Published {
    /// The value of `column` at `x`.
    pub fn get(&self, x: f64, column: &str) -> Option<Value> {
        let c = self.columns.iter().position(|n| *n == column)?;
        self.rows.iter().find(|(rx, _)| *rx == x).map(|(_, vs)| vs[c])
    }

    /// The x values of the rows.
    pub fn xs(&self) -> Vec<f64> {
        self.rows.iter().map(|(x, _)| *x).collect()
    }
}

const KIB: f64 = 1024.0;
const MIB: f64 = 1024.0 * 1024.0;

/// Latency, one-way µs, Stampede2 (PAPER.md section 6, first table).
pub const LATENCY: Published = Published {
    caption: "one-way latency, µs, TACC Stampede2 (Skylake)",
    x_name: "size_bytes",
    columns: &[
        "Charm4Py intra-socket",
        "Charm++ intra-socket",
        "Charm4Py inter-socket",
        "Charm++ inter-socket",
        "mpi4py inter-socket",
        "MPI inter-socket",
    ],
    rows: &[
        (16.0, &[v(13.65), v(4.56), v(29.74), v(7.23), v(1.65), v(0.88)]),
        (4.0 * KIB, &[v(14.99), v(5.38), v(31.82), v(7.99), v(3.22), v(2.07)]),
        (64.0 * KIB, &[v(29.65), v(19.96), v(59.04), v(19.59), v(8.25), v(6.47)]),
        (MIB, &[v(427.6), v(288.1), v(477.3), v(324.7), v(98.9), v(90.9)]),
        (4.0 * MIB, &[v(1856.7), v(1349.3), v(2162.0), v(1576.7), v(431.3), v(458.1)]),
    ],
};

/// Published ratios derived from [`LATENCY`] (the productive model over MPI,
/// same placement where the paper gives both).
pub const LATENCY_RATIOS: [(&str, &str, &str); 2] = [
    ("Charm4Py / mpi4py (inter-socket)", "Charm4Py inter-socket", "mpi4py inter-socket"),
    ("Charm++ / MPI (inter-socket)", "Charm++ inter-socket", "MPI inter-socket"),
];

/// Bandwidth, window 64, MB/s (PAPER.md section 6: given as peaks and
/// plateaus read off the figure).
pub const BANDWIDTH: Published = Published {
    caption: "bandwidth (window 64), MB/s, Stampede2: peaks and plateaus read off the figure",
    x_name: "size_bytes",
    columns: &["Charm4Py intra-socket", "MPI intra-socket", "MPI/mpi4py inter-node plateau"],
    rows: &[
        (128.0 * KIB, &[approx(4000.0), approx(f64::NAN), approx(f64::NAN)]),
        (256.0 * KIB, &[approx(f64::NAN), approx(16000.0), approx(f64::NAN)]),
        (4.0 * MIB, &[approx(1600.0), approx(f64::NAN), approx(12300.0)]),
    ],
};

/// The bandwidth statements as sentences (for the reading).
pub const BANDWIDTH_NOTES: &[&str] = &[
    "Charm4Py peaks at ~4.0 GB/s (128 KiB) intra-socket, then falls to ~1.6 GB/s",
    "MPI peaks at ~16 GB/s (256 KiB) intra-socket",
    "inter-node MPI and mpi4py plateau at ~12.3 GB/s",
];

/// GPU latency, intra-node, GPU-direct, one-way µs, Summit.
pub const GPU_LATENCY: Published = Published {
    caption: "GPU latency, intra-node, GPU-direct, one-way µs, OLCF Summit",
    x_name: "size_bytes",
    columns: &["Charm4Py", "Charm++", "mpi4py", "MPI"],
    rows: &[(16.0, &[v(45.8), v(6.83), v(21.5), v(2.27)]), (4.0 * MIB, &[v(156.0), v(112.8), v(133.4), v(107.1)])],
};

/// Stencil CPU strong scaling, 24576², ms per iteration.
pub const STENCIL_STRONG: Published = Published {
    caption: "Stencil2D CPU strong scaling, 24576 x 24576, ms per iteration, Stampede2",
    x_name: "pes",
    columns: &["Charm4Py", "mpi4py"],
    rows: &[
        (6.0, &[v(334.0), v(335.0)]),
        (384.0, &[v(10.2), v(10.3)]),
        (1536.0, &[v(4.26), v(3.21)]),
        (6144.0, &[v(3.43), v(1.77)]),
    ],
};

/// Computation alone at 6144 PEs, ms (the rest is communication).
pub const STENCIL_COMPUTATION_AT_6144_MS: f64 = 0.33;

/// Stencil GPU strong scaling, 73728², ms per iteration, by node count.
pub const STENCIL_GPU_STRONG: Published = Published {
    caption: "Stencil2D GPU strong scaling, 73728 x 73728, ms per iteration, Summit (x: nodes)",
    x_name: "nodes",
    columns: &["Charm4Py", "mpi4py"],
    rows: &[(1.0, &[approx(108.0), approx(109.0)]), (128.0, &[approx(3.7), approx(3.4)])],
};

/// PIC, ms per step (PAPER.md section 6, last table).
pub const PIC: Published = Published {
    caption: "PIC, ms per step, Stampede2 (L = 5998, n = 600,000, rho = 0.999, 1000 steps)",
    x_name: "pes",
    columns: &["mpi4py", "Charm4Py (ODF 1)", "Charm4Py (O)", "Charm4Py (O, LB)", "mpi4py / (O, LB)"],
    rows: &[
        (24.0, &[v(285.8), approx(303.0), approx(142.0), v(108.5), v(2.63)]),
        (48.0, &[v(207.6), approx(225.0), approx(116.0), v(77.6), v(2.68)]),
        (96.0, &[v(117.4), approx(126.0), approx(79.0), v(52.4), v(2.24)]),
        (192.0, &[v(63.6), approx(69.0), approx(50.0), v(39.2), v(1.62)]),
        (384.0, &[v(32.5), approx(33.0), approx(30.0), v(38.4), v(0.85)]),
        (768.0, &[v(17.5), approx(20.0), approx(19.0), v(43.1), v(0.41)]),
    ],
};

/// The paper's reading of its results (PAPER.md section 6, last paragraph).
pub const READING: &str = "the productive model costs 3-30x in latency and up to 10x in large-message bandwidth in \
     Python; it matches MPI on balanced stencils until communication dominates; overdecomposition + load \
     balancing wins 2-2.7x on imbalanced PIC until runtime overhead dominates at scale";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_are_complete_and_consistent() {
        for t in [&LATENCY, &BANDWIDTH, &GPU_LATENCY, &STENCIL_STRONG, &STENCIL_GPU_STRONG, &PIC] {
            assert!(t.rows.iter().all(|(_, vs)| vs.len() == t.columns.len()), "{}", t.caption);
        }
        assert_eq!(LATENCY.get(16.0, "MPI inter-socket").unwrap().value, 0.88);
        assert_eq!(LATENCY.get(4.0 * MIB, "Charm4Py intra-socket").unwrap().value, 1856.7);
        assert_eq!(LATENCY.xs(), [16.0, 4096.0, 65536.0, 1048576.0, 4194304.0]);
        assert!(LATENCY.get(8.0, "MPI inter-socket").is_none());
        assert!(LATENCY.get(16.0, "nothing").is_none());
        // The PIC table's last column is the ratio of two others.
        for (pes, vs) in PIC.rows {
            let r = vs[0].value / vs[3].value;
            assert!((r - vs[4].value).abs() < 0.01, "{pes} PEs: {r} vs {}", vs[4].value);
        }
        assert!(PIC.get(24.0, "Charm4Py (O)").unwrap().approximate);
        assert_eq!(STENCIL_STRONG.get(6144.0, "mpi4py").unwrap().value, 1.77);
    }
}
