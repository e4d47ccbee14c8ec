//! A global allocator that backs large blocks with transparent huge pages and
//! keeps freed large blocks for reuse.
//!
//! Install it with one line in the program's root module:
//!
//! ```
//! #[global_allocator]
//! static A: chare::HugePageAlloc = chare::HugePageAlloc;
//! # fn main() { let v = vec![0u8; 4 << 20]; assert_eq!(v.len(), 4 << 20); }
//! ```
//!
//! # Why
//!
//! Large messages and large application arrays are copied and walked page by
//! page. Open MPI's shared-memory single copy (CMA, `process_vm_readv`) pins
//! the pages of the other process one 4 KiB page at a time, and a stencil
//! sweep over a 128 MiB grid takes a TLB miss every 4 KiB. Backed by 2 MiB
//! pages, both cost 512 times fewer page operations. numpy does this for its
//! arrays (and so mpi4py programs get it); glibc's `malloc` does not, and on a
//! kernel whose transparent huge pages are in `madvise` mode (the common
//! default, `/sys/kernel/mm/transparent_hugepage/enabled`) a region only gets
//! them when it asks with `madvise(MADV_HUGEPAGE)`. Measured on the
//! development machine: a C ping-pong of 4 MiB took 190 µs one way with
//! madvised buffers against 432-543 µs without, and the stencil at 4096² ran
//! 15% faster on glibc's huge-page heap.
//!
//! # What it does (Linux)
//!
//! 1. A block of at least [`THRESHOLD`] (1 MiB) bytes with an alignment of at
//!    most 2 MiB (the x86-64 huge-page size) is a *large block*: its own
//!    anonymous mapping, `len` = the size rounded up to a multiple of 2 MiB,
//!    at a 2 MiB-aligned address (over-map by 2 MiB, unmap the ends),
//!    `madvise(MADV_HUGEPAGE)`. Every other block goes to
//!    [`std::alloc::System`].
//!    Why 1 MiB: rounding up to whole huge pages costs at most 2x the
//!    requested memory from 1 MiB on, no more than it costs any block just
//!    above a multiple of 2 MiB; below 1 MiB the waste grows without bound
//!    (a 64 KiB block would take 2 MiB). And 1 MiB messages gain from it:
//!    measured with a 2 MiB threshold against 1 MiB on the MPI layer, 1 MiB
//!    one-way 121-144 µs against 83-89 µs, bandwidth 12.3-12.8 GB/s against
//!    13.7-24.9 GB/s (docs/perf.md, v0.6).
//! 2. Freeing a large block puts its mapping into a cache instead of
//!    unmapping it; the next large allocation takes the smallest cached
//!    mapping that is big enough (unmapping the excess tail, if any), so
//!    a buffer freed and allocated again every iteration (a received message)
//!    neither faults nor zeroes its pages again. The cache holds at most
//!    [`SLOTS`] mappings and [`cache_cap`] bytes: 256 MiB, or an eighth of the
//!    physical memory when that is smaller (256 MiB is a bandwidth window of
//!    64 messages of 4 MiB). Beyond that the oldest mappings are unmapped.
//! 3. Growing a large block moves its pages into a new mapping with
//!    `mremap(MREMAP_FIXED)` (a page-table move, no copy); shrinking unmaps
//!    the tail. Moving between large and small blocks copies.
//!
//! `CHARE_HUGEPAGES=0` (or `off`, `false`, `no`), read once at the first
//! large allocation, turns it all off: every block then goes to `System`, so
//! one binary measures both. Elsewhere than Linux the type forwards to
//! `System`.
//!
//! Whether the kernel really grants huge pages (it may lack free 2 MiB
//! frames, or have transparent huge pages `never`) is visible in
//! [`anon_huge_pages_kib`] (`AnonHugePages` of `/proc/self/smaps_rollup`).

use std::alloc::{GlobalAlloc, Layout, System};

/// Smallest block served by its own huge-page-aligned mapping: 1 MiB (see
/// the module docs for why).
pub const THRESHOLD: usize = 1 << 20;

/// Most mappings the cache of freed large blocks holds.
pub const SLOTS: usize = 64;

