//! The runtime's feature suite as named scenarios, shared by the harnesses of
//! every machine layer: `rt_suite.rs` (local layer, threads) and
//! `mpi_suite.rs` (MPI layer, one PE per rank, one process per job).
//!
//! A scenario is a main task plus what the job must end with ([`Expect`]).
//! Its body depends on the PE count only through `rt.num_pes()`: harnesses
//! run it with every count of [`Scenario::pes`] they support. Placement-
//! dependent expectations are computed from `rt.num_pes()` in the body, or
//! the scenario lists only the counts where a fixed expectation holds.
//!
//! Adding a scenario: write `pub fn name() -> Scenario` in its area module and
//! list `name` in [`for_each_scenario!`]; every harness gets a test for it.
//!
//! The module also holds what both harnesses share: [`child`] (a scenario
//! run as a whole program through `chare::run`, selected by the environment
//! variable `CHARE_SUITE_SCENARIO`), running such programs with a time limit,
//! and checking outcomes against expectations.

use std::future::Future;
use std::io::Read;
use std::pin::Pin;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub mod branches;
pub mod channels;
pub mod collections;
pub mod dynamic;
pub mod errors;
pub mod failures;
pub mod fairness;
pub mod futures;
pub mod messages;
pub mod migration;
pub mod pool;
pub mod reductions;
pub mod reentrant;
pub mod sections;
pub mod services;
pub mod subsets;
pub mod timers;

