//! Reentrant entries, `when` conditions and `wait_until`: Charm4Py's
//! coroutine semantics (`@coro` entries that let other entries of their chare
//! run while suspended, `@when(cond)` entries, `self.wait(cond)`), in a form
//! that keeps Rust's aliasing rules.
//!
//! # The problem
//!
//! An exclusive async entry (`#[entry] async fn m(&mut self, ..)`, the
//! default) is a task that holds `&mut self` across its awaits: while it is
//! suspended no other entry of the chare may touch the state, so calls to the
//! chare wait until it finishes. A Charm4Py program whose coroutine waits for
//! something another entry of the same chare provides deadlocks.
//!
//! # The design: the state is borrowed between awaits, never across one
//!
//! A reentrant entry, `#[entry(reentrant)] async fn m(me: &Reentrant<Self>,
//! args..)`, gets no `self` at all. Its handle [`Reentrant`] lends the
//! state for the length of a closure: [`Reentrant::with`]`(|s: &mut Self| ..)`.
//! A closure cannot await, and its result cannot borrow from `s` (the
//! closure's signature forbids it), so no reference into the state is alive
//! while the task is suspended, and every other entry of the chare may run
//! then, with its own `&mut self`, exactly as in Charm4Py. The borrow rules
//! become:
//!
//! 1. a sync entry, or a step of an exclusive async entry, has `&mut self`
//!    (`&self`) for its whole duration; entries of one PE never run inside
//!    each other, so nothing else is alive then;
//! 2. an exclusive async entry holds the state while suspended (`busy`);
//!    meanwhile calls wait (as before) and reentrant tasks of the chare are
//!    not polled: a woken one parks until the exclusive entry finishes
//!    ([`Gated`]);
//! 3. a reentrant task touches the state only inside `with` (`&mut`) or a
//!    `wait_until` predicate (`&`), both during its own poll, when rules 1
//!    and 2 guarantee nothing else refers to the state; a flag catches the
//!    one overlap left, `with` called inside `with` or inside a predicate
//!    (a panic naming the misuse, never two live `&mut`).
//!
//! The alternative, `&self` with the state in `Cell`s, was rejected: every
//! `&mut self` entry would have to wait for the suspended reentrant ones (a
//! reader-writer lock), which is the deadlock again for ported programs
//! whose other entries take `&mut self`, and reordering the waiting calls to
//! avoid it would break the per-sender order of calls.
//!
//! # `when` conditions
//!
//! `#[entry(when = EXPR)]`: EXPR is a `bool` over `self` (`&Self`) and the
//! entry's arguments (each by reference). A call whose condition does not
//! hold when it would run is held; after every entry of the chare (a sync
//! entry, the end of an async one, each step of a reentrant one) the held
//! calls are checked oldest first, and the first whose condition holds runs;
//! checking then starts again from the oldest. So a held call runs right
//! after the entry that made its condition true, before any other message,
//! and held calls whose conditions hold together run in arrival order.
//!
//! # `wait_until`
//!
//! [`Reentrant::wait_until`]`(pred)` completes at once if `pred(&state)`
//! holds, and otherwise after the first entry of the chare after which it
//! holds (checked when the task is next polled: when it returns, the
//! predicate holds). A version number counts the changes (an entry ran, a
//! `with`); a waiting task is woken only when the state changed since its
//! predicate was last false, so waiting never spins.
//!
//! # Migration
//!
//! A chare moves only when no entry of it runs or is suspended: with a
//! suspended reentrant entry, the move waits until that entry returns.
//! Until then calls keep running (a suspended reentrant entry may be waiting
//! for one of them). Held `when` calls travel with the chare, ahead of the
//! calls that waited for the move, and are checked again on arrival.

use crate::ctx::Ctx;
use crate::object::{Chare, ChareCell};
use crate::scheduler::{with_pe, WaitOn};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, Waker};

