//! The local layer: PEs are threads of one process.
//!
//! Each PE owns one inbox, a lock-free multi-producer, single-consumer FIFO
//! queue ([`inbox`]: a ring of slots whose consumer reads only the slot it
//! takes next, with a locked spill for bursts beyond the ring). A message is
//! moved into the queue as the typed value it is; nothing is serialised or
//! copied beyond the small envelope. Messages from one sender to one
//! receiver keep their order because the queue is FIFO and a sender pushes
//! in program order. A PE's messages to itself join the same inbox
//! (`push_own`), so the PE handles every message in the order it arrived,
//! whoever sent it. Only the PE's own [`LocalPe`] takes from its inbox.
//!
//! Sleep protocol (no lost wake-ups), implemented once in [`Mailbox`]:
//! 1. an idle PE stores `sleeping = true` (SeqCst), issues a SeqCst fence,
//!    then re-checks its inbox and the stop flag; only if both are empty does
//!    it park;
//! 2. a sender pushes, issues a SeqCst fence, then loads `sleeping`; if set it
//!    unparks the PE.
//!
//! Either the sleeper sees the message in step 1's re-check, or the sender sees
//! `sleeping` in step 2. An explicit wake ([`LocalMachine::wake_pe`], used
//! with the stop flag at shutdown) unparks unconditionally, after a SeqCst
//! fence that pairs with step 1's: a PE that registers its thread while the
//! wake runs (so the wake finds no thread to unpark) then sees the stop flag
//! in its abort check. Parks also have a timeout, so a PE never sleeps for
//! ever even if the protocol were broken.
//!
//! # Model checking (loom)
//!
//! All atomics, fences, cells, thread handles and `park` (here and in the
//! inbox) come from the facade [`sync`]: `std` re-exports in a normal build
//! (zero cost), [loom](https://docs.rs/loom) types under `--cfg loom`, where
//! parks have no timeout, so a lost wake-up shows up as a loom deadlock, and
//! the inbox's ring has 2 slots, so the models fill it and spill. The
//! models are in `loom_tests` at the end of this file and exercise
//! [`Mailbox<u32>`], the same generic code (inbox included) that
//! [`LocalMachine`] runs with `Msg`. Run them with:
//!
//! ```text
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom \
//!     cargo test -p chare --release --lib loom
//! ```
//!
//! The models are explored exhaustively except the two with a spill and a
//! concurrent receiver (`loom_spill_keeps_order`, `loom_take_while_spilling`),
//! which run with at most 4 and 3 preemptions (exhaustively they would take
//! minutes and hours); all of them take about 80 s on 2 cores once built,
//! most of it `loom_two_senders`. `LOOM_MAX_PREEMPTIONS=3` bounds every model for a
//! quicker run (about 10 s). `LOOM_LOG=info` prints the
//! number of iterations per model (with `-- --nocapture`); `LOOM_LOG=trace
//! LOOM_LOCATION=1` shows the interleaving of a failure. The separate
//! `CARGO_TARGET_DIR` keeps the `--cfg loom` build (every crate is rebuilt
//! with that flag) from replacing the normal one.
//!
//! The models fail, as they should, if any of these is removed: the fence in
//! `push`, the fence in `park`, the fence in `wake`, the unpark in `push`, or
//! the inbox re-check in `park`; and if the inbox's consumer takes from the
//! spill while claimed ring slots are unwritten, if a producer ignores the
//! spill count, or if a slot is published or handed back `Relaxed`. (A
//! spill count kept outside the spill's lock needs five items in the 2-slot
//! ring, beyond these models: `inbox.rs`'s tiny-ring stress test covers it.) Loom treats SeqCst loads and stores as
//! AcqRel (only SeqCst fences get full strength), which is one reason the
//! protocol is written with explicit fences on both sides.

#[path = "inbox.rs"]
mod inbox;
#[path = "sync.rs"]
mod sync;

use self::inbox::Inbox;
use self::sync::{current, fence, park_timeout, AtomicBool, Ordering, ThreadSlot};
use crate::message::Msg;
use crossbeam_utils::CachePadded;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

/// One PE's receiving side, shared with every sender: an inbox plus the
/// sleep protocol. Generic so that the loom models can run it with `u32`.
pub(crate) struct Mailbox<T> {
    inbox: Inbox<T>,
    /// True while the PE is parked or about to park (see the sleep protocol).
    sleeping: AtomicBool,
    /// The PE's thread, set once when it starts.
    thread: ThreadSlot,
}

impl<T> Mailbox<T> {
    pub(crate) fn new() -> Mailbox<T> {
        Mailbox { inbox: Inbox::new(), sleeping: AtomicBool::new(false), thread: ThreadSlot::new() }
    }

