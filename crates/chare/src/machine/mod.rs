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
//! * `mpi` (cargo feature `mpi`): one PE per MPI rank; messages between
//!   ranks are serialised (`crate::wire`) and moved by MPI. The endpoint
//!   lives in the PE itself (only its thread touches MPI).

pub(crate) mod local;
#[cfg(feature = "mpi")]
pub(crate) mod mpi;

pub(crate) use local::LocalMachine;

/// The machine layer of a job. Closed set, static dispatch.
pub(crate) enum Machine {
    /// All PEs are threads of this process.
    Local(LocalMachine),
    /// One PE per MPI rank; this process is PE `rank`.
    #[cfg(feature = "mpi")]
    #[allow(dead_code)] // rank: for reports
    Mpi { rank: usize },
}

impl Machine {
    /// Which layer, by name (for reports and CSV headers).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Machine::Local(_) => "local",
            #[cfg(feature = "mpi")]
            Machine::Mpi { .. } => "mpi",
        }
    }

    /// The local layer, if this is it.
    #[inline]
    pub(crate) fn local(&self) -> Option<&LocalMachine> {
        match self {
            Machine::Local(m) => Some(m),
            #[cfg(feature = "mpi")]
            Machine::Mpi { .. } => None,
        }
    }
}
