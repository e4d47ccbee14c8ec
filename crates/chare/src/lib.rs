//! # Chare: Charm4Py's chare model in Rust
//!
//! A program is a set of **chares**: objects that live on processing elements
//! (PEs) and call each other's **entry methods** asynchronously. Chares come
//! in collections: a **group** has one element per PE, an **array** has any
//! number of elements with 1- to 6-d indices placed by a map. Entry methods
//! may be `async` and await **futures** and **channels**; collections
//! **reduce** values to a future or an entry method. PEs are threads of one
//! process (the `local` machine layer), or one PE per MPI rank when the
//! program is built with the cargo feature `mpi` and started by `mpirun`
//! (the `mpi` layer): the same program runs on both. Coming from Charm4Py?
//! `docs/coming-from-charm4py.md` in the repository maps its API to this
//! crate's, call by call.
//!
//! ```
//! use chare::prelude::*;
//!
//! struct Worker { steps: u64 }
//!
//! #[chare]
//! impl Worker {
//!     fn new(steps: u64) -> Self { Worker { steps } }
//!
//!     // A sync entry method: runs to completion on the element's PE.
//!     #[entry]
//!     fn work(&mut self, ctx: &Ctx<Self>, done: Future<f64>) {
//!         let (i, n) = (ctx.index().i() as u64, ctx.proxy().len() as u64);
//!         let h = 1.0 / (self.steps * n) as f64;
//!         let part: f64 = (i * self.steps..(i + 1) * self.steps)
//!             .map(|k| { let x = h * (k as f64 + 0.5); 4.0 / (1.0 + x * x) })
//!             .sum();
//!         ctx.contribute(part * h, Sum, done);   // reduction into a future
//!     }
//! }
//!
//! let code = chare::Runtime::with_pes(2).run(|rt| async move {
//!     let workers = rt.array::<Worker>(8).create((10_000,));
//!     let done = rt.future();
//!     workers.work(done.clone());               // broadcast, asynchronous
//!     let pi: f64 = done.await;
//!     assert!((pi - std::f64::consts::PI).abs() < 1e-9);
//! });
//! assert_eq!(code, Ok(0));
//! ```
//!
//! ## The model in one page
//! * `#[chare] impl T { fn new(..) -> Self; #[entry] fn m(&mut self, ctx: &Ctx<Self>, ..) }`
//!   declares a chare type. `ctx` is optional. Entry arguments are owned,
//!   `Clone + Send` values. An `async fn` entry may `.await`.
//! * Creation: `rt.array::<T>(dims).map(Placement::RoundRobin).create(init)`,
//!   `rt.group::<T>().create(init)`, `rt.chare::<T>(pe).create(init)`; `init` is
//!   the tuple of `new`'s arguments. `create_awaitable` waits for construction.
//! * Calls: `coll.m(x)` broadcasts; `coll.elem(i).m(x)` calls one element;
//!   `m_ret(x)` returns a [`Future`] of the result (for a broadcast: completion);
//!   `m_try_ret(x)` a future of `Result<R, EntryError>` (a panic of `m` goes to
//!   the caller, see Semantics); on a collection or a section, `m_all_ret(x)`
//!   a future of every element's (member's) result in index order (`Vec<R>`),
//!   `m_try_all_ret(x)` the same with each element's `Result<R, EntryError>`.
//! * [`Future`]: `rt.future()`, pass it along, `set(v)` once, `.await` once (anywhere).
//!   [`MultiFuture`]: `rt.future_n(n)`, fulfilled by `n` `set`s, awaited as
//!   the `Vec` of the values in arrival order (Charm4Py's `Future(num_vals=n)`).
//! * [`Channel`]: `ctx.channel_to(&peer)`; `send(v)`, `recv().await`, in order.
//! * [`iwait`]: handle several futures or channel receives as each becomes ready;
//!   [`wait_all`]: wait for all of them, values in input order (`charm.wait`).
//! * Reductions: `ctx.contribute(v, Sum, target)` with [`Sum`], [`Product`],
//!   [`Min`], [`Max`], [`And`], [`Or`], [`Xor`] (on `bool` or element-wise
//!   on `Vec<bool>`), [`Gather`] (ordered by index), [`Nop`], [`Custom`];
//!   target a future, `proxy.m_callback()` or [`ExitJob`]`(code)` (ends the
//!   job); `ctx.allreduce(v, op)`.
//! * `rt.set_readonly(v)` / `rt.readonly::<T>()`; `rt.wait_quiescence()`, or
//!   `rt.start_quiescence(target)` to call an entry (or end the job) at
//!   quiescence; `rt.exit(code)`, `rt.abort(msg)`; `rt.my_host()`,
//!   `rt.num_hosts()`, `rt.host_pes(h)`, `rt.pe_host(pe)`.
//! * Charm4Py's coroutines: `#[entry(reentrant)] async fn m(me: &Reentrant<Self>, ..)`
//!   lets the chare's other entries run while it waits; `#[entry(when = self.step == *k)]`
//!   runs a call once its condition holds; `me.wait_until(|s| ..)` waits for one
//!   ([`Reentrant`], and "Semantics" below).
//! * [`Section`]s (Charm4Py's `Section`): `coll.section([i, j])`,
//!   `coll.slice([0..2, 4..8])`, `coll.slice_step(&[(0, 8, 2)])`,
//!   `coll.section_where(|ix| ..)`, `coll.split(n, |ix| ..)`, `a.union(&b)`;
//!   `section.m(x)` multicasts, `section.m_ret(x)` completes when every
//!   member ran it; members reduce with `ctx.section_contribute(&section, v, op, target)`
//!   or `ctx.section_allreduce(&section, v, op)`.
//! * Dynamic arrays (Charm4Py's `ckInsert`): `rt.array::<T>(dims).create_empty()`
//!   (or `.dynamic().create(init)`), `a.insert(ix, init)`, `a.insert_on(ix, pe, init)`,
//!   `a.delete(ix)`, `a.done_inserting().await` ([`dynamic`]).
//! * [`Pool`]: `rt.pool().map(f, items).await` runs many small tasks on
//!   every PE, results in input order; `map_async`, `task` (see Task pool).
//!
//! ## Semantics
//! * One entry method at a time per PE; a sync entry runs to completion.
//! * An async entry holds its chare until it finishes; calls arriving
//!   meanwhile wait and run afterwards in arrival order. Channel values and
//!   future values reach the suspended task directly.
//! * A **reentrant** entry (`#[entry(reentrant)]`, opt-in) holds nothing
//!   while suspended: the chare's other entries run meanwhile, as with a
//!   Charm4Py `@coro` entry. It gets no `self` but a [`Reentrant`] handle that
//!   lends the state between awaits (`me.with(|s| ..)`, a closure that cannot
//!   await and whose result cannot borrow the state), so no reference into
//!   the state lives across an await and every other entry keeps its
//!   `&mut self`: Rust's aliasing rules hold without locks, and a ported
//!   program's other entries stay as they were. (The alternative, `&self`
//!   with the state in cells, would make `&mut self` entries wait for the
//!   suspended ones: the deadlock again.) While an exclusive async entry
//!   holds the chare, its reentrant entries do not resume; `with` inside
//!   `with` (or inside a `wait_until` predicate) panics rather than alias.
//!   Details: [`Reentrant`].
//! * A **`when`** call (`#[entry(when = CONDITION)]`, Charm4Py's `@when`)
//!   whose condition (over `self` and the call's arguments) does not hold is
//!   held; after every entry of the chare the held calls are checked, oldest
//!   first, and the first whose condition holds runs (then checking starts
//!   again). A held call thus runs right after the entry that made its
//!   condition true, before any later message; held calls that become
//!   runnable together run in arrival order. `me.wait_until(pred)` in a
//!   reentrant entry (Charm4Py's `self.wait`) returns once `pred` holds,
//!   re-checked after every entry of the chare. Held calls count as handled
//!   for quiescence.
//! * A **section multicast** reaches every member of the section once (one
//!   message per PE holding members; one ordered call per member of a
//!   migratable array, so members may move meanwhile) and no other element.
//!   Each member's k-th `section_contribute` to a section belongs to its
//!   reduction k, which completes once every member contributed, wherever
//!   the members moved (Charm4Py aborts there; Chare does not); members'
//!   contributions are combined per PE unless they can move. Sections are
//!   values: building one sends nothing; a union is a new section with its
//!   own reductions. Details: [`Section`].
//! * **Dynamic arrays**: insertions and deletions go through the array's
//!   root (the creating PE); one registered there opens an insertion phase,
//!   during which the array's reductions do not complete; `done_inserting()`
//!   closes it once they all took effect. A reduction started after
//!   `done_inserting().await` counts exactly the elements then in the array;
//!   a reduction in flight during the phase includes the elements inserted
//!   meanwhile (their first contribution counts for it) and those deleted
//!   meanwhile only if they contributed before. Broadcasts reach the
//!   elements present on each PE when they arrive. Calls to an element not
//!   inserted yet wait for it; calls that reach a deleted element are
//!   dropped. Elements of dynamic arrays do not migrate; `len()` and a
//!   broadcast's `m_ret` are not available on them. Details: [`dynamic`].
//! * Calls from one chare to another arrive in send order.
//! * Fair scheduling: a PE handles messages in the order they arrived,
//!   whatever their source (itself, another PE, another process), so a
//!   message is handled after at most 0 messages that arrived after it
//!   (local layer, while more than 512 messages wait at one PE: after at
//!   most one of them per other sending thread). On
//!   the MPI layer a message from another process arrives when the PE takes
//!   it from MPI, once per message it handles. A task woken by a message is
//!   polled at once when no other message waits, otherwise after at most 64
//!   more messages (so a task receiving a stream takes several values per
//!   poll).
//! * On the MPI layer a PE's first message to another process after its
//!   last look at MPI leaves at once; further small ones (up to 512 bytes,
//!   without `Buffer` attachments) to that process wait until the entry
//!   method or task step that sends them ends, or until 512 bytes wait, and
//!   then travel together as one MPI message. Send order is kept.
//!   `CHARE_MPI_COALESCE=0` sends every message on its own.
//! * The job ends when the main task returns, or on `exit`/`abort`, or when
//!   a reduction (or `start_quiescence`) with target [`ExitJob`]`(code)`
//!   completes (on its root: what is still in flight is not waited for). A
//!   panic in any entry method ends it with an error naming PE, chare,
//!   index and entry.
//! * A multi-value future (`rt.future_n(n)`) completes on its `n`-th `set`
//!   and gives the values in the order they reached its owning PE (the
//!   sets of one sender in its send order); an `(n+1)`-th `set` ends the
//!   job with an error, as a second `set` of a plain future does.
//! * `start_quiescence(target)` returns at once; at the next quiescence
//!   (the state `wait_quiescence` waits for) the target is told: a future
//!   is fulfilled, an entry callback (`proxy.m_callback()` of an entry
//!   taking `()`) is called, `ExitJob(code)` ends the job. It is detected
//!   as `wait_quiescence` is, so a job whose tasks then still wait is not
//!   reported as deadlocked at that quiescence.
//! * Hosts: on the local layer every PE is on host 0; on the MPI layer each
//!   rank's host name is gathered at start and hosts are numbered in the
//!   order of their first rank (`CHARE_HOSTNAME` overrides a rank's name).
//! * Errors through futures: a panic in an entry called with `m_try_ret` or
//!   `m_try_all_ret` does not end the job: the caller's future gets
//!   `Err(`[`EntryError`]`)` naming PE, chare, index, entry, message and
//!   source line (between processes it travels as a message). The element
//!   **continues**, as in Charm4Py: it stays where it is and runs its next
//!   calls, with the state the panicking entry left (unwinding keeps memory
//!   safe, not the chare's own invariants: an entry that may panic halfway
//!   should leave its state consistent). A panicking async entry's task is
//!   dropped at the panic, and the calls that waited for it run. Only the
//!   panics of the called entry itself are caught: a panic in an entry it
//!   calls in turn follows that call's own rule.
//!   If every PE is idle, no message is in flight and tasks still wait, the
//!   job ends with [`JobError::Deadlock`] listing what each task waits on.
//!
//! ## Task pool
//! `rt.pool()` (or `ctx.pool()` in a chare) is Charm4Py's `charm.pool`:
//! `map(f, items)` runs `f(item)` for every item on all PEs, the caller's
//! PE included, and gives the results in input order; `map_async` gives a
//! [`Future`] of `Result<Vec<R>, EntryError>` instead (a task's panic is
//! the `Err`, and the job goes on; `map` raises it again where it is
//! awaited); `map_each` gives one future per item (Charm4Py's
//! `multi_future=True`), for [`iwait`]; `task(f, x)` runs one task; `chunk_size(n)` fixes the chunks
//! (default: large chunks first, smaller ones at the end). Tasks are not
//! chares: the PE that calls `map` hands out chunks of items, on demand, to
//! the PEs with room (at most two chunks each; see the `pool` module's
//! protocol), one message per chunk, and once all are sent an idle PE
//! steals half of a chunk running elsewhere; a chunk runs as a task of its PE that
//! gives way every millisecond, so the PE's other messages and tasks run in
//! between (tasks themselves are plain functions: they cannot await). A
//! task is a function of one argument
//! (a tuple for several). Code cannot travel between processes: a task that
//! may run in another process (the MPI layer) must be a function declared
//! with [`task!`], which registers it under its path, as `#[chare]`
//! registers chare types; within a process any `Fn(T) -> R + Clone + Send`
//! closure works, and an unregistered one is refused, with its name, where
//! it would leave the process. [`current_pe`] tells a task where it runs.
//!
//! ```
//! chare::task! {
//!     /// Registered: may run in any process.
//!     fn square(x: u64) -> u64 { x * x }
//! }
//!
//! let code = chare::Runtime::with_pes(2).run(|rt| async move {
//!     let v = rt.pool().map(square, 0..10_000).await;
//!     assert_eq!(v[9_999], 9_999 * 9_999);
//!     // A panicking task: an error value, the job goes on.
//!     let e = rt.pool().map_async(|d: u64| 100 / d, vec![5, 0, 2]).await.unwrap_err();
//!     assert_eq!((e.chare.as_str(), e.index.as_str()), ("pool", "1"));
//!     // A closure capturing a value: fine within one process.
//!     let k = 3;
//!     assert_eq!(rt.pool().task(move |x: u64| k * x, 14).await, Ok(42));
//! });
//! assert_eq!(code, Ok(0));
//! ```
//!
//! ## Migration and load balancing
//! `#[chare(migratable)]` makes an array's elements movable: the type must
//! be `Serialize + Deserialize` (its state crosses processes on the MPI
//! layer; put large numeric state in [`Buffer`]s). An element moves with
//! [`Ctx::migrate`], or by the load balancer when its array was created with
//! [`CollectionBuilder::at_sync`]: each element calls [`Ctx::at_sync`] at a
//! sync point; once all have, the runtime takes each element's measured time
//! in entry methods, the strategy ([`lb::strategy`]: `--balancer
//! greedy|refine|rotate|none` or `CHARE_BALANCER`, default greedy) moves
//! some, and every element's `resume_from_sync` entry runs where it then
//! lives. A `fn migrated(&mut self [, ctx])` in the impl block runs after
//! each move. See [`lb`] for the protocol and its report
//! ([`Rt::lb_steps`], `CHARE_LB_VERBOSE=1`).
//!
//! ```
//! use chare::prelude::*;
//! use chare::lb::strategy::Strategy;
//!
//! #[message]
//! struct Piece { pes: Vec<usize>, done: Option<Future<()>> }
//!
//! #[chare(migratable)]
//! impl Piece {
//!     fn new(ctx: &Ctx<Self>) -> Self { Piece { pes: vec![ctx.my_pe()], done: None } }
//!
//!     #[entry]
//!     fn sync(&mut self, ctx: &Ctx<Self>, done: Future<()>) {
//!         self.done = Some(done);
//!         ctx.at_sync();                        // the balancer may move us now
//!     }
//!
//!     #[entry]
//!     fn resume_from_sync(&mut self, ctx: &Ctx<Self>) {
//!         self.pes.push(ctx.my_pe());           // where we live now
//!         ctx.contribute((), Nop, self.done.take().unwrap());
//!     }
//!
//!     #[entry]
//!     fn pes(&self) -> Vec<usize> { self.pes.clone() }
//! }
//!
//! let code = chare::Runtime::with_pes(2).run(|rt| async move {
//!     // Rotate: every element to the next PE (a strategy for tests).
//!     let a = rt.array::<Piece>(6).balancer(Strategy::Rotate).create_awaitable(()).await;
//!     let done = rt.future();
//!     a.sync(done.clone());
//!     done.await;
//!     for i in 0..6 {
//!         let pes = a.elem(i).pes_ret().await;
//!         assert_eq!(pes[1], (pes[0] + 1) % 2);
//!     }
//!     assert_eq!(rt.lb_steps()[0].moved, 6);
//! });
//! assert_eq!(code, Ok(0));
//! ```
//!
//! Messages to migratable elements (and from them) carry a sequence number
//! per sender and receiver: they are forwarded to wherever the element went
//! and delivered exactly once, in each sender's order; channels held by a
//! moving element keep working; reductions complete. Broadcasts to a
//! migratable array are sent to each element. An element moves only when no
//! entry of it runs: with a suspended async entry, once that entry finishes.
//! A suspended reentrant entry delays the move the same way (it is never
//! moved mid-flight), but calls keep running until it returns, since it may
//! wait for one of them; held `when` calls travel with the element.
//! A future kept in a moving element's state keeps working too: it can be
//! fulfilled from anywhere and awaited on the element's new PE (its owner
//! forwards the value). Elements of groups, and chares not
//! declared migratable, never move; calling `migrate` on them does not
//! compile:
//!
//! ```compile_fail
//! use chare::prelude::*;
//! struct Fixed;
//! #[chare]
//! impl Fixed {
//!     fn new() -> Self { Fixed }
//!     #[entry]
//!     fn go(&self, ctx: &Ctx<Self>) { ctx.migrate(1) } // Fixed is not Migratable
//! }
//! ```
//!
//! ## Running
//! [`run`] reads the PE count from `--pes N` / `+pN` on the command line, or
//! `CHARE_PES`, default the number of cores (see [`config`]), and exits the
//! process with a one-line error on failure. [`Runtime`] returns the outcome
//! instead (for tests and embedding). Under `mpirun` (feature `mpi`) the PE
//! count is the number of ranks; PE 0 runs the main task.
//!
//! ## Values between processes
//! Entry arguments and results, channel values and future values implement
//! serde's `Serialize`/`Deserialize`. Within a process they move as objects;
//! between processes they travel as postcard bytes, decoded where their type
//! is known. Large vectors of numbers should be wrapped in [`Buffer`]
//! (copy-on-write) or [`SharedBuffer`] (read-only), which the MPI layer sends
//! as a separate message straight from their memory, without copying.
//!
//! Numbers, strings, tuples, `Vec`s, `Option`s, proxies and futures already
//! are. For your own structs and enums, mark them [`#[message]`](message)
//! (in the prelude): it derives `Serialize` and `Deserialize` through the
//! serde that `chare` re-exports as [`chare::serde`], so your
//! `Cargo.toml` needs `chare` and nothing else. Derive `Clone` yourself (entry
//! arguments are `Clone + Send`); serde's attributes such as `#[serde(skip)]`
//! work as usual. `examples/farm.rs` sends its tasks and results this way.
//!
//! ```
//! use chare::prelude::*;
//!
//! #[message]
//! #[derive(Clone, Debug, PartialEq)]
//! struct Particle { pos: [f64; 2], id: u64 }
//!
//! #[derive(Clone, Debug, PartialEq)]
//! #[message]                           // before or after other derives
//! enum Shape { Dot, Circle { r: f64 } }
//!
//! struct Cell;
//!
//! #[chare]
//! impl Cell {
//!     fn new() -> Self { Cell }
//!     #[entry]
//!     fn shift(&self, p: Particle, s: Shape) -> (Particle, Shape) {
//!         (Particle { pos: [p.pos[0] + 1.0, p.pos[1]], id: p.id }, s)
//!     }
//! }
//!
//! let code = chare::Runtime::with_pes(2).run(|rt| async move {
//!     let cells = rt.array::<Cell>(2).create(());
//!     let p = Particle { pos: [0.5, 2.0], id: 7 };
//!     let (q, s) = cells.elem(1).shift_ret(p, Shape::Circle { r: 1.5 }).await;
//!     assert_eq!(q, Particle { pos: [1.5, 2.0], id: 7 });
//!     assert_eq!(s, Shape::Circle { r: 1.5 });
//! });
//! assert_eq!(code, Ok(0));
//! ```
//!
//! Without the attribute, the same is
//! `#[derive(chare::serde::Serialize, chare::serde::Deserialize)]` with
//! `#[serde(crate = "chare::serde")]`. A crate that depends on `serde` itself
//! can use serde's derives as usual.

