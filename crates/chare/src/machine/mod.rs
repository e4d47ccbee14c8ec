//! Machine layers: how messages move between PEs.
//!
//! A layer offers the scheduler bring-up and topology (how many PEs, which
//! one am I), a queue of arrived messages in arrival order, delivery to other
//! PEs, and (local layer) sleeping and waking an idle PE. The set of layers is
//! closed ([`Machine`]), dispatched statically, and each variant carries its
//! own state: the scheduler never sees a trait object on the message path.
//!
//! * [`local`]: every PE is a thread of this process; a message is the typed
//!   value itself, moved through a lock-free queue, never serialised.
//! * [`mpi`] (cargo feature `mpi`): one PE per MPI rank. The [`MpiMachine`]
//!   owns the MPI endpoint and the codec ([`wire`]): it encodes what the
//!   route sends to other processes and decodes what arrives into the same
//!   [`Msg`] type the local layer moves.

pub(crate) mod local;
#[cfg(feature = "mpi")]
pub(crate) mod mpi;
pub(crate) mod wire;

pub(crate) use local::{LocalMachine, LocalPe};
#[cfg(feature = "mpi")]
pub(crate) use mpi::MpiMachine;

use crate::message::Msg;

/// The machine layer as one PE sees it. Closed set, static dispatch.
// One per PE: boxing the MPI machine would only add an indirection to its
// every send and receive.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Machine {
    /// All PEs are threads of this process; this PE's handle on the machine
    /// they share.
    Local(LocalPe),
    /// One PE per MPI rank; this PE's endpoint, codec and queue.
    #[cfg(feature = "mpi")]
    Mpi(MpiMachine),
}

/// Host numbers from one key per PE (a hash of its host name): hosts are
/// numbered 0.. in the order of their first PE.
#[cfg_attr(not(feature = "mpi"), allow(dead_code))]
pub(crate) fn number_hosts(keys: &[u64]) -> Vec<usize> {
    let mut seen: Vec<u64> = Vec::new();
    keys.iter()
        .map(|k| match seen.iter().position(|s| s == k) {
            Some(i) => i,
            None => {
                seen.push(*k);
                seen.len() - 1
            }
        })
        .collect()
}

#[cfg(test)]
mod host_tests {
    /// Hosts are numbered by their first PE, whatever the keys and however
    /// the PEs of a host are interleaved.
    #[test]
    fn hosts_are_numbered_in_the_order_of_their_first_pe() {
        assert_eq!(super::number_hosts(&[9, 9, 9]), vec![0, 0, 0]);
        assert_eq!(super::number_hosts(&[7, 3, 7, 5, 3]), vec![0, 1, 0, 2, 1]);
        assert!(super::number_hosts(&[]).is_empty());
    }
}

impl Machine {
    /// Which layer, by name (for reports and CSV headers).
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Machine::Local(_) => "local",
            #[cfg(feature = "mpi")]
            Machine::Mpi(_) => "mpi",
        }
    }

    /// The host of each PE, numbered 0.. in the order of each host's first
    /// PE; None where every PE is on one host (the local layer).
    pub(crate) fn pe_hosts(&self) -> Option<&[usize]> {
        match self {
            Machine::Local(_) => None,
            #[cfg(feature = "mpi")]
            Machine::Mpi(m) => Some(&m.pe_host),
        }
    }

    /// Whether every PE of the job is in this process.
    #[inline]
    pub(crate) fn is_local(&self) -> bool {
        match self {
            Machine::Local(_) => true,
            #[cfg(feature = "mpi")]
            Machine::Mpi(_) => false,
        }
    }

    /// The local layer, if this is it.
    #[inline]
    pub(crate) fn local(&self) -> Option<&LocalPe> {
        match self {
            Machine::Local(m) => Some(m),
            #[cfg(feature = "mpi")]
            Machine::Mpi(_) => None,
        }
    }

    /// The MPI layer. Only called on paths the route took for another process.
    #[cfg(feature = "mpi")]
    #[inline]
    pub(crate) fn mpi(&self) -> &MpiMachine {
        match self {
            Machine::Mpi(m) => m,
            Machine::Local(_) => unreachable!("the local layer has no other process"),
        }
    }

    /// Queues a message of this PE to itself, behind everything that arrived
    /// before it.
    #[inline]
    pub(crate) fn push_own(&self, msg: Msg) {
        match self {
            Machine::Local(m) => m.push_own(msg),
            #[cfg(feature = "mpi")]
            Machine::Mpi(m) => m.push_own(msg),
        }
    }

    /// Moves a message into PE `to`'s inbox (local layer).
    #[inline]
    pub(crate) fn send_local(&self, to: usize, msg: Msg) {
        match self {
            Machine::Local(m) => m.send(to, msg),
            #[cfg(feature = "mpi")]
            Machine::Mpi(_) => unreachable!("the MPI layer has one PE per process"),
        }
    }

    /// The oldest message that arrived for this PE (from any source).
    #[inline]
    pub(crate) fn next(&self) -> Option<Msg> {
        match self {
            Machine::Local(m) => m.try_recv(),
            #[cfg(feature = "mpi")]
            Machine::Mpi(m) => m.next(),
        }
    }

    /// Whether messages wait in this PE's queue.
    #[inline]
    pub(crate) fn has_queued(&self) -> bool {
        match self {
            Machine::Local(m) => m.has_queued(),
            #[cfg(feature = "mpi")]
            Machine::Mpi(m) => m.has_queued(),
        }
    }
}
