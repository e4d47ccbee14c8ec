//! [`Buffer`] and [`SharedBuffer`]: vectors of plain numbers that travel
//! between processes as their own MPI message, received straight into the
//! vector's memory.
//!
//! How: when the MPI layer serialises a message, a large buffer does not
//! write its elements; it becomes an *attachment* (memory, length, and an
//! owner that keeps the memory alive and unchanged) and writes only its
//! index. The layer sends the message, then each attachment with `MPI_Isend`
//! from that memory, keeping the owner until the send completes. The owner
//! is a handle on the buffer's own reference-counted vector, so nothing is
//! copied, and the memory stays valid even if `Serialize` was handed a
//! temporary; it cannot change meanwhile either (a `SharedBuffer` is never
//! mutated, a `Buffer` copies its vector before a write while it is shared).
//! The receiver allocates memory with the element type's size and alignment
//! (both sent along), receives the attachment into it, and the buffer
//! decoded from the message takes that memory as its `Vec`. Within a process
//! buffers move (or share) like any value; elsewhere (no MPI layer) they
//! serialise their elements normally.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::alloc::Layout;
use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

mod sealed {
    pub trait Sealed {}
}

/// Element types a [`Buffer`] may hold: fixed-size numbers without padding,
/// whose every bit pattern is valid. Sealed.
pub trait Plain: sealed::Sealed + Copy + Send + Sync + Serialize + DeserializeOwned + 'static {}

macro_rules! plain {
    ($($t:ty),*) => {$( impl sealed::Sealed for $t {} impl Plain for $t {} )*};
}
plain!(u8, i8, u16, i16, u32, i32, u64, i64, u128, i128, f32, f64);

/// A `Vec<T>` of plain numbers that crosses processes without being
/// serialised element by element or copied: sent straight from its memory,
/// received straight into the receiver's vector (see the module docs).
/// Dereferences to the vector, mutably too.
///
/// Copy on write: the vector is reference-counted, so a clone is cheap and
/// a send holds a handle while MPI reads the memory; mutating a buffer whose
/// vector is shared (with a clone or a send in flight) first copies it.
///
/// ```
/// use chare::Buffer;
/// let mut a = Buffer::from(vec![1u32, 2, 3]);
/// let b = a.clone(); // shares the vector
/// a.push(4); // copies it first: `b` is unchanged
/// assert_eq!((a.len(), b.len()), (4, 3));
/// assert_eq!(b.into_vec(), vec![1, 2, 3]);
/// ```
#[derive(Clone, Default, PartialEq, Debug)]
pub struct Buffer<T: Plain>(std::sync::Arc<Vec<T>>);

impl<T: Plain> Buffer<T> {
    /// The vector: taken if this is the last handle, copied otherwise.
    pub fn into_vec(self) -> Vec<T> {
        std::sync::Arc::try_unwrap(self.0).unwrap_or_else(|a| (*a).clone())
    }
}

impl<T: Plain> From<Vec<T>> for Buffer<T> {
    fn from(v: Vec<T>) -> Self {
        Buffer(std::sync::Arc::new(v))
    }
}

