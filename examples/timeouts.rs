//! # timeouts: waiting for replies with a deadline, and a heartbeat
//!
//! Charm4Py's `charm.sleep` and `charm.scheduleCallableAfter` in Chare:
//! `rt.sleep(d)` / `rt.sleep_until(t)` suspend only the task that awaits
//! them, and `rt.schedule_after(d, closure)` runs a closure on this PE
//! later.
//!
//! An array of **services** answers requests after a delay that depends on
//! the element (it `sleep`s in an async entry: its PE serves other calls
//! meanwhile). The main task asks every service at once, waits for the
//! replies until a common deadline, and reports which ones missed it; then
//! it waits for the late replies too. A **heartbeat** (a closure that
//! schedules itself again every 20 ms) ticks while the main task waits; it
//! stops once every reply is in, before the job ends.
//!
//! Awaiting a future *or* a deadline, whichever comes first, takes a few
//! lines with `std::future::poll_fn` (see `until`).
//!
//! Printed: each service's reply, or that it missed the deadline and its
//! reply afterwards. With `--stats`, also the runtime's statistics
//! (Charm4Py's `charm.printStats()`), which depend on the PE count.
//!
//! Run: `cargo run -p chare-examples --release --bin timeouts -- --pes 4 --stats`

use chare::prelude::*;
use std::cell::Cell;
use std::future::Future as _;
use std::pin::Pin;
use std::rc::Rc;
use std::task::Poll;
use std::time::{Duration, Instant};

/// Services answer after 0, 20 or 400 ms; the deadline is 150 ms, far from
/// both, so that a loaded machine does not change who misses it.
const DEADLINE: Duration = Duration::from_millis(150);
const SERVICES: usize = 6;

struct Service;

#[chare]
impl Service {
    fn new() -> Self {
        Service
    }

    /// Answers `x * x` after this service's delay.
    #[entry]
    async fn ask(&self, ctx: &Ctx<Self>, x: u64) -> u64 {
        let delay = [0, 20, 400][ctx.index().i() % 3];
        ctx.sleep(Duration::from_millis(delay)).await;
        x * x
    }
}

/// Awaits `fut` until `deadline`: `Some(value)`, or `None` if the deadline
/// came first (then `fut` can still be awaited later).
async fn until<F: std::future::Future + Unpin>(rt: &Rt, fut: &mut F, deadline: Instant) -> Option<F::Output> {
    let mut timer = std::pin::pin!(rt.sleep_until(deadline));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = Pin::new(&mut *fut).poll(cx) {
            return Poll::Ready(Some(v));
        }
        timer.as_mut().poll(cx).map(|()| None)
    })
    .await
}

/// Ticks every `period` on this PE until `running` is false.
fn heartbeat(rt: Rt, period: Duration, running: Rc<Cell<bool>>, beats: Rc<Cell<u64>>) {
    let again = rt.clone();
    rt.schedule_after(period, move || {
        if running.get() {
            beats.set(beats.get() + 1);
            heartbeat(again, period, running, beats);
        }
    });
}

fn main() {
    let stats = std::env::args().any(|a| a == "--stats");
    chare::run(move |rt| async move {
        let running = Rc::new(Cell::new(true));
        let beats = Rc::new(Cell::new(0));
        heartbeat(rt.clone(), Duration::from_millis(20), running.clone(), beats.clone());

        let services = rt.array::<Service>(SERVICES).create(());
        let mut replies: Vec<_> = (0..SERVICES).map(|i| services.elem(i).ask_ret(i as u64 + 1)).collect();
        let deadline = Instant::now() + DEADLINE;
        let mut late = Vec::new();
        for (i, reply) in replies.iter_mut().enumerate() {
            match until(&rt, reply, deadline).await {
                Some(v) => println!("service {i}: {v}"),
                None => late.push(i),
            }
        }
        for i in late {
            let v = (&mut replies[i]).await;
            println!("service {i}: missed the deadline, then answered {v}");
        }
        running.set(false);
        // The slowest service took 400 ms: the 20 ms heartbeat ticked meanwhile.
        assert!(beats.get() >= 1, "the heartbeat never ticked");
        if stats {
            rt.print_stats().await;
        }
    });
}
