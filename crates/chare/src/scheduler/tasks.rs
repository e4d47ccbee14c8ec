//! Tasks: async entry methods and the main task, polled by their PE.
//!
//! A task lives in a slot of the PE's [`TaskTable`] (slots are reused; a
//! generation number tells a stale wake-up from a current one). Its waker
//! puts it on the PE's ready queue, directly when woken on the PE's own
//! thread, through the PE's inbox ([`Msg::Wake`]) from any other thread. The
//! run loop polls ready tasks after each message (see [`super::run_loop`]).

use crate::index::Index;
use crate::message::{Addr, Msg};
use crate::object::AnyCell;
use crate::scheduler::{Pe, Shared, CURRENT};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

/// What a suspended task waits on, for deadlock reports.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) enum WaitOn {
    #[default]
    Unknown,
    Future {
        pe: usize,
        id: u64,
    },
    Channel {
        from: Addr,
    },
    /// A `Reentrant::wait_until` condition on its chare's state.
    Condition,
    /// Its chare's exclusive async entry, which holds the chare (a
    /// reentrant entry resumes once that one finishes).
    Exclusive,
}

impl fmt::Display for WaitOn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitOn::Unknown => f.write_str("something that is not a Chare future or channel"),
            WaitOn::Future { pe, id } => write!(f, "future #{id} (owned by PE {pe})"),
            WaitOn::Channel { from } => {
                write!(f, "channel recv from collection {} element #{}", from.coll, from.lin)
            }
            WaitOn::Condition => f.write_str("a wait_until condition on its chare's state"),
            WaitOn::Exclusive => f.write_str("its chare's exclusive async entry to finish"),
        }
    }
}

/// Who runs a task, for reports.
#[derive(Clone, Copy)]
pub(crate) struct TaskDesc {
    pub chare: &'static str,
    pub index: Index,
    pub entry: &'static str,
    /// Where a panic goes instead of ending the job (the caller asked for
    /// it: `NAME_try_ret`); see [`crate::unwind`].
    pub catch: Option<crate::future::Catch>,
}

pub(crate) type BoxedTask = Pin<Box<dyn Future<Output = ()>>>;

/// What a task is: what its end (and, for reentrant entries, each of its
/// steps) means for its owner.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum TaskKind {
    /// The main task: the job ends when it returns.
    Main,
    /// An exclusive async entry: its chare is told when it finishes.
    Entry,
    /// A reentrant async entry (`crate::reentrant`): its chare is told
    /// after every poll, since each step may change the chare's state.
    Reentrant,
}

struct TaskSlot {
    gen: u32,
    /// None while the task is being polled or after it finished. Declared
    /// before `owner`: a task borrows its owner's chare, so it drops first.
    fut: Option<BoxedTask>,
    /// The chare whose async entry this is; told when the task finishes. The
    /// reference keeps the cell alive as long as the task exists.
    owner: Option<Rc<dyn AnyCell>>,
    desc: TaskDesc,
    /// The owner's stream sender, for migratable owners (their messages are
    /// ordered; see `crate::migration::order`), decided once at spawn.
    sender: Option<crate::migration::order::Sender>,
    /// The owner's entry time is measured (load balancing; migratable
    /// owners only).
    measured: bool,
    waiting: WaitOn,
    waker: Option<Waker>,
    kind: TaskKind,
    live: bool,
}

/// The tasks of one PE.
#[derive(Default)]
pub(crate) struct TaskTable {
    slots: RefCell<Vec<TaskSlot>>,
    free: RefCell<Vec<u32>>,
    /// Woken tasks (id, generation), in wake order.
    ready: RefCell<VecDeque<(u32, u32)>>,
    /// What the task being polled said it waits on.
    wait_note: Cell<WaitOn>,
}

impl TaskTable {
    #[inline]
    pub(crate) fn make_ready(&self, task: u32, gen: u32) {
        self.ready.borrow_mut().push_back((task, gen));
    }