impl<T: Plain> Deref for Buffer<T> {
    type Target = Vec<T>;
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T: Plain> DerefMut for Buffer<T> {
    /// Copies the vector first if it is shared (copy on write).
    fn deref_mut(&mut self) -> &mut Vec<T> {
        std::sync::Arc::make_mut(&mut self.0)
    }
}

/// Memory of one outgoing attachment: `bytes` bytes at `ptr`, inside memory
/// that `owner` owns and that nothing can change while `owner` lives (a copy
/// made for the send, or a `SharedBuffer`'s vector, which is never mutated
/// while shared). The MPI layer keeps `owner` until the send completed, so
/// the attachment stays valid whatever the message's `Serialize` did (it may
/// have serialised a temporary).
pub(crate) struct OutAttachment {
    pub ptr: *const u8,
    pub bytes: usize,
    /// Alignment of the element type.
    pub align: usize,
    pub owner: Box<dyn std::any::Any>,
}

/// Size and alignment of one attachment, sent ahead of it.
#[derive(serde::Serialize, serde::Deserialize, Clone, Copy, Debug)]
pub(crate) struct AttDesc {
    pub bytes: u64,
    pub align: u32,
}

/// Memory received for one attachment, allocated with the sender's element
/// alignment so that it can become a `Vec<T>` without a copy.
pub(crate) struct RawBuf {
    ptr: *mut u8,
    layout: Layout,
}

impl RawBuf {
    /// Uninitialised memory for `d` (checked: it came from another process).
    /// Invariant: it is read (`into_vec`, `clone`) only after it was filled
    /// completely (the MPI layer checks the received length first).
    pub(crate) fn alloc(d: AttDesc) -> Result<RawBuf, String> {
        let bytes = usize::try_from(d.bytes).map_err(|_| "attachment too large")?;
        let layout = Layout::from_size_align(bytes, d.align as usize)
            .map_err(|_| format!("bad attachment layout ({} bytes, alignment {})", d.bytes, d.align))?;
        if d.align > 16 {
            return Err(format!("bad attachment alignment {}", d.align));
        }
        if bytes == 0 {
            return Ok(RawBuf { ptr: std::ptr::null_mut(), layout });
        }
        // SAFETY: the layout has a non-zero size. Not zeroed: MPI overwrites
        // every byte, and zeroing would cost a pass over the memory.
        let ptr = unsafe { std::alloc::alloc(layout) };
        if ptr.is_null() {
            return Err(format!("cannot allocate {bytes} bytes for an attachment"));
        }
        Ok(RawBuf { ptr, layout })
    }

    /// The memory, for MPI to receive into (through a raw pointer: it is
    /// not initialised yet), and its length.
    pub(crate) fn as_mut_ptr(&mut self) -> (*mut u8, usize) {
        (self.ptr, self.layout.size())
    }

    fn into_vec<T: Plain>(mut self) -> Result<Vec<T>, String> {
        let size = std::mem::size_of::<T>();
        let n = self.layout.size() / size;
        if !self.layout.size().is_multiple_of(size) || self.layout.align() != std::mem::align_of::<T>() {
            return Err(format!(
                "attachment of {} bytes (alignment {}) is not a vector of {}",
                self.layout.size(),
                self.layout.align(),
                std::any::type_name::<T>()
            ));
        }
        if self.ptr.is_null() {
            return Ok(Vec::new());
        }
        let ptr = std::mem::replace(&mut self.ptr, std::ptr::null_mut());
        // SAFETY: `ptr` was allocated by the global allocator with exactly
        // `Layout::array::<T>(n)` (size n * size_of::<T>() and T's alignment,
        // checked above); its bytes were all written (struct invariant), and every bit pattern is
        // a valid `T` (`Plain`). Ownership moves to the Vec (ptr nulled here).
        Ok(unsafe { Vec::from_raw_parts(ptr as *mut T, n, n) })
    }
}

impl RawBuf {
    /// Alignment and a copy of the bytes (a value inside a migration message).
    pub(crate) fn to_moved(&self) -> (u32, Vec<u8>) {
        let bytes = if self.ptr.is_null() {
            Vec::new()
        } else {
            // SAFETY: `ptr` points at `layout.size()` initialised bytes owned
            // by this buffer (struct invariant: read only after filled).
            unsafe { std::slice::from_raw_parts(self.ptr, self.layout.size()) }.to_vec()
        };
        (self.layout.align() as u32, bytes)
    }

    /// A buffer from [`RawBuf::to_moved`]'s parts.
    pub(crate) fn from_moved(align: u32, data: Vec<u8>) -> Result<RawBuf, String> {
        let mut raw = RawBuf::alloc(AttDesc { bytes: data.len() as u64, align })?;
        let (dst, len) = raw.as_mut_ptr();
        if len > 0 {
            // SAFETY: `dst` is a fresh allocation of `len == data.len()` bytes.
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), dst, len) };
        }
        Ok(raw)
    }
}

// SAFETY: a RawBuf owns its allocation exclusively, like a `Vec<u8>`.
unsafe impl Send for RawBuf {}

impl Clone for RawBuf {
    fn clone(&self) -> RawBuf {
        let c = RawBuf::alloc(AttDesc { bytes: self.layout.size() as u64, align: self.layout.align() as u32 })
            .expect("same layout as an existing buffer");
        if !self.ptr.is_null() {
            // SAFETY: both regions are `layout.size()` bytes and distinct.
            unsafe { std::ptr::copy_nonoverlapping(self.ptr, c.ptr, self.layout.size()) };
        }
        c
    }
}

