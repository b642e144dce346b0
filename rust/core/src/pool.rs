//! The allocator: per-CPU caches of owned blocks over a global pool of
//! pageblocks, with the RFC's refill order and the lock-free remote free.
//!
//! # Allocation (`alloc(cpu, k)`)
//!
//! Under the CPU's cache lock: pop a unit of order `k` from the hot stack
//! (`k <= HOT_MAX_ORDER`), else take a unit of order `>= k` from the owned block
//! with the smallest sufficient largest-free-order, else from the loose stacks
//! (splitting a larger loose chunk). Only when that fails (the slow path):
//!
//! * merge the hot stacks back into their blocks, and retry;
//! * absorb the CPU's remote queue, and retry;
//! * refill under the global lock, in the RFC's order. Phase 0: recover a
//!   fragment with a free unit of order `>= k` into ownership (ownership and
//!   recovery on, and its free pages fit `high`). Phase 1: claim a wholly free
//!   block (ownership on, and a block fits `high`). Phase 2, degrade: take
//!   unowned chunks of order `>= k`, about `batch` pages, from shared blocks'
//!   global units, else by turning a free block into a shared one (when no free
//!   block is left, a block would not fit `high`, or ownership is off);
//! * after dropping the cache lock, phase 3, reclaim: absorb the fragments'
//!   pending frees, then drain the other CPUs' caches one by one (their remote
//!   queues first), until the global pool has a unit of order `>= k`; then
//!   retry, and as the very last resort allocate straight from a shared or
//!   fragment block under the global lock.
//!
//! # Free (`free(cpu, page, k)`)
//!
//! Under the freeing CPU's own cache lock only:
//!
//! * block owned by this CPU: for `k <= HOT_MAX_ORDER`, park the unit on the
//!   hot stack of order `k` unmerged (a full stack first merges its older
//!   half back into the blocks' buddies, locally); larger orders are freed into
//!   the block's buddy and merged at once;
//! * block owned by another CPU, or a fragment: the remote-free protocol
//!   (`remote.rs`), lock-free with respect to the holder;
//! * shared block: park the chunk on this CPU's loose stack (classic PCP).
//!
//! Then, if the cache holds more than `high` pages, trim it to `high - batch`:
//! the hot stacks are merged back into their blocks (locally), loose chunks go
//! back to the global pool (merging there), wholly free owned blocks go back
//! whole, and if still above, the partly used owned blocks with the largest
//! free units become fragments.
//!
//! # Drain (`drain_cpu`)
//!
//! Merges the hot stacks back into their blocks, absorbs the CPU's queue and
//! every owned block's parked frees (merging bottom-up inside each block),
//! returns loose chunks, returns wholly free blocks whole and turns partly used
//! ones into fragments, whose free units are then the global pool's, queued
//! behind everything else.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::block::{BlockKind, BlockMeta, NIL};
use super::buddy::{Buddy, ALLOC, FREE, HELD};
use super::cache::{CpuCache, HOT_MAX_ORDER};
use super::error::{AllocError, FreeError, InitError, PolicyError, VerifyError};
use super::geometry::{Geometry, PageIndex, NR_ORDERS};
use super::global::GlobalPool;
use super::info::{BlockInfo, FragmentationInfo};
use super::list::{Buckets, FULL_BUCKET};
use super::platform::{Lock, Platform};
use super::policy::{Policy, PolicyCell};
use super::remote;
use super::stats::{CpuStats, GlobalStats};
use super::verify;

/// A page pool over the storage of a [`Platform`].
pub struct Pool<Pl: Platform> {
    platform: Pl,
    geo: Geometry,
    policy: PolicyCell,
    /// Calls with a CPU index out of range (no CPU to account them to).
    bad_cpu: AtomicU64,
}

/// The refill phase that succeeded.
enum Refill {
    Recover,
    Claim,
    Degrade,
}

/// Bucket of a block from its buddy: its largest free order, or full.
fn bucket_of(buddy: &Buddy<'_>) -> usize {
    buddy
        .max_free_order()
        .map_or(FULL_BUCKET, |order| order as usize)
}

/// `floor(log2(n))` for `n >= 1`.
fn floor_log2(n: usize) -> u32 {
    usize::BITS - 1 - n.leading_zeros()
}

