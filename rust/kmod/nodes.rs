// SPDX-License-Identifier: GPL-2.0

//! The module's pools: one (the default, or `node=N`), or one per NUMA node with memory
//! (`node=-1`), each a whole [`KernelPool`] with its own blocks, caches and per-CPU magazines.
//!
//! * Allocation: the C glue's entry points use, per CPU, the pool of the CPU's node (resolved
//!   once at load: `cpu_to_node()`, or the nearest pool for a CPU of a memoryless node) and the
//!   CPU's magazine of it. When that pool has nothing, the allocation falls back to the other
//!   pools, nearest first (`node_distance()`, ties by node id), and counts `node_fallbacks` in
//!   the local pool's statistics of the CPU.
//! * Free: a page goes back to the pool that owns it, whichever CPU frees it: a page that is
//!   not the local pool's is looked up in the others (a range check each, no `struct page`
//!   read) and freed through this CPU's magazine of its owner, whose owner routing then works
//!   as within any pool. The local case costs nothing more than with a single pool.

use crate::{
    glue,
    kernel_pool::{Config, KernelPool},
    pcpcore::geometry::PageIndex,
    uapi,
};
use core::sync::atomic::{AtomicPtr, Ordering};
use kernel::{bindings, prelude::*};

/// `node=` value for one pool per node with memory.
pub(crate) const NODE_EACH: i32 = -1;
/// `node=` default: one pool, memory from any node (the module's behaviour before NUMA).
pub(crate) const NODE_ANY: i32 = -2;

/// The module's pools.
///
/// # Invariants
///
/// `pools` is not empty and holds at most one pool per node, in ascending node order;
/// `pools[i].slot() == i`. `fallback[i]` lists every slot but `i`, nearest node
/// to `pools[i]`'s first.
pub(crate) struct NodePools {
    pools: KVec<KBox<KernelPool>>,
    fallback: KVec<KVec<usize>>,
    per_node: bool,
}

/// The published pools, or null while the module is not (or no longer) live.
///
/// A `core` atomic rather than `kernel::sync::atomic::Atomic`: the latter goes through an
/// out-of-line C helper on every access in 7.3. (The API's fast path does not load it: the C
/// glue passes it the CPU's pool.)
static POOLS: AtomicPtr<NodePools> = AtomicPtr::new(core::ptr::null_mut());

impl NodePools {
    /// Reserves the pool `config` describes, or with `per_node` one such pool (of `size_mb`)
    /// on every node with memory.
    pub(crate) fn new(config: Config, per_node: bool) -> Result<KBox<Self>> {
        let mut pools = KVec::new();
        if per_node {
            for nid in (0..glue::nr_node_ids()).filter(|&nid| glue::node_has_memory(nid)) {
                let config = Config {
                    node: nid,
                    strict: true,
                    ..config
                };
                pools.push(KernelPool::new(config)?, GFP_KERNEL)?;
            }
        } else {
            pools.push(KernelPool::new(config)?, GFP_KERNEL)?;
        }
        if pools.is_empty() {
            return Err(ENODEV);
        }
        let siblings = pools.len() - 1;
        for (slot, pool) in pools.iter_mut().enumerate() {
            pool.set_slot(slot, siblings);
        }
        let mut fallback = KVec::with_capacity(pools.len(), GFP_KERNEL)?;
        for pool in pools.iter() {
            let distance = |slot: usize| glue::node_distance(pool.node(), pools[slot].node());
            let mut others: KVec<usize> = KVec::with_capacity(pools.len(), GFP_KERNEL)?;
            // Insertion by distance (a handful of nodes; `sort` would bring panic paths):
            // equal distances keep ascending node order, as slots are in node order.
            for slot in (0..pools.len()).filter(|&slot| pools[slot].node() != pool.node()) {
                let at = others
                    .iter()
                    .position(|&other| distance(other) > distance(slot))
                    .unwrap_or(others.len());
                others
                    .insert_within_capacity(at, slot)
                    .map_err(|_| ENOMEM)?;
            }
            fallback.push(others, GFP_KERNEL)?;
        }
        // INVARIANT: one pool, or one per node in ascending order; every other slot listed.
        Ok(KBox::new(
            Self {
                pools,
                fallback,
                per_node,
            },
            GFP_KERNEL,
        )?)
    }