/// A reentrant entry's access to its chare: the state between awaits
/// ([`Reentrant::with`]), waiting for a condition on it
/// ([`Reentrant::wait_until`]), and the element's context (it dereferences
/// to [`Ctx`]: `me.index()`, `me.proxy()`, `me.future()`, ...).
///
/// A reentrant entry is declared `#[entry(reentrant)] async fn NAME(me:
/// &Reentrant<Self>, args..)`; while it is suspended, the other entries of
/// the chare run (see the `#[chare]` reference and the crate docs,
/// "Semantics"). The handle exists only inside the entry's task and cannot be
/// created or kept elsewhere.
///
/// ```
/// use chare::prelude::*;
///
/// struct Mailbox { wanted: Option<Future<u64>>, sum: u64 }
///
/// #[chare]
/// impl Mailbox {
///     fn new() -> Self { Mailbox { wanted: None, sum: 0 } }
///
///     // Waits for a value that another entry of this chare delivers:
///     // with an exclusive entry, `deliver` could never run meanwhile.
///     #[entry(reentrant)]
///     async fn take(me: &Reentrant<Self>) -> u64 {
///         let f = me.future::<u64>();
///         me.with(|s| s.wanted = Some(f.clone()));
///         let v = f.await;                       // other entries run here
///         me.with(|s| { s.sum += v; s.sum })
///     }
///
///     #[entry]
///     fn deliver(&mut self, v: u64) {
///         if let Some(f) = self.wanted.take() { f.set(v) }
///     }
/// }
///
/// let code = chare::Runtime::with_pes(2).run(|rt| async move {
///     let m = rt.chare::<Mailbox>(1).create(());
///     let got = m.take_ret();
///     m.deliver(5);
///     assert_eq!(got.await, 5);
/// });
/// assert_eq!(code, Ok(0));
/// ```
///
/// No reference into the state outlives `with`'s closure:
///
/// ```compile_fail
/// use chare::prelude::*;
/// struct S { n: u64 }
/// #[chare]
/// impl S {
///     fn new() -> Self { S { n: 0 } }
///     #[entry(reentrant)]
///     async fn run(me: &Reentrant<Self>, f: Future<u64>) {
///         let n: &mut u64 = me.with(|s| &mut s.n);   // error: the borrow escapes
///         *n += f.await;
///     }
/// }
/// ```
pub struct Reentrant<T: Chare> {
    /// The chare's cell. Invariant: it outlives this handle, which lives
    /// only inside a task of the cell (see [`Reentrant::new`]).
    cell: NonNull<ChareCell<T>>,
}

impl<T: Chare> Reentrant<T> {
    /// The handle of a new reentrant task of `cell`; counts the task.
    ///
    /// # Safety
    /// The handle must be moved into a task owned by `cell` (whose slot keeps
    /// the cell's `Rc`, dropping the task first) and only lent from there,
    /// so that `cell` outlives it; the task must be polled only through
    /// [`Gated`].
    pub(crate) unsafe fn new(cell: &ChareCell<T>) -> Reentrant<T> {
        let re = cell.re();
        re.tasks.set(re.tasks.get() + 1);
        Reentrant { cell: NonNull::from(cell) }
    }

    fn cell(&self) -> &ChareCell<T> {
        // SAFETY: the cell outlives the handle (the invariant of `cell`).
        unsafe { self.cell.as_ref() }
    }

    /// Runs `f` with exclusive access to the chare's state and returns its
    /// result. Call it between awaits, as often as needed: while the entry
    /// is suspended, other entries of the chare may change the state, so
    /// re-read what you need after each await.
    ///
    /// Panics if called inside another `with` or inside a `wait_until`
    /// predicate (the state is already borrowed there).
    #[track_caller]
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let cell = self.cell();
        let _lent = cell.re().lend(Lent::Mut, cell.busy());
        cell.re().touch();
        // SAFETY: `lend` checked that no exclusive entry holds the state
        // (rule 2 of the module docs) and that no `with` or predicate is in
        // progress; we run inside this task's poll, so no entry of the chare
        // runs (rule 1). This is the only reference to the state until `f`
        // returns, and `f`'s result cannot borrow from it.
        let obj: &mut T = unsafe { &mut *cell.obj_ptr() };
        f(obj)
    }

    /// Waits until `pred` holds for the chare's state (Charm4Py's
    /// `self.wait(condition)`): completes at once if it holds now, otherwise
    /// once it holds after an entry of the chare ran. When the future
    /// completes, the predicate holds.
    pub fn wait_until<F: FnMut(&T) -> bool>(&self, pred: F) -> WaitUntil<'_, T, F> {
        WaitUntil { me: self, pred }
    }
}

impl<T: Chare> Deref for Reentrant<T> {
    type Target = Ctx<T>;
    fn deref(&self) -> &Ctx<T> {
        self.cell().ctx()
    }
}

impl<T: Chare> Drop for Reentrant<T> {
    fn drop(&mut self) {
        let re = self.cell().re();
        re.tasks.set(re.tasks.get() - 1);
    }
}

