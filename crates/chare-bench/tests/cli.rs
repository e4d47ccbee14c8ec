//! End-to-end checks of the `chare-bench` binary.

use std::process::{Command, Output};

fn chare_bench(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_chare-bench")).args(args).output().expect("run chare-bench")
}

fn assert_usage_error(args: &[&str]) -> String {
    let out = chare_bench(args);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
    assert!(stderr.starts_with("chare-bench: error: "), "{stderr:?}");
    assert!(!stderr.contains("panicked"), "{stderr:?}");
    assert!(out.stdout.is_empty());
    stderr
}

#[test]
fn size_zero_is_a_one_line_usage_error() {
    assert_usage_error(&["latency", "--model", "raw", "--min-size", "0"]);
}

#[test]
fn other_usage_errors_are_one_line() {
    assert_usage_error(&["latency", "--model", "raw", "--min-size", "64", "--max-size", "8"]);
    assert_usage_error(&["latency", "--model", "raw", "--iters", "0"]);
    assert_usage_error(&["bandwidth", "--model", "raw", "--window", "0"]);
    assert_usage_error(&["latency", "--model", "nope"]);
    assert_usage_error(&["bandwidth", "--model", "raw", "--format", "xml"]);
    assert_usage_error(&["latency"]);
    assert_usage_error(&[]);
    if cfg!(not(feature = "mpi")) {
        let mpi = assert_usage_error(&["latency", "--model", "mpi"]);
        assert_eq!(mpi.trim_end(), "chare-bench: error: model mpi needs the `mpi` feature (not built)");
    }
}

#[test]
fn raw_latency_csv() {
    let out = chare_bench(&[
        "latency",
        "--model",
        "raw",
        "--min-size",
        "1",
        "--max-size",
        "64",
        "--iters",
        "50",
        "--warmup",
        "5",
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with('#'));
    assert!(lines.iter().any(|l| l.starts_with("# oversubscribed: ")));
    assert!(lines.contains(&"# model: raw"));
    assert!(lines.contains(&"# layer: local"));
    let body: Vec<&str> = lines.iter().copied().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(body[0], "size_bytes,iterations,one_way_us,bandwidth_mb_s");
    let rows = &body[1..];
    assert_eq!(rows.len(), 7, "{stdout}");
    for (row, size) in rows.iter().zip([1, 2, 4, 8, 16, 32, 64]) {
        let cells: Vec<&str> = row.split(',').collect();
        assert_eq!(cells.len(), 4, "{row}");
        assert_eq!(cells[0].parse::<usize>().unwrap(), size);
        assert_eq!(cells[1].parse::<usize>().unwrap(), 50);
        for cell in &cells[2..] {
            let v: f64 = cell.parse().unwrap();
            assert!(v > 0.0 && v.is_finite(), "{row}");
        }
    }
}

#[test]
fn raw_bandwidth_csv() {
    let out = chare_bench(&[
        "bandwidth",
        "--model",
        "raw",
        "--min-size",
        "4096",
        "--max-size",
        "16384",
        "--iters",
        "3",
        "--warmup",
        "1",
        "--window",
        "8",
        "--format",
        "csv",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let body: Vec<&str> = stdout.lines().filter(|l| !l.starts_with('#')).collect();
    assert_eq!(body[0], "size_bytes,iterations,window,bandwidth_mb_s");
    let iters: Vec<&str> = body[1..].iter().map(|r| r.split(',').nth(1).unwrap()).collect();
    assert_eq!(iters, ["30", "30", "3"]);
}
