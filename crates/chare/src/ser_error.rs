//! The text of a serialisation error.
//!
//! postcard keeps no text for errors that a type's own `Serialize` raises
//! (`S::Error::custom("...")`): it reports `Serde Serialization Error`. When
//! that happens, [`custom_text`] walks the value again with [`Probe`], a
//! serializer that writes nothing and keeps the first custom message, so
//! the report can say what the user's code said. Error path only.

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
}
