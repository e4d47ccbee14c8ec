//! Values moving between PEs: as objects within a process, as bytes between
//! processes.
//!
//! Every value a message carries (entry arguments, channel values, future
//! values, reduction partials) is serialisable. Within a process it moves as
//! a boxed object ([`Value`]), never serialised. Between processes it travels
//! as postcard bytes and is decoded where its type is known again: by the
//! receiving chare, `recv::<T>`, `await` on a `Future<T>`, or the reduction
//! root. Decoding never trusts the bytes: a malformed value is an error.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::any::Any;

/// A typed value seen without its type.
pub(crate) trait Value: Send {
    fn as_any(&self) -> &dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
    /// Appends the value's postcard bytes to `out`.
    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), String>;
}

impl<T: Serialize + Send + 'static> Value for T {
    #[inline]
    fn as_any(&self) -> &dyn Any {
        self
    }
    #[inline]
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        self
    }
    fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), String> {
        encode_into(self, out)
    }
}

/// Serialises `v`.
pub(crate) fn encode<T: Serialize + ?Sized>(v: &T) -> Result<Vec<u8>, String> {
    // Start with room for a small message: growing from empty reallocates
    // several times (measured: 3 % of a small-message ping-pong in realloc).
    postcard::to_extend(v, Vec::with_capacity(128)).map_err(|e| encode_error(v, e))
}

/// The report of a failed serialisation: the type, and the text of the
/// type's own error when it raised one (postcard drops that text).
#[cold]
fn encode_error<T: Serialize + ?Sized>(v: &T, e: postcard::Error) -> String {
    let why = match e {
        postcard::Error::SerdeSerCustom => crate::ser_error::custom_text(v).unwrap_or_else(|| e.to_string()),
        e => e.to_string(),
    };
    format!("cannot serialise {}: {why}", std::any::type_name::<T>())
}

/// Serialises `v` at the end of `out` (which is left empty on error).
pub(crate) fn encode_into<T: Serialize + ?Sized>(v: &T, out: &mut Vec<u8>) -> Result<(), String> {
    match postcard::to_extend(v, std::mem::take(out)) {
        Ok(b) => {
            *out = b;
            Ok(())
        }
        Err(e) => Err(encode_error(v, e)),
    }
}

/// `v` through the wire format and back, `Buffer`s included (their bytes
/// copied as the MPI layer would move them): what the receiving process
/// would get. For `CHARE_CHECK_SERDE`.
pub(crate) fn round_trip<T: Serialize + DeserializeOwned>(v: &T) -> Result<T, String> {
    let mut out = Vec::new();
    let (r, att) = crate::buffer::collecting(|| encode_into(v, &mut out));
    r?;
    let raws = received_copies(&att)?;
    Encoded { bytes: Bytes::from_vec(out), att: raws }
        .decode::<T>()
        .map_err(|e| format!("a {} does not come back from the wire format: {e}", std::any::type_name::<T>()))
}

/// The attachments a receiving process would get for `att`: copies of their
/// bytes (the check mode's stand-in for MPI).
pub(crate) fn received_copies(att: &[crate::buffer::OutAttachment]) -> Result<Vec<crate::buffer::RawBuf>, String> {
    let mut raws = Vec::with_capacity(att.len());
    for a in att {
        let mut raw =
            crate::buffer::RawBuf::alloc(crate::buffer::AttDesc { bytes: a.bytes as u64, align: a.align as u32 })?;
        let (dst, len) = raw.as_mut_ptr();
        if len > 0 {
            // SAFETY: `a.ptr` points at `a.bytes` readable bytes owned by
            // `a.owner` (alive in `att`); `dst` at `len == a.bytes` writable
            // bytes of a fresh allocation; the two do not overlap.
            unsafe { std::ptr::copy_nonoverlapping(a.ptr, dst, len) };
        }
        raws.push(raw);
    }
    Ok(raws)
}

/// In the check mode (`CHARE_CHECK_SERDE`), `v` after [`round_trip`]; a
/// failure ends the job with `what` and the error and gives None. Outside
/// the check mode `v` itself. For typed values that the route sees only
/// type-erased (future values, broadcasts).
pub(crate) fn checked<T: Serialize + DeserializeOwned>(v: T, what: impl FnOnce() -> String) -> Option<T> {
    crate::scheduler::with_pe(|pe| {
        if !pe.shared.cfg.check_serde {
            return Some(v);
        }
        match round_trip(&v) {
            Ok(v) => Some(v),
            Err(e) => {
                pe.fail_usage(format!("CHARE_CHECK_SERDE: {}: {e}", what()));
                None
            }
        }
    })
}

/// Deserialises a `T`; trailing bytes are an error too.
pub(crate) fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match postcard::take_from_bytes::<T>(bytes) {
        Ok((v, [])) => Ok(v),
        Ok((_, rest)) => Err(format!("{} trailing bytes after a {}", rest.len(), std::any::type_name::<T>())),
        Err(e) => Err(decode_error::<T>(bytes, e)),
    }
}

