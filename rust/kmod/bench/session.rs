// SPDX-License-Identifier: GPL-2.0

//! What a run holds for its length: the benchmark slot and the pools' policy ([`Session`]) and
//! the CPUs ([`NoHotplug`]).

use super::Backend;
use crate::{nodes::NodePools, pcpcore::policy::Policy};
use core::sync::atomic::{
    AtomicBool,
    Ordering::{Acquire, Release},
};
use kernel::{bindings, prelude::*};

/// Only one benchmark runs at a time: it switches the pools' policy and drains their caches.
static RUNNING: AtomicBool = AtomicBool::new(false);

/// Holds the benchmark slot and the policy of every pool (one per node with `node=-1`: the API
/// calls of a run reach each CPU's own node's pool); restores the policy when dropped.
///
/// # Invariants
///
/// While a `Session` lives, `RUNNING` is true and this session set it.
pub(crate) struct Session<'a> {
    pools: &'a NodePools,
    /// The policy before the run: the first pool's, which every pool shares (the policy
    /// ioctl and debugfs file set all pools alike).
    saved: Policy,
}

impl<'a> Session<'a> {
    pub(crate) fn begin(pools: &'a NodePools, backend: Backend) -> Result<Self> {
        if RUNNING.swap(true, Acquire) {
            return Err(EBUSY);
        }
        // INVARIANT: we set `RUNNING` above.
        let session = Self {
            pools,
            saved: pools.first().core().policy(),
        };
        // Benchmarks need the pools to themselves: their counters and caches are part of the
        // measurement.
        if backend.is_pool() && pools.iter().any(|p| p.core().outstanding_pages() != 0) {
            return Err(EBUSY);
        }
        let mut policy = session.saved;
        policy.ownership = backend == Backend::Pool;
        for pool in pools.iter() {
            pool.core().set_policy(policy).map_err(|_| EINVAL)?;
        }
        // Every run starts from empty magazines and caches.
        session.drain();
        Ok(session)
    }

    pub(crate) fn drain(&self) {
        for pool in self.pools.iter() {
            pool.flush_magazines();
            for cpu in 0..pool.core().nr_cpus() {
                pool.core().drain_cpu(cpu);
            }
            pool.core().absorb_fragments_now();
        }
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        for pool in self.pools.iter() {
            let _ = pool.core().set_policy(self.saved);
        }
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
