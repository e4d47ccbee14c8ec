//! The text of a serialisation or decoding error.
//!
//! postcard keeps no text for errors that a type's own `Serialize` raises
//! (`S::Error::custom("...")`): it reports `Serde Serialization Error`. When
//! that happens, [`custom_text`] walks the value again with [`Probe`], a
//! serializer that writes nothing and keeps the first custom message, so
//! the report can say what the user's code said. Error path only.
//!
//! Decoding has the same loss (`Serde Deserialization Error` for a
//! `D::Error::custom("...")` in a type's own `Deserialize`, and for serde's
//! own `invalid value`, `unknown variant`, ... which go through `custom`).
//! [`custom_decode_text`] decodes the bytes again with [`Reader`], a
//! deserializer of postcard's wire format whose error keeps the text, and
//! so reaches the same failing `Deserialize`. Error path only too.

use serde::de::{self, DeserializeOwned, DeserializeSeed, IntoDeserializer, Visitor};
use serde::ser::{self, Serialize};
use std::fmt;

/// The message of the first custom error `v`'s `Serialize` raises, if any.
pub(crate) fn custom_text<T: Serialize + ?Sized>(v: &T) -> Option<String> {
    v.serialize(Probe).err().map(|e| e.0)
}

/// A custom error's text.
#[derive(Debug)]
pub(crate) struct Text(String);

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Text {}

impl ser::Error for Text {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        Text(msg.to_string())
    }
}

/// A serializer that visits everything and writes nothing.
struct Probe;

macro_rules! leaves {
    ($($f:ident: $t:ty),*) => {
        $(fn $f(self, _v: $t) -> Result<(), Text> { Ok(()) })*
    };
}

impl ser::Serializer for Probe {
    type Ok = ();
    type Error = Text;
    type SerializeSeq = Probe;
    type SerializeTuple = Probe;
    type SerializeTupleStruct = Probe;
    type SerializeTupleVariant = Probe;
    type SerializeMap = Probe;
    type SerializeStruct = Probe;
    type SerializeStructVariant = Probe;