/// The future of [`Reentrant::wait_until`].
#[must_use = "wait_until does nothing unless awaited"]
pub struct WaitUntil<'a, T: Chare, F> {
    me: &'a Reentrant<T>,
    pred: F,
}

// `pred` is never pinned: the future only calls it.
impl<T: Chare, F> Unpin for WaitUntil<'_, T, F> {}

impl<T: Chare, F: FnMut(&T) -> bool> Future for WaitUntil<'_, T, F> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let cell = this.me.cell();
        let holds = {
            let _lent = cell.re().lend(Lent::Shared, cell.busy());
            // SAFETY: as in `with`: nothing else refers to the state; the
            // flag keeps `with` out while the predicate runs.
            let obj: &T = unsafe { &*cell.obj_ptr() };
            (this.pred)(obj)
        };
        if holds {
            return Poll::Ready(());
        }
        cell.re().wait(cx.waker());
        with_pe(|pe| pe.note_wait(WaitOn::Condition));
        Poll::Pending
    }
}

/// How the state is lent right now (see rule 3 of the module docs).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Lent {
    No,
    Shared,
    Mut,
}

/// Resets the lending flag when the borrow ends (also by a panic).
pub(crate) struct LentGuard<'a>(&'a Cell<Lent>);

impl Drop for LentGuard<'_> {
    fn drop(&mut self) {
        self.0.set(Lent::No);
    }
}

/// A chare's reentrancy state, in its cell. Chares without reentrant or
/// `when` entries never use it (the cell's code is compiled out by the
/// `Chare::REENTRANT` / `Chare::WHEN` constants).
pub(crate) struct ReState<M> {
    /// Live reentrant tasks (their [`Reentrant`] handles).
    tasks: Cell<u32>,
    /// What a reentrant task (or [`crate::branch`]) borrows right now.
    lent: Cell<Lent>,
    /// A reentrant task of the chare is being polled: its code runs (see
    /// [`crate::branch`], which refuses the chare's own code).
    polling: Cell<bool>,
    /// Counts changes of the state: entries that ran, `with` calls.
    version: Cell<u64>,
    /// Tasks to wake once the state changed since the version they saw:
    /// `wait_until` futures, and reentrant tasks parked behind an
    /// exclusive entry.
    wakers: RefCell<Vec<(u64, Waker)>>,
    /// `when` calls whose condition did not hold yet, in arrival order.
    pub(crate) held: RefCell<VecDeque<M>>,
}

impl<M> Default for ReState<M> {
    fn default() -> Self {
        ReState {
            tasks: Cell::new(0),
            lent: Cell::new(Lent::No),
            polling: Cell::new(false),
            version: Cell::new(0),
            wakers: RefCell::default(),
            held: RefCell::default(),
        }
    }
}

impl<M> ReState<M> {
    /// Live reentrant tasks of the chare.
    #[inline]
    pub(crate) fn tasks(&self) -> u32 {
        self.tasks.get()
    }

    /// Whether the state is lent to a reentrant task right now.
    #[inline]
    pub(crate) fn lent(&self) -> bool {
        self.lent.get() != Lent::No
    }

    /// Whether a reentrant task of the chare is being polled.
    pub(crate) fn polling(&self) -> bool {
        self.polling.get()
    }

    /// Marks the state lent to a group's local branch ([`crate::branch`],
    /// which checked that it is not lent now) until the guard drops:
    /// `Reentrant::with` and `wait_until` predicates refuse it meanwhile.
    pub(crate) fn lend_to_branch(&self) -> LentGuard<'_> {
        debug_assert!(!self.lent());
        self.lent.set(Lent::Mut);
        LentGuard(&self.lent)
    }

    /// The state may have changed.
    #[inline]
    pub(crate) fn touch(&self) {
        self.version.set(self.version.get() + 1);
    }

    /// Lends the state to a reentrant task (`how`); panics on a nested
    /// borrow. `busy`: an exclusive entry holds the state.
    #[track_caller]
    fn lend(&self, how: Lent, busy: bool) -> LentGuard<'_> {
        // Unreachable through the API: reentrant tasks are polled only
        // through `Gated`, which parks them while `busy`.
        assert!(!busy, "internal error: a reentrant entry ran while an exclusive entry holds its chare");
        match self.lent.get() {
            Lent::No => {}
            Lent::Mut => panic!(
                "the chare's state is already borrowed: Reentrant::with or wait_until called inside Reentrant::with"
            ),
            Lent::Shared => {
                panic!("the chare's state is already borrowed: Reentrant::with called inside a wait_until predicate")
            }
        }
        self.lent.set(how);
        LentGuard(&self.lent)
    }

    /// Registers the task of `waker` to be woken after the state changes.
    fn wait(&self, waker: &Waker) {
        let v = self.version.get();
        let mut ws = self.wakers.borrow_mut();
        match ws.iter_mut().find(|(_, w)| w.will_wake(waker)) {
            Some(slot) => slot.0 = v,
            None => ws.push((v, waker.clone())),
        }
    }

    /// Wakes the tasks that saw an older state (called after every entry
    /// of the chare, when no exclusive entry holds it).
    #[inline]
    pub(crate) fn wake_changed(&self) {
        if self.wakers.borrow().is_empty() {
            return;
        }
        let v = self.version.get();
        let woken: Vec<Waker> = {
            let mut ws = self.wakers.borrow_mut();
            let mut woken = Vec::new();
            ws.retain(|(seen, w)| {
                if *seen < v {
                    woken.push(w.clone());
                    false
                } else {
                    true
                }
            });
            woken
        };
        for w in woken {
            w.wake();
        }
    }
}

