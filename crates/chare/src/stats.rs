//! Runtime statistics: [`Rt::stats`](crate::Rt::stats) and
//! [`Rt::print_stats`](crate::Rt::print_stats) (Charm4Py's
//! `charm.printStats()`).
//!
//! Every figure comes from a count the runtime keeps anyway, so gathering
//! statistics adds nothing to the message path:
//! * messages sent and handled: the quiescence counters
//!   ([`crate::quiescence::QdCounters`]), bumped once per counted message;
//! * chares and suspended tasks: the sizes of the PE's tables, read when
//!   asked;
//! * timers: [`crate::timer::Timers`];
//! * migrations: counted where a chare departs and arrives
//!   ([`StatCounters`], off the message path);
//! * load-balancing steps: PE 0's step records ([`crate::lb`]).
//!
//! Not available, because nothing counts them without a cost per message:
//! entry calls, channel values and future values apart from other messages,
//! tasks started, and bytes sent.
//!
//! Gathering: the asking PE posts a request to every PE (itself included);
//! each takes its snapshot when it handles the request and answers into one
//! gathering future (the `NAME_all_ret` kind, by PE). The requests and
//! answers are ordinary counted messages: a PE's snapshot counts the
//! requests the asker posted before it (on the asker) and the messages of
//! earlier gathers, not its own request and answer.

use crate::future::Reply;
use crate::machine::wire::Wire;
use crate::message::Msg;
use crate::route::Outgoing;
use crate::scheduler::{with_pe, Pe};
use std::cell::Cell;
use std::fmt;

/// Counts of one PE kept for statistics only, off the message path.
#[derive(Default)]
pub(crate) struct StatCounters {
    /// Chares that left this PE.
    pub(crate) migrated_out: Cell<u64>,
    /// Chares that arrived on this PE.
    pub(crate) migrated_in: Cell<u64>,
}

impl StatCounters {
    pub(crate) fn departed(&self) {
        self.migrated_out.set(self.migrated_out.get() + 1);
    }

    pub(crate) fn arrived(&self) {
        self.migrated_in.set(self.migrated_in.get() + 1);
    }
}

/// One PE's statistics, taken when it handled the request (see
/// [`crate::Rt::stats`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PeStats {
    /// The PE.
    pub pe: usize,
    /// Messages this PE sent (to any PE, itself included): entry calls,
    /// broadcasts and multicasts (one per receiving PE), channel and future
    /// values, and the runtime's own messages (creation, reductions,
    /// migration, balancing), but not those of quiescence detection.
    pub msgs_sent: u64,
    /// Messages of the same kinds this PE handled.
    pub msgs_handled: u64,
    /// Chares living on this PE now.
    pub chares: usize,
    /// Tasks suspended on this PE now (async entry methods, the main task).
    pub tasks: usize,
    /// Timers pending on this PE now (`sleep`, `schedule_after`).
    pub timers_pending: usize,
    /// Timers that fired on this PE.
    pub timers_fired: u64,
    /// Chares that left this PE (migration, balancing).
    pub migrated_out: u64,
    /// Chares that arrived on this PE.
    pub migrated_in: u64,
    /// Load-balancing steps decided on this PE (PE 0 decides them all).
    pub lb_steps: u64,
}

/// Statistics of every PE of the job (Charm4Py's `charm.printStats()`),
/// from [`crate::Rt::stats`]; its `Display` is a table, one row per PE and
/// a total.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stats {
    /// One entry per PE, by PE.
    pub pes: Vec<PeStats>,
}

