//! What goes back: magazine overflows and flushes, frees of large orders, trims, drains, and
//! the absorption of remote frees.
//!
//! # Returning a cached unit
//!
//! A magazine unit goes back to its block's buddy under the block holder's lock: our own cache
//! lock for a block we own (merging locally, no global lock), the global lock for a shared
//! block (all of one flush under one acquisition, as the mainline per-CPU lists do). A unit
//! whose block changed hands since it was cached (another CPU drained ours, or recovered the
//! block) is parked for its new holder like a remote free, without taking any other lock.
//!
//! # Trim (`trim_if_needed`)
//!
//! When the cache and the magazine hold more than `high` pages, the magazine goes back into the
//! blocks first, then the cache shrinks to `high - max(batch, high / 2)`: loose chunks back to
//! the global pool (merging there), wholly free owned blocks back whole, then the partly used
//! owned blocks with the largest free units become fragments.
//!
//! # Drain (`drain_cpu`)
//!
//! Any CPU may drain any cache: it absorbs the cache's queue and every owned block's parked
//! frees (a full scan of each), returns loose chunks, returns wholly free blocks whole and
//! turns partly used ones into fragments. The cache's magazine is untouched (its CPU flushes
//! it, `flush_magazine`); its units keep their blocks from being wholly free until then.

use super::super::block::{BlockKind, NIL};
use super::super::cache::CpuCache;
use super::super::error::FreeError;
use super::super::global::GlobalPool;
use super::super::list::FULL_BUCKET;
use super::super::magazine::Magazine;
use super::super::policy::Policy;
use super::super::remote;
use super::super::stats::CpuStats;
use super::super::trace::{DrainKind, Event, FragmentEvent};
use super::super::unit::{self, CACHED, FREE, PARKED};
use super::{bucket_of, Lock, Platform, Pool};

/// Most units one magazine flush returns: a full order-0 stack, so that one flush empties any
/// stack and the time with interrupts off stays bounded.
const FLUSH_MAX: usize = 256;

impl<Pl: Platform> Pool<Pl> {
    /// Notifies the holders of every block the outbox noted (step 3 of the remote free).
    #[inline(never)]
    pub fn flush_outbox(&self, mag: &mut Magazine) {
        if mag.outbox.is_empty() {
            return;
        }
        let stats = self.platform.cpu_stats(mag.cpu());
        stats.notifies.inc();
        mag.outbox
            .flush(self.blocks(), self.platform.remote_queues());
    }

    /// Returns everything `mag` holds and owes: its units to their blocks, its notifications to
    /// their holders. For its own CPU (drain, an IPI asking every CPU to flush) or for a CPU
    /// that is dead (hotplug).
    pub fn flush_magazine(&self, mag: &mut Magazine) {
        let cpu = mag.cpu();
        let Some(stats) = self.stats_of(cpu) else {
            return;
        };
        self.platform.caches()[cpu].with(|c| self.flush_magazine_locked(c, mag, stats));
        self.flush_outbox(mag);
    }

    /// Magazine stack `k` is full (free slow path): returns its older half, then trims.
    #[cold]
    #[inline(never)]
    pub(super) fn flush_overflow(&self, mag: &mut Magazine, k: u32) {
        let cpu = mag.cpu();
        let stats = self.platform.cpu_stats(cpu);
        let policy = self.policy.get();
        mag.set_limits(policy.high);
        self.platform.caches()[cpu].with(|c| {
            let half = mag.len(k).div_ceil(2);
            self.return_cached(c, mag, stats, k, half);
            self.trim_if_needed(c, mag, stats, &policy);
        });
        self.flush_outbox(mag);
    }

    /// Returns every unit of the magazine to its block. Cache lock held.
    pub(super) fn flush_magazine_locked(
        &self,
        c: &mut CpuCache,
        mag: &mut Magazine,
        stats: &CpuStats,
    ) {
        for k in 0..=self.mag_max {
            while mag.len(k) != 0 {
                self.return_cached(c, mag, stats, k, FLUSH_MAX);
            }
        }
    }