// Without the `mpi` feature the wire format (serialisation, registry,
// attachments) is still compiled and unit-tested, but nothing calls it.
#![cfg_attr(not(feature = "mpi"), allow(dead_code))]

pub mod branch;
mod buffer;
mod channel;
mod collection;
pub mod config;
mod ctx;
pub mod dynamic;
mod erased;
mod error;
mod future;
pub mod hugepage;
mod index;
mod iwait;
pub mod lb;
mod machine;
mod message;
mod migration;
mod object;
mod pool;
mod proxy;
mod quiescence;
mod reduction;
mod reentrant;
mod registry;
mod route;
mod scheduler;
mod section;
mod ser_error;
mod stats;
mod timer;
mod unwind;
mod value;

extern crate self as chare;

pub use crate::branch::LocalBranchError;
pub use crate::buffer::{Buffer, Plain, SharedBuffer};
pub use crate::channel::{Channel, Recv};
pub use crate::collection::{CollInfo, CollectionBuilder, Placement, SingleBuilder};
pub use crate::config::{Config, IdlePolicy, Layer};
pub use crate::ctx::{Ctx, Rt};
pub use crate::error::{EntryError, JobError};
pub use crate::future::{Future, MultiFuture, RawFuture, Reply};
pub use crate::hugepage::HugePageAlloc;
pub use crate::index::{Index, MAX_DIMS};
pub use crate::iwait::{iwait, wait_all, Iwait, WaitAll};
pub use crate::object::{Chare, Dispatch, Migratable};
pub use crate::pool::{current_pe, Pool};
pub use crate::proxy::{Array, BroadcastOf, Callback, CollRef, CollectionProxy, ElemRef, EntriesOf, Group, Proxy};
pub use crate::reduction::{
    And, Arith, Custom, ExitJob, Gather, Logical, Max, Min, Nop, Or, Product, Reducer, Sum, Target, Xor,
};
pub use crate::reentrant::{Reentrant, WaitUntil};
pub use crate::section::Section;
pub use crate::stats::{PeStats, Stats};
pub use crate::timer::Sleep;
pub use chare_macros::{chare, entry, message};
/// The serde that message types derive through ([`message`] uses it), so a
/// program needs no `serde` dependency of its own.
#[doc(no_inline)]
pub use serde;

