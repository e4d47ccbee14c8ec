//! Stencil2D end to end, through the real binary: every model, layer, PE
//! count and overdecomposition computes bitwise the same grid as the serial
//! reference (same `--verify` checksum); the decomposition rule; the CSV
//! layout; usage errors; the sweep and the STREAM measurement.
//!
//! The MPI parts (rsmpi model, chare runtime on its MPI layer under
//! `mpirun -np 2` and `-np 4`) are built only with the `mpi` feature and
//! need Open MPI's `mpirun` (scripts/setup-mpi.sh).
//!
//! The kernel against a naive implementation, the decomposition rule for
//! P up to 2000 and the blocked-vs-single-block equivalence are unit tests
//! beside the code (src/stencil/kernel.rs, src/stencil/grid.rs).

use std::process::{Command, Output};

/// The small problem every model runs.
const GRID: [&str; 8] = ["--n", "64", "--m", "48", "--iters", "18", "--warmup", "2"];

fn bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chare-bench"))
        .args(args)
        .env_remove("CHARE_MACHINE")
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .expect("run chare-bench")
}

fn ok_stdout(args: &[&str], out: Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    String::from_utf8(out.stdout).unwrap()
}

fn header<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix("# ")?.strip_prefix(key)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no `# {key}:` line in\n{text}"))
}

/// Runs `stencil` with the small problem and `--verify`; returns the
/// checksum and the whole output.
fn checksum(extra: &[&str]) -> (String, String) {
    let mut args = vec!["stencil", "--verify"];
    args.extend_from_slice(&GRID);
    args.extend_from_slice(extra);
    let text = ok_stdout(&args, bench(&args));
    (header(&text, "checksum").to_string(), text)
}

fn reference() -> String {
    checksum(&["--model", "serial"]).0
}

#[test]
fn chare_model_on_threads_matches_the_serial_reference_for_every_pes_and_odf() {
    let want = reference();
    assert!(want.starts_with("0x") && want.len() == 18, "{want}");
    for pes in ["1", "2", "4"] {
        for odf in ["1", "2", "4"] {
            let (got, text) = checksum(&["--model", "chare", "--pes", pes, "--odf", odf]);
            assert_eq!(got, want, "chare --pes {pes} --odf {odf}\n{text}");
            assert_eq!(header(&text, "layer"), "local");
        }
    }
    // Several runs in one launch: the grid is reset, the checksum repeats
    // (the binary checks that every run agrees).
    let (got, text) = checksum(&["--model", "chare", "--pes", "2", "--odf", "2", "--runs", "3"]);
    assert_eq!(got, want);
    assert_eq!(text.lines().filter(|l| l.starts_with("# run ")).count(), 3, "{text}");
}

/// On a grid large enough for the AVX-512 kernel's strips and streaming
/// stores (where the processor has it), the portable kernel and the chosen
/// one give the same grid, in the serial reference and in the chare model.
#[test]
fn the_portable_and_the_simd_kernel_compute_the_same_grid() {
    let big = ["stencil", "--verify", "--n", "2048", "--m", "2560", "--iters", "3", "--warmup", "1", "--runs", "1"];
    let run = |extra: &[&str], kernel: &str| {
        let args: Vec<&str> = big.iter().chain(extra).copied().collect();
        let out = Command::new(env!("CARGO_BIN_EXE_chare-bench"))
            .args(&args)
            .env_remove("CHARE_MACHINE")
            .env("CHARE_STENCIL_KERNEL", kernel)
            .output()
            .expect("run chare-bench");
        let text = ok_stdout(&args, out);
        let summary = text.lines().find(|l| l.starts_with("# summary:")).unwrap_or_default().to_string();
        (header(&text, "checksum").to_string(), summary)
    };
    let (portable, summary) = run(&["--model", "serial"], "portable");
    assert!(summary.contains("kernel=portable"), "{summary}");
    let (auto, _) = run(&["--model", "serial"], "auto");
    assert_eq!(auto, portable);
    let (chare, _) = run(&["--model", "chare", "--pes", "2", "--odf", "2"], "auto");
    assert_eq!(chare, portable);
}

