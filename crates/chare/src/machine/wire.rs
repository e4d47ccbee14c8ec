//! The wire format between processes (MPI layer).
//!
//! Every MPI message is a postcard-encoded [`Frame`] (the sizes of the
//! attachments that follow as their own messages, and a [`Wire`] value),
//! followed, for entry calls, broadcasts, future values and channel values,
//! by the value's postcard bytes up to the end of the message: the *body*,
//! decoded where its type is known. The sender writes the body first, into a
//! buffer that starts with [`HEAD_ROOM`] free bytes, then the frame right in
//! front of it: one pass, one buffer, no copy of the body. Other values
//! (creation arguments, read-only data, reduction partials) are nested byte
//! strings inside the `Wire`. Nothing received is trusted: decoding checks
//! every length and tag and fails with an error on malformed or truncated
//! input.
//!
//! Counted messages (everything but the quiescence, report and exit control
//! messages) take part in quiescence detection.

use crate::buffer::AttDesc;
use crate::collection::CollDesc;
use crate::future::{RawFuture, Reply};
use crate::message::{Addr, ChanKey, CollId, Incoming, Msg};
use crate::reduction::{Contribution, WireContribution};
use crate::value::Encoded;

/// One message between processes.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) enum Wire {
    /// Entry call; the body is the chare's message enum.
    Entry { to: Addr },
    /// Entry call on every local element of a collection.
    Broadcast { coll: CollId },
    /// Fulfil a future owned by the receiver with the body.
    Future { id: u64 },
    /// A channel value (the body).
    Channel { key: ChanKey },
    /// A reduction partial on its way to the root.
    Reduce(Box<WireContribution>),
    /// The reduction protocol of migratable collections between processes.
    Reduction(Box<crate::reduction::ReduceWire>),
    /// Create this process's elements of a collection of chare type `chare`.
    Create {
        chare: u64,
        desc: Box<CollDesc>,
        #[serde(with = "crate::value::bytes")]
        init: Vec<u8>,
        done: Option<Reply>,
    },
    /// Read-only data, keyed by its type.
    Readonly {
        key: u64,
        #[serde(with = "crate::value::bytes")]
        value: Vec<u8>,
        done: Reply,
    },
    /// Insertion and deletion of a dynamic array's elements (see [`crate::dynamic`]).
    Dynamic(Box<crate::dynamic::DynWire>),
    /// An entry call (the body) to these elements of a collection on the
    /// receiving PE: its part of a section multicast.
    Multicast(Box<(CollId, Vec<u32>)>),
    /// An ordered entry call or channel value (the body) to or from a
    /// migratable chare.
    Ordered(Box<crate::migration::order::OrderedHead>),
    /// A chare migrating here; its state and deferred calls are the body.
    Migrate(Box<crate::migration::MigrateWire>),
    /// Send the value of future `id` (owned by the receiver) to `to`.
    ForwardFuture { id: u64, to: RawFuture },
    /// Where an element is.
    Located { addr: Addr, at: crate::migration::location::Where },
    /// Load-balancing protocol messages (see [`crate::lb`]).
    Lb(Box<crate::lb::LbWire>),
    /// Register a quiescence waiter (sent to PE 0).
    QdRegister(RawFuture),
    /// Quiescence wave: report your counters.
    QdProbe { round: u64 },
    /// Answer to a wave: (sent, handled, activity) and whether work is queued.
    QdReply { round: u64, counts: [u64; 3], busy: bool },
    /// Answer with your statistics into this gathering reply (see [`crate::stats`]).
    Stats(Reply),
    /// Deadlock: report your waiting tasks.
    ReportRequest,
    /// Waiting tasks and held `when` calls of one PE.
    ReportReply { tasks: Vec<String>, held: Vec<String> },
    /// The job ends with this code.
    Exit { code: i32 },
    /// A chunk of pool tasks or its results (the body; see [`crate::pool`]).
    Pool(Box<crate::pool::PoolHead>),
}

/// The routing part of a message between processes: the four kinds with a
/// fixed binary header (the hot path) as small `Copy` values, every other
/// message as its [`Wire`]. Entry calls and channel values never build a
/// `Wire`: moving that large enum through the send and receive paths cost
/// more than writing and reading their headers (store-forwarding stalls on
/// its copies, seen in a sampling profile of the 8 B message rate).
pub(crate) enum Head {
    Entry(Addr),
    Broadcast(CollId),
    Future(u64),
    Channel(ChanKey),
    Wire(Box<Wire>),
}

