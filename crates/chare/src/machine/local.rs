//! The local layer: PEs are threads of one process.
//!
//! Each PE owns one inbox, a lock-free multi-producer queue
//! (`crossbeam_queue::SegQueue`). A message is moved into the queue as the
//! typed value it is; nothing is serialised or copied beyond the small
//! envelope. Messages from one sender to one receiver keep their order
//! because the queue is FIFO and a sender pushes in program order.
//!
//! Sleep protocol (no lost wake-ups):
//! 1. an idle PE stores `sleeping = true` (SeqCst), then re-checks its inbox and
//!    the stop flag; only if both are empty does it park;
//! 2. a sender pushes, issues a SeqCst fence, then loads `sleeping`; if set it
//!    unparks the PE.
//! Either the sleeper sees the message in step 1's re-check, or the sender sees
//! `sleeping` in step 2. Parks also have a timeout, so a PE never sleeps for
//! ever even if the protocol were broken.

use crate::message::Msg;
use crossbeam_queue::SegQueue;
use crossbeam_utils::CachePadded;
use std::sync::atomic::{fence, AtomicBool, Ordering};
use std::sync::OnceLock;
use std::thread::Thread;
use std::time::Duration;

/// One PE's receiving side, shared with every sender.
pub(crate) struct PeSlot {
    inbox: SegQueue<Msg>,
    /// True while the PE is parked or about to park (see the sleep protocol).
    sleeping: AtomicBool,
    /// The PE's thread, set once when it starts.
    thread: OnceLock<Thread>,
}

/// All PEs of the process.
pub(crate) struct LocalMachine {
    slots: Box<[CachePadded<PeSlot>]>,
}

impl LocalMachine {
    pub(crate) fn new(pes: usize) -> LocalMachine {
        let slots = (0..pes)
            .map(|_| {
                CachePadded::new(PeSlot {
                    inbox: SegQueue::new(),
                    sleeping: AtomicBool::new(false),
                    thread: OnceLock::new(),
                })
            })
            .collect();
        LocalMachine { slots }
    }

    /// Records the calling thread as PE `pe`'s thread (for wake-ups).
    pub(crate) fn register_thread(&self, pe: usize) {
        let _ = self.slots[pe].thread.set(std::thread::current());
    }

    /// Moves `msg` into PE `to`'s inbox and wakes it if it sleeps.
    #[inline]
    pub(crate) fn send(&self, to: usize, msg: Msg) {
        let slot = &self.slots[to];
        slot.inbox.push(msg);
        fence(Ordering::SeqCst);
        if slot.sleeping.load(Ordering::SeqCst) {
            Self::wake(slot);
        }
    }

    #[cold]
    fn wake(slot: &PeSlot) {
        if let Some(t) = slot.thread.get() {
            t.unpark();
        }
    }

    /// Wakes PE `pe` whatever it is doing (used at shutdown).
    pub(crate) fn wake_pe(&self, pe: usize) {
        Self::wake(&self.slots[pe]);
    }

    /// Takes the oldest message of PE `me`'s inbox.
    #[inline]
    pub(crate) fn try_recv(&self, me: usize) -> Option<Msg> {
        self.slots[me].inbox.pop()
    }

    /// Parks PE `me` until a message arrives, `wake_pe` is called or
    /// `timeout` passes, unless `abort_sleep` says not to (checked after
    /// announcing the sleep).
    pub(crate) fn park(&self, me: usize, timeout: Duration, abort_sleep: impl Fn() -> bool) {
        let slot = &self.slots[me];
        slot.sleeping.store(true, Ordering::SeqCst);
        if slot.inbox.is_empty() && !abort_sleep() {
            std::thread::park_timeout(timeout);
        }
        slot.sleeping.store(false, Ordering::SeqCst);
    }
}
