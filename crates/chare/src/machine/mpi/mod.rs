//! The MPI machine: one PE per rank. It owns this process's MPI endpoint
//! ([`endpoint`]), the codec between messages and bytes ([`super::wire`]),
//! and the PE's queue of arrived messages.
//!
//! * Sending ([`MpiMachine::send`]): the route hands over an
//!   [`Outgoing`] message for another process; it is encoded straight into a
//!   reused send buffer (body first, then the frame in front of it), the
//!   `Buffer`s inside it travel as attachments sent from their own memory,
//!   and the bytes go to `MPI_Isend`.
//! * Receiving ([`MpiMachine::receive`]): a message MPI has for this rank is
//!   decoded into [`Msg`] values, the same type the local layer moves, and
//!   appended to the PE's queue, behind the PE's messages to itself that
//!   arrived earlier. The scheduler takes from that one queue in order.
//! * Ending ([`MpiMachine::end_of_job`]): a PE whose job ended with an exit
//!   code tells the others (`Wire::Exit`) and flushes its sends; an error is
//!   printed here and ends every rank with `MPI_Abort`.

pub(crate) mod endpoint;

use super::wire::{put_frame, split, split_hot, Arrived, Frame, Wire, HEAD_ROOM};
use crate::buffer::{AttDesc, RawBuf};
use crate::error::JobError;
use crate::message::Msg;
use crate::route::Outgoing;
use crate::value::{Bytes, Encoded};
use endpoint::MpiEndpoint;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::time::Duration;

/// This process's MPI machine, owned by its PE thread.
pub(crate) struct MpiMachine {
    ep: RefCell<MpiEndpoint>,
    /// Arrived messages and the PE's messages to itself, in arrival order.
    queue: RefCell<VecDeque<Msg>>,
    /// The job's end came from another PE: do not announce it again.
    exit_from_remote: Cell<bool>,
    pub(crate) rank: usize,
    pub(crate) size: usize,
    /// The host of each rank (see [`super::Machine::pe_hosts`]).
    pub(crate) pe_host: Vec<usize>,
}

/// A hash of this process's host name (`CHARE_HOSTNAME` overrides it, to
/// try a multi-host layout on one machine).
fn host_hash() -> u64 {
    use std::hash::{Hash, Hasher};
    let name = std::env::var("CHARE_HOSTNAME").ok().unwrap_or_else(|| {
        let mut buf = [0u8; 256];
        // SAFETY: `buf` is writable for its length; gethostname writes at most that.
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        if rc == 0 {
            String::from_utf8_lossy(&buf[..end]).into_owned()
        } else {
            String::new()
        }
    });
    let mut h = std::collections::hash_map::DefaultHasher::new();
    name.hash(&mut h);
    h.finish()
}

impl MpiMachine {
    /// Initialises MPI and checks that every rank runs the same program.
    pub(crate) fn start() -> Result<MpiMachine, String> {
        let ep = MpiEndpoint::init()?;
        let (rank, size) = (ep.rank, ep.size);
        let mine = crate::registry::registry_hash();
        let all = ep.all_gather(mine);
        if let Some(other) = all.iter().position(|&h| h != all[0]) {
            drop(ep);
            return Err(format!(
                "ranks 0 and {other} run different programs (their chare-type registries differ): start the same binary on every rank"
            ));
        }
        // The host of every rank: hostnames gathered as hashes, numbered by
        // each host's first rank.
        let hosts = ep.all_gather(host_hash());
        let pe_host = super::number_hosts(&hosts);
        Ok(MpiMachine {
            pe_host,
            ep: RefCell::new(ep),
            queue: RefCell::default(),
            exit_from_remote: Cell::new(false),
            rank,
            size,
        })
    }

    #[inline]
    pub(crate) fn push_own(&self, msg: Msg) {
        self.queue.borrow_mut().push_back(msg);
    }

    #[inline]
    pub(crate) fn next(&self) -> Option<Msg> {
        self.queue.borrow_mut().pop_front()
    }

    #[inline]
    pub(crate) fn has_queued(&self) -> bool {
        !self.queue.borrow().is_empty() || self.ep.borrow().in_batch()
    }