    /// Returns the (at most `FLUSH_MAX`) `count` oldest units of magazine stack `k`. Cache lock
    /// held.
    fn return_cached(
        &self,
        c: &mut CpuCache,
        mag: &mut Magazine,
        stats: &CpuStats,
        k: u32,
        count: usize,
    ) {
        let mut units = [0u32; FLUSH_MAX];
        let mut n = 0;
        mag.drain_oldest(k, count.min(FLUSH_MAX), |page| {
            units[n] = page as u32;
            n += 1;
        });
        stats.mag_flushed.add(n as u64);
        let cpu = mag.cpu();
        let blocks = self.blocks();
        let p = self.geo.block_order();
        // Units of shared blocks, compacted to the front of `units`, go back under one global
        // lock acquisition.
        let mut shared = 0;
        for i in 0..n {
            let page = units[i] as usize;
            let block = page >> p;
            let off = self.geo.offset_of(page);
            let buddy = self.buddy(block);
            match blocks[block].kind() {
                BlockKind::Owned(owner) if owner as usize == cpu => {
                    stats.merges_local.add(u64::from(buddy.put(off, k, false)));
                    c.owned.rebucket(blocks, block, bucket_of(&buddy), false);
                    c.pages += 1 << k;
                }
                BlockKind::Shared => {
                    units[shared] = page as u32;
                    shared += 1;
                }
                _ => {
                    // Someone else holds the block (it did when the unit was freed here, or
                    // took the block since): park the unit for it. We cache it, so we are the
                    // byte's only writer: a plain store.
                    buddy.store(off, unit::unit(PARKED, k, false));
                    self.note_parked(mag, block, off);
                }
            }
        }
        if shared != 0 {
            self.with_global(stats, |g| {
                for &page in &units[..shared] {
                    self.return_to_global(g, page as usize, k, false);
                }
            });
        }
    }

    /// Puts a cached unit of a shared block back into its buddy in the global pool. Global lock
    /// held.
    fn return_to_global(&self, g: &mut GlobalPool, page: usize, k: u32, compound: bool) {
        let blocks = self.blocks();
        let block = page >> self.geo.block_order();
        let buddy = self.buddy(block);
        let merges = buddy.put(self.geo.offset_of(page), k, compound);
        self.global_stats.merges_global.add(u64::from(merges));
        self.global_stats.chunks_in.inc();
        g.pages += 1 << k;
        if buddy.is_whole_free() {
            g.shared.remove(blocks, block);
            blocks[block].set_kind(BlockKind::Free);
            g.free.push_front(blocks, block);
            self.global_stats.shared_freed.inc();
        } else {
            g.shared.rebucket(blocks, block, bucket_of(&buddy), false);
        }
    }

    /// A free of an order above the magazine's into a block this CPU owns, or a shared one:
    /// under the cache lock. Goes the remote way if the block changed hands meanwhile.
    #[inline(never)]
    pub(super) fn free_large_local(
        &self,
        mag: &mut Magazine,
        block: usize,
        off: usize,
        k: u32,
        folio: bool,
    ) -> Result<(), FreeError> {
        let cpu = mag.cpu();
        let stats = self.platform.cpu_stats(cpu);
        let policy = self.policy.get();
        let blocks = self.blocks();
        let buddy = self.buddy(block);
        let done = self.platform.caches()[cpu].with(|c| {
            match blocks[block].kind() {
                BlockKind::Owned(owner) if owner as usize == cpu => {
                    if k == self.geo.block_order() && c.whole.is_none() {
                        // The whole block stays cached as it is (see `CpuCache::whole`).
                        buddy.try_free(off, k, folio, CACHED)?;
                        c.whole = Some(self.geo.first_page(block) as u32);
                    } else {
                        buddy.try_free(off, k, folio, FREE)?;
                        stats.merges_local.add(u64::from(buddy.put(off, k, folio)));
                        c.owned.rebucket(blocks, block, bucket_of(&buddy), false);
                    }
                    c.pages += 1 << k;
                    stats.frees_local.inc();
                }
                BlockKind::Shared => {
                    buddy.try_free(off, k, folio, CACHED)?;
                    if c.loose.is_full(k) {
                        self.flush_loose(c, stats, k);
                    }
                    c.loose.push(k, self.geo.first_page(block) + off);
                    c.pages += 1 << k;
                    stats.frees_loose.inc();
                }
                _ => return Ok(false),
            }
            self.trim_if_needed(c, mag, stats, &policy);
            Ok(true)
        })?;
        if !done {
            // Drained or recovered by someone else since we looked: it is theirs now, so the
            // free goes the remote way (the buddy's byte, with no lock).
            buddy.try_free(off, k, folio, PARKED)?;
            self.note_parked(mag, block, off);
            stats.frees_remote.inc();
        }
        self.flush_outbox(mag);
        self.trace_free(self.geo.first_page(block) + off, k, folio, !done);
        Ok(())
    }