    #[inline]
    pub(crate) fn has_ready(&self) -> bool {
        !self.ready.borrow().is_empty()
    }

    #[inline]
    pub(crate) fn ready_len(&self) -> usize {
        self.ready.borrow().len()
    }

    #[inline]
    fn pop_ready(&self) -> Option<(u32, u32)> {
        self.ready.borrow_mut().pop_front()
    }

    /// Tasks started and not finished (for statistics: a walk of the table).
    pub(crate) fn live(&self) -> usize {
        self.slots.borrow().iter().filter(|t| t.live).count()
    }

    /// Drops every task (before any chare: tasks may borrow their chare).
    pub(crate) fn clear(&self) {
        let slots = std::mem::take(&mut *self.slots.borrow_mut());
        drop(slots);
        self.ready.borrow_mut().clear();
    }
}

struct TaskWaker {
    shared: Arc<Shared>,
    pe: usize,
    task: u32,
    gen: u32,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }
    fn wake_by_ref(self: &Arc<Self>) {
        let here = CURRENT.with(|c| {
            let p = c.get();
            // SAFETY: CURRENT is non-null only while the PE it points to is
            // alive on this thread (set and cleared by `run_pe`).
            !p.is_null() && unsafe { (*p).id == self.pe && Arc::ptr_eq(&(*p).shared, &self.shared) }
        });
        if here {
            crate::scheduler::with_pe(|pe| pe.tasks.make_ready(self.task, self.gen));
        } else {
            self.shared.send_external(self.pe, Msg::Wake { task: self.task, gen: self.gen });
        }
    }
}

impl Pe {
    /// Records what the task being polled now waits on (for deadlock reports).
    pub(crate) fn note_wait(&self, w: WaitOn) {
        self.tasks.wait_note.set(w);
    }

    /// Starts a task and polls it once. Returns true if it already finished
    /// (then `owner` is not told, of that poll either: the caller handles
    /// that case itself).
    pub(crate) fn spawn(&self, fut: BoxedTask, owner: Option<Rc<dyn AnyCell>>, desc: TaskDesc, kind: TaskKind) -> bool {
        let (id, gen) = {
            let mut tasks = self.tasks.slots.borrow_mut();
            let id = match self.tasks.free.borrow_mut().pop() {
                Some(id) => id,
                None => {
                    tasks.push(TaskSlot {
                        gen: 0,
                        fut: None,
                        owner: None,
                        desc,
                        sender: None,
                        measured: false,
                        waiting: WaitOn::Unknown,
                        waker: None,
                        kind: TaskKind::Entry,
                        live: false,
                    });
                    (tasks.len() - 1) as u32
                }
            };
            let slot = &mut tasks[id as usize];
            slot.gen = slot.gen.wrapping_add(1);
            slot.fut = Some(fut);
            slot.sender = owner.as_ref().map(|c| c.sender()).filter(|s| s.migratable);
            slot.measured = slot.sender.is_some() && owner.as_ref().is_some_and(|c| c.measured());
            slot.owner = owner;
            slot.desc = desc;
            slot.waiting = WaitOn::Unknown;
            slot.kind = kind;
            slot.live = true;
            slot.waker = Some(Waker::from(Arc::new(TaskWaker {
                shared: self.shared.clone(),
                pe: self.id,
                task: id,
                gen: slot.gen,
            })));
            (id, slot.gen)
        };
        self.poll_task(id, gen, false)
    }

    /// Polls the tasks that are ready now (not those they wake: a task that
    /// wakes itself runs again after the next message).
    #[inline]
    pub(crate) fn poll_ready(&self) -> bool {
        let n = self.tasks.ready_len();
        for _ in 0..n {
            let Some((id, gen)) = self.tasks.pop_ready() else { break };
            self.poll_task(id, gen, true);
        }
        n > 0
    }

