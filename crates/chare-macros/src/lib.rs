//! `#[chare]`: turns an `impl` block into a chare type of the Chare runtime.
//!
//! Users reach this macro through `chare::chare` (re-exported); the runtime's
//! crate docs describe the model. What the macro generates, for
//! `#[chare] impl Worker { fn new(..) -> Self; #[entry] fn work(&mut self, ..); }`:
//!
//! 1. the impl block itself, with the `#[entry]` markers removed;
//! 2. a message enum `WorkerMsg` with one variant per entry method, holding
//!    the arguments and an optional reply handle for the return value;
//! 3. `impl chare::Chare for Worker`: constructor arguments (`Init`), entry
//!    names, and `dispatch`, which matches a message to its method. Async entry
//!    methods become a task borrowing the chare until it finishes;
//! 4. `WorkerEntries` (what `Proxy<Worker>` dereferences to): one method per
//!    entry that sends the call, a `NAME_ret` method returning a `Future` of the
//!    result, and for one-argument entries a `NAME_callback` usable as a
//!    reduction target;
//! 5. `WorkerBroadcast` (what `CollectionProxy<Worker>` dereferences to): the
//!    same methods, sent to every element; `NAME_ret` completes when all
//!    elements ran the method.
//!
//! The first parameter after `self` (or the first parameter of `new`) is the
//! context when its type is `&Ctx<..>`; it may be left out. The generated
//! types are `pub` with `private_interfaces` allowed, or get the visibility
//! given as `#[chare(VIS)]`. The user-facing reference is the docs of
//! [`macro@chare`] and [`macro@entry`].

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote};
use syn::{parse_macro_input, spanned::Spanned, FnArg, ImplItem, ImplItemFn, ItemImpl, ReturnType, Type};

mod results;