impl Drop for RawBuf {
    fn drop(&mut self) {
        if !self.ptr.is_null() {
            // SAFETY: allocated in `alloc` with `self.layout`, not yet given away.
            unsafe { std::alloc::dealloc(self.ptr, self.layout) };
        }
    }
}

thread_local! {
    /// While the MPI layer serialises a message: its attachments.
    static OUT: RefCell<Option<Vec<OutAttachment>>> = const { RefCell::new(None) };
    /// While a received value is decoded: the attachments of its message.
    static IN: RefCell<Option<Vec<Option<RawBuf>>>> = const { RefCell::new(None) };
}

/// Runs `f` (which serialises) collecting the attachments of every `Buffer`.
///
/// No guard restores the slots if `f` panics: a panic in serialisation is a
/// panic in user code on this PE, which ends the whole job.
pub(crate) fn collecting<R>(f: impl FnOnce() -> R) -> (R, Vec<OutAttachment>) {
    let prev = OUT.with(|o| o.borrow_mut().replace(Vec::new()));
    let r = f();
    let att = OUT.with(|o| std::mem::replace(&mut *o.borrow_mut(), prev)).unwrap_or_default();
    (r, att)
}

/// Runs `f` (which serialises) with every `Buffer` written inline, even
/// inside a message being encoded with attachments (values nested in a
/// migration message).
pub(crate) fn inline<R>(f: impl FnOnce() -> R) -> R {
    let prev = OUT.with(|o| o.borrow_mut().take());
    let r = f();
    OUT.with(|o| *o.borrow_mut() = prev);
    r
}

/// Sends a copy of a received attachment with the message being encoded
/// (a message forwarded to another process as it arrived).
pub(crate) fn reattach(raw: &RawBuf) {
    let copy = raw.clone();
    let (ptr, bytes, align) = (copy.ptr as *const u8, copy.layout.size(), copy.layout.align());
    OUT.with(|o| {
        if let Some(list) = o.borrow_mut().as_mut() {
            list.push(OutAttachment { ptr, bytes, align, owner: Box::new(copy) });
        }
    });
}

/// Runs `f` (which deserialises) with `att` available to `Buffer`s.
pub(crate) fn providing<R>(att: Vec<RawBuf>, f: impl FnOnce() -> R) -> R {
    if att.is_empty() {
        return f();
    }
    let prev = IN.with(|i| i.borrow_mut().replace(att.into_iter().map(Some).collect()));
    let r = f();
    IN.with(|i| *i.borrow_mut() = prev);
    r
}

/// Below this many bytes a buffer travels inside its message (one MPI
/// message instead of two); above, as an attachment.
const ATTACH_MIN: usize = 4096;

/// How a buffer is written: its memory as bytes inside the message, or the
/// index of an attachment. Both sides run the same binary on machines of one
/// byte order (MPI layer). (Written by hand in `serialize_plain`; read as
/// this enum.)
#[derive(Deserialize)]
#[serde(bound = "T: Plain")]
enum BufferWire<T: Plain> {
    Inline(InlineElems<T>),
    Attached(u32),
}

/// An inline buffer, read straight from the message's bytes: into a
/// [`Tiny`] when it fits (no allocation), otherwise into a vector aligned for
/// `T` (one allocation, one copy).
struct InlineElems<T: Plain>(Elems<T>);

/// A buffer's elements as they came off the wire.
enum Elems<T: Plain> {
    Tiny(Tiny<T>),
    Heap(Vec<T>),
}

impl<T: Plain> Elems<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            Elems::Tiny(t) => t.as_slice().to_vec(),
            Elems::Heap(v) => v,
        }
    }
}

impl<'de, T: Plain> Deserialize<'de> for InlineElems<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Plain> serde::de::Visitor<'de> for V<T> {
            type Value = Elems<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("the bytes of a buffer")
            }
            fn visit_bytes<E: serde::de::Error>(self, b: &[u8]) -> Result<Elems<T>, E> {
                match Tiny::from_bytes(b) {
                    Some(t) => Ok(Elems::Tiny(t)),
                    None => from_bytes(b).map(Elems::Heap).map_err(E::custom),
                }
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut a: A) -> Result<Elems<T>, A::Error> {
                let mut b = Vec::new();
                while let Some(x) = a.next_element::<u8>()? {
                    b.push(x);
                }
                from_bytes(&b).map(Elems::Heap).map_err(serde::de::Error::custom)
            }
        }
        d.deserialize_bytes(V(std::marker::PhantomData)).map(InlineElems)
    }
}

