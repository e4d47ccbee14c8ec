//! [`Erased`]: a value whose type is erased, stored inside the message when
//! it is small.
//!
//! Entry calls and channel values move between PEs of one process as typed
//! objects. Boxing each one would cost an allocation on the sender, a free
//! on the receiver (a cross-thread free, the slow case of most allocators),
//! and one more dependent cache miss on the receiver (queue slot, then the
//! box, then the value's own heap data). A value of up to [`INLINE`] bytes
//! (and at most pointer alignment) is therefore kept inline, in the queue
//! slot itself; a larger one is boxed.
//!
//! The type is recovered by [`Erased::take`], which compares `TypeId`s: the
//! receiving chare knows its message type. A table of functions per type
//! ([`ErasedVt`]) drops or encodes the value without knowing it.
//!
//! Soundness rests on one invariant, kept by [`Erased::new`] and relied on by
//! every `unsafe` block here: `vt` is the table of the type `T` the value was
//! created from, and `data` holds either that `T` itself (when `fits::<T>()`)
//! or a pointer from `Box::<T>::into_raw` (otherwise), and nothing else owns
//! it. `fits::<T>()` is a pure function of `T`, so writer and reader agree.

use serde::Serialize;
use std::any::TypeId;
use std::mem::{ManuallyDrop, MaybeUninit};

/// Bytes a value may have to travel inline.
pub(crate) const INLINE: usize = 64;

type Words = [usize; INLINE / std::mem::size_of::<usize>()];

/// Whether a `T` is stored inline.
const fn fits<T>() -> bool {
    std::mem::size_of::<T>() <= INLINE && std::mem::align_of::<T>() <= std::mem::align_of::<Words>()
}

/// What the holder of an erased value can do with it.
pub(crate) struct ErasedVt {
    type_id: fn() -> TypeId,
    type_name: fn() -> &'static str,
    /// Drops the value stored at `data`.
    drop: unsafe fn(*mut u8),
    /// Appends the value's postcard bytes to `out`.
    encode: unsafe fn(*const u8, &mut Vec<u8>) -> Result<(), String>,
}

trait VtOf {
    const VT: ErasedVt;
}

impl<T: Serialize + Send + 'static> VtOf for T {
    const VT: ErasedVt = ErasedVt {
        type_id: TypeId::of::<T>,
        type_name: std::any::type_name::<T>,
        drop: drop_value::<T>,
        encode: encode_value::<T>,
    };
}

/// A reference to the `T` that `data` holds.
///
/// # Safety
/// `data` points at the storage of an [`Erased`] created from a `T` (see the
/// module invariant) whose value was not taken or dropped.
unsafe fn value_ref<'a, T>(data: *const u8) -> &'a T {
    if fits::<T>() {
        // SAFETY: by the caller's contract the storage holds a `T` inline;
        // `Words` is aligned for it (`fits`).
        unsafe { &*(data as *const T) }
    } else {
        // SAFETY: by the caller's contract the storage holds a pointer from
        // `Box::<T>::into_raw`, still owned by the storage.
        unsafe { &**(data as *const *const T) }
    }
}

/// # Safety
/// As [`value_ref`]; the value is dropped and must not be used again.
unsafe fn drop_value<T>(data: *mut u8) {
    if fits::<T>() {
        // SAFETY: the storage holds a live `T` inline (caller's contract).
        unsafe { std::ptr::drop_in_place(data as *mut T) }
    } else {
        // SAFETY: the storage owns a pointer from `Box::<T>::into_raw`.
        drop(unsafe { Box::from_raw(*(data as *mut *mut T)) })
    }
}

/// # Safety
/// As [`value_ref`].
unsafe fn encode_value<T: Serialize>(data: *const u8, out: &mut Vec<u8>) -> Result<(), String> {
    // SAFETY: forwarded from the caller.
    crate::value::encode_into(unsafe { value_ref::<T>(data) }, out)
}

/// A `Serialize + Send` value of some type, inline when small.
pub(crate) struct Erased {
    vt: &'static ErasedVt,
    data: MaybeUninit<Words>,
}

// SAFETY: an `Erased` is only created from a `T: Send` (`Erased::new`), and
// owns that value (inline or boxed); moving it to another thread moves the
// `T`, which `T: Send` allows.
unsafe impl Send for Erased {}