    /// Records the calling thread as the owner (the one that parks).
    pub(crate) fn register_thread(&self) {
        // No fence needed here: the owner checks its abort predicate only
        // after the fence in `park`, which pairs with the one in `wake`.
        self.thread.set(current());
    }

    /// Moves `v` into the inbox and unparks the owner if it sleeps.
    #[inline]
    pub(crate) fn push(&self, v: T) {
        self.inbox.push(v);
        fence(Ordering::SeqCst);
        if self.sleeping.load(Ordering::SeqCst) {
            self.unpark();
        }
    }

    /// Moves `v` into the inbox from the owner itself: the owner is running,
    /// so no sleep protocol is needed (no fence, no look at `sleeping`).
    #[inline]
    pub(crate) fn push_own(&self, v: T) {
        self.inbox.push(v);
    }

    /// Whether an item can be taken now (the owner's view; see
    /// [`Inbox::has_items`]).
    #[inline]
    pub(crate) fn has_items(&self) -> bool {
        self.inbox.has_items()
    }

    #[cold]
    fn unpark(&self) {
        self.thread.unpark();
    }

    /// Unparks the owner whatever it is doing. Whatever the caller stored
    /// before (a stop flag) is seen by the owner's next abort check, or the
    /// owner is unparked.
    pub(crate) fn wake(&self) {
        // Pairs with the fence in `park`: without it, a wake racing with
        // `register_thread` could find no thread while the owner's abort
        // check misses the caller's stop flag (store buffering), and the
        // owner would sleep until its timeout. Loom finds that interleaving
        // (`loom_send_and_stop`) if this fence is removed. Shutdown path.
        fence(Ordering::SeqCst);
        self.unpark();
    }

    /// Takes the oldest item.
    ///
    /// # Safety
    /// Only the owner calls it (one consumer; see [`Inbox::pop`]).
    #[inline]
    pub(crate) unsafe fn pop(&self) -> Option<T> {
        // SAFETY: the caller is the only consumer.
        unsafe { self.inbox.pop() }
    }

    /// Parks the owner until an item arrives, `wake` is called or `timeout`
    /// passes, unless `abort_sleep` says not to (checked after announcing
    /// the sleep). Only the owner calls it.
    pub(crate) fn park(&self, timeout: Duration, abort_sleep: impl Fn() -> bool) {
        self.sleeping.store(true, Ordering::SeqCst);
        // Pairs with the fence in `push` (store `sleeping`; fence; load the
        // queue, against push; fence; load `sleeping`) and with the one in
        // `wake` (store stop flag; fence; look for the thread). The
        // inbox's own loads are acquire only; the fences make the
        // store-then-load on each side sequentially consistent. A producer
        // still writing the slot the owner looks at is seen as "empty"
        // here: that producer publishes, fences and finds `sleeping` set
        // (its fence comes after this one, or the owner would have seen the
        // item), so it wakes the owner. The fence also covers the abort
        // predicate's (possibly Relaxed) loads. Idle path only, right
        // before a park.
        fence(Ordering::SeqCst);
        if !self.inbox.has_items() && !abort_sleep() {
            park_timeout(timeout);
        }
        self.sleeping.store(false, Ordering::SeqCst);
    }
}

/// All PEs of the process: their mailboxes, shared by every sender.
pub(crate) struct LocalMachine {
    slots: Box<[CachePadded<Mailbox<Msg>>]>,
    /// Whether PE *i*'s [`LocalPe`] was handed out (at most once).
    claimed: Box<[std::sync::atomic::AtomicBool]>,
}

impl LocalMachine {
    pub(crate) fn new(pes: usize) -> LocalMachine {
        let slots = (0..pes).map(|_| CachePadded::new(Mailbox::new())).collect();
        let claimed = (0..pes).map(|_| std::sync::atomic::AtomicBool::new(false)).collect();
        LocalMachine { slots, claimed }
    }

    /// PE `pe`'s side of the machine: the only handle that takes from its
    /// inbox. Handed out once per PE; a second claim is an internal error.
    pub(crate) fn claim(self: &Arc<Self>, pe: usize) -> LocalPe {
        let first = !self.claimed[pe].swap(true, std::sync::atomic::Ordering::AcqRel);
        assert!(first, "internal error: PE {pe}'s inbox claimed twice");
        LocalPe { machine: self.clone(), me: pe, single_thread: PhantomData }
    }

    /// Moves `msg` into PE `to`'s inbox and wakes it if it sleeps (from
    /// any thread).
    #[inline]
    pub(crate) fn send(&self, to: usize, msg: Msg) {
        self.slots[to].push(msg);
    }

    /// Wakes PE `pe` whatever it is doing (used at shutdown).
    pub(crate) fn wake_pe(&self, pe: usize) {
        self.slots[pe].wake();
    }
}