    leaves!(serialize_bool: bool, serialize_i8: i8, serialize_i16: i16, serialize_i32: i32, serialize_i64: i64,
        serialize_i128: i128, serialize_u8: u8, serialize_u16: u16, serialize_u32: u32, serialize_u64: u64,
        serialize_u128: u128, serialize_f32: f32, serialize_f64: f64, serialize_char: char, serialize_str: &str,
        serialize_bytes: &[u8], serialize_unit_struct: &'static str);

    fn serialize_none(self) -> Result<(), Text> {
        Ok(())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<(), Text> {
        v.serialize(Probe)
    }
    fn serialize_unit(self) -> Result<(), Text> {
        Ok(())
    }
    fn serialize_unit_variant(self, _n: &'static str, _i: u32, _v: &'static str) -> Result<(), Text> {
        Ok(())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(self, _n: &'static str, v: &T) -> Result<(), Text> {
        v.serialize(Probe)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _n: &'static str,
        _i: u32,
        _v: &'static str,
        v: &T,
    ) -> Result<(), Text> {
        v.serialize(Probe)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Probe, Text> {
        Ok(Probe)
    }
    fn serialize_tuple(self, _len: usize) -> Result<Probe, Text> {
        Ok(Probe)
    }
    fn serialize_tuple_struct(self, _n: &'static str, _len: usize) -> Result<Probe, Text> {
        Ok(Probe)
    }
    fn serialize_tuple_variant(self, _n: &'static str, _i: u32, _v: &'static str, _len: usize) -> Result<Probe, Text> {
        Ok(Probe)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Probe, Text> {
        Ok(Probe)
    }
    fn serialize_struct(self, _n: &'static str, _len: usize) -> Result<Probe, Text> {
        Ok(Probe)
    }
    fn serialize_struct_variant(self, _n: &'static str, _i: u32, _v: &'static str, _len: usize) -> Result<Probe, Text> {
        Ok(Probe)
    }
}

macro_rules! compound {
    ($($tr:ident :: $m:ident),*) => {
        $(impl ser::$tr for Probe {
            type Ok = ();
            type Error = Text;
            fn $m<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Text> {
                v.serialize(Probe)
            }
            fn end(self) -> Result<(), Text> {
                Ok(())
            }
        })*
    };
}

compound!(
    SerializeSeq::serialize_element,
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

impl ser::SerializeMap for Probe {
    type Ok = ();
    type Error = Text;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, k: &T) -> Result<(), Text> {
        k.serialize(Probe)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Text> {
        v.serialize(Probe)
    }
    fn end(self) -> Result<(), Text> {
        Ok(())
    }
}

macro_rules! fields {
    ($($tr:ident),*) => {
        $(impl ser::$tr for Probe {
            type Ok = ();
            type Error = Text;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, _k: &'static str, v: &T) -> Result<(), Text> {
                v.serialize(Probe)
            }
            fn end(self) -> Result<(), Text> {
                Ok(())
            }
        })*
    };
}

fields!(SerializeStruct, SerializeStructVariant);

// ---------------------------------------------------------------------------
// Decoding.

/// The message of the custom error that decoding `bytes` as a `T` raises
/// (the text postcard dropped), if decoding fails with one.
pub(crate) fn custom_decode_text<T: DeserializeOwned>(bytes: &[u8]) -> Option<String> {
    match read::<T>(bytes) {
        Err(DeError::Custom(t)) => Some(t),
        _ => None,
    }
}

/// `bytes` decoded as a `T` by [`Reader`] (what postcard decodes, or the
/// error with its text). For tests of the reader against postcard.
#[cfg(test)]
pub(crate) fn probe_decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    read(bytes).map_err(|e| e.to_string())
}

/// `bytes` as a `T`; trailing bytes are an error (not a custom one).
fn read<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, DeError> {
    let mut r = Reader { input: bytes };
    let v = T::deserialize(&mut r)?;
    if r.input.is_empty() {
        Ok(v)
    } else {
        Err(DeError::Wire("trailing bytes"))
    }
}

/// A decoding error: a custom one, with its text, or one of the wire
/// format itself (which postcard reports with its own text already).
#[derive(Debug)]
enum DeError {
    Custom(String),
    Wire(&'static str),
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeError::Custom(t) => f.write_str(t),
            DeError::Wire(w) => f.write_str(w),
        }
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<M: fmt::Display>(msg: M) -> Self {
        DeError::Custom(msg.to_string())
    }
}

/// A deserializer of postcard 1.x's wire format (as its
/// `de/deserializer.rs` reads it): unsigned integers as varints (u8 as one
/// byte), signed ones zigzagged (i8 as one byte), floats little-endian,
/// bool and the option tag as one byte 0/1, str/bytes/char as a varint
/// length and the bytes, seq and map as a varint length and the elements,
/// tuples and structs as their fields in order, an enum as its variant
/// index (varint u32) and the variant's content; unit writes nothing.
struct Reader<'de> {
    input: &'de [u8],
}

impl<'de> Reader<'de> {
    fn pop(&mut self) -> Result<u8, DeError> {
        let (&b, rest) = self.input.split_first().ok_or(DeError::Wire("unexpected end of the bytes"))?;
        self.input = rest;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'de [u8], DeError> {
        if self.input.len() < n {
            return Err(DeError::Wire("unexpected end of the bytes"));
        }
        let (b, rest) = self.input.split_at(n);
        self.input = rest;
        Ok(b)
    }

    /// A varint of an integer of `bits` bits: 7 bits a byte, low first, the
    /// high bit set on every byte but the last; no more bytes than the
    /// width needs, and no bits beyond it in the last possible byte.
    fn varint(&mut self, bits: u32) -> Result<u128, DeError> {
        let max = bits.div_ceil(7);
        let last_max = (1u8 << (bits % 7)) - 1;
        let mut out = 0u128;
        for i in 0..max {
            let b = self.pop()?;
            out |= u128::from(b & 0x7F) << (7 * i);
            if b & 0x80 == 0 {
                if i == max - 1 && b > last_max {
                    break;
                }
                return Ok(out);
            }
        }
        Err(DeError::Wire("bad varint"))
    }

    fn len(&mut self) -> Result<usize, DeError> {
        Ok(self.varint(usize::BITS)? as usize)
    }

    fn zigzag(&mut self, bits: u32) -> Result<i128, DeError> {
        let n = self.varint(bits)?;
        Ok(((n >> 1) as i128) ^ -((n & 1) as i128))
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
}

impl<'de> de::Deserializer<'de> for &mut Reader<'de> {
    type Error = DeError;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, DeError> {
        Err(DeError::Wire("postcard is not self-describing"))
    }
    fn deserialize_identifier<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, DeError> {
        Err(DeError::Wire("postcard has no identifiers"))
    }
    fn deserialize_ignored_any<V: Visitor<'de>>(self, _v: V) -> Result<V::Value, DeError> {
        Err(DeError::Wire("postcard cannot skip a value"))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.pop()? {
            0 => v.visit_bool(false),
            1 => v.visit_bool(true),
            _ => Err(DeError::Wire("bad bool")),
        }
    }
    fn deserialize_i8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_i8(self.pop()? as i8)
    }
    fn deserialize_i16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_i16(self.zigzag(16)? as i16)
    }
    fn deserialize_i32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_i32(self.zigzag(32)? as i32)
    }
    fn deserialize_i64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_i64(self.zigzag(64)? as i64)
    }
    fn deserialize_i128<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_i128(self.zigzag(128)?)
    }
    fn deserialize_u8<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_u8(self.pop()?)
    }
    fn deserialize_u16<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_u16(self.varint(16)? as u16)
    }
    fn deserialize_u32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_u32(self.varint(32)? as u32)
    }
    fn deserialize_u64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_u64(self.varint(64)? as u64)
    }
    fn deserialize_u128<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_u128(self.varint(128)?)
    }
    fn deserialize_f32<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_f32(f32::from_le_bytes(self.array()?))
    }
    fn deserialize_f64<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_f64(f64::from_le_bytes(self.array()?))
    }
    fn deserialize_char<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let n = self.len()?;
        if n > 4 {
            return Err(DeError::Wire("bad char"));
        }
        let c = std::str::from_utf8(self.take(n)?).ok().and_then(|s| s.chars().next());
        v.visit_char(c.ok_or(DeError::Wire("bad char"))?)
    }
    fn deserialize_str<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let n = self.len()?;
        v.visit_borrowed_str(std::str::from_utf8(self.take(n)?).map_err(|_| DeError::Wire("bad UTF-8"))?)
    }
    fn deserialize_string<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let n = self.len()?;
        v.visit_str(std::str::from_utf8(self.take(n)?).map_err(|_| DeError::Wire("bad UTF-8"))?)
    }
    fn deserialize_bytes<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let n = self.len()?;
        v.visit_borrowed_bytes(self.take(n)?)
    }
    fn deserialize_byte_buf<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let n = self.len()?;
        v.visit_bytes(self.take(n)?)
    }
    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        match self.pop()? {
            0 => v.visit_none(),
            1 => v.visit_some(self),
            _ => Err(DeError::Wire("bad option tag")),
        }
    }
    fn deserialize_unit<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        v.visit_unit()
    }
    fn deserialize_unit_struct<V: Visitor<'de>>(self, _n: &'static str, v: V) -> Result<V::Value, DeError> {
        v.visit_unit()
    }
    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _n: &'static str, v: V) -> Result<V::Value, DeError> {
        v.visit_newtype_struct(self)
    }
    fn deserialize_seq<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let len = self.len()?;
        v.visit_seq(Elements { r: self, len })
    }
    fn deserialize_tuple<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, DeError> {
        v.visit_seq(Elements { r: self, len })
    }
    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _n: &'static str,
        len: usize,
        v: V,
    ) -> Result<V::Value, DeError> {
        v.visit_seq(Elements { r: self, len })
    }
    fn deserialize_map<V: Visitor<'de>>(self, v: V) -> Result<V::Value, DeError> {
        let len = self.len()?;
        v.visit_map(Elements { r: self, len })
    }
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _n: &'static str,
        fields: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        v.visit_seq(Elements { r: self, len: fields.len() })
    }
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, DeError> {
        if name == "BufferWire" && variants == ["Inline", "Attached"] {
            return v.visit_enum(BufferVariant(self));
        }
        v.visit_enum(self)
    }
}

