//! The run loop of one PE, and its fairness guarantee.
//!
//! One round of the loop:
//! 1. up to [`BATCH`] times, while messages wait: (MPI layer) take at most
//!    one message from MPI, decoded, to the end of the PE's queue; take the
//!    oldest message of the queue and handle it ([`Pe::handle`]);
//! 2. poll the tasks that are ready now (woken by those messages or earlier);
//! 3. if neither found work: the idle policy ([`super::idle`]).
//!
//! Before step 1, while a timer is pending ([`crate::timer`]), the loop
//! reads the clock and fires the timers that are due; with none pending
//! this is one branch per round and no clock read.
//!
//! Fairness: a PE has one queue, in arrival order, for every source: its own
//! messages to itself, other PEs' messages (local layer: pushed into the
//! same inbox), and messages from other processes (MPI layer: moved into the
//! queue one per handled message, as they are taken from MPI). So a message
//! is handled after exactly the messages that reached the queue before it,
//! and no source can starve another: a message is handled after at most 0
//! others that arrived after it. On the MPI layer a message "arrives" when it
//! is taken from MPI, which happens once per handled message, so while a
//! message waits in MPI the PE handles at most one queued message before
//! taking it.
//!
//! A woken task is polled after at most [`BATCH`] more messages, and at once
//! when the queue is empty (a ping-pong polls it right after the message
//! that woke it); a task that wakes itself runs once per round, so tasks
//! cannot starve messages either. Handling a batch before polling lets a
//! task that receives a stream (a channel in a loop) take several values per
//! poll instead of one.

use super::idle::Idle;
use crate::scheduler::Pe;

/// Most messages handled before the ready tasks are polled.
const BATCH: usize = 64;

impl Pe {
    pub(super) fn run_loop(&self) {
        let mut idle = Idle::new(&self.shared, self.id, !self.machine.is_local());
        loop {
            if self.shared.stopping() {
                break;
            }
            let mut worked = false;
            if self.timers.armed() {
                let due = self.take_due_timers();
                if !due.is_empty() {
                    idle.active(self);
                    worked = true;
                    self.run_timers(due);
                }
            }
            for _ in 0..BATCH {
                let counted = match &self.machine {
                    // One message from MPI per message handled (see
                    // `MpiMachine::next_arrived`).
                    #[cfg(feature = "mpi")]
                    crate::machine::Machine::Mpi(m) => {
                        let a = match m.next_arrived() {
                            Ok(Some(a)) => a,
                            Ok(None) => break,
                            Err(e) => {
                                self.fail_usage(e);
                                break;
                            }
                        };
                        let counted = a.counted();
                        if counted {
                            idle.active(self);
                            worked = true;
                        }
                        self.handle_arrived(a);
                        counted
                    }
                    _ => {
                        let Some(msg) = self.machine.next() else { break };
                        // Quiescence-protocol messages are not work: a PE
                        // that only answers probes stays idle.
                        let counted = msg.counted();
                        if counted {
                            idle.active(self);
                            worked = true;
                        }
                        self.handle(msg);
                        counted
                    }
                };
                if counted {
                    self.count_handled();
                }
                // Run what the message made ready before looking again when
                // nothing else waits: on the MPI layer another look is an
                // MPI test on a ping-pong's critical path.
                if self.tasks.has_ready() && !self.machine.has_queued() || self.shared.stopping() {
                    break;
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
