// SPDX-License-Identifier: GPL-2.0

//! What a run holds for its length: the benchmark slot and the pool's policy ([`Session`]) and
//! the CPUs ([`NoHotplug`]).

use super::Backend;
use crate::{kernel_pool::KernelPool, pcpcore::policy::Policy};
use core::sync::atomic::{
    AtomicBool,
    Ordering::{Acquire, Release},
};
use kernel::{bindings, prelude::*};

/// Only one benchmark runs at a time: it switches the pool's policy and drains its caches.
static RUNNING: AtomicBool = AtomicBool::new(false);

/// Holds the benchmark slot and the pool's policy; restores the policy when dropped.
///
/// # Invariants
///
/// While a `Session` lives, `RUNNING` is true and this session set it.
pub(crate) struct Session<'a> {
    pool: &'a KernelPool,
    saved: Policy,
}

impl<'a> Session<'a> {
    pub(crate) fn begin(pool: &'a KernelPool, backend: Backend) -> Result<Self> {
        if RUNNING.swap(true, Acquire) {
            return Err(EBUSY);
        }
        // INVARIANT: we set `RUNNING` above.
        let session = Self {
            pool,
            saved: pool.core().policy(),
        };
        // Benchmarks need the pool to themselves: its counters and caches are part of the
        // measurement.
        if backend.is_pool() && pool.core().outstanding_pages() != 0 {
            return Err(EBUSY);
        }
        let mut policy = session.saved;
        policy.ownership = backend == Backend::Pool;
        pool.core().set_policy(policy).map_err(|_| EINVAL)?;
        // Every run starts from empty magazines and caches.
        session.drain();
        Ok(session)
    }

    pub(crate) fn drain(&self) {
        self.pool.flush_magazines();
        for cpu in 0..self.pool.core().nr_cpus() {
            self.pool.core().drain_cpu(cpu);
        }
        self.pool.core().absorb_fragments_now();
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = self.pool.core().set_policy(self.saved);
        RUNNING.store(false, Release);
    }
}

/// Keeps CPUs from going offline (`cpus_read_lock()`) for the length of a run: every thread is
/// bound to a CPU checked online, and must stay runnable until it is stopped.
///
/// # Invariants
///
/// While a `NoHotplug` lives, the thread that made it holds `cpus_read_lock()` once for it.
pub(crate) struct NoHotplug;

impl NoHotplug {
    pub(crate) fn new() -> Self {
        // SAFETY: Process context (the ioctl); released in `drop`.
        unsafe { bindings::cpus_read_lock() };
        // INVARIANT: taken just above.
        NoHotplug
    }
}

impl Drop for NoHotplug {
    fn drop(&mut self) {
        // SAFETY: Taken in `new`, by the type invariant.
        unsafe { bindings::cpus_read_unlock() };
    }
}
