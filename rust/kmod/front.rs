// SPDX-License-Identifier: GPL-2.0

//! The per-CPU magazines: the fronts of the CPU caches, in per-CPU memory.
//!
//! Each CPU's [`Magazine`] is touched only by that CPU with interrupts disabled: by the API's
//! entry points in the C glue (which pass it to `api.rs` from a per-CPU variable), by the flush IPI,
//! and by the hotplug callback on a CPU going offline; and, once a CPU is dead, by the CPU that
//! runs its dead callback. Nothing else ever forms a reference to it.

use crate::{glue, pcpcore::magazine::Magazine};
use kernel::prelude::*;

/// The magazines of every possible CPU.
///
/// # Invariants
///
/// `ptr` is per-CPU memory from `glue::front_alloc` of one [`Magazine`] per CPU; the magazine of
/// every possible CPU `c < nr_cpus` is initialised, for CPU `c`.
pub(crate) struct Front {
    ptr: *mut c_void,
    nr_cpus: u32,
}

// SAFETY: The magazines are per-CPU data whose use is confined as the module documentation
// says; the handle itself is only a pointer.
unsafe impl Send for Front {}
// SAFETY: As above.
unsafe impl Sync for Front {}

impl Front {
    /// Empty magazines for the possible CPUs below `nr_cpus`.
    pub(crate) fn new(nr_cpus: u32) -> Result<Self> {
        let ptr = glue::front_alloc(size_of::<Magazine>(), align_of::<Magazine>());
        if ptr.is_null() {
            return Err(ENOMEM);
        }
        for cpu in (0..nr_cpus).filter(|&cpu| glue::cpu_possible(cpu)) {
            // SAFETY: `ptr` is per-CPU memory for every possible CPU, sized and aligned for a
            // `Magazine`, and not published yet: nobody else uses it.
            unsafe {
                glue::front_of(ptr, cpu)
                    .cast::<Magazine>()
                    .write(Magazine::new(cpu))
            };
        }
        // INVARIANT: every possible CPU's magazine was initialised above.
        Ok(Self { ptr, nr_cpus })
    }

    /// The per-CPU pointer the C glue publishes.
    pub(crate) fn as_percpu(&self) -> *mut c_void {
        self.ptr
    }

    /// The magazine of `cpu`, if it is a possible CPU.
    ///
    /// # Safety
    ///
    /// The caller is `cpu` with interrupts disabled, or `cpu` is dead (its dead callback runs),
    /// and no other reference to that magazine is live.
    pub(crate) unsafe fn magazine_of(&self, cpu: u32) -> Option<&mut Magazine> {
        if cpu >= self.nr_cpus || !glue::cpu_possible(cpu) {
            return None;
        }
        // SAFETY: Initialised for every possible CPU (type invariant); exclusive by the
        // caller's promise.
        Some(unsafe { &mut *glue::front_of(self.ptr, cpu).cast::<Magazine>() })
    }

    /// The magazine behind the pointer the C glue passed.
    ///
    /// # Safety
    ///
    /// `raw` is this CPU's magazine of a published pool, taken with interrupts disabled, which
    /// stay disabled while the returned reference lives.
    pub(crate) unsafe fn this_cpu<'a>(raw: *mut c_void) -> &'a mut Magazine {
        // SAFETY: By the caller's promise: this CPU's initialised magazine, which only this CPU
        // touches, and it cannot be interrupted.
        unsafe { &mut *raw.cast::<Magazine>() }
    }
}

impl Drop for Front {
    fn drop(&mut self) {
        // SAFETY: The owner (the pool) withdrew the magazines from the C glue before dropping
        // them, and nothing else holds the pointer.
        unsafe { glue::front_free(self.ptr) };
    }
}