/// Used by code that `#[chare]` generates; not part of the API.
#[doc(hidden)]
pub mod __private {
    pub use crate::pool::{run_work, task_key, PoolWork, TaskFn};
    pub use crate::registry::{ArrivedCell, ChareType, WireArrive, WireCreate};
    pub use inventory;
    pub use serde;

    /// Rebuilds an element that migrated from another process.
    pub fn arrive_from_wire<T: crate::Chare>(w: WireArrive<'_>) -> Result<ArrivedCell, String> {
        crate::registry::arrive_from_wire::<T>(w)
    }

    /// A migratable chare's state, appended to `out` (its `Buffer`s as attachments).
    pub fn pack_state<T: serde::Serialize>(v: &T, out: &mut Vec<u8>) -> Result<(), String> {
        crate::value::encode_into(v, out)
    }

    /// A migratable chare's state from the front of `bytes`, and the rest.
    pub fn unpack_state<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<(T, &[u8]), String> {
        postcard::take_from_bytes::<T>(bytes)
            .map_err(|e| format!("malformed state of {}: {e}", std::any::type_name::<T>()))
    }

    /// Creates this PE's elements of a collection from a creation message.
    pub fn create_from_wire<T: crate::Chare>(w: WireCreate<'_>) -> Result<(), String> {
        crate::collection::create_from_wire::<T>(w)
    }
}