impl<Pl: Platform> Pool<Pl> {
    /// Creates a pool over the platform's storage and puts every block into the
    /// global pool as a free block. The storage's previous contents are ignored.
    pub fn new(platform: Pl, block_order: u32) -> Result<Self, InitError> {
        let geo =
            Geometry::new(block_order, platform.blocks().len()).ok_or(InitError::BadGeometry)?;
        if platform.maps().len() < geo.map_words() {
            return Err(InitError::MapTooSmall);
        }
        let nr_cpus = platform.caches().len();
        if nr_cpus == 0 || nr_cpus > (u32::MAX >> 2) as usize {
            return Err(InitError::CacheCount);
        }
        if platform.remote_queues().len() != nr_cpus {
            return Err(InitError::CacheCount);
        }
        let pool = Self {
            platform,
            geo,
            policy: PolicyCell::new(Policy::default_for(block_order)),
            bad_cpu: AtomicU64::new(0),
        };
        let blocks = pool.platform.blocks();
        pool.platform.global().with(|g| {
            *g = GlobalPool::new();
            for block in 0..geo.nr_blocks() {
                let meta = &blocks[block];
                meta.set_kind(BlockKind::Free);
                meta.pending.store(0, super::sync::Ordering::Relaxed);
                meta.queued.store(0, super::sync::Ordering::Relaxed);
                meta.hot_pages.store(0, Relaxed);
                pool.buddy(block).reset_whole_free();
                g.free.push_back(blocks, block);
                g.pages += geo.block_pages();
            }
        });
        for cache in pool.platform.caches() {
            cache.with(|c| *c = CpuCache::new());
        }
        Ok(pool)
    }

    /// The pool's geometry.
    pub fn geometry(&self) -> Geometry {
        self.geo
    }

    /// The platform (storage and locks).
    pub fn platform(&self) -> &Pl {
        &self.platform
    }

    /// Number of CPU caches.
    pub fn nr_cpus(&self) -> usize {
        self.platform.caches().len()
    }

    /// The current policy.
    pub fn policy(&self) -> Policy {
        self.policy.get()
    }

    /// Switches the policy; each CPU follows at its next slow path.
    pub fn set_policy(&self, policy: Policy) -> Result<(), PolicyError> {
        policy.validate()?;
        self.policy.set(policy);
        Ok(())
    }

    pub(crate) fn blocks(&self) -> &[BlockMeta] {
        self.platform.blocks()
    }

