//! Starting a job on either machine layer, running each PE, and ending it.
//!
//! Local layer: PE 0 runs on the calling thread, PEs 1.. on threads of their
//! own, all sharing one [`LocalMachine`]. MPI layer: this process is one PE
//! (its rank); the [`crate::machine::MpiMachine`] starts MPI and checks that
//! every rank runs the same program. Either way PE 0 starts the main task,
//! and the job ends when it returns, on `exit`, `abort`, a panic or a
//! deadlock ([`Shared::finish`]).
//!
//! A PE sees the end only between two entry methods: one busy in a long (or
//! endless) entry cannot be interrupted. So the end does not wait for it
//! longer than [`GRACE`]: `Runtime::run` returns the outcome and leaves such a
//! PE's thread running until its entry returns (it then stops by itself);
//! `chare::run`, which ends the process anyway, has a watchdog that reports
//! the outcome and exits the process [`GRACE`] after the outcome was decided
//! if any PE (PE 0 included, the caller's thread) is still busy. On the MPI
//! layer an error ends every rank at once (`MPI_Abort`).

use super::tasks::BoxedTask;
use super::{Pe, Shared, TaskDesc, CURRENT};
use crate::collection::CollInfo;
use crate::config::Config;
use crate::ctx::Rt;
use crate::error::JobError;
use crate::index::Index;
use crate::machine::{LocalMachine, Machine};
use crossbeam_utils::CachePadded;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

type BoxedMain = Box<dyn FnOnce(Rt) -> BoxedTask>;

/// How long the end of a job waits for PEs busy in an entry method.
pub(crate) const GRACE: Duration = Duration::from_millis(500);

/// Set by `chare::run`: the process exits when a job's end is held up by a
/// busy PE (see the module docs).
static EXIT_WHEN_STUCK: AtomicBool = AtomicBool::new(false);

/// Makes this process exit when a job's end is held up by a busy PE for
/// longer than [`GRACE`] (what `chare::run` wants: it exits anyway).
pub(crate) fn exit_when_stuck() {
    EXIT_WHEN_STUCK.store(true, Ordering::SeqCst);
}

/// Waits for the outcome, then for every PE to leave its loop; exits the
/// process with the outcome's report and code if that takes over [`GRACE`].
fn watchdog(shared: Arc<Shared>) {
    let outcome = {
        let mut o = shared.outcome.lock().unwrap_or_else(|e| e.into_inner());
        while o.is_none() {
            o = shared.decided.wait(o).unwrap_or_else(|e| e.into_inner());
        }
        o.clone()
    };
    let t0 = Instant::now();
    while shared.pes_out.load(Ordering::SeqCst) < shared.num_pes() {
        if t0.elapsed() >= GRACE {
            let code = match outcome {
                Some(Ok(c)) => c,
                Some(Err(e)) => {
                    e.report();
                    e.exit_code()
                }
                None => 0,
            };
            std::process::exit(code);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A thread's CPU set (Linux; elsewhere threads are not pinned back).
struct CpuSet {
    #[cfg(target_os = "linux")]
    set: libc::cpu_set_t,
}

impl CpuSet {
    #[cfg(target_os = "linux")]
    fn of_current() -> Option<CpuSet> {
        // SAFETY: `cpu_set_t` is plain data (all-zero is the empty set), and
        // `sched_getaffinity` writes at most `size_of::<cpu_set_t>()` bytes
        // into it; pid 0 is the calling thread.
        unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            (libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) == 0)
                .then_some(CpuSet { set })
        }
    }

    #[cfg(target_os = "linux")]
    fn restore(&self) {
        // SAFETY: reads `size_of::<cpu_set_t>()` bytes of a set filled by
        // `sched_getaffinity`; pid 0 is the calling thread.
        unsafe {
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &self.set);
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn of_current() -> Option<CpuSet> {
        None
    }

    #[cfg(not(target_os = "linux"))]
    fn restore(&self) {}
}

fn pin_thread(pe: usize, cfg: &Config) {
    if !cfg.pin {
        return;
    }
    if let Some(ids) = core_affinity::get_core_ids() {
        if !ids.is_empty() {
            core_affinity::set_for_current(ids[pe % ids.len()]);
        }
    }
}

/// Runs PE `id` on the calling thread until the job stops. PE 0 also starts
/// the main task.
fn run_pe(shared: Arc<Shared>, id: usize, main: Option<BoxedMain>, machine: Machine) {
    pin_thread(id, &shared.cfg);
    if let Some(m) = machine.local() {
        m.register_thread();
    }
    let pe = Pe::new(id, shared.clone(), machine);
    CURRENT.with(|c| c.set(&pe as *const Pe));
    let r = crate::unwind::internal(id, || {
        if let Some(main) = main {
            let rt = Rt::main(shared.main_info.clone());
            let desc = TaskDesc { chare: "main", index: Index::from(0), entry: "main", catch: None };
            if let Some(fut) = pe.guard(desc, || main(rt)) {
                pe.spawn(fut, None, desc, crate::scheduler::TaskKind::Main);
            }
        }
        pe.run_loop();
    });
    if let Err(e) = r {
        shared.finish(Err(e));
    }
    shared.pes_out.fetch_add(1, Ordering::SeqCst);
    #[cfg(feature = "mpi")]
    if let Machine::Mpi(m) = &pe.machine {
        m.end_of_job(id, shared.outcome_snapshot());
    }
    let _ = crate::unwind::internal(id, || pe.shutdown());
    CURRENT.with(|c| c.set(std::ptr::null()));
}

impl Pe {
    /// Drops tasks before chares (tasks may borrow their chare), then
    /// closures of timers that never fired (while this is still the
    /// thread's PE: their captures may use the runtime as they drop), then
    /// what is still queued.
    fn shutdown(&self) {
        self.tasks.clear();
        self.timers.clear();
        self.chares.clear();
        self.locations.clear();
        while self.machine.next().is_some() {}
    }
}

/// Runs a job with `cfg`: PE 0 on the calling thread runs `main`'s task; the
/// job ends when it returns, on `exit`, `abort`, a panic or a deadlock.
/// Returns the exit code (0 when main returned) or the error.
pub(crate) fn run_job<F, Fut>(cfg: Config, main: F) -> Result<i32, JobError>
where
    F: FnOnce(Rt) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    if super::on_pe() {
        return Err(JobError::Config("a job cannot be started from inside another job".into()));
    }
    #[cfg(feature = "mpi")]
    if cfg.layer == crate::config::Layer::Mpi {
        return run_mpi_job(cfg, main);
    }
    #[cfg(not(feature = "mpi"))]
    if cfg.layer == crate::config::Layer::Mpi {
        return Err(JobError::Config("the MPI layer is not built: rebuild with the cargo feature `mpi`".into()));
    }
    crate::unwind::install_hook();
    let pes = cfg.pes;
    let local = Arc::new(LocalMachine::new(pes));
    let oversubscribed = cfg.oversubscribed();
    let shared = new_shared(cfg, Some(local.clone()), oversubscribed);
    let watchdog = EXIT_WHEN_STUCK.load(Ordering::SeqCst).then(|| {
        let sh = shared.clone();
        std::thread::Builder::new().name("chare-watchdog".into()).spawn(move || watchdog(sh))
    });
    let mut handles = Vec::with_capacity(pes.saturating_sub(1));
    for id in 1..pes {
        let sh = shared.clone();
        let port = local.claim(id);
        let h = std::thread::Builder::new()
            .name(format!("chare-pe-{id}"))
            .spawn(move || run_pe(sh, id, None, Machine::Local(port)));
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                shared.finish(Err(JobError::Config(format!("cannot start PE thread {id}: {e}"))));
                break;
            }
        }
    }
    let boxed: BoxedMain = Box::new(move |rt| Box::pin(main(rt)) as BoxedTask);
    // PE 0 runs on the caller's thread: give its CPU set back afterwards, or
    // a later job's threads (spawned from it) would inherit PE 0's core.
    let caller_cpus = CpuSet::of_current();
    run_pe(shared.clone(), 0, Some(boxed), Machine::Local(local.claim(0)));
    if let Some(c) = caller_cpus {
        c.restore();
    }
    // PEs busy in an entry method see the end only when it returns: wait
    // for them at most GRACE, then leave them running (module docs).
    let t0 = Instant::now();
    while handles.iter().any(|h| !h.is_finished()) && t0.elapsed() < GRACE {
        std::thread::sleep(Duration::from_millis(1));
    }
    for h in handles {
        if h.is_finished() {
            let _ = h.join();
        }
    }
    if let Some(Ok(w)) = watchdog {
        let _ = w.join();
    }
    let outcome = shared.outcome.lock().unwrap().take();
    outcome.unwrap_or(Ok(0))
}