impl From<Wire> for Head {
    #[inline]
    fn from(w: Wire) -> Head {
        match w {
            Wire::Entry { to } => Head::Entry(to),
            Wire::Broadcast { coll } => Head::Broadcast(coll),
            Wire::Future { id } => Head::Future(id),
            Wire::Channel { key } => Head::Channel(key),
            w => Head::Wire(Box::new(w)),
        }
    }
}

/// What one MPI message carries: the sizes of the attachments that follow
/// it as their own messages (the memory of `Buffer`s), then the message.
pub(crate) struct Frame {
    pub att: Vec<AttDesc>,
    pub head: Head,
}

/// Free bytes at the start of a send buffer for the frame, which is written
/// in front of the body once the body's attachments are known. A frame that
/// does not fit (many attachments, a control message) is written into a new
/// buffer instead.
pub(crate) const HEAD_ROOM: usize = 64;

/// Most attachments one message may have.
pub(crate) const MAX_ATTACHMENTS: usize = 255;

// The frame's layout. Messages with a body (the hot path) have a fixed
// binary header: kind, attachment count, each attachment as (bytes u64,
// alignment u8), then the routing fields, integers little-endian. Every other
// message is `KIND_OTHER`: the same first two parts, then the postcard-encoded
// `Wire`. (postcard for the hot header cost ~600 instructions per message,
// measured with callgrind; this costs ~50.)
const KIND_ENTRY: u8 = 0;
const KIND_BROADCAST: u8 = 1;
const KIND_FUTURE: u8 = 2;
const KIND_CHANNEL: u8 = 3;
const KIND_OTHER: u8 = 4;
/// A postcard-encoded `Wire` (its length first, u32) followed by a body.
const KIND_OTHER_BODY: u8 = 5;

/// A header being written into a slice of exactly its length.
struct HeadWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl HeadWriter<'_> {
    fn put(&mut self, b: &[u8]) {
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }
    fn u32(&mut self, v: u32) {
        self.put(&v.to_le_bytes());
    }
    fn addr(&mut self, a: Addr) {
        self.u32(a.coll);
        self.u32(a.lin);
    }
}

/// The kind of `h` and the length of its routing fields (KIND_OTHER: 0,
/// its `Wire` follows in postcard).
fn kind_of(h: &Head) -> (u8, usize) {
    match h {
        Head::Entry(_) => (KIND_ENTRY, 8),
        Head::Broadcast(_) => (KIND_BROADCAST, 4),
        Head::Future(_) => (KIND_FUTURE, 8),
        Head::Channel(_) => (KIND_CHANNEL, 20),
        Head::Wire(w) if w.has_body() => (KIND_OTHER_BODY, 4),
        Head::Wire(_) => (KIND_OTHER, 0),
    }
}

/// Writes the fixed part of `frame`'s header (all of it, but for KIND_OTHER's `Wire`) into `buf`.
fn write_head(frame: &Frame, kind: u8, buf: &mut [u8]) {
    let mut h = HeadWriter { buf, len: 0 };
    h.put(&[kind, frame.att.len() as u8]);
    for d in &frame.att {
        h.put(&d.bytes.to_le_bytes());
        h.put(&[d.align.trailing_zeros() as u8]);
    }
    match &frame.head {
        Head::Entry(to) => h.addr(*to),
        Head::Broadcast(coll) => h.u32(*coll),
        Head::Future(id) => h.put(&id.to_le_bytes()),
        Head::Channel(key) => {
            h.addr(key.from);
            h.addr(key.to);
            h.u32(key.n);
        }
        // The length of the `Wire` that follows, written once known.
        _ if kind == KIND_OTHER_BODY => h.put(&[0; 4]),
        _ => {}
    }
    debug_assert_eq!(h.len, h.buf.len());
}