/// One PE's handle on the local machine: sends to any PE, and is the one
/// consumer of its own inbox. Not `Clone` and not `Sync` (only one exists
/// per PE, see [`LocalMachine::claim`], and one thread at a time uses it),
/// which is what makes taking from the inbox sound.
pub(crate) struct LocalPe {
    machine: Arc<LocalMachine>,
    me: usize,
    single_thread: PhantomData<std::cell::Cell<()>>,
}

impl LocalPe {
    #[inline]
    fn own(&self) -> &Mailbox<Msg> {
        &self.machine.slots[self.me]
    }

    /// Records the calling thread as this PE's thread (for wake-ups).
    pub(crate) fn register_thread(&self) {
        self.own().register_thread();
    }

    /// Moves `msg` into PE `to`'s inbox and wakes it if it sleeps.
    #[inline]
    pub(crate) fn send(&self, to: usize, msg: Msg) {
        self.machine.send(to, msg);
    }

    /// Queues a message of this PE to itself, in arrival order with the
    /// messages of other PEs (one queue: no source can starve another).
    #[inline]
    pub(crate) fn push_own(&self, msg: Msg) {
        self.own().push_own(msg);
    }

    /// Whether messages wait in this PE's inbox.
    #[inline]
    pub(crate) fn has_queued(&self) -> bool {
        self.own().has_items()
    }

    /// Takes the oldest message of this PE's inbox.
    #[inline]
    pub(crate) fn try_recv(&self) -> Option<Msg> {
        // SAFETY: one `LocalPe` per PE exists (`claim`), it is not `Sync`,
        // and only it takes from its PE's inbox: one consumer.
        unsafe { self.own().pop() }
    }

    /// Parks this PE until a message arrives, `wake_pe` is called or
    /// `timeout` passes, unless `abort_sleep` says not to (checked after
    /// announcing the sleep).
    pub(crate) fn park(&self, timeout: Duration, abort_sleep: impl Fn() -> bool) {
        self.own().park(timeout, abort_sleep);
    }
}

