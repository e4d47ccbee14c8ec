//! A PE's inbox: an unbounded multi-producer, single-consumer FIFO queue.
//!
//! The hot part is a ring of `CAP` slots, 512 by default (Vyukov's bounded queue with
//! one consumer). Each slot carries a sequence number that says whose turn
//! it is: `pos` means free for the producer that claims position `pos`,
//! `pos + 1` means the item of position `pos` is written. A producer claims
//! a position with a CAS on `tail`, writes the item, then publishes it by
//! storing the sequence number. The consumer reads only the slot at its own
//! `head`: an item is there iff the slot's sequence number is `head + 1`. It
//! never reads `tail` on that path, so an empty poll or a take costs one
//! cache line that a producer wrote, not two (a queue that compares head and
//! tail to find out whether it is empty reads the producers' line on every
//! look). The price is that "empty" also covers "claimed, not yet written":
//! the producer that is writing wakes the consumer when it publishes (the
//! sleep protocol of [`super::Mailbox`] runs after every push).
//!
//! When the ring is full the item goes to the *spill*, a mutex-guarded
//! `VecDeque`, and so does every item pushed while something is spilled
//! (`spilled > 0`), so one producer's items never overtake each other. The
//! consumer takes from the spill only when every claimed ring position has
//! been taken (`tail == head`): an item a producer pushed to the ring before
//! it spilled another is taken first. The spill drains, because a producer
//! that sees `spilled > 0` no longer claims ring slots.
//!
//! `spilled` changes only under the spill's lock, so it is the spill's
//! length whenever the lock is free: a producer that sees 0 after spilling
//! knows its spilled item was taken.
//!
//! Order: items are taken in the order their positions were claimed, then
//! the spill in its order. A producer that read `spilled == 0` just before
//! another producer spilled may still claim a ring slot after that; it has
//! at most one such item at a time, so an item that spilled is taken after
//! at most (producers - 1) items that arrived after it. Without spills, the
//! order is exactly the claim order.

use super::sync::{AtomicUsize, Lock, Ordering, UnsafeCell};
use crossbeam_utils::CachePadded;
use std::collections::VecDeque;
use std::mem::MaybeUninit;

/// Ring slots per inbox (a power of two). 512 slots of 128 bytes: 64 KiB per
/// PE. A PE with more waiting messages than this spills the rest.
#[cfg(not(loom))]
const CAPACITY: usize = 512;
/// Small under loom, so that the models reach the full ring and the spill.
#[cfg(loom)]
const CAPACITY: usize = 2;

/// One ring slot, on cache lines of its own (no false sharing between a
/// producer writing one slot and the consumer reading its neighbour).
#[repr(align(64))]
struct Slot<T> {
    /// `pos`: free for the producer of position `pos`; `pos + 1`: holds the
    /// item of position `pos`.
    seq: AtomicUsize,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// An unbounded MPSC FIFO queue (see the module docs).
/// `CAP`: ring slots, a power of two of at least 2 (the tests use small
/// rings to reach the spill often).
pub(crate) struct Inbox<T, const CAP: usize = CAPACITY> {
    /// The next position the consumer takes. Written only by the consumer.
    head: CachePadded<AtomicUsize>,
    /// The next position a producer claims.
    tail: CachePadded<AtomicUsize>,
    /// Items in the spill: changed only under the spill's lock, so it is
    /// the spill's length whenever the lock is free.
    spilled: CachePadded<AtomicUsize>,
    spill: Lock<VecDeque<T>>,
    slots: Box<[Slot<T>]>,
}

// SAFETY: an item is written by exactly one producer (the one whose CAS
// claimed its position) before the release store of the slot's sequence
// number, and read by the one consumer after an acquire load of it; the
// consumer's release store of `pos + CAP` orders its read before the
// next producer's write. Items move between threads, so `T: Send`.
unsafe impl<T: Send, const CAP: usize> Sync for Inbox<T, CAP> {}

impl<T, const CAP: usize> Inbox<T, CAP> {
    pub(crate) fn new() -> Inbox<T, CAP> {
        const { assert!(CAP >= 2 && CAP.is_power_of_two()) };
        let slots = (0..CAP)
            .map(|i| Slot { seq: AtomicUsize::new(i), value: UnsafeCell::new(MaybeUninit::uninit()) })
            .collect();
        Inbox {
            head: CachePadded::new(AtomicUsize::new(0)),
            tail: CachePadded::new(AtomicUsize::new(0)),
            spilled: CachePadded::new(AtomicUsize::new(0)),
            spill: Lock::new(VecDeque::new()),
            slots,
        }
    }

