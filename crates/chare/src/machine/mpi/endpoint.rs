//! The MPI layer: one PE per MPI rank, over rsmpi (the `mpi` crate).
//!
//! * Start-up: `MPI_Init` (by `mpi::initialize`) on the thread that becomes
//!   the PE; every rank then compares the chare-type registry hash with the
//!   others (`MPI_Allgather`).
//! * Sending: a message is serialised (see `crate::machine::wire`) into a buffer that
//!   is handed to `MPI_Isend`; the buffer is owned by this endpoint until the
//!   request completes, then kept for a later message (small ones usually
//!   complete at once: eager protocol). Sends never block the scheduler.
//! * Receiving: messages up to `EAGER` bytes (tag 0) land in one receive
//!   that is always posted (`MPI_Irecv`, tested by the scheduler's loop, the
//!   fast path). A larger message goes as a notice on tag 0 ([`LARGE_FOLLOWS`]
//!   and the message's length) followed by the message itself on tag 1,
//!   which the receiver takes (`MPI_Mprobe` + `MPI_Mrecv`, into a vector of
//!   its size) when the notice arrives.
//! * Coalescing: the first message to a rank after the PE's last look at
//!   MPI goes at once; the next ones of at most [`COALESCE_MAX`] bytes
//!   without attachments are held in the rank's outbox, which goes when it
//!   holds [`BATCH_RELEASE`] bytes, when the PE next looks at MPI (`arrived`,
//!   which the run loop calls before each message it handles and in every
//!   idle round), or before a message to that rank that is not held (so the
//!   order between two ranks never changes). One held message goes as it
//!   was; several go as one MPI message, a *batch*: [`BATCH`], then each
//!   message as its length (u32, little-endian) and its bytes, at most
//!   `EAGER` bytes in all. So a burst of small messages from one entry method
//!   or one step of a task to a rank costs a few `MPI_Isend`s and receives
//!   instead of one each; a lone message (a reply, a halo to each neighbour)
//!   is not delayed. What is held waits for the end of the entry or task step
//!   that sent it: an entry that sends a burst to one rank and then computes
//!   for long delays all but the first and those already released. The
//!   receiver hands a batch's messages out one at a time, in order, from the
//!   eager buffer (posted again after the batch's last).
//!   `CHARE_MPI_COALESCE=0` sends every message on its own.
//! * Mid sizes: an attachment or large message of at most [`SPLIT_MAX`]
//!   (32 KiB) travels as consecutive parts of [`EAGER_PART`] bytes, each
//!   small enough to go eagerly. One MPI message of that size would go by
//!   rendezvous, which without single copy (between hosts, or a host
//!   without CMA) stops halfway until the sender next calls MPI: after its
//!   entry method, however long it computes. Parts also cut the one-way
//!   time at 4-32 KiB by a third to two thirds. `CHARE_MPI_SPLIT=0` sends them
//!   whole.
//! * Any size: MPI counts are `int`, so a message or attachment longer than
//!   the chunk size (1 GiB; `CHARE_MPI_CHUNK` for tests) travels as
//!   consecutive messages of at most that many bytes on its tag, received
//!   one after the other into one buffer (MPI keeps their order). So every message from one rank to another is
//!   handed out in send order, whatever its size: MPI orders messages only
//!   within one tag, and all notices and small messages share tag 0. No
//!   thread besides the PE touches MPI (MPI is initialised single-threaded).
//! * Ending: `finish` waits for outstanding sends, then `MPI_Finalize` runs
//!   when the universe drops; errors end the whole job with `MPI_Abort`.

use mpi::environment::Universe;
use mpi::point_to_point::MatchedReceiveVec;
use mpi::request::{Request, StaticScope};
use mpi::topology::{Process, SimpleCommunicator};
use mpi::traits::*;
use std::any::Any;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// A buffer lent to MPI for one `MPI_Isend`.
struct InFlight {
    req: Request<'static, [u8], StaticScope>,
    /// The bytes `req` reads; neither touched nor dropped until it
    /// completed. None for an attachment, whose memory `keep` owns.
    buf: Option<Vec<u8>>,
    /// The message whose buffers attachments are sent from; dropped when the
    /// last of its requests completed.
    keep: Option<Rc<Box<dyn Any>>>,
}

