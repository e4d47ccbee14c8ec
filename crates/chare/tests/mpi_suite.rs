//! The feature suite (`scenarios/`) on the MPI machine layer: one PE per
//! rank. MPI initialises once per process, so every job is a program of its
//! own: `mpirun -np N --oversubscribe <this test binary> --exact child ...`
//! with `CHARE_SUITE_SCENARIO=<name>`, for N in 2 and 4 where the scenario
//! supports it. Checks the exit code (mpirun's: the failing rank's code, or
//! the MPI_Abort code) and stderr as `rt_suite`'s `program::` tests do.
//!
//! Needs `mpirun` on PATH (Open MPI; `MPIRUN` overrides the command); fails,
//! not skips, without it. One mpirun at a time, whatever `--test-threads`.

#![cfg(feature = "mpi")]

#[macro_use]
mod scenarios;

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

/// Per run, from mpirun's start to the end of every rank.
const LIMIT: Duration = Duration::from_secs(60);

/// MPI job sizes the suite runs scenarios with.
const SIZES: [usize; 2] = [2, 4];

/// One mpirun at a time: concurrent jobs would oversubscribe the cores and
/// make timing-sensitive failures (and the time limit) meaningless.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Runs a scenario when started by mpirun with `CHARE_SUITE_SCENARIO` set;
/// passes at once otherwise.
#[test]
fn child() {
    scenarios::child();
}

fn mpirun() -> String {
    std::env::var("MPIRUN").unwrap_or_else(|_| "mpirun".to_string())
}

/// Runs the scenario `name` under mpirun with every supported size.
fn run_mpi(name: &str) {
    run_mpi_with(name, &[]);
}

/// As [`run_mpi`], with extra environment variables for every rank.
fn run_mpi_with(name: &str, env: &[(&str, &str)]) {
    let s = scenarios::get(name);
    if s.local_only {
        eprintln!("{name}: local layer only, not run on MPI");
        return;
    }
    let sizes: Vec<usize> = SIZES.iter().copied().filter(|n| s.pes.contains(n)).collect();
    assert!(!sizes.is_empty(), "{name} lists no MPI size among {SIZES:?}: {:?}", s.pes);
    let exe = std::env::current_exe().expect("path of the test binary");
    let mut failures = Vec::new();
    for n in sizes {
        let mut cmd = Command::new(mpirun());
        cmd.args(["-np", &n.to_string(), "--oversubscribe"])
            .arg(&exe)
            .args(scenarios::child_args())
            .env(scenarios::SCENARIO_VAR, name)
            .env(scenarios::LAYER_VAR, "mpi")
            .env(scenarios::PES_VAR, n.to_string())
            .env("OMPI_ALLOW_RUN_AS_ROOT", "1")
            .env("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")
            .env("RUST_BACKTRACE", "0")
            // The PE count is the number of ranks.
            .env_remove("CHARE_PES");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = {
            let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
            scenarios::run_program(
                cmd,
                LIMIT,
                &format!(
                    "`{}` is not on PATH: the MPI suite needs Open MPI's mpirun \
                     (CI installs it; see scripts/setup-mpi.sh)",
                    mpirun()
                ),
            )
        };
        eprintln!("{name} on {n} ranks: {:?}", out.took);
        if let Err(e) = s.expect.check_program(&out) {
            failures.push(format!("{name} on {n} ranks: {e}\n{out}"));
        }
    }
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n\n"));
}

macro_rules! mpi_tests {
    ($($area:ident: $($name:ident),+;)+) => {
        mod mpi {
            $(mod $area {
                $(#[test]
                fn $name() {
                    crate::run_mpi(stringify!($name));
                })+
            })+
        }
    };
}
for_each_scenario!(mpi_tests);

/// Messages and `Buffer`s longer than MPI's `int` count travel in chunks of
/// at most 1 GiB. The same code with 4 KiB chunks: large values, buffers
/// and their order, where every one of them is split.
#[test]
fn large_messages_cross_in_chunks() {
    for name in
        ["small_and_large_values_keep_their_order", "plain_buffers_cross_pes_intact", "large_buffers_cross_pes_intact"]
    {
        run_mpi_with(name, &[("CHARE_MPI_CHUNK", "4096")]);
    }
}

/// Small messages to one rank are coalesced (see the MPI endpoint); the
/// scenarios that stress ordering and delivery once more with every message
/// sent on its own.
#[test]
fn messages_without_coalescing() {
    for name in [
        "small_and_large_values_keep_their_order",
        "random_messages_arrive_exactly_once",
        "a_call_from_another_pe_is_not_starved_by_a_busy_local_ping_pong",
    ] {
        run_mpi_with(name, &[("CHARE_MPI_COALESCE", "0")]);
    }
}

/// Messages and `Buffer`s of up to 32 KiB travel in eager parts of about
/// 4 KiB (see the MPI endpoint); the scenarios that move such values once
/// more with each sent as one MPI message.
#[test]
fn messages_without_eager_parts() {
    for name in
        ["small_and_large_values_keep_their_order", "plain_buffers_cross_pes_intact", "large_buffers_cross_pes_intact"]
    {
        run_mpi_with(name, &[("CHARE_MPI_SPLIT", "0")]);
    }
}

/// Mid-sized buffers arrive while their sender computes even where a
/// rendezvous would need the sender (Open MPI's shared-memory transport
/// without single copy, as between hosts). `OMPI_MCA_...` is ignored by
/// other MPI libraries.
#[test]
fn mid_sized_buffers_without_single_copy() {
    run_mpi_with(
        "mid_sized_buffers_are_not_held_while_their_sender_computes",
        &[("OMPI_MCA_btl_vader_single_copy_mechanism", "none")],
    );
}