/// The memory of `v` as bytes.
fn as_bytes<T: Plain>(v: &[T]) -> &[u8] {
    // SAFETY: `T: Plain` are primitive numbers without padding, so every
    // byte of the slice is initialised; u8 has alignment 1.
    unsafe { std::slice::from_raw_parts(v.as_ptr() as *const u8, std::mem::size_of_val(v)) }
}

/// A vector of `T` from its bytes (copied into memory aligned for `T`).
fn from_bytes<T: Plain>(b: &[u8]) -> Result<Vec<T>, String> {
    let size = std::mem::size_of::<T>();
    if !b.len().is_multiple_of(size) {
        return Err(format!("{} bytes are not a vector of {}", b.len(), std::any::type_name::<T>()));
    }
    let n = b.len() / size;
    let mut v: Vec<T> = Vec::with_capacity(n);
    // SAFETY: the vector has capacity for `n` elements = `b.len()` bytes;
    // every bit pattern is a valid `T` (`Plain`), so after the copy the
    // first `n` elements are initialised.
    unsafe {
        std::ptr::copy_nonoverlapping(b.as_ptr(), v.as_mut_ptr() as *mut u8, b.len());
        v.set_len(n);
    }
    Ok(v)
}

/// Borrowed bytes, written like [`RawBytes`].
struct RawBytesRef<'a>(&'a [u8]);

impl Serialize for RawBytesRef<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

/// Writes `v` as a buffer: an attachment while the MPI layer collects
/// them and `v` is large, otherwise its bytes inline. `owned` gives the
/// attachment's owner and the address of `v`'s bytes inside it.
fn serialize_plain<T: Plain, S: Serializer>(
    v: &[T],
    owned: impl FnOnce() -> (Box<dyn std::any::Any>, *const u8),
    s: S,
) -> Result<S::Ok, S::Error> {
    let bytes = std::mem::size_of_val(v);
    // Small buffers go inline whatever the encoding: no look at the
    // thread-local list (the hot path of small messages).
    let index = if bytes < ATTACH_MIN {
        None
    } else {
        OUT.with(|o| {
            o.borrow_mut().as_mut().map(|list| {
                let (owner, ptr) = owned();
                list.push(OutAttachment { ptr, bytes, align: std::mem::align_of::<T>(), owner });
                (list.len() - 1) as u32
            })
        })
    };
    match index {
        Some(i) => s.serialize_newtype_variant("BufferWire", 1, "Attached", &i),
        None => s.serialize_newtype_variant("BufferWire", 0, "Inline", &RawBytesRef(as_bytes(v))),
    }
}

/// Reads what [`serialize_plain`] wrote.
fn deserialize_plain<'de, T: Plain, D: Deserializer<'de>>(d: D) -> Result<Elems<T>, D::Error> {
    match BufferWire::<T>::deserialize(d)? {
        BufferWire::Inline(InlineElems(e)) => Ok(e),
        BufferWire::Attached(i) => {
            let raw = IN.with(|a| a.borrow_mut().as_mut().and_then(|v| v.get_mut(i as usize)?.take()));
            let raw = raw.ok_or_else(|| serde::de::Error::custom(format!("missing attachment {i}")))?;
            raw.into_vec::<T>().map(Elems::Heap).map_err(serde::de::Error::custom)
        }
    }
}

/// An attachment owner holding a copy of `v`'s bytes, and their address.
fn copy_owner<T: Plain>(v: &[T]) -> (Box<dyn std::any::Any>, *const u8) {
    let c: Vec<u8> = as_bytes(v).to_vec();
    let ptr = c.as_ptr();
    (Box::new(c), ptr)
}

impl<T: Plain> Serialize for Buffer<T> {
    #[inline]
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // The attachment holds a handle on the vector: it stays alive, and
        // unchanged (a write through any other handle copies first), until
        // the send completed, even if `self` is a temporary.
        let handle = || (Box::new(self.0.clone()) as Box<dyn std::any::Any>, self.0.as_ptr() as *const u8);
        serialize_plain(&self.0, handle, s)
    }
}

impl<'de, T: Plain> Deserialize<'de> for Buffer<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_plain(d).map(|e| Buffer::from(e.into_vec()))
    }
}

/// Most bytes a `SharedBuffer` keeps inside its handle.
pub(crate) const TINY_BYTES: usize = 24;