/// Largest message that travels through the always-posted receive.
const EAGER: usize = 16 * 1024;
const TAG_SMALL: i32 = 0;
const TAG_LARGE: i32 = 1;
/// Attachments (`Buffer` memory), each right after its message.
const TAG_ATT: i32 = 2;
/// The first byte of a small message that announces a large one on
/// `TAG_LARGE`; the next 8 are its length (little-endian). No frame of the
/// wire format starts with it (a frame starts with its kind, 0-4; see
/// `crate::machine::wire`).
pub(crate) const LARGE_FOLLOWS: u8 = 0xff;
/// Length of that notice.
const NOTICE_LEN: usize = 9;
/// The first byte of a batch of messages (see the module docs). No frame
/// starts with it, nor does a notice.
pub(crate) const BATCH: u8 = 0xfe;
/// Largest message that is held for coalescing: above it a message's
/// own copy into a batch costs about as much as the MPI message it saves.
pub(crate) const COALESCE_MAX: usize = 512;
/// A batch this long goes at once: the receiver starts on its messages while
/// the sender writes the next ones. (8 B bandwidth, window 64, 2 ranks: 26
/// MB/s without coalescing; batches released at 64 / 128 / 256 / 512 / 1024
/// bytes or at the next look: 27 / 30 / 34 / 34 / 30 / 25 MB/s.)
const BATCH_RELEASE: usize = 512;

/// Attachments and large messages of at most [`SPLIT_MAX`] bytes travel in
/// parts of this many bytes: small enough for the transport's eager protocol
/// (Open MPI's shared-memory transport sends up to 4 KiB, its header
/// included, eagerly). A larger MPI message uses a rendezvous: the receiver
/// matches the first fragment and the rest moves only when the *sender*
/// next calls into MPI, and a PE in a long entry method (a stencil's
/// compute after its halos arrived) calls nothing for milliseconds, while
/// the receiver waits. Eager parts are complete once sent.
const EAGER_PART: usize = 4096 - 64;
/// The largest message or attachment sent in eager parts. Eager parts are
/// copied in and out of shared memory and peak at ~6 GB/s here; a
/// rendezvous moves larger messages with one copy (8-12 GB/s at 64 KiB and
/// up) but needs the sender's progress unless single copy is available. At
/// 32 KiB and below the parts are faster or level in both latency and
/// bandwidth (8 B..1 MiB, 2 ranks, docs/perf.md v0.12).
const SPLIT_MAX: usize = 32 * 1024;

/// Messages to one rank held for coalescing.
#[derive(Default)]
enum Outbox {
    /// Nothing held.
    #[default]
    Empty,
    /// One message: `bytes[start..]`, as it would have been sent.
    One(Vec<u8>, usize),
    /// A batch being built (`BATCH`, then length-prefixed messages).
    Batch(Vec<u8>),
}

/// A received batch whose messages are being handed out.
struct Batch {
    /// The eager buffer holding it (not posted while the batch lasts).
    buf: *mut [u8],
    source: usize,
    /// Offset of the next message's length.
    pos: usize,
    /// End of the batch's bytes.
    end: usize,
}

/// Send buffers kept for reuse: at most this many, of at most `SPARE_MAX`
/// bytes each; new ones start with `SPARE_CAPACITY`.
const SPARES: usize = 64;
const SPARE_MAX: usize = 64 * 1024;
const SPARE_CAPACITY: usize = 256;

/// The always-posted receive and its buffer.
struct Posted {
    req: Request<'static, [u8], StaticScope>,
    /// From `Box::leak`, `EAGER` bytes; reclaimed in `Drop` after the
    /// request was cancelled and completed.
    buf: *mut [u8],
}