#[test]
fn the_checksum_depends_on_the_computation() {
    let a = reference();
    // 2 + 18 iterations either way; 3 + 18 is one more.
    let args = ["stencil", "--model", "serial", "--verify", "--n", "64", "--m", "48", "--iters", "18", "--warmup", "3"];
    let b = ok_stdout(&args, bench(&args));
    assert_ne!(a, header(&b, "checksum"), "one more iteration must change the checksum");
    let args = ["stencil", "--model", "serial", "--verify", "--n", "64", "--m", "48", "--iters", "17", "--warmup", "3"];
    let c = ok_stdout(&args, bench(&args));
    assert_eq!(a, header(&c, "checksum"), "warm-up iterations count like timed ones");
}

#[test]
fn the_process_grid_follows_the_factor_rule() {
    // parts: (x, y) with x the largest divisor <= floor(sqrt(parts + 1)).
    for (parts, grid) in [
        (1, "1 x 1"),
        (2, "1 x 2"),
        (3, "1 x 3"),
        (4, "2 x 2"),
        (6, "2 x 3"),
        (8, "2 x 4"),
        (9, "3 x 3"),
        (12, "3 x 4"),
    ] {
        let odf = parts.to_string();
        let args = [
            "stencil", "--model", "chare", "--pes", "1", "--odf", &odf, "--n", "72", "--m", "72", "--iters", "1",
            "--warmup", "0",
        ];
        let text = ok_stdout(&args, bench(&args));
        assert!(header(&text, "process grid").starts_with(grid), "{parts} parts:\n{text}");
    }
}

#[test]
fn csv_has_one_row_per_process_and_iteration() {
    let args = [
        "stencil", "--model", "chare", "--pes", "2", "--odf", "2", "--n", "32", "--m", "32", "--iters", "5",
        "--warmup", "1", "--format", "csv",
    ];
    let text = ok_stdout(&args, bench(&args));
    let data: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(data[0], "process,num_processes,iteration,iteration_s,communication_s,computation_s");
    assert_eq!(data.len(), 1 + 4 * 5, "{text}");
    for (k, row) in data[1..].iter().enumerate() {
        let f: Vec<&str> = row.split(',').collect();
        assert_eq!(f.len(), 6, "{row}");
        assert_eq!(f[0], (k / 5).to_string());
        assert_eq!(f[1], "4");
        assert_eq!(f[2], (k % 5).to_string());
        let t: Vec<f64> = f[3..].iter().map(|v| v.parse().unwrap()).collect();
        assert!(t.iter().all(|v| *v >= 0.0) && t[1] <= t[0] + 1e-9 && t[2] <= t[0] + 1e-9, "{row}");
    }
    assert_eq!(header(&text, "process grid"), "2 x 2 (block-rows x block-columns)");
    assert_eq!(header(&text, "oversubscribed"), "no");
    assert!(header(&text, "summary").contains("processes=4"), "{text}");
}

#[test]
fn uneven_grids_and_bad_options_are_one_line_usage_errors() {
    let cases: Vec<Vec<&str>> = vec![
        vec!["stencil", "--model", "chare", "--pes", "2", "--n", "64", "--m", "47"],
        vec!["stencil", "--model", "chare", "--pes", "1", "--odf", "4", "--n", "63", "--m", "48"],
        vec!["stencil", "--model", "serial", "--pes", "2"],
        vec!["stencil", "--model", "serial", "--iters", "0"],
        vec!["stencil", "--model", "mpi", "--pes", "2", "--n", "64", "--m", "47"],
        vec!["stencil", "--model", "chare", "--odf", "0"],
        vec!["stencil-sweep", "--kind", "strong", "--n", "100", "--m", "102", "--pes", "8"],
        vec!["stream", "--threads", "0"],
    ];
    for args in cases {
        let out = bench(&args);
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
        assert!(stderr.starts_with("chare-bench: error: "), "{stderr:?}");
        assert!(out.stdout.is_empty());
    }
    let out = bench(&["stencil", "--model", "chare", "--pes", "2", "--m", "4095"]);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("does not divide evenly over the 1 x 2 process grid"), "{stderr}");
}

