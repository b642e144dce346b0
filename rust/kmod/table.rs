// SPDX-License-Identifier: GPL-2.0

//! [`Table`]: a fixed-length array in `kvmalloc` memory for the pool's hot metadata.

use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;
use kernel::prelude::*;

/// A `KVVec` whose length never changes again, kept as the slice it is.
///
/// A `KVVec` rebuilds its slice (`slice::from_raw_parts`, with its checks) on every access; the
/// allocator's fast paths index these arrays several times per operation, so the slice is made
/// once here.
///
/// # Invariants
///
/// `slice` is the initialised part of a `KVVec<T>` allocation of `capacity` elements that
/// this table owns.
pub(crate) struct Table<T> {
    slice: NonNull<[T]>,
    capacity: usize,
}

// SAFETY: A `Table<T>` owns its elements like a `KVVec<T>`.
unsafe impl<T: Send> Send for Table<T> {}
// SAFETY: As above; `&Table<T>` gives out `&[T]` only.
unsafe impl<T: Sync> Sync for Table<T> {}

impl<T> Table<T> {
    /// A table of `n` elements made by `f`.
    pub(crate) fn new(n: usize, mut f: impl FnMut() -> Result<T>) -> Result<Self> {
        let mut v = KVVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            v.push(f()?, GFP_KERNEL)?;
        }
        Ok(Self::from(v))
    }
}

impl<T> From<KVVec<T>> for Table<T> {
    fn from(v: KVVec<T>) -> Self {
        let (ptr, len, capacity) = v.into_raw_parts();
        // A `KVVec`'s pointer is never null (dangling when empty).
        let slice =
            NonNull::slice_from_raw_parts(NonNull::new(ptr).unwrap_or(NonNull::dangling()), len);
        // INVARIANT: `slice` is the initialised part of the vector's allocation.
        Self { slice, capacity }
    }
}

impl<T> Deref for Table<T> {
    type Target = [T];

    #[inline(always)]
    fn deref(&self) -> &[T] {
        // SAFETY: By the type invariant `slice` is initialised memory we own.
        unsafe { self.slice.as_ref() }
    }
}

impl<T> DerefMut for Table<T> {
    #[inline(always)]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: As above, and `&mut self` is exclusive.
        unsafe { self.slice.as_mut() }
    }
}

impl<T> Drop for Table<T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant these are the raw parts of a `KVVec<T>` we own.
        drop(unsafe {
            KVVec::from_raw_parts(
                self.slice.as_ptr().cast::<T>(),
                self.slice.len(),
                self.capacity,
            )
        });
    }
}