/// Every scenario, by area. Calls `$m! { area: name, name, ...; area: ...; }`
/// so that harnesses can generate one test per scenario and [`all`] can list
/// them; the scenario's name is the name of its function.
macro_rules! for_each_scenario {
    ($m:ident) => {
        $m! {
            messages:
                random_messages_arrive_exactly_once,
                entry_calls_return_futures_of_their_values,
                calls_to_a_suspended_chare_wait_until_its_task_finishes,
                a_message_is_not_held_while_its_sender_computes,
                mid_sized_buffers_are_not_held_while_their_sender_computes;
            collections:
                group_has_one_element_per_pe,
                three_d_array_with_block_map,
                round_robin_map,
                custom_map,
                single_chare_on_a_chosen_pe_and_awaited_creation,
                readonly_data_reaches_every_pe,
                exit_code_reaches_the_caller,
                exit_then_return_keeps_the_code,
                buffers_in_creation_arguments_and_readonly_data_arrive_intact;
            futures:
                futures_pass_in_messages_and_iwait_yields_each_once,
                a_ready_future_is_awaited_at_once,
                wait_all_gives_every_value_in_input_order,
                a_multi_value_future_collects_n_sends_in_arrival_order,
                fulfilling_a_future_twice_is_an_error,
                nested_parallelism_with_futures;
            channels:
                channel_order_under_load_with_iwait,
                channels_pair_by_creation_order,
                ports_pair_a_ring_of_any_size,
                large_buffers_move_without_copy,
                large_buffers_cross_pes_intact,
                plain_buffers_cross_pes_intact,
                shared_buffers_cross_pes_intact,
                small_and_large_values_keep_their_order,
                temporary_buffers_arrive_intact,
                buffers_in_broadcasts_reach_every_element;
            reductions:
                every_reduction_operation,
                logical_reductions_over_bools_and_vectors_of_bools,
                gather_of_ten_thousand_elements_is_in_index_order,
                overlapping_reductions_match_by_sequence,
                reductions_to_entry_methods_and_broadcasts,
                allreduce_gives_every_contributor_the_result;
            failures:
                deadlock_is_reported_with_what_each_task_waits_on,
                a_deadlock_report_lists_the_held_when_calls,
                panic_in_an_entry_method_names_pe_chare_index_and_entry,
                a_panic_ends_the_job_while_another_pe_is_busy,
                a_misuse_is_reported_at_the_users_line,
                panic_in_an_async_entry_method_is_reported_too,
                abort_ends_the_job_with_its_message,
                a_value_that_cannot_be_serialised_is_reported_with_its_text;
            fairness:
                a_call_from_another_pe_is_not_starved_by_a_busy_local_ping_pong,
                calls_from_several_callers_are_not_starved_by_a_busy_local_ping_pong;
            errors:
                a_panic_reaches_a_try_ret_caller_with_pe_chare_index_and_entry,
                a_panic_in_an_async_entry_reaches_its_try_ret_caller,
                broadcast_results_arrive_in_index_order,
                a_panic_under_a_plain_ret_still_ends_the_job;
            pool:
                pool_map_equals_a_sequential_map_for_100000_items,
                pool_tasks_run_on_every_pe_including_the_callers,
                a_panicking_pool_task_reaches_the_caller,
                an_unregistered_task_is_refused_between_processes,
                calls_are_answered_while_a_pool_chunk_runs,
                pool_map_each_gives_one_future_per_item,
                idle_pes_steal_the_long_tasks_of_a_running_chunk;
            migration:
                a_migration_storm_loses_reorders_and_duplicates_nothing,
                rotate_moves_every_element_once_per_step,
                a_state_that_cannot_travel_is_reported_with_its_text,
                reductions_complete_when_every_element_left_the_root,
                a_future_kept_by_a_moving_chare_is_awaited_on_its_new_pe;
            reentrant:
                a_reentrant_coroutine_awaits_a_future_that_another_entry_fulfils,
                the_same_coroutine_as_an_exclusive_entry_deadlocks,
                a_when_entry_fires_exactly_when_its_condition_becomes_true,
                an_async_when_entry_starts_when_its_condition_holds,
                wait_until_resumes_once_another_entry_makes_it_true,
                a_wait_until_that_never_holds_is_reported_as_a_deadlock,
                with_inside_with_is_reported,
                a_reentrant_entry_waits_while_an_exclusive_one_holds_the_chare,
                a_chare_with_a_suspended_reentrant_entry_moves_once_it_returns;
            sections:
                a_multicast_reaches_exactly_the_members_once,
                a_section_gathers_its_members_results_in_order,
                section_reductions_reach_every_target,
                section_multicasts_and_reductions_while_members_migrate;
            dynamic:
                inserted_and_deleted_elements_join_and_leave_broadcasts_and_reductions,
                insertion_and_deletion_with_messages_in_flight,
                elements_inserted_on_a_chosen_pe_get_their_calls_through_their_home,
                a_section_reduction_completes_without_its_deleted_members;
            services:
                start_quiescence_calls_an_entry_method_at_quiescence,
                start_quiescence_can_end_the_job,
                a_reduction_to_exit_ends_the_job,
                every_pe_is_on_the_one_host;
            subsets:
                a_broadcast_to_a_subset_group_reaches_each_member_once,
                a_reduction_over_a_subset_group_sums_exactly_its_members,
                elem_outside_a_subset_group_is_a_one_line_error,
                a_subset_group_with_a_pe_listed_twice_is_refused,
                a_subset_group_on_a_missing_pe_is_refused,
                chares_placed_anywhere_spread_round_robin_from_their_creator;
            branches:
                local_branch_reads_and_mutates_the_element_and_later_messages_see_it,
                local_branch_is_refused_while_the_element_is_in_use,
                local_branch_from_the_elements_own_entry_is_a_one_line_error;
            timers:
                a_sleeping_entry_lets_other_entries_of_its_pe_run,
                a_sleep_lasts_at_least_its_delay,
                scheduled_callables_run_in_deadline_order,
                a_job_waiting_only_on_a_timer_completes,
                quiescence_waits_for_pending_timers,
                stats_count_a_known_message_pattern;
        }
    };
}

/// A scenario's main task.
pub type Main = fn(chare::Rt) -> Pin<Box<dyn Future<Output = ()>>>;

