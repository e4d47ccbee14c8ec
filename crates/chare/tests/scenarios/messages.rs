//! Entry-method messages: delivery exactly once, ordering, `_ret` futures,
//! async entries holding their chare.

use super::{Expect, Scenario};
use chare::prelude::*;

/// Counts every message it receives, by sender and sequence number.
pub struct Counter {
    seen: Vec<u64>,
}

#[chare]
impl Counter {
    fn new(senders: usize) -> Self {
        Counter { seen: vec![0; senders] }
    }

    /// Records message `seq` of `from`; messages of one sender must arrive in order.
    #[entry]
    fn hit(&mut self, from: usize, seq: u64) {
        assert_eq!(self.seen[from], seq, "message {seq} of sender {from} out of order");
        self.seen[from] += 1;
    }

    #[entry]
    fn total(&mut self, ctx: &Ctx<Self>, done: Future<Vec<u64>>) {
        ctx.contribute(self.seen.clone(), Sum, done);
    }
}

/// Sends pseudo-random messages to random counters.
pub struct Sender {
    counters: Array<Counter>,
}

#[chare]
impl Sender {
    fn new(counters: Array<Counter>) -> Self {
        Sender { counters }
    }

    #[entry]
    fn go(&mut self, ctx: &Ctx<Self>, n: u64, done: Future<()>) {
        let me = ctx.index().i();
        let k = self.counters.len() as u64;
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15 ^ me as u64;
        let mut next = vec![0u64; k as usize];
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let to = (x % k) as usize;
            self.counters.elem(to).hit(me, next[to]);
            next[to] += 1;
        }
        ctx.contribute((), Nop, done);
    }
}

/// 10^5 pseudo-random messages from one sender per PE to 16 counters spread
/// over the PEs: each arrives exactly once, and each sender's messages to one
/// counter arrive in send order. (Also checks quiescence detection: after it,
/// nothing is left in flight.)
pub fn random_messages_arrive_exactly_once() -> Scenario {
    Scenario::new(&[1, 2, 4, 8], Expect::Ok, |rt| {
        Box::pin(async move {
            let senders_n = rt.num_pes();
            let counters = rt.array::<Counter>(16).map(Placement::RoundRobin).create((senders_n,));
            let senders = rt.group::<Sender>().create((counters.clone(),));
            let sent = rt.future();
            let per_sender = 100_000 / senders_n as u64;
            senders.go(per_sender, sent.clone());
            sent.await;
            // Every sender has sent everything, but messages may still be in
            // flight: only calls from one chare to another are ordered, so
            // `total` could overtake hits from other senders (between
            // processes it does). Quiescence means none is left in flight.
            rt.wait_quiescence().await;
            // Every sender's messages were delivered once each: the column sums
            // over all counters equal what each sender sent.
            let total = rt.future();
            counters.total(total.clone());
            let per_from: Vec<u64> = total.await;
            assert_eq!(per_from, vec![per_sender; senders_n]);
        })
    })
}

pub struct Echo;

#[chare]
impl Echo {
    fn new() -> Self {
        Echo
    }
    #[entry]
    fn double(&self, x: u64) -> u64 {
        2 * x
    }
    #[entry]
    async fn slow_add(&mut self, ctx: &Ctx<Self>, x: u64) -> u64 {
        // Suspends on a future it fulfils itself through a message.
        let f = ctx.future::<u64>();
        f.set(x + 1);
        f.await
    }
}

/// `m_ret` gives a future of the entry's value (sync and async entries); a
/// broadcast's `_ret` future completes once every element ran it.
pub fn entry_calls_return_futures_of_their_values() -> Scenario {
    Scenario::new(&[1, 2, 4, 8], Expect::Ok, |rt| {
        Box::pin(async move {
            let a = rt.array::<Echo>(4).create(());
            let fs: Vec<Future<u64>> = (0..4).map(|i| a.elem(i).double_ret(i as u64 + 10)).collect();
            let mut got = Vec::new();
            for f in fs {
                got.push(f.await);
            }
            assert_eq!(got, vec![20, 22, 24, 26]);
            assert_eq!(a.elem(3).slow_add_ret(41).await, 42);
            a.double_ret(1).await;
        })
    })
}

/// An async entry holds the chare: calls arriving meanwhile run afterwards, in order.
pub struct Holder {
    log: Vec<String>,
}

#[chare]
impl Holder {
    fn new() -> Self {
        Holder { log: Vec::new() }
    }
    #[entry]
    async fn wait_for(&mut self, ctx: &Ctx<Self>, ch_peer: Proxy<Holder>) {
        self.log.push("start".into());
        let ch: Channel<u32> = ctx.channel_to(&ch_peer);
        let v = ch.recv().await;
        self.log.push(format!("got {v}"));
    }
    #[entry]
    fn note(&mut self, s: String) {
        self.log.push(s);
    }
    #[entry]
    fn log(&self) -> Vec<String> {
        self.log.clone()
    }
    #[entry]
    fn send_on(&self, ctx: &Ctx<Self>, to: Proxy<Holder>, v: u32) {
        let ch: Channel<u32> = ctx.channel_to(&to);
        ch.send(v);
    }
}