fn new_shared(cfg: Config, local: Option<Arc<LocalMachine>>, oversubscribed: bool) -> Arc<Shared> {
    let pes = cfg.pes;
    Arc::new(Shared {
        local,
        qd: (0..pes).map(|_| CachePadded::default()).collect(),
        extern_sent: AtomicU64::new(0),
        stop: AtomicBool::new(false),
        outcome: Mutex::new(None),
        decided: Condvar::new(),
        pes_out: AtomicUsize::new(0),
        next_coll: AtomicU32::new(1),
        colls: Mutex::default(),
        main_info: Arc::new(CollInfo::main()),
        oversubscribed,
        cfg,
    })
}

/// Runs this process's PE of a job on the MPI layer (one PE per rank).
#[cfg(feature = "mpi")]
fn run_mpi_job<F, Fut>(mut cfg: Config, main: F) -> Result<i32, JobError>
where
    F: FnOnce(Rt) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    crate::unwind::install_hook();
    let machine = crate::machine::MpiMachine::start().map_err(JobError::Config)?;
    let rank = machine.rank;
    cfg.pes = machine.size;
    cfg.pin = false; // mpirun binds ranks
                     // With one PE per rank, oversubscription is ranks per machine.
    let shared = new_shared(cfg, None, crate::config::ranks_oversubscribed());
    let main: Option<BoxedMain> = (rank == 0).then(|| Box::new(move |rt| Box::pin(main(rt)) as BoxedTask) as BoxedMain);
    run_pe(shared.clone(), rank, main, Machine::Mpi(machine));
    let outcome = shared.outcome.lock().unwrap().take();
    outcome.unwrap_or(Ok(0))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// Pinning PE 0 to a core must not outlive the job on the caller's
    /// thread: threads of the next job started from it would all inherit it.
    #[test]
    fn the_callers_cpu_set_is_given_back() {
        let before = super::CpuSet::of_current().expect("sched_getaffinity");
        let mut cfg = crate::Config::with_pes(2);
        cfg.pin = true;
        assert_eq!(crate::Runtime::with_config(cfg).run(|_rt| async {}), Ok(0));
        let after = super::CpuSet::of_current().expect("sched_getaffinity");
        // SAFETY: `CPU_EQUAL` compares two initialised sets.
        assert!(unsafe { libc::CPU_EQUAL(&before.set, &after.set) }, "PE 0's pinning stayed on the caller's thread");
    }
}