/// Writes `frame` in front of the body in `out[HEAD_ROOM..]`; returns the
/// buffer and where the message starts in it.
pub(crate) fn put_frame(frame: &Frame, mut out: Vec<u8>) -> Result<(Vec<u8>, usize), String> {
    debug_assert!(out.len() >= HEAD_ROOM);
    if frame.att.len() > MAX_ATTACHMENTS {
        return Err(format!("{} Buffers in one message; at most {MAX_ATTACHMENTS} can be sent", frame.att.len()));
    }
    // The hot path: an entry call or channel value without attachments, its
    // header written as one array.
    if frame.att.is_empty() {
        let mut h = [0u8; 22];
        let n = match frame.head {
            Head::Entry(to) => {
                h[0] = KIND_ENTRY;
                h[2..6].copy_from_slice(&to.coll.to_le_bytes());
                h[6..10].copy_from_slice(&to.lin.to_le_bytes());
                10
            }
            Head::Channel(k) => {
                h[0] = KIND_CHANNEL;
                h[2..6].copy_from_slice(&k.from.coll.to_le_bytes());
                h[6..10].copy_from_slice(&k.from.lin.to_le_bytes());
                h[10..14].copy_from_slice(&k.to.coll.to_le_bytes());
                h[14..18].copy_from_slice(&k.to.lin.to_le_bytes());
                h[18..22].copy_from_slice(&k.n.to_le_bytes());
                22
            }
            _ => 0,
        };
        if n > 0 {
            out[HEAD_ROOM - n..HEAD_ROOM].copy_from_slice(&h[..n]);
            return Ok((out, HEAD_ROOM - n));
        }
    }
    let (kind, routing) = kind_of(&frame.head);
    let len = 2 + 9 * frame.att.len() + routing;
    if kind != KIND_OTHER && kind != KIND_OTHER_BODY && len <= HEAD_ROOM {
        let start = HEAD_ROOM - len;
        write_head(frame, kind, &mut out[start..HEAD_ROOM]);
        return Ok((out, start));
    }
    let mut v = vec![0; len];
    write_head(frame, kind, &mut v);
    if let Head::Wire(w) = &frame.head {
        crate::value::encode_into(&**w, &mut v)?;
    }
    if kind == KIND_OTHER_BODY {
        // The `Wire`'s length goes into the last 4 bytes of the fixed part.
        let at = len;
        let n = u32::try_from(v.len() - at).map_err(|_| "message header too long".to_string())?;
        v[at - 4..at].copy_from_slice(&n.to_le_bytes());
    }
    v.extend_from_slice(&out[HEAD_ROOM..]);
    Ok((v, 0))
}

/// Reads a received header; every read is checked.
struct HeadReader<'a>(&'a [u8]);

impl<'a> HeadReader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        match self.0.split_first_chunk::<N>() {
            Some((b, rest)) => {
                self.0 = rest;
                Ok(*b)
            }
            None => Err("truncated message".to_string()),
        }
    }
    fn u32(&mut self) -> Result<u32, String> {
        self.take::<4>().map(u32::from_le_bytes)
    }
    fn addr(&mut self) -> Result<Addr, String> {
        Ok(Addr { coll: self.u32()?, lin: self.u32()? })
    }
}

/// Splits a received message into its frame and its body.
pub(crate) fn split(bytes: &[u8]) -> Result<(Frame, &[u8]), String> {
    let mut r = HeadReader(bytes);
    let [kind, natt] = r.take::<2>()?;
    let mut att = Vec::with_capacity(natt as usize);
    for _ in 0..natt {
        let size = u64::from_le_bytes(r.take::<8>()?);
        let [log_align] = r.take::<1>()?;
        if log_align > 12 {
            return Err(format!("bad attachment alignment 2^{log_align}"));
        }
        att.push(AttDesc { bytes: size, align: 1 << log_align });
    }
    let head = match kind {
        KIND_ENTRY => Head::Entry(r.addr()?),
        KIND_BROADCAST => Head::Broadcast(r.u32()?),
        KIND_FUTURE => Head::Future(u64::from_le_bytes(r.take::<8>()?)),
        KIND_CHANNEL => Head::Channel(ChanKey { from: r.addr()?, to: r.addr()?, n: r.u32()? }),
        KIND_OTHER_BODY => {
            let n = r.u32()? as usize;
            if n > r.0.len() {
                return Err("truncated message".to_string());
            }
            let (head, body) = r.0.split_at(n);
            let w = crate::value::decode::<Wire>(head)?;
            if !w.has_body()
                || matches!(w, Wire::Entry { .. } | Wire::Broadcast { .. } | Wire::Future { .. } | Wire::Channel { .. })
            {
                return Err("malformed message: a header without a body where one was announced".to_string());
            }
            return Ok((Frame { att, head: Head::Wire(Box::new(w)) }, body));
        }
        KIND_OTHER => {
            let w = crate::value::decode::<Wire>(r.0)?;
            if w.has_body() {
                return Err("malformed message: a routed value without its header".to_string());
            }
            return Ok((Frame { att, head: Head::Wire(Box::new(w)) }, &[]));
        }
        k => return Err(format!("malformed message: unknown kind {k}")),
    };
    Ok((Frame { att, head }, r.0))
}

