//! A bad index (too many dimensions, a coordinate beyond 32 bits) panics at
//! the user's line, not inside the runtime: `Index::new`, the `From`
//! conversions, `Into` through them, and the API functions taking
//! `impl Into<Index>` (`Rt::array`, `CollectionProxy::elem`).

use chare::prelude::*;
use chare::{Index, JobError, Runtime};
use std::cell::RefCell;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    /// While a thread checks a panic: where it happened, once it did.
    static RECORD: RefCell<Option<Option<(String, u32)>>> = const { RefCell::new(None) };
}

/// Installs (once, for the whole test binary) a panic hook that records the
/// location of panics on threads that asked for it and leaves the others to
/// the previous hook (the runtime's, which may also wrap this one).
fn install_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let recorded = RECORD.with(|r| match &mut *r.borrow_mut() {
                Some(slot) => {
                    *slot = info.location().map(|l| (l.file().to_string(), l.line()));
                    true
                }
                None => false,
            });
            if !recorded {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, which must panic; its message and location (file, line).
fn panic_of<R>(f: impl FnOnce() -> R) -> (String, String, u32) {
    install_hook();
    RECORD.with(|r| *r.borrow_mut() = Some(None));
    let p = catch_unwind(AssertUnwindSafe(f));
    let loc = RECORD.with(|r| r.borrow_mut().take()).flatten();
    let p = match p {
        Ok(_) => panic!("no panic"),
        Err(p) => p,
    };
    let msg = p
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    let (file, line) = loc.expect("the hook saw the panic");
    (msg, file, line)
}

/// The panic of `f` is `msg`, at line `line` of this file.
#[track_caller]
fn panics_here<R>(f: impl FnOnce() -> R, msg: &str, line: u32) {
    let (m, file, l) = panic_of(f);
    assert_eq!(m, msg);
    assert!(file.ends_with("index_errors.rs"), "the panic is reported at {file}:{l}, not in the test");
    assert_eq!(l, line, "{file}");
}

#[test]
fn too_many_dimensions_panic_at_the_callers_line() {
    let seven = "an index has 1 to 6 dimensions, got 7";
    panics_here(|| Index::new(&[1, 2, 3, 4, 5, 6, 7]), seven, line!());
    panics_here(|| Index::new(&[]), "an index has 1 to 6 dimensions, got 0", line!());
    panics_here(|| Index::from([0usize; 7]), seven, line!());
    panics_here(|| Index::from(&[0usize; 7][..]), seven, line!());
    let into = |c: [usize; 7]| -> Index { c.into() };
    panics_here(|| into([0; 7]), seven, line!() - 1);
    // A good index is no panic.
    assert_eq!(Index::from([1usize, 2, 3, 4, 5, 6]).ndims(), 6);
}

#[cfg(target_pointer_width = "64")]
#[test]
fn a_coordinate_beyond_32_bits_panics_at_the_callers_line() {
    let big = 5_000_000_000usize;
    let msg = "index coordinate 5000000000 does not fit in 32 bits";
    panics_here(|| Index::new(&[1, big]), msg, line!());
    panics_here(|| Index::from(big), msg, line!());
    panics_here(|| Index::from((0usize, big)), msg, line!());
    panics_here(|| Index::from((0usize, 1usize, big)), msg, line!());
    panics_here(|| Index::from([big, 0, 0, 0]), msg, line!());
    panics_here(|| Index::from(&[big][..]), msg, line!());
    panics_here(|| -> Index { (big, 0usize).into() }, msg, line!());
    // The largest coordinate fits.
    assert_eq!(Index::from(u32::MAX as usize).i(), u32::MAX as usize);
}

#[test]
fn a_missing_dimension_panics_at_the_callers_line() {
    let ix = Index::from((2usize, 7usize));
    panics_here(|| ix.get(2), "dimension 2 of a 2-d index", line!());
}

pub struct Cell;

#[chare]
impl Cell {
    fn new() -> Self {
        Cell
    }
    #[entry]
    fn ping(&self) {}
}

/// The job ends with a panic in main at `line` of this file, with `msg`.
#[track_caller]
fn main_panics_here(outcome: Result<i32, JobError>, msg: &str, line: u32) {
    match outcome {
        Err(JobError::Panic { chare, message, location: Some(loc), .. }) => {
            assert_eq!(chare, "main");
            assert_eq!(message, msg);
            assert!(loc.contains(&format!("index_errors.rs:{line}:")), "reported at {loc}");
        }
        other => panic!("expected a panic in main, got {other:?}"),
    }
}

#[test]
fn rt_array_reports_a_bad_shape_at_the_users_line() {
    let line = line!() + 2;
    let outcome = Runtime::with_pes(1).run(|rt| async move {
        let _a = rt.array::<Cell>([1usize; 7]).create(());
    });
    main_panics_here(outcome, "an index has 1 to 6 dimensions, got 7", line);
}

#[cfg(target_pointer_width = "64")]
#[test]
fn elem_reports_a_bad_index_at_the_users_line() {
    let line = line!() + 3;
    let outcome = Runtime::with_pes(2).run(|rt| async move {
        let a = rt.array::<Cell>((2usize, 2usize)).create(());
        a.elem((1usize, 5_000_000_000usize)).ping();
    });
    main_panics_here(outcome, "index coordinate 5000000000 does not fit in 32 bits", line);
}
