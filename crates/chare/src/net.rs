//! The scheduler's side of the MPI layer: turning messages into [`Wire`]
//! values and back, polling MPI, distributed quiescence detection, and the
//! end of a job across processes.
//!
//! Quiescence across processes (Mattern's counting waves): PE 0, when idle,
//! starts a wave every `qd_interval`: it asks every PE for its counters of
//! counted messages sent and handled and its activity count, and whether it
//! has work queued. Two consecutive complete waves with identical sums, no
//! queued work, and sent == handled mean that no message is in flight and no
//! PE did anything in between: the job is quiescent. Control messages (waves,
//! reports, exit) are not counted.
//!
//! End of job: a PE that decides the job's outcome with an exit code tells
//! every other PE (`Wire::Exit`); all then flush their sends and finalise MPI.
//! An error (panic, abort, misuse, deadlock) is printed by the PE that found
//! it, which then ends every process with `MPI_Abort`.

use crate::buffer::{AttDesc, RawBuf};
use crate::collection::CollInfo;
use crate::error::JobError;
use crate::future::{RawFuture, Reply};
use crate::machine::mpi::MpiEndpoint;
use crate::message::{Incoming, Msg};
use crate::object::Chare;
use crate::reduction::{self, Contribution};
use crate::scheduler::Pe;
use crate::value::{encode, Body, Bytes, Encoded};
use crate::wire::{put_frame, split, Frame, Wire, HEAD_ROOM};
use rustc_hash::FxHashMap;
use std::cell::{Cell, RefCell};
use std::io::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// One quiescence wave in progress (PE 0).
#[derive(Default)]
struct Wave {
    round: u64,
    replies: Vec<Option<([u64; 3], bool)>>,
    in_flight: bool,
    prev: Option<[u64; 3]>,
}

/// A PE's MPI endpoint and protocol state.
pub(crate) struct NetState {
    ep: RefCell<MpiEndpoint>,
    wave: RefCell<Wave>,
    /// The job's end came from another PE: do not announce it again.
    exit_from_remote: Cell<bool>,
    /// Read-only values from other processes, by type key, not yet decoded.
    readonly: RefCell<FxHashMap<u64, Vec<u8>>>,
}

impl NetState {
    pub(crate) fn new(ep: MpiEndpoint) -> NetState {
        NetState {
            ep: RefCell::new(ep),
            wave: RefCell::default(),
            exit_from_remote: Cell::new(false),
            readonly: RefCell::default(),
        }
    }
}

impl Pe {
    fn net(&self) -> &NetState {
        self.net.as_ref().expect("MPI layer")
    }

    /// Sends a wire message to another process.
    pub(crate) fn send_wire(&self, to: usize, w: Wire) {
        if w.counted() {
            self.count_sent();
        }
        match put_frame(&Frame { att: Vec::new(), wire: w }, vec![0; HEAD_ROOM]) {
            Ok((bytes, start)) => self.net().ep.borrow_mut().send(to, bytes, start, Vec::new(), None),
            Err(e) => self.fail_usage(format!("cannot send to PE {to}: {e}")),
        }
    }

    /// A message for another process. (`send` already counted it.)
    pub(crate) fn send_remote(&self, to: usize, msg: Msg) {
        self.send_encoded(to, msg, |msg, out| match msg {
            Msg::Entry(p) => p.encode_body_into(out).map(|()| Wire::Entry { to: *p.head() }),
            Msg::Broadcast { coll, body } => body.encode_into(out).map(|()| Wire::Broadcast { coll: *coll }),
            Msg::Future { id, value } => value.encode_into(out).map(|()| Wire::Future { id: *id }),
            Msg::Channel(p) => p.encode_body_into(out).map(|()| Wire::Channel { key: *p.head() }),
            Msg::Reduce(c) => c.to_wire().map(|c| Wire::Reduce(Box::new(c))),
            Msg::Wake { .. } | Msg::Control(_) => {
                Err("internal error: a process-local message was addressed to another process".into())
            }
        });
    }

