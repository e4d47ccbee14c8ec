//! The local branch of a group (Charm4Py's `groupProxy.ckLocalBranch()`):
//! this PE's element of a group, used directly by code running on the same
//! PE, without a message.
//!
//! # The API
//!
//! [`Rt::local_branch`]`(&group, |g: &mut G| ..)` lends the element for the
//! length of the closure and returns the closure's result;
//! [`Rt::try_local_branch`] gives a [`LocalBranchError`] instead of
//! panicking. Any code on a PE can call them: the main task, another
//! chare's entry (a [`Ctx`](crate::Ctx) dereferences to [`Rt`]), a
//! reentrant entry between awaits.
//!
//! # Why a closure, not a reference
//!
//! Charm4Py returns the object itself. In Rust a `&mut G` handed out
//! without end would alias the `&mut self` of the element's next entry, and
//! nothing could tell when the caller stops using it. A closure bounds the
//! borrow: its argument cannot escape (the closure's signature forbids it)
//! and it cannot await, so the borrow ends before any other code of the PE
//! runs. This is the rule [`Reentrant::with`](crate::Reentrant::with) follows,
//! for the same reason:
//!
//! ```compile_fail
//! use chare::prelude::*;
//! struct W { n: u64 }
//! #[chare]
//! impl W {
//!     fn new() -> Self { W { n: 0 } }
//! }
//! chare::Runtime::with_pes(1).run(|rt| async move {
//!     let g = rt.group::<W>().create_awaitable(()).await;
//!     let n: &mut u64 = rt.local_branch(&g, |w: &mut W| &mut w.n); // error: the borrow escapes
//!     *n += 1;
//! }).unwrap();
//! ```
//!
//! # When the element is in use
//!
//! The element's state may already be borrowed when `local_branch` is
//! called. Then it fails ([`LocalBranchError::InUse`]), never giving a
//! second `&mut`:
//! 1. one of its entries is running: the caller is the element's own code
//!    (a sync entry, a step of an async or reentrant entry, its `when`
//!    condition), directly or through something it called;
//! 2. an exclusive async entry of it is suspended: that entry holds
//!    `&mut self` across its awaits;
//! 3. its state is lent: a `local_branch` of it is in progress (a nested
//!    call), or a reentrant entry of it is inside `Reentrant::with`.
//!
//! A suspended reentrant entry holds no borrow ([`crate::reentrant`]), so it
//! does not stop `local_branch`; the entry sees the change when it next
//! borrows the state.
//!
//! # How it is detected without cost on the message path
//!
//! The chare table holds one reference (`Rc`) to each cell, and every code
//! path that borrows a chare's state holds another one for the borrow's
//! whole duration: a delivery clones the cell's `Rc` out of the table
//! before running the entry, an async entry's task slot keeps one until the
//! task is dropped, and the run loop holds the slot's one while it tells the
//! chare that a task finished or stepped (the invariant is written on
//! [`ChareTable`](crate::scheduler::ChareTable)). So with `local_branch`'s
//! own reference, a cell that nothing borrows has exactly `2 + r` strong
//! references, `r` being its live reentrant tasks (each slot holds one; they
//! borrow nothing while suspended, and a flag marks their polls). Case 1 is
//! "more references than that, or a reentrant poll of it in progress", case
//! 2 is the cell's `busy` flag, case 3 its lending flag, which
//! `local_branch` sets for the closure's duration (so `Reentrant::with` and
//! a nested `local_branch` see it). Departure to another PE uses the same
//! count (`Rc::try_unwrap`). Nothing is added to delivering a message: the
//! entry path sets no flag and counts nothing that it did not already.
//!
//! The element is found as a group's element is found by a message: by its
//! address (collection, this PE), in this PE's table. Only groups have a
//! local branch; a group on a subset of the PEs has none on the other PEs
//! ([`LocalBranchError::NotHere`]), and a group whose creation message this
//! PE has not handled yet has none yet ([`LocalBranchError::NotCreated`]:
//! create it with `create_awaitable` and await it first).

use crate::collection::CollKind;
use crate::ctx::Rt;
use crate::index::Index;
use crate::object::{Chare, ChareCell};
use crate::proxy::CollectionProxy;
use crate::scheduler::with_pe;
use std::fmt;
use std::rc::Rc;

/// Why [`Rt::try_local_branch`] could not lend a group's element. Its
/// `Display` is one line naming the chare type, the group and the PE.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LocalBranchError {
    /// The collection is not a group (arrays have no local branch).
    NotAGroup {
        /// The chare type.
        chare: &'static str,
    },
    /// The group (on a subset of the PEs) has no element on this PE.
    NotHere {
        /// The chare type.
        chare: &'static str,
        /// The calling PE.
        pe: usize,
        /// The group's PEs.
        pes: Vec<usize>,
    },
    /// This PE has not handled the group's creation yet.
    NotCreated {
        /// The chare type.
        chare: &'static str,
        /// The calling PE.
        pe: usize,
    },
    /// The element's state is borrowed (see the module docs): its own code
    /// is running, an exclusive async entry of it is suspended, or its
    /// state is lent.
    InUse {
        /// The chare type.
        chare: &'static str,
        /// The calling PE.
        pe: usize,
        /// What holds it.
        why: &'static str,
    },
}

