//! Unit tests of the huge-page allocator (Linux only).

use super::*;

const MIB: usize = 1 << 20;

fn pattern(i: usize, seed: u8) -> u8 {
    seed.wrapping_add((i ^ (i >> 12)) as u8)
}

/// Writes a pattern over all `n` bytes at `p`.
fn fill(p: *mut u8, n: usize, seed: u8) {
    // SAFETY: `p` is a live block of `n` bytes, unaliased in the test.
    let b = unsafe { std::slice::from_raw_parts_mut(p, n) };
    b.iter_mut().enumerate().for_each(|(i, x)| *x = pattern(i, seed));
}

/// Checks the pattern over the first `n` bytes at `p`.
fn check(p: *const u8, n: usize, seed: u8) {
    // SAFETY: as in `fill`.
    let b = unsafe { std::slice::from_raw_parts(p, n) };
    if let Some(i) = b.iter().enumerate().position(|(i, &x)| x != pattern(i, seed)) {
        panic!("byte {i} of {n}: {} instead of {}", b[i], pattern(i, seed));
    }
}

#[test]
fn large_blocks_are_huge_page_aligned() {
    let a = HugePageAlloc;
    for (size, align) in [(MIB, 8), (2 * MIB, 8), (3 * MIB + 5, 64), (4 * MIB, 4096), (5 * MIB, 2 * MIB)] {
        let l = Layout::from_size_align(size, align).unwrap();
        // SAFETY: a non-zero layout; freed below with the same layout.
        let p = unsafe { a.alloc(l) };
        assert!(!p.is_null());
        assert_eq!(p as usize % align, 0);
        if enabled() {
            assert_eq!(p as usize % (2 * MIB), 0, "size {size}");
        }
        fill(p, size, 7);
        check(p, size, 7);
        // SAFETY: allocated above with `l`.
        unsafe { a.dealloc(p, l) };
    }
    // Small blocks and over-aligned large ones come from System and work too.
    for (size, align) in [(100, 8), (MIB - 1, 64), (4 * MIB, 4 * MIB)] {
        let l = Layout::from_size_align(size, align).unwrap();
        // SAFETY: as above.
        let p = unsafe { a.alloc(l) };
        assert!(!p.is_null());
        assert_eq!(p as usize % align, 0);
        fill(p, size, 1);
        // SAFETY: as above.
        unsafe { a.dealloc(p, l) };
    }
}

#[test]
fn realloc_keeps_contents_across_every_transition() {
    let a = HugePageAlloc;
    let steps = [100, MIB - 1, MIB, 3 * MIB, 3 * MIB + 1, 9 * MIB, 4 * MIB, 2 * MIB, 1000, 64];
    let mut size = 64;
    let l = Layout::from_size_align(size, 16).unwrap();
    // SAFETY: non-zero layout.
    let mut p = unsafe { a.alloc(l) };
    fill(p, size, 3);
    for new in steps {
        // SAFETY: `p` is live with size `size`, alignment 16.
        let q = unsafe { a.realloc(p, Layout::from_size_align(size, 16).unwrap(), new) };
        assert!(!q.is_null());
        assert_eq!(q as usize % 16, 0);
        check(q, size.min(new), 3);
        fill(q, new, 3);
        p = q;
        size = new;
    }
    // SAFETY: last block.
    unsafe { a.dealloc(p, Layout::from_size_align(size, 16).unwrap()) };
}

#[test]
fn global_vec_round_trip() {
    // The global path as a program sees it: a Vec grows through
    // realloc from small to large and is zero-initialised when large.
    let a = HugePageAlloc;
    let l = Layout::from_size_align(8 * MIB, 8).unwrap();
    // SAFETY: non-zero layout; freed below.
    let p = unsafe { a.alloc(l) };
    fill(p, 8 * MIB, 9);
    // SAFETY: allocated above with `l`.
    unsafe { a.dealloc(p, l) };
    // SAFETY: as above; a reused block must still come back zeroed.
    let z = unsafe { a.alloc_zeroed(l) };
    // SAFETY: `z` is a live block of 8 MiB.
    let bytes = unsafe { std::slice::from_raw_parts(z, 8 * MIB) };
    assert!(bytes.iter().all(|&b| b == 0));
    // SAFETY: allocated above with `l`.
    unsafe { a.dealloc(z, l) };
}

