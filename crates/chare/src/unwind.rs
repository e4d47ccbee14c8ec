//! Panics, caught and reported in one place.
//!
//! User code (constructors, entry methods, async entry tasks, the main task)
//! runs inside [`Pe::guard`]: a panic there ends the whole job with
//! [`JobError::Panic`] naming the PE, chare, index and entry method. A panic
//! inside the runtime itself (a bug) ends the job with an internal error
//! ([`internal`]). Nothing unwinds through the scheduler's loop.

use crate::error::JobError;
use crate::scheduler::{Pe, TaskDesc};
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

impl Pe {
    /// Runs user code `f` for `desc`; a panic ends the job and gives None.
    #[inline]
    pub(crate) fn guard<R>(&self, desc: TaskDesc, f: impl FnOnce() -> R) -> Option<R> {
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(r) => Some(r),
            Err(payload) => {
                self.fail_panic(desc, payload);
                None
            }
        }
    }

    /// Ends the job because user code panicked.
    #[cold]
    fn fail_panic(&self, desc: TaskDesc, payload: Box<dyn Any + Send>) {
        let err = JobError::Panic {
            pe: self.id,
            chare: desc.chare.to_string(),
            index: desc.index.to_string(),
            entry: desc.entry.to_string(),
            message: panic_message(&*payload),
        };
        self.shared.finish(Err(err));
    }
}

/// Runs runtime code `f` of PE `pe`; a panic (a runtime bug) becomes an
/// internal error.
pub(crate) fn internal(pe: usize, f: impl FnOnce()) -> Result<(), JobError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| JobError::Usage {
        pe,
        message: format!("internal runtime error: {}", panic_message(&*payload)),
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
