//! The chare-type registry: every `#[chare]` type registers itself (through
//! `inventory`) with its path and the function that creates its elements from
//! bytes. Ids are derived from the paths, so every process of a job agrees on
//! them; at start-up the ranks compare a hash of the whole registry and refuse
//! to run different binaries together.

use crate::collection::CollDesc;
use crate::future::Reply;
use crate::scheduler::Pe;
use rustc_hash::FxHashMap;
use std::sync::OnceLock;

/// What creating a collection from another process needs. Opaque to users.
#[doc(hidden)]
pub struct WireCreate<'a> {
    pub(crate) pe: &'a Pe,
    pub(crate) desc: CollDesc,
    pub(crate) init: Vec<u8>,
    pub(crate) done: Option<Reply>,
    /// Only this element (row-major position), inserted into a dynamic
    /// array, with its first reduction number.
    pub(crate) only: Option<(u32, u64)>,
}

/// What rebuilding a chare that migrated from another process needs. Opaque to users.
#[doc(hidden)]
pub struct WireArrive<'a> {
    pub(crate) info: std::sync::Arc<crate::collection::CollInfo>,
    pub(crate) index: crate::index::Index,
    pub(crate) red_seq: u64,
    pub(crate) bytes: &'a [u8],
    pub(crate) gates: crate::migration::order::Gates,
}

/// A chare rebuilt from a migration message. Opaque to users.
#[doc(hidden)]
pub struct ArrivedCell(pub(crate) std::rc::Rc<dyn crate::object::AnyCell>);

/// One registered chare type. Built by `#[chare]`.
#[doc(hidden)]
pub struct ChareType {
    /// `module::path::TypeName`.
    pub path: &'static str,
    /// Creates this PE's elements of a collection described in a message.
    pub create: fn(WireCreate<'_>) -> Result<(), String>,
    /// Rebuilds an element that migrated from another process.
    pub arrive: fn(WireArrive<'_>) -> Result<ArrivedCell, String>,
}

/// [`ChareType::arrive`] for chare type `T`.
pub(crate) fn arrive_from_wire<T: crate::object::Chare>(w: WireArrive<'_>) -> Result<ArrivedCell, String> {
    crate::object::cell_from_bytes::<T>(w.info, w.index, w.red_seq, w.bytes, w.gates).map(ArrivedCell)
}

inventory::collect!(ChareType);

/// FNV-1a, 64 bit: a stable id for a path (the same in every process).
pub(crate) fn stable_id(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

fn table() -> &'static FxHashMap<u64, &'static ChareType> {
    static TABLE: OnceLock<FxHashMap<u64, &'static ChareType>> = OnceLock::new();
    TABLE.get_or_init(|| inventory::iter::<ChareType>().map(|t| (stable_id(t.path), t)).collect())
}

/// The registered chare type with id `id`.
pub(crate) fn find(id: u64) -> Option<&'static ChareType> {
    table().get(&id).copied()
}

/// A hash of every registered path, in sorted order.
pub(crate) fn registry_hash() -> u64 {
    let tasks = crate::pool::task_paths().map(|p| format!("task {p}"));
    let mut paths: Vec<String> = inventory::iter::<ChareType>().map(|t| t.path.to_string()).chain(tasks).collect();
    paths.sort_unstable();
    paths.dedup();
    stable_id(&paths.join("\n"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_stable_and_distinct() {
        assert_eq!(super::stable_id("a::B"), super::stable_id("a::B"));
        assert_ne!(super::stable_id("a::B"), super::stable_id("a::C"));
        assert_eq!(super::stable_id(""), 0xcbf2_9ce4_8422_2325);
    }
}