/// The elements of a seq, tuple, struct or map (`len` of them, or pairs).
struct Elements<'a, 'de> {
    r: &'a mut Reader<'de>,
    len: usize,
}

impl<'de> de::SeqAccess<'de> for Elements<'_, 'de> {
    type Error = DeError;
    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>, DeError> {
        if self.len == 0 {
            return Ok(None);
        }
        self.len -= 1;
        seed.deserialize(&mut *self.r).map(Some)
    }
    fn size_hint(&self) -> Option<usize> {
        // As postcard: no more than the bytes left (a bad length must not
        // reserve memory).
        (self.len <= self.r.input.len()).then_some(self.len)
    }
}

impl<'de> de::MapAccess<'de> for Elements<'_, 'de> {
    type Error = DeError;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, DeError> {
        if self.len == 0 {
            return Ok(None);
        }
        self.len -= 1;
        seed.deserialize(&mut *self.r).map(Some)
    }
    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, DeError> {
        seed.deserialize(&mut *self.r)
    }
    fn size_hint(&self) -> Option<usize> {
        (self.len <= self.r.input.len()).then_some(self.len)
    }
}

impl<'de> de::EnumAccess<'de> for &mut Reader<'de> {
    type Error = DeError;
    type Variant = Self;
    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self), DeError> {
        let i = self.varint(32)? as u32;
        Ok((seed.deserialize(i.into_deserializer())?, self))
    }
}