/// One feature check: a main task, the PE counts it runs with, and how the
/// job must end.
#[derive(Clone)]
pub struct Scenario {
    /// Unique name; selects the scenario in child programs.
    pub name: &'static str,
    /// PE counts the scenario is valid for. Harnesses run it with each count
    /// they support (local: all of them; MPI: those among 2 and 4).
    pub pes: &'static [usize],
    /// The main task.
    pub run: Main,
    /// How the job must end.
    pub expect: Expect,
    /// Checks something only the local (threads) layer can offer, such as a
    /// buffer keeping its address while it moves between PEs.
    pub local_only: bool,
    /// Run only as a program (see [`Scenario::programs_only`]); every MPI
    /// run is a program, so only the in-process harness reads it.
    #[allow(dead_code)]
    pub programs_only: bool,
    /// See [`Scenario::across_processes`]; the local harnesses skip it unless
    /// the check mode is on.
    #[allow(dead_code)]
    pub across_processes: bool,
}

/// How a job must end.
#[derive(Clone, Debug)]
pub enum Expect {
    /// The main task returns: `Ok(0)`, exit code 0.
    Ok,
    /// `rt.exit(code)`: `Ok(code)`, exit code `code`.
    Exit(i32),
    /// [`chare::JobError::Deadlock`] whose report contains every substring.
    Deadlock(&'static [&'static str]),
    /// [`chare::JobError::Panic`] with these fields (`pe: None`: any PE).
    Panic { pe: Option<usize>, chare: &'static str, index: &'static str, entry: &'static str, message: &'static str },
    /// [`chare::JobError::Abort`] whose one-line report (its `Display`, e.g.
    /// `PE 1: abort: cannot continue`) contains this text.
    Abort(&'static str),
    /// [`chare::JobError::Usage`] whose one-line report contains this text.
    Usage(&'static str),
}

impl Scenario {
    /// A scenario valid on every layer; [`all`] gives it its name.
    pub fn new(pes: &'static [usize], expect: Expect, run: Main) -> Scenario {
        Scenario { name: "", pes, run, expect, local_only: false, programs_only: false, across_processes: false }
    }

    /// Marks the scenario as needing values to cross processes (the MPI
    /// layer), or the local layer's check mode (`CHARE_CHECK_SERDE=1`),
    /// which passes them through the wire format too.
    pub fn across_processes(self) -> Scenario {
        Scenario { across_processes: true, ..self }
    }

    /// Runs the scenario only as whole programs (local layer and MPI), not
    /// inside the test process: for jobs that leave a PE busy for ever.
    pub fn programs_only(self) -> Scenario {
        Scenario { programs_only: true, ..self }
    }

    /// Marks the scenario as checking a property of the local layer only.
    pub fn local_only(self) -> Scenario {
        Scenario { local_only: true, ..self }
    }
}

macro_rules! list_all {
    ($($area:ident: $($name:ident),+;)+) => {
        /// Every scenario, named after its function.
        pub fn all() -> Vec<Scenario> {
            vec![$($(Scenario { name: stringify!($name), ..$area::$name() },)+)+]
        }
    };
}
for_each_scenario!(list_all);

/// The scenario called `name`; panics if there is none.
pub fn get(name: &str) -> Scenario {
    all().into_iter().find(|s| s.name == name).unwrap_or_else(|| {
        let names: Vec<_> = all().iter().map(|s| s.name).collect();
        panic!("no scenario named `{name}`; scenarios: {names:?}")
    })
}

/// Environment variable that makes [`child`] run a scenario.
pub const SCENARIO_VAR: &str = "CHARE_SUITE_SCENARIO";
/// Environment variable naming the machine layer the child's job must run on
/// (`local`, `mpi`), so that a launcher falling back to another layer fails.
pub const LAYER_VAR: &str = "CHARE_SUITE_LAYER";
/// Environment variable giving the PE count the child's job must have.
pub const PES_VAR: &str = "CHARE_SUITE_PES";

/// Body of the `child` test of every harness: runs the scenario named by
/// `CHARE_SUITE_SCENARIO` as a whole program, through `chare::run` (PE count
/// and machine layer from the environment and launcher), after checking the
/// layer and PE count given by `CHARE_SUITE_LAYER` and `CHARE_SUITE_PES` if
/// set. Does nothing when no scenario is named, so it passes in an ordinary
/// test run.
pub fn child() {
    let Ok(name) = std::env::var(SCENARIO_VAR) else {
        return;
    };
    let s = get(&name);
    let layer = std::env::var(LAYER_VAR).ok();
    let pes = std::env::var(PES_VAR)
        .ok()
        .map(|p| p.parse::<usize>().unwrap_or_else(|_| panic!("{PES_VAR} must be a number, got `{p}`")));
    chare::run(move |rt| async move {
        if let Some(layer) = layer {
            assert_eq!(rt.layer(), layer, "the job runs on the wrong machine layer");
        }
        if let Some(pes) = pes {
            assert_eq!(rt.num_pes(), pes, "the job has the wrong number of PEs");
        }
        (s.run)(rt).await
    });
}

/// The command that runs this test binary's `child` test, which must exist in
/// the binary (`#[test] fn child() { scenarios::child() }` at its root).
pub fn child_args() -> [&'static str; 4] {
    ["--exact", "child", "--nocapture", "--test-threads=1"]
}

impl Expect {
    /// The exit code of a program whose job ends as expected.
    pub fn exit_code(&self) -> i32 {
        match self {
            Expect::Ok => 0,
            Expect::Exit(c) => *c,
            Expect::Deadlock(_) => 3,
            Expect::Panic { .. } | Expect::Abort(_) | Expect::Usage(_) => 1,
        }
    }

    /// The texts a program's stderr must contain: the runtime prints
    /// `chare: <JobError Display>`.
    pub fn stderr_texts(&self) -> Vec<String> {
        match self {
            Expect::Ok | Expect::Exit(_) => vec![],
            Expect::Deadlock(subs) => {
                let mut v = vec!["chare: deadlock".to_string()];
                v.extend(subs.iter().map(|s| s.to_string()));
                v
            }
            Expect::Panic { pe, chare, index, entry, message } => {
                let what = format!("panic in {chare}[{index}].{entry}: {message}");
                match pe {
                    Some(pe) => vec![format!("chare: PE {pe}: {what}")],
                    None => vec!["chare: PE ".to_string(), what],
                }
            }
            Expect::Abort(s) | Expect::Usage(s) => vec!["chare: ".to_string(), s.to_string()],
        }
    }

    /// Checks the outcome of `Runtime::run` (in-process harnesses only).
    #[allow(dead_code)]
    pub fn check_outcome(&self, r: &Result<i32, chare::JobError>) -> Result<(), String> {
        use chare::JobError;
        let contains_all = |e: &JobError, subs: &[&str]| {
            let text = e.to_string();
            match subs.iter().find(|s| !text.contains(**s)) {
                None => Ok(()),
                Some(s) => Err(format!("the report lacks `{s}`:\n{text}")),
            }
        };
        match (self, r) {
            (Expect::Ok, Ok(0)) => Ok(()),
            (Expect::Exit(c), Ok(got)) if c == got => Ok(()),
            (Expect::Deadlock(subs), Err(e @ JobError::Deadlock { .. })) => contains_all(e, subs),
            (Expect::Abort(s), Err(e @ JobError::Abort { .. }))
            | (Expect::Usage(s), Err(e @ JobError::Usage { .. })) => contains_all(e, &[*s]),
            (
                Expect::Panic { pe, chare, index, entry, message },
                Err(e @ JobError::Panic { pe: got_pe, chare: c, index: i, entry: en, message: m, location, .. }),
            ) => {
                let want = (pe.unwrap_or(*got_pe), *chare, *index, *entry, *message);
                let got = (*got_pe, c.as_str(), i.as_str(), en.as_str(), m.as_str());
                if want != got {
                    return Err(format!("expected panic (pe, chare, index, entry, message) {want:?}, got {got:?}"));
                }
                // The user's source location: the scenario files.
                let Some(at) = location.as_deref().filter(|l| l.contains("scenarios/")) else {
                    return Err(format!("expected the panic's location in the scenarios, got {location:?}"));
                };
                let line = format!("PE {}: panic in {chare}[{index}].{entry}: {message} (at {at})", got.0);
                if e.to_string() != line {
                    return Err(format!("expected the report `{line}`, got `{e}`"));
                }
                Ok(())
            }
            (want, got) => Err(format!("expected {want:?}, got {got:?}")),
        }
    }

    /// Checks a program's exit code and stderr.
    pub fn check_program(&self, out: &ProgramOutput) -> Result<(), String> {
        if out.timed_out {
            return Err(format!("killed after {:?}: no end in time", out.took));
        }
        let want = self.exit_code();
        if out.code != Some(want) {
            return Err(format!("expected exit code {want} ({self:?}), got {:?}", out.code));
        }
        if let Some(t) = self.stderr_texts().iter().find(|t| !out.stderr.contains(t.as_str())) {
            return Err(format!("stderr lacks `{t}`"));
        }
        // A panic is one line from the runtime, and no text of Rust's own
        // panic handler (mpirun may add its own lines about the abort).
        if let Expect::Panic { .. } = self {
            let ours = out.stderr.lines().filter(|l| l.starts_with("chare:")).count();
            if ours != 1 || out.stderr.contains("panicked at") {
                return Err(format!(
                    "expected one `chare:` line and no `panicked at`, got {ours} and:\n{}",
                    out.stderr
                ));
            }
        }
        Ok(())
    }
}

/// How a program ended.
#[derive(Debug)]
pub struct ProgramOutput {
    /// Exit code; `None` if killed by a signal.
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Killed because it ran past the time limit.
    pub timed_out: bool,
    pub took: Duration,
}

impl std::fmt::Display for ProgramOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code {:?}{} after {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.code,
            if self.timed_out { " (killed: timed out)" } else { "" },
            self.took,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// Sends `signal` to the process group `pgid` (the program and whatever it
/// started, such as MPI ranks).
fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Runs `cmd` in a process group of its own, collecting stdout and stderr;
/// past `limit` the group gets SIGTERM, then SIGKILL 5 s later. Panics with
/// `what_if_missing` if the program cannot be started because it does not exist.
pub fn run_program(mut cmd: Command, limit: Duration, what_if_missing: &str) -> ProgramOutput {
    use std::os::unix::process::CommandExt;
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let t0 = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!("{what_if_missing} ({e})"),
        Err(e) => panic!("cannot start {cmd:?}: {e}"),
    };
    let pgid = child.id();
    let collect = |r: Option<Box<dyn Read + Send>>| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let b = buf.clone();
        let t = std::thread::spawn(move || {
            let Some(mut r) = r else { return };
            let mut chunk = [0u8; 8192];
            while let Ok(n) = r.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                b.lock().unwrap().extend_from_slice(&chunk[..n]);
            }
        });
        (buf, t)
    };
    let (out, tout) = collect(child.stdout.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let (err, terr) = collect(child.stderr.take().map(|s| Box::new(s) as Box<dyn Read + Send>));
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait for the program") {
            break st;
        }
        if !timed_out && t0.elapsed() > limit {
            timed_out = true;
            signal_group(pgid, "TERM");
            let grace = Instant::now();
            while grace.elapsed() < Duration::from_secs(5) {
                if child.try_wait().expect("wait for the program").is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            signal_group(pgid, "KILL");
            let _ = child.kill();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = t0.elapsed();
    if timed_out {
        // Leftover members of the group would keep the pipes open.
        signal_group(pgid, "KILL");
    }
    // The readers end when every holder of the pipes has exited.
    let grace = Instant::now();
    while !(tout.is_finished() && terr.is_finished()) && grace.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    let text = |b: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&b.lock().unwrap()).into_owned();
    ProgramOutput { code: status.code(), stdout: text(&out), stderr: text(&err), timed_out, took }
}
