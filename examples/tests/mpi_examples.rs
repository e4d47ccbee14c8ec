//! The examples on the MPI layer: under `mpirun -np 2` and `-np 4` every
//! example prints exactly what it prints on the local layer; two different
//! programs started as one job are refused. Needs `mpirun` (Open MPI).
#![cfg(feature = "mpi")]

use std::process::{Command, Output};
use std::sync::Mutex;

/// One mpirun at a time: two jobs of 4 ranks on 2 cores at once would only
/// test the machine's patience.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn mpirun(args: &[&str]) -> Output {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    Command::new(std::env::var("MPIRUN").unwrap_or_else(|_| "mpirun".into()))
        .args(args)
        .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
        .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
        .output()
        .expect("mpirun on PATH (scripts/setup-mpi.sh installs it)")
}

fn local(exe: &str, args: &[&str]) -> String {
    let out = Command::new(exe).args(args).env("CHARE_PES", "2").output().unwrap();
    assert!(out.status.success(), "{exe}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn every_example_prints_the_same_on_both_layers() {
    let exes = [
        env!("CARGO_BIN_EXE_hello"),
        env!("CARGO_BIN_EXE_pi"),
        env!("CARGO_BIN_EXE_fibonacci"),
        env!("CARGO_BIN_EXE_parallel_map"),
        env!("CARGO_BIN_EXE_ring"),
        env!("CARGO_BIN_EXE_coroutines"),
        env!("CARGO_BIN_EXE_sections"),
        env!("CARGO_BIN_EXE_dynamic"),
        env!("CARGO_BIN_EXE_timeouts"),
        // `farm` prints timings: see `farm_does_every_task_once_on_both_layers`.
    ];
    for exe in exes {
        let want = local(exe, &[]);
        for np in ["2", "4"] {
            let out = mpirun(&["-np", np, "--oversubscribe", exe]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{exe} on {np} ranks exited with {}: {stderr}", out.status);
            assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{exe} on {np} ranks");
        }
    }
}

/// `farm` under mpirun does every task exactly once and gets the results it
/// gets on the local layer: its first three lines (task count, each done
/// once, checksum) are the same; the rest (timing, tasks per PE) varies.
#[test]
fn farm_does_every_task_once_on_both_layers() {
    let exe = env!("CARGO_BIN_EXE_farm");
    let args = ["--tasks", "300", "--steps", "20000"];
    let results = |out: &str| out.lines().take(3).collect::<Vec<_>>().join("\n");
    let want = local(exe, &args);
    assert!(want.contains("every task done exactly once: true\n"), "{want}");
    for np in ["2", "4"] {
        let out = mpirun(&[&["-np", np, "--oversubscribe", exe][..], &args].concat());
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "farm on {np} ranks exited with {}: {stderr}", out.status);
        assert_eq!(results(&stdout), results(&want), "farm on {np} ranks");
        assert!(stdout.contains(&format!("\nPEs: {np}\n")), "farm on {np} ranks: {stdout}");
    }
}

/// `balance` under mpirun: blocks migrate between processes (their state
/// travels as bytes) and compute what they compute on the local layer (the
/// checksum line); timings vary.
#[test]
fn balance_migrates_blocks_between_processes() {
    let exe = env!("CARGO_BIN_EXE_balance");
    let args = ["--blocks", "16", "--iters", "6", "--period", "2", "--work", "2000"];
    let checksum = |out: &str| out.lines().find(|l| l.starts_with("checksum = ")).map(str::to_string);
    let want = local(exe, &args);
    for np in ["2", "4"] {
        let out = mpirun(&[&["-np", np, "--oversubscribe", exe][..], &args].concat());
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "balance on {np} ranks exited with {}: {stderr}", out.status);
        assert_eq!(checksum(&stdout), checksum(&want), "balance on {np} ranks: {stdout}");
        assert!(stdout.contains("balancing steps: 3\n"), "balance on {np} ranks: {stdout}");
    }
}

#[test]
fn different_programs_in_one_job_are_refused() {
    let out = mpirun(&["-np", "1", env!("CARGO_BIN_EXE_pi"), ":", "-np", "1", env!("CARGO_BIN_EXE_hello")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("run different programs"), "{stderr}");
}