impl Stats {
    /// The sums over PEs (`pe` is the PE count).
    pub fn total(&self) -> PeStats {
        let mut t = PeStats { pe: self.pes.len(), ..PeStats::default() };
        for p in &self.pes {
            t.msgs_sent += p.msgs_sent;
            t.msgs_handled += p.msgs_handled;
            t.chares += p.chares;
            t.tasks += p.tasks;
            t.timers_pending += p.timers_pending;
            t.timers_fired += p.timers_fired;
            t.migrated_out += p.migrated_out;
            t.migrated_in += p.migrated_in;
            t.lb_steps += p.lb_steps;
        }
        t
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const HEAD: [&str; 10] =
            ["PE", "sent", "handled", "chares", "tasks", "timers", "fired", "moved out", "moved in", "LB steps"];
        let row = |first: String, p: &PeStats| {
            [
                first,
                p.msgs_sent.to_string(),
                p.msgs_handled.to_string(),
                p.chares.to_string(),
                p.tasks.to_string(),
                p.timers_pending.to_string(),
                p.timers_fired.to_string(),
                p.migrated_out.to_string(),
                p.migrated_in.to_string(),
                p.lb_steps.to_string(),
            ]
        };
        let mut rows: Vec<[String; 10]> = vec![HEAD.map(String::from)];
        rows.extend(self.pes.iter().map(|p| row(p.pe.to_string(), p)));
        rows.push(row("all".to_string(), &self.total()));
        let mut width = [0usize; 10];
        for r in &rows {
            for (w, c) in width.iter_mut().zip(r) {
                *w = (*w).max(c.len());
            }
        }
        for r in &rows {
            let cells: Vec<String> = r.iter().zip(width).map(|(c, w)| format!("{c:>w$}")).collect();
            writeln!(f, "{}", cells.join("  "))?;
        }
        Ok(())
    }
}

impl Pe {
    /// This PE's statistics now.
    fn stats_here(&self) -> PeStats {
        let [sent, handled, _] = self.qd_counters().counts();
        PeStats {
            pe: self.id,
            msgs_sent: sent,
            msgs_handled: handled,
            chares: self.chares.len(),
            tasks: self.tasks.live(),
            timers_pending: self.timers.pending(),
            timers_fired: self.timers.fired(),
            migrated_out: self.stats.migrated_out.get(),
            migrated_in: self.stats.migrated_in.get(),
            lb_steps: self.lb.steps.borrow().len() as u64,
        }
    }
}

/// Asks every PE for its statistics; the future gives them by PE.
pub(crate) fn gather() -> crate::Future<Vec<PeStats>> {
    with_pe(|pe| {
        let npes = pe.shared.num_pes();
        let (all, reply) = Reply::new_gather::<PeStats>(npes);
        for to in 0..npes {
            pe.post(to, StatsRequest(reply.clone()));
        }
        all
    })
}

/// A request for one PE's statistics, answered into a gathering future.
pub(crate) struct StatsRequest(pub(crate) Reply);

impl StatsRequest {
    /// Answers on the PE that handles it.
    pub(crate) fn answer(self, pe: &Pe) {
        let mut reply = self.0;
        reply.prepare(pe.id as u32);
        Reply::send_opt(Some(reply), pe.stats_here());
    }
}

impl Outgoing for StatsRequest {
    fn into_msg(self) -> Msg {
        Msg::Control(Box::new(move |pe: &Pe| self.answer(pe)))
    }
    fn encode(&self, _out: &mut Vec<u8>) -> Result<Wire, String> {
        Ok(Wire::Stats(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::{PeStats, Stats};

    #[test]
    fn the_table_has_a_row_per_pe_and_a_total() {
        let s = Stats {
            pes: vec![
                PeStats { pe: 0, msgs_sent: 12, msgs_handled: 3, chares: 1, ..PeStats::default() },
                PeStats { pe: 1, msgs_sent: 1, msgs_handled: 10, timers_fired: 2, ..PeStats::default() },
            ],
        };
        let t = s.total();
        assert_eq!((t.pe, t.msgs_sent, t.msgs_handled, t.chares, t.timers_fired), (2, 13, 13, 1, 2));
        let text = s.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[0].split_whitespace().eq([
            "PE", "sent", "handled", "chares", "tasks", "timers", "fired", "moved", "out", "moved", "in", "LB", "steps"
        ]));
        assert!(lines[3].split_whitespace().eq(["all", "13", "13", "1", "0", "0", "2", "0", "0", "0"]));
        // Columns are aligned: every line has the same length.
        assert!(lines.iter().all(|l| l.len() == lines[0].len()), "{text}");
    }
}
