//! The wire format between processes (MPI layer).
//!
//! Every message is one postcard-encoded [`Wire`] value. Values inside it
//! (entry arguments, channel and future values, reduction partials, creation
//! arguments) are nested byte strings, decoded where their type is known.
//! Nothing received is trusted: decoding checks every length and tag and
//! fails with an error on malformed or truncated input.
//!
//! Counted messages (everything but the quiescence, report and exit control
//! messages) take part in quiescence detection.

use crate::collection::CollDesc;
use crate::future::{RawFuture, Reply};
use crate::message::{Addr, ChanKey, CollId};
use crate::reduction::WireContribution;

/// One message between processes.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) enum Wire {
    /// Entry call; `body` is the chare's message enum.
    Entry {
        to: Addr,
        #[serde(with = "crate::value::bytes")]
        body: Vec<u8>,
    },
    /// Entry call on every local element of a collection.
    Broadcast {
        coll: CollId,
        #[serde(with = "crate::value::bytes")]
        body: Vec<u8>,
    },
    /// Fulfil a future owned by the receiver.
    Future {
        id: u64,
        #[serde(with = "crate::value::bytes")]
        value: Vec<u8>,
    },
    /// A channel value.
    Channel {
        key: ChanKey,
        #[serde(with = "crate::value::bytes")]
        value: Vec<u8>,
    },
    /// A reduction partial on its way to the root.
    Reduce(WireContribution),
    /// Create this process's elements of a collection of chare type `chare`.
    Create {
        chare: u64,
        desc: CollDesc,
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
    /// Register a quiescence waiter (sent to PE 0).
    QdRegister(RawFuture),
    /// Quiescence wave: report your counters.
    QdProbe { round: u64 },
    /// Answer to a wave: (sent, handled, activity) and whether work is queued.
    QdReply { round: u64, counts: [u64; 3], busy: bool },
    /// Deadlock: report your waiting tasks.
    ReportRequest,
    /// Waiting tasks of one PE.
    ReportReply(Vec<String>),
    /// The job ends with this code.
    Exit { code: i32 },
}

/// What one MPI message carries: the sizes of the attachments that follow
/// it as their own messages (the memory of `Buffer`s), then the message.
#[derive(serde::Serialize, serde::Deserialize)]
pub(crate) struct Frame {
    pub att: Vec<crate::buffer::AttDesc>,
    pub wire: Wire,
}

impl Wire {
    /// Whether the message counts for quiescence detection.
    pub(crate) fn counted(&self) -> bool {
        !matches!(
            self,
            Wire::QdProbe { .. }
                | Wire::QdReply { .. }
                | Wire::ReportRequest
                | Wire::ReportReply(_)
                | Wire::Exit { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{decode, encode};

    #[test]
    fn round_trip() {
        let w = Wire::Channel {
            key: ChanKey { from: Addr { coll: 1, lin: 2 }, to: Addr { coll: 1, lin: 3 }, n: 0 },
            value: vec![1, 2, 3],
        };
        let b = encode(&w).unwrap();
        assert!(matches!(decode::<Wire>(&b).unwrap(), Wire::Channel { value, .. } if value == [1, 2, 3]));
    }

    /// Arbitrary bytes never crash the decoder: they decode or give an error.
    #[test]
    fn decoding_random_bytes_never_panics() {
        let n: usize = std::env::var("CHARE_FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut buf = Vec::with_capacity(64);
        let mut ok = 0usize;
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
            if decode::<Frame>(&buf).is_ok() {
                ok += 1;
            }
        }
        // Some inputs are valid messages: the fuzzer reaches past the tag.
        assert!(ok > 0, "no random input decoded");
    }
}