/// Calls to a chare whose async entry is suspended wait until that task
/// finishes, then run in arrival order.
pub fn calls_to_a_suspended_chare_wait_until_its_task_finishes() -> Scenario {
    Scenario::new(&[1, 2, 4, 8], Expect::Ok, |rt| {
        Box::pin(async move {
            let h = rt.array::<Holder>(2).create(());
            let (a, b) = (h.elem(0), h.elem(1));
            assert_eq!(a.pe(), 0, "element 0 of a block-mapped array is on PE 0, with main");
            a.wait_for(b.clone());
            a.note("first".into());
            a.note("second".into());
            // The notes reach `a` (through PE 0's own queue) before `b` can
            // answer, so they find `a` suspended (with one PE too: `b` runs
            // only after them). Whatever the timing, the log is the same.
            b.send_on(a.clone(), 7);
            let log = a.log_ret().await;
            assert_eq!(log, vec!["start", "got 7", "first", "second"]);
        })
    })
}

/// Makes the file at `path` when it gets a call with `n == 0`: a signal that
/// needs no message back (the caller's PE may be busy).
pub struct Signaller;

#[chare]
impl Signaller {
    fn new() -> Self {
        Signaller
    }

    #[entry]
    fn ping(&self, path: String, n: u32) {
        if n == 0 {
            std::fs::write(&path, b"arrived").expect("the signal file can be written");
        }
    }
}

/// Makes the file at `path` when call `n == last` arrives, after checking
/// that every byte of `data` is `n`.
pub struct BufferSink;

#[chare]
impl BufferSink {
    fn new() -> Self {
        BufferSink
    }

    #[entry]
    fn take(&self, path: String, n: u32, last: u32, data: Buffer<u8>) {
        assert!(data.iter().all(|&b| b == n as u8), "buffer {n} arrived with other bytes");
        if n == last {
            std::fs::write(&path, b"arrived").expect("the signal file can be written");
        }
    }
}

pub struct Busy;

#[chare]
impl Busy {
    fn new() -> Self {
        Busy
    }

    /// Sends a burst of three calls to `s`, then computes (waits) until the
    /// first call's signal file appears, for at most 30 s: true if it did.
    #[entry]
    fn send_then_compute(&self, s: Proxy<Signaller>, path: String) -> bool {
        for n in 0..3 {
            s.ping(path.clone(), n);
        }
        wait_for_file(&path)
    }

    /// Sends one call with a buffer of each size in `sizes` to `s`, then
    /// computes (waits) until the last one's signal file appears, for at
    /// most 30 s: true if it did.
    #[entry]
    fn send_buffers_then_compute(&self, s: Proxy<BufferSink>, path: String, sizes: Vec<usize>) -> bool {
        let last = sizes.len() as u32 - 1;
        for (n, &len) in sizes.iter().enumerate() {
            s.take(path.clone(), n as u32, last, Buffer::from(vec![n as u8; len]));
        }
        wait_for_file(&path)
    }
}

/// Waits until the file at `path` exists, for at most 30 s: true if it did.
fn wait_for_file(path: &str) -> bool {
    let t0 = std::time::Instant::now();
    while t0.elapsed() < std::time::Duration::from_secs(30) {
        if std::path::Path::new(path).exists() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    false
}

/// A message is not held back while its sender's entry computes: on the MPI
/// layer the first message to a rank after the PE's last look at MPI goes
/// at once (the ones after it in a burst may wait for the entry's end, see
/// the MPI endpoint's coalescing). The receiver signals through a file, as
/// the sender's PE handles nothing until its entry returns.
pub fn a_message_is_not_held_while_its_sender_computes() -> Scenario {
    Scenario::new(&[2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let path = signal_path();
            let busy = rt.chare::<Busy>(0).create_awaitable(()).await;
            let sig = rt.chare::<Signaller>(rt.num_pes() - 1).create_awaitable(()).await;
            let seen = busy.send_then_compute_ret(sig, path.clone()).await;
            let _ = std::fs::remove_file(&path);
            assert!(seen, "the first call reached its PE only after the sender's entry returned");
        })
    })
}

/// A unique path for a signal file.
fn signal_path() -> String {
    let path = std::env::temp_dir().join(format!(
        "chare-signal-{}-{}",
        std::process::id(),
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos())
    ));
    path.to_string_lossy().into_owned()
}

/// Buffers of a few KiB (a stencil's halos) reach their PE while the
/// sender's entry computes. On the MPI layer such a buffer travels as its
/// own MPI message; one sent in a rendezvous would stop halfway until the
/// sender next called MPI, after its entry (the endpoint sends them in
/// eager parts). Sizes: the attachment threshold, 16 KiB and 32 KiB (the
/// largest sent in parts). Open MPI moves a rendezvous within one host by
/// single copy when it can, which needs no sender: the MPI suite also runs
/// this with single copy off.
pub fn mid_sized_buffers_are_not_held_while_their_sender_computes() -> Scenario {
    Scenario::new(&[2, 4], Expect::Ok, |rt| {
        Box::pin(async move {
            let path = signal_path();
            let busy = rt.chare::<Busy>(0).create_awaitable(()).await;
            let sink = rt.chare::<BufferSink>(rt.num_pes() - 1).create_awaitable(()).await;
            let sizes = vec![4096, 16 * 1024, 32 * 1024];
            let seen = busy.send_buffers_then_compute_ret(sink, path.clone(), sizes).await;
            let _ = std::fs::remove_file(&path);
            assert!(seen, "the buffers reached their PE only after the sender's entry returned");
        })
    })
}