/// The hot path of [`split`]: an entry call or a channel value without
/// attachments, read with one length check. None for anything else (and for
/// truncated input), which [`split`] reads and checks.
#[inline]
pub(crate) fn split_hot(bytes: &[u8]) -> Option<(Head, &[u8])> {
    fn u32_at<const N: usize>(h: &[u8; N], i: usize) -> u32 {
        u32::from_le_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]])
    }
    match bytes {
        [KIND_ENTRY, 0, rest @ ..] => {
            let (h, body) = rest.split_first_chunk::<8>()?;
            Some((Head::Entry(Addr { coll: u32_at(h, 0), lin: u32_at(h, 4) }), body))
        }
        [KIND_CHANNEL, 0, rest @ ..] => {
            let (h, body) = rest.split_first_chunk::<20>()?;
            let key = ChanKey {
                from: Addr { coll: u32_at(h, 0), lin: u32_at(h, 4) },
                to: Addr { coll: u32_at(h, 8), lin: u32_at(h, 12) },
                n: u32_at(h, 16),
            };
            Some((Head::Channel(key), body))
        }
        _ => None,
    }
}

/// A message as the MPI machine hands it to the scheduler: entry calls and
/// channel values (the hot path) as they were decoded, everything else as
/// the [`Msg`] it stands for. Handed straight to [`crate::scheduler::Pe`]'s
/// `handle_arrived` when nothing is queued before it; queued as a [`Msg`]
/// (boxed) otherwise.
pub(crate) enum Arrived {
    Entry(Addr, Encoded),
    Channel(ChanKey, Encoded),
    Msg(Msg),
}

impl Arrived {
    /// The message as it is queued.
    pub(crate) fn into_msg(self) -> Msg {
        match self {
            Arrived::Entry(to, body) => Msg::EntryBytes(Box::new((to, body))),
            Arrived::Channel(key, body) => Msg::ChannelBytes(Box::new((key, body))),
            Arrived::Msg(m) => m,
        }
    }

    /// Whether handling it counts for quiescence detection.
    #[inline]
    pub(crate) fn counted(&self) -> bool {
        match self {
            Arrived::Msg(m) => m.counted(),
            _ => true,
        }
    }
}

impl Head {
    /// The message this header stands for, from PE `from`, with its body, as
    /// the scheduler takes it from the MPI machine.
    #[inline]
    pub(crate) fn into_arrived(self, from: usize, body: Encoded) -> Arrived {
        match self {
            Head::Entry(to) => Arrived::Entry(to, body),
            Head::Channel(key) => Arrived::Channel(key, body),
            Head::Broadcast(coll) => Arrived::Msg(Msg::BroadcastBytes(Box::new((coll, body)))),
            Head::Future(id) => Arrived::Msg(Msg::FutureBytes(Box::new((id, body)))),
            Head::Wire(w) => Arrived::Msg(w.into_msg(from, body)),
        }
    }
}

