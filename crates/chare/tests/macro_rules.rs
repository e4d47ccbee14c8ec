//! The rules of `#[chare]` / `#[entry]` (their reference docs in
//! `chare-macros` show the same examples), and the visibility of the code
//! they generate. `deny(warnings)`: a private chare passed in another
//! private chare's entry compiles without `private_interfaces` warnings.
#![deny(warnings)]

use chare::prelude::*;
use chare::Runtime;

// ---------------------------------------------------------------------------
// The reference example: constructor, ctx optional, sync and async entries,
// return values, `NAME_ret`, `NAME_callback`.

struct Counter {
    total: u64,
}

#[chare]
impl Counter {
    // The constructor: its arguments, as a tuple, are `create`'s argument.
    fn new(start: u64) -> Self {
        Counter { total: start }
    }

    // Sync entry without ctx, no return value.
    #[entry]
    fn add(&mut self, n: u64) {
        self.total += n;
    }

    // Sync entry with a return value: `total_ret()` is a Future of it.
    #[entry]
    fn total(&self) -> u64 {
        self.total
    }

    // Sync entry with ctx; contributes to a reduction whose result goes to
    // element 0's `add` (`add_callback`: `add` has one argument).
    #[entry]
    fn report(&self, ctx: &Ctx<Self>) {
        ctx.contribute(self.total, Sum, ctx.proxy().elem(0).add_callback());
    }

    // Async entry: holds this element until it returns; awaits a future.
    #[entry]
    async fn add_later(&mut self, value: Future<u64>) -> u64 {
        self.total += value.await;
        self.total
    }
}

#[test]
fn reference_example() {
    let code = Runtime::with_pes(2)
        .run(|rt| async move {
            let counters = rt.array::<Counter>(4).create((10,)); // Init = (u64,)
            counters.add(1); // broadcast
            counters.elem(2).add(5); // one element
            assert_eq!(counters.elem(2).total_ret().await, 16);
            counters.add_ret(1).await; // broadcast: completion
            assert_eq!(counters.elem(3).total_ret().await, 12);

            let v = rt.future::<u64>();
            let later = counters.elem(1).add_later_ret(v.clone());
            v.set(100);
            assert_eq!(later.await, 112);

            // 12 + 112 + 17 + 12 = 153, added to element 0 (12).
            counters.report_ret().await;
            rt.wait_quiescence().await;
            assert_eq!(counters.elem(0).total_ret().await, 165);
        })
        .unwrap();
    assert_eq!(code, 0);
}

// ---------------------------------------------------------------------------
// A constructor taking ctx; a `&self` entry; an owned message type.

#[message]
#[derive(Clone, Debug, PartialEq)]
struct Point {
    x: i64,
    y: i64,
}

struct Placed {
    pe: usize,
}

#[chare]
impl Placed {
    fn new(ctx: &Ctx<Self>, _unused: String) -> Self {
        Placed { pe: ctx.my_pe() }
    }

    #[entry]
    fn where_and(&self, p: Point) -> (usize, Point) {
        (self.pe, Point { x: p.x + 1, y: p.y })
    }

    // Not an entry: an ordinary method, kept as written.
    #[allow(dead_code)]
    fn helper(&self) -> usize {
        self.pe
    }
}

#[test]
fn ctx_in_constructor_and_message_types() {
    let code = Runtime::with_pes(2)
        .run(|rt| async move {
            let one = rt.chare::<Placed>(1).create((String::from("x"),));
            let (pe, q) = one.where_and_ret(Point { x: 1, y: 2 }).await;
            assert_eq!((pe, q), (1, Point { x: 2, y: 2 }));
            let group = rt.group::<Placed>().create((String::new(),));
            assert_eq!(group.elem(0).where_and_ret(Point { x: 0, y: 0 }).await.0, 0);
        })
        .unwrap();
    assert_eq!(code, 0);
}

// ---------------------------------------------------------------------------
// Visibility. Private chares (crate root) passed in each other's entries.

struct Leaf;

#[chare]
impl Leaf {
    fn new() -> Self {
        Leaf
    }
    #[entry]
    fn ping(&self) -> u32 {
        7
    }
}

struct Branch;

#[chare]
impl Branch {
    fn new() -> Self {
        Branch
    }
    // `Proxy<Leaf>`, a private type, in a generated `pub` method: no warning.
    #[entry]
    async fn ask(&self, leaf: Proxy<Leaf>) -> u32 {
        leaf.ping_ret().await + 1
    }
}

// Private chares in a private module (more private than the crate), plain
// `#[chare]` and an explicit `#[chare(pub(self))]`.
mod inner {
    use chare::prelude::*;

    struct Secret;