/// The report of a failed decoding: the type, and the text of the error
/// the type's own `Deserialize` raised when it raised one (postcard drops
/// that text; [`crate::ser_error::custom_decode_text`] decodes again to
/// find it).
#[cold]
fn decode_error<T: DeserializeOwned>(bytes: &[u8], e: postcard::Error) -> String {
    let why = match e {
        postcard::Error::SerdeDeCustom => {
            crate::ser_error::custom_decode_text::<T>(bytes).unwrap_or_else(|| e.to_string())
        }
        e => e.to_string(),
    };
    format!("malformed {}: {why}", std::any::type_name::<T>())
}

/// Serde helpers for byte-string fields of wire messages: written with
/// `serialize_bytes` (one length and one copy) instead of serde's default for
/// `Vec<u8>` (one call per byte). Use as `#[serde(with = "crate::value::bytes")]`.
pub(crate) mod bytes {
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(v)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("bytes")
            }
            fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
                Ok(v.to_vec())
            }
            fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
                Ok(v)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Vec<u8>, A::Error> {
                let mut v = Vec::new();
                while let Some(b) = a.next_element::<u8>()? {
                    v.push(b);
                }
                Ok(v)
            }
        }
        d.deserialize_byte_buf(V)
    }
}

/// Values of up to this many bytes (most messages) are kept inline in
/// [`Bytes`], without an allocation.
pub(crate) const INLINE_BYTES: usize = 48;

/// A received value's bytes.
pub(crate) type Bytes = smallvec::SmallVec<[u8; INLINE_BYTES]>;

/// A value's bytes as they arrived from another process, with the memory of
/// the [`crate::Buffer`]s it contains (its attachments).
#[derive(Clone, Default)]
pub(crate) struct Encoded {
    pub bytes: Bytes,
    pub att: Vec<crate::buffer::RawBuf>,
}

impl Encoded {
    #[cfg(test)]
    pub(crate) fn plain(bytes: Vec<u8>) -> Encoded {
        Encoded { bytes: bytes.into(), att: Vec::new() }
    }

    /// Decodes a `T`, giving its buffers their attachments.
    pub(crate) fn decode<T: DeserializeOwned>(self) -> Result<T, String> {
        let Encoded { bytes, att } = self;
        crate::buffer::providing(att, || decode(&bytes))
    }
}

/// A value as it arrived: an object from this process or bytes from another.
pub(crate) enum Body {
    Obj(Box<dyn Value>),
    Bytes(Encoded),
}

impl Body {
    /// The value as a `T`.
    pub(crate) fn take<T: DeserializeOwned + 'static>(self) -> Result<T, String> {
        match self {
            Body::Obj(v) => v
                .into_any()
                .downcast::<T>()
                .map(|b| *b)
                .map_err(|_| format!("a value is not of the expected type {}", std::any::type_name::<T>())),
            Body::Bytes(b) => b.decode(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_and_bytes_give_the_same_value() {
        let v = (7u32, "x".to_string(), vec![1.5f64, 2.5]);
        let bytes = Body::Bytes(Encoded::plain(encode(&v).unwrap()));
        let obj = Body::Obj(Box::new(v.clone()));
        assert_eq!(bytes.take::<(u32, String, Vec<f64>)>().unwrap(), v);
        assert_eq!(obj.take::<(u32, String, Vec<f64>)>().unwrap(), v);
        assert!(Body::Obj(Box::new(1u8)).take::<u16>().is_err());
    }

    #[test]
    fn truncated_and_trailing_bytes_are_errors() {
        let b = encode(&(1u64, vec![1u8, 2, 3])).unwrap();
        assert!(decode::<(u64, Vec<u8>)>(&b[..b.len() - 1]).is_err());
        let mut longer = b.clone();
        longer.push(0);
        assert!(decode::<(u64, Vec<u8>)>(&longer).is_err());
    }

    /// A digit: its `Deserialize` rejects larger numbers with its own text.
    #[derive(Debug)]
    struct Digit(u8);

    impl<'de> serde::Deserialize<'de> for Digit {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            match <u8 as serde::Deserialize>::deserialize(d)? {
                n @ 0..=9 => Ok(Digit(n)),
                n => Err(serde::de::Error::custom(format_args!("a Digit is below 10, got {n}"))),
            }
        }
    }

    #[test]
    fn decoding_errors_name_the_type_and_keep_the_users_text() {
        let b = encode(&(1u8, vec![3u8, 12])).unwrap();
        let e = Body::Bytes(Encoded::plain(b)).take::<(u8, Vec<Digit>)>().unwrap_err();
        assert_eq!(e, format!("malformed {}: a Digit is below 10, got 12", std::any::type_name::<(u8, Vec<Digit>)>()));
        assert_eq!(decode::<Digit>(&[7]).unwrap().0, 7);
        // Errors of the wire format keep postcard's text.
        assert_eq!(decode::<bool>(&[2]).unwrap_err(), "malformed bool: Found a bool that wasn't 0 or 1");
        // Trailing bytes are counted.
        assert_eq!(decode::<u32>(&[7, 0, 0]).unwrap_err(), "2 trailing bytes after a u32");
    }
}
