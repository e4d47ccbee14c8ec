//! The `chare` model: the same benchmarks on the Chare runtime.
//!
//! One runtime launch runs every step (size) `p.runs` times:
//!
//! * Latency: a 2-element array, element 0 on PE 0 and element 1 on the last
//!   PE. With `--via channel` both run an async entry that ping-pongs one
//!   `SharedBuffer<u8>` over a channel (Charm4Py's channel version of the
//!   paper; the receiver holds the only handle and sends it back, so no copy
//!   is made on either layer).
//!   With `--via entry` each message is an entry-method call (`ping`/`pong`)
//!   carrying the buffer; element 0 drives a small state machine and fulfils
//!   a future with all timings at the end.
//! * Bandwidth: the same array; element 0 sends one `SharedBuffer` `window`
//!   times on a data channel (it keeps the buffer, as OSU reuses one send
//!   buffer), element 1 receives and touches each, then sends a 4-byte ack
//!   on an ack channel.
//!
//! Per step and run the payload is allocated outside timing, `warmup`
//! iterations run untimed, one extra round trip synchronises both sides, and
//! `iters` iterations are timed on element 0.

use super::{BandwidthParams, LatencyParams, Step, Timing, Via, ACK_BYTES};
use crate::harness::{run_chare_job, touch, RankResult};
use chare::prelude::*;
use std::time::Instant;

/// Element 0 on PE 0, element 1 on the last PE.
fn two_ends() -> Placement {
    Placement::custom(|ix, npes| if ix.i() == 0 { 0 } else { npes - 1 })
}

/// One latency end point.
struct Pinger {
    // State of the entry-method variant (element 0 only).
    peer: Option<Proxy<Pinger>>,
    steps: Vec<Step>,
    runs: usize,
    step: usize,
    run: usize,
    k: usize,
    t0: Option<Instant>,
    timings: Vec<Timing>,
    done: Option<Future<Vec<Timing>>>,
}

#[chare]
impl Pinger {
    fn new() -> Self {
        Pinger {
            peer: None,
            steps: Vec::new(),
            runs: 0,
            step: 0,
            run: 0,
            k: 0,
            t0: None,
            timings: Vec::new(),
            done: None,
        }
    }

    /// Channel ping-pong over all steps. Element 0 returns the timings.
    #[entry]
    async fn channel(&mut self, ctx: &Ctx<Self>, steps: Vec<Step>, runs: usize) -> Vec<Timing> {
        let me = ctx.index().i();
        let ch: Channel<SharedBuffer<u8>> = ctx.channel_to(&ctx.proxy().elem(1 - me));
        let mut out = Vec::new();
        for s in &steps {
            let mut t = Timing::of(s, runs);
            for _ in 0..runs {
                if me == 0 {
                    let mut buf = SharedBuffer::from(vec![1u8; s.size]);
                    for _ in 0..s.warmup + 1 {
                        ch.send(buf);
                        buf = ch.recv().await;
                        touch(&buf);
                    }
                    let t0 = Instant::now();
                    for _ in 0..s.iters {
                        ch.send(buf);
                        buf = ch.recv().await;
                        touch(&buf);
                    }
                    t.elapsed_s.push(t0.elapsed().as_secs_f64());
                } else {
                    for _ in 0..s.warmup + 1 + s.iters {
                        let buf = ch.recv().await;
                        touch(&buf);
                        ch.send(buf);
                    }
                }
            }
            out.push(t);
        }
        out
    }

    /// Starts the entry-method ping-pong (element 0).
    #[entry]
    fn start(&mut self, ctx: &Ctx<Self>, steps: Vec<Step>, runs: usize, done: Future<Vec<Timing>>) {
        self.peer = Some(ctx.proxy().elem(1));
        self.timings = steps.iter().map(|s| Timing::of(s, runs)).collect();
        self.steps = steps;
        self.runs = runs;
        self.done = Some(done);
        self.begin_run();
    }