/// Loom models of the sleep protocol (see the module docs for the command).
/// Parks have no timeout under loom: if a wake-up could be lost, some
/// interleaving leaves the receiver parked for ever and loom reports a
/// deadlock.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::sync::{AtomicBool, Ordering};
    use super::Mailbox;
    use loom::sync::Arc;
    use loom::thread;
    use std::time::Duration;

    const T: Duration = Duration::from_millis(50);

    /// A model checker that explores the interleavings with at most `n`
    /// preemptions (or fewer, if `LOOM_MAX_PREEMPTIONS` says so), for the
    /// models too large to explore exhaustively.
    fn bounded(n: usize) -> loom::model::Builder {
        let mut b = loom::model::Builder::new();
        b.preemption_bound = Some(b.preemption_bound.map_or(n, |env| env.min(n)));
        b
    }

    /// Takes an item. Every model has one consuming thread at a time (the
    /// receiver, or the main thread after joining it).
    fn take(mb: &Mailbox<u32>) -> Option<u32> {
        // SAFETY: one consumer at a time (above).
        unsafe { mb.pop() }
    }

    /// A receiver thread that registers as the owner, then takes `N` items
    /// (through the sleep protocol) and returns them in the order taken.
    fn receiver<const N: usize>(mb: &Arc<Mailbox<u32>>) -> thread::JoinHandle<[u32; N]> {
        let mb = mb.clone();
        thread::spawn(move || {
            mb.register_thread();
            std::array::from_fn(|_| recv(&mb))
        })
    }

    /// The owner's idle loop: take an item or go through the sleep protocol.
    fn recv(mb: &Mailbox<u32>) -> u32 {
        loop {
            if let Some(v) = take(mb) {
                return v;
            }
            mb.park(T, || false);
        }
    }

    /// (a) One sender, one message; the receiver registers its thread while
    /// the sender may already be sending.
    #[test]
    fn loom_one_sender() {
        loom::model(|| {
            let mb = Arc::new(Mailbox::<u32>::new());
            let rx = receiver::<1>(&mb);
            mb.push(7);
            assert_eq!(rx.join().unwrap(), [7]);
        });
    }

    /// (b) Two senders (the main thread and a spawned one); the receiver
    /// must get both messages.
    #[test]
    fn loom_two_senders() {
        loom::model(|| {
            let mb = Arc::new(Mailbox::<u32>::new());
            let rx = receiver::<2>(&mb);
            let tx = {
                let mb = mb.clone();
                thread::spawn(move || mb.push(1))
            };
            mb.push(2);
            tx.join().unwrap();
            assert_eq!(rx.join().unwrap().iter().sum::<u32>(), 3);
            assert!(take(&mb).is_none());
        });
    }

    /// (b') One sender, four messages through a 2-slot ring: later ones
    /// spill or reuse a slot the receiver freed, and one pushed while
    /// something is spilled must spill too; they arrive in order, and no
    /// wake-up is lost on either path.
    /// Bounded to 4 preemptions (0.4 s; exhaustively about 5 minutes).
    #[test]
    fn loom_spill_keeps_order() {
        bounded(4).check(|| {
            let mb = Arc::new(Mailbox::<u32>::new());
            let rx = receiver::<4>(&mb);
            for v in 1..=4 {
                mb.push(v);
            }
            assert_eq!(rx.join().unwrap(), [1, 2, 3, 4]);
            assert!(take(&mb).is_none());
        });
    }

    /// (b'') Two senders of two messages each into a 2-slot ring (so one
    /// sender can spill while the other still claims a slot): each sender's
    /// messages arrive in its order, all four arrive, and the spill drains.
    #[test]
    fn loom_two_senders_spill() {
        loom::model(|| {
            let mb = Arc::new(Mailbox::<u32>::new());
            let tx = {
                let mb = mb.clone();
                thread::spawn(move || {
                    mb.push(10);
                    mb.push(11);
                })
            };
            mb.push(20);
            mb.push(21);
            tx.join().unwrap();
            let mut got = Vec::new();
            while let Some(v) = take(&mb) {
                got.push(v);
            }
            assert_eq!(got.len(), 4, "{got:?}");
            let of = |base: u32| got.iter().copied().filter(|v| v / 10 == base / 10).collect::<Vec<_>>();
            assert_eq!(of(10), [10, 11]);
            assert_eq!(of(20), [20, 21]);
        });
    }

    /// (b''') A receiver taking while two senders push three messages in
    /// all through the 2-slot ring: per-sender order holds when the
    /// receiver drains the ring and the spill concurrently with the pushes.
    /// Bounded to 3 preemptions (about 8 s; exhaustively it runs for
    /// hours).
    #[test]
    fn loom_take_while_spilling() {
        bounded(3).check(|| {
            let mb = Arc::new(Mailbox::<u32>::new());
            let rx = receiver::<3>(&mb);
            let tx = {
                let mb = mb.clone();
                thread::spawn(move || mb.push(10))
            };
            mb.push(20);
            mb.push(21);
            tx.join().unwrap();
            let got = rx.join().unwrap();
            let mine: Vec<u32> = got.iter().copied().filter(|v| *v >= 20).collect();
            assert_eq!(mine, [20, 21], "{got:?}");
            assert!(got.contains(&10), "{got:?}");
            assert!(take(&mb).is_none());
        });
    }

    /// (c) Shutdown: a stop flag set and announced with an explicit wake
    /// (`wake_pe`), checked by the receiver's loop and abort predicate with
    /// the same orderings as the scheduler (store SeqCst, load Relaxed). The
    /// receiver registers while the stop may already be under way.
    #[test]
    fn loom_wake_with_stop_flag() {
        loom::model(|| {
            let mb = Arc::new(Mailbox::<u32>::new());
            let stop = Arc::new(AtomicBool::new(false));
            let rx = {
                let (mb, stop) = (mb.clone(), stop.clone());
                thread::spawn(move || {
                    mb.register_thread();
                    let mut got = 0;
                    while !stop.load(Ordering::Relaxed) {
                        if let Some(v) = take(&mb) {
                            got += v;
                            continue;
                        }
                        mb.park(T, || stop.load(Ordering::Relaxed));
                    }
                    got
                })
            };
            stop.store(true, Ordering::SeqCst);
            mb.wake();
            rx.join().unwrap();
        });
    }

    /// (c') Shutdown racing with a message: a sender pushes while the main
    /// thread stops and wakes; the receiver must stop, and a message it did
    /// not take stays in the inbox. (Only threads that nobody unparks may
    /// block in `join`: loom 0.7 mishandles an `unpark` of a joining
    /// thread, tokio-rs/loom#249.)
    #[test]
    fn loom_send_and_stop() {
        loom::model(|| {
            let mb = Arc::new(Mailbox::<u32>::new());
            let stop = Arc::new(AtomicBool::new(false));
            let rx = {
                let (mb, stop) = (mb.clone(), stop.clone());
                thread::spawn(move || {
                    mb.register_thread();
                    let mut got = 0;
                    while !stop.load(Ordering::Relaxed) {
                        if let Some(v) = take(&mb) {
                            got += v;
                            continue;
                        }
                        mb.park(T, || stop.load(Ordering::Relaxed));
                    }
                    got
                })
            };
            let tx = {
                let mb = mb.clone();
                thread::spawn(move || mb.push(5))
            };
            stop.store(true, Ordering::SeqCst);
            mb.wake();
            tx.join().unwrap();
            let got = rx.join().unwrap();
            assert_eq!(got + take(&mb).unwrap_or(0), 5);
        });
    }
}
