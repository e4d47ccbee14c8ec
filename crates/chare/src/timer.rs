//! Timers: [`Rt::sleep`](crate::Rt::sleep) and
//! [`Rt::schedule_after`](crate::Rt::schedule_after) (Charm4Py's
//! `charm.sleep` and `charm.scheduleCallableAfter`), one table of deadlines
//! per PE.
//!
//! 1. A [`Sleep`] polled before its deadline registers its task's waker in
//!    its PE's [`Timers`] under a fresh id (a later poll only refreshes the
//!    waker); `schedule_after` registers its closure the same way. Both are
//!    kept in a min-heap of `(deadline, id)`: ids grow, so timers with one
//!    deadline fire in the order they were registered.
//! 2. Once per round of the run loop (`scheduler/run_loop.rs`), and only
//!    while [`Timers::armed`] (a timer is in the heap: one `Cell` load and a
//!    branch otherwise, no clock read), the PE reads the clock and fires what
//!    is due, in deadline order: a sleeping task is woken (and polled in the
//!    same round), a closure runs at once inside [`Pe::guard`] (a panic in it
//!    ends the job like a panic in an entry method). A timer fires after at
//!    most one batch of messages (`BATCH`) past its deadline.
//! 3. An idle PE wakes by the earliest deadline (`scheduler/idle.rs`): the
//!    local layer bounds its park by it; the MPI layer, which polls and never
//!    parks, leaves its MPI-only spin so that every idle round checks the
//!    clock.
//!
//! Quiescence: **a pending timer is pending work**. A PE with a pending
//! timer counts as busy for quiescence detection ([`Pe::busy`] on the MPI
//! layer, the `timers` counter read by the local snapshot), so
//! `wait_quiescence` completes only once no timer is pending, and a job
//! whose only pending work is a timer is neither quiescent nor reported as
//! deadlocked: it waits for the timer. (Charm++'s quiescence detection
//! ignores `CcdCallFnAfter` timers; Chare does not, so that quiescence still
//! means "all the work started is done" when some of it is delayed.) A
//! closure that schedules itself again for ever therefore keeps the job from
//! quiescence: stop it before waiting for quiescence.
//!
//! Cancelling: dropping a registered `Sleep` removes its entry; its heap
//! slot is skipped when it comes up. Invariant: the heap is empty (and
//! [`Timers::armed`] false) whenever no timer is pending, and it is
//! compacted when cancelled slots outnumber the live ones, so a cancelled
//! sleep never keeps the loop reading the clock for long.

use crate::index::Index;
use crate::scheduler::{on_pe, with_pe, Pe, TaskDesc};
use rustc_hash::FxHashMap;
use std::cell::{Cell, RefCell};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// What a timer does when it fires.
pub(crate) enum Action {
    /// Wakes the task of a [`Sleep`].
    Wake(Waker),
    /// Runs a `schedule_after` closure on this PE.
    Call(Box<dyn FnOnce()>),
}

/// One PE's timers.
#[derive(Default)]
pub(crate) struct Timers {
    /// `(deadline, id)`, earliest first. May hold ids no longer in
    /// `pending` (cancelled sleeps), skipped when they come up.
    heap: RefCell<BinaryHeap<Reverse<(Instant, u64)>>>,
    /// The live timers by id.
    pending: RefCell<FxHashMap<u64, Action>>,
    next_id: Cell<u64>,
    /// The deadline at the top of `heap`, None when it is empty: what the
    /// run loop and the idle policy look at.
    earliest: Cell<Option<Instant>>,
    /// Timers fired so far (for [`crate::Stats`]).
    fired: Cell<u64>,
}

impl Timers {
    /// Whether a timer may be due some day: the only check the run loop
    /// makes while none is (see the module docs).
    #[inline]
    pub(crate) fn armed(&self) -> bool {
        self.earliest.get().is_some()
    }

    /// The earliest deadline of the heap (possibly a cancelled timer's).
    #[inline]
    pub(crate) fn earliest(&self) -> Option<Instant> {
        self.earliest.get()
    }