    /// Polls task `id` if it is still generation `gen`. Returns true when it
    /// finished during this poll. `notify_owner`: tell the owning chare (that
    /// the task finished; for a reentrant task, also that it stepped).
    fn poll_task(&self, id: u32, gen: u32, notify_owner: bool) -> bool {
        let (mut fut, waker, desc, migratable) = {
            let mut tasks = self.tasks.slots.borrow_mut();
            let slot = &mut tasks[id as usize];
            if slot.gen != gen || !slot.live {
                return false;
            }
            let Some(f) = slot.fut.take() else {
                return false;
            };
            // Taken, not cloned (a clone and its drop are two atomic
            // read-modify-writes per poll); put back below if the task waits.
            // Nothing reads a slot's waker while its task is being polled.
            (f, slot.waker.take().expect("live task has a waker"), slot.desc, slot.sender.is_some())
        };
        self.tasks.wait_note.set(WaitOn::Unknown);
        let mut cx = Context::from_waker(&waker);
        // A migratable chare's task: its messages are ordered in its streams,
        // and its time may be measured (cold: other tasks pay one branch).
        let t0 = if migratable { self.task_enter(id) } else { None };
        let polled = self.guard(desc, || fut.as_mut().poll(&mut cx));
        if migratable {
            self.task_exit(id, t0);
        }
        match polled {
            Some(Poll::Pending) => {
                let stepped = {
                    let mut tasks = self.tasks.slots.borrow_mut();
                    let slot = &mut tasks[id as usize];
                    slot.fut = Some(fut);
                    slot.waker = Some(waker);
                    slot.waiting = self.tasks.wait_note.get();
                    (notify_owner && slot.kind == TaskKind::Reentrant).then(|| slot.owner.clone()).flatten()
                };
                if let Some(owner) = stepped {
                    owner.stepped(&owner, self);
                }
                false
            }
            // Finished, or panicked: a caught panic (`desc.catch`) ends the
            // task as if it returned, and the job goes on; otherwise the job
            // ends and nothing runs after this.
            Some(Poll::Ready(())) | None => {
                let returned = polled.is_some();
                drop(fut);
                let (owner, kind) = {
                    let mut tasks = self.tasks.slots.borrow_mut();
                    let slot = &mut tasks[id as usize];
                    slot.live = false;
                    slot.waker = None;
                    (slot.owner.take(), slot.kind)
                };
                self.tasks.free.borrow_mut().push(id);
                if kind == TaskKind::Main && returned {
                    self.shared.finish(Ok(0));
                }
                if notify_owner {
                    if let Some(owner) = owner {
                        match kind {
                            TaskKind::Reentrant => owner.stepped(&owner, self),
                            _ => owner.task_done(&owner, self),
                        }
                    }
                }
                true
            }
        }
    }

    /// Before polling a migratable chare's task: it sends as its chare; the
    /// clock, if the chare's time is measured.
    #[cold]
    fn task_enter(&self, id: u32) -> Option<std::time::Instant> {
        let tasks = self.tasks.slots.borrow();
        let slot = &tasks[id as usize];
        self.streams.current.set(slot.sender);
        slot.measured.then(std::time::Instant::now)
    }

    /// After polling it: the time to its chare's load.
    #[cold]
    fn task_exit(&self, id: u32, t0: Option<std::time::Instant>) {
        self.streams.current.set(None);
        if let Some(t0) = t0 {
            let owner = self.tasks.slots.borrow()[id as usize].owner.clone();
            if let Some(c) = owner {
                c.add_load(t0.elapsed().as_secs_f64());
            }
        }
    }

    /// One line per suspended task of this PE.
    pub(crate) fn waiting_tasks(&self) -> Vec<String> {
        let tasks = self.tasks.slots.borrow();
        tasks
            .iter()
            .filter(|t| t.live)
            .map(|t| {
                let waiting = match t.waiting {
                    WaitOn::Channel { from } => format!("channel recv from {}", self.describe(&from)),
                    w => w.to_string(),
                };
                format!("PE {}: {}[{}].{} waits on {}", self.id, t.desc.chare, t.desc.index, t.desc.entry, waiting)
            })
            .collect()
    }
}