impl<'de> de::VariantAccess<'de> for &mut Reader<'de> {
    type Error = DeError;
    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, DeError> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, DeError> {
        v.visit_seq(Elements { r: self, len })
    }
    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], v: V) -> Result<V::Value, DeError> {
        v.visit_seq(Elements { r: self, len: fields.len() })
    }
}

/// A `Buffer`'s wire form (`crate::buffer::BufferWire`). An attached
/// buffer's memory went to the first, failed decoding (which took it from
/// the message's attachments), so the reader skips the attachment's number
/// and gives an empty inline buffer instead: decoding goes on to the value
/// that failed rather than stopping at a "missing attachment".
struct BufferVariant<'a, 'de>(&'a mut Reader<'de>);

impl<'a, 'de> de::EnumAccess<'de> for BufferVariant<'a, 'de> {
    type Error = DeError;
    type Variant = BufferContent<'a, 'de>;
    fn variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<(S::Value, Self::Variant), DeError> {
        match self.0.varint(32)? as u32 {
            1 => {
                self.0.varint(32)?;
                Ok((seed.deserialize(0u32.into_deserializer())?, BufferContent::Empty))
            }
            i => Ok((seed.deserialize(i.into_deserializer())?, BufferContent::Wire(self.0))),
        }
    }
}

/// A `Buffer`'s content: on the wire, or empty (in place of an attachment).
enum BufferContent<'a, 'de> {
    Wire(&'a mut Reader<'de>),
    Empty,
}