impl fmt::Display for LocalBranchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalBranchError::NotAGroup { chare } => {
                write!(f, "local_branch of {chare}: only a group has a local branch, this is an array")
            }
            LocalBranchError::NotHere { chare, pe, pes } => {
                write!(
                    f,
                    "local_branch of group {chare} on PE {pe}: the group has no element here, its PEs are {pes:?}"
                )
            }
            LocalBranchError::NotCreated { chare, pe } => write!(
                f,
                "local_branch of group {chare} on PE {pe}: its element is not created here yet \
                 (await create_awaitable first)"
            ),
            LocalBranchError::InUse { chare, pe, why } => {
                write!(f, "local_branch of group {chare} on PE {pe}: the element is in use ({why})")
            }
        }
    }
}

impl std::error::Error for LocalBranchError {}

impl Rt {
    /// Runs `f` with this PE's element of `group` (Charm4Py's
    /// `ckLocalBranch()`) and returns its result: direct access, no message.
    /// The element is lent for the closure's duration only; a message sent
    /// to it afterwards sees what `f` changed.
    ///
    /// Panics with one line naming the group and the PE where
    /// [`Rt::try_local_branch`] gives an error: the collection is not a
    /// group, has no element on this PE (a group on other PEs, or not
    /// created here yet), or the element is in use (called from the
    /// element's own code, while an exclusive async entry of it is
    /// suspended, or inside another `local_branch` of it). See
    /// [`crate::branch`].
    ///
    /// ```
    /// use chare::prelude::*;
    /// struct Counter { n: u64 }
    /// #[chare]
    /// impl Counter {
    ///     fn new() -> Self { Counter { n: 0 } }
    ///     #[entry]
    ///     fn get(&self) -> u64 { self.n }
    /// }
    /// chare::Runtime::with_pes(2).run(|rt| async move {
    ///     let g = rt.group::<Counter>().create_awaitable(()).await;
    ///     rt.local_branch(&g, |c: &mut Counter| c.n += 5); // PE 0's element
    ///     assert_eq!(g.elem(0).get_ret().await, 5);
    /// }).unwrap();
    /// ```
    #[track_caller]
    pub fn local_branch<G: Chare, R>(&self, group: &CollectionProxy<G>, f: impl FnOnce(&mut G) -> R) -> R {
        match self.try_local_branch(group, f) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        }
    }

    /// As [`Rt::local_branch`], with an error instead of a panic when the
    /// element cannot be lent (`f` is not called then).
    pub fn try_local_branch<G: Chare, R>(
        &self,
        group: &CollectionProxy<G>,
        f: impl FnOnce(&mut G) -> R,
    ) -> Result<R, LocalBranchError> {
        let info = &group.coll_ref().info;
        let chare = G::NAME;
        if info.kind != CollKind::Group {
            return Err(LocalBranchError::NotAGroup { chare });
        }
        let (me, cell) = with_pe(|pe| (pe.id, pe.chares.cell(&info.addr_of(&Index::from(pe.id)))));
        let Some(cell) = cell else {
            if let Some(m) = &info.members {
                if m.binary_search(&(me as u32)).is_err() {
                    return Err(LocalBranchError::NotHere {
                        chare,
                        pe: me,
                        pes: m.iter().map(|&p| p as usize).collect(),
                    });
                }
            }
            return Err(LocalBranchError::NotCreated { chare, pe: me });
        };
        let Some(typed) = cell.as_any().downcast_ref::<ChareCell<G>>() else {
            // A proxy typed as another chare's (decoded from a message).
            return Err(LocalBranchError::NotAGroup { chare });
        };
        let in_use = |why| Err(LocalBranchError::InUse { chare, pe: me, why });
        if typed.busy() {
            return in_use("an exclusive async entry of it is suspended");
        }
        let re = typed.re();
        if re.lent() {
            return in_use("its state is lent: local_branch or Reentrant::with of it is in progress");
        }
        // The table's reference, ours, and one per live reentrant task; any
        // other is held by code that borrows the state now (module docs).
        if re.polling() || Rc::strong_count(&cell) != 2 + re.tasks() as usize {
            return in_use("an entry of it is running: its own code called local_branch");
        }
        let _lent = re.lend_to_branch();
        // Why no other reference to the state exists: no exclusive task holds
        // it (`busy` is false), no reentrant task borrows it (not lent, none
        // being polled), and no entry, `when` condition or hook of it runs
        // (each would hold a reference to the cell besides the table's and
        // the reentrant tasks' slots, and there is none). While `f` runs,
        // none can start: entries start only from the PE's loop, not from
        // user code, and the lending flag and our reference make `with` and
        // a nested `local_branch` fail.
        // SAFETY: by the above, this is the only reference to the object
        // while `f` runs; `cell` (held until we return) keeps it in place.
        let obj: &mut G = unsafe { &mut *typed.obj_ptr() };
        Ok(f(obj))
    }
}