    /// A message back at element 0.
    #[entry]
    fn ping(&mut self, buf: SharedBuffer<u8>) {
        touch(&buf);
        self.k += 1;
        let s = self.steps[self.step];
        if self.k == s.warmup + 1 {
            self.t0 = Some(Instant::now());
        }
        if self.k < s.warmup + 1 + s.iters {
            self.peer.as_ref().expect("started").pong(buf);
            return;
        }
        let elapsed = self.t0.take().map(|t| t.elapsed().as_secs_f64()).unwrap_or(0.0);
        self.timings[self.step].elapsed_s.push(elapsed);
        self.run += 1;
        if self.run == self.runs {
            self.run = 0;
            self.step += 1;
        }
        if self.step == self.steps.len() {
            let t = std::mem::take(&mut self.timings);
            self.done.take().expect("started").set(t);
        } else {
            self.begin_run();
        }
    }

    /// A message at element 1: touch and send it back.
    #[entry]
    fn pong(&self, ctx: &Ctx<Self>, buf: SharedBuffer<u8>) {
        touch(&buf);
        ctx.proxy().elem(0).ping(buf);
    }
}

impl Pinger {
    fn begin_run(&mut self) {
        let s = self.steps[self.step];
        self.k = 0;
        if s.warmup + 1 + s.iters == 0 {
            return;
        }
        self.peer.as_ref().expect("started").pong(SharedBuffer::from(vec![1u8; s.size]));
    }
}

/// Ping-pong latency for every step of `p`, in one runtime launch.
pub fn latency(p: &LatencyParams) -> Result<RankResult<Vec<Timing>>, String> {
    let (steps, runs, via, pes) = (p.steps.clone(), p.runs, p.via, p.pes);
    run_chare_job(pes, move |rt| {
        Box::pin(async move {
            let pair = rt.array::<Pinger>(2).map(two_ends()).create_awaitable(()).await;
            match via {
                Via::Channel => {
                    let a = pair.elem(0).channel_ret(steps.clone(), runs);
                    let b = pair.elem(1).channel_ret(steps, runs);
                    let t = a.await;
                    b.await;
                    t
                }
                Via::Entry => {
                    let done = rt.future();
                    pair.elem(0).start(steps, runs, done.clone());
                    done.await
                }
            }
        })
    })
}

/// One bandwidth end point.
struct Streamer;

#[chare]
impl Streamer {
    fn new() -> Self {
        Streamer
    }

    #[entry]
    async fn stream(&self, ctx: &Ctx<Self>, steps: Vec<Step>, runs: usize, window: usize) -> Vec<Timing> {
        let me = ctx.index().i();
        let peer = ctx.proxy().elem(1 - me);
        let data: Channel<SharedBuffer<u8>> = ctx.channel_to(&peer);
        let ack: Channel<Buffer<u8>> = ctx.channel_to(&peer);
        let mut out = Vec::new();
        for s in &steps {
            let mut t = Timing::of(s, runs);
            for _ in 0..runs {
                if me == 0 {
                    // One buffer, sent `window` times per iteration, as OSU
                    // sends one buffer: the sender keeps it (a shared handle),
                    // so nothing is allocated or filled inside the timing.
                    let buf = SharedBuffer::from(vec![1u8; s.size]);
                    let mut t0 = Instant::now();
                    for it in 0..s.warmup + 1 + s.iters {
                        if it == s.warmup + 1 {
                            t0 = Instant::now();
                        }
                        for _ in 0..window {
                            data.send(buf.clone());
                        }
                        let a = ack.recv().await;
                        touch(&a);
                    }
                    t.elapsed_s.push(t0.elapsed().as_secs_f64());
                } else {
                    // Within a process each message is the sender's buffer
                    // (a reference count); across processes each arrives in
                    // fresh memory, received into straight by MPI.
                    for _ in 0..s.warmup + 1 + s.iters {
                        for _ in 0..window {
                            let b = data.recv().await;
                            touch(&b);
                        }
                        ack.send(Buffer::from(vec![0u8; ACK_BYTES]));
                    }
                }
            }
            out.push(t);
        }
        out
    }
}

/// Windowed streaming bandwidth for every step of `p`, in one runtime launch.
pub fn bandwidth(p: &BandwidthParams) -> Result<RankResult<Vec<Timing>>, String> {
    let (steps, runs, window) = (p.steps.clone(), p.runs, p.window);
    run_chare_job(super::PAIR, move |rt| {
        Box::pin(async move {
            let pair = rt.array::<Streamer>(2).map(two_ends()).create_awaitable(()).await;
            let a = pair.elem(0).stream_ret(steps.clone(), runs, window);
            let b = pair.elem(1).stream_ret(steps, runs, window);
            let t = a.await;
            b.await;
            t
        })
    })
}
