//! The route: the one place that decides where a message goes.
//!
//! Every message the runtime sends on behalf of a chare (entry calls,
//! broadcasts, channel values, future values, reduction partials, creation,
//! read-only data, quiescence registrations) is an [`Outgoing`] value handed
//! to [`Pe::post`] with the PE it is for. `post` counts it for quiescence
//! detection and takes one of three ways ([`Route`]):
//!
//! 1. **this PE**: the message, as an object, joins this PE's own queue
//!    (the same queue other PEs' messages arrive in, so it runs after
//!    everything that arrived before it, never inside the sender's entry);
//! 2. **another PE of this process** (local layer): the object moves into
//!    that PE's inbox, never serialised;
//! 3. **another process** (MPI layer): the machine encodes it
//!    ([`Outgoing::encode`]) and MPI carries the bytes.
//!
//! Which PE an element lives on is answered here too ([`locate`]): today its
//! placement (the home PE); migration extends this function with a location
//! cache, and nothing else has to change.
//!
//! The quiescence protocol's own control messages (waves, reports, exit) are
//! addressed to PEs, not to chares, and are not counted: the quiescence
//! module sends them through the machine directly.

use crate::collection::CollInfo;
use crate::index::Index;
use crate::machine::wire::{Head, Wire};
use crate::message::Msg;
use crate::scheduler::Pe;

/// Where a message for a PE goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Route {
    /// The sending PE itself.
    Here,
    /// Another PE of this process.
    Process,
    /// A PE in another process.
    Remote,
}

/// A message as the route sees it: an object within the process, bytes
/// between processes.
pub(crate) trait Outgoing: Sized + 'static {
    /// The message as an object, for this process.
    fn into_msg(self) -> Msg;
    /// Appends the message's body (if it has one) to `out` and returns its
    /// routing header, for another process. The `Buffer`s inside are
    /// collected by the caller as attachments.
    fn encode(&self, out: &mut Vec<u8>) -> Result<Wire, String>;
    /// As [`Self::encode`], giving the routing header as the MPI machine
    /// writes it. The hot kinds (entry calls, channel values) give their
    /// [`Head`] directly, without building a `Wire`.
    #[inline]
    fn encode_head(&self, out: &mut Vec<u8>) -> Result<Head, String> {
        self.encode(out).map(Head::from)
    }
    /// The message with its value passed through the wire format and back
    /// (`CHARE_CHECK_SERDE`, within the process). Messages without a typed
    /// value of the user's come back as they are.
    fn checked(self) -> Result<Self, String> {
        Ok(self)
    }
}

/// The PE element `index` of collection `info` lives on.
#[inline]
pub(crate) fn locate(info: &CollInfo, index: &Index) -> usize {
    info.pe_of(index)
}

impl Pe {
    /// Which way a message for PE `to` takes.
    #[inline]
    pub(crate) fn route(&self, to: usize) -> Route {
        if to == self.id {
            Route::Here
        } else if self.machine.is_local() {
            Route::Process
        } else {
            Route::Remote
        }
    }

    /// Sends `m` to PE `to`, counted for quiescence detection.
    #[inline]
    pub(crate) fn post<M: Outgoing>(&self, to: usize, m: M) {
        self.count_sent();
        let route = self.route(to);
        let m = if self.shared.cfg.check_serde && route != Route::Remote {
            match m.checked() {
                Ok(m) => m,
                Err(e) => return self.fail_usage(format!("CHARE_CHECK_SERDE: {e}")),
            }
        } else {
            m
        };
        match route {
            Route::Here => self.machine.push_own(m.into_msg()),
            Route::Process => self.machine.send_local(to, m.into_msg()),
            Route::Remote => self.send_remote(to, m),
        }
    }

    #[cfg(feature = "mpi")]
    #[inline]
    fn send_remote<M: Outgoing>(&self, to: usize, m: M) {
        if let Err(e) = self.machine.mpi().send(to, m) {
            self.fail_usage(format!("cannot send to PE {to}: {e}"));
        }
    }

    #[cfg(not(feature = "mpi"))]
    fn send_remote<M: Outgoing>(&self, _to: usize, _m: M) {
        unreachable!("only the MPI layer has PEs in other processes")
    }
}
