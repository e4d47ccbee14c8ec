//! Machine layers: how messages move between PEs.
//!
//! A layer offers three things to the scheduler: bring-up and topology (how
//! many PEs, which one am I), point-to-point delivery with progress (`send`,
//! `try_recv`), and sleeping/waking an idle PE. The set of layers is closed
//! ([`Machine`]) and dispatched statically; the scheduler never sees a trait
//! object on the message path.
//!
//! * [`local`]: every PE is a thread of this process; a message is the typed
//!   value itself, moved through a lock-free queue, never serialised.
//!
//! An MPI layer (one PE per rank, serde on the wire) is planned behind the
//! cargo feature `mpi`; it is not built yet.

pub(crate) mod local;

pub(crate) use local::LocalMachine;

/// The machine layer of a job. Closed set, static dispatch.
pub(crate) enum Machine {
    /// All PEs are threads of this process.
    Local(LocalMachine),
}

impl Machine {
    /// Which layer, by name (for reports and CSV headers).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Machine::Local(_) => "local",
        }
    }
}
