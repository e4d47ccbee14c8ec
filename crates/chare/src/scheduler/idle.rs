//! The idle policy: what a PE does when a round of its loop found no work.
//!
//! `spin`: look again at once (a pause instruction between looks; a yield
//! when oversubscribed). `park`: sleep until a message arrives (local layer,
//! through the mailbox's sleep protocol). `spin-park` (default): spin for
//! `CHARE_SPIN_US`, then park. An MPI rank never parks: MPI needs polling.
//! PE 0 also looks for quiescence every `qd_interval` while idle.
//!
//! Timers ([`crate::timer`]): a park ends by the earliest pending deadline
//! at the latest, and a PE whose deadline has passed does not park. An MPI
//! rank with a pending timer leaves its MPI-only spin (below) so that every
//! round of its loop looks at the clock.
//!
//! The clock is read only every 256 idle rounds: reading it on every round
//! would cost as much as handling a message.

use crate::config::IdlePolicy;
use crate::scheduler::{Pe, Shared};
use std::time::{Duration, Instant};

pub(super) struct Idle {
    /// Idle rounds since the last work (0: active).
    rounds: u64,
    since: Option<Instant>,
    last_look: Instant,
    policy: IdlePolicy,
    spin: Duration,
    qd_interval: Duration,
    oversubscribed: bool,
    polls_network: bool,
    looks_for_quiescence: bool,
}

impl Idle {
    pub(super) fn new(shared: &Shared, pe: usize, polls_network: bool) -> Idle {
        Idle {
            rounds: 0,
            since: None,
            last_look: Instant::now(),
            policy: shared.cfg.idle,
            spin: shared.cfg.spin,
            qd_interval: shared.cfg.qd_interval,
            oversubscribed: shared.oversubscribed,
            polls_network,
            looks_for_quiescence: pe == 0,
        }
    }

    /// The round found work.
    #[inline]
    pub(super) fn active(&mut self, pe: &Pe) {
        if self.rounds > 0 {
            self.rounds = 0;
            self.since = None;
            pe.leave_idle();
            pe.lb_idle_ends();
        }
    }

    /// The round found no work.
    pub(super) fn round(&mut self, pe: &Pe) {
        if self.rounds == 0 {
            pe.enter_idle();
            pe.lb_idle_begins();
        }
        self.rounds += 1;
        if self.rounds & 255 != 0 && self.policy != IdlePolicy::Park {
            if self.oversubscribed {
                std::thread::yield_now();
            } else if !self.polls_network {
                // Not on the MPI layer: there each round's MPI test already
                // takes far longer than a pause, which would only delay the
                // next look by up to its length.
                std::hint::spin_loop();
            } else {
                // MPI layer: look at MPI alone until a message arrives or
                // the next round is the 256th (which must run below: it
                // looks at the clock and for quiescence). A whole round of
                // the loop costs ~120 instructions besides the test, which
                // delays noticing a message by half of that on average.
                // Nothing else can bring work meanwhile: the PE's own queue
                // is empty and only this thread uses the runtime.
                // A pending timer needs the loop's clock look every round.
                #[cfg(feature = "mpi")]
                while (self.rounds + 1) & 255 != 0 && !pe.timers.armed() && !pe.machine.mpi().arrived() {
                    self.rounds += 1;
                }
            }
            return;
        }
        let now = Instant::now();
        let since = *self.since.get_or_insert(now);
        if self.looks_for_quiescence && now.duration_since(self.last_look) >= self.qd_interval {
            self.last_look = now;
            pe.look_for_quiescence();
        }
        if self.polls_network {
            if self.oversubscribed {
                std::thread::yield_now();
            }
            return;
        }
        let park = match self.policy {
            IdlePolicy::Spin => false,
            IdlePolicy::Park => true,
            IdlePolicy::SpinThenPark => now.duration_since(since) >= self.spin,
        };
        if park {
            let mut timeout = if self.looks_for_quiescence { self.qd_interval } else { Duration::from_millis(50) };
            if let Some(deadline) = pe.timers.earliest() {
                // Due already: the next round fires it.
                let Some(left) = deadline.checked_duration_since(now).filter(|d| !d.is_zero()) else { return };
                timeout = timeout.min(left);
            }
            if let Some(m) = pe.machine.local() {
                let shared = &pe.shared;
                m.park(timeout, || shared.stopping());
            }
        }
    }
}