/// Up to `TINY_BYTES` bytes of `T`s stored in place (8-aligned words).
///
/// Invariant (relied on by `as_slice`): `len * size_of::<T>() <= TINY_BYTES`,
/// `align_of::<T>() <= 8`, and the first `len * size_of::<T>()` bytes of
/// `words` were copied from `len` valid `T`s (any bit pattern is valid for a
/// `Plain` type, and the rest of `words` is zero).
#[derive(Clone, Copy)]
struct Tiny<T> {
    words: [u64; TINY_BYTES / 8],
    len: u8,
    _t: std::marker::PhantomData<T>,
}

impl<T: Plain> Tiny<T> {
    /// The elements of `v` in place, if they fit.
    #[inline]
    fn from_slice(v: &[T]) -> Option<Tiny<T>> {
        Tiny::from_bytes(as_bytes(v))
    }

    /// `b` as `T`s in place, if it fits and is a whole number of `T`s.
    #[inline]
    fn from_bytes(b: &[u8]) -> Option<Tiny<T>> {
        let size = std::mem::size_of::<T>();
        if b.len() > TINY_BYTES || std::mem::align_of::<T>() > 8 || !b.len().is_multiple_of(size) {
            return None;
        }
        let mut words = [0u64; TINY_BYTES / 8];
        // SAFETY: `b.len() <= TINY_BYTES` = the size of `words`; the two do
        // not overlap (`words` is a fresh local).
        unsafe { std::ptr::copy_nonoverlapping(b.as_ptr(), words.as_mut_ptr() as *mut u8, b.len()) };
        Some(Tiny { words, len: (b.len() / size) as u8, _t: std::marker::PhantomData })
    }

    #[inline]
    fn as_slice(&self) -> &[T] {
        // SAFETY: by the type's invariant `words` holds `len` valid `T`s from
        // its start, and is aligned to 8 >= `align_of::<T>()`.
        unsafe { std::slice::from_raw_parts(self.words.as_ptr() as *const T, self.len as usize) }
    }
}

/// A read-only vector of plain numbers, cheap to clone and to send without
/// any copy: a clone costs a reference count within a process, and across
/// processes the memory goes out as its own MPI message straight from the
/// vector, which the in-flight send keeps alive until it completed. The
/// receiver in another process gets its own vector, received straight into
/// fresh memory; when it holds the only handle, `into_vec` takes it.
///
/// The read-only counterpart of [`Buffer`] (which is copy-on-write): no
/// reference count at all below 4 KiB, so the cheapest type for small
/// payloads sent back and forth.
///
/// ```
/// use chare::SharedBuffer;
/// let a = SharedBuffer::from(vec![1.0f64; 1000]);
/// let b = a.clone(); // no copy
/// assert_eq!(a.as_ptr(), b.as_ptr());
/// assert_eq!(b.len(), 1000);
/// ```
///
/// Buffers below 4 KiB are not shared at all but copied when cloned (as
/// cheap as the reference count for so few bytes, and one allocation less
/// per message); up to 24 bytes live inside the handle itself,
/// so a clone, a send and a drop touch no allocator at all (a clone sent to
/// another PE would otherwise be allocated by one thread and freed by the
/// other, the allocator's slowest case).
#[derive(Clone)]
pub struct SharedBuffer<T: Plain>(SharedRepr<T>);

#[derive(Clone)]
enum SharedRepr<T: Plain> {
    /// At most `TINY_BYTES` bytes, inside the handle.
    Tiny(Tiny<T>),
    /// Fewer than `ATTACH_MIN` bytes: owned, copied on clone.
    Small(Vec<T>),
    /// Shared, never mutated.
    Shared(std::sync::Arc<Vec<T>>),
}

impl<T: Plain> SharedBuffer<T> {
    /// The vector: taken if this is the last handle, copied otherwise.
    pub fn into_vec(self) -> Vec<T> {
        match self.0 {
            SharedRepr::Tiny(t) => t.as_slice().to_vec(),
            SharedRepr::Small(v) => v,
            SharedRepr::Shared(a) => std::sync::Arc::try_unwrap(a).unwrap_or_else(|a| (*a).clone()),
        }
    }
}

impl<T: Plain + PartialEq> PartialEq for SharedBuffer<T> {
    fn eq(&self, other: &Self) -> bool {
        self[..] == other[..]
    }
}