/// Makes an `impl` block a chare type: objects that live on PEs and whose
/// `#[entry]` methods other chares and the main task call asynchronously
/// through proxies.
///
/// ```
/// use chare::prelude::*;
///
/// struct Counter { total: u64 }
///
/// #[chare]
/// impl Counter {
///     // The constructor: `create`'s argument is the tuple of its arguments.
///     fn new(start: u64) -> Self { Counter { total: start } }
///
///     // Sync entry, no ctx, no return value.
///     #[entry]
///     fn add(&mut self, n: u64) { self.total += n; }
///
///     // A return value: `total_ret()` gives a Future of it.
///     #[entry]
///     fn total(&self) -> u64 { self.total }
///
///     // With ctx: a sum over all elements, delivered to element 0's `add`
///     // (`add_callback`, generated because `add` has one argument).
///     #[entry]
///     fn report(&self, ctx: &Ctx<Self>) {
///         ctx.contribute(self.total, Sum, ctx.proxy().elem(0).add_callback());
///     }
///
///     // Async entry: holds this element until it returns.
///     #[entry]
///     async fn add_later(&mut self, value: Future<u64>) -> u64 {
///         self.total += value.await;
///         self.total
///     }
/// }
///
/// let code = chare::Runtime::with_pes(2).run(|rt| async move {
///     let counters = rt.array::<Counter>(4).create((10,)); // Init = (u64,)
///     counters.add(1);                                     // broadcast
///     counters.elem(2).add(5);                             // one element
///     assert_eq!(counters.elem(2).total_ret().await, 16);
///     counters.add_ret(1).await;                           // broadcast: completion
///     assert_eq!(counters.elem(3).total_ret().await, 12);
///
///     let v = rt.future::<u64>();
///     let later = counters.elem(1).add_later_ret(v.clone());
///     v.set(100);
///     assert_eq!(later.await, 112);
///
///     counters.report_ret().await;          // 12 + 112 + 17 + 12 = 153
///     rt.wait_quiescence().await;           // ... reaches element 0's `add`
///     assert_eq!(counters.elem(0).total_ret().await, 12 + 153);
/// });
/// assert_eq!(code, Ok(0));
/// ```
///
/// (`crates/chare/tests/macro_rules.rs` runs the examples of this page too.)
///
/// # Rules
///
/// * **The impl block**: an inherent `impl T` (not a trait impl) of a named,
///   non-generic type `T` (a struct or enum declared elsewhere, usually just
///   above). `T` must be `Send + 'static`. One `#[chare]` block per type.
/// * **Constructor**: `fn new([ctx: &Ctx<Self>,] args..) -> Self` is required.
///   Its arguments other than `ctx` form the tuple `T::Init` given to
///   `create`: `create(())` for none, `create((a,))` for one,
///   `create((a, b))` for two. They are cloned for every element and, on the
///   MPI layer, sent to other processes, so each must be
///   `Clone + Send + Serialize + DeserializeOwned + 'static`.
/// * **Entry methods**: methods marked `#[entry]`. At least one is required.
///   Each takes `&self` or `&mut self` first (not `self`), then optionally
///   `ctx: &Ctx<Self>` as its second parameter, then its arguments. The
///   context is recognised by its type: a reference to a type named `Ctx`
///   (`&Ctx<Self>`, `&chare::Ctx<Self>`); leave it out when the method does
///   not need it. Entry methods cannot be generic.
/// * **Arguments are owned values** sent in a message: no references, no
///   `impl Trait`; each must be
///   `Clone + Send + Serialize + DeserializeOwned + 'static` (numbers, `String`, tuples, `Vec`, `Option`, proxies,
///   `Future`, `Buffer`, ... and your own types marked [`macro@message`]).
///   Within a process they move without serialisation; between processes
///   they travel as bytes.
/// * **Return values**: any type that is
///   `Serialize + DeserializeOwned + Send + 'static` (also when you never call `NAME_ret`: the method is
///   generated anyway), or none (`()`). A plain call (`NAME(args)`) drops
///   it; `NAME_ret(args)` delivers it to a `Future`.
/// * **Sync entries** (`fn`) run to completion on the element's PE; one entry
///   method runs at a time per PE.
/// * **Async entries** (`async fn`) run as a task that borrows the element
///   (`&self` / `&mut self` and `ctx`) until the method returns: the element
///   holds while the task awaits, and calls to it arriving meanwhile wait and
///   run afterwards, in arrival order. Other chares on the PE run while the
///   task waits. A task may await futures, channels, `iwait`, and other
///   chares' `NAME_ret` futures. The return value is delivered when the
///   method returns. These are *exclusive* entries; for Charm4Py's
///   coroutines, during whose waits the chare's other entries run, see
///   [Reentrant entries](#reentrant-entries).
/// * **Conditions**: `#[entry(when = CONDITION)]` (see [`when`
///   conditions](#when-conditions)).
/// * **Other methods** (not `new`, not `#[entry]`) stay ordinary methods of
///   `T`, callable from its entries; they cannot be called through a proxy.
/// * The block is kept as written (minus the `#[entry]` markers): the
///   methods' own visibility, attributes and doc comments are yours.
///
/// # Reentrant entries
///
/// In Charm4Py, while a `@coro` entry is suspended, the chare's other entry
/// methods run. In Chare that is an opt-in:
///
/// ```text
/// #[entry(reentrant)]
/// async fn NAME(me: &Reentrant<Self>, args..) [-> R]
/// ```
///
/// A reentrant entry takes no `self`: it would hold a borrow of the state
/// across its awaits, while other entries take `&mut self`. Instead
/// [`Reentrant`](../chare/struct.Reentrant.html) lends the state between
/// awaits, for the length of a closure that cannot await:
/// `me.with(|s: &mut Self| ..)`; `me.wait_until(|s: &Self| cond)` waits until
/// a condition on the state holds (Charm4Py's `self.wait`); and `me`
/// dereferences to the context (`me.index()`, `me.future()`, ...). While the
/// entry is suspended every other entry of the chare may run, including
/// `&mut self` ones, so re-read the state after each await. Proxies call it
/// as any entry (`NAME`, `NAME_ret`, `NAME_callback`, broadcasts).
///
/// * An exclusive async entry still holds the chare: a reentrant entry
///   that becomes ready meanwhile resumes only after it finishes.
/// * A chare moves (migration) only when no entry of it runs or is
///   suspended; calls keep running until then.
/// * The design and its reasons: the `chare` crate docs, "Semantics".
///
/// ```
/// use chare::prelude::*;
///
/// struct Mailbox { wanted: Option<Future<u64>> }
///
/// #[chare]
/// impl Mailbox {
///     fn new() -> Self { Mailbox { wanted: None } }
///
///     #[entry(reentrant)]
///     async fn take(me: &Reentrant<Self>) -> u64 {
///         let f = me.future::<u64>();
///         me.with(|s| s.wanted = Some(f.clone()));
///         f.await                     // `deliver` runs meanwhile
///     }
///
///     #[entry]
///     fn deliver(&mut self, v: u64) { self.wanted.take().unwrap().set(v) }
/// }
///
/// let code = chare::Runtime::with_pes(2).run(|rt| async move {
///     let m = rt.chare::<Mailbox>(1).create(());
///     let got = m.take_ret();
///     m.deliver(7);                  // an exclusive `take` would deadlock here
///     assert_eq!(got.await, 7);
/// });
/// assert_eq!(code, Ok(0));
/// ```
///
/// A reentrant entry with `self` is a compile error:
///
/// ```compile_fail
/// use chare::prelude::*;
/// struct S { n: u64 }
/// #[chare]
/// impl S {
///     fn new() -> Self { S { n: 0 } }
///     #[entry(reentrant)]
///     async fn run(&mut self, f: Future<u64>) { self.n += f.await; }
/// }
/// ```
///
/// # `when` conditions
///
/// `#[entry(when = CONDITION)]` (Charm4Py's `@when`): the call runs only
/// when `CONDITION` holds. It is a `bool` expression over `self` (`&Self`)
/// and the entry's arguments, each seen by reference under its own name
/// (`*step`); it cannot await and should not have side effects. A call whose
/// condition does not hold when it would run is held; after every entry of
/// the chare (a sync entry, the end of an async one, each step of a
/// reentrant one) the held calls are checked, oldest first, and the first
/// whose condition holds runs, then checking starts again from the oldest.
/// So a held call runs right after the entry that made its condition true,
/// before any later message, and held calls whose conditions hold together
/// run in arrival order. Any entry may have a condition: sync, async,
/// reentrant (`#[entry(reentrant, when = ..)]`). Arguments are plain names;
/// those the condition reads count as used by the method. Held calls
/// travel with a migrating chare. Each entry of the chare checks every held
/// call: keep few.
///
/// ```
/// use chare::prelude::*;
///
/// struct Steps { step: u32, log: Vec<u32> }
///
/// #[chare]
/// impl Steps {
///     fn new() -> Self { Steps { step: 0, log: vec![] } }
///
///     // Runs the calls in step order, whatever order they arrive in.
///     #[entry(when = self.step == *k)]
///     fn step(&mut self, k: u32) { self.log.push(k); self.step += 1; }
///
///     #[entry]
///     fn log(&self) -> Vec<u32> { self.log.clone() }
/// }
///
/// let code = chare::Runtime::with_pes(2).run(|rt| async move {
///     let s = rt.chare::<Steps>(1).create(());
///     for k in [2, 0, 3, 1] { s.step(k); }
///     assert_eq!(s.log_ret().await, vec![0, 1, 2, 3]);
/// });
/// assert_eq!(code, Ok(0));
/// ```
///
/// # What it generates
///
/// For `#[chare] impl T` with entry `m(&mut self, [ctx,] a: A, b: B) -> R`:
///
/// | item | what |
/// |---|---|
/// | `impl chare::Chare for T` | `Init` = the constructor's argument tuple; the entry dispatch |
/// | `enum TMsg` | one variant per entry method: its arguments and a reply handle |
/// | `struct TEntries` | what `Proxy<T>` (one element) dereferences to |
/// | `struct TBroadcast` | what `CollectionProxy<T>` (a group or array) dereferences to |
/// | a registration | `T` by its path (`module::T`), so that ranks can create elements |
///
/// The names `TMsg`, `TEntries`, `TBroadcast` are taken in `T`'s module.
/// Methods, per entry `m`:
///
/// | on | method | returns | does |
/// |---|---|---|---|
/// | `Proxy<T>` | `m(a, b)` | `()` | calls `m` on that element, asynchronously |
/// | `Proxy<T>` | `m_ret(a, b)` | `Future<R>` | the same; the future gets `m`'s return value |
/// | `Proxy<T>` | `m_callback()` | `Callback<A>` | only if `m` has exactly one argument (besides `ctx`): a target that calls `m(v)` on that element, e.g. a reduction's result |
/// | `CollectionProxy<T>` | `m(a, b)` | `()` | broadcast: calls `m` on every element (arguments cloned) |
/// | `CollectionProxy<T>` | `m_ret(a, b)` | `Future<()>` | broadcast; the future completes once every element ran `m` (async entries: returned); return values are dropped |
/// | `CollectionProxy<T>` | `m_callback()` | `Callback<A>` | one argument only: a target that broadcasts `m(v)` |
/// | `Proxy<T>` | `m_try_ret(a, b)` | `Future<Result<R, EntryError>>` | as `m_ret`, but a panic of `m` goes to the future as `Err` instead of ending the job; the element continues |
/// | `CollectionProxy<T>` | `m_all_ret(a, b)` | `Future<Vec<R>>` | broadcast; every element's return value, in index order (on a `Section<T>`: one per member, in index order) |
/// | `CollectionProxy<T>` | `m_try_all_ret(a, b)` | `Future<Vec<Result<R, EntryError>>>` | broadcast; each element's (member's) value or panic, in index order; the job goes on |
///
/// Calls never block: they send a message and return. A `Future` is awaited
/// where it was created (the main task or an async entry of the chare that
/// created it). Calls from one chare to another arrive in send order.
///
/// # Visibility
///
/// The macro sees the `impl` block, not the struct, so it cannot read `T`'s
/// visibility. Two forms:
///
/// * `#[chare]`: `TMsg`, `TEntries`, `TBroadcast` are `pub`, with the
///   `private_interfaces` lint allowed on them. They are then exactly as
///   usable as `T` itself (type privacy: a private `T`'s proxies cannot be
///   named or obtained outside `T`'s scope), a private chare may be passed
///   in another private chare's entry without a warning, and a `pub` chare
///   of a library exports its proxy methods. This suits every case; the
///   only cost is that the generated types of a private chare in a public
///   module are nameable there (and listed by rustdoc).
/// * `#[chare(VIS)]`, with `VIS` the struct's own visibility (`pub`,
///   `pub(crate)`, `pub(super)`, `pub(self)` for private, `pub(in path)`):
///   the generated types get exactly `VIS`, and no lint is allowed. A
///   narrower `VIS` than the struct's is an error (E0446, "private type
///   `TEntries` in public interface"); a wider one may warn
///   (`private_interfaces`) when entry arguments are private types.
///
/// ```
/// use chare::prelude::*;
///
/// struct Leaf;                      // private
///
/// #[chare]
/// impl Leaf {
///     fn new() -> Self { Leaf }
///     #[entry]
///     fn ping(&self) -> u32 { 7 }
/// }
///
/// struct Branch;                    // private too, takes a private proxy
///
/// #[chare]
/// impl Branch {
///     fn new() -> Self { Branch }
///     #[entry]
///     async fn ask(&self, leaf: Proxy<Leaf>) -> u32 { leaf.ping_ret().await + 1 }
/// }
///
/// pub mod library {
///     use chare::prelude::*;
///
///     /// A public chare: `Proxy<Doubler>` has `double` and `double_ret`.
///     pub struct Doubler;
///
///     #[chare(pub)]
///     impl Doubler {
///         fn new() -> Self { Doubler }
///         /// Doubles `x`.
///         #[entry]
///         pub fn double(&self, x: u64) -> u64 { 2 * x }
///     }
/// }
///
/// let code = chare::Runtime::with_pes(2).run(|rt| async move {
///     let leaf = rt.chare::<Leaf>(1).create(());
///     let branch = rt.chare::<Branch>(0).create(());
///     assert_eq!(branch.ask_ret(leaf).await, 8);
///     let d = rt.chare::<library::Doubler>(1).create(());
///     let entries: &library::DoublerEntries = &d;     // a pub type
///     assert_eq!(entries.double_ret(21).await, 42);
/// });
/// assert_eq!(code, Ok(0));
/// ```
///
/// # Errors at compile time
///
/// A missing `new` or `#[entry]`, a trait impl, a generic type or method,
/// `self` by value, a reference or `impl Trait` argument, an argument to
/// `#[chare]` that is not a visibility, an unknown `#[entry(..)]` option, a
/// reentrant entry that is not `async` or takes `self`, and a `when` entry
/// whose arguments are not plain names each give a compile error naming the
/// rule.
#[proc_macro_attribute]
pub fn chare(attr: TokenStream, item: TokenStream) -> TokenStream {
    let (vis, migratable) = match parse_chare_args(attr.into()) {
        Ok(a) => a,
        Err(e) => return e.to_compile_error().into(),
    };
    let input = parse_macro_input!(item as ItemImpl);
    match expand(input, vis, migratable) {
        Ok(ts) => ts.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// Marks an entry method inside a [`macro@chare`] impl block: a method that
/// proxies call asynchronously. Outside such a block it is a compile error.
///
/// The rules and the generated methods are on [`macro@chare`]; in short:
///
/// ```text
/// #[entry] fn NAME(&self | &mut self, [ctx: &Ctx<Self>,] args: owned values..) [-> R]
/// #[entry] async fn NAME(...)                 // a task holding the element until it returns
/// #[entry(reentrant)] async fn NAME(me: &Reentrant<Self>, args..) [-> R]
///                                             // other entries run while it waits
/// #[entry(when = CONDITION)] ...              // runs once CONDITION (over self, &args) holds
///
/// proxy.NAME(args)            // one element: send, return at once
/// proxy.NAME_ret(args)        // Future<R>
/// proxy.NAME_callback()       // Callback<A>, when NAME has one argument A
/// collection.NAME(args)       // broadcast to every element
/// collection.NAME_ret(args)   // Future<()>: every element ran NAME
/// collection.NAME_callback()  // Callback<A> that broadcasts
/// proxy.NAME_try_ret(args)           // Future<Result<R, EntryError>>: a panic goes to the caller
/// collection.NAME_all_ret(args)       // Future<Vec<R>>: every element's result, in index order
/// collection.NAME_try_all_ret(args)   // Future<Vec<Result<R, EntryError>>>
/// ```
///
/// ```
/// use chare::prelude::*;
///
/// struct Acc { sum: f64 }
///
/// #[chare]
/// impl Acc {
///     fn new() -> Self { Acc { sum: 0.0 } }
///
///     #[entry]
///     fn put(&mut self, x: f64) { self.sum += x; }    // put, put_ret, put_callback
///
///     #[entry]
///     async fn wait_and_get(&mut self, ctx: &Ctx<Self>) -> f64 {
///         ctx.allreduce(self.sum, Sum).await           // the task awaits
///     }
/// }
///
/// let code = chare::Runtime::with_pes(2).run(|rt| async move {
///     let accs = rt.array::<Acc>(3).create(());
///     accs.put_ret(1.5).await;                         // every element has 1.5
///     let total = accs.elem(2).wait_and_get_ret();
///     accs.elem(0).wait_and_get();
///     accs.elem(1).wait_and_get();
///     assert_eq!(total.await, 4.5);
/// });
/// assert_eq!(code, Ok(0));
/// ```
#[proc_macro_attribute]
pub fn entry(_attr: TokenStream, item: TokenStream) -> TokenStream {
    let f: TokenStream2 = item.into();
    syn::Error::new(f.span(), "#[entry] is only valid on methods inside a #[chare] impl block")
        .to_compile_error()
        .into()
}

/// Makes a struct or enum a message type: something an entry method, a
/// future or a channel can carry between processes.
///
/// `#[message]` adds serde's `Serialize` and `Deserialize` derives through
/// the copy of serde that `chare` re-exports (`chare::serde`), so the
/// program needs no `serde` dependency of its own. It expands to
///
/// ```ignore
/// #[derive(::chare::serde::Serialize, ::chare::serde::Deserialize)]
/// #[serde(crate = "::chare::serde")]
/// ```
///
/// serde's field and container attributes (`#[serde(skip)]`,
/// `#[serde(default)]`, ...) work as usual. Entry arguments must also be
/// `Clone + Send`: derive `Clone` yourself.
///
/// ```
/// use chare::prelude::*;
///
/// #[message]
/// #[derive(Clone, Debug, PartialEq)]
/// struct Particle { pos: [f64; 3], id: u64 }
///
/// struct Mover;
///
/// #[chare]
/// impl Mover {
///     fn new() -> Self { Mover }
///     #[entry]
///     fn step(&self, mut p: Particle) -> Particle { p.pos[0] += 1.0; p }
/// }
///
/// let code = chare::Runtime::with_pes(2).run(|rt| async move {
///     let m = rt.chare::<Mover>(1).create(());
///     let p = m.step_ret(Particle { pos: [0.0; 3], id: 3 }).await;
///     assert_eq!(p, Particle { pos: [1.0, 0.0, 0.0], id: 3 });
/// });
/// assert_eq!(code, Ok(0));
/// ```
#[proc_macro_attribute]
pub fn message(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(Span::call_site(), "#[message] takes no arguments").to_compile_error().into();
    }
    let input = parse_macro_input!(item as syn::DeriveInput);
    if let syn::Data::Union(u) = &input.data {
        return syn::Error::new(u.union_token.span, "#[message] applies to a struct or an enum, not a union")
            .to_compile_error()
            .into();
    }
    quote! {
        #[derive(::chare::serde::Serialize, ::chare::serde::Deserialize)]
        #[serde(crate = "::chare::serde")]
        #input
    }
    .into()
}

struct Entry {
    name: syn::Ident,
    is_async: bool,
    takes_ctx: bool,
    arg_types: Vec<Type>,
    ret: Type,
    mut_self: bool,
    /// `#[entry(reentrant)]`: no `self`; the first parameter is `&Reentrant<Self>`.
    reentrant: bool,
    /// `#[entry(when = EXPR)]`: the condition and the arguments' names it sees.
    when: Option<(syn::Expr, Vec<syn::Ident>)>,
}

/// What `#[entry(..)]` says: `reentrant`, `when = EXPR`, in any order.
#[derive(Default)]
struct EntryOpts {
    reentrant: bool,
    when: Option<syn::Expr>,
}

fn parse_entry_opts(a: &syn::Attribute) -> syn::Result<EntryOpts> {
    let mut o = EntryOpts::default();
    if let syn::Meta::Path(_) = a.meta {
        return Ok(o);
    }
    a.parse_nested_meta(|meta| {
        if meta.path.is_ident("reentrant") && !o.reentrant {
            o.reentrant = true;
            Ok(())
        } else if meta.path.is_ident("when") && o.when.is_none() {
            o.when = Some(meta.value()?.parse()?);
            Ok(())
        } else {
            Err(meta.error("#[entry] takes `reentrant` and/or `when = CONDITION`: #[entry(reentrant)], #[entry(when = self.step == *step)], ..."))
        }
    })?;
    Ok(o)
}

/// The identifiers in `ts`, inside groups too.
fn idents_in(ts: TokenStream2, out: &mut std::collections::HashSet<String>) {
    for tt in ts {
        match tt {
            proc_macro2::TokenTree::Ident(i) => {
                out.insert(i.to_string());
            }
            proc_macro2::TokenTree::Group(g) => idents_in(g.stream(), out),
            _ => {}
        }
    }
}

/// Whether `ty` is `&Reentrant<..>` (by the last segment's name).
fn is_reentrant_type(ty: &Type) -> bool {
    if let Type::Reference(r) = ty {
        if let Type::Path(p) = &*r.elem {
            if let Some(seg) = p.path.segments.last() {
                return seg.ident == "Reentrant" && r.mutability.is_none();
            }
        }
    }
    false
}

fn is_ctx_type(ty: &Type) -> bool {
    if let Type::Reference(r) = ty {
        if let Type::Path(p) = &*r.elem {
            if let Some(seg) = p.path.segments.last() {
                return seg.ident == "Ctx";
            }
        }
    }
    false
}

fn is_entry_attr(a: &syn::Attribute) -> bool {
    a.path().segments.last().map(|s| s.ident == "entry").unwrap_or(false)
}

const REENTRANT_FORM: &str = "a reentrant entry is `#[entry(reentrant)] async fn NAME(me: &Reentrant<Self>, args..)`: \
     no `self` (the state is lent between awaits by `me.with(|s| ..)`, so that other entries may run while it waits)";

fn parse_entry(f: &ImplItemFn, opts: EntryOpts) -> syn::Result<Entry> {
    let sig = &f.sig;
    if !sig.generics.params.is_empty() {
        return Err(syn::Error::new(sig.generics.span(), "entry methods cannot be generic"));
    }
    let mut inputs = sig.inputs.iter();
    let mut mut_self = false;
    if opts.reentrant {
        if sig.asyncness.is_none() {
            return Err(syn::Error::new(sig.fn_token.span(), REENTRANT_FORM));
        }
        match inputs.next() {
            Some(FnArg::Typed(pt)) if is_reentrant_type(&pt.ty) => {}
            Some(a) => return Err(syn::Error::new(a.span(), REENTRANT_FORM)),
            None => return Err(syn::Error::new(sig.span(), REENTRANT_FORM)),
        }
    } else {
        mut_self = match inputs.next() {
            Some(FnArg::Receiver(r)) => {
                if r.reference.is_none() {
                    return Err(syn::Error::new(r.span(), "entry methods take &self or &mut self"));
                }
                r.mutability.is_some()
            }
            Some(FnArg::Typed(pt)) if is_reentrant_type(&pt.ty) => {
                return Err(syn::Error::new(
                    pt.span(),
                    "an entry taking `&Reentrant<Self>` is marked #[entry(reentrant)]",
                ))
            }
            _ => {
                return Err(syn::Error::new(
                    sig.span(),
                    "entry methods take &self or &mut self first (or are reentrant: \
                     `#[entry(reentrant)] async fn NAME(me: &Reentrant<Self>, ..)`)",
                ))
            }
        };
    }
    let mut takes_ctx = false;
    let mut arg_types = Vec::new();
    let mut arg_names = Vec::new();
    for (i, arg) in inputs.enumerate() {
        let FnArg::Typed(pt) = arg else {
            return Err(syn::Error::new(arg.span(), "unexpected receiver"));
        };
        if i == 0 && !opts.reentrant && is_ctx_type(&pt.ty) {
            takes_ctx = true;
            continue;
        }
        if opts.reentrant && is_ctx_type(&pt.ty) {
            return Err(syn::Error::new(
                pt.ty.span(),
                "a reentrant entry takes no `&Ctx<Self>`: its `&Reentrant<Self>` dereferences to the context",
            ));
        }
        if opts.when.is_some() {
            match &*pt.pat {
                syn::Pat::Ident(pi) if pi.subpat.is_none() => arg_names.push(pi.ident.clone()),
                p => return Err(syn::Error::new(
                    p.span(),
                    "the arguments of an entry with a `when` condition are plain names (the condition refers to them)",
                )),
            }
        }
        if let Type::Reference(_) | Type::ImplTrait(_) = &*pt.ty {
            return Err(syn::Error::new(
                pt.ty.span(),
                "entry method arguments are sent in messages: they must be owned values",
            ));
        }
        arg_types.push((*pt.ty).clone());
    }
    let ret = match &sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, t) => (**t).clone(),
    };
    Ok(Entry {
        name: sig.ident.clone(),
        is_async: sig.asyncness.is_some(),
        takes_ctx,
        arg_types,
        ret,
        mut_self,
        reentrant: opts.reentrant,
        when: opts.when.map(|w| (w, arg_names)),
    })
}