    /// The slot of the pool that serves `cpu`: its node's, else the nearest node's.
    fn local_slot(&self, cpu: u32) -> usize {
        let nid = glue::cpu_to_node(cpu);
        if !self.per_node || nid < 0 || nid >= glue::nr_node_ids() {
            return 0;
        }
        (0..self.pools.len())
            .min_by_key(|&slot| (glue::node_distance(nid, self.pools[slot].node()), slot))
            .unwrap_or(0)
    }

    /// Publishes the pools, and to the API's entry points each CPU's local pool and magazine.
    pub(crate) fn publish(mut set: KBox<Self>) {
        for pool in set.pools.iter_mut() {
            pool.set_published();
        }
        let set = KBox::into_raw(set);
        // SAFETY: Just made from a `KBox`; freed only by `withdraw`.
        let pools = unsafe { &*set };
        for cpu in (0..kernel::cpu::nr_cpu_ids()).filter(|&cpu| glue::cpu_possible(cpu)) {
            let pool = &pools.pools[pools.local_slot(cpu)];
            // SAFETY: `cpu` is possible and the front has a magazine for every possible CPU.
            let mag = unsafe { glue::front_of(pool.front().as_percpu(), cpu) };
            // SAFETY: `pool` and its magazine of `cpu` live until `withdraw` withdraws them.
            unsafe {
                glue::local_publish(cpu, core::ptr::from_ref::<KernelPool>(pool).cast(), mag)
            };
        }
        POOLS.store(set, Ordering::Release);
    }

    /// Withdraws and drops the published pools.
    ///
    /// # Safety
    ///
    /// No interface that reaches the pools through [`NodePools::get`] may be registered any more,
    /// and no reference obtained from it may still be live.
    pub(crate) unsafe fn withdraw() {
        let set = POOLS.swap(core::ptr::null_mut(), Ordering::Acquire);
        if set.is_null() {
            return;
        }
        for cpu in (0..kernel::cpu::nr_cpu_ids()).filter(|&cpu| glue::cpu_possible(cpu)) {
            // SAFETY: Withdrawing; no entry point is in flight (no module uses the API).
            unsafe { glue::local_publish(cpu, core::ptr::null(), core::ptr::null_mut()) };
        }
        // SAFETY: `set` came from `KBox::into_raw` in `publish`, and by the caller's promise
        // nothing refers to it any more. Each pool returns its magazines as it drops.
        drop(unsafe { KBox::from_raw(set) });
    }