impl<T: Plain + std::fmt::Debug> std::fmt::Debug for SharedBuffer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SharedBuffer").field(&&self[..]).finish()
    }
}

impl<T: Plain> Default for SharedBuffer<T> {
    fn default() -> Self {
        SharedBuffer(SharedRepr::Small(Vec::new()))
    }
}

impl<T: Plain> From<Vec<T>> for SharedBuffer<T> {
    fn from(v: Vec<T>) -> Self {
        if let Some(t) = Tiny::from_slice(&v) {
            SharedBuffer(SharedRepr::Tiny(t))
        } else if std::mem::size_of_val(v.as_slice()) < ATTACH_MIN {
            SharedBuffer(SharedRepr::Small(v))
        } else {
            SharedBuffer(SharedRepr::Shared(std::sync::Arc::new(v)))
        }
    }
}

impl<T: Plain> Deref for SharedBuffer<T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        match &self.0 {
            SharedRepr::Tiny(t) => t.as_slice(),
            SharedRepr::Small(v) => v,
            SharedRepr::Shared(a) => a,
        }
    }
}

impl<T: Plain> Serialize for SharedBuffer<T> {
    #[inline]
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            // Below the attachment size: written inline, no owner needed
            // (a copy if ever asked for).
            SharedRepr::Tiny(t) => serialize_plain(t.as_slice(), || copy_owner(t.as_slice()), s),
            SharedRepr::Small(v) => serialize_plain(v, || copy_owner(v), s),
            // The attachment holds a handle: the vector lives, unchanged (it
            // is never mutated while shared), until the send completed.
            SharedRepr::Shared(a) => {
                let handle = || (Box::new(a.clone()) as Box<dyn std::any::Any>, a.as_ptr() as *const u8);
                serialize_plain(a, handle, s)
            }
        }
    }
}

