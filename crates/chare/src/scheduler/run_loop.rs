//! The run loop of one PE, and its fairness guarantee.
//!
//! One round of the loop:
//! 1. (MPI layer) take at most one message from MPI, decoded, to the end of
//!    the PE's queue;
//! 2. take the oldest message of the queue and handle it ([`Pe::handle`]);
//! 3. poll the tasks that are ready now (woken by that message or earlier);
//! 4. if neither found work: the idle policy ([`super::idle`]).
//!
//! Fairness: a PE has one queue, in arrival order, for every source: its own
//! messages to itself, other PEs' messages (local layer: pushed into the
//! same inbox), and messages from other processes (MPI layer: moved into the
//! queue one per round, as they are taken from MPI). So a message is handled
//! after exactly the messages that reached the queue before it, and no
//! source can starve another: a message is handled after at most 0 others
//! that arrived after it. On the MPI layer a message "arrives" when it is
//! taken from MPI, which happens once per handled message, so while a
//! message waits in MPI the PE handles at most one queued message per round.
//! A woken task is polled after at most one more message; a task that wakes
//! itself runs once per round, so tasks cannot starve messages either.

use super::idle::Idle;
use crate::scheduler::Pe;

impl Pe {
    pub(super) fn run_loop(&self) {
        let mut idle = Idle::new(&self.shared, self.id, !self.machine.is_local());
        loop {
            if self.shared.stopping() {
                break;
            }
            #[cfg(feature = "mpi")]
            if let crate::machine::Machine::Mpi(m) = &self.machine {
                if let Err(e) = m.receive() {
                    self.fail_usage(e);
                }
            }
            let mut worked = false;
            if let Some(msg) = self.machine.next(self.id) {
                // Quiescence-protocol messages are not work: a PE that only
                // answers probes stays idle.
                if msg.counted() {
                    idle.active(self);
                    worked = true;
                    self.handle(msg);
                    self.count_handled();
                } else {
                    self.handle(msg);
                }
            }
            if self.tasks.has_ready() {
                idle.active(self);
                worked = true;
                self.poll_ready();
            }
            if !worked {
                idle.round(self);
            }
        }
    }
}