/// A reentrant entry's task as the PE polls it: not polled while an
/// exclusive entry of its chare holds the state (rule 2 of the module docs);
/// it parks and is woken when that entry finishes.
pub(crate) struct Gated<T: Chare> {
    /// The chare's cell; it outlives the task (the task's slot holds its
    /// `Rc` and drops the task first).
    cell: NonNull<ChareCell<T>>,
    fut: Pin<Box<dyn Future<Output = ()>>>,
}

impl<T: Chare> Gated<T> {
    /// # Safety
    /// As [`Reentrant::new`]: the result must become a task owned by `cell`.
    pub(crate) unsafe fn new(cell: &ChareCell<T>, fut: Pin<Box<dyn Future<Output = ()>>>) -> Gated<T> {
        Gated { cell: NonNull::from(cell), fut }
    }
}

impl<T: Chare> Future for Gated<T> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: the cell outlives the task (see the field).
        let cell = unsafe { self.cell.as_ref() };
        if cell.busy() {
            cell.re().wait(cx.waker());
            with_pe(|pe| pe.note_wait(WaitOn::Exclusive));
            return Poll::Pending;
        }
        cell.re().polling.set(true);
        let _polled = PollGuard(&cell.re().polling);
        self.fut.as_mut().poll(cx)
    }
}

/// Clears [`ReState`]'s `polling` flag when a poll ends (also by a panic).
struct PollGuard<'a>(&'a Cell<bool>);

impl Drop for PollGuard<'_> {
    fn drop(&mut self) {
        self.0.set(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Count>, Waker) {
        let c = Arc::new(Count(AtomicUsize::new(0)));
        (c.clone(), Waker::from(c))
    }

    #[test]
    fn a_waiter_wakes_only_after_the_state_changed_since_it_looked() {
        let re = ReState::<()>::default();
        let (a, wa) = waker();
        re.wait(&wa);
        re.wait(&wa); // the same task twice: registered once
        re.wake_changed();
        assert_eq!(a.0.load(Ordering::SeqCst), 0, "nothing changed: no wake (no spinning)");
        re.touch();
        let (b, wb) = waker();
        re.wait(&wb); // looked after the change
        re.wake_changed();
        assert_eq!(a.0.load(Ordering::SeqCst), 1);
        assert_eq!(b.0.load(Ordering::SeqCst), 0);
        re.touch();
        re.wake_changed();
        assert_eq!((a.0.load(Ordering::SeqCst), b.0.load(Ordering::SeqCst)), (1, 1), "each woken once");
    }

    #[test]
    fn lending_is_exclusive_and_ends_with_the_borrow() {
        let re = ReState::<()>::default();
        {
            let _g = re.lend(Lent::Mut, false);
            assert!(re.lent());
            let nested = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(re.lend(Lent::Mut, false))));
            assert!(nested.is_err(), "with inside with");
        }
        assert!(!re.lent());
        {
            let _g = re.lend(Lent::Shared, false);
            let nested = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(re.lend(Lent::Mut, false))));
            assert!(nested.is_err(), "with inside a predicate");
        }
        // A panic inside the borrow ends it too.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _g = re.lend(Lent::Mut, false);
            panic!("user code");
        }));
        assert!(!re.lent());
        let busy = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(re.lend(Lent::Shared, true))));
        assert!(busy.is_err(), "never while an exclusive entry holds the state");
    }
}