impl Wire {
    /// The message this frame stands for, from PE `from`, with its body.
    /// The same messages on the local layer are built directly as [`Msg`];
    /// the quiescence protocol's messages (no body) are built here on both
    /// layers (see [`crate::quiescence`]).
    pub(crate) fn into_msg(self, from: usize, body: Encoded) -> Msg {
        match self {
            Wire::Entry { to } => Msg::EntryBytes(Box::new((to, body))),
            Wire::Broadcast { coll } => Msg::BroadcastBytes(Box::new((coll, body))),
            Wire::Future { id } => Msg::FutureBytes(Box::new((id, body))),
            Wire::Channel { key } => Msg::ChannelBytes(Box::new((key, body))),
            Wire::Reduce(c) => Msg::Reduce(Box::new(Contribution::from_wire(*c, body.att, from))),
            Wire::Reduction(r) => Msg::Control(Box::new(move |pe| r.handle(pe))),
            Wire::Ordered(head) => {
                Msg::Ordered(Box::new(crate::migration::order::Ordered { head: *head, body: Incoming::Bytes(body) }))
            }
            Wire::Migrate(m) => m.into_msg(from, body),
            Wire::Multicast(m) => crate::section::from_wire(m.0, m.1, body),
            Wire::Dynamic(d) => Msg::Control(Box::new(move |pe| d.handle(pe, from))),
            Wire::ForwardFuture { id, to } => Msg::Control(Box::new(move |pe| crate::future::forward_to(pe, id, to))),
            Wire::Located { addr, at } => Msg::Control(Box::new(move |pe| pe.learn_location(addr, at))),
            Wire::Lb(m) => m.into_msg(from),
            Wire::Create { chare, desc, init, done } => Msg::Control(Box::new(move |pe| {
                let Some(t) = crate::registry::find(chare) else {
                    return pe.fail_usage(format!("PE {from} created a collection of a chare type unknown here"));
                };
                let w = crate::registry::WireCreate { pe, desc: *desc, init, done, only: None };
                if let Err(e) = (t.create)(w) {
                    pe.fail_usage(format!("creating {} from PE {from}: {e}", t.path));
                }
            })),
            Wire::Readonly { key, value, done } => Msg::Control(Box::new(move |pe| {
                pe.readonly_bytes.borrow_mut().insert(key, value);
                Reply::send_opt(Some(done), ());
            })),
            Wire::Stats(reply) => Msg::Control(Box::new(move |pe| crate::stats::StatsRequest(reply).answer(pe))),
            Wire::QdRegister(f) => Msg::Control(Box::new(move |pe| pe.qd.waiters.borrow_mut().push(f))),
            Wire::QdProbe { round } => Msg::System(Box::new(move |pe| pe.qd_probe(from, round))),
            Wire::QdReply { round, counts, busy } => {
                Msg::System(Box::new(move |pe| pe.wave_reply(from, round, counts, busy)))
            }
            Wire::ReportRequest => Msg::System(Box::new(move |pe| pe.report_request(from))),
            Wire::ReportReply { tasks, held } => Msg::System(Box::new(move |pe| pe.report_lines(tasks, held))),
            Wire::Exit { code } => Msg::System(Box::new(move |pe| pe.exit_from_remote(code))),
            Wire::Pool(head) => Msg::Control(Box::new(move |pe| head.handle(pe, from, body))),
        }
    }