#[test]
fn cache_reuses_the_same_region() {
    let pool = Pool::new(64 * MIB);
    let p = pool.alloc_large(4 * MIB, false);
    fill(p, 4 * MIB, 5);
    // SAFETY: `p` is pool's 4 MiB block, not used after.
    unsafe { pool.dealloc_large(p, 4 * MIB) };
    let q = pool.alloc_large(4 * MIB - 100, false);
    assert_eq!(p, q, "same size class: same mapping");
    check(q, 4 * MIB - 100, 5); // reused, not fresh: pages kept
    assert_eq!(pool.stats(), Stats { fresh: 1, reused: 1, cached_bytes: 0, cached_blocks: 0 });
    // A bigger cached mapping serves a smaller request (tail trimmed).
    let big = pool.alloc_large(16 * MIB, false);
    // SAFETY: as above.
    unsafe { pool.dealloc_large(big, 16 * MIB) };
    let small = pool.alloc_large(6 * MIB, false);
    assert_eq!(big, small);
    fill(small, 6 * MIB, 2);
    // SAFETY: as above.
    unsafe {
        pool.dealloc_large(small, 6 * MIB);
        pool.dealloc_large(q, 4 * MIB - 100);
    }
    // The zeroed variant clears a reused mapping.
    let z = pool.alloc_large(6 * MIB, true);
    assert_eq!(z, small);
    // SAFETY: `z` is a live block of 6 MiB.
    assert!(unsafe { std::slice::from_raw_parts(z, 6 * MIB) }.iter().all(|&b| b == 0));
    // SAFETY: as above.
    unsafe { pool.dealloc_large(z, 6 * MIB) };
    let s = pool.stats();
    assert_eq!((s.cached_bytes, s.cached_blocks), (10 * MIB, 2));
}

#[test]
fn cache_respects_its_caps() {
    // Bytes: a cap of 8 MiB keeps two 4 MiB mappings, unmaps the oldest.
    let pool = Pool::new(8 * MIB);
    let blocks: Vec<*mut u8> = (0..3).map(|_| pool.alloc_large(4 * MIB, false)).collect();
    for &b in &blocks {
        // SAFETY: each is pool's live 4 MiB block.
        unsafe { pool.dealloc_large(b, 4 * MIB) };
    }
    let s = pool.stats();
    assert_eq!((s.cached_bytes, s.cached_blocks), (8 * MIB, 2));
    // A block larger than the cap is not cached at all.
    let huge = pool.alloc_large(16 * MIB, false);
    // SAFETY: as above.
    unsafe { pool.dealloc_large(huge, 16 * MIB) };
    assert_eq!(pool.stats().cached_bytes, 8 * MIB);
    // The newest two survived: the first freed block was evicted.
    let again = [pool.alloc_large(4 * MIB, false), pool.alloc_large(4 * MIB, false)];
    assert!(again.contains(&blocks[1]) && again.contains(&blocks[2]));
    for b in again {
        // SAFETY: as above.
        unsafe { pool.dealloc_large(b, 4 * MIB) };
    }

    // Slots: never more than SLOTS mappings, whatever the byte cap.
    let pool = Pool::new(1 << 30);
    let blocks: Vec<*mut u8> = (0..SLOTS + 6).map(|_| pool.alloc_large(2 * MIB, false)).collect();
    for &b in &blocks {
        // SAFETY: as above.
        unsafe { pool.dealloc_large(b, 2 * MIB) };
    }
    assert_eq!(pool.stats().cached_blocks, SLOTS);
    assert_eq!(pool.stats().cached_bytes, SLOTS * 2 * MIB);

    // The global cap: at most 256 MiB, whole huge pages.
    let cap = cache_cap();
    assert!((2 * MIB..=256 * MIB).contains(&cap) && cap.is_multiple_of(2 * MIB), "{cap}");
}

#[test]
fn pool_realloc_moves_pages_and_trims() {
    let pool = Pool::new(64 * MIB);
    let p = pool.alloc_large(3 * MIB, false);
    fill(p, 3 * MIB, 11);
    // SAFETY: `p` is pool's live 3 MiB block.
    let q = unsafe { pool.realloc_large(p, 3 * MIB, 40 * MIB) };
    assert!(!q.is_null());
    assert_eq!(q as usize % (2 * MIB), 0);
    check(q, 3 * MIB, 11);
    fill(q, 40 * MIB, 12);
    // SAFETY: `q` is now the live 40 MiB block.
    let r = unsafe { pool.realloc_large(q, 40 * MIB, 5 * MIB) };
    assert_eq!(r, q, "shrinking stays in place");
    check(r, 5 * MIB, 12);
    // SAFETY: `r` is the live 5 MiB block.
    unsafe { pool.dealloc_large(r, 5 * MIB) };
    assert_eq!(pool.stats().cached_bytes, 6 * MIB);
}