    /// The published pools, if the module is live.
    #[inline]
    pub(crate) fn get() -> Option<&'static Self> {
        let set = POOLS.load(Ordering::Acquire);
        // SAFETY: A non-null `POOLS` points to the set published by `publish`, which stays
        // valid until `withdraw`; `withdraw` runs only after every interface that calls `get`
        // is unregistered, so no caller can hold the reference past it.
        unsafe { set.as_ref() }
    }

    /// The first pool (node-0 semantics: the lowest node's, or the only one).
    pub(crate) fn first(&self) -> &KernelPool {
        // By the type invariant `pools` is not empty.
        &self.pools[0]
    }

    /// The pools, in ascending node order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &KernelPool> {
        self.pools.iter().map(|pool| &**pool)
    }

    /// The pool in `slot`.
    pub(crate) fn pool(&self, slot: usize) -> Option<&KernelPool> {
        self.pools.get(slot).map(|pool| &**pool)
    }

    /// One pool per node (`node=-1`).
    pub(crate) fn per_node(&self) -> bool {
        self.per_node
    }

    /// The pool that holds `page` and its index there (a range check per pool, `page` is not
    /// dereferenced).
    pub(crate) fn owner_of(&self, page: *const bindings::page) -> Option<(&KernelPool, PageIndex)> {
        self.iter()
            .find_map(|pool| pool.index_of(page).map(|index| (pool, index)))
    }

    /// Where a page goes that `local` does not hold: its owner among the other pools.
    #[cold]
    pub(crate) fn owner_elsewhere(
        &self,
        local: &KernelPool,
        page: *const bindings::page,
    ) -> Option<&KernelPool> {
        if self.pools.len() < 2 || local.index_of(page).is_some() {
            return None;
        }
        self.owner_of(page).map(|(pool, _)| pool)
    }

    /// The other pools for an allocation `local` cannot serve, nearest first.
    pub(crate) fn fallbacks(&self, local: &KernelPool) -> impl Iterator<Item = &KernelPool> {
        self.fallback
            .get(local.slot())
            .map_or(&[][..], |slots| &slots[..])
            .iter()
            .filter_map(|&slot| self.pool(slot))
    }

    /// This CPU returns its magazine of every pool.
    ///
    /// # Safety
    ///
    /// As for [`KernelPool::flush_this_cpu`], for every pool.
    pub(crate) unsafe fn flush_this_cpu(&self) {
        for pool in self.iter() {
            // SAFETY: By the caller's promise.
            unsafe { pool.flush_this_cpu() };
        }
    }

    /// The module's description for user space and in-kernel users: sizes and counts summed
    /// over the pools; `node` as asked for at load (-1 for "any" and for "each"). Any context
    /// but NMI: no lock.
    pub(crate) fn info(&self) -> uapi::Info {
        let mut info = self.first().info();
        if self.per_node {
            info.node = NODE_EACH;
        }
        for pool in self.iter().skip(1) {
            let more = pool.info();
            info.size_bytes += more.size_bytes;
            info.nr_pages += more.nr_pages;
            info.outstanding_pages += more.outstanding_pages;
            info.metadata_bytes += more.metadata_bytes;
        }
        info
    }

    /// Allocates `2^order` pages for in-module users (ioctl handles): through the exported API,
    /// on the calling CPU; returns the slot of the pool that served it and the first page's
    /// index there.
    pub(crate) fn alloc_index(&self, order: u32) -> Result<(usize, PageIndex)> {
        let page = crate::api::alloc_pages(bindings::GFP_KERNEL, order, false);
        if page.is_null() {
            return Err(if order > self.first().block_order() {
                EINVAL
            } else {
                ENOMEM
            });
        }
        let (pool, index) = self.owner_of(page).ok_or(EINVAL)?;
        Ok((pool.slot(), index))
    }
}

#[kunit_tests(pcpbuddy_nodes)]
mod tests {
    use super::*;
    use crate::reserve::{Source, SourcePolicy};

    /// One small pool per node with memory (not published): each holds memory of its node only,
    /// owns its own pages, and falls back to every other pool, nearest first.
    #[test]
    fn one_pool_per_node_owns_its_memory() -> Result {
        let config = Config {
            size_mb: 4,
            source: SourcePolicy::Only(Source::Pages),
            node: bindings::NUMA_NO_NODE,
            strict: false,
        };
        let pools = NodePools::new(config, true)?;
        let nodes = (0..glue::nr_node_ids())
            .filter(|&nid| glue::node_has_memory(nid))
            .count();
        assert_eq!(pools.iter().count(), nodes);
        for (slot, pool) in pools.iter().enumerate() {
            assert_eq!(pool.slot(), slot);
            for block in pool.blocks() {
                assert_eq!(block.nid(), pool.node());
                let owner = pools.owner_of(block.first_page()).map(|(p, _)| p.slot());
                assert_eq!(owner, Some(slot));
                assert!(pools.owner_elsewhere(pool, block.first_page()).is_none());
            }
            assert_eq!(pools.fallbacks(pool).count(), nodes - 1);
            let mut last = 0;
            for other in pools.fallbacks(pool) {
                assert!(other.slot() != slot);
                let distance = glue::node_distance(pool.node(), other.node());
                assert!(distance >= last);
                last = distance;
            }
        }
        Ok(())
    }
}