impl<'de> de::VariantAccess<'de> for BufferContent<'_, 'de> {
    type Error = DeError;
    fn unit_variant(self) -> Result<(), DeError> {
        Ok(())
    }
    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, DeError> {
        match self {
            BufferContent::Wire(r) => seed.deserialize(r),
            BufferContent::Empty => seed.deserialize(de::value::BytesDeserializer::new(&[])),
        }
    }
    fn tuple_variant<V: Visitor<'de>>(self, len: usize, v: V) -> Result<V::Value, DeError> {
        match self {
            BufferContent::Wire(r) => de::VariantAccess::tuple_variant(r, len, v),
            BufferContent::Empty => Err(DeError::Wire("not a buffer")),
        }
    }
    fn struct_variant<V: Visitor<'de>>(self, fields: &'static [&'static str], v: V) -> Result<V::Value, DeError> {
        match self {
            BufferContent::Wire(r) => de::VariantAccess::struct_variant(r, fields, v),
            BufferContent::Empty => Err(DeError::Wire("not a buffer")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Refuses(&'static str);

    impl Serialize for Refuses {
        fn serialize<S: ser::Serializer>(&self, _s: S) -> Result<S::Ok, S::Error> {
            Err(ser::Error::custom(self.0))
        }
    }

    #[test]
    fn finds_the_users_text_deep_inside_a_value() {
        let v = (1u8, vec![Some(("a", Refuses("no NaN allowed")))]);
        assert_eq!(custom_text(&v).as_deref(), Some("no NaN allowed"));
        assert_eq!(custom_text(&(1u8, "fine")), None);
        // And through the real encoder: the text reaches the report.
        let e = crate::value::encode(&v).unwrap_err();
        assert!(e.contains("no NaN allowed"), "{e}");
    }

    // -- Decoding ------------------------------------------------------------

    use crate::value::{decode, encode};
    use rustc_hash::FxHashMap;
    use serde::{Deserialize, Deserializer, Serialize};
    use std::collections::BTreeMap;

    /// An even number: its `Deserialize` rejects odd ones with its own text.
    #[derive(Serialize, Debug, PartialEq)]
    struct Even(u32);

    impl<'de> Deserialize<'de> for Even {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            let n = u32::deserialize(d)?;
            if n % 2 == 1 {
                return Err(de::Error::custom(format_args!("{n} is odd, an Even must be even")));
            }
            Ok(Even(n))
        }
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    struct Holder {
        name: String,
        tag: Option<i8>,
        even: Even,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    enum Choice {
        Nothing,
        One(Even),
        Two(u8, Even),
        Named { before: i64, even: Even },
    }

    /// `v`'s bytes fail to decode as a `T`; the report has the user's text.
    fn fails_with_text<V: Serialize, T: DeserializeOwned + std::fmt::Debug>(v: &V, text: &str) {
        let b = encode(v).unwrap();
        assert!(postcard::from_bytes::<T>(&b).is_err_and(|e| e == postcard::Error::SerdeDeCustom));
        assert_eq!(custom_decode_text::<T>(&b).as_deref(), Some(text), "{}", std::any::type_name::<T>());
        let e = decode::<T>(&b).unwrap_err();
        assert_eq!(e, format!("malformed {}: {text}", std::any::type_name::<T>()));
    }

    #[test]
    fn decoding_finds_the_users_text_deep_inside_a_value() {
        let odd = "3 is odd, an Even must be even";
        fails_with_text::<_, Even>(&3u32, odd);
        fails_with_text::<_, Holder>(&("h".to_string(), Some(-1i8), 3u32), odd);
        fails_with_text::<_, Vec<Even>>(&vec![2u32, 4, 3, 6], odd);
        fails_with_text::<_, Option<Even>>(&Some(3u32), odd);
        fails_with_text::<_, (u8, Vec<Option<Holder>>)>(&(1u8, vec![None, Some(("x", None::<i8>, 3u32))]), odd);
        fails_with_text::<_, BTreeMap<String, Even>>(&BTreeMap::from([("a", 2u32), ("b", 3)]), odd);
        // Enum variants: newtype, tuple, struct.
        #[derive(Serialize)]
        enum Wire {
            _Nothing,
            One(u32),
            Two(u8, u32),
            Named { before: i64, even: u32 },
        }
        fails_with_text::<_, Choice>(&Wire::One(3), odd);
        fails_with_text::<_, Choice>(&Wire::Two(9, 3), odd);
        fails_with_text::<_, Vec<Choice>>(
            &vec![Wire::Named { before: -5, even: 4 }, Wire::Named { before: 1, even: 3 }],
            odd,
        );
        // serde's own errors go through `custom` too: a variant index out
        // of range.
        fails_with_text::<_, Choice>(&7u8, "invalid value: integer `7`, expected variant index 0 <= i < 4");
        // A value that decodes is no custom error; nor are the wire
        // format's own errors (postcard's text is kept for those).
        assert_eq!(custom_decode_text::<Holder>(&encode(&("h", None::<i8>, 4u32)).unwrap()), None);
        let b = encode(&("h", None::<i8>, 3u32)).unwrap();
        assert_eq!(custom_decode_text::<Holder>(&b[..b.len() - 1]), None);
        assert_eq!(
            decode::<Holder>(&b[..b.len() - 1]).unwrap_err(),
            format!("malformed {}: Hit the end of buffer, expected more data", std::any::type_name::<Holder>())
        );
    }

    #[test]
    fn buffers_do_not_stop_the_probe() {
        use crate::buffer::{collecting, providing, Buffer, RawBuf};
        let odd = "3 is odd, an Even must be even";
        // Inline buffers, then the failing value.
        fails_with_text::<_, (Buffer<f64>, Even)>(&(Buffer::from(vec![1.5f64, 2.5]), 3u32), odd);
        // A buffer's own error (bytes that are no vector of f64).
        fails_with_text::<_, Buffer<f64>>(&Buffer::from(vec![1u8; 7]), "7 bytes are not a vector of f64");
        // An attached buffer (as the MPI layer sends a large one): the first
        // decoding took its memory; the probe still reaches the failing
        // value after it, and does not panic.
        let v = (Buffer::from(vec![0.5f64; 4096]), 3u32);
        let (b, att) = collecting(|| encode(&v).unwrap());
        assert_eq!(att.len(), 1);
        let raws = att
            .iter()
            .map(|a| {
                let mut raw =
                    RawBuf::alloc(crate::buffer::AttDesc { bytes: a.bytes as u64, align: a.align as u32 }).unwrap();
                // SAFETY: `a.ptr` points at `a.bytes` readable bytes (owned by
                // `a.owner`, alive in `att`), the fresh allocation has as many.
                unsafe { std::ptr::copy_nonoverlapping(a.ptr, raw.as_mut_ptr().0, a.bytes) };
                raw
            })
            .collect();
        let e = providing(raws, || decode::<(Buffer<f64>, Even)>(&b)).unwrap_err();
        assert!(e.ends_with(odd), "{e}");
        assert_eq!(custom_decode_text::<(Buffer<f64>, Even)>(&b).as_deref(), Some(odd));
        // A good attached buffer decodes (empty) without error.
        let (b, _att) = collecting(|| encode(&(Buffer::from(vec![0.5f64; 4096]), 4u32)).unwrap());
        assert_eq!(custom_decode_text::<(Buffer<f64>, Even)>(&b), None);
    }

    // -- The reader against postcard -------------------------------------

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Unit;

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Newtype(i32);

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Pair(u16, Option<String>);

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    enum Shape {
        Empty,
        Circle(f64),
        Rect(u32, i64),
        Labelled { label: String, inner: Option<Box<Shape>> },
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Ints {
        a: u8,
        b: u16,
        c: u32,
        d: u64,
        e: u128,
        f: usize,
        g: i8,
        h: i16,
        i: i32,
        j: i64,
        k: i128,
        l: isize,
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct All {
        ints: Ints,
        x: f32,
        y: f64,
        flag: bool,
        c: char,
        s: String,
        #[serde(with = "crate::value::bytes")]
        raw: Vec<u8>,
        opt: Option<i32>,
        list: Vec<(i16, String)>,
        tree: BTreeMap<u32, Vec<i64>>,
        hash: FxHashMap<String, Shape>,
        shapes: Vec<Shape>,
        arr: [u16; 3],
        unit: (),
        u: Unit,
        n: Newtype,
        p: Pair,
        nested: Option<Vec<Option<(u64, Newtype)>>>,
    }

    /// A small deterministic generator (xorshift64*).
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        /// A number of `bits` bits, often at an edge of a varint's bytes.
        fn bits(&mut self, bits: u32) -> u128 {
            let r = (u128::from(self.next()) << 64) | u128::from(self.next());
            let v = match self.below(4) {
                0 => r,
                1 => r & 1u128.checked_shl(self.below(u64::from(bits)) as u32 + 1).map_or(u128::MAX, |m| m - 1),
                2 => (1u128 << (7 * self.below(u64::from(bits.div_ceil(7))))).wrapping_sub(self.below(2) as u128),
                _ => self.below(3) as u128,
            };
            if bits == 128 {
                v
            } else {
                v & ((1u128 << bits) - 1)
            }
        }
        fn string(&mut self) -> String {
            let n = self.below(6) as usize;
            (0..n).map(|_| ['a', 'Z', '7', ' ', 'é', '€', '😀', '\0'][self.below(8) as usize]).collect()
        }
        fn shape(&mut self, depth: u32) -> Shape {
            match self.below(if depth == 0 { 3 } else { 4 }) {
                0 => Shape::Empty,
                1 => Shape::Circle(self.float()),
                2 => Shape::Rect(self.bits(32) as u32, self.bits(64) as i64),
                _ => Shape::Labelled {
                    label: self.string(),
                    inner: (self.below(2) == 0).then(|| Box::new(self.shape(depth - 1))),
                },
            }
        }
        fn float(&mut self) -> f64 {
            let special =
                [0.0, -0.0, 1.5, -2.25e300, f64::MIN_POSITIVE, f64::INFINITY, f64::NEG_INFINITY, f64::EPSILON];
            match self.below(2) {
                0 => special[self.below(special.len() as u64) as usize],
                _ => (self.next() as i64) as f64 / 7.0,
            }
        }
        fn all(&mut self) -> All {
            let ints = Ints {
                a: self.bits(8) as u8,
                b: self.bits(16) as u16,
                c: self.bits(32) as u32,
                d: self.bits(64) as u64,
                e: self.bits(128),
                f: self.bits(usize::BITS) as usize,
                g: self.bits(8) as i8,
                h: self.bits(16) as i16,
                i: self.bits(32) as i32,
                j: self.bits(64) as i64,
                k: self.bits(128) as i128,
                l: self.bits(usize::BITS) as isize,
            };
            All {
                ints,
                x: self.float() as f32,
                y: self.float(),
                flag: self.below(2) == 1,
                c: ['a', 'é', '€', '😀', '\u{10FFFF}'][self.below(5) as usize],
                s: self.string(),
                raw: (0..self.below(5)).map(|_| self.next() as u8).collect(),
                opt: (self.below(2) == 0).then(|| self.bits(32) as i32),
                list: (0..self.below(4)).map(|_| (self.bits(16) as i16, self.string())).collect(),
                tree: (0..self.below(4))
                    .map(|_| (self.bits(32) as u32, (0..self.below(3)).map(|_| self.bits(64) as i64).collect()))
                    .collect(),
                hash: (0..self.below(3)).map(|_| (self.string(), self.shape(2))).collect(),
                shapes: (0..self.below(4)).map(|_| self.shape(3)).collect(),
                arr: [self.bits(16) as u16, self.bits(16) as u16, self.bits(16) as u16],
                unit: (),
                u: Unit,
                n: Newtype(self.bits(32) as i32),
                p: Pair(self.bits(16) as u16, (self.below(2) == 0).then(|| self.string())),
                nested: (self.below(3) != 0).then(|| {
                    (0..self.below(3))
                        .map(|_| (self.below(2) == 0).then(|| (self.bits(64) as u64, Newtype(self.bits(32) as i32))))
                        .collect()
                }),
            }
        }
    }

    /// The reader decodes what postcard decodes, to the same value.
    #[test]
    fn the_reader_decodes_like_postcard() {
        let mut g = Gen(0x9E37_79B9_7F4A_7C15);
        for _ in 0..2000 {
            let v = g.all();
            let b = encode(&v).unwrap();
            assert_eq!(postcard::from_bytes::<All>(&b).unwrap(), v);
            assert_eq!(probe_decode::<All>(&b).unwrap(), v);
        }
        // Edges of every integer width, alone.
        macro_rules! edges {
            ($($t:ty),*) => {$(
                for x in [<$t>::MIN, <$t>::MAX, 0 as $t, 1 as $t, <$t>::MAX / 2, <$t>::MIN / 2 + 1, 127u8 as $t, 128u8 as $t, 200u8 as $t] {
                    let b = encode(&x).unwrap();
                    assert_eq!(probe_decode::<$t>(&b).unwrap(), x, "{}", stringify!($t));
                }
            )*};
        }
        edges!(u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize);
        // NaN keeps its bits.
        let b = encode(&(f32::NAN, -f64::NAN)).unwrap();
        let (x, y) = probe_decode::<(f32, f64)>(&b).unwrap();
        assert_eq!((x.to_bits(), y.to_bits()), (f32::NAN.to_bits(), (-f64::NAN).to_bits()));
    }

    /// On any bytes, the reader and postcard agree: both decode the same
    /// value, or both fail, with a custom error for both or for neither.
    #[test]
    fn the_reader_fails_where_postcard_fails() {
        let mut g = Gen(0xD1B5_4A32_D192_ED03);
        let mut seen = [0usize; 3];
        for round in 0..20_000 {
            // Mutations of a real value's bytes, and plain noise.
            let mut b = encode(&g.all()).unwrap();
            if round % 4 == 0 {
                b = (0..g.below(40)).map(|_| g.next() as u8).collect();
            } else {
                for _ in 0..=g.below(3) {
                    let i = g.below(b.len() as u64) as usize;
                    match g.below(3) {
                        0 => b[i] = g.next() as u8,
                        1 => b.truncate(i),
                        _ => b.insert(i, g.next() as u8),
                    }
                    if b.is_empty() {
                        break;
                    }
                }
            }
            agree::<All>(&b, &mut seen);
            agree::<Vec<Shape>>(&b, &mut seen);
            agree::<(char, String, Option<bool>)>(&b, &mut seen);
            agree::<(u16, i128, u128, f32)>(&b, &mut seen);
        }
        // Overlong varints and values beyond their width.
        for b in [&[0xFF, 0xFF, 0x04][..], &[0x80, 0x80, 0x80, 0x80, 0x10], &[0xFF; 11], &[0x80; 20]] {
            agree::<u16>(b, &mut seen);
            agree::<u32>(b, &mut seen);
            agree::<u64>(b, &mut seen);
            agree::<i128>(b, &mut seen);
        }
        // All three outcomes happened.
        assert!(seen.iter().all(|&n| n > 100), "{seen:?}");
    }

    /// Postcard and the reader agree on `b` as a `T` (trailing bytes are an
    /// error for both, as in `value::decode`); values are compared by their
    /// bytes (NaN).
    fn agree<T: DeserializeOwned + Serialize + std::fmt::Debug>(b: &[u8], seen: &mut [usize; 3]) {
        let p = match postcard::take_from_bytes::<T>(b) {
            Ok((v, [])) => Ok(v),
            Ok(_) => Err(None),
            Err(e) => Err(Some(e)),
        };
        let r = read::<T>(b);
        match (&p, &r) {
            (Ok(x), Ok(y)) if encode(x) == encode(y) => seen[0] += 1,
            (Err(Some(postcard::Error::SerdeDeCustom)), Err(DeError::Custom(_))) => seen[1] += 1,
            (Err(e), Err(DeError::Wire(_))) if *e != Some(postcard::Error::SerdeDeCustom) => seen[2] += 1,
            _ => panic!("{}: postcard {p:?}, reader {r:?} on {b:?}", std::any::type_name::<T>()),
        }
    }
}
