//! Fairness of a PE's scheduler: messages a PE sends itself must not starve
//! messages from other PEs.
//!
//! Chares A and B on PE 0 ping-pong a ball for [`ROUNDS`] rounds; each
//! handler busy-waits [`WORK`] (the PE never idles: a round is ~1 ms). At
//! round 1, A tells callers on other PEs to go; each sends A one call,
//! stamped with the time it sent it. A notes the round at which it handles
//! each call; the round at which the call was sent is the last round A had
//! started at the caller's stamp. A fair scheduler handles the call within
//! [`BOUND`] rounds of its send; one that runs all of a PE's own messages
//! before any from elsewhere handles it only after the ping-pong ends.
//!
//! The stamps are wall-clock times (`SystemTime`) taken on different PEs:
//! comparable on one machine, which is where the harnesses run every PE.

use super::{Expect, Scenario};
use chare::prelude::*;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Rounds of the ping-pong.
const ROUNDS: u32 = 200;
/// Busy work of each handler of the ping-pong: a round (A's and B's) is ~1 ms.
const WORK: Duration = Duration::from_micros(500);
/// A call must be handled at most this many rounds after the round it was sent in.
const BOUND: u32 = 2;

/// Busy-waits for `d`: the PE stays busy, as a computation would keep it.
fn busy(d: Duration) {
    let t0 = Instant::now();
    while t0.elapsed() < d {
        std::hint::spin_loop();
    }
}

/// Wall-clock time in nanoseconds, comparable between processes of one machine.
fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_nanos() as u64
}

/// How one call fared: (caller, caller's PE, round it was sent in, round A
/// handled it in; `ROUNDS + 1` if after the last round).
type Outcome = (usize, usize, u32, u32);

/// A: plays the ball with B, starts the callers at round 1, records when
/// their calls arrive.
pub struct Ping {
    pong: Option<Proxy<Pong>>,
    callers: Vec<Proxy<Caller>>,
    round: u32,
    /// Start time of round `r` at `r - 1`.
    starts: Vec<u64>,
    /// (caller, PE, sent at, handled in round)
    calls: Vec<(usize, usize, u64, u32)>,
    done: Option<Future<Vec<Outcome>>>,
}

#[chare]
impl Ping {
    fn new() -> Self {
        Ping { pong: None, callers: Vec::new(), round: 0, starts: Vec::new(), calls: Vec::new(), done: None }
    }

    #[entry]
    fn start(&mut self, ctx: &Ctx<Self>, pong: Proxy<Pong>, callers: Vec<Proxy<Caller>>, done: Future<Vec<Outcome>>) {
        self.pong = Some(pong);
        self.callers = callers;
        self.done = Some(done);
        ctx.this().ball(1);
    }

    #[entry]
    fn ball(&mut self, ctx: &Ctx<Self>, round: u32) {
        self.round = round;
        self.starts.push(now_ns());
        if round == 1 {
            for (i, c) in self.callers.iter().enumerate() {
                c.go(ctx.this(), i);
            }
        }
        busy(WORK);
        if round < ROUNDS {
            self.pong.as_ref().unwrap().ball(ctx.this(), round);
        } else {
            self.report();
        }
    }

    #[entry]
    fn call(&mut self, from: usize, pe: usize, sent_at: u64) {
        let seen = if self.round == ROUNDS { ROUNDS + 1 } else { self.round };
        self.calls.push((from, pe, sent_at, seen));
        self.report();
    }
}

impl Ping {
    /// Once the ping-pong is over and every call arrived: the outcomes, by caller.
    fn report(&mut self) {
        if self.round < ROUNDS || self.calls.len() < self.callers.len() {
            return;
        }
        let mut out: Vec<Outcome> = self
            .calls
            .iter()
            .map(|&(from, pe, sent_at, seen)| {
                // The last round started at or before the send.
                let sent = self.starts.iter().take_while(|&&s| s <= sent_at).count() as u32;
                (from, pe, sent, seen)
            })
            .collect();
        out.sort();
        self.done.take().expect("one report").set(out);
    }
}

/// B: sends the ball back after its share of the work.
pub struct Pong;

#[chare]
impl Pong {
    fn new() -> Self {
        Pong
    }

    #[entry]
    fn ball(&mut self, ping: Proxy<Ping>, round: u32) {
        busy(WORK);
        ping.ball(round + 1);
    }
}

/// C: calls A once when told to go, stamping the call with the time it sends it.
pub struct Caller;

#[chare]
impl Caller {
    fn new() -> Self {
        Caller
    }

    #[entry]
    fn go(&mut self, ctx: &Ctx<Self>, ping: Proxy<Ping>, me: usize) {
        ping.call(me, ctx.my_pe(), now_ns());
    }
}

/// Runs the ping-pong on PE 0 with `callers` callers placed round-robin on
/// PEs 1.., and asserts that A handled every call within [`BOUND`] rounds
/// of its send.
async fn ping_pong_with_remote_callers(rt: Rt, callers: usize) {
    let n = rt.num_pes();
    assert!(n >= 2, "the callers need a PE other than PE 0");
    let pong = rt.chare::<Pong>(0).create(());
    let ping = rt.chare::<Ping>(0).create(());
    let mut cs = Vec::new();
    for i in 0..callers {
        // Awaited: each caller exists before A tells it to go.
        cs.push(rt.chare::<Caller>(1 + i % (n - 1)).create_awaitable(()).await);
    }
    let done = rt.future();
    ping.start(pong, cs, done.clone());
    let outcomes: Vec<Outcome> = done.await;
    assert_eq!(outcomes.len(), callers);
    let late: Vec<String> = outcomes
        .iter()
        .filter(|&&(_, _, sent, seen)| seen > sent + BOUND)
        .map(|&(c, pe, sent, seen)| {
            let when = if seen > ROUNDS { format!("after all {ROUNDS} rounds") } else { format!("at round {seen}") };
            format!("the call of caller {c} (PE {pe}), sent at round {sent}, was handled {when}")
        })
        .collect();
    for &(c, _, sent, _) in &outcomes {
        assert!(sent >= 1, "caller {c} sent before the ping-pong started");
    }
    assert!(
        late.is_empty(),
        "unfair scheduling: PE 0's own ping-pong starved calls from other PEs (allowed: {BOUND} rounds \
         after the send): {}",
        late.join("; ")
    );
}

/// One call from PE 1 to A, sent while A and B ping-pong on PE 0, is handled
/// within 2 rounds (~2 ms) of its send, not after the ping-pong.
pub fn a_call_from_another_pe_is_not_starved_by_a_busy_local_ping_pong() -> Scenario {
    Scenario::new(&[2, 4], Expect::Ok, |rt| Box::pin(ping_pong_with_remote_callers(rt, 1)))
}

/// Three callers (on PE 1 with 2 PEs, on PEs 1, 2, 3 with 4) each send A one
/// call at once: each is handled within 2 rounds of its send.
pub fn calls_from_several_callers_are_not_starved_by_a_busy_local_ping_pong() -> Scenario {
    Scenario::new(&[2, 4], Expect::Ok, |rt| Box::pin(ping_pong_with_remote_callers(rt, 3)))
}