#[test]
fn sweep_writes_a_csv_per_point_and_checks_checksums() {
    let dir = std::env::temp_dir().join(format!("chare-bench-sweep-{}", std::process::id()));
    let out = dir.to_str().unwrap();
    let series = if cfg!(feature = "mpi") { "mpi,chare,chare-mpi" } else { "chare" };
    let args = [
        "stencil-sweep",
        "--kind",
        "weak",
        "--n",
        "16",
        "--m",
        "16",
        "--pes",
        "1,2",
        "--iters",
        "3",
        "--warmup",
        "1",
        "--runs",
        "1",
        "--verify",
        "--series",
        series,
        "--out",
        out,
        "--format",
        "csv",
    ];
    let text = ok_stdout(&args, bench(&args));
    let rows: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).skip(1).collect();
    let n_series = series.split(',').count();
    assert_eq!(rows.len(), 2 * n_series, "{text}");
    for s in series.split(',') {
        for p in [1, 2] {
            let csv = std::fs::read_to_string(dir.join(format!("weak-{s}-p{p}.csv"))).unwrap();
            assert!(csv.contains("# summary: "), "{s} {p}");
        }
    }
    // Weak scaling: 16 x 16 per PE; 2 PEs form a 1 x 2 grid of 16 x 32.
    assert!(rows.iter().any(|r| r.contains(",2,no,16x32,")), "{text}");
    assert!(dir.join("weak-summary.csv").exists());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn stream_reports_four_kernels_and_the_stencil_roof() {
    let args = ["stream", "--elements", "65536", "--reps", "2", "--threads", "2", "--format", "csv"];
    let text = ok_stdout(&args, bench(&args));
    let rows: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).skip(1).collect();
    let kernels: Vec<&str> = rows.iter().map(|r| r.split(',').next().unwrap()).collect();
    // Plus `scale-nt` (streaming stores) where the AVX-512 kernel runs.
    assert_eq!(kernels[..4], ["copy", "scale", "add", "triad"]);
    assert!(kernels.len() == 4 || kernels[4..] == ["scale-nt"], "{kernels:?}");
    assert!(text.contains("# stencil roof: "), "{text}");
    assert_eq!(kernels.len() == 5, text.contains("# stencil roof with streaming stores"), "{text}");
}

/// The rsmpi model (relaunched under mpirun) and the chare runtime on its
/// MPI layer compute the same grid as the reference.
#[cfg(feature = "mpi")]
#[test]
fn mpi_model_and_chare_on_mpi_match_the_serial_reference() {
    let want = reference();
    for pes in ["2", "4"] {
        let (got, text) = checksum(&["--model", "mpi", "--pes", pes]);
        assert_eq!(got, want, "mpi --pes {pes}\n{text}");
        assert_eq!(header(&text, "layer"), "mpi");
        assert_eq!(header(&text, "pes"), pes);
    }
    let exe = env!("CARGO_BIN_EXE_chare-bench");
    for (np, odf) in [("2", "1"), ("2", "2"), ("4", "1")] {
        let mut args = vec!["-np", np, "--oversubscribe", exe, "stencil", "--model", "chare", "--odf", odf, "--verify"];
        args.extend_from_slice(&GRID);
        let out = Command::new(std::env::var("MPIRUN").unwrap_or_else(|_| "mpirun".into()))
            .args(&args)
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .env_remove("CHARE_PES")
            .output()
            .expect("mpirun on PATH (scripts/setup-mpi.sh installs it)");
        let text = ok_stdout(&args, out);
        assert_eq!(header(&text, "layer"), "mpi", "{text}");
        assert_eq!(header(&text, "pes"), np);
        assert_eq!(header(&text, "checksum"), want, "chare on {np} ranks, odf {odf}\n{text}");
    }
}
