//! Panics, caught and reported in one place.
//!
//! User code (constructors, entry methods, async entry tasks, the main task)
//! runs inside [`Pe::guard`]: a panic there ends the whole job with
//! [`JobError::Panic`] naming the PE, chare, index and entry method, the
//! message and the source location; unless the caller asked for the panic
//! (an entry called with `NAME_try_ret` / `NAME_try_all_ret`: the task's
//! [`TaskDesc::catch`]), which then gets it as an [`EntryError`] through its
//! future, and the job goes on. Pool tasks run inside [`Pe::catch_task`],
//! which gives the panic as an `EntryError` to the pool. A panic inside the runtime itself (a
//! bug) ends the job with an internal error ([`internal`]). Nothing unwinds
//! through the scheduler's loop.
//!
//! Output: the runtime's panic hook ([`install_hook`], once per process)
//! keeps panics on PE threads quiet and records their location (and the
//! backtrace when `RUST_BACKTRACE` asks for one) for the report, so a panic
//! gives exactly one line, `chare: PE p: panic in T[i].entry: message (at
//! file:line:col)`, with the backtrace below it. Panics on other threads go
//! to the hook that was installed before.

use crate::error::{EntryError, JobError};
use crate::scheduler::{Pe, TaskDesc};
use std::any::Any;
use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

/// Where the last panic on this thread happened, and its backtrace if
/// captured: (location, backtrace).
type PanicSite = (Option<String>, Option<String>);

thread_local! {
    static LAST_PANIC: RefCell<Option<PanicSite>> = const { RefCell::new(None) };
}

/// Installs the runtime's panic hook (once per process).
pub(crate) fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !crate::scheduler::on_pe() {
                return previous(info);
            }
            let location = info.location().map(|l| format!("{}:{}:{}", l.file(), l.line(), l.column()));
            let bt = Backtrace::capture();
            let bt = (bt.status() == BacktraceStatus::Captured).then(|| bt.to_string());
            LAST_PANIC.with(|c| *c.borrow_mut() = Some((location, bt)));
        }));
    });
}

/// The site the hook recorded for the panic being handled on this thread.
fn take_site() -> PanicSite {
    LAST_PANIC.with(|c| c.borrow_mut().take()).unwrap_or((None, None))
}

impl Pe {
    /// Runs user code `f` for `desc`; a panic ends the job (or goes to
    /// `desc.catch`) and gives None.
    #[inline]
    pub(crate) fn guard<R>(&self, desc: TaskDesc, f: impl FnOnce() -> R) -> Option<R> {
        self.guard_with(|| desc, f)
    }

    /// [`Self::guard`] with the description made only if `f` panics (the
    /// entry path: a description is ~100 bytes moved per call otherwise).
    #[inline]
    pub(crate) fn guard_with<R>(&self, desc: impl FnOnce() -> TaskDesc, f: impl FnOnce() -> R) -> Option<R> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => Some(r),
            Err(payload) => {
                self.fail_panic(desc(), payload);
                None
            }
        }
    }

    /// Runs a pool task `f` (item `index` of a map of `task`); a panic
    /// gives its [`EntryError`].
    #[inline]
    pub(crate) fn catch_task<R>(&self, task: &str, index: u64, f: impl FnOnce() -> R) -> Result<R, EntryError> {
        catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
            let (location, _) = take_site();
            EntryError {
                pe: self.id,
                chare: "pool".to_string(),
                index: index.to_string(),
                entry: task.to_string(),
                message: panic_message(&*payload),
                location,
            }
        })
    }

    /// Ends the job because user code panicked, or gives the panic to the
    /// caller that asked for it.
    #[cold]
    fn fail_panic(&self, desc: TaskDesc, payload: Box<dyn Any + Send>) {
        let (location, backtrace) = take_site();
        let err = EntryError {
            pe: self.id,
            chare: desc.chare.to_string(),
            index: desc.index.to_string(),
            entry: desc.entry.to_string(),
            message: panic_message(&*payload),
            location,
        };
        if let Some(catch) = desc.catch {
            return catch.deliver(self, err);
        }
        let EntryError { pe, chare, index, entry, message, location } = err;
        self.shared.finish(Err(JobError::Panic { pe, chare, index, entry, message, location, backtrace }));
    }
}

/// Runs runtime code `f` of PE `pe`; a panic (a runtime bug) becomes an
/// internal error.
pub(crate) fn internal(pe: usize, f: impl FnOnce()) -> Result<(), JobError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| {
        let at = match take_site() {
            (Some(l), _) => format!(" (at {l})"),
            _ => String::new(),
        };
        JobError::Usage { pe, message: format!("internal runtime error: {}{at}", panic_message(&*payload)) }
    })
}

/// The text of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(non-string panic payload)".to_string()
    }
}