/// This process's MPI endpoint, owned by its PE thread.
pub(crate) struct MpiEndpoint {
    in_flight: Vec<InFlight>,
    /// Send buffers whose sends completed, for the next messages.
    spare: Vec<Vec<u8>>,
    posted: Option<Posted>,
    /// The eager buffer while no receive is posted into it: between a
    /// completed receive and the next poll (see `try_recv_with`).
    unposted: Option<*mut [u8]>,
    /// A completed receive not yet read, and its buffer (see `arrived`).
    done: Option<(mpi::point_to_point::Status, *mut [u8])>,
    /// The batch being handed out, if the last message was one.
    batch: Option<Batch>,
    /// Held messages, by destination rank (see the module docs).
    outbox: Vec<Outbox>,
    /// The ranks whose outbox holds something (a rank whose full batch went
    /// and which then held more is listed again: once per 512 bytes sent,
    /// until the next look empties the list).
    held: Vec<usize>,
    /// The PE's looks at MPI so far (wrapping), and per rank the look after
    /// which a message last went to it at once: a rank whose entry equals
    /// `looks` had one since the last look, so its next ones are held. (A
    /// counter instead of a flag per rank: nothing to reset at a look, which
    /// keeps a ping-pong's path as short as without coalescing. After a
    /// wrap-around a stale entry can at worst hold one message until the next
    /// look.)
    looks: u32,
    sent_at: Vec<u32>,
    /// Whether small messages are held for coalescing (`CHARE_MPI_COALESCE`).
    coalesce: bool,
    /// Polls since the last look at finished sends: those MPI calls each
    /// drive MPI's progress engine, so the hot path (one test of the posted
    /// receive) makes them only every 16th poll.
    polls: u32,
    /// Most bytes per MPI message (`config::mpi_chunk_bytes`).
    chunk: usize,
    /// Whether mid-sized messages go in eager parts (`CHARE_MPI_SPLIT`).
    split: bool,
    /// `MPI_COMM_WORLD`, leaked so that `procs` can borrow it for the
    /// endpoint's life (the predefined communicator is never freed anyway).
    world: &'static SimpleCommunicator,
    /// Every rank as a send target, made once: `process_at_rank` checks the
    /// rank against `MPI_Comm_size` on every call (~70 instructions per
    /// message); the route only sends to ranks below the size.
    procs: Vec<Process<'static>>,
    pub rank: usize,
    pub size: usize,
    // Dropped last: finalises MPI.
    _universe: Universe,
}

/// Keeps large allocations on the heap. Messages move large buffers between
/// processes: the receiver allocates one per message and the sender's are
/// freed after each send. With glibc's defaults every such buffer is a fresh
/// `mmap` whose pages fault in on first write and are unmapped on free, which
/// costs more than the transfer (measured: 1.1 vs 5.5 GB/s at 1 MiB). MPI
/// libraries tune the allocator the same way; this process belongs to the
/// MPI layer, so it is done once at start-up.
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        extern "C" {
            fn mallopt(param: std::ffi::c_int, value: std::ffi::c_int) -> std::ffi::c_int;
        }
        const M_TRIM_THRESHOLD: std::ffi::c_int = -1;
        const M_MMAP_THRESHOLD: std::ffi::c_int = -3;
        // SAFETY: `mallopt` only changes glibc's allocation thresholds; it is
        // called before this process allocates message buffers, from the only
        // thread that uses the runtime.
        unsafe {
            mallopt(M_MMAP_THRESHOLD, 1 << 30);
            mallopt(M_TRIM_THRESHOLD, i32::MAX);
        }
    }
}

impl MpiEndpoint {
    /// Initialises MPI.
    pub(crate) fn init() -> Result<MpiEndpoint, String> {
        tune_allocator();
        let universe = mpi::initialize().ok_or("MPI was already initialised in this process")?;
        let world: &'static SimpleCommunicator = Box::leak(Box::new(universe.world()));
        let rank = world.rank() as usize;
        let size = world.size() as usize;
        let procs = (0..size as i32).map(|r| world.process_at_rank(r)).collect();
        let mut ep = MpiEndpoint {
            in_flight: Vec::new(),
            spare: Vec::new(),
            posted: None,
            unposted: None,
            done: None,
            batch: None,
            outbox: (0..size).map(|_| Outbox::Empty).collect(),
            held: Vec::new(),
            looks: 0,
            sent_at: vec![u32::MAX; size],
            coalesce: crate::config::mpi_coalesce(),
            polls: 0,
            chunk: crate::config::mpi_chunk_bytes(),
            split: crate::config::mpi_split(),
            world,
            procs,
            rank,
            size,
            _universe: universe,
        };
        let buf: *mut [u8] = Box::leak(vec![0u8; EAGER].into_boxed_slice());
        ep.post(buf);
        Ok(ep)
    }

