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

fn local(exe: &str) -> String {
    let out = Command::new(exe).env("CHARE_PES", "2").output().unwrap();
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
    ];
    for exe in exes {
        let want = local(exe);
        for np in ["2", "4"] {
            let out = mpirun(&["-np", np, "--oversubscribe", exe]);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{exe} on {np} ranks exited with {}: {stderr}", out.status);
            assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{exe} on {np} ranks");
        }
    }
}

#[test]
fn different_programs_in_one_job_are_refused() {
    let out = mpirun(&["-np", "1", env!("CARGO_BIN_EXE_pi"), ":", "-np", "1", env!("CARGO_BIN_EXE_hello")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("run different programs"), "{stderr}");
}
