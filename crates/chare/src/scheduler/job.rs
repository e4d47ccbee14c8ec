//! Starting a job on either machine layer, running each PE, and ending it.
//!
//! Local layer: PE 0 runs on the calling thread, PEs 1.. on threads of their
//! own, all sharing one [`LocalMachine`]. MPI layer: this process is one PE
//! (its rank); the [`crate::machine::MpiMachine`] starts MPI and checks that
//! every rank runs the same program. Either way PE 0 starts the main task,
//! and the job ends when it returns, on `exit`, `abort`, a panic or a
//! deadlock ([`Shared::finish`]).

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
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64};
use std::sync::{Arc, Mutex};

type BoxedMain = Box<dyn FnOnce(Rt) -> BoxedTask>;

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
        m.register_thread(id);
    }
    let pe = Pe::new(id, shared.clone(), machine);
    CURRENT.with(|c| c.set(&pe as *const Pe));
    let r = crate::unwind::internal(id, || {
        if let Some(main) = main {
            let rt = Rt::main(shared.main_info.clone());
            let desc = TaskDesc { chare: "main", index: Index::from(0), entry: "main" };
            if let Some(fut) = pe.guard(desc, || main(rt)) {
                pe.spawn(fut, None, desc, true);
            }
        }
        pe.run_loop();
    });
    if let Err(e) = r {
        shared.finish(Err(e));
    }
    #[cfg(feature = "mpi")]
    if let Machine::Mpi(m) = &pe.machine {
        m.end_of_job(id, shared.outcome_snapshot());
    }
    let _ = crate::unwind::internal(id, || pe.shutdown());
    CURRENT.with(|c| c.set(std::ptr::null()));
}

impl Pe {
    /// Drops tasks before chares (tasks may borrow their chare), then what
    /// is still queued.
    fn shutdown(&self) {
        self.tasks.clear();
        self.chares.clear();
        while self.machine.next(self.id).is_some() {}
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
    let pes = cfg.pes;
    let local = Arc::new(LocalMachine::new(pes));
    let oversubscribed = cfg.oversubscribed();
    let shared = new_shared(cfg, Some(local.clone()), oversubscribed);
    let mut handles = Vec::with_capacity(pes.saturating_sub(1));
    for id in 1..pes {
        let sh = shared.clone();
        let local = local.clone();
        let h = std::thread::Builder::new()
            .name(format!("chare-pe-{id}"))
            .spawn(move || run_pe(sh, id, None, Machine::Local(local)));
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                shared.finish(Err(JobError::Config(format!("cannot start PE thread {id}: {e}"))));
                break;
            }
        }
    }
    let boxed: BoxedMain = Box::new(move |rt| Box::pin(main(rt)) as BoxedTask);
    run_pe(shared.clone(), 0, Some(boxed), Machine::Local(local));
    for h in handles {
        let _ = h.join();
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
