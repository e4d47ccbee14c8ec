//! Synchronisation facade of the local machine layer (tokio-style).
//!
//! The local machine layer (`local.rs`, the parent module) names its
//! atomics, fences, thread handles, park and inbox queue only through this
//! module, so that the very same protocol code runs on the real primitives
//! in a normal build and on [loom]'s model-checked ones when the crate is
//! built with `RUSTFLAGS="--cfg loom"`.
//!
//! * `not(loom)`: plain re-exports of `std` and `crossbeam_queue::SegQueue`,
//!   plus two `#[inline(always)]` one-line wrappers ([`park_timeout`] and
//!   [`ThreadSlot`], a `OnceLock<Thread>`): zero cost, the generated code is
//!   what direct use of `std` gives.
//! * `loom`: loom's atomics, `fence`, `thread::{park, current, Thread}`; a
//!   queue whose emptiness test is a lock-free atomic load, like the
//!   `SegQueue`'s; a `OnceLock`-like thread slot with the same
//!   release/acquire publication as `std`'s. Loom has no `park_timeout`:
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
    pub(crate) use crossbeam_queue::SegQueue as Queue;
    pub(crate) use std::sync::atomic::{fence, AtomicBool, Ordering};
    use std::sync::OnceLock;
    pub(crate) use std::thread::{current, Thread};
    use std::time::Duration;

    /// `std::thread::park_timeout`.
    #[inline(always)]
    pub(crate) fn park_timeout(timeout: Duration) {
        std::thread::park_timeout(timeout);
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
    use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::atomic::{fence, AtomicBool, Ordering};
    use loom::sync::atomic::{AtomicU8, AtomicUsize};
    pub(crate) use loom::thread::{current, park, Thread};
    use std::collections::VecDeque;
    use std::time::Duration;

    /// Loom has no `park_timeout`: parks without a timeout.
    pub(crate) fn park_timeout(_timeout: Duration) {
        park();
    }

    /// Model of `crossbeam_queue::SegQueue`. Emptiness is, like
    /// `SegQueue`'s, a lock-free `SeqCst` load of a counter that `push` bumps
    /// with a `SeqCst` read-modify-write (the `SegQueue` tail CAS), so loom
    /// checks the sleep protocol's fences against the queue's real orderings,
    /// with no lock adding any.
    ///
    /// The items themselves sit in a `std` mutex (not a loom one) whose
    /// critical sections contain no loom operation: loom runs one thread at a
    /// time and switches only at loom operations, so the mutex is never
    /// contended and is invisible to the model. A loom `Mutex` would not do:
    /// a thread blocked on it must not be unparked, and loom 0.7 mishandles
    /// an `unpark` that hits a thread blocked on anything but `park`
    /// ("expected to be able to acquire lock", tokio-rs/loom#249).
    pub(crate) struct Queue<T> {
        items: std::sync::Mutex<VecDeque<T>>,
        /// Items published by `push` and not yet taken by `pop`.
        len: AtomicUsize,
    }

    impl<T> Queue<T> {
        pub(crate) fn new() -> Queue<T> {
            Queue { items: std::sync::Mutex::new(VecDeque::new()), len: AtomicUsize::new(0) }
        }

        pub(crate) fn push(&self, v: T) {
            self.items.lock().unwrap().push_back(v);
            self.len.fetch_add(1, Ordering::SeqCst);
        }

        /// Single consumer (the mailbox's owner): if `len` says an item is
        /// published, the deque holds at least one.
        pub(crate) fn pop(&self) -> Option<T> {
            if self.len.load(Ordering::SeqCst) == 0 {
                return None;
            }
            let v = self.items.lock().unwrap().pop_front();
            assert!(v.is_some(), "published item missing");
            self.len.fetch_sub(1, Ordering::SeqCst);
            v
        }

        pub(crate) fn is_empty(&self) -> bool {
            self.len.load(Ordering::SeqCst) == 0
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