    fn post(&mut self, buf: *mut [u8]) {
        // SAFETY: `buf` is the leaked eager buffer; only the posted request
        // uses it until that request completes (then `try_recv` reads it and
        // posts it again) or is cancelled (`Drop`).
        let slice: &'static mut [u8] = unsafe { &mut *buf };
        let req = self.world.any_process().immediate_receive_into_with_tag(StaticScope, slice, TAG_SMALL);
        self.posted = Some(Posted { req, buf });
    }

    /// Every rank's value of `v`, by rank.
    pub(crate) fn all_gather(&self, v: u64) -> Vec<u64> {
        let mut all = vec![0u64; self.size];
        self.world.all_gather_into(&v, &mut all[..]);
        all
    }

    /// An empty buffer (one whose send completed, when there is one).
    fn take_buffer(&mut self) -> Vec<u8> {
        let mut b = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(SPARE_CAPACITY));
        b.clear();
        b
    }

    /// A buffer to serialise a message into: `room` bytes whose values do
    /// not matter (the frame is written over the part of them that is sent),
    /// then nothing. A reused buffer keeps its old bytes there rather than
    /// being zeroed for every message.
    pub(crate) fn take_buffer_with_room(&mut self, room: usize) -> Vec<u8> {
        let mut b = self.spare.pop().unwrap_or_else(|| Vec::with_capacity(SPARE_CAPACITY));
        if b.len() >= room {
            b.truncate(room);
        } else {
            b.resize(room, 0);
        }
        b
    }

    /// Keeps a buffer whose send completed (its contents as they are; see
    /// the two `take_` functions) for a later message.
    fn recycle(&mut self, buf: Vec<u8>) {
        if buf.capacity() <= SPARE_MAX && self.spare.len() < SPARES {
            self.spare.push(buf);
        }
    }

    /// Starts sending `bytes[start..]` to rank `to`, then each attachment
    /// (pointer, length) as its own message straight from its memory, which
    /// `keep` owns and which is kept until those sends complete.
    pub(crate) fn send(
        &mut self,
        to: usize,
        bytes: Vec<u8>,
        start: usize,
        att: Vec<(*const u8, usize)>,
        keep: Option<Box<dyn Any>>,
    ) {
        if att.is_empty() && self.coalesce && bytes.len() - start <= COALESCE_MAX {
            return self.hold(to, bytes, start);
        }
        self.release(to);
        self.send_header(to, bytes, start);
        if att.is_empty() {
            return;
        }
        let keep = Rc::new(keep.expect("attachments come with the message that owns them"));
        for (ptr, len) in att {
            // SAFETY: `ptr`/`len` describe memory owned by one of the
            // attachment owners in `keep` (a handle on a buffer's vector,
            // never written while shared); `keep` lives in the in-flight list
            // until the requests reading it complete.
            let slice: &'static [u8] = unsafe { std::slice::from_raw_parts(ptr, len) };
            self.send_chunks(to, slice, TAG_ATT, keep.clone());
        }
    }

    /// Puts the message `bytes[start..]` into `to`'s outbox.
    fn hold(&mut self, to: usize, bytes: Vec<u8>, start: usize) {
        if self.sent_at[to] != self.looks && matches!(self.outbox[to], Outbox::Empty) {
            // The first since the last look: at once.
            self.sent_at[to] = self.looks;
            return self.send_header(to, bytes, start);
        }
        let len = bytes.len() - start;
        match std::mem::take(&mut self.outbox[to]) {
            Outbox::Empty => {
                self.outbox[to] = Outbox::One(bytes, start);
                self.held.push(to);
            }
            Outbox::One(first, s0) if 1 + 8 + (first.len() - s0) + len <= EAGER => {
                let mut b = self.take_buffer();
                b.push(BATCH);
                put_framed(&mut b, &first[s0..]);
                put_framed(&mut b, &bytes[start..]);
                self.recycle(first);
                self.recycle(bytes);
                self.outbox[to] = Outbox::Batch(b);
            }
            Outbox::Batch(mut b) if b.len() + 4 + len <= EAGER => {
                put_framed(&mut b, &bytes[start..]);
                self.recycle(bytes);
                if b.len() >= BATCH_RELEASE {
                    // Still listed in `held`, now empty: the next message is
                    // held again (this look's first has gone).
                    self.send_header(to, b, 0);
                } else {
                    self.outbox[to] = Outbox::Batch(b);
                }
            }
            // Full: what is held goes, the new message starts the next.
            full => {
                self.send_held(to, full);
                self.outbox[to] = Outbox::One(bytes, start);
            }
        }
    }

    fn send_held(&mut self, to: usize, held: Outbox) {
        match held {
            Outbox::Empty => {}
            Outbox::One(b, s) => self.send_header(to, b, s),
            Outbox::Batch(b) => self.send_header(to, b, 0),
        }
    }

    /// Hands what `to`'s outbox holds to MPI (before a message that is not
    /// held, which must not overtake it).
    fn release(&mut self, to: usize) {
        self.sent_at[to] = self.looks;
        if matches!(self.outbox[to], Outbox::Empty) {
            return;
        }
        // Still listed in `held`, now empty.
        let held = std::mem::take(&mut self.outbox[to]);
        self.send_held(to, held);
    }

    /// Hands every held message to MPI.
    #[inline]
    pub(crate) fn release_all(&mut self) {
        if !self.held.is_empty() {
            self.release_all_held();
        }
    }

    fn release_all_held(&mut self) {
        for i in 0..self.held.len() {
            let to = self.held[i];
            let h = std::mem::take(&mut self.outbox[to]);
            self.send_held(to, h);
        }
        self.held.clear();
    }

    /// Sends `data` as consecutive messages of at most `chunk` bytes on
    /// `tag` (one empty message if it is empty); `keep` owns the memory.
    fn send_chunks(&mut self, to: usize, data: &'static [u8], tag: i32, keep: Rc<Box<dyn Any>>) {
        let part = self.part_size(data.len());
        let chunks: Vec<&'static [u8]> = if data.is_empty() { vec![data] } else { data.chunks(part).collect() };
        for c in chunks {
            let req = self.procs[to].immediate_send_with_tag(StaticScope, c, tag);
            self.in_flight.push(InFlight { req, buf: None, keep: Some(keep.clone()) });
        }
    }

    /// The size of the parts a message or attachment of `len` bytes travels
    /// in (both ends compute it from `len`): [`EAGER_PART`] up to
    /// [`SPLIT_MAX`] bytes, so that each part is an eager send, complete
    /// without the sender; the chunk size above.
    #[inline]
    fn part_size(&self, len: usize) -> usize {
        if self.split && len <= SPLIT_MAX {
            EAGER_PART.min(self.chunk)
        } else {
            self.chunk
        }
    }

    /// Receives `len` bytes from `from` on `tag` into `ptr`, as the
    /// consecutive chunks [`Self::send_chunks`] sent.
    fn recv_chunks(&mut self, from: usize, tag: i32, ptr: *mut u8, len: usize) -> Result<(), String> {
        let mut off = 0;
        loop {
            let want = (len - off).min(self.part_size(len));
            let (msg, status) = self.world.process_at_rank(from as i32).matched_probe_with_tag(tag);
            let n = status.count(u8::equivalent_datatype());
            if n < 0 || n as usize != want {
                // Receive it anyway (into a scratch vector) so it does not linger.
                let _ = (msg, status).matched_receive_vec::<u8>();
                return Err(format!("a part of {n} bytes where {want} of {len} were announced"));
            }
            if want > 0 {
                // SAFETY: `off + want <= len`: the range is inside the `len`
                // bytes at `ptr` the caller provides.
                msg.matched_receive_into(&mut RawRecv { ptr: unsafe { ptr.add(off) }, len: want });
            } else {
                let _ = (msg, status).matched_receive_vec::<u8>();
            }
            off += want;
            if off >= len {
                return Ok(());
            }
        }
    }

    /// Receives the next attachment from `from` into the `len` bytes at
    /// `ptr` (blocking: it was sent right after the message that announced
    /// it). The memory may be uninitialised: MPI writes it through a raw
    /// pointer, and only after its length was checked to be exactly `len`.
    pub(crate) fn recv_attachment(&mut self, from: usize, ptr: *mut u8, len: usize) -> Result<(), String> {
        self.recv_chunks(from, TAG_ATT, ptr, len).map_err(|e| format!("attachment: {e}"))
    }

    fn send_header(&mut self, to: usize, bytes: Vec<u8>, start: usize) {
        let msg = &bytes[start..];
        if msg.len() > EAGER {
            return self.send_large(to, bytes, start);
        }
        // SAFETY: the slice points into `bytes`' heap memory, which does not
        // move when the Vec does; the Vec is kept (unchanged) in the in-flight
        // list, or here, until the request that reads it has completed
        // (`progress`, `flush` leaks it if it never does).
        let shared: &'static [u8] = unsafe { std::slice::from_raw_parts(msg.as_ptr(), msg.len()) };
        let req = self.procs[to].immediate_send_with_tag(StaticScope, shared, TAG_SMALL);
        // Not tested here: a test runs MPI's progress engine (~180
        // instructions) on the message's critical path. A small message is
        // usually complete already (eager protocol); `progress`, every 16th
        // idle poll or once 64 sends wait, recycles its buffer.
        self.in_flight.push(InFlight { req, buf: Some(bytes), keep: None });
        if self.in_flight.len() >= 64 {
            self.progress();
        }
    }

    /// A message above `EAGER` bytes: its notice (in order with the small
    /// messages), then the message in chunks on `TAG_LARGE`.
    fn send_large(&mut self, to: usize, bytes: Vec<u8>, start: usize) {
        let len = (bytes.len() - start) as u64;
        let mut notice = Vec::with_capacity(NOTICE_LEN);
        notice.push(LARGE_FOLLOWS);
        notice.extend_from_slice(&len.to_le_bytes());
        // SAFETY: as in `send_header`: the notice's heap memory stays in the
        // in-flight list, unchanged, until its request completed.
        let n: &'static [u8] = unsafe { std::slice::from_raw_parts(notice.as_ptr(), notice.len()) };
        let req = self.procs[to].immediate_send_with_tag(StaticScope, n, TAG_SMALL);
        self.in_flight.push(InFlight { req, buf: Some(notice), keep: None });
        // SAFETY: the slice points into `bytes`' heap memory, which `keep`
        // owns (unchanged) until every chunk's request completed.
        let data: &'static [u8] = unsafe { std::slice::from_raw_parts(bytes.as_ptr().add(start), len as usize) };
        let keep: Rc<Box<dyn Any>> = Rc::new(Box::new(bytes));
        self.send_chunks(to, data, TAG_LARGE, keep);
        if self.in_flight.len() >= 64 {
            self.progress();
        }
    }

    /// Completes finished sends and frees their buffers.
    pub(crate) fn progress(&mut self) {
        let mut i = 0;
        while i < self.in_flight.len() {
            let InFlight { req, buf, keep } = self.in_flight.swap_remove(i);
            match req.test() {
                Ok(_) => {
                    // The request completed: MPI no longer reads them.
                    if let Some(b) = buf {
                        self.recycle(b);
                    }
                    drop(keep);
                }
                Err(req) => {
                    self.in_flight.push(InFlight { req, buf, keep });
                    let last = self.in_flight.len() - 1;
                    self.in_flight.swap(i, last);
                    i += 1;
                }
            }
        }
    }

    /// The next message that arrived, read by `read`, with its source rank.
    /// Small messages are read in place, in the posted receive's buffer.
    ///
    /// The receive is posted again only at the next call, not right after a
    /// message arrived: handling the message (and usually sending the reply
    /// it causes) comes first, so posting is not on a ping-pong's critical
    /// path. A message arriving meanwhile waits in MPI's unexpected queue.
    pub(crate) fn try_recv_with<R>(
        &mut self,
        read: impl FnOnce(&[u8]) -> Result<R, String>,
    ) -> Option<(usize, Result<R, String>)> {
        if self.batch.is_some() {
            return Some(self.next_of_batch(read));
        }
        if !self.arrived() {
            return None;
        }
        let (status, buf) = self.done.take()?;
        let n = (status.count(u8::equivalent_datatype()).max(0) as usize).min(EAGER);
        let source = status.source_rank();
        // SAFETY: the request completed: MPI wrote `n` bytes into `buf` and
        // no longer uses it until it is posted again (next call).
        let bytes = unsafe { &(&(*buf))[..n] };
        if n > 1 && bytes[0] == BATCH {
            self.batch = Some(Batch { buf, source: source as usize, pos: 1, end: n });
            return Some(self.next_of_batch(read));
        }
        let r = if bytes.len() == NOTICE_LEN && bytes[0] == LARGE_FOLLOWS {
            // The large message was sent right after its notice.
            let len = u64::from_le_bytes(bytes[1..].try_into().expect("8 bytes"));
            self.unposted = Some(buf);
            self.recv_large(source as usize, len).and_then(|large| read(&large))
        } else {
            let r = read(bytes);
            self.unposted = Some(buf);
            r
        };
        Some((source as usize, r))
    }

    /// The next message of the batch being handed out. After its last (or
    /// a malformed length, which ends the batch) the eager buffer is posted
    /// again at the next look.
    fn next_of_batch<R>(&mut self, read: impl FnOnce(&[u8]) -> Result<R, String>) -> (usize, Result<R, String>) {
        let b = self.batch.as_mut().expect("a batch is being handed out");
        let (buf, source) = (b.buf, b.source);
        // SAFETY: the batch's receive completed with `end` bytes in `buf`,
        // which no request uses until it is posted again, after the batch.
        let bytes = unsafe { &(&(*buf))[..b.end] };
        let r = match bytes[b.pos..].split_first_chunk::<4>() {
            Some((len, rest)) if u32::from_le_bytes(*len) as usize <= rest.len() => {
                let len = u32::from_le_bytes(*len) as usize;
                let at = b.pos + 4;
                b.pos = at + len;
                Ok(&bytes[at..at + len])
            }
            _ => {
                b.pos = b.end;
                Err("malformed batch of messages: a length beyond its end".to_string())
            }
        };
        let last = b.pos >= b.end;
        let out = r.and_then(read);
        if last {
            self.batch = None;
            self.unposted = Some(buf);
        }
        (source, out)
    }

    /// Whether a message of a received batch is still to be handed out.
    #[inline]
    pub(crate) fn in_batch(&self) -> bool {
        self.batch.is_some()
    }

    /// Whether a message waits: tests the posted receive once (posting it
    /// first if the last message's handling left it unposted) and keeps a
    /// completed one for [`Self::try_recv_with`]. The cheapest look at MPI,
    /// which an idle PE repeats (`scheduler::idle`). Every 16th look that
    /// finds nothing also completes finished sends.
    pub(crate) fn arrived(&mut self) -> bool {
        // Held messages go before the PE looks for (and waits on) others,
        // and the next message to any rank goes at once.
        self.release_all();
        self.looks = self.looks.wrapping_add(1);
        if self.done.is_some() || self.batch.is_some() {
            return true;
        }
        if let Some(buf) = self.unposted.take() {
            self.post(buf);
        }
        if let Some(Posted { req, buf }) = self.posted.take() {
            match req.test() {
                Ok(status) => {
                    self.done = Some((status, buf));
                    return true;
                }
                Err(req) => self.posted = Some(Posted { req, buf }),
            }
        }
        self.polls += 1;
        if self.polls >= 16 {
            self.polls = 0;
            self.progress();
        }
        false
    }

    /// The next message that arrived, with its source rank.
    pub(crate) fn try_recv(&mut self) -> Option<(usize, Result<Vec<u8>, String>)> {
        self.try_recv_with(|b| Ok(b.to_vec()))
    }

    /// Receives the `len`-byte message announced by a notice from `from`.
    fn recv_large(&mut self, from: usize, len: u64) -> Result<Vec<u8>, String> {
        let len = usize::try_from(len).map_err(|_| format!("a message of {len} bytes"))?;
        let mut v: Vec<u8> = Vec::new();
        v.try_reserve_exact(len).map_err(|_| format!("cannot allocate {len} bytes for a message"))?;
        self.recv_chunks(from, TAG_LARGE, v.as_mut_ptr(), len)?;
        // SAFETY: `recv_chunks` returned Ok: MPI wrote all `len` bytes of
        // the reserved capacity.
        unsafe { v.set_len(len) };
        Ok(v)
    }

    /// Waits (up to `limit`) for outstanding sends, so that MPI can finalise.
    pub(crate) fn flush(&mut self, limit: Duration) {
        self.release_all();
        let t0 = Instant::now();
        while !self.in_flight.is_empty() && t0.elapsed() < limit {
            self.progress();
            // Receive (and drop) what still arrives, so that peers' sends to us
            // complete too.
            while self.try_recv().is_some() {}
            std::thread::yield_now();
        }
        // Requests that never completed would panic on drop: forget them (and
        // leak their buffers) rather than crash at exit.
        for f in self.in_flight.drain(..) {
            std::mem::forget(f);
        }
    }

    /// Ends every rank of the job at once.
    pub(crate) fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}

