//! A value whose `Deserialize` fails with its own text: the job ends with a
//! usage error that carries the text (not postcard's `Serde Deserialization
//! Error`). Values are decoded only when they cross processes; the local
//! layer's check mode (`check_serde`) sends them through the wire format.

use chare::prelude::*;
use chare::{Config, JobError, Runtime};

/// An even number; odd ones are refused when decoded (they serialise fine).
#[derive(Clone, Debug)]
pub struct Even(pub u32);

impl serde::Serialize for Even {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Even {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = <u32 as serde::Deserialize>::deserialize(d)?;
        if n % 2 == 1 {
            return Err(serde::de::Error::custom(format_args!("{n} is odd, an Even must be even")));
        }
        Ok(Even(n))
    }
}

pub struct Taker;

#[chare]
impl Taker {
    fn new() -> Self {
        Taker
    }
    #[entry]
    fn take(&self, _v: (String, Vec<Option<Even>>)) {}
}

fn check_mode(pes: usize) -> Runtime {
    let mut cfg = Config::with_pes(pes);
    cfg.check_serde = true;
    Runtime::with_config(cfg)
}

#[test]
fn an_entry_argument_that_fails_to_decode_is_reported_with_its_text() {
    let outcome = check_mode(2).run(|rt| async move {
        let t = rt.array::<Taker>(2).create(());
        t.elem(1).take(("x".to_string(), vec![Some(Even(2)), None, Some(Even(7))]));
        std::future::pending::<()>().await;
    });
    match outcome {
        Err(JobError::Usage { message, .. }) => {
            assert!(message.contains("7 is odd, an Even must be even"), "{message}");
            assert!(!message.contains("Serde Deserialization Error"), "{message}");
        }
        other => panic!("expected a usage error, got {other:?}"),
    }
}

#[test]
fn a_future_value_that_fails_to_decode_is_reported_with_its_text() {
    let outcome = check_mode(1).run(|rt| async move {
        let f = rt.future::<Even>();
        f.set(Even(9));
        let _ = f.await;
    });
    match outcome {
        Err(JobError::Usage { message, .. }) => {
            assert!(message.contains("9 is odd, an Even must be even"), "{message}")
        }
        other => panic!("expected a usage error, got {other:?}"),
    }
}

#[test]
fn even_values_pass() {
    let outcome = check_mode(2).run(|rt| async move {
        let t = rt.array::<Taker>(2).create(());
        t.elem(1).take_ret(("x".to_string(), vec![Some(Even(2)), None])).await;
        let f = rt.future::<Even>();
        f.set(Even(4));
        assert_eq!(f.await.0, 4);
    });
    assert_eq!(outcome.unwrap(), 0);
}