impl Erased {
    /// Erases `v`'s type, keeping it inline if it fits.
    #[inline]
    pub(crate) fn new<T: Serialize + Send + 'static>(v: T) -> Erased {
        let mut data = MaybeUninit::<Words>::uninit();
        if fits::<T>() {
            // SAFETY: `T` fits in `Words` in size and alignment (`fits`); the
            // storage is fresh.
            unsafe { (data.as_mut_ptr() as *mut T).write(v) }
        } else {
            let b = Box::into_raw(Box::new(v));
            // SAFETY: a pointer fits in `Words` and is aligned for it.
            unsafe { (data.as_mut_ptr() as *mut *mut T).write(b) }
        }
        Erased { vt: &<T as VtOf>::VT, data }
    }

    /// The value as a `T`, or the value back if it is of another type.
    #[inline]
    pub(crate) fn take<T: 'static>(self) -> Result<T, Erased> {
        if (self.vt.type_id)() != TypeId::of::<T>() {
            return Err(self);
        }
        let me = ManuallyDrop::new(self);
        let p = me.data.as_ptr() as *const u8;
        if fits::<T>() {
            // SAFETY: the type ids match, so the storage holds a `T` inline
            // (module invariant); `me` is never dropped, so the `T` is moved
            // out exactly once.
            Ok(unsafe { std::ptr::read(p as *const T) })
        } else {
            // SAFETY: as above, the storage owns a `Box<T>` pointer, taken
            // back exactly once.
            Ok(*unsafe { Box::from_raw(std::ptr::read(p as *const *mut T)) })
        }
    }

    /// The name of the value's type, for error messages.
    pub(crate) fn type_name(&self) -> &'static str {
        (self.vt.type_name)()
    }

    /// Appends the value's postcard bytes to `out`, for another process.
    pub(crate) fn encode_into(&self, out: &mut Vec<u8>) -> Result<(), String> {
        // SAFETY: `vt` belongs to the type stored in `data` (module invariant)
        // and the value is live (not taken: `take` consumes `self`).
        unsafe { (self.vt.encode)(self.data.as_ptr() as *const u8, out) }
    }
}

impl Drop for Erased {
    fn drop(&mut self) {
        // SAFETY: the value is live (`take` consumes `self` without running
        // this), and `vt` belongs to its type.
        unsafe { (self.vt.drop)(self.data.as_mut_ptr() as *mut u8) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::rc::Rc;

    #[test]
    fn small_values_are_inline_large_ones_boxed() {
        assert!(fits::<(u64, Vec<u8>)>());
        // A chare's message enum whose largest call carries a vector, a
        // count, a future and its reply (56 bytes), or a 40-byte
        // `SharedBuffer` with a reply and the enum's tag, travels inline.
        assert!(fits::<(Vec<u8>, usize, crate::Future<u8>, Option<crate::Reply>)>());
        assert!(fits::<(crate::SharedBuffer<u8>, Option<crate::Reply>, u64)>());
        assert!(fits::<[u8; INLINE]>());
        assert!(!fits::<[u8; INLINE + 1]>());
        assert!(!fits::<u128>() || std::mem::align_of::<u128>() <= 8);
        assert!(fits::<()>());
    }

    #[test]
    fn values_come_back_as_they_went_in() {
        let v = (7u32, vec![1.5f64, 2.5], "x".to_string());
        assert_eq!(Erased::new(v.clone()).take::<(u32, Vec<f64>, String)>().ok(), Some(v));
        let big = [[3u64; 8]; 5];
        assert_eq!(Erased::new(big).take::<[[u64; 8]; 5]>().ok(), Some(big));
        assert_eq!(Erased::new(()).take::<()>().ok(), Some(()));
        #[derive(Serialize, PartialEq, Debug)]
        #[repr(align(64))]
        struct Aligned(u8);
        assert_eq!(Erased::new(Aligned(9)).take::<Aligned>().ok(), Some(Aligned(9)));
    }

    #[test]
    fn the_wrong_type_gives_the_value_back() {
        let e = Erased::new(5u16);
        let e = e.take::<u32>().err().expect("not a u32");
        assert!(e.type_name().contains("u16"));
        assert_eq!(e.take::<u16>().ok(), Some(5));
    }

    /// Every value is dropped exactly once: when the `Erased` drops, or by
    /// whoever took it.
    #[test]
    fn drops_once_inline_and_boxed() {
        #[derive(Serialize)]
        #[allow(dead_code)] // the fields are held for their drops
        struct Counted(#[serde(skip)] std::cell::Cell<u8>, #[serde(skip)] Option<Rc<()>>);
        // SAFETY (test only): the value never leaves this thread.
        unsafe impl Send for Counted {}
        let rc = Rc::new(());
        drop(Erased::new(Counted(Default::default(), Some(rc.clone()))));
        assert_eq!(Rc::strong_count(&rc), 1);
        let taken = Erased::new(Counted(Default::default(), Some(rc.clone()))).take::<Counted>().ok();
        assert_eq!(Rc::strong_count(&rc), 2);
        drop(taken);
        assert_eq!(Rc::strong_count(&rc), 1);
        #[derive(Serialize)]
        #[allow(dead_code)] // the fields are held for their drops
        struct Big(#[serde(skip)] Option<Rc<()>>, [u64; 16]);
        // SAFETY (test only): as above.
        unsafe impl Send for Big {}
        drop(Erased::new(Big(Some(rc.clone()), [0; 16])));
        assert_eq!(Rc::strong_count(&rc), 1);
        let wrong = Erased::new(Big(Some(rc.clone()), [0; 16])).take::<u8>();
        assert!(wrong.is_err());
        drop(wrong);
        assert_eq!(Rc::strong_count(&rc), 1);
    }

    #[test]
    fn encodes_like_the_value() {
        let v = (1u8, vec![2u32, 3], [4u64; 10]);
        let mut a = Vec::new();
        Erased::new(v.clone()).encode_into(&mut a).unwrap();
        assert_eq!(a, crate::value::encode(&v).unwrap());
    }
}
