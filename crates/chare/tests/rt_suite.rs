//! The feature suite (`scenarios/`) on the local machine layer (PEs are
//! threads of one process).
//!
//! * `local::<area>::<scenario>`: runs the scenario with
//!   `Runtime::with_pes(p)` for every `p` of its PE list and checks the outcome.
//! * `program::<area>::<scenario>`: runs it as a whole program through
//!   `chare::run` (this test binary re-run as a child, selected by
//!   `CHARE_SUITE_SCENARIO`, with `CHARE_PES=2`) and checks the exit code and
//!   what it prints on stderr.

#[macro_use]
mod scenarios;

use scenarios::Scenario;
use std::process::Command;
use std::time::{Duration, Instant};

/// Longer than any scenario may take: a hang guard, not a speed assertion.
const LIMIT: Duration = Duration::from_secs(30);

/// Runs a scenario in a child program when `CHARE_SUITE_SCENARIO` is set;
/// passes at once otherwise.
#[test]
fn child() {
    scenarios::child();
}

/// Runs `s` with `pes` PEs on a thread of its own; an error if it has not
/// ended within [`LIMIT`] or `Runtime::run` itself panicked.
fn run_once(s: &Scenario, pes: usize) -> Result<Result<i32, chare::JobError>, String> {
    let main = s.run;
    let (tx, rx) = std::sync::mpsc::channel();
    let job = std::thread::Builder::new()
        .name(format!("job {} on {pes} PEs", s.name))
        .spawn(move || {
            // The check mode of the suite's second pass (scripts/test.sh).
            let mut cfg = chare::Config::with_pes(pes);
            cfg.check_serde = check_mode();
            let _ = tx.send(chare::Runtime::with_config(cfg).run(main));
        })
        .expect("start the job's thread");
    match rx.recv_timeout(LIMIT) {
        Ok(outcome) => Ok(outcome),
        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => Err(format!("no outcome after {LIMIT:?}: the job hangs")),
        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
            let why = match job.join() {
                Err(p) => p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "a non-string panic".into()),
                Ok(()) => "no outcome".into(),
            };
            Err(format!("Runtime::run panicked instead of returning an outcome: {why}"))
        }
    }
}

/// Runs the scenario `name` in process with every PE count of its list.
fn run_local(name: &str) {
    let s = scenarios::get(name);
    if s.programs_only {
        eprintln!("{name}: run as a program only");
        return;
    }
    if s.across_processes && !check_mode() {
        eprintln!("{name}: needs values to cross processes (or CHARE_CHECK_SERDE=1)");
        return;
    }
    let mut failures = Vec::new();
    for &p in s.pes {
        let t0 = Instant::now();
        let checked = run_once(&s, p).and_then(|r| s.expect.check_outcome(&r));
        eprintln!("{name} on {p} PEs: {:?}", t0.elapsed());
        if let Err(e) = checked {
            failures.push(format!("{name} on {p} PEs: {e}"));
        }
    }
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}

/// The PE count a scenario runs with as a program: 2 if it supports it.
fn program_pes(s: &Scenario) -> usize {
    if s.pes.contains(&2) {
        2
    } else {
        s.pes[0]
    }
}

/// Runs this test binary as the program of scenario `name`.
fn run_child(name: &str, pes: &str) -> scenarios::ProgramOutput {
    let mut cmd = Command::new(std::env::current_exe().expect("path of the test binary"));
    cmd.args(scenarios::child_args())
        .env(scenarios::SCENARIO_VAR, name)
        .env("CHARE_PES", pes)
        .env(scenarios::LAYER_VAR, "local")
        .env("RUST_BACKTRACE", "0");
    if pes.parse::<usize>().is_ok() {
        cmd.env(scenarios::PES_VAR, pes);
    }
    scenarios::run_program(cmd, LIMIT, "cannot start the test binary")
}

/// Whether the suite runs in the check mode (scripts/test.sh's second pass).
fn check_mode() -> bool {
    std::env::var("CHARE_CHECK_SERDE").is_ok_and(|v| v == "1")
}

/// Runs the scenario `name` as a whole program and checks its exit code and stderr.
fn run_as_program(name: &str) {
    let s = scenarios::get(name);
    if s.across_processes && !check_mode() {
        eprintln!("{name}: needs values to cross processes (or CHARE_CHECK_SERDE=1)");
        return;
    }
    let p = program_pes(&s);
    let out = run_child(name, &p.to_string());
    if let Err(e) = s.expect.check_program(&out) {
        panic!("{name} as a program on {p} PEs: {e}\n{out}");
    }
}

macro_rules! local_tests {
    ($($area:ident: $($name:ident),+;)+) => {
        mod local {
            $(mod $area {
                $(#[test]
                fn $name() {
                    crate::run_local(stringify!($name));
                })+
            })+
        }
        mod program {
            $(mod $area {
                $(#[test]
                fn $name() {
                    crate::run_as_program(stringify!($name));
                })+
            })+
        }
    };
}
for_each_scenario!(local_tests);

#[test]
fn scenarios_are_well_formed() {
    let all = scenarios::all();
    let mut names: Vec<_> = all.iter().map(|s| s.name).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), all.len(), "scenario names are unique");
    for s in &all {
        assert!(!s.pes.is_empty(), "{} runs with some PE count", s.name);
        assert!(s.local_only || s.pes.iter().any(|p| [2, 4].contains(p)), "{} runs on MPI", s.name);
    }
}

#[test]
fn bad_pe_count_is_a_one_line_error() {
    let out = run_child("exit_then_return_keeps_the_code", "zero");
    assert_eq!(out.code, Some(2), "{out}");
    let lines: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("chare:")).collect();
    assert_eq!(lines, vec!["chare: CHARE_PES must be a PE count from 1 to 4096, got `zero`"], "{out}");
}
