//! Element indices of chare collections: 1 to 6 dimensions.

use std::fmt;

/// Largest number of dimensions an array index may have.
pub const MAX_DIMS: usize = 6;

/// The index of one element of a collection: a point in 1..=6 dimensions.
///
/// Groups and 1-D arrays use one dimension. Build an index from `usize`,
/// tuples `(i, j)`, `(i, j, k)` or arrays `[usize; N]`; read it with
/// [`Index::get`], [`Index::i`] (1-D) or [`Index::as_slice`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct Index {
    ndims: u8,
    coords: [u32; MAX_DIMS],
}

impl Index {
    /// An index from coordinates. Panics, at the caller's line, on 0 or more
    /// than [`MAX_DIMS`] dimensions and on a coordinate beyond `u32::MAX`.
    #[track_caller]
    pub fn new(coords: &[usize]) -> Index {
        assert!(
            !coords.is_empty() && coords.len() <= MAX_DIMS,
            "an index has 1 to {MAX_DIMS} dimensions, got {}",
            coords.len()
        );
        let mut c = [0u32; MAX_DIMS];
        for (d, &x) in coords.iter().enumerate() {
            // No closure here: a closure would not pass on the caller's location.
            c[d] = match u32::try_from(x) {
                Ok(x) => x,
                Err(_) => panic!("index coordinate {x} does not fit in 32 bits"),
            };
        }
        Index { ndims: coords.len() as u8, coords: c }
    }

    /// Number of dimensions.
    pub fn ndims(&self) -> usize {
        self.ndims as usize
    }

    /// Coordinate `d`. Panics, at the caller's line, if the index has no
    /// dimension `d`.
    #[track_caller]
    pub fn get(&self, d: usize) -> usize {
        assert!(d < self.ndims(), "dimension {d} of a {}-d index", self.ndims);
        self.coords[d] as usize
    }

    /// The coordinate of a 1-D index (the first coordinate otherwise).
    pub fn i(&self) -> usize {
        self.coords[0] as usize
    }

    /// All coordinates.
    pub fn as_slice(&self) -> &[u32] {
        &self.coords[..self.ndims()]
    }

    /// Row-major linear position of this index in an array of shape `dims`.
    pub(crate) fn linear(&self, dims: &[usize]) -> usize {
        debug_assert_eq!(dims.len(), self.ndims());
        let mut lin = 0usize;
        for (d, &n) in dims.iter().enumerate() {
            lin = lin * n + self.coords[d] as usize;
        }
        lin
    }

    /// The index at row-major position `lin` of an array of shape `dims`.
    pub(crate) fn from_linear(mut lin: usize, dims: &[usize]) -> Index {
        let mut c = [0u32; MAX_DIMS];
        for d in (0..dims.len()).rev() {
            c[d] = (lin % dims[d]) as u32;
            lin /= dims[d];
        }
        Index { ndims: dims.len() as u8, coords: c }
    }

    /// Whether the index lies inside an array of shape `dims`.
    pub(crate) fn within(&self, dims: &[usize]) -> bool {
        dims.len() == self.ndims() && dims.iter().zip(self.as_slice()).all(|(&n, &c)| (c as usize) < n)
    }
}

impl fmt::Debug for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Index {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.as_slice().iter().map(|c| c.to_string()).collect();
        write!(f, "{}", parts.join(","))
    }
}

// The conversions panic at the caller's line (`#[track_caller]`), through
// `Into` too: the standard library's `impl<T, U: From<T>> Into<U> for T` is
// `#[track_caller]` (Rust 1.78 and later).
impl From<usize> for Index {
    #[track_caller]
    fn from(i: usize) -> Index {
        Index::new(&[i])
    }
}
impl From<(usize, usize)> for Index {
    #[track_caller]
    fn from((i, j): (usize, usize)) -> Index {
        Index::new(&[i, j])
    }
}
impl From<(usize, usize, usize)> for Index {
    #[track_caller]
    fn from((i, j, k): (usize, usize, usize)) -> Index {
        Index::new(&[i, j, k])
    }
}
impl<const N: usize> From<[usize; N]> for Index {
    #[track_caller]
    fn from(c: [usize; N]) -> Index {
        Index::new(&c)
    }
}
impl From<&[usize]> for Index {
    #[track_caller]
    fn from(c: &[usize]) -> Index {
        Index::new(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linear_round_trip() {
        let dims = [3, 4, 5];
        for lin in 0..60 {
            let ix = Index::from_linear(lin, &dims);
            assert!(ix.within(&dims));
            assert_eq!(ix.linear(&dims), lin);
        }
        assert!(!Index::from((3, 0, 0)).within(&dims));
    }

    #[test]
    fn ordering_is_row_major() {
        let a = Index::from((0, 5));
        let b = Index::from((1, 0));
        assert!(a < b);
        assert_eq!(format!("{}", Index::from((2, 7))), "2,7");
    }
}