    /// Returns up to half of loose stack `k` (at least one chunk) to the global pool.
    fn flush_loose(&self, c: &mut CpuCache, stats: &CpuStats, k: u32) {
        let count = c.loose.len(k).div_ceil(2);
        self.with_global(stats, |g| {
            for _ in 0..count {
                let Some(page) = c.loose.pop(k) else {
                    return;
                };
                let buddy = self.buddy(page >> self.geo.block_order());
                let compound = unit::compound(buddy.load(self.geo.offset_of(page)));
                c.pages -= 1 << k;
                self.return_to_global(g, page, k, compound);
            }
        });
    }

    fn trim_if_needed(
        &self,
        c: &mut CpuCache,
        mag: &mut Magazine,
        stats: &CpuStats,
        policy: &Policy,
    ) {
        let high = policy.high as usize;
        if c.pages + mag.pages() <= high {
            return;
        }
        stats.trims.inc();
        // Blocks leave the cache whole only with their cached units home.
        self.flush_magazine_locked(c, mag, stats);
        // Down to half (or `batch` below): as a claim takes up to `high / 2` at once, so that a
        // stream of block-order allocations and frees takes the global lock once per half a
        // cache, not once per block.
        let target = high.saturating_sub((policy.batch as usize).max(high / 2));
        let before = c.pages;
        self.shrink(c, stats, target, false);
        self.platform.trace(Event::Drain {
            cpu: mag.cpu(),
            kind: DrainKind::Trim,
            pages: before.saturating_sub(c.pages),
        });
    }

    /// Returns free memory of the cache to the global pool until it holds at most `target`
    /// pages: loose chunks, then wholly free blocks, then (the blocks with the largest free
    /// units first) fragments. With `all`, every owned block goes, whatever `target`.
    fn shrink(&self, c: &mut CpuCache, stats: &CpuStats, target: usize, all: bool) {
        let blocks = self.blocks();
        let p = self.geo.block_order();
        self.put_whole(c);
        self.with_global(stats, |g| {
            for k in (self.mag_max + 1)..=p {
                while (c.pages > target || all) && c.loose.len(k) != 0 {
                    let Some(page) = c.loose.pop(k) else {
                        break;
                    };
                    let buddy = self.buddy(page >> p);
                    let compound = unit::compound(buddy.load(self.geo.offset_of(page)));
                    c.pages -= 1 << k;
                    self.return_to_global(g, page, k, compound);
                }
            }
            // Wholly free owned blocks are exactly bucket P.
            while c.pages > target || (all && !c.owned.list(p as usize).is_empty()) {
                let Some(block) = c.owned.list(p as usize).head() else {
                    break;
                };
                c.owned.remove(blocks, block);
                self.give_back(g, &mut c.pages, block);
            }
            // Then partly used blocks, largest free units first; blocks with no free unit only
            // when draining everything.
            let buckets = (0..p as usize).rev().chain(all.then_some(FULL_BUCKET));
            for bucket in buckets {
                while c.pages > target || all {
                    let Some(block) = c.owned.list(bucket).head() else {
                        break;
                    };
                    c.owned.remove(blocks, block);
                    self.give_back(g, &mut c.pages, block);
                }
            }
            // Parked frees of fragments that their freers have notified.
            self.absorb_global_queue(g);
        });
    }