/// `#[chare]`'s arguments: an optional visibility and the word
/// `migratable`, in any order, separated by a comma.
fn parse_chare_args(attr: TokenStream2) -> syn::Result<(Option<syn::Visibility>, bool)> {
    let usage = "#[chare] takes the chare type's visibility and/or `migratable`: #[chare(pub)], \
                 #[chare(migratable)], #[chare(pub(crate), migratable)], ...";
    let mut vis = None;
    let mut migratable = false;
    if attr.is_empty() {
        return Ok((None, false));
    }
    // Split at top-level commas: a visibility is not a single token.
    let mut current = TokenStream2::new();
    let mut groups = Vec::new();
    for tt in attr {
        match &tt {
            proc_macro2::TokenTree::Punct(p) if p.as_char() == ',' => groups.push(std::mem::take(&mut current)),
            _ => current.extend(std::iter::once(tt)),
        }
    }
    if !current.is_empty() {
        groups.push(current);
    }
    for g in groups {
        if g.to_string() == "migratable" {
            if migratable {
                return Err(syn::Error::new(g.span(), usage));
            }
            migratable = true;
            continue;
        }
        match syn::parse2::<syn::Visibility>(g.clone()) {
            Ok(syn::Visibility::Inherited) | Err(_) => return Err(syn::Error::new(g.span(), usage)),
            Ok(v) if vis.is_none() => vis = Some(v),
            Ok(_) => return Err(syn::Error::new(g.span(), usage)),
        }
    }
    Ok((vis, migratable))
}