impl<'de, T: Plain> Deserialize<'de> for SharedBuffer<T> {
    #[inline]
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize_plain(d).map(|e| match e {
            Elems::Tiny(t) => SharedBuffer(SharedRepr::Tiny(t)),
            Elems::Heap(v) => SharedBuffer::from(v),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attachments_round_trip_without_serialising_elements() {
        let v: Buffer<f64> = (0..1000).map(|i| i as f64 * 0.5).collect::<Vec<_>>().into();
        let (bytes, att) = collecting(|| crate::value::encode(&(7u32, &v)).unwrap());
        assert!(bytes.len() < 16, "elements were not serialised inline");
        assert_eq!(att.len(), 1);
        assert_eq!(att[0].bytes, 8000);
        // The receiving side: allocate with the alignment, copy (MPI would
        // receive), decode.
        let mut raw = RawBuf::alloc(AttDesc { bytes: 8000, align: 8 }).unwrap();
        // SAFETY: (test) `att[0]` points into `v`, alive here, 8000 bytes.
        let src = unsafe { std::slice::from_raw_parts(att[0].ptr, att[0].bytes) };
        let (dst, len) = raw.as_mut_ptr();
        assert_eq!(len, src.len());
        // SAFETY: (test) `dst` owns `len` bytes, distinct from `src`.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, len) };
        let got: (u32, Buffer<f64>) = providing(vec![raw], || crate::value::decode(&bytes)).unwrap();
        assert!(got.0 == 7 && got.1 == v, "round trip changed the values");
    }

    /// A `Buffer` is attached without a copy, and a write to it after the
    /// send copies first: the memory MPI reads never changes.
    #[test]
    fn buffers_attach_without_copy_and_copy_on_write() {
        let mut v: Buffer<u32> = (0..3000).collect::<Vec<u32>>().into();
        let (_, att) = collecting(|| crate::value::encode(&v).unwrap());
        assert_eq!(att.len(), 1);
        assert_eq!(att[0].ptr, v.as_ptr() as *const u8, "the attachment is the buffer's own memory");
        v[0] = 77;
        v.push(1);
        assert_ne!(att[0].ptr, v.as_ptr() as *const u8, "the write went to a copy");
        // SAFETY: (test) the attachment's owner keeps its 12,000 bytes alive.
        let sent = unsafe { std::slice::from_raw_parts(att[0].ptr as *const u32, 3000) };
        assert!(sent.iter().enumerate().all(|(i, x)| *x == i as u32), "the sent memory changed");
    }

    #[test]
    fn shared_buffers_are_attached_from_the_senders_memory() {
        let v: SharedBuffer<u16> = (0..5000).collect::<Vec<u16>>().into();
        let (bytes, att) = collecting(|| crate::value::encode(&v).unwrap());
        assert_eq!(att.len(), 1);
        assert_eq!((att[0].ptr, att[0].bytes, att[0].align), (v.as_ptr() as *const u8, 10_000, 2));
        let mut raw = RawBuf::alloc(AttDesc { bytes: 10_000, align: 2 }).unwrap();
        let (dst, len) = raw.as_mut_ptr();
        // SAFETY: (test) `att[0]` points into `v`, alive here; `dst` owns `len` distinct bytes.
        unsafe { std::ptr::copy_nonoverlapping(att[0].ptr, dst, len) };
        let got: SharedBuffer<u16> = providing(vec![raw], || crate::value::decode(&bytes)).unwrap();
        assert_eq!(got, v);
        let small = SharedBuffer::from(vec![3u64, 4]);
        let (bytes, att) = collecting(|| crate::value::encode(&small).unwrap());
        assert!(att.is_empty());
        assert_eq!(crate::value::decode::<SharedBuffer<u64>>(&bytes).unwrap().into_vec(), vec![3, 4]);
    }

    #[test]
    fn small_buffers_travel_inside_their_message() {
        let v: Buffer<i32> = vec![-1, 2, -3].into();
        let (bytes, att) = collecting(|| crate::value::encode(&v).unwrap());
        assert!(att.is_empty());
        assert_eq!(crate::value::decode::<Buffer<i32>>(&bytes).unwrap(), v);
    }

    #[test]
    fn without_the_mpi_layer_buffers_serialise_inline() {
        let v: Buffer<u8> = vec![1, 2, 3].into();
        let b = crate::value::encode(&v).unwrap();
        assert_eq!(crate::value::decode::<Buffer<u8>>(&b).unwrap(), v);
    }

    /// Tiny shared buffers (up to `TINY_BYTES` bytes, in the handle) behave
    /// like the others: same contents after clone, encoding (with and
    /// without attachment collection) and `into_vec`, for every length
    /// around the limit and element types of every size and alignment.
    #[test]
    fn tiny_shared_buffers_hold_and_carry_their_elements() {
        fn check<T: Plain + PartialEq + std::fmt::Debug + From<u8>>() {
            for n in 0..=(TINY_BYTES / std::mem::size_of::<T>() + 2) {
                let v: Vec<T> = (0..n).map(|i| T::from(i as u8 + 1)).collect();
                let s = SharedBuffer::from(v.clone());
                let tiny = matches!(s.0, SharedRepr::Tiny(_));
                let fits = n * std::mem::size_of::<T>() <= TINY_BYTES && std::mem::align_of::<T>() <= 8;
                assert_eq!(tiny, fits, "{} x {}", n, std::any::type_name::<T>());
                assert_eq!(&s[..], &v[..]);
                assert_eq!(&s.clone()[..], &v[..]);
                let bytes = crate::value::encode(&s).unwrap();
                let back = crate::value::decode::<SharedBuffer<T>>(&bytes).unwrap();
                assert_eq!(back, s);
                assert_eq!(matches!(back.0, SharedRepr::Tiny(_)), fits);
                let (bytes, att) = collecting(|| crate::value::encode(&s).unwrap());
                assert!(att.is_empty());
                assert_eq!(crate::value::decode::<Buffer<T>>(&bytes).unwrap().to_vec(), v);
                assert_eq!(s.into_vec(), v);
            }
        }
        check::<u8>();
        check::<u16>();
        check::<u32>();
        check::<f64>();
        check::<u128>();
        assert_eq!(format!("{:?}", SharedBuffer::from(vec![1u8, 2])), "SharedBuffer([1, 2])");
    }

    #[test]
    fn a_missing_or_mistyped_attachment_is_an_error() {
        let v: Buffer<u32> = (0..2000).collect::<Vec<u32>>().into();
        let (bytes, _) = collecting(|| crate::value::encode(&v).unwrap());
        assert!(crate::value::decode::<Buffer<u32>>(&bytes).is_err());
        let raw = RawBuf::alloc(AttDesc { bytes: 8000, align: 1 }).unwrap();
        assert!(providing(vec![raw], || crate::value::decode::<Buffer<u32>>(&bytes)).is_err());
    }
}