    /// Timers registered and not fired or cancelled.
    pub(crate) fn pending(&self) -> usize {
        self.pending.borrow().len()
    }

    /// Timers fired so far.
    pub(crate) fn fired(&self) -> u64 {
        self.fired.get()
    }

    /// Drops every timer (at the job's end, on the PE's thread).
    pub(crate) fn clear(&self) {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        self.heap.borrow_mut().clear();
        self.earliest.set(None);
        drop(pending);
    }

    fn refresh_earliest(&self, heap: &BinaryHeap<Reverse<(Instant, u64)>>) {
        self.earliest.set(heap.peek().map(|Reverse((t, _))| *t));
    }
}

impl Pe {
    /// Registers a timer firing at `deadline`; returns its id.
    pub(crate) fn add_timer(&self, deadline: Instant, action: Action) -> u64 {
        let t = &self.timers;
        let id = t.next_id.get();
        t.next_id.set(id + 1);
        t.pending.borrow_mut().insert(id, action);
        let mut heap = t.heap.borrow_mut();
        heap.push(Reverse((deadline, id)));
        t.refresh_earliest(&heap);
        drop(heap);
        self.publish_timers();
        id
    }

    /// Replaces the waker of sleep `id` if it would wake another task (a
    /// `Sleep` polled from a different task context than before).
    fn refresh_timer_waker(&self, id: u64, waker: &Waker) {
        if let Some(Action::Wake(w)) = self.timers.pending.borrow_mut().get_mut(&id) {
            if !w.will_wake(waker) {
                *w = waker.clone();
            }
        }
    }

    /// Removes timer `id` if it has not fired.
    fn cancel_timer(&self, id: u64) {
        let t = &self.timers;
        let Some(action) = t.pending.borrow_mut().remove(&id) else { return };
        {
            let live = t.pending.borrow().len();
            let mut heap = t.heap.borrow_mut();
            if live == 0 {
                heap.clear();
            } else if heap.len() > 2 * live + 64 {
                let pending = t.pending.borrow();
                heap.retain(|Reverse((_, id))| pending.contains_key(id));
            }
            t.refresh_earliest(&heap);
        }
        self.publish_timers();
        // Dropped with no borrow held: a closure's captures may drop
        // runtime handles.
        drop(action);
    }

    /// Takes the timers due now, in deadline order (ties: registration
    /// order). Only called while [`Timers::armed`]: reads the clock.
    pub(crate) fn take_due_timers(&self) -> Vec<Action> {
        let t = &self.timers;
        let now = Instant::now();
        let mut due = Vec::new();
        {
            let mut heap = t.heap.borrow_mut();
            let mut pending = t.pending.borrow_mut();
            while let Some(&Reverse((deadline, id))) = heap.peek() {
                if deadline > now {
                    break;
                }
                heap.pop();
                if let Some(a) = pending.remove(&id) {
                    due.push(a);
                }
            }
            // Only cancelled slots left: the loop need not look again.
            if pending.is_empty() {
                heap.clear();
            }
            t.refresh_earliest(&heap);
        }
        if !due.is_empty() {
            t.fired.set(t.fired.get() + due.len() as u64);
            self.publish_timers();
        }
        due
    }

    /// Fires timers taken by [`Pe::take_due_timers`], in their order.
    pub(crate) fn run_timers(&self, due: Vec<Action>) {
        for a in due {
            if self.shared.stopping() {
                return;
            }
            match a {
                Action::Wake(w) => w.wake(),
                Action::Call(f) => {
                    let desc = TaskDesc { chare: "timer", index: Index::from(0), entry: "schedule_after", catch: None };
                    self.guard(desc, f);
                }
            }
        }
    }

    /// Tells quiescence detection how many timers this PE holds (read by
    /// PE 0's snapshot on the local layer; see the module docs).
    fn publish_timers(&self) {
        self.qd_counters().timers.store(self.timers.pending() as u64, Ordering::SeqCst);
    }
}

/// The deadline `delay` from now; panics (at the caller's line) if it cannot
/// be represented.
#[track_caller]
pub(crate) fn deadline_after(delay: Duration) -> Instant {
    match Instant::now().checked_add(delay) {
        Some(t) => t,
        None => panic!("a delay of {delay:?} is too long for the clock"),
    }
}