#[test]
fn concurrent_alloc_and_free() {
    let pool = Pool::new(32 * MIB);
    let a = HugePageAlloc;
    std::thread::scope(|s| {
        for t in 0..4u8 {
            let pool = &pool;
            s.spawn(move || {
                let mut held: Vec<(*mut u8, usize)> = Vec::new();
                for i in 0..40usize {
                    let size = (2 + (i * 7 + t as usize) % 7) * MIB + i;
                    let p = pool.alloc_large(size, false);
                    assert!(!p.is_null());
                    fill(p, size, t);
                    held.push((p, size));
                    // The global allocator, concurrently, on its own pool.
                    let l = Layout::from_size_align(size, 8).unwrap();
                    // SAFETY: non-zero layout, freed at once.
                    let g = unsafe { a.alloc(l) };
                    fill(g, size, t ^ 0x55);
                    check(g, size, t ^ 0x55);
                    // SAFETY: allocated above with `l`.
                    unsafe { a.dealloc(g, l) };
                    if held.len() > 3 {
                        let (p, n) = held.remove(i % 3);
                        check(p, n, t);
                        // SAFETY: pool's live block of `n` bytes.
                        unsafe { pool.dealloc_large(p, n) };
                    }
                }
                for (p, n) in held {
                    check(p, n, t);
                    // SAFETY: as above.
                    unsafe { pool.dealloc_large(p, n) };
                }
            });
        }
    });
    let s = pool.stats();
    assert!(s.cached_bytes <= 32 * MIB && s.cached_blocks <= SLOTS);
    assert!(s.reused > 0);
}

#[test]
fn reports_anon_huge_pages() {
    // The kernel may refuse huge pages: print, do not assert.
    let a = HugePageAlloc;
    let l = Layout::from_size_align(64 * MIB, 8).unwrap();
    let before = anon_huge_pages_kib();
    // SAFETY: non-zero layout; freed below.
    let p = unsafe { a.alloc(l) };
    // SAFETY: the block is 64 MiB long.
    unsafe { std::ptr::write_bytes(p, 1, 64 * MIB) };
    let after = anon_huge_pages_kib();
    println!(
        "THP {:?}, enabled {}, AnonHugePages before {before:?} kB, with 64 MiB touched {after:?} kB",
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").ok(),
        enabled()
    );
    assert!(after.is_some());
    // SAFETY: allocated above with `l`.
    unsafe { a.dealloc(p, l) };
}

/// Growth by `mremap` against allocate + copy + free, on a pool of its own:
/// a block doubling from 2 MiB to 256 MiB, fully written at each size. Run
/// with `cargo test -p chare --release --lib hugepage -- --ignored --nocapture`.
#[test]
#[ignore = "timing, prints only"]
fn realloc_growth_timing() {
    use std::time::Instant;
    for round in 0..3 {
        for by_copy in [false, true] {
            let pool = Pool::new(1 << 30);
            let t0 = Instant::now();
            let mut size = 2 * MIB;
            let mut p = pool.alloc_large(size, false);
            // SAFETY: `p` is a live block of `size` bytes.
            unsafe { std::ptr::write_bytes(p, 1, size) };
            let mut in_realloc = 0.0;
            while size < 256 * MIB {
                let new = size * 2;
                let t = Instant::now();
                p = if by_copy {
                    let q = pool.alloc_large(new, false);
                    // SAFETY: distinct live blocks of `new > size` and `size` bytes;
                    // `p` is freed once copied.
                    unsafe {
                        std::ptr::copy_nonoverlapping(p, q, size);
                        pool.dealloc_large(p, size);
                    }
                    q
                } else {
                    // SAFETY: `p` is the pool's live block of `size` bytes.
                    unsafe { pool.realloc_large(p, size, new) }
                };
                in_realloc += t.elapsed().as_secs_f64();
                // SAFETY: `p` is a live block of `new` bytes.
                unsafe { std::ptr::write_bytes(p.add(size), 1, new - size) };
                size = new;
            }
            check_ones(p, size);
            // SAFETY: the live block of `size` bytes.
            unsafe { pool.dealloc_large(p, size) };
            println!(
                "round {round} {}: 2 MiB -> 256 MiB in {:.2} ms, {:.2} ms of it in realloc",
                if by_copy { "alloc+copy" } else { "mremap" },
                t0.elapsed().as_secs_f64() * 1e3,
                in_realloc * 1e3
            );
        }
    }
}

fn check_ones(p: *const u8, n: usize) {
    // SAFETY: `p` is a live block of `n` bytes.
    assert!(unsafe { std::slice::from_raw_parts(p, n) }.iter().all(|&b| b == 1));
}