    /// The buddy view of a block.
    pub(crate) fn buddy(&self, block: usize) -> Buddy<'_> {
        let words = self.geo.map_words_per_block();
        Buddy::new(
            &self.platform.maps()[block * words..(block + 1) * words],
            &self.platform.blocks()[block].counts,
            self.geo.block_order(),
        )
    }

    fn cache(&self, cpu: usize) -> Option<&Pl::Cache> {
        let cache = self.platform.caches().get(cpu);
        if cache.is_none() {
            self.bad_cpu.fetch_add(1, Relaxed);
        }
        cache
    }

    /// Takes the global lock for `stats`'s CPU.
    fn with_global<R>(&self, stats: &mut CpuStats, f: impl FnOnce(&mut GlobalPool) -> R) -> R {
        stats.global_locks += 1;
        self.platform.global().with(|g| {
            g.stats.lock_acquisitions += 1;
            f(g)
        })
    }

    // ---------------------------------------------------------------- alloc

    /// Allocates `2^order` pages on behalf of `cpu`; returns the first page.
    ///
    /// `cpu` picks the cache to use; correctness does not depend on the caller
    /// still running on that CPU, only locality does.
    pub fn alloc(&self, cpu: usize, order: u32) -> Result<PageIndex, AllocError> {
        let cache = self.cache(cpu).ok_or(AllocError::BadCpu)?;
        if order > self.geo.block_order() {
            cache.with(|c| c.stats.alloc_bad_order += 1);
            return Err(AllocError::BadOrder);
        }
        if let Some(page) = cache.with(|c| self.alloc_locked(cpu, c, order, false)) {
            return Ok(page);
        }
        // Phase 3 takes other CPUs' cache locks, so ours must not be held.
        self.reclaim(cpu, order);
        cache.with(|c| {
            c.stats.reclaims += 1;
            match self.alloc_locked(cpu, c, order, true) {
                Some(page) => Ok(page),
                None => {
                    c.stats.alloc_failures += 1;
                    Err(AllocError::OutOfMemory)
                }
            }
        })
    }

    fn alloc_locked(
        &self,
        cpu: usize,
        c: &mut CpuCache,
        k: u32,
        last_resort: bool,
    ) -> Option<PageIndex> {
        let page = self
            .take_cached(c, k)
            .or_else(|| {
                // Slow path: our own unmerged frees may make a unit >= k.
                if self.flush_all_hot(c) != 0 {
                    self.take_cached(c, k)
                } else {
                    None
                }
            })
            .or_else(|| {
                // Then what other CPUs freed into our blocks.
                if self.absorb_remote_locked(cpu, c) != 0 {
                    self.take_cached(c, k)
                } else {
                    None
                }
            })
            .or_else(|| {
                if self.refill(cpu, c, k) {
                    self.take_cached(c, k)
                } else {
                    None
                }
            })
            .or_else(|| {
                if last_resort {
                    self.alloc_direct(c, k)
                } else {
                    None
                }
            })?;
        c.stats.allocs += 1;
        c.stats.alloc_pages += 1 << k;
        Some(page)
    }

    /// Allocates from the cache: the hot stack of order `k`, then owned blocks,
    /// then loose chunks.
    fn take_cached(&self, c: &mut CpuCache, k: u32) -> Option<PageIndex> {
        let blocks = self.blocks();
        if let Some(page) = c.hot.pop(k) {
            // By the hot invariant the entry is a HELD unit of order k in a
            // block we own: hand it out as it is, no split. It leaves the hot
            // stack, `hot_pages` and `pages` together.
            let block = page >> self.geo.block_order();
            self.buddy(block).held_to_alloc(self.geo.offset_of(page));
            blocks[block].add_hot_pages(-(1 << k));
            c.pages -= 1 << k;
            c.stats.allocs_hot += 1;
            return Some(page);
        }
        if let Some(block) = c.owned.find(k) {
            let buddy = self.buddy(block);
            let (off, _) = buddy.take(k, k, ALLOC)?;
            c.owned.rebucket(blocks, block, bucket_of(&buddy), false);
            c.pages -= 1 << k;
            return Some(self.geo.first_page(block) + off);
        }
        let j = (k..=self.geo.block_order()).find(|&j| c.loose.len(j) != 0)?;
        // Splitting pushes one chunk of each order k..j: make room first.
        for order in k..j {
            if c.loose.is_full(order) {
                self.with_global(&mut c.stats, |g| {
                    self.flush_loose(g, &mut c.pages, &mut c.loose, order)
                });
            }
        }
        let page = c.loose.pop(j)?;
        let block = page >> self.geo.block_order();
        let buddy = self.buddy(block);
        let off = self.geo.offset_of(page);
        for order in (k..j).rev() {
            let upper = buddy.split_held(off, order + 1);
            c.loose.push(order, self.geo.first_page(block) + upper);
        }
        buddy.held_to_alloc(off);
        c.pages -= 1 << k;
        Some(page)
    }

    /// Phases 0 to 2 under the global lock. Returns whether the cache now has
    /// a unit of order `>= k`.
    fn refill(&self, cpu: usize, c: &mut CpuCache, k: u32) -> bool {
        let policy = self.policy.get();
        let high = policy.high as usize;
        let block_pages = self.geo.block_pages();
        let blocks = self.blocks();
        let CpuCache {
            owned,
            loose,
            pages,
            stats,
            ..
        } = c;
        let phase = self.with_global(stats, |g| {
            if policy.ownership {
                if policy.fragment_recovery {
                    if let Some(block) = g.fragments.find(k) {
                        let buddy = self.buddy(block);
                        if *pages + buddy.free_pages() <= high {
                            g.fragments.remove(blocks, block);
                            let (absorbed, merges) = buddy.absorb_held();
                            remote::absorbed(blocks, block, absorbed);
                            g.stats.absorbed_pages += absorbed as u64;
                            g.stats.merges_global += u64::from(merges);
                            g.pages += absorbed;
                            self.own(g, owned, pages, cpu, block);
                            g.stats.fragments_recovered += 1;
                            return Some(Refill::Recover);
                        }
                    }
                }
                if *pages + block_pages <= high {
                    if let Some(block) = g.free.pop_front(blocks) {
                        self.own(g, owned, pages, cpu, block);
                        g.stats.blocks_claimed += 1;
                        return Some(Refill::Claim);
                    }
                }
            }
            self.degrade(g, pages, loose, k, policy.batch as usize)
                .then_some(Refill::Degrade)
        });
        match phase {
            Some(Refill::Recover) => stats.refill_recover += 1,
            Some(Refill::Claim) => stats.refill_claim += 1,
            Some(Refill::Degrade) => stats.refill_degrade += 1,
            None => return false,
        }
        true
    }

    /// Moves a block from the global pool (already unlinked) into `cpu`'s cache.
    fn own(
        &self,
        g: &mut GlobalPool,
        owned: &mut Buckets,
        pages: &mut usize,
        cpu: usize,
        block: usize,
    ) {
        let buddy = self.buddy(block);
        let free = buddy.free_pages();
        self.blocks()[block].set_kind(BlockKind::Owned(cpu as u32));
        owned.insert(self.blocks(), block, bucket_of(&buddy), false);
        g.pages -= free;
        *pages += free;
    }

    /// Phase 2: takes unowned chunks of order `>= k`, about `batch` pages.
    fn degrade(
        &self,
        g: &mut GlobalPool,
        pages: &mut usize,
        loose: &mut super::cache::LooseStacks,
        k: u32,
        batch: usize,
    ) -> bool {
        let blocks = self.blocks();
        let p = self.geo.block_order();
        let want = batch.max(1 << k);
        let mut taken = 0;
        while taken < want {
            let want_order = floor_log2(want - taken).clamp(k, p);
            if (k..=want_order).any(|order| loose.is_full(order)) {
                break;
            }
            let block = match g.shared.find(k) {
                Some(block) => block,
                None => match g.free.pop_front(blocks) {
                    Some(block) => {
                        blocks[block].set_kind(BlockKind::Shared);
                        g.shared.insert(blocks, block, p as usize, false);
                        g.stats.shared_created += 1;
                        block
                    }
                    None => break,
                },
            };
            let buddy = self.buddy(block);
            let Some((off, order)) = buddy.take(k, want_order, HELD) else {
                break;
            };
            g.shared.rebucket(blocks, block, bucket_of(&buddy), false);
            g.pages -= 1 << order;
            g.stats.chunks_out += 1;
            loose.push(order, self.geo.first_page(block) + off);
            *pages += 1 << order;
            taken += 1 << order;
        }
        taken != 0
    }

    /// Last resort: one unit straight from a shared or fragment block (or a
    /// free block made shared), under the global lock.
    fn alloc_direct(&self, c: &mut CpuCache, k: u32) -> Option<PageIndex> {
        let blocks = self.blocks();
        let p = self.geo.block_order() as usize;
        self.with_global(&mut c.stats, |g| {
            let (block, list) = if let Some(block) = g.shared.find(k) {
                (block, &mut g.shared)
            } else if let Some(block) = g.fragments.find(k) {
                (block, &mut g.fragments)
            } else {
                let block = g.free.pop_front(blocks)?;
                blocks[block].set_kind(BlockKind::Shared);
                g.shared.insert(blocks, block, p, false);
                g.stats.shared_created += 1;
                (block, &mut g.shared)
            };
            let buddy = self.buddy(block);
            let (off, _) = buddy.take(k, k, ALLOC)?;
            let back = matches!(blocks[block].kind(), BlockKind::Fragment);
            list.rebucket(blocks, block, bucket_of(&buddy), back);
            g.pages -= 1 << k;
            g.stats.direct_allocs += 1;
            Some(self.geo.first_page(block) + off)
        })
        .inspect(|_| c.stats.fallbacks += 1)
    }

    /// Phase 3: absorbs fragments, then drains other CPUs (and finally this
    /// one) until the global pool can serve order `k`. Takes each cache lock
    /// on its own; the caller holds none.
    fn reclaim(&self, cpu: usize, k: u32) {
        let nr = self.nr_cpus();
        let satisfiable = |g: &GlobalPool| {
            !g.free.is_empty() || g.shared.find(k).is_some() || g.fragments.find(k).is_some()
        };
        let done = self.platform.global().with(|g| {
            g.stats.lock_acquisitions += 1;
            self.absorb_fragments(g);
            satisfiable(g)
        });
        if done {
            return;
        }
        for step in 1..=nr {
            let victim = (cpu + step) % nr;
            self.drain_cpu(victim);
            let done = self.platform.global().with(|g| {
                g.stats.lock_acquisitions += 1;
                satisfiable(g)
            });
            if done {
                return;
            }
        }
    }

    // ----------------------------------------------------------------- free

    /// Frees `2^order` pages starting at `page`, on behalf of `cpu`.
    ///
    /// Never takes another CPU's lock. On error nothing changes but the
    /// error counter of `cpu`.
    pub fn free(&self, cpu: usize, page: PageIndex, order: u32) -> Result<(), FreeError> {
        let cache = self.cache(cpu).ok_or(FreeError::BadCpu)?;
        cache.with(|c| {
            let result = self.free_locked(cpu, c, page, order);
            match result {
                Ok(()) => c.stats.freed_pages += 1 << order,
                Err(error) => c.stats.free_errors[error.index()] += 1,
            }
            result
        })
    }

    fn free_locked(
        &self,
        cpu: usize,
        c: &mut CpuCache,
        page: PageIndex,
        k: u32,
    ) -> Result<(), FreeError> {
        if k > self.geo.block_order() {
            return Err(FreeError::BadOrder);
        }
        let block = self.geo.block_of(page).ok_or(FreeError::OutOfPool)?;
        let off = self.geo.offset_of(page);
        if off & ((1 << k) - 1) != 0 {
            return Err(FreeError::Misaligned);
        }
        let blocks = self.blocks();
        let buddy = self.buddy(block);
        // The state read here is stable for a correct free: a block with an
        // allocated unit cannot become Free, an Owned(cpu) block changes only
        // under our lock, a Shared block stays Shared while a chunk is out, and
        // Owned(other)/Fragment only move among themselves (same free path).
        match blocks[block].kind() {
            BlockKind::Free => Err(FreeError::DoubleFree),
            BlockKind::Owned(owner) if owner as usize == cpu => {
                if k <= HOT_MAX_ORDER {
                    // Keeps the hot invariant (`cache::HotStacks`): the unit
                    // becomes HELD (the compare-and-swap validates the free and
                    // makes a second free of it fail, from any CPU), goes on our
                    // hot stack unmerged and counts in `hot_pages` and `pages`.
                    buddy.try_free(off, k, HELD)?;
                    if c.hot.is_full(k) {
                        let half = c.hot.len(k).div_ceil(2);
                        self.flush_hot(c, k, half);
                    }
                    c.hot.push(k, page);
                    blocks[block].add_hot_pages(1 << k);
                    c.stats.frees_hot += 1;
                } else {
                    buddy.try_free(off, k, FREE)?;
                    let merges = buddy.release(off, k);
                    c.owned.rebucket(blocks, block, bucket_of(&buddy), false);
                    c.stats.merges_local += u64::from(merges);
                }
                c.pages += 1 << k;
                c.stats.frees_local += 1;
                self.trim_if_needed(c);
                Ok(())
            }
            BlockKind::Owned(_) | BlockKind::Fragment => {
                buddy.try_free(off, k, HELD)?;
                remote::notify(blocks, self.platform.remote_queues(), block, 1 << k);
                c.stats.frees_remote += 1;
                Ok(())
            }
            BlockKind::Shared => {
                buddy.try_free(off, k, HELD)?;
                if c.loose.is_full(k) {
                    self.with_global(&mut c.stats, |g| {
                        self.flush_loose(g, &mut c.pages, &mut c.loose, k)
                    });
                }
                c.loose.push(k, page);
                c.pages += 1 << k;
                c.stats.frees_loose += 1;
                self.trim_if_needed(c);
                Ok(())
            }
        }
    }

    // ------------------------------------------------------------ hot stacks

    /// Merges the hot unit `(page, k)`, just taken off a hot stack, back into
    /// its (owned) block's buddy, under the cache lock. `pages` is unchanged:
    /// the unit was free in the cache and still is.
    fn merge_hot(&self, owned: &mut Buckets, stats: &mut CpuStats, page: usize, k: u32) {
        let blocks = self.blocks();
        let block = page >> self.geo.block_order();
        let buddy = self.buddy(block);
        let off = self.geo.offset_of(page);
        buddy.held_to_free(off);
        let merges = buddy.release(off, k);
        blocks[block].add_hot_pages(-(1 << k));
        owned.rebucket(blocks, block, bucket_of(&buddy), false);
        stats.merges_local += u64::from(merges);
        stats.hot_merged += 1;
    }

    /// Merges the `count` oldest units of hot stack `k` back into their blocks.
    fn flush_hot(&self, c: &mut CpuCache, k: u32, count: usize) {
        let CpuCache {
            owned, hot, stats, ..
        } = c;
        hot.drain_oldest(k, count, |page| self.merge_hot(owned, stats, page, k));
    }

    /// Merges every hot unit back into its block; returns how many there were.
    /// Trim and drain do this first, so that blocks leave the cache with no hot
    /// unit (hot invariant).
    fn flush_all_hot(&self, c: &mut CpuCache) -> usize {
        let mut units = 0;
        for k in 0..=HOT_MAX_ORDER {
            units += c.hot.len(k);
            self.flush_hot(c, k, usize::MAX);
        }
        units
    }

    /// Merges the hot units of one owned block back into it, so that its
    /// `HELD` fields are all parked remote frees and it may be absorbed (hot
    /// invariant).
    fn flush_hot_block(&self, c: &mut CpuCache, block: usize) {
        if self.blocks()[block].hot_pages() == 0 {
            return;
        }
        let p = self.geo.block_order();
        let CpuCache {
            owned, hot, stats, ..
        } = c;
        for k in 0..=HOT_MAX_ORDER {
            hot.retain(k, |page| {
                if page >> p != block {
                    return true;
                }
                self.merge_hot(owned, stats, page, k);
                false
            });
        }
    }

    // ------------------------------------------------------ trim and drain

    fn trim_if_needed(&self, c: &mut CpuCache) {
        let policy = self.policy.get();
        if c.pages > policy.high as usize {
            c.stats.trims += 1;
            let target = (policy.high as usize).saturating_sub(policy.batch as usize);
            self.shrink(c, target, false);
        }
    }

    /// Returns free memory of the cache to the global pool until it holds at
    /// most `target` pages: first merges the hot stacks back into their blocks
    /// (locally; blocks may leave the cache only without hot units), then
    /// returns loose chunks, then wholly free blocks, then (the blocks with the
    /// largest free units first) fragments. With `all`, every owned block goes,
    /// whatever `target`.
    fn shrink(&self, c: &mut CpuCache, target: usize, all: bool) {
        let blocks = self.blocks();
        let p = self.geo.block_order();
        self.flush_all_hot(c);
        let CpuCache {
            owned,
            loose,
            pages,
            stats,
            ..
        } = c;
        self.with_global(stats, |g| {
            for order in 0..=p {
                while *pages > target && loose.len(order) != 0 {
                    self.flush_loose(g, pages, loose, order);
                }
            }
            // Wholly free owned blocks are exactly bucket P.
            while *pages > target || (all && !owned.list(p as usize).is_empty()) {
                let Some(block) = owned.list(p as usize).head() else {
                    break;
                };
                owned.remove(blocks, block);
                self.give_back(g, pages, block);
            }
            // Then partly used blocks, largest free units first; blocks with no
            // free unit only when draining everything.
            let buckets = (0..p as usize).rev().chain(all.then_some(FULL_BUCKET));
            for bucket in buckets {
                while *pages > target || all {
                    let Some(block) = owned.list(bucket).head() else {
                        break;
                    };
                    owned.remove(blocks, block);
                    self.give_back(g, pages, block);
                }
            }
        });
    }

    /// Hands an owned block (already unlinked from its owner) to the global
    /// pool: whole if wholly free, else as a fragment queued last.
    fn give_back(&self, g: &mut GlobalPool, pages: &mut usize, block: usize) {
        let blocks = self.blocks();
        debug_assert_eq!(
            blocks[block].hot_pages(),
            0,
            "block {block} leaves with hot units"
        );
        let buddy = self.buddy(block);
        let free = buddy.free_pages();
        *pages -= free;
        g.pages += free;
        if buddy.is_whole_free() {
            blocks[block].set_kind(BlockKind::Free);
            g.free.push_front(blocks, block);
            g.stats.blocks_returned += 1;
        } else {
            blocks[block].set_kind(BlockKind::Fragment);
            g.fragments.insert(blocks, block, bucket_of(&buddy), true);
            g.stats.fragments_created += 1;
        }
    }

    /// Returns up to half of loose stack `order` (at least one chunk) to the
    /// global pool, merging each chunk into its shared block there.
    fn flush_loose(
        &self,
        g: &mut GlobalPool,
        pages: &mut usize,
        loose: &mut super::cache::LooseStacks,
        order: u32,
    ) {
        let blocks = self.blocks();
        let count = loose.len(order).div_ceil(2);
        for _ in 0..count {
            let Some(page) = loose.pop(order) else {
                return;
            };
            let block = page >> self.geo.block_order();
            let buddy = self.buddy(block);
            let off = self.geo.offset_of(page);
            buddy.held_to_free(off);
            g.stats.merges_global += u64::from(buddy.release(off, order));
            g.stats.chunks_in += 1;
            *pages -= 1 << order;
            g.pages += 1 << order;
            if buddy.is_whole_free() {
                g.shared.remove(blocks, block);
                blocks[block].set_kind(BlockKind::Free);
                g.free.push_front(blocks, block);
                g.stats.shared_freed += 1;
            } else {
                g.shared.rebucket(blocks, block, bucket_of(&buddy), false);
            }
        }
    }

    /// Returns everything `cpu`'s cache holds to the global pool: for CPU
    /// hotplug (offline), reclaim, and tests. Any CPU may call it.
    pub fn drain_cpu(&self, cpu: usize) {
        let Some(cache) = self.cache(cpu) else {
            return;
        };
        cache.with(|c| {
            c.stats.drains += 1;
            self.flush_all_hot(c);
            self.absorb_remote_locked(cpu, c);
            // Queue entries can be stale or late: scan every owned block.
            self.absorb_all_owned(c);
            self.shrink(c, 0, true);
            debug_assert!(
                c.owned.is_empty() && c.hot.is_empty() && c.loose.is_empty() && c.pages == 0
            );
        });
    }

    /// Absorbs `cpu`'s remote queue now (for a periodic worker, so that an
    /// idle CPU does not delay the absorption of blocks it used to own).
    pub fn absorb_remote(&self, cpu: usize) -> usize {
        self.cache(cpu)
            .map_or(0, |cache| cache.with(|c| self.absorb_remote_locked(cpu, c)))
    }

    /// Absorbs the parked frees of every fragment (for a periodic worker; the
    /// allocator itself does it on reclaim and recovery).
    pub fn absorb_fragments_now(&self) {
        self.platform.global().with(|g| {
            g.stats.lock_acquisitions += 1;
            self.absorb_fragments(g);
        });
    }

    /// Takes `cpu`'s remote queue and absorbs the blocks it owns; forwards
    /// blocks it no longer owns. Returns the pages absorbed.
    fn absorb_remote_locked(&self, cpu: usize, c: &mut CpuCache) -> usize {
        let blocks = self.blocks();
        let queues = self.platform.remote_queues();
        let mut next = queues[cpu].take_all();
        let mut total = 0;
        while next != NIL {
            let block = next as usize;
            next = remote::start_absorb(blocks, block);
            match blocks[block].kind() {
                BlockKind::Owned(owner) if owner as usize == cpu => {
                    total += self.absorb_owned_block(c, block);
                }
                BlockKind::Owned(_) if blocks[block].pending_pages() != 0 => {
                    remote::enqueue(blocks, queues, block);
                }
                _ => {}
            }
        }
        total
    }

    fn absorb_owned_block(&self, c: &mut CpuCache, block: usize) -> usize {
        // Hot invariant: absorb_held turns every HELD field FREE, so the
        // block's hot units must be merged first (they are then merged anyway).
        self.flush_hot_block(c, block);
        let buddy = self.buddy(block);
        let (absorbed, merges) = buddy.absorb_held();
        remote::absorbed(self.blocks(), block, absorbed);
        if absorbed != 0 {
            c.owned
                .rebucket(self.blocks(), block, bucket_of(&buddy), false);
            c.pages += absorbed;
            c.stats.absorbs += 1;
            c.stats.absorbed_pages += absorbed as u64;
            c.stats.merges_local += u64::from(merges);
        }
        absorbed
    }

    /// Absorbs every owned block of the cache, whatever its queue says.
    fn absorb_all_owned(&self, c: &mut CpuCache) {
        for bucket in 0..=FULL_BUCKET {
            // Absorbing moves blocks between buckets; walk a bounded number of
            // entries from the current head (a block moved to a bucket not yet
            // walked is scanned again, which finds nothing).
            let mut walk = c.owned.list(bucket).walk();
            while let Some(block) = walk.next(self.blocks()) {
                self.absorb_owned_block(c, block);
            }
        }
    }

    /// Absorbs every fragment's parked frees; wholly free ones become free
    /// blocks. Global lock held.
    fn absorb_fragments(&self, g: &mut GlobalPool) {
        let blocks = self.blocks();
        for bucket in 0..=FULL_BUCKET {
            let mut walk = g.fragments.list(bucket).walk();
            while let Some(block) = walk.next(blocks) {
                let buddy = self.buddy(block);
                let (absorbed, merges) = buddy.absorb_held();
                if absorbed == 0 {
                    continue;
                }
                remote::absorbed(blocks, block, absorbed);
                g.pages += absorbed;
                g.stats.absorbed_pages += absorbed as u64;
                g.stats.merges_global += u64::from(merges);
                if buddy.is_whole_free() {
                    g.fragments.remove(blocks, block);
                    blocks[block].set_kind(BlockKind::Free);
                    g.free.push_front(blocks, block);
                    g.stats.fragments_freed += 1;
                } else {
                    g.fragments.rebucket(blocks, block, bucket_of(&buddy), true);
                }
            }
        }
    }

    // ------------------------------------------------------------ reporting

    /// Counters of one CPU.
    pub fn cpu_stats(&self, cpu: usize) -> Option<CpuStats> {
        self.platform
            .caches()
            .get(cpu)
            .map(|cache| cache.with(|c| c.stats))
    }

    /// Sum of all CPUs' counters.
    pub fn total_cpu_stats(&self) -> CpuStats {
        let mut total = CpuStats::new();
        for cache in self.platform.caches() {
            cache.with(|c| total.add(&c.stats));
        }
        total
    }

    /// Counters of the global pool (this read is not counted as a lock
    /// acquisition).
    pub fn global_stats(&self) -> GlobalStats {
        self.platform.global().with(|g| g.stats)
    }

    /// Calls with a CPU index out of range.
    pub fn bad_cpu_errors(&self) -> u64 {
        self.bad_cpu.load(Relaxed)
    }

    /// Free pages held by `cpu`'s cache.
    pub fn cpu_free_pages(&self, cpu: usize) -> Option<usize> {
        self.platform
            .caches()
            .get(cpu)
            .map(|cache| cache.with(|c| c.pages))
    }

    /// Free pages held by the global pool.
    pub fn global_free_pages(&self) -> usize {
        self.platform.global().with(|g| g.pages)
    }

    /// Pages allocated and not freed (exact when no alloc or free runs).
    pub fn outstanding_pages(&self) -> u64 {
        let total = self.total_cpu_stats();
        total.alloc_pages - total.freed_pages
    }

    /// One block's state, read without locks (a snapshot that may be slightly
    /// stale under traffic).
    pub fn block_info(&self, block: usize) -> Option<BlockInfo> {
        let meta = self.blocks().get(block)?;
        let buddy = self.buddy(block);
        Some(BlockInfo {
            kind: meta.kind(),
            free_pages: buddy.free_pages(),
            largest_free_order: buddy.max_free_order(),
            pending_pages: meta.pending_pages(),
            hot_pages: meta.hot_pages(),
        })
    }

    /// Free units by order and blocks by state, read without locks.
    pub fn fragmentation(&self) -> FragmentationInfo {
        let mut info = FragmentationInfo::default();
        for block in 0..self.geo.nr_blocks() {
            let buddy = self.buddy(block);
            for order in 0..=self.geo.block_order() {
                info.free_units_by_order[order as usize] += buddy.nr_free(order);
            }
            info.free_pages += buddy.free_pages();
            info.pending_pages += self.blocks()[block].pending_pages() as usize;
            info.hot_pages += self.blocks()[block].hot_pages() as usize;
            match self.blocks()[block].kind() {
                BlockKind::Free => info.free_blocks += 1,
                BlockKind::Owned(_) => info.owned_blocks += 1,
                BlockKind::Fragment => info.fragment_blocks += 1,
                BlockKind::Shared => info.shared_blocks += 1,
            }
        }
        debug_assert!(NR_ORDERS > self.geo.block_order() as usize);
        info
    }

    /// Checks every invariant; the pool must be quiescent (no alloc, free or
    /// drain running). See `verify.rs`.
    pub fn verify(&self) -> Result<(), VerifyError> {
        verify::verify(self, true)
    }

    /// Checks the invariants that hold under traffic: each block's map and
    /// counts under its holder's lock, and list membership. Safe to run from
    /// debugfs on a live pool.
    pub fn verify_structure(&self) -> Result<(), VerifyError> {
        verify::verify(self, false)
    }
}