    /// Sends `msg` to PE `to` in another process. The `Buffer`s and
    /// `SharedBuffer`s inside travel as attachments, each sent from memory
    /// its attachment owns (see `buffer::OutAttachment`), kept until those
    /// sends complete.
    pub(crate) fn send<M: Outgoing>(&self, to: usize, msg: M) -> Result<(), String> {
        let mut out = self.ep.borrow_mut().take_buffer_with_room(HEAD_ROOM);
        let (h, att) = crate::buffer::collecting(|| msg.encode_head(&mut out));
        let head = h?;
        let descs = att.iter().map(|a| AttDesc { bytes: a.bytes as u64, align: a.align as u32 }).collect();
        let (bytes, start) = put_frame(&Frame { att: descs, head }, out)?;
        let slices = att.iter().map(|a| (a.ptr, a.bytes)).collect();
        // The attachments' memory lives in their owners, kept until the
        // sends complete.
        let keep: Option<Box<dyn std::any::Any>> =
            if att.is_empty() { None } else { Some(Box::new(att.into_iter().map(|a| a.owner).collect::<Vec<_>>())) };
        self.ep.borrow_mut().send(to, bytes, start, slices, keep);
        // Freed after the send started: not on a reply's critical path.
        drop(msg);
        Ok(())
    }

    /// Sends a message of the runtime's own protocols (no body).
    pub(crate) fn send_system(&self, to: usize, w: Wire) -> Result<(), String> {
        let (bytes, start) = put_frame(&Frame { att: Vec::new(), head: w.into() }, vec![0; HEAD_ROOM])?;
        self.ep.borrow_mut().send(to, bytes, start, Vec::new(), None);
        Ok(())
    }

    /// The next message in arrival order. One message MPI has for this rank
    /// (if any) is taken first, decoded: when nothing is queued it is the
    /// next message and is handed over as decoded (no box, no queue);
    /// otherwise it joins the end of the queue and the queue's oldest is
    /// next. The scheduler calls this once per message it handles, so a
    /// message from another process waits behind exactly those that reached
    /// the queue before it.
    pub(crate) fn next_arrived(&self) -> Result<Option<Arrived>, String> {
        let got = self.receive()?;
        let mut q = self.queue.borrow_mut();
        Ok(match got {
            Some(a) if q.is_empty() => Some(a),
            Some(a) => {
                q.push_back(a.into_msg());
                q.pop_front().map(Arrived::Msg)
            }
            None => q.pop_front().map(Arrived::Msg),
        })
    }

    /// Whether MPI has a message for this rank (one test; see
    /// `MpiEndpoint::arrived`).
    #[inline]
    pub(crate) fn arrived(&self) -> bool {
        self.ep.borrow_mut().arrived()
    }

    /// Takes the next message MPI has for this rank, decoded.
    fn receive(&self) -> Result<Option<Arrived>, String> {
        // The body is copied out of MPI's receive buffer (inline in
        // `Bytes` when small), the frame decoded in place.
        let got = self.ep.borrow_mut().try_recv_with(|b| match split_hot(b) {
            Some((head, body)) => Ok((Frame { att: Vec::new(), head }, Bytes::from_slice(body))),
            None => split(b).map(|(f, body)| (f, Bytes::from_slice(body))),
        });
        let Some((from, frame)) = got else { return Ok(None) };
        let (frame, bytes) = frame.map_err(|e| format!("malformed message from PE {from}: {e}"))?;
        let mut att = Vec::new();
        if !frame.att.is_empty() {
            att.reserve_exact(frame.att.len());
            for d in frame.att {
                let mut raw = RawBuf::alloc(d).map_err(|e| format!("malformed message from PE {from}: {e}"))?;
                let (ptr, len) = raw.as_mut_ptr();
                self.ep
                    .borrow_mut()
                    .recv_attachment(from, ptr, len)
                    .map_err(|e| format!("message from PE {from}: {e}"))?;
                att.push(raw);
            }
        }
        Ok(Some(frame.head.into_arrived(from, Encoded { bytes, att })))
    }

    /// Records that the job's end came from another PE.
    pub(crate) fn exit_announced(&self) {
        self.exit_from_remote.set(true);
    }

    /// After the PE's loop: announce the end or abort, then flush sends. MPI
    /// is finalised when the endpoint drops with this machine.
    pub(crate) fn end_of_job(&self, me: usize, outcome: Option<Result<i32, JobError>>) {
        match outcome {
            Some(Ok(_)) | None => {
                if !self.exit_from_remote.get() {
                    let code = match outcome {
                        Some(Ok(c)) => c,
                        _ => 0,
                    };
                    for to in (0..self.size).filter(|&t| t != me) {
                        let _ = self.send_system(to, Wire::Exit { code });
                    }
                }
                self.ep.borrow_mut().flush(Duration::from_secs(5));
            }
            Some(Err(e)) => {
                // Print here: MPI_Abort ends this process too.
                e.report();
                let code = e.exit_code();
                self.ep.borrow().abort(code);
            }
        }
    }
}