    /// Puts the cache's `whole` block back into its buddy: a wholly free owned block again.
    /// Cache lock held.
    pub(super) fn put_whole(&self, c: &mut CpuCache) {
        let Some(page) = c.whole.take() else {
            return;
        };
        let block = page as usize >> self.geo.block_order();
        let buddy = self.buddy(block);
        let compound = unit::compound(buddy.load(0));
        buddy.put(0, self.geo.block_order(), compound);
        c.owned
            .rebucket(self.blocks(), block, bucket_of(&buddy), false);
    }

    /// Hands an owned block (already unlinked from its owner) to the global pool: whole if
    /// wholly free, else as a fragment queued last.
    fn give_back(&self, g: &mut GlobalPool, pages: &mut usize, block: usize) {
        let blocks = self.blocks();
        let buddy = self.buddy(block);
        let free = buddy.free_pages();
        *pages -= free;
        g.pages += free;
        if buddy.is_whole_free() {
            blocks[block].set_kind(BlockKind::Free);
            g.free.push_front(blocks, block);
            self.global_stats.blocks_returned.inc();
        } else {
            blocks[block].set_kind(BlockKind::Fragment);
            g.fragments.insert(blocks, block, bucket_of(&buddy), true);
            self.global_stats.fragments_created.inc();
            self.platform.trace(Event::Fragment {
                block,
                event: FragmentEvent::Created,
                free_pages: free,
            });
        }
    }

    /// Returns everything `cpu`'s cache holds to the global pool: for CPU hotplug, reclaim and
    /// tests. Any CPU may call it; the CPU's magazine is not touched (see the module doc).
    pub fn drain_cpu(&self, cpu: usize) {
        let Some(stats) = self.stats_of(cpu) else {
            return;
        };
        self.platform.caches()[cpu].with(|c| {
            stats.drains.inc();
            self.absorb_remote_locked(cpu, c, stats, None);
            // Queue entries can be stale or late, and notifications may still sit in outboxes:
            // scan every owned block.
            self.absorb_all_owned(c, stats);
            let pages = c.pages;
            self.shrink(c, stats, 0, true);
            debug_assert!(c.owned.is_empty() && c.loose.is_empty() && c.pages == 0);
            self.platform.trace(Event::Drain {
                cpu,
                kind: DrainKind::Drain,
                pages,
            });
        });
    }

    /// Absorbs `cpu`'s remote queue now (for a periodic worker, so that an idle CPU does not
    /// delay the absorption of blocks it owns).
    // Host tests only: the module has no such worker (`MODULE`: the kernel's cfg for modules).
    #[cfg(not(MODULE))]
    pub fn absorb_remote(&self, cpu: usize) -> usize {
        let Some(stats) = self.stats_of(cpu) else {
            return 0;
        };
        self.platform.caches()[cpu].with(|c| self.absorb_remote_locked(cpu, c, stats, None))
    }

    /// Absorbs the parked frees of every fragment, by a full scan of each (for unload, a
    /// periodic worker, and tests; the allocator itself does it on reclaim and recovery).
    pub fn absorb_fragments_now(&self) {
        self.with_global_uncounted(|g| self.absorb_all_fragments(g));
    }

    /// Takes `cpu`'s remote queue and absorbs the blocks it owns; forwards blocks it no longer
    /// owns. With `mag` (`cpu`'s magazine, on its allocation path), small units go straight into
    /// its stacks while they are less than half full, unmerged, as a local free would: a page
    /// freed remotely and allocated again by its owner then costs no merge and no split. Returns
    /// the pages absorbed. Cache lock held.
    pub(super) fn absorb_remote_locked(
        &self,
        cpu: usize,
        c: &mut CpuCache,
        stats: &CpuStats,
        mut mag: Option<&mut Magazine>,
    ) -> usize {
        let blocks = self.blocks();
        let queues = self.platform.remote_queues();
        let mut next = queues[cpu].take_all();
        let mut total = 0;
        while next != NIL {
            let block = next as usize;
            let (after, groups) = remote::start_absorb(blocks, block);
            next = after;
            match blocks[block].kind() {
                BlockKind::Owned(owner) if owner as usize == cpu => {
                    total += self.absorb_owned(c, stats, block, groups, mag.as_deref_mut());
                }
                _ => remote::forward(blocks, queues, block, groups),
            }
        }
        total
    }

