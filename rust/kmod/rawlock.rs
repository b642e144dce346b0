// SPDX-License-Identifier: GPL-2.0

//! [`RawSpinLockIrq`]: a `raw_spinlock_t` taken with interrupts disabled, the pool's locks.
//!
//! Raw, because the pool serves hard-IRQ context (its API, and the IPI that asks every CPU to
//! return its magazine): a `spinlock_t` is a sleeping lock on `PREEMPT_RT`, and lockdep
//! (`PROVE_RAW_LOCK_NESTING`) reports one taken in hard-IRQ context as an invalid wait context.
//! Nothing sleeps or takes another kind of lock under these (only the cache lock, then the
//! global lock inside it), and the sections are bounded: a refill or flush moves at most a
//! batch, and the longest, a drain of a whole cache, walks only that cache's blocks.
//!
//! Linux 7.3's Rust crate has no raw spinlock; this is a [`Backend`] for its generic [`Lock`],
//! the lock calls in the C glue (`raw_spin_lock_irqsave()` and friends are macros).

use crate::glue;
use kernel::{
    bindings,
    prelude::*,
    sync::lock::{Backend, Lock},
};

/// A `raw_spinlock_t` that disables interrupts while held (`raw_spin_lock_irqsave()`).
pub(crate) type RawSpinLockIrq<T> = Lock<T, RawSpinLockIrqBackend>;

/// Creates a [`RawSpinLockIrq`] initialiser with its own lock class named `$name`.
macro_rules! new_raw_spinlock_irq {
    ($inner:expr, $name:literal) => {
        $crate::rawlock::RawSpinLockIrq::new(
            $inner,
            kernel::c_str!($name),
            kernel::static_lock_class!(),
        )
    };
}
pub(crate) use new_raw_spinlock_irq;

/// The [`Backend`] of [`RawSpinLockIrq`]. The guard keeps the saved interrupt flags.
pub(crate) struct RawSpinLockIrqBackend;

// SAFETY: The lock and unlock calls are `raw_spin_lock_irqsave()` and
// `raw_spin_unlock_irqrestore()` on the initialised `raw_spinlock_t`: they provide mutual
// exclusion, and the flags saved by one are restored by the matching unlock.
unsafe impl Backend for RawSpinLockIrqBackend {
    type State = bindings::raw_spinlock_t;
    type GuardState = c_ulong;

    unsafe fn init(ptr: *mut Self::State, name: *const c_char, key: *mut bindings::lock_class_key) {
        // SAFETY: By the trait's contract, `ptr` is valid for writes and `name` and `key` live
        // forever.
        unsafe { glue::raw_lock_init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: By the trait's contract, the lock is initialised.
        unsafe { glue::raw_lock_irqsave(ptr) }
    }

    unsafe fn try_lock(ptr: *mut Self::State) -> Option<Self::GuardState> {
        let mut flags = 0;
        // SAFETY: By the trait's contract, the lock is initialised; `flags` is writable.
        unsafe { glue::raw_trylock_irqsave(ptr, &mut flags) }.then_some(flags)
    }

    unsafe fn unlock(ptr: *mut Self::State, guard_state: &Self::GuardState) {
        // SAFETY: By the trait's contract, the caller holds the lock, taken with these flags.
        unsafe { glue::raw_unlock_irqrestore(ptr, *guard_state) }
    }

    unsafe fn assert_is_held(ptr: *mut Self::State) {
        // SAFETY: By the trait's contract, the lock is initialised.
        unsafe { glue::raw_lock_assert_held(ptr) }
    }
}