    /// A value for another process, sent without first becoming a [`Msg`]
    /// (no packet allocated): `wire` routes it. Counts it as sent.
    pub(crate) fn send_value_remote<T: serde::Serialize + 'static>(&self, to: usize, wire: Wire, value: T) {
        debug_assert!(wire.has_body());
        self.count_sent();
        self.send_encoded(to, value, |v, out| crate::value::encode_into(v, out).map(|()| wire));
    }

    /// Sends `msg`, which `encode` appends to a send buffer (returning its
    /// routing), to another process. The `Buffer`s and `SharedBuffer`s inside
    /// travel as attachments, each sent from memory its attachment owns (see
    /// `buffer::OutAttachment`), kept until those sends complete.
    fn send_encoded<M: 'static>(
        &self,
        to: usize,
        msg: M,
        encode: impl FnOnce(&M, &mut Vec<u8>) -> Result<Wire, String>,
    ) {
        let mut out = self.net().ep.borrow_mut().take_buffer();
        out.resize(HEAD_ROOM, 0);
        let (w, att) = crate::buffer::collecting(|| encode(&msg, &mut out));
        let too_big = att.iter().find(|a| a.bytes > crate::buffer::MAX_ATTACHMENT);
        let w = match too_big {
            Some(a) => Err(format!(
                "a Buffer of {} bytes is above the limit of {} bytes between processes",
                a.bytes,
                crate::buffer::MAX_ATTACHMENT
            )),
            None => w,
        };
        let descs = att.iter().map(|a| AttDesc { bytes: a.bytes as u64, align: a.align as u32 }).collect();
        let framed = w.and_then(|wire| put_frame(&Frame { att: descs, wire }, out)).and_then(|(bytes, start)| {
            // MPI counts are `int`: a larger message cannot be sent whole.
            let len = bytes.len() - start;
            if len > crate::buffer::MAX_ATTACHMENT {
                Err(format!(
                    "a message of {len} bytes is above the limit of {} bytes between processes \
                     (large data belongs in a Buffer or SharedBuffer)",
                    crate::buffer::MAX_ATTACHMENT
                ))
            } else {
                Ok((bytes, start))
            }
        });
        match framed {
            Ok((bytes, start)) => {
                let slices = att.iter().map(|a| (a.ptr, a.bytes)).collect();
                // The attachments' memory lives in their owners, kept until
                // the sends complete.
                let keep: Option<Box<dyn std::any::Any>> = if att.is_empty() {
                    None
                } else {
                    Some(Box::new(att.into_iter().map(|a| a.owner).collect::<Vec<_>>()))
                };
                self.net().ep.borrow_mut().send(to, bytes, start, slices, keep);
                // Freed after the send started: not on a reply's critical path.
                drop(msg);
            }
            Err(e) => self.fail_usage(format!("cannot send to PE {to}: {e}")),
        }
    }

    pub(crate) fn send_create<T: Chare>(&self, to: usize, info: &CollInfo, init: &T::Init, done: Option<Reply>) {
        match encode(init) {
            Ok(init) => self.send_wire(
                to,
                Wire::Create {
                    chare: crate::registry::stable_id(T::PATH),
                    desc: Box::new(info.desc_for_creation()),
                    init,
                    done,
                },
            ),
            Err(e) => self.fail_usage(format!("creating {}: {e}", T::NAME)),
        }
    }

    pub(crate) fn send_readonly(&self, to: usize, key: u64, value: Vec<u8>, done: Reply) {
        self.send_wire(to, Wire::Readonly { key, value, done });
    }

    pub(crate) fn send_qd_register(&self, fut: RawFuture) {
        self.send_wire(0, Wire::QdRegister(fut));
    }

    pub(crate) fn readonly_bytes(&self, key: u64) -> Option<Vec<u8>> {
        self.net.as_ref()?.readonly.borrow().get(&key).cloned()
    }

    /// Completes sends and handles up to 64 arrived messages. Returns whether
    /// any counted message was handled.
    pub(crate) fn poll_network(&self) -> bool {
        let net = self.net();
        let mut worked = false;
        for _ in 0..64 {
            // The body is copied out of MPI's receive buffer (inline in
            // `Bytes` when small), the frame decoded in place.
            let got = net.ep.borrow_mut().try_recv_with(|b| split(b).map(|(f, body)| (f, Bytes::from_slice(body))));
            let Some((from, frame)) = got else { break };
            let (frame, body) = match frame {
                Ok(f) => f,
                Err(e) => {
                    self.fail_usage(format!("malformed message from PE {from}: {e}"));
                    return worked;
                }
            };
            let mut att = Vec::with_capacity(frame.att.len());
            for d in frame.att {
                let mut raw = match RawBuf::alloc(d) {
                    Ok(r) => r,
                    Err(e) => {
                        self.fail_usage(format!("malformed message from PE {from}: {e}"));
                        return worked;
                    }
                };
                let (ptr, len) = raw.as_mut_ptr();
                if let Err(e) = net.ep.borrow_mut().recv_attachment(from, ptr, len) {
                    self.fail_usage(format!("message from PE {from}: {e}"));
                    return worked;
                }
                att.push(raw);
            }
            let w = frame.wire;
            let counted = w.counted();
            self.handle_wire(from, w, body, att);
            if counted {
                self.count_handled();
                worked = true;
            }
            // Run what the message made ready before looking again: another
            // look would be one more MPI test on the critical path.
            if self.shared.stopping() || self.has_local_work() {
                break;
            }
        }
        worked
    }

    fn handle_wire(&self, from: usize, w: Wire, bytes: Bytes, att: Vec<RawBuf>) {
        match w {
            Wire::Entry { to } => self.deliver_entry(to, Incoming::Bytes(Encoded { bytes, att })),
            Wire::Broadcast { coll } => self.deliver_broadcast(coll, Body::Bytes(Encoded { bytes, att })),
            Wire::Future { id } => crate::future::fulfil(self, id, Body::Bytes(Encoded { bytes, att })),
            Wire::Channel { key } => {
                let mut chans = self.channels.borrow_mut();
                let st = chans.entry(key).or_default();
                st.queue.push_back(Incoming::Bytes(Encoded { bytes, att }));
                if let Some(w) = &st.waker {
                    w.wake_by_ref();
                }
            }
            Wire::Reduce(c) => reduction::receive(self, Contribution::from_wire(*c, att)),
            Wire::Create { chare, desc, init, done } => {
                let Some(t) = crate::registry::find(chare) else {
                    return self.fail_usage(format!("PE {from} created a collection of a chare type unknown here"));
                };
                let w = crate::registry::WireCreate { pe: self, desc: *desc, init, done };
                if let Err(e) = (t.create)(w) {
                    self.fail_usage(format!("creating {} from PE {from}: {e}", t.path));
                }
            }
            Wire::Readonly { key, value, done } => {
                self.net().readonly.borrow_mut().insert(key, value);
                Reply::send_opt(Some(done), ());
            }
            Wire::QdRegister(f) => self.qd_waiters.borrow_mut().push(f),
            Wire::QdProbe { round } => {
                let counts = self.qd_counts();
                self.send_wire(from, Wire::QdReply { round, counts, busy: self.busy() });
            }
            Wire::QdReply { round, counts, busy } => self.wave_reply(from, round, counts, busy),
            Wire::ReportRequest => self.send_wire(from, Wire::ReportReply(self.waiting_tasks())),
            Wire::ReportReply(lines) => self.report_lines(lines),
            Wire::Exit { code } => {
                self.net().exit_from_remote.set(true);
                self.shared.finish(Ok(code));
            }
        }
    }

    /// PE 0, idle: start a quiescence wave unless one is running.
    pub(crate) fn quiescence_wave(&self) {
        if self.collecting_report.get() {
            return;
        }
        let n = self.shared.num_pes();
        let mut wave = self.net().wave.borrow_mut();
        if wave.in_flight {
            return;
        }
        wave.round += 1;
        wave.in_flight = true;
        wave.replies = vec![None; n];
        let round = wave.round;
        drop(wave);
        for to in 1..n {
            self.send_wire(to, Wire::QdProbe { round });
        }
        let counts = self.qd_counts();
        self.wave_reply(0, round, counts, self.busy());
    }

    fn wave_reply(&self, from: usize, round: u64, counts: [u64; 3], busy: bool) {
        let quiet = {
            let mut wave = self.net().wave.borrow_mut();
            if round != wave.round || from >= wave.replies.len() {
                return;
            }
            wave.replies[from] = Some((counts, busy));
            if wave.replies.iter().any(Option::is_none) {
                return;
            }
            let mut sum = [0u64; 3];
            let mut any_busy = false;
            for (c, b) in wave.replies.iter().flatten() {
                for k in 0..3 {
                    sum[k] += c[k];
                }
                any_busy |= *b;
            }
            wave.in_flight = false;
            let quiet = !any_busy && sum[0] == sum[1] && wave.prev == Some(sum);
            wave.prev = if quiet { None } else { Some(sum) };
            quiet
        };
        if quiet {
            self.on_quiescence();
        }
    }

    fn on_quiescence(&self) {
        if self.release_qd_waiters() {
            return;
        }
        self.collecting_report.set(true);
        self.shared.report_done.store(0, Ordering::SeqCst);
        for to in 1..self.shared.num_pes() {
            self.send_wire(to, Wire::ReportRequest);
        }
        self.report_lines(self.waiting_tasks());
    }

    fn report_lines(&self, lines: Vec<String>) {
        self.shared.report.lock().unwrap().extend(lines);
        let done = self.shared.report_done.fetch_add(1, Ordering::SeqCst) + 1;
        if done == self.shared.num_pes() {
            let mut lines = std::mem::take(&mut *self.shared.report.lock().unwrap());
            lines.sort();
            self.shared.finish(Err(JobError::Deadlock { waiting: lines }));
        }
    }

    /// After the loop: announce the end or abort, then flush sends. MPI is
    /// finalised when the endpoint drops with this PE.
    pub(crate) fn end_of_job(&self) {
        let outcome = self.shared.outcome_snapshot();
        let net = self.net();
        match outcome {
            Some(Ok(_)) | None => {
                if !net.exit_from_remote.get() {
                    let code = match outcome {
                        Some(Ok(c)) => c,
                        _ => 0,
                    };
                    for to in (0..self.shared.num_pes()).filter(|&t| t != self.id) {
                        self.send_wire(to, Wire::Exit { code });
                    }
                }
                net.ep.borrow_mut().flush(Duration::from_secs(5));
            }
            Some(Err(e)) => {
                // Print here: MPI_Abort ends this process too.
                eprintln!("chare: {e}");
                let _ = std::io::stderr().flush();
                let code = e.exit_code();
                net.ep.borrow().abort(code);
            }
        }
    }
}