/// Registers `f` to run on the calling PE `delay` from now.
#[track_caller]
pub(crate) fn schedule_after(delay: Duration, f: Box<dyn FnOnce()>) {
    let deadline = deadline_after(delay);
    with_pe(|pe| pe.add_timer(deadline, Action::Call(f)));
}

/// A future that completes once its deadline has passed, suspending only
/// the task that awaits it: the PE handles other messages and runs other
/// tasks meanwhile (Charm4Py's `charm.sleep` in a coroutine). Made by
/// [`Rt::sleep`](crate::Rt::sleep) (also on `Ctx` and `Reentrant`); awaited
/// in the main task or in an `async` entry method, on the PE that made it.
///
/// It completes no earlier than its deadline, and later by at most the
/// time the PE needs to finish what it is doing (an entry method that runs
/// long delays it, as it delays every message).
#[must_use = "a Sleep does nothing unless it is awaited"]
pub struct Sleep {
    deadline: Instant,
    /// The timer registered by the first early poll.
    id: Option<u64>,
    /// Not `Send`: the timer lives in the table of the PE that polls it.
    _pe: PhantomData<*const ()>,
}

impl Sleep {
    pub(crate) fn until(deadline: Instant) -> Sleep {
        Sleep { deadline, id: None, _pe: PhantomData }
    }

    /// When it completes.
    pub fn deadline(&self) -> Instant {
        self.deadline
    }
}

impl std::future::Future for Sleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.deadline {
            if let Some(id) = self.id.take() {
                with_pe(|pe| pe.cancel_timer(id));
            }
            return Poll::Ready(());
        }
        match self.id {
            Some(id) => with_pe(|pe| pe.refresh_timer_waker(id, cx.waker())),
            None => {
                let deadline = self.deadline;
                self.id = Some(with_pe(|pe| pe.add_timer(deadline, Action::Wake(cx.waker().clone()))));
            }
        }
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        // Off a PE (the job is over and its tables are gone) there is
        // nothing to cancel.
        if let Some(id) = self.id.take() {
            if on_pe() {
                with_pe(|pe| pe.cancel_timer(id));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::future::Future as _;
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    /// Closures fire in deadline order, ties in registration order, none
    /// before its deadline; a cancelled sleep leaves nothing pending.
    #[test]
    fn timers_fire_in_deadline_order_and_never_early() {
        let r = crate::Runtime::with_pes(1).run(|rt| async move {
            let log = Rc::new(RefCell::new(Vec::new()));
            let t0 = Instant::now();
            for (name, ms) in [("c", 30u64), ("a", 10), ("b", 20), ("a2", 10)] {
                let log = log.clone();
                rt.schedule_after(Duration::from_millis(ms), move || {
                    log.borrow_mut().push((name, t0.elapsed()));
                });
            }
            let never = rt.sleep(Duration::from_secs(3600));
            let mut never = Box::pin(never);
            // Poll it once so that it registers, then drop it.
            std::future::poll_fn(|cx| {
                assert!(never.as_mut().poll(cx).is_pending());
                std::task::Poll::Ready(())
            })
            .await;
            crate::scheduler::with_pe(|pe| assert_eq!(pe.timers.pending(), 5));
            drop(never);
            crate::scheduler::with_pe(|pe| assert_eq!(pe.timers.pending(), 4));
            rt.sleep(Duration::from_millis(40)).await;
            let log = log.borrow();
            let names: Vec<_> = log.iter().map(|e| e.0).collect();
            assert_eq!(names, ["a", "a2", "b", "c"]);
            for ((_, at), ms) in log.iter().zip([10, 10, 20, 30]) {
                assert!(*at >= Duration::from_millis(ms), "fired after {at:?}, before its {ms} ms");
            }
            crate::scheduler::with_pe(|pe| {
                assert_eq!(pe.timers.pending(), 0);
                assert!(!pe.timers.armed());
                assert_eq!(pe.timers.fired(), 5);
            });
        });
        assert_eq!(r, Ok(0));
    }
}