fn expand(mut input: ItemImpl, vis: Option<syn::Visibility>, migratable: bool) -> syn::Result<TokenStream2> {
    if input.trait_.is_some() {
        return Err(syn::Error::new(input.span(), "#[chare] goes on an inherent impl block"));
    }
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new(input.generics.span(), "chare types cannot be generic"));
    }
    let self_ty = (*input.self_ty).clone();
    let type_name = match &self_ty {
        Type::Path(p) => p.path.segments.last().unwrap().ident.clone(),
        _ => return Err(syn::Error::new(self_ty.span(), "#[chare] needs a named type")),
    };

    let mut entries: Vec<Entry> = Vec::new();
    let mut ctor: Option<(bool, Vec<Type>)> = None;
    // `fn migrated(&mut self [, ctx: &Ctx<Self>])`: the hook after a move.
    let mut migrated_hook: Option<bool> = None;
    for item in input.items.iter_mut() {
        let ImplItem::Fn(f) = item else { continue };
        let marked = match f.attrs.iter().find(|a| is_entry_attr(a)) {
            Some(a) => Some(parse_entry_opts(a)?),
            None => None,
        };
        f.attrs.retain(|a| !is_entry_attr(a));
        if let Some(opts) = marked {
            let e = parse_entry(f, opts)?;
            if let Some((cond, names)) = &e.when {
                // An argument the condition reads counts as used in the method.
                let mut read = std::collections::HashSet::new();
                idents_in(quote!(#cond), &mut read);
                for n in names.iter().filter(|n| read.contains(&n.to_string())).rev() {
                    f.block.stmts.insert(0, syn::parse_quote!(let _ = &#n;));
                }
            }
            entries.push(e);
        } else if f.sig.ident == "migrated" {
            let ok_self = matches!(f.sig.inputs.first(), Some(FnArg::Receiver(r)) if r.mutability.is_some() && r.reference.is_some());
            let takes_ctx = match f.sig.inputs.len() {
                1 => false,
                2 => matches!(f.sig.inputs.iter().nth(1), Some(FnArg::Typed(pt)) if is_ctx_type(&pt.ty)),
                _ => false,
            };
            if !ok_self
                || (f.sig.inputs.len() == 2 && !takes_ctx)
                || f.sig.inputs.len() > 2
                || f.sig.asyncness.is_some()
            {
                return Err(syn::Error::new(
                    f.sig.span(),
                    "the migration hook is `fn migrated(&mut self)` or `fn migrated(&mut self, ctx: &Ctx<Self>)`",
                ));
            }
            if !migratable {
                return Err(syn::Error::new(
                    f.sig.ident.span(),
                    "`fn migrated` is the hook of migratable chares: write #[chare(migratable)]",
                ));
            }
            migrated_hook = Some(takes_ctx);
        } else if f.sig.ident == "new" {
            let mut takes_ctx = false;
            let mut tys = Vec::new();
            for (i, arg) in f.sig.inputs.iter().enumerate() {
                let FnArg::Typed(pt) = arg else {
                    return Err(syn::Error::new(arg.span(), "the constructor `new` takes no self"));
                };
                if i == 0 && is_ctx_type(&pt.ty) {
                    takes_ctx = true;
                } else {
                    tys.push((*pt.ty).clone());
                }
            }
            ctor = Some((takes_ctx, tys));
        }
    }
    let Some((ctor_ctx, ctor_tys)) = ctor else {
        return Err(syn::Error::new(
            input.self_ty.span(),
            "a chare needs a constructor `fn new([ctx: &Ctx<Self>,] args..) -> Self`",
        ));
    };
    if entries.is_empty() {
        return Err(syn::Error::new(input.self_ty.span(), "a chare needs at least one #[entry] method"));
    }

    let msg = format_ident!("{}Msg", type_name);
    let entries_ty = format_ident!("{}Entries", type_name);
    let bcast_ty = format_ident!("{}Broadcast", type_name);
    let name_str = type_name.to_string();

    // Constructor.
    let init_idx: Vec<syn::Index> = (0..ctor_tys.len()).map(syn::Index::from).collect();
    let ctor_ctx_arg = if ctor_ctx { quote!(ctx,) } else { quote!() };
    let construct = quote! {
        fn construct(ctx: &::chare::Ctx<Self>, init: Self::Init) -> Self {
            let _ = &ctx;
            let _ = &init;
            <#self_ty>::new(#ctor_ctx_arg #(init.#init_idx),*)
        }
    };

    let mut variants = Vec::new();
    let mut name_arms = Vec::new();
    let mut dispatch_arms = Vec::new();
    let mut reentrant_arms = Vec::new();
    let mut reentrant_pats = Vec::new();
    let mut when_arms = Vec::new();
    let mut when_fns: Vec<ImplItem> = Vec::new();
    let mut elem_methods = Vec::new();
    let mut bcast_methods = Vec::new();
    let mut reply_arms = Vec::new();
    for e in &entries {
        let (reply_arm, elem_more, bcast_more) = results::methods(e, &msg, &self_ty);
        reply_arms.push(reply_arm);
        elem_methods.push(elem_more);
        bcast_methods.push(bcast_more);
        let vname = &e.name;
        let tys = &e.arg_types;
        let args: Vec<syn::Ident> = (0..tys.len()).map(|i| format_ident!("a{}", i)).collect();
        let ret = &e.ret;
        let ename = vname.to_string();
        variants.push(quote! { #vname(#(#tys,)* ::core::option::Option<::chare::Reply>) });
        name_arms.push(quote! { #msg::#vname(..) => #ename });
        let ctx_arg = if e.takes_ctx { quote!(ctx,) } else { quote!() };
        let this = if e.mut_self { quote!(self) } else { quote!(&*self) };
        if let Some((cond, names)) = &e.when {
            let hidden = format_ident!("__chare_when_{}", vname);
            when_fns.push(syn::parse_quote! {
                #[doc(hidden)]
                #[allow(unused_variables, non_snake_case, clippy::all)]
                fn #hidden(&self, #(#names: &#tys),*) -> bool { #cond }
            });
            when_arms.push(quote! { #msg::#vname(#(#args,)* _) => <#self_ty>::#hidden(self, #(#args),*) });
        }
        if e.reentrant {
            let why = format!("{}::{} is reentrant", name_str, ename);
            dispatch_arms.push(quote! { #msg::#vname(..) => ::core::unreachable!(#why) });
            reentrant_pats.push(quote! { #msg::#vname(..) });
            reentrant_arms.push(quote! {
                #msg::#vname(#(#args,)* reply) => ::std::boxed::Box::pin(async move {
                    let me = me;
                    let r: #ret = <#self_ty>::#vname(&me, #(#args),*).await;
                    ::chare::Reply::send_opt(reply, r);
                })
            });
        } else if e.is_async {
            dispatch_arms.push(quote! {
                #msg::#vname(#(#args,)* reply) => ::chare::Dispatch::Task(::std::boxed::Box::pin(async move {
                    let r: #ret = <#self_ty>::#vname(#this, #ctx_arg #(#args),*).await;
                    ::chare::Reply::send_opt(reply, r);
                }))
            });
        } else {
            dispatch_arms.push(quote! {
                #msg::#vname(#(#args,)* reply) => {
                    let r: #ret = <#self_ty>::#vname(#this, #ctx_arg #(#args),*);
                    ::chare::Reply::send_opt(reply, r);
                    ::chare::Dispatch::Done
                }
            });
        }
        let ret_name = format_ident!("{}_ret", vname);
        let doc_send = format!("Calls entry method `{}` asynchronously.", ename);
        let doc_ret = format!("Calls entry method `{}` and returns a `Future` of its return value.", ename);
        elem_methods.push(quote! {
            #[doc = #doc_send]
            pub fn #vname(&self, #(#args: #tys),*) {
                self.raw.send::<#self_ty>(#msg::#vname(#(#args,)* None))
            }
            #[doc = #doc_ret]
            pub fn #ret_name(&self, #(#args: #tys),*) -> ::chare::Future<#ret> {
                let (f, reply) = ::chare::Reply::new_single::<#ret>();
                self.raw.send::<#self_ty>(#msg::#vname(#(#args,)* Some(reply)));
                f
            }
        });
        let doc_bsend = format!("Calls entry method `{}` on every element.", ename);
        let doc_bret =
            format!("Calls entry method `{}` on every element; the future completes once all ran it.", ename);
        bcast_methods.push(quote! {
            #[doc = #doc_bsend]
            pub fn #vname(&self, #(#args: #tys),*) {
                self.raw.broadcast::<#self_ty>(#msg::#vname(#(#args,)* None))
            }
            #[doc = #doc_bret]
            pub fn #ret_name(&self, #(#args: #tys),*) -> ::chare::Future<()> {
                let (f, reply) = ::chare::Reply::new_counted(self.raw.len());
                self.raw.broadcast::<#self_ty>(#msg::#vname(#(#args,)* Some(reply)));
                f
            }
        });
        if tys.len() == 1 {
            let ty = &tys[0];
            let cb_name = format_ident!("{}_callback", vname);
            let doc_cb = format!("A callback that calls `{}` with a value, e.g. a reduction's result.", ename);
            elem_methods.push(quote! {
                #[doc = #doc_cb]
                pub fn #cb_name(&self) -> ::chare::Callback<#ty> {
                    ::chare::Callback::to_elem::<#self_ty>(self.raw.clone(), |v| #msg::#vname(v, None))
                }
            });
            bcast_methods.push(quote! {
                #[doc = #doc_cb]
                pub fn #cb_name(&self) -> ::chare::Callback<#ty> {
                    ::chare::Callback::to_all::<#self_ty>(self.raw.clone(), |v| #msg::#vname(v, None))
                }
            });
        }
    }
    // Visibility of the generated types (see `chare`'s docs): the one given,
    // or `pub` with `private_interfaces` allowed, so that they are as usable
    // as the chare type itself (type privacy) and never warn.
    let (vis, allow) = match vis {
        Some(v) => (quote!(#v), quote!()),
        None => (quote!(pub), quote!(#[allow(private_interfaces)])),
    };
    let init_tys = &ctor_tys;
    let migration = if migratable {
        let hook = match migrated_hook {
            Some(true) => {
                quote! { fn migrated(&mut self, ctx: &::chare::Ctx<Self>) { <#self_ty>::migrated(self, ctx) } }
            }
            Some(false) => quote! { fn migrated(&mut self, _ctx: &::chare::Ctx<Self>) { <#self_ty>::migrated(self) } },
            None => quote!(),
        };
        quote! {
            const MIGRATABLE: bool = true;
            fn pack(&self, out: &mut ::std::vec::Vec<u8>) -> ::core::result::Result<(), ::std::string::String> {
                ::chare::__private::pack_state(self, out)
            }
            fn unpack(bytes: &[u8]) -> ::core::result::Result<(Self, &[u8]), ::std::string::String> {
                ::chare::__private::unpack_state(bytes)
            }
            #hook
        }
    } else {
        quote!()
    };
    let migratable_impl = if migratable {
        quote! { impl ::chare::Migratable for #self_ty {} }
    } else {
        quote!()
    };
    let resume = match entries.iter().find(|e| e.name == "resume_from_sync") {
        Some(e) if e.arg_types.is_empty() => quote! {
            fn resume_from_sync() -> ::core::option::Option<Self::Msg> { ::core::option::Option::Some(#msg::resume_from_sync(None)) }
        },
        Some(e) => {
            return Err(syn::Error::new(e.name.span(), "the entry `resume_from_sync` takes no arguments (but `ctx`)"))
        }
        None => quote!(),
    };
    let reentrant = if reentrant_arms.is_empty() {
        quote!()
    } else {
        let why = format!("{} entry dispatched as reentrant", name_str);
        quote! {
            const REENTRANT: bool = true;
            fn is_reentrant(msg: &Self::Msg) -> bool {
                ::core::matches!(msg, #(#reentrant_pats)|*)
            }
            #[allow(unreachable_patterns)]
            fn dispatch_reentrant(
                me: ::chare::Reentrant<Self>,
                msg: Self::Msg,
            ) -> ::core::pin::Pin<::std::boxed::Box<dyn ::core::future::Future<Output = ()>>> {
                match msg {
                    #(#reentrant_arms,)*
                    _ => ::core::unreachable!(#why),
                }
            }
        }
    };
    let when = if when_arms.is_empty() {
        quote!()
    } else {
        quote! {
            const WHEN: bool = true;
            #[allow(unreachable_patterns)]
            fn when_ready(&self, msg: &Self::Msg) -> bool {
                match msg {
                    #(#when_arms,)*
                    _ => true,
                }
            }
        }
    };
    input.items.extend(when_fns);
    let msg_doc = format!("Entry-method calls of chare `{}`, one variant per entry.", name_str);
    let entries_doc =
        format!("Entry methods of one `{}` element (`Proxy<{}>` dereferences to this).", name_str, name_str);
    let bcast_doc = format!("Entry methods of a whole `{}` collection, broadcast to every element.", name_str);

    Ok(quote! {
        #input

        #[doc = #msg_doc]
        #[allow(non_camel_case_types)]
        #[derive(Clone, ::chare::__private::serde::Serialize, ::chare::__private::serde::Deserialize)]
        #[serde(crate = "::chare::__private::serde")]
        #allow
        #vis enum #msg { #(#variants),* }

        impl ::chare::Chare for #self_ty {
            type Init = (#(#init_tys,)*);
            type Msg = #msg;
            type Entries = #entries_ty;
            type Broadcast = #bcast_ty;
            const NAME: &'static str = #name_str;
            const PATH: &'static str = ::core::concat!(::core::module_path!(), "::", #name_str);
            #construct
            fn entry_name(msg: &Self::Msg) -> &'static str {
                match msg { #(#name_arms),* }
            }
            fn reply_of(msg: &mut Self::Msg) -> ::core::option::Option<&mut ::chare::Reply> {
                match msg { #(#reply_arms),* }
            }
            fn dispatch<'a>(&'a mut self, ctx: &'a ::chare::Ctx<Self>, msg: Self::Msg) -> ::chare::Dispatch<'a> {
                let _ = &ctx;
                match msg { #(#dispatch_arms),* }
            }
            #migration
            #resume
            #reentrant
            #when
        }
        #migratable_impl

        ::chare::__private::inventory::submit! {
            ::chare::__private::ChareType {
                path: ::core::concat!(::core::module_path!(), "::", #name_str),
                create: ::chare::__private::create_from_wire::<#self_ty>,
                arrive: ::chare::__private::arrive_from_wire::<#self_ty>,
            }
        }

        #[doc = #entries_doc]
        #[derive(Clone)]
        #vis struct #entries_ty { raw: ::chare::ElemRef }
        impl ::chare::EntriesOf for #entries_ty {
            fn from_raw(raw: ::chare::ElemRef) -> Self { Self { raw } }
            fn raw(&self) -> &::chare::ElemRef { &self.raw }
        }
        #[allow(clippy::unused_unit)]
        #allow
        impl #entries_ty { #(#elem_methods)* }

        #[doc = #bcast_doc]
        #[derive(Clone)]
        #vis struct #bcast_ty { raw: ::chare::CollRef }
        impl ::chare::BroadcastOf for #bcast_ty {
            fn from_raw(raw: ::chare::CollRef) -> Self { Self { raw } }
            fn raw(&self) -> &::chare::CollRef { &self.raw }
        }
        #[allow(clippy::unused_unit)]
        #allow
        impl #bcast_ty { #(#bcast_methods)* }
    })
}