    #[chare]
    impl Secret {
        fn new() -> Self {
            Secret
        }
        #[entry]
        fn value(&self) -> u32 {
            40
        }
    }

    struct Keeper;

    #[chare(pub(self))]
    impl Keeper {
        fn new() -> Self {
            Keeper
        }
        #[entry]
        async fn read(&self, s: Proxy<Secret>) -> u32 {
            s.value_ret().await + 2
        }
    }

    pub(crate) async fn answer(rt: &Rt) -> u32 {
        let s = rt.chare::<Secret>(1).create(());
        let k = rt.chare::<Keeper>(0).create(());
        k.read_ret(s).await
    }
}

// A `pub` chare in a public module, as in a library: its generated types
// are `pub` and nameable from outside the module.
pub mod library {
    use chare::prelude::*;

    /// A public chare.
    pub struct Doubler;

    #[chare(pub)]
    impl Doubler {
        fn new() -> Self {
            Doubler
        }
        /// Doubles `x`.
        #[entry]
        pub fn double(&self, x: u64) -> u64 {
            2 * x
        }
    }

    /// A public chare with the default (no argument).
    pub struct Tripler;

    #[chare]
    impl Tripler {
        fn new() -> Self {
            Tripler
        }
        #[entry]
        fn triple(&self, x: u64) -> u64 {
            3 * x
        }
    }

    /// A crate-visible chare.
    pub(crate) struct Halver;

    #[chare(pub(crate))]
    impl Halver {
        fn new() -> Self {
            Halver
        }
        #[entry]
        fn half(&self, x: u64) -> u64 {
            x / 2
        }
    }
}

#[test]
fn visibility_follows_the_chare_type() {
    let code = Runtime::with_pes(2)
        .run(|rt| async move {
            let leaf = rt.chare::<Leaf>(1).create(());
            let branch = rt.chare::<Branch>(0).create(());
            assert_eq!(branch.ask_ret(leaf).await, 8);
            assert_eq!(inner::answer(&rt).await, 42);

            // Generated types named from outside their module.
            let d: Proxy<library::Doubler> = rt.chare::<library::Doubler>(1).create(());
            let entries: &library::DoublerEntries = &d;
            assert_eq!(entries.double_ret(21).await, 42);
            let all: CollectionProxy<library::Tripler> = rt.group::<library::Tripler>().create(());
            let bcast: &library::TriplerBroadcast = &all;
            bcast.triple_ret(1).await;
            assert_eq!(all.elem(1).triple_ret(5).await, 15);
            let h = rt.chare::<library::Halver>(0).create(());
            let _: &library::HalverEntries = &h;
            assert_eq!(h.half_ret(9).await, 4);
        })
        .unwrap();
    assert_eq!(code, 0);
}

// ---------------------------------------------------------------------------
// Reentrant entries and `when` conditions: every form of `#[entry(..)]`.

struct Turns {
    turn: u32,
    seen: Vec<(u32, String)>,
}

#[chare]
impl Turns {
    fn new() -> Self {
        Turns { turn: 0, seen: Vec::new() }
    }

    // A condition over `self` and several arguments (by reference), with ctx.
    #[entry(when = self.turn == *turn && !name.is_empty())]
    fn take(&mut self, ctx: &Ctx<Self>, turn: u32, name: String) -> usize {
        self.seen.push((turn, name));
        self.turn += 1;
        ctx.index().i()
    }

    // Reentrant and conditional together, in either order of the options;
    // `_ret` gives its value; `me` dereferences to the context. An argument
    // only the condition reads counts as used (`deny(warnings)` above).
    #[entry(when = self.turn >= *after, reentrant)]
    async fn wait_turn(me: &Reentrant<Self>, after: u32, until: u32) -> (u32, usize) {
        me.wait_until(|s| s.turn >= until).await;
        (me.with(|s| s.turn), me.index().i())
    }

    #[entry]
    fn turn(&self) -> u32 {
        self.turn
    }
}

#[test]
fn reentrant_and_when_entries() {
    let code = Runtime::with_pes(2)
        .run(|rt| async move {
            let t = rt.array::<Turns>(2).create(());
            let w = t.elem(1).wait_turn_ret(1, 3); // held until turn 1, then waits for 3
            t.elem(1).take(2, "c".into());
            t.elem(1).take(1, "b".into());
            assert_eq!(t.elem(1).take_ret(0, "a".into()).await, 1);
            assert_eq!(w.await, (3, 1));
            // Broadcast of a reentrant entry: completion of every element.
            let all = t.wait_turn_ret(0, 1);
            t.take(0, "x".into());
            all.await;
            assert_eq!(t.elem(0).turn_ret().await, 1);
        })
        .expect("the job runs");
    assert_eq!(code, 0);
}