/// Appends one message of a batch: its length, then its bytes.
fn put_framed(b: &mut Vec<u8>, msg: &[u8]) {
    b.extend_from_slice(&(msg.len() as u32).to_le_bytes());
    b.extend_from_slice(msg);
}

/// `len` bytes at `ptr` for MPI to receive into, without a Rust reference
/// to (possibly uninitialised) memory.
struct RawRecv {
    ptr: *mut u8,
    len: usize,
}

// SAFETY: `pointer_mut` returns the start of `len` writable bytes that the
// caller of `recv_attachment` owns for the duration of the receive.
unsafe impl mpi::datatype::PointerMut for RawRecv {
    fn pointer_mut(&mut self) -> *mut std::ffi::c_void {
        self.ptr.cast()
    }
}

// SAFETY: the memory holds exactly `len` elements of the datatype below.
unsafe impl mpi::datatype::Collection for RawRecv {
    fn count(&self) -> mpi::Count {
        self.len as mpi::Count
    }
}

// SAFETY: the elements are bytes.
unsafe impl mpi::datatype::AsDatatype for RawRecv {
    type Out = <u8 as Equivalence>::Out;
    fn as_datatype(&self) -> Self::Out {
        u8::equivalent_datatype()
    }
}

// SAFETY: the three traits above describe one writable buffer.
unsafe impl mpi::datatype::BufferMut for RawRecv {}

impl Drop for MpiEndpoint {
    fn drop(&mut self) {
        // Sends still pending (`flush` normally leaves none): their requests
        // would panic when dropped and their buffers must outlive MPI's use,
        // so they are forgotten, buffers leaked, as in `flush`.
        for f in self.in_flight.drain(..) {
            std::mem::forget(f);
        }
        if let Some(Posted { req, buf }) = self.posted.take() {
            req.cancel();
            req.wait();
            // SAFETY: the request is complete (cancelled or matched), so MPI
            // no longer uses the buffer, which came from `Box::leak`.
            drop(unsafe { Box::from_raw(buf) });
        }
        let batch = self.batch.take().map(|b| b.buf);
        if let Some(buf) = self.unposted.take().or(self.done.take().map(|(_, b)| b)).or(batch) {
            // SAFETY: no request uses the buffer (never posted again, or its
            // request completed); it came from `Box::leak`.
            drop(unsafe { Box::from_raw(buf) });
        }
    }
}
