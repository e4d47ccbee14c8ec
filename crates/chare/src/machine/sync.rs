//! Synchronisation facade of the local machine layer (tokio-style).
//!
//! The local machine layer (`local.rs`, the parent module) names its
//! atomics, fences, thread handles, park and inbox queue only through this
//! module, so that the very same protocol code runs on the real primitives
//! in a normal build and on [loom]'s model-checked ones when the crate is
//! built with `RUSTFLAGS="--cfg loom"`.
//!
//! * `not(loom)`: plain re-exports of `std`, plus `#[inline(always)]`
//!   one-line wrappers ([`park_timeout`], [`ThreadSlot`], a
//!   `OnceLock<Thread>`, [`UnsafeCell`] with loom's closure-based
//!   access, and [`Lock`], a `Mutex`): zero cost, the generated code is
//!   what direct use of `std` gives.
//! * `loom`: loom's atomics, `fence`, `UnsafeCell`, `thread::{park, current,
//!   Thread}`; a `OnceLock`-like thread slot with the same
//!   release/acquire publication as `std`'s; [`Lock`], a spin lock on a
//!   loom atomic, so that loom may switch threads inside the inbox spill's
//!   critical section (a `std` mutex there would block the one thread loom
//!   runs). Loom has no `park_timeout`:
//!   [`park_timeout`] is a plain `park`, so the model must prove that no
//!   wake-up is lost without the help of timeouts.
//!
//! [loom]: https://docs.rs/loom

#[cfg(not(loom))]
pub(crate) use imp_std::*;

#[cfg(loom)]
pub(crate) use imp_loom::*;

#[cfg(not(loom))]
mod imp_std {
    pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
    use std::sync::OnceLock;
    pub(crate) use std::thread::{current, Thread};
    use std::time::Duration;

    /// `std::thread::park_timeout`.
    #[inline(always)]
    pub(crate) fn park_timeout(timeout: Duration) {
        std::thread::park_timeout(timeout);
    }

    /// A mutex (the inbox's spill): `std::sync::Mutex`, poison ignored.
    pub(crate) struct Lock<T>(std::sync::Mutex<T>);

    impl<T> Lock<T> {
        pub(crate) fn new(v: T) -> Lock<T> {
            Lock(std::sync::Mutex::new(v))
        }

        #[inline]
        pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, T> {
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    /// `std::cell::UnsafeCell` with loom's access methods.
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        #[inline(always)]
        pub(crate) fn new(v: T) -> UnsafeCell<T> {
            UnsafeCell(std::cell::UnsafeCell::new(v))
        }

        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }

        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }

    /// A thread handle set at most once, then read by any thread.
    pub(crate) struct ThreadSlot(OnceLock<Thread>);

    impl ThreadSlot {
        #[inline(always)]
        pub(crate) fn new() -> ThreadSlot {
            ThreadSlot(OnceLock::new())
        }

        /// Stores `t` unless a thread was stored already.
        #[inline(always)]
        pub(crate) fn set(&self, t: Thread) {
            let _ = self.0.set(t);
        }

        /// Unparks the stored thread, if any.
        #[inline(always)]
        pub(crate) fn unpark(&self) {
            if let Some(t) = self.0.get() {
                t.unpark();
            }
        }
    }
}

#[cfg(loom)]
mod imp_loom {
    pub(crate) use loom::cell::UnsafeCell;
    use loom::sync::atomic::AtomicU8;
    pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
    pub(crate) use loom::thread::{current, park, Thread};
    use std::time::Duration;

    /// Loom has no `park_timeout`: parks without a timeout.
    pub(crate) fn park_timeout(_timeout: Duration) {
        park();
    }

    /// A spin lock on a loom atomic, so that loom sees it (and may switch
    /// threads inside its critical section). Not a loom `Mutex`: a thread
    /// blocked on one must not be unparked, and the inbox's owner is
    /// unparked by producers (loom 0.7, tokio-rs/loom#249).
    pub(crate) struct Lock<T> {
        locked: AtomicBool,
        value: std::cell::UnsafeCell<T>,
    }

    // SAFETY: `value` is accessed only through a guard, and one guard exists
    // at a time (the CAS on `locked`), with acquire/release between holders.
    unsafe impl<T: Send> Sync for Lock<T> {}

    pub(crate) struct LockGuard<'a, T>(&'a Lock<T>);

    impl<T> Lock<T> {
        pub(crate) fn new(v: T) -> Lock<T> {
            Lock { locked: AtomicBool::new(false), value: std::cell::UnsafeCell::new(v) }
        }

        pub(crate) fn lock(&self) -> LockGuard<'_, T> {
            while self.locked.compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed).is_err() {
                loom::thread::yield_now();
            }
            LockGuard(self)
        }
    }

    impl<T> std::ops::Deref for LockGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            // SAFETY: this guard holds the lock.
            unsafe { &*self.0.value.get() }
        }
    }

    impl<T> std::ops::DerefMut for LockGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            // SAFETY: this guard holds the lock, and `&mut self` makes this
            // the only reference through it.
            unsafe { &mut *self.0.value.get() }
        }
    }

    impl<T> Drop for LockGuard<'_, T> {
        fn drop(&mut self) {
            self.0.locked.store(false, Ordering::Release);
        }
    }

    const EMPTY: u8 = 0;
    const BUSY: u8 = 1;
    const SET: u8 = 2;

    /// Model of `OnceLock<Thread>` with the same orderings as `std`'s (set
    /// completes with a release store, get is an acquire load). The value is
    /// in a loom `UnsafeCell`, so loom also checks that publication.
    pub(crate) struct ThreadSlot {
        state: AtomicU8,
        thread: UnsafeCell<Option<Thread>>,
    }

    // SAFETY: `thread` is written only by the one caller that moved `state`
    // from EMPTY to BUSY, and read only after `state` was seen SET with an
    // acquire load that synchronises with the writer's release store.
    unsafe impl Sync for ThreadSlot {}

    impl ThreadSlot {
        pub(crate) fn new() -> ThreadSlot {
            ThreadSlot { state: AtomicU8::new(EMPTY), thread: UnsafeCell::new(None) }
        }

        pub(crate) fn set(&self, t: Thread) {
            if self.state.compare_exchange(EMPTY, BUSY, Ordering::Acquire, Ordering::Acquire).is_ok() {
                // SAFETY: we won the EMPTY -> BUSY race: no one else writes,
                // and no one reads before the SET store below.
                self.thread.with_mut(|p| unsafe { *p = Some(t) });
                self.state.store(SET, Ordering::Release);
            }
        }

        pub(crate) fn unpark(&self) {
            if self.state.load(Ordering::Acquire) == SET {
                // SAFETY: SET was published with release after the last
                // write; the acquire load above orders this read after it.
                self.thread.with(|p| unsafe {
                    if let Some(t) = &*p {
                        t.unpark();
                    }
                });
            }
        }
    }
}
