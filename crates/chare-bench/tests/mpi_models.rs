//! The MPI models (`--model mpi` on rsmpi, `--model c-mpi` the C floor), run
//! through the real binary. Built only with the `mpi` feature; needs
//! `scripts/setup-mpi.sh` to have installed MPI and built the C program.
#![cfg(feature = "mpi")]

use std::process::Command;

fn csv_rows(args: &[&str]) -> Vec<Vec<f64>> {
    let out = Command::new(env!("CARGO_BIN_EXE_chare-bench"))
        .args(args)
        .args(["--format", "csv"])
        .output()
        .expect("chare-bench runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{args:?}: {stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("# layer: mpi"), "{stdout}");
    stdout
        .lines()
        .filter(|l| !l.starts_with('#'))
        .skip(1)
        .map(|l| l.split(',').map(|x| x.parse().unwrap()).collect())
        .collect()
}

#[test]
fn rsmpi_and_c_latency_relaunch_under_mpirun_and_report_every_size() {
    for model in ["mpi", "c-mpi"] {
        let rows = csv_rows(&["latency", "--model", model, "--max-size", "1024", "--iters", "50", "--warmup", "5"]);
        assert_eq!(rows.len(), 11, "{model}");
        for (k, r) in rows.iter().enumerate() {
            assert_eq!(r[0], (1u64 << k) as f64);
            assert_eq!(r[1], 50.0);
            assert!(r[2] > 0.0, "{model}: one-way time must be positive");
        }
    }
}

#[test]
fn rsmpi_and_c_bandwidth_report_every_size() {
    for model in ["mpi", "c-mpi"] {
        let rows = csv_rows(&[
            "bandwidth",
            "--model",
            model,
            "--min-size",
            "4096",
            "--max-size",
            "65536",
            "--iters",
            "3",
            "--warmup",
            "1",
            "--window",
            "8",
        ]);
        let sizes: Vec<f64> = rows.iter().map(|r| r[0]).collect();
        assert_eq!(sizes, vec![4096.0, 8192.0, 16384.0, 32768.0, 65536.0], "{model}");
        assert!(rows.iter().all(|r| r[2] == 8.0 && r[3] > 0.0), "{model}");
    }
}

#[test]
fn rsmpi_usage_errors_are_one_line_before_any_relaunch() {
    for args in
        [&["latency", "--model", "mpi", "--min-size", "0"][..], &["bandwidth", "--model", "mpi", "--window", "0"]]
    {
        let out = Command::new(env!("CARGO_BIN_EXE_chare-bench")).args(args).output().expect("chare-bench runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr:?}");
        assert!(stderr.starts_with("chare-bench: error: --"), "{stderr:?}");
    }
}