    /// Whether a body follows the frame.
    pub(crate) fn has_body(&self) -> bool {
        matches!(
            self,
            Wire::Entry { .. }
                | Wire::Broadcast { .. }
                | Wire::Future { .. }
                | Wire::Channel { .. }
                | Wire::Ordered(_)
                | Wire::Migrate(_)
                | Wire::Multicast(_)
                | Wire::Pool(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::decode;

    #[test]
    fn frame_in_front_of_its_body_round_trips() {
        let key = ChanKey { from: Addr { coll: 1, lin: 2 }, to: Addr { coll: 1, lin: 3 }, n: 0 };
        let mut out = vec![0u8; HEAD_ROOM];
        crate::value::encode_into(&(5u32, "x"), &mut out).unwrap();
        let (buf, start) = put_frame(&Frame { att: Vec::new(), head: Head::Channel(key) }, out).unwrap();
        let (f, body) = split(&buf[start..]).unwrap();
        assert!(matches!(f.head, Head::Channel(k) if k == key));
        assert_eq!(decode::<(u32, String)>(body).unwrap(), (5, "x".to_string()));
        // A frame too large for the head room goes into a new buffer.
        let att = vec![crate::buffer::AttDesc { bytes: 1 << 40, align: 8 }; 20];
        let mut out = vec![0u8; HEAD_ROOM];
        out.extend_from_slice(&[1, 2, 3]);
        let (buf, start) = put_frame(&Frame { att, head: Wire::Future { id: u64::MAX }.into() }, out).unwrap();
        let (f, body) = split(&buf[start..]).unwrap();
        assert_eq!((f.att.len(), body), (20, &[1u8, 2, 3][..]));
        // Control messages carry no body.
        let (b, start) =
            put_frame(&Frame { att: Vec::new(), head: Wire::QdProbe { round: 3 }.into() }, vec![0; HEAD_ROOM]).unwrap();
        assert!(
            matches!(split(&b[start..]).unwrap().0.head, Head::Wire(w) if matches!(*w, Wire::QdProbe { round: 3 }))
        );
        assert!(split(&[&b[start..], &[0]].concat()).is_err());
        assert!(split(&b[start..b.len() - 1]).is_err());
    }

    /// The MPI layer's notice of a large message and its batches of small
    /// ones start with bytes that no frame starts with.
    #[test]
    fn no_frame_starts_like_a_large_message_notice_or_a_batch() {
        for first in [0xffu8, 0xfe] {
            assert!([KIND_ENTRY, KIND_BROADCAST, KIND_FUTURE, KIND_CHANNEL, KIND_OTHER, KIND_OTHER_BODY]
                .iter()
                .all(|&k| k != first));
            assert!(split(&[first]).is_err());
        }
    }

    fn same_head(a: &Head, b: &Head) -> bool {
        match (a, b) {
            (Head::Entry(x), Head::Entry(y)) => x == y,
            (Head::Channel(x), Head::Channel(y)) => x == y,
            _ => false,
        }
    }

    /// Entry calls and channel values without attachments take the hot
    /// path, with the header `put_frame` wrote; the rest (attachments, other
    /// kinds, truncated headers) is left to `split`.
    #[test]
    fn the_hot_path_reads_entry_calls_and_channel_values() {
        let key = ChanKey { from: Addr { coll: 1, lin: 2 }, to: Addr { coll: 3, lin: 4 }, n: 5 };
        let to = Addr { coll: 7, lin: u32::MAX };
        for head in [Head::Channel(key), Head::Entry(to)] {
            let mut out = vec![0u8; HEAD_ROOM];
            out.extend_from_slice(&[9, 8, 7]);
            let want = match &head {
                Head::Channel(k) => Head::Channel(*k),
                Head::Entry(a) => Head::Entry(*a),
                _ => unreachable!(),
            };
            let (buf, start) = put_frame(&Frame { att: Vec::new(), head }, out).unwrap();
            let (h, body) = split_hot(&buf[start..]).expect("hot");
            assert!(same_head(&h, &want) && body == [9, 8, 7]);
            let (f, body) = split(&buf[start..]).unwrap();
            assert!(f.att.is_empty() && same_head(&f.head, &want) && body == [9, 8, 7]);
            // Truncated inside the header: not the hot path's to judge.
            assert!(split_hot(&buf[start..buf.len() - 4]).is_none());
        }
        let att = vec![crate::buffer::AttDesc { bytes: 4096, align: 8 }];
        let (buf, start) = put_frame(&Frame { att, head: Head::Entry(to) }, vec![0u8; HEAD_ROOM]).unwrap();
        assert!(split_hot(&buf[start..]).is_none());
        let (buf, start) = put_frame(&Frame { att: Vec::new(), head: Head::Future(3) }, vec![0u8; HEAD_ROOM]).unwrap();
        assert!(split_hot(&buf[start..]).is_none());
    }

    /// Arbitrary bytes never crash the decoder: they decode or give an error.
    #[test]
    fn decoding_random_bytes_never_panics() {
        let n: usize = std::env::var("CHARE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut buf = Vec::with_capacity(64);
        let (mut ok, mut hot) = (0usize, 0usize);
        for _ in 0..n {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let len = (x % 48) as usize;
            buf.clear();
            let mut y = x;
            for _ in 0..len {
                y = y.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                // Bias towards small bytes: valid tags and short lengths.
                let b = (y >> 56) as u8;
                buf.push(if b & 0x80 != 0 { b & 0x0f } else { b });
            }
            let full = split(&buf);
            if full.is_ok() {
                ok += 1;
            }
            // The hot path reads exactly what the full reader reads, or
            // leaves the message to it.
            if let Some((head, body)) = split_hot(&buf) {
                hot += 1;
                let (f, b) = full.expect("a message the hot path reads is valid");
                assert!(f.att.is_empty() && b == body && same_head(&f.head, &head), "{buf:?}");
            }
        }
        // Some inputs are valid messages: the fuzzer reaches past the tag.
        assert!(ok > 0, "no random input decoded");
        assert!(n < 1000 || hot > 0, "no random input took the hot path");
    }
}
