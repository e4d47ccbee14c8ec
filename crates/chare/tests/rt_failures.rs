//! How jobs fail: deadlock reports, panics naming PE/chare/entry, abort, exit
//! codes of whole programs (the test re-runs its own binary as the program).

use chare::prelude::*;
use chare::{JobError, Runtime};
use std::process::Command;
use std::time::{Duration, Instant};

struct Stuck;

#[chare]
impl Stuck {
    fn new() -> Self {
        Stuck
    }
    /// Waits on a channel nobody ever sends on.
    #[entry]
    async fn wait(&self, ctx: &Ctx<Self>) {
        let peer = ctx.proxy().elem(1 - ctx.index().i());
        let ch: Channel<u8> = ctx.channel_to(&peer);
        ch.recv().await;
    }
    #[entry]
    fn boom(&self, ctx: &Ctx<Self>, x: u32) {
        if ctx.index().i() == 1 {
            panic!("bad value {x}");
        }
    }
    #[entry]
    async fn boom_later(&self, ctx: &Ctx<Self>) {
        let f = ctx.future::<u32>();
        f.set(5);
        let v = f.await;
        panic!("async failure after {v}");
    }
    #[entry]
    fn give_up(&self, ctx: &Ctx<Self>) {
        ctx.abort("cannot continue");
    }
}

#[test]
fn deadlock_is_reported_with_what_each_task_waits_on() {
    let t0 = Instant::now();
    let r = Runtime::with_pes(2).run(|rt| async move {
        let s = rt.array::<Stuck>(2).create(());
        s.wait();
        let never = rt.future::<()>();
        never.await;
    });
    let took = t0.elapsed();
    let Err(JobError::Deadlock { waiting }) = r else { panic!("expected a deadlock, got {r:?}") };
    assert_eq!(waiting.len(), 3, "{waiting:?}");
    assert!(waiting.iter().any(|w| w.contains("main[0].main waits on future")), "{waiting:?}");
    assert!(waiting.iter().any(|w| w.contains("Stuck[0].wait waits on channel recv")), "{waiting:?}");
    assert!(waiting.iter().any(|w| w.contains("Stuck[1].wait waits on channel recv")), "{waiting:?}");
    // Not a timing assertion on speed: a hang guard far above the 2 s target.
    assert!(took < Duration::from_secs(30));
}

#[test]
fn panic_in_an_entry_method_names_pe_chare_index_and_entry() {
    let r = Runtime::with_pes(2).run(|rt| async move {
        let s = rt.array::<Stuck>(2).create(());
        s.boom(7);
        std::future::pending::<()>().await;
    });
    match r {
        Err(JobError::Panic { pe, chare, index, entry, message }) => {
            assert_eq!((pe, chare.as_str(), index.as_str(), entry.as_str()), (1, "Stuck", "1", "boom"));
            assert_eq!(message, "bad value 7");
        }
        other => panic!("expected a panic error, got {other:?}"),
    }
}

#[test]
fn panic_in_an_async_entry_method_is_reported_too() {
    let r = Runtime::with_pes(2).run(|rt| async move {
        let s = rt.array::<Stuck>(2).create(());
        s.elem(0).boom_later();
        std::future::pending::<()>().await;
    });
    let Err(e @ JobError::Panic { .. }) = r else { panic!("expected a panic error, got {r:?}") };
    assert_eq!(e.to_string(), "PE 0: panic in Stuck[0].boom_later: async failure after 5");
}

#[test]
fn abort_ends_the_job_with_its_message() {
    let r = Runtime::with_pes(3).run(|rt| async move {
        let s = rt.array::<Stuck>(2).create(());
        s.elem(1).give_up();
        std::future::pending::<()>().await;
    });
    assert_eq!(r, Err(JobError::Abort { pe: 1, message: "cannot continue".into() }));
}

/// Child programs, run by the tests below through `chare::run` as a real
/// program would. Each is selected by the CHARE_TEST_CHILD variable.
#[test]
fn child_program() {
    let Ok(which) = std::env::var("CHARE_TEST_CHILD") else { return };
    match which.as_str() {
        "deadlock" => chare::run(|rt| async move {
            let s = rt.array::<Stuck>(2).create(());
            s.wait();
            rt.future::<()>().await;
        }),
        "panic" => chare::run(|rt| async move {
            let s = rt.array::<Stuck>(4).create(());
            s.boom(1);
            std::future::pending::<()>().await;
        }),
        "exit" => chare::run(|rt| async move {
            rt.exit(4);
        }),
        other => panic!("unknown child {other}"),
    }
}

fn run_child(which: &str, pes: &str) -> (Option<i32>, String, Duration) {
    let exe = std::env::current_exe().unwrap();
    let t0 = Instant::now();
    let out = Command::new(exe)
        .args(["--exact", "child_program", "--nocapture", "--test-threads=1"])
        .env("CHARE_TEST_CHILD", which)
        .env("CHARE_PES", pes)
        .output()
        .unwrap();
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned(), t0.elapsed())
}

#[test]
fn deadlocked_program_exits_non_zero_with_a_report() {
    let (code, stderr, took) = run_child("deadlock", "2");
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("chare: deadlock"), "{stderr}");
    assert!(stderr.contains("Stuck[1].wait waits on channel recv"), "{stderr}");
    eprintln!("deadlocked program ended after {took:?}");
}

#[test]
fn panicking_program_exits_non_zero_naming_the_entry() {
    let (code, stderr, _) = run_child("panic", "4");
    assert_eq!(code, Some(1), "{stderr}");
    assert!(stderr.contains("chare: PE 1: panic in Stuck[1].boom: bad value 1"), "{stderr}");
}

#[test]
fn exit_code_of_a_program() {
    let (code, stderr, _) = run_child("exit", "2");
    assert_eq!(code, Some(4), "{stderr}");
}

#[test]
fn bad_pe_count_is_a_one_line_error() {
    let (code, stderr, _) = run_child("exit", "zero");
    assert_eq!(code, Some(2), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("chare:")).collect();
    assert_eq!(lines, vec!["chare: CHARE_PES must be a PE count from 1 to 4096, got `zero`"]);
}
