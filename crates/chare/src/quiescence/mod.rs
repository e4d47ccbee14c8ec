//! Quiescence detection and the deadlock report, on both machine layers.
//!
//! Every PE counts the messages it posted (`sent`, in [`Pe::post`]) and the
//! counted messages it handled (`handled`), and bumps `activity` whenever it
//! leaves idle. The quiescence protocol's own messages ([`Msg::System`]) are
//! not counted. The job is quiescent when every PE is idle, nothing is queued,
//! no timer is pending (a pending timer is work to come, see
//! [`crate::timer`]), sent == handled summed over PEs, and two consecutive looks saw the same
//! sums (so no PE did anything between them).
//!
//! How PE 0 looks, while idle, every `qd_interval`:
//! * local layer: it reads every PE's counters and idle flag directly (they
//!   are atomics in [`crate::scheduler::Shared`]): a snapshot;
//! * MPI layer (Mattern's counting waves): it sends every PE a probe
//!   (`Wire::QdProbe`); each answers with its counters and whether work is
//!   queued; a wave is complete when every PE answered.
//!
//! At quiescence ([`Pe::on_quiescence`]): the futures of `wait_quiescence`
//! are fulfilled. If there were none, no task can ever be woken again: PE 0
//! asks every PE for its suspended tasks (`ReportRequest`), and when all
//! answered (`ReportReply`) ends the job with [`JobError::Deadlock`]. The
//! report's messages are the same on both layers (built by
//! [`Wire::into_msg`]), moved as objects or as bytes by the machine.

use crate::error::JobError;
use crate::future::RawFuture;
use crate::machine::wire::Wire;
use crate::message::Msg;
use crate::route::{Outgoing, Route};
use crate::scheduler::Pe;
use crate::value::Encoded;
use std::cell::{Cell, RefCell};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// A `wait_quiescence` future registering with PE 0.
pub(crate) struct QdRegister(pub(crate) RawFuture);

impl Outgoing for QdRegister {
    fn into_msg(self) -> Msg {
        let f = self.0;
        Msg::Control(Box::new(move |pe: &Pe| pe.qd.waiters.borrow_mut().push(f)))
    }
    fn encode(&self, _out: &mut Vec<u8>) -> Result<Wire, String> {
        Ok(Wire::QdRegister(self.0))
    }
}

/// Quiescence counters of one PE. Written only by that PE; read by PE 0 on
/// the local layer.
#[derive(Default)]
pub(crate) struct QdCounters {
    pub(crate) sent: AtomicU64,
    pub(crate) handled: AtomicU64,
    pub(crate) activity: AtomicU64,
    pub(crate) idle: AtomicBool,
    /// Timers pending on the PE (written when one is added, fires or is
    /// cancelled, never per message): a PE holding one is not quiescent
    /// ([`crate::timer`]).
    pub(crate) timers: AtomicU64,
}

impl QdCounters {
    /// (sent, handled, activity).
    pub(crate) fn counts(&self) -> [u64; 3] {
        [self.sent.load(Ordering::SeqCst), self.handled.load(Ordering::SeqCst), self.activity.load(Ordering::SeqCst)]
    }
}

/// One wave in progress or the last look (PE 0).
#[derive(Default)]
struct Look {
    round: u64,
    replies: Vec<Option<([u64; 3], bool)>>,
    in_flight: bool,
    /// The sums of the previous complete look, if it was quiet.
    prev: Option<[u64; 3]>,
}

/// One PE's quiescence state.
#[derive(Default)]
pub(crate) struct QdState {
    /// Futures of `wait_quiescence` (on PE 0).
    pub(crate) waiters: RefCell<Vec<RawFuture>>,
    look: RefCell<Look>,
    /// A deadlock report is being collected (PE 0): no more looks.
    reporting: Cell<bool>,
    report: RefCell<Vec<String>>,
    /// The held `when` calls of the PEs that answered (PE 0).
    report_held: RefCell<Vec<String>>,
    reports_in: Cell<usize>,
}