/// The global allocator: large blocks on transparent huge pages, with a
/// bounded cache of freed ones; everything else from [`System`]. See the
/// [module docs](self).
#[derive(Debug, Clone, Copy, Default)]
pub struct HugePageAlloc;

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::*;

    // SAFETY: every method forwards to `System` with the caller's arguments,
    // so `System`'s guarantees are ours.
    unsafe impl GlobalAlloc for HugePageAlloc {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            // SAFETY: forwarded unchanged; the caller upholds `alloc`'s contract.
            unsafe { System.alloc(layout) }
        }
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            // SAFETY: as above.
            unsafe { System.alloc_zeroed(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: as above; `ptr` came from `System` with `layout`.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            // SAFETY: as above.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    /// Bytes the cache may hold (no cache on this platform).
    pub fn cache_cap() -> usize {
        0
    }

    /// `AnonHugePages` of this process in KiB: `None` on this platform.
    pub fn anon_huge_pages_kib() -> Option<u64> {
        None
    }
}

#[cfg(target_os = "linux")]
mod imp {
    use super::*;
    use std::ptr;
    use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
    use std::sync::{Mutex, MutexGuard};

    /// Alignment and granularity of large mappings (one x86-64 huge page).
    const HUGE: usize = 2 << 20;
    /// Default cache capacity (see the module docs).
    const DEFAULT_CAP: usize = 256 << 20;

    /// A large block size rounded up to whole huge pages; `None` on overflow.
    fn map_len(size: usize) -> Option<usize> {
        size.checked_add(HUGE - 1).map(|s| s & !(HUGE - 1))
    }

    /// Whether `layout` is a large block when the allocator is on.
    fn is_large(layout: Layout) -> bool {
        layout.size() >= THRESHOLD && layout.align() <= HUGE
    }

    /// Maps `len` bytes (a multiple of `HUGE`) at a `HUGE`-aligned address and
    /// asks for huge pages. Null on failure. The memory is zeroed.
    fn map_fresh(len: usize) -> *mut u8 {
        let Some(over) = len.checked_add(HUGE) else { return ptr::null_mut() };
        // SAFETY: an anonymous private mapping at an address of the kernel's
        // choosing touches no existing memory.
        let raw = unsafe {
            libc::mmap(
                ptr::null_mut(),
                over,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return ptr::null_mut();
        }
        let start = raw as usize;
        let aligned = (start + HUGE - 1) & !(HUGE - 1);
        let head = aligned - start;
        let tail = over - head - len;
        // SAFETY: `[start, start + head)` and `[aligned + len, start + over)`
        // lie inside the mapping just made and outside the part returned;
        // nobody else knows of them. Failure would only leave them mapped.
        unsafe {
            if head > 0 {
                libc::munmap(raw, head);
            }
            if tail > 0 {
                libc::munmap((aligned + len) as *mut libc::c_void, tail);
            }
        }
        // SAFETY: `[aligned, aligned + len)` is our mapping. `madvise` is
        // advice: if the kernel refuses (THP `never`), the memory is still
        // valid, on small pages.
        unsafe { libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE) };
        aligned as *mut u8
    }

    /// Unmaps `[addr, addr + len)`.
    ///
    /// # Safety
    /// The range is a whole large mapping (or its tail) that nothing uses.
    unsafe fn unmap(addr: usize, len: usize) {
        if len > 0 {
            // SAFETY: the caller owns the range and no longer uses it.
            unsafe { libc::munmap(addr as *mut libc::c_void, len) };
        }
    }

    /// One cached mapping: its address, length and age (for eviction).
    #[derive(Debug, Clone, Copy)]
    struct Slot {
        addr: usize,
        len: usize,
        stamp: u64,
    }

    #[derive(Debug)]
    struct Slots {
        /// The cached mappings, at most `SLOTS`; none overlap and none is in use.
        slots: [Option<Slot>; SLOTS],
        /// Sum of the cached lengths; at most the pool's `cap`.
        bytes: usize,
        /// Stamp of the next insertion.
        next: u64,
    }

    /// Counters of a pool, for tests and benchmarks.
    #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
    pub struct Stats {
        /// Large blocks given out from fresh mappings.
        pub fresh: usize,
        /// Large blocks given out from the cache.
        pub reused: usize,
        /// Bytes in the cache now.
        pub cached_bytes: usize,
        /// Mappings in the cache now.
        pub cached_blocks: usize,
    }

    /// Large mappings and the cache of freed ones. The global allocator uses
    /// one static pool; the tests make their own.
    #[derive(Debug)]
    pub struct Pool {
        slots: Mutex<Slots>,
        /// Cache capacity in bytes; 0 = from [`cache_cap`] at first use.
        cap: AtomicUsize,
        fresh: AtomicUsize,
        reused: AtomicUsize,
    }

    impl Pool {
        /// An empty pool whose cache holds at most `cap` bytes (0: the default,
        /// [`cache_cap`]).
        pub const fn new(cap: usize) -> Pool {
            Pool {
                slots: Mutex::new(Slots { slots: [None; SLOTS], bytes: 0, next: 0 }),
                cap: AtomicUsize::new(cap),
                fresh: AtomicUsize::new(0),
                reused: AtomicUsize::new(0),
            }
        }

        fn lock(&self) -> MutexGuard<'_, Slots> {
            // Nothing panics while the lock is held; recover anyway.
            self.slots.lock().unwrap_or_else(|e| e.into_inner())
        }

        fn cap(&self) -> usize {
            match self.cap.load(Ordering::Relaxed) {
                0 => {
                    let c = cache_cap();
                    self.cap.store(c, Ordering::Relaxed);
                    c
                }
                c => c,
            }
        }

        /// Counters of this pool.
        pub fn stats(&self) -> Stats {
            let s = self.lock();
            Stats {
                fresh: self.fresh.load(Ordering::Relaxed),
                reused: self.reused.load(Ordering::Relaxed),
                cached_bytes: s.bytes,
                cached_blocks: s.slots.iter().flatten().count(),
            }
        }

        /// A `HUGE`-aligned mapping of exactly `len` bytes (a multiple of
        /// `HUGE`): the smallest cached one that is big enough, its tail
        /// trimmed, else a fresh one. Returns it and whether it is fresh
        /// (zeroed). Null on failure.
        fn take(&self, len: usize) -> (*mut u8, bool) {
            let found = {
                let mut s = self.lock();
                let best = (0..SLOTS)
                    .filter(|&i| s.slots[i].is_some_and(|sl| sl.len >= len))
                    .min_by_key(|&i| s.slots[i].map_or(usize::MAX, |sl| sl.len));
                best.and_then(|i| {
                    let sl = s.slots[i].take()?;
                    s.bytes -= sl.len;
                    Some(sl)
                })
            };
            match found {
                Some(sl) => {
                    // SAFETY: the slot's mapping is ours (it left the cache
                    // above); its part past `len` is unused.
                    unsafe { unmap(sl.addr + len, sl.len - len) };
                    self.reused.fetch_add(1, Ordering::Relaxed);
                    (sl.addr as *mut u8, false)
                }
                None => {
                    let p = map_fresh(len);
                    if !p.is_null() {
                        self.fresh.fetch_add(1, Ordering::Relaxed);
                    }
                    (p, true)
                }
            }
        }

        /// Puts the mapping `[addr, addr + len)` into the cache, evicting the
        /// oldest mappings to stay within the slot count and the capacity;
        /// unmaps it instead when it alone exceeds the capacity.
        ///
        /// # Safety
        /// The range is a whole large mapping from this pool that nothing
        /// uses any more.
        unsafe fn give(&self, addr: usize, len: usize) {
            let cap = self.cap();
            if len > cap {
                // SAFETY: the caller gives up the mapping.
                unsafe { unmap(addr, len) };
                return;
            }
            let mut evicted = [None::<Slot>; SLOTS];
            let mut n = 0;
            {
                let mut s = self.lock();
                loop {
                    let free = s.slots.iter().position(Option::is_none);
                    if s.bytes + len <= cap {
                        if let Some(i) = free {
                            let stamp = s.next;
                            s.next += 1;
                            s.slots[i] = Some(Slot { addr, len, stamp });
                            s.bytes += len;
                            break;
                        }
                    }
                    // Evict the oldest: there is one, since `len <= cap`
                    // and either the bytes or the slots are taken.
                    let Some(i) = (0..SLOTS)
                        .filter(|&i| s.slots[i].is_some())
                        .min_by_key(|&i| s.slots[i].map_or(u64::MAX, |sl| sl.stamp))
                    else {
                        break;
                    };
                    let old = s.slots[i].take();
                    if let Some(o) = old {
                        s.bytes -= o.len;
                    }
                    evicted[n] = old;
                    n += 1;
                }
            }
            for sl in evicted.iter().flatten() {
                // SAFETY: an evicted mapping left the cache under the lock;
                // nothing else refers to it.
                unsafe { unmap(sl.addr, sl.len) };
            }
        }

        /// Allocates a large block of `size` bytes; `zeroed` clears reused
        /// memory. Null on failure.
        pub fn alloc_large(&self, size: usize, zeroed: bool) -> *mut u8 {
            let Some(len) = map_len(size) else { return ptr::null_mut() };
            let (p, fresh) = self.take(len);
            if zeroed && !fresh && !p.is_null() {
                // SAFETY: `p` is a mapping of `len >= size` writable bytes
                // that we own.
                unsafe { ptr::write_bytes(p, 0, size) };
            }
            p
        }

        /// Frees a large block of `size` bytes at `p`.
        ///
        /// # Safety
        /// `p` came from [`Pool::alloc_large`] (or [`Pool::realloc_large`])
        /// of this pool with this `size`, and is not used any more.
        pub unsafe fn dealloc_large(&self, p: *mut u8, size: usize) {
            let len = map_len(size).unwrap_or(usize::MAX);
            // SAFETY: forwarded from the caller; the mapping is `len` bytes.
            unsafe { self.give(p as usize, len) };
        }

        /// Resizes a large block of `old` bytes at `p` to `new` bytes (both at
        /// least [`THRESHOLD`]), keeping the first `min(old, new)` bytes. On
        /// failure returns null and leaves the block as it was.
        ///
        /// # Safety
        /// As for [`Pool::dealloc_large`] with `old`.
        pub unsafe fn realloc_large(&self, p: *mut u8, old: usize, new: usize) -> *mut u8 {
            let (Some(old_len), Some(new_len)) = (map_len(old), map_len(new)) else {
                return ptr::null_mut();
            };
            if new_len <= old_len {
                // SAFETY: the tail past `new_len` is part of the caller's
                // mapping and holds no kept bytes (`new <= new_len`).
                unsafe { unmap(p as usize + new_len, old_len - new_len) };
                return p;
            }
            // Grow: move the old pages to the start of a bigger mapping.
            let (q, _) = self.take(new_len);
            if q.is_null() {
                return ptr::null_mut();
            }
            // SAFETY: `[p, p + old_len)` is the caller's mapping and
            // `[q, q + old_len)` lies within the new one; MREMAP_FIXED
            // replaces the target pages with the moved ones and unmaps the
            // source. Both ranges are ours and do not overlap.
            let moved = unsafe {
                libc::mremap(
                    p.cast(),
                    old_len,
                    old_len,
                    libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                    q.cast::<libc::c_void>(),
                )
            };
            if moved == libc::MAP_FAILED {
                // SAFETY: both mappings are ours and `old <= old_len`
                // bytes fit in both; the old one is given back after the copy.
                unsafe {
                    ptr::copy_nonoverlapping(p, q, old);
                    self.give(p as usize, old_len);
                }
            } else {
                // The moved range lost the huge-page advice of its old
                // address range: ask again for the whole block.
                // SAFETY: `[q, q + new_len)` is our mapping; advice only.
                unsafe { libc::madvise(q.cast(), new_len, libc::MADV_HUGEPAGE) };
            }
            q
        }
    }

    impl Drop for Pool {
        /// Unmaps the cached mappings (blocks still in use stay mapped). The
        /// global pool is a static and is never dropped.
        fn drop(&mut self) {
            let s = self.slots.get_mut().unwrap_or_else(|e| e.into_inner());
            for sl in s.slots.iter_mut().filter_map(Option::take) {
                // SAFETY: a cached mapping is used by nobody.
                unsafe { unmap(sl.addr, sl.len) };
            }
            s.bytes = 0;
        }
    }

    /// The pool of the global allocator.
    static POOL: Pool = Pool::new(0);

    const UNKNOWN: u8 = 0;
    const ON: u8 = 1;
    const OFF: u8 = 2;
    /// `CHARE_HUGEPAGES`, read at the first large allocation, never changed
    /// after: a large block is freed by the path that allocated it.
    static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);

    #[cold]
    fn read_switch() -> bool {
        // SAFETY: `getenv` reads the environment without allocating (an
        // allocator must not allocate here); the name is a NUL-terminated
        // literal. The result is copied out before anything can change the
        // environment again.
        let off = unsafe {
            let v = libc::getenv(c"CHARE_HUGEPAGES".as_ptr());
            !v.is_null() && {
                let s = std::ffi::CStr::from_ptr(v).to_bytes();
                matches!(s, b"0" | b"off" | b"OFF" | b"false" | b"no")
            }
        };
        let want = if off { OFF } else { ON };
        // The first thread to decide wins; every thread then agrees.
        match STATE.compare_exchange(UNKNOWN, want, Ordering::AcqRel, Ordering::Acquire) {
            Ok(_) => want == ON,
            Err(now) => now == ON,
        }
    }

    /// Whether large blocks use the pool (`CHARE_HUGEPAGES` is not off).
    pub fn enabled() -> bool {
        match STATE.load(Ordering::Acquire) {
            ON => true,
            OFF => false,
            _ => read_switch(),
        }
    }

    /// Bytes the global cache holds at most: 256 MiB, or an eighth of the
    /// physical memory when that is smaller (rounded down to whole huge
    /// pages, at least one).
    pub fn cache_cap() -> usize {
        // SAFETY: `sysconf` only reads system parameters.
        let (pages, page) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
        let ram = if pages > 0 && page > 0 { (pages as usize).saturating_mul(page as usize) } else { usize::MAX };
        (DEFAULT_CAP.min(ram / 8) & !(HUGE - 1)).max(HUGE)
    }

    /// Counters of the global allocator's pool.
    pub fn stats() -> Stats {
        POOL.stats()
    }

    /// `AnonHugePages` of this process in KiB (from
    /// `/proc/self/smaps_rollup`): how much anonymous memory the kernel backs
    /// with huge pages now. `None` if the file cannot be read.
    pub fn anon_huge_pages_kib() -> Option<u64> {
        let text = std::fs::read_to_string("/proc/self/smaps_rollup").ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("AnonHugePages:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }

    // SAFETY: large blocks (decided by `is_large` on the layout, with the
    // switch fixed before the first one exists) are distinct mappings owned
    // by `POOL` until freed; all other blocks are `System`'s. Every method
    // picks the same owner for a block from its layout, so each block is
    // freed or resized by the allocator that made it.
    unsafe impl GlobalAlloc for HugePageAlloc {
        #[inline]
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            if is_large(layout) && enabled() {
                POOL.alloc_large(layout.size(), false)
            } else {
                // SAFETY: the caller upholds `alloc`'s contract.
                unsafe { System.alloc(layout) }
            }
        }

        #[inline]
        unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
            if is_large(layout) && enabled() {
                POOL.alloc_large(layout.size(), true)
            } else {
                // SAFETY: as above.
                unsafe { System.alloc_zeroed(layout) }
            }
        }

        #[inline]
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            if is_large(layout) && enabled() {
                // SAFETY: a large layout with the switch on: `ptr` came from
                // `POOL` with this size.
                unsafe { POOL.dealloc_large(ptr, layout.size()) }
            } else {
                // SAFETY: otherwise it came from `System` with `layout`.
                unsafe { System.dealloc(ptr, layout) }
            }
        }

        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
                return ptr::null_mut();
            };
            let (was, will) = (is_large(layout), is_large(new_layout));
            if !(was || will) || !enabled() {
                // SAFETY: a `System` block resized within `System`.
                return unsafe { System.realloc(ptr, layout, new_size) };
            }
            if was && will {
                // SAFETY: `ptr` is `POOL`'s large block of `layout.size()`.
                return unsafe { POOL.realloc_large(ptr, layout.size(), new_size) };
            }
            // Between `System` and the pool: allocate, copy, free.
            // SAFETY: `new_layout` is valid and non-zero (the caller's contract).
            let q = unsafe { self.alloc(new_layout) };
            if !q.is_null() {
                // SAFETY: both blocks hold at least `min` bytes and are
                // distinct allocations; the old one is freed with its own
                // layout (same owner rule as `dealloc`).
                unsafe {
                    ptr::copy_nonoverlapping(ptr, q, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
            }
            q
        }
    }
}

pub use imp::{anon_huge_pages_kib, cache_cap};
#[cfg(target_os = "linux")]
pub use imp::{enabled, stats, Pool, Stats};

#[cfg(all(test, target_os = "linux"))]
mod tests;