    #[inline]
    fn slot(&self, pos: usize) -> &Slot<T> {
        &self.slots[pos & (CAP - 1)]
    }

    /// Appends `v`. Any thread.
    #[inline]
    pub(crate) fn push(&self, v: T) {
        if self.spilled.load(Ordering::Acquire) == 0 {
            let mut pos = self.tail.load(Ordering::Relaxed);
            loop {
                let slot = self.slot(pos);
                let seq = slot.seq.load(Ordering::Acquire);
                if seq == pos {
                    match self.tail.compare_exchange_weak(pos, pos + 1, Ordering::Relaxed, Ordering::Relaxed) {
                        Ok(_) => {
                            // SAFETY: the CAS made this producer the only
                            // writer of position `pos`; the acquire load saw
                            // the slot free (`seq == pos`), so the consumer
                            // is done with its previous item, and nobody
                            // reads it before the release store below.
                            slot.value.with_mut(|p| unsafe { (*p).write(v) });
                            slot.seq.store(pos + 1, Ordering::Release);
                            return;
                        }
                        Err(now) => pos = now,
                    }
                } else if (seq.wrapping_sub(pos) as isize) < 0 {
                    // The slot still holds the item of `pos - CAP`:
                    // the ring is full.
                    break;
                } else {
                    // Another producer claimed `pos` meanwhile.
                    pos = self.tail.load(Ordering::Relaxed);
                }
            }
        }
        let mut spill = self.spill.lock();
        spill.push_back(v);
        // Under the lock, so that `spilled` equals the spill's length
        // whenever the lock is free: counted apart, a consumer taking
        // another producer's older item could use up this item's count,
        // and this producer's next push would see 0 and overtake this item
        // through the ring. Release: a consumer that sees the count also
        // sees every ring position this producer claimed before (see `pop`).
        self.spilled.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether an item can be taken now. Meant for the consumer (it reads
    /// `head`); from another thread it is a hint.
    #[inline]
    pub(crate) fn has_items(&self) -> bool {
        let head = self.head.load(Ordering::Relaxed);
        self.slot(head).seq.load(Ordering::Acquire) == head.wrapping_add(1) || self.spill_is_next(head)
    }

    /// Whether the next item is in the spill: something spilled and every
    /// claimed ring position was taken.
    #[inline]
    fn spill_is_next(&self, head: usize) -> bool {
        // Acquire pairs with the producer's increment: the ring positions it
        // claimed before spilling show in `tail`.
        self.spilled.load(Ordering::Acquire) != 0 && self.tail.load(Ordering::Acquire) == head
    }

    /// Takes the oldest item, if one is ready.
    ///
    /// # Safety
    /// Only one thread may take items (single consumer): two concurrent
    /// calls could read the same item.
    #[inline]
    pub(crate) unsafe fn pop(&self) -> Option<T> {
        let head = self.head.load(Ordering::Relaxed);
        let slot = self.slot(head);
        if slot.seq.load(Ordering::Acquire) == head.wrapping_add(1) {
            // SAFETY: the acquire load saw the producer's release store of
            // `head + 1`: the item is written, and (single consumer, the
            // caller's contract) nobody else reads it. After the read the
            // slot counts as empty: the store below hands it to the
            // producer of `head + CAP`.
            let v = slot.value.with(|p| unsafe { (*p).assume_init_read() });
            slot.seq.store(head.wrapping_add(CAP), Ordering::Release);
            self.head.store(head.wrapping_add(1), Ordering::Relaxed);
            return Some(v);
        }
        if !self.spill_is_next(head) {
            return None;
        }
        let mut spill = self.spill.lock();
        let v = spill.pop_front();
        debug_assert!(v.is_some(), "spill count without a spilled item");
        self.spilled.fetch_sub(1, Ordering::AcqRel);
        v
    }
}

impl<T, const CAP: usize> Drop for Inbox<T, CAP> {
    fn drop(&mut self) {
        // `&mut self`: no producer is between claim and publish, so the
        // written items are exactly positions head..tail.
        let (head, tail) = (self.head.load(Ordering::Relaxed), self.tail.load(Ordering::Relaxed));
        let mut pos = head;
        while pos != tail {
            let slot = self.slot(pos);
            // SAFETY: position `pos` lies between head and tail, so its item
            // was written and not taken; it is dropped once, here.
            slot.value.with_mut(|p| unsafe { (*p).assume_init_drop() });
            pos = pos.wrapping_add(1);
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::{Inbox, CAPACITY};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn take_all(q: &Inbox<u64>) -> Vec<u64> {
        let mut v = Vec::new();
        // SAFETY: single-threaded test: one consumer.
        while let Some(x) = unsafe { q.pop() } {
            v.push(x);
        }
        v
    }

    #[test]
    fn one_thread_keeps_order_through_the_spill() {
        let q: Inbox<_> = Inbox::new();
        let n = 3 * CAPACITY as u64 + 5;
        for i in 0..n {
            q.push(i);
        }
        assert!(q.has_items());
        assert_eq!(take_all(&q), (0..n).collect::<Vec<_>>());
        assert!(!q.has_items());
        // Back on the ring after the spill drained, across many laps.
        for lap in 0..10 * CAPACITY as u64 {
            q.push(lap);
            // SAFETY: one consumer.
            assert_eq!(unsafe { q.pop() }, Some(lap));
        }
        assert!(!q.has_items());
    }

    #[test]
    fn items_left_at_drop_are_dropped_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        struct D(Arc<AtomicUsize>);
        impl Drop for D {
            fn drop(&mut self) {
                self.0.fetch_add(1, Ordering::Relaxed);
            }
        }
        let q: Inbox<_> = Inbox::new();
        for _ in 0..CAPACITY + 7 {
            q.push(D(drops.clone()));
        }
        for _ in 0..3 {
            // SAFETY: one consumer.
            drop(unsafe { q.pop() });
        }
        assert_eq!(drops.load(Ordering::Relaxed), 3);
        drop(q);
        assert_eq!(drops.load(Ordering::Relaxed), CAPACITY + 7);
    }

    /// Several producers, one consumer taking while they push (ring and
    /// spill both used): every item arrives once, each producer's in order.
    fn producers_keep_their_order<const CAP: usize>(producers: u64, each: u64) {
        let q = Arc::new(Inbox::<u64, CAP>::new());
        let hs: Vec<_> = (0..producers)
            .map(|p| {
                let q = q.clone();
                std::thread::spawn(move || {
                    for i in 0..each {
                        q.push(p << 32 | i);
                        if i % 4096 == 0 {
                            std::thread::yield_now();
                        }
                    }
                })
            })
            .collect();
        let mut next = vec![0u64; producers as usize];
        let mut got = 0;
        while got < producers * each {
            // SAFETY: this thread is the only consumer.
            match unsafe { q.pop() } {
                Some(x) => {
                    let (p, i) = ((x >> 32) as usize, x & 0xffff_ffff);
                    assert_eq!(i, next[p], "producer {p}: item {i} where {} was next", next[p]);
                    next[p] += 1;
                    got += 1;
                    // Let the ring fill now and then, so the spill is used.
                    if got % 20_000 == 0 {
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                }
                None => std::hint::spin_loop(),
            }
        }
        for h in hs {
            h.join().unwrap();
        }
        // SAFETY: one consumer.
        assert!(unsafe { q.pop() }.is_none());
    }

    #[test]
    fn producers_keep_their_order_through_the_full_ring() {
        producers_keep_their_order::<CAPACITY>(4, 50_000);
    }

    /// A 2-slot ring: nearly every push meets a full ring or a spill in
    /// use, and the consumer keeps switching between ring and spill. More
    /// producers than cores, so producers are preempted between their
    /// steps. (It found a spill count kept outside the spill's lock: with
    /// that, 1 run of the test in 40 failed with one repetition, 5 in 10
    /// with these ten.)
    #[test]
    fn producers_keep_their_order_through_a_tiny_ring() {
        for _ in 0..10 {
            producers_keep_their_order::<2>(6, 100_000);
        }
    }
}