    /// Absorbs the parked units of `groups` of an owned block, small ones into `mag` while its
    /// stacks are less than half full. Cache lock held.
    fn absorb_owned(
        &self,
        c: &mut CpuCache,
        stats: &CpuStats,
        block: usize,
        groups: u64,
        mag: Option<&mut Magazine>,
    ) -> usize {
        let buddy = self.buddy(block);
        let (absorbed, diverted, merges) = match mag {
            Some(mag) => {
                let first = self.geo.first_page(block);
                let mag_max = self.mag_max;
                buddy.absorb_parked(groups, |off, k| {
                    let take = k <= mag_max && mag.len(k) < mag.limit(k) / 2;
                    if take {
                        mag.push(k, first + off);
                    }
                    take
                })
            }
            None => buddy.absorb_parked(groups, |_, _| false),
        };
        if absorbed != 0 {
            c.owned
                .rebucket(self.blocks(), block, bucket_of(&buddy), false);
            c.pages += absorbed;
        }
        if absorbed + diverted != 0 {
            stats.absorbs.inc();
            stats.absorbed_pages.add((absorbed + diverted) as u64);
            stats.merges_local.add(u64::from(merges));
        }
        absorbed + diverted
    }

    /// Absorbs every owned block of the cache by a full scan, whatever its hint says.
    fn absorb_all_owned(&self, c: &mut CpuCache, stats: &CpuStats) {
        for bucket in 0..=FULL_BUCKET {
            // Absorbing moves blocks between buckets; a block moved to a bucket not yet
            // walked is scanned again, which finds nothing.
            let mut walk = c.owned.list(bucket).walk();
            while let Some(block) = walk.next(self.blocks()) {
                remote::take_hint(self.blocks(), block);
                self.absorb_owned(c, stats, block, u64::MAX, None);
            }
        }
    }

    /// Absorbs the fragments on the global queue. Global lock held.
    pub(super) fn absorb_global_queue(&self, g: &mut GlobalPool) {
        let blocks = self.blocks();
        let queues = self.platform.remote_queues();
        let mut next = queues[queues.len() - 1].take_all();
        while next != NIL {
            let block = next as usize;
            let (after, groups) = remote::start_absorb(blocks, block);
            next = after;
            match blocks[block].kind() {
                BlockKind::Fragment => self.absorb_fragment(g, block, groups),
                _ => remote::forward(blocks, queues, block, groups),
            }
        }
    }

    /// Absorbs every fragment by a full scan. Global lock held.
    pub(super) fn absorb_all_fragments(&self, g: &mut GlobalPool) {
        self.absorb_global_queue(g);
        for bucket in 0..=FULL_BUCKET {
            let mut walk = g.fragments.list(bucket).walk();
            while let Some(block) = walk.next(self.blocks()) {
                self.absorb_fragment(g, block, u64::MAX);
            }
        }
    }

    /// Absorbs the parked units of `groups` (all of them for `u64::MAX`, a full scan) of a
    /// fragment; a wholly free one becomes a free block. Global lock held.
    pub(super) fn absorb_fragment(&self, g: &mut GlobalPool, block: usize, groups: u64) {
        let blocks = self.blocks();
        if groups == u64::MAX {
            remote::take_hint(blocks, block);
        }
        let buddy = self.buddy(block);
        let (absorbed, _, merges) = buddy.absorb_parked(groups, |_, _| false);
        if absorbed == 0 {
            return;
        }
        g.pages += absorbed;
        self.global_stats.absorbed_pages.add(absorbed as u64);
        self.global_stats.merges_global.add(u64::from(merges));
        if buddy.is_whole_free() {
            g.fragments.remove(blocks, block);
            blocks[block].set_kind(BlockKind::Free);
            g.free.push_front(blocks, block);
            self.global_stats.fragments_freed.inc();
            self.platform.trace(Event::Fragment {
                block,
                event: FragmentEvent::Freed,
                free_pages: buddy.free_pages(),
            });
        } else {
            g.fragments.rebucket(blocks, block, bucket_of(&buddy), true);
        }
    }
}