/// Everything a chare program usually needs.
pub mod prelude {
    pub use crate::{
        iwait, wait_all, And, Array, Buffer, Callback, Channel, Chare, CollectionProxy, Ctx, Custom, ExitJob, Future,
        Gather, Group, Index, Max, Min, MultiFuture, Nop, Or, Placement, Product, Proxy, Reentrant, Rt, Section,
        SharedBuffer, Sum, Xor,
    };
    // `chare` from the macro crate, not `crate::chare`: that path also names
    // the private `extern crate self as chare`, which may not be re-exported
    // (E0365 on nightly).
    pub use chare_macros::{chare, entry, message};
}

/// Configures and starts a job, returning how it ended.
pub struct Runtime {
    cfg: Config,
}

impl Runtime {
    /// A runtime configured from the environment and command line ([`Config::from_env`]).
    pub fn from_env() -> Result<Runtime, JobError> {
        Config::from_env().map(|cfg| Runtime { cfg }).map_err(|e| JobError::Config(e.0))
    }

    /// A runtime with `pes` PEs and default settings (ignores the environment).
    pub fn with_pes(pes: usize) -> Runtime {
        Runtime { cfg: Config::with_pes(pes) }
    }

    /// A runtime with an explicit configuration.
    pub fn with_config(cfg: Config) -> Runtime {
        Runtime { cfg }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// Runs the job: `main`'s task runs on PE 0; the job ends when it returns
    /// (`Ok(0)`), on `exit(code)` (`Ok(code)`), or with an error.
    pub fn run<F, Fut>(self, main: F) -> Result<i32, JobError>
    where
        F: FnOnce(Rt) -> Fut + 'static,
        Fut: std::future::Future<Output = ()> + 'static,
    {
        self.cfg.check().map_err(|e| JobError::Config(e.0))?;
        scheduler::run_job(self.cfg, main)
    }
}

/// Runs a job configured from the command line and environment, as a
/// program's `main` does. Returns normally when it ends with code 0; otherwise
/// prints one line (or a deadlock report) to stderr and exits the process with
/// the job's code (1 for failures, 2 for bad configuration, 3 for deadlock).
/// The end is not held up by a PE busy in a long entry method: 0.5 s after
/// the outcome is decided, the process exits whatever the PEs are running.
pub fn run<F, Fut>(main: F)
where
    F: FnOnce(Rt) -> Fut + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    scheduler::exit_when_stuck();
    let outcome = Runtime::from_env().and_then(|rt| rt.run(main));
    match outcome {
        Ok(0) => {}
        Ok(code) => std::process::exit(code),
        Err(e) => {
            e.report();
            std::process::exit(e.exit_code());
        }
    }
}