impl Pe {
    /// Counts one message sent, for quiescence detection.
    #[inline]
    pub(crate) fn count_sent(&self) {
        let q = self.qd_counters();
        q.sent.store(q.sent.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Counts one counted message handled.
    #[inline]
    pub(crate) fn count_handled(&self) {
        let q = self.qd_counters();
        q.handled.store(q.handled.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
    }

    /// Marks this PE idle (it found no work).
    pub(crate) fn enter_idle(&self) {
        self.qd_counters().idle.store(true, Ordering::SeqCst);
    }

    /// Marks this PE busy again and counts the activity.
    #[inline]
    pub(crate) fn leave_idle(&self) {
        let q = self.qd_counters();
        q.idle.store(false, Ordering::SeqCst);
        // Only this PE writes `activity`: a plain store suffices (no RMW).
        q.activity.store(q.activity.load(Ordering::Relaxed) + 1, Ordering::SeqCst);
    }

    /// PE 0, idle, every `qd_interval`: look whether the job is quiescent.
    #[cold]
    pub(crate) fn look_for_quiescence(&self) {
        if self.qd.reporting.get() {
            return;
        }
        if self.machine.is_local() {
            let sums = self.shared.qd_snapshot();
            self.look_complete(sums);
        } else {
            self.start_wave();
        }
    }

    /// MPI layer: asks every PE for its counters (a wave) unless one runs.
    fn start_wave(&self) {
        let n = self.shared.num_pes();
        let round = {
            let mut look = self.qd.look.borrow_mut();
            if look.in_flight {
                return;
            }
            look.round += 1;
            look.in_flight = true;
            look.replies = vec![None; n];
            look.round
        };
        for to in 1..n {
            self.send_system(to, Wire::QdProbe { round });
        }
        self.wave_reply(0, round, self.qd_counters().counts(), self.busy());
    }

    /// A PE answers a wave.
    pub(crate) fn qd_probe(&self, from: usize, round: u64) {
        let counts = self.qd_counters().counts();
        self.send_system(from, Wire::QdReply { round, counts, busy: self.busy() });
    }

    /// PE 0 gets one PE's answer to a wave.
    pub(crate) fn wave_reply(&self, from: usize, round: u64, counts: [u64; 3], busy: bool) {
        let sums = {
            let mut look = self.qd.look.borrow_mut();
            if round != look.round || from >= look.replies.len() {
                return;
            }
            look.replies[from] = Some((counts, busy));
            if look.replies.iter().any(Option::is_none) {
                return;
            }
            look.in_flight = false;
            let mut sum = [0u64; 3];
            let mut any_busy = false;
            for (c, b) in look.replies.iter().flatten() {
                for k in 0..3 {
                    sum[k] += c[k];
                }
                any_busy |= *b;
            }
            (!any_busy).then_some(sum)
        };
        self.look_complete(sums);
    }

    /// A complete look: the sums if every PE was idle with nothing queued.
    fn look_complete(&self, sums: Option<[u64; 3]>) {
        let quiet = {
            let mut look = self.qd.look.borrow_mut();
            let quiet = matches!(sums, Some(s) if s[0] == s[1]) && look.prev.is_some() && look.prev == sums;
            look.prev = if quiet { None } else { sums.filter(|s| s[0] == s[1]) };
            quiet
        };
        if quiet {
            self.on_quiescence();
        }
    }

    /// The job is quiescent: release the waiters, or report a deadlock.
    fn on_quiescence(&self) {
        if self.release_qd_waiters() {
            return;
        }
        self.qd.reporting.set(true);
        self.qd.reports_in.set(0);
        for to in 0..self.shared.num_pes() {
            self.send_system(to, Wire::ReportRequest);
        }
    }

    /// Fulfils the `wait_quiescence` futures. Returns false when there were
    /// none (then quiescence means deadlock).
    fn release_qd_waiters(&self) -> bool {
        let waiters = std::mem::take(&mut *self.qd.waiters.borrow_mut());
        let any = !waiters.is_empty();
        for w in waiters {
            w.set_any(Box::new(()));
        }
        any
    }

    /// Deadlock: a PE reports its waiting tasks to PE `from`.
    pub(crate) fn report_request(&self, from: usize) {
        let held = self.chares.held_when().into_iter().map(|h| format!("PE {}: {h}", self.id)).collect();
        self.send_system(from, Wire::ReportReply { tasks: self.waiting_tasks(), held });
    }

    /// PE 0 gets one PE's waiting tasks and held `when` calls; the last
    /// one ends the job.
    pub(crate) fn report_lines(&self, tasks: Vec<String>, held: Vec<String>) {
        self.qd.report.borrow_mut().extend(tasks);
        self.qd.report_held.borrow_mut().extend(held);
        self.qd.reports_in.set(self.qd.reports_in.get() + 1);
        if self.qd.reports_in.get() == self.shared.num_pes() {
            let mut waiting = std::mem::take(&mut *self.qd.report.borrow_mut());
            waiting.sort();
            let mut held = std::mem::take(&mut *self.qd.report_held.borrow_mut());
            held.sort();
            self.shared.finish(Err(JobError::Deadlock { waiting, held }));
        }
    }

    /// Sends a message of the quiescence protocol (not counted): as an
    /// object within the process, as bytes to another.
    fn send_system(&self, to: usize, w: Wire) {
        match self.route(to) {
            Route::Here => self.machine.push_own(w.into_msg(self.id, Encoded::default())),
            Route::Process => self.machine.send_local(to, w.into_msg(self.id, Encoded::default())),
            Route::Remote => self.send_system_remote(to, w),
        }
    }

    #[cfg(feature = "mpi")]
    fn send_system_remote(&self, to: usize, w: Wire) {
        if let Err(e) = self.machine.mpi().send_system(to, w) {
            self.fail_usage(format!("cannot send to PE {to}: {e}"));
        }
    }

    #[cfg(not(feature = "mpi"))]
    fn send_system_remote(&self, _to: usize, _w: Wire) {
        unreachable!("only the MPI layer has PEs in other processes")
    }

    /// The job's end came from another PE (MPI layer).
    pub(crate) fn exit_from_remote(&self, code: i32) {
        #[cfg(feature = "mpi")]
        if !self.machine.is_local() {
            self.machine.mpi().exit_announced();
        }
        self.shared.finish(Ok(code));
    }
}

/// Whether `m` belongs to the quiescence protocol (for tests).
#[cfg(test)]
fn is_system(m: &Msg) -> bool {
    !m.counted()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_messages_are_not_counted() {
        for w in [Wire::QdProbe { round: 1 }, Wire::ReportRequest, Wire::Exit { code: 0 }] {
            assert!(is_system(&w.into_msg(0, Encoded::default())));
        }
        assert!(!is_system(&Wire::QdRegister(RawFuture { pe: 0, id: 0 }).into_msg(0, Encoded::default())));
    }
}
