//! `iwait`: handle whichever of several awaitables is ready first.
//!
//! Each item is yielded once, with its position in the input and its value.
//! Items ready when `next` is called are yielded in input order; otherwise the
//! first to become ready is yielded first (Charm4Py's `charm.iwait`).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Waits on several futures (chare futures, channel receives, ...) and yields
/// each as it becomes ready. See [`iwait`].
#[must_use = "iwait does nothing unless next() is awaited"]
pub struct Iwait<F> {
    items: Vec<Option<F>>,
    left: usize,
}

/// Yields each of `items` once, as each becomes ready:
///
/// ```ignore
/// let mut it = chare::iwait(chans.iter().map(|c| c.recv()));
/// while let Some((i, halo)) = it.next().await { unpack(i, halo); }
/// ```
pub fn iwait<F: Future + Unpin>(items: impl IntoIterator<Item = F>) -> Iwait<F> {
    let items: Vec<Option<F>> = items.into_iter().map(Some).collect();
    let left = items.len();
    Iwait { items, left }
}

#[allow(clippy::should_implement_trait)] // async: `next` returns a future, as in streams
impl<F: Future + Unpin> Iwait<F> {
    /// The next ready item as (position, value); `None` when all were yielded.
    pub fn next(&mut self) -> Next<'_, F> {
        Next { it: self }
    }

    /// How many items are still to be yielded.
    pub fn remaining(&self) -> usize {
        self.left
    }
}

/// Future returned by [`Iwait::next`].
pub struct Next<'a, F> {
    it: &'a mut Iwait<F>,
}

impl<F: Future + Unpin> Future for Next<'_, F> {
    type Output = Option<(usize, F::Output)>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let it = &mut *self.it;
        if it.left == 0 {
            return Poll::Ready(None);
        }
        for (i, slot) in it.items.iter_mut().enumerate() {
            if let Some(f) = slot {
                if let Poll::Ready(v) = Pin::new(f).poll(cx) {
                    *slot = None;
                    it.left -= 1;
                    return Poll::Ready(Some((i, v)));
                }
            }
        }
        Poll::Pending
    }
}

/// Waits for all of several futures (chare futures, channel receives, ...)
/// and gives their values in input order (Charm4Py's `charm.wait(objs)`,
/// which returns nothing: here the values come back, as from a join). See
/// [`wait_all`].
#[must_use = "wait_all does nothing unless it is awaited"]
pub struct WaitAll<F: Future> {
    items: Vec<Option<F>>,
    done: Vec<Option<F::Output>>,
    left: usize,
}

/// Waits until every one of `items` is ready; their values, in input order:
///
/// ```ignore
/// let sums: Vec<u64> = chare::wait_all(vec![f1, f2, f3]).await;
/// ```
///
/// Every item is polled as it wakes, so values do not wait for the ones
/// before them. An empty input is ready at once.
pub fn wait_all<F: Future + Unpin>(items: impl IntoIterator<Item = F>) -> WaitAll<F> {
    let items: Vec<Option<F>> = items.into_iter().map(Some).collect();
    let left = items.len();
    let done = (0..left).map(|_| None).collect();
    WaitAll { items, done, left }
}

impl<F: Future + Unpin> Unpin for WaitAll<F> {}

impl<F: Future + Unpin> Future for WaitAll<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let me = &mut *self;
        for (slot, out) in me.items.iter_mut().zip(me.done.iter_mut()) {
            if let Some(f) = slot {
                if let Poll::Ready(v) = Pin::new(f).poll(cx) {
                    *slot = None;
                    *out = Some(v);
                    me.left -= 1;
                }
            }
        }
        if me.left > 0 {
            return Poll::Pending;
        }
        Poll::Ready(std::mem::take(&mut me.done).into_iter().map(|v| v.expect("every item is ready")).collect())
    }
}
