//! The allocation slow path: what happens when the magazine has nothing of the order asked for.
//!
//! Under the CPU's cache lock (interrupts stay disabled in the kernel):
//!
//! 0. for a magazine order, absorb the CPU's remote queue if it has anything: the small units
//!    other CPUs freed into our blocks go straight into the magazine, unmerged;
//! 1. take from the cache: for a magazine order, refill the magazine with about `batch` pages
//!    of units of that order from the owned blocks (one lock round trip for many allocations);
//!    for a larger order, one unit from the owned blocks (a whole compound block preferred for
//!    a folio of the block order, a plain one otherwise) or a loose chunk of exactly the order;
//! 2. else return the magazine's units of every order to their blocks, where they may merge
//!    into a unit of the order asked for, and retry;
//! 3. else absorb the CPU's remote queue, and retry;
//! 4. else refill under the global lock, in the RFC's order. Phase 0: recover a fragment with a
//!    free unit of order `>= k` into ownership (ownership and recovery on, and its free pages
//!    fit `high`). Phase 1: claim wholly free blocks, several at once for large orders
//!    (ownership on, and they fit `high`). Phase 2, degrade: take unowned chunks of exactly the
//!    order, about `batch` pages, from shared blocks, turning a free block shared if needed (no
//!    free block left, a block would not fit `high`, or ownership off);
//! 5. after dropping the cache lock, phase 3, reclaim: absorb the fragments' parked frees, then
//!    drain the other CPUs' caches one by one until the global pool can serve the order; then
//!    retry, and as the very last resort allocate straight from a shared or fragment block under
//!    the global lock.
//!
//! Other CPUs' magazines are out of reach here (each is touched only by its own CPU): what they
//! hold is bounded by their capacity, and the kernel glue flushes them with an IPI when the
//! calling context allows it and an allocation still fails.

use super::super::block::BlockKind;
use super::super::buddy::Taken;
use super::super::cache::CpuCache;
use super::super::error::AllocError;
use super::super::global::GlobalPool;
use super::super::magazine::Magazine;
use super::super::policy::Policy;
use super::super::stats::CpuStats;
use super::super::trace::{Event, FragmentEvent, RefillPhase};
use super::super::unit::{self, ALLOC, CACHED};
use super::{bucket_of, Allocation, Lock, Platform, Pool};

/// Units of order `k <= self.mag_max` one magazine refill takes: about `batch` pages.
fn refill_units(policy: &Policy, mag: &Magazine, k: u32) -> usize {
    let limit = mag.limit(k);
    ((policy.batch as usize) >> k)
        .clamp(1, limit.div_ceil(2))
        .min(limit.saturating_sub(mag.len(k)))
}

impl<Pl: Platform> Pool<Pl> {
    /// The allocation slow path (its caller, `Pool::alloc_slow_path`, is the out-of-line one).
    #[inline]
    pub(super) fn alloc_slow(
        &self,
        mag: &mut Magazine,
        stats: &CpuStats,
        k: u32,
        folio: bool,
    ) -> Result<Allocation, AllocError> {
        if k > self.geo.block_order() {
            stats.alloc_bad_order.inc();
            return Err(AllocError::BadOrder);
        }
        let policy = self.policy.get();
        mag.set_limits(policy.high);
        let cpu = mag.cpu();
        let cache = &self.platform.caches()[cpu];
        self.flush_outbox(mag);
        let mut found = cache.with(|c| self.alloc_locked(c, mag, stats, &policy, k, folio, false));
        if found.is_none() {
            // Phase 3 takes other CPUs' cache locks, so ours must not be held.
            stats.reclaims.inc();
            self.reclaim(cpu, k);
            found = cache.with(|c| self.alloc_locked(c, mag, stats, &policy, k, folio, true));
        }
        self.flush_outbox(mag);
        found.ok_or_else(|| {
            stats.alloc_failures.inc();
            AllocError::OutOfMemory
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn alloc_locked(
        &self,
        c: &mut CpuCache,
        mag: &mut Magazine,
        stats: &CpuStats,
        policy: &Policy,
        k: u32,
        folio: bool,
        last_resort: bool,
    ) -> Option<Allocation> {
        // Pages other CPUs gave back to our blocks first, while they are warm: small ones go
        // straight into the magazine (no merge, no split), as the kernel's per-CPU lists reuse
        // the pages freed last.
        if k <= self.mag_max
            && mag.len(k) == 0
            && !self.platform.remote_queues()[mag.cpu()].is_empty()
        {
            self.absorb_remote_locked(mag.cpu(), c, stats, Some(&mut *mag));
        }
        if let Some(found) = self.take_cached(c, mag, stats, policy, k, folio) {
            return Some(found);
        }
        /// What may produce something to take, in this order.
        enum Step {
            /// Our own cached units may merge into a unit of order >= k.
            FlushMagazine,
            /// Then what other CPUs freed into our blocks.
            AbsorbRemote,
            /// Then the global pool.
            Refill,
        }
        for step in [Step::FlushMagazine, Step::AbsorbRemote, Step::Refill] {
            let produced = match step {
                Step::FlushMagazine => {
                    let any = mag.pages() != 0;
                    if any {
                        self.flush_magazine_locked(c, mag, stats);
                    }
                    any
                }
                Step::AbsorbRemote => self.absorb_remote_locked(mag.cpu(), c, stats, None) != 0,
                Step::Refill => self.refill(c, mag, stats, policy, k),
            };
            if produced {
                if let Some(found) = self.take_cached(c, mag, stats, policy, k, folio) {
                    return Some(found);
                }
            }
        }
        if last_resort {
            return self.alloc_direct(stats, k, folio);
        }
        None
    }

    /// Allocates from the cache (step 1).
    fn take_cached(
        &self,
        c: &mut CpuCache,
        mag: &mut Magazine,
        stats: &CpuStats,
        policy: &Policy,
        k: u32,
        folio: bool,
    ) -> Option<Allocation> {
        let p = self.geo.block_order();
        if k <= self.mag_max {
            if mag.len(k) == 0 {
                self.refill_magazine(c, mag, stats, policy, k);
            }
            let page = mag.pop(k)?;
            self.buddy(page >> p)
                .store(self.geo.offset_of(page), unit::unit(ALLOC, k, folio));
            return Some(Allocation {
                page,
                make_compound: folio && k > 0,
            });
        }
        let blocks = self.blocks();
        if k == p {
            if let Some(found) = self.take_whole(c, stats, folio) {
                return Some(found);
            }
        }
        if let Some(block) = self.pick_owned(c, k, folio) {
            let buddy = self.buddy(block);
            let taken = buddy.take(k, k, ALLOC, folio)?;
            c.owned.rebucket(blocks, block, bucket_of(&buddy), false);
            c.pages -= 1 << k;
            let make_compound = self.settle_compound(stats, block, taken, folio);
            return Some(Allocation {
                page: self.geo.first_page(block) + taken.off,
                make_compound,
            });
        }
        let page = c.loose.pop(k)?;
        c.pages -= 1 << k;
        let block = page >> p;
        let off = self.geo.offset_of(page);
        let buddy = self.buddy(block);
        let was_compound = unit::compound(buddy.load(off));
        buddy.store(off, unit::unit(ALLOC, k, folio));
        let taken = Taken {
            off,
            order: k,
            was_compound,
        };
        let make_compound = self.settle_compound(stats, block, taken, folio);
        Some(Allocation {
            page,
            make_compound,
        })
    }

    /// Takes the cache's `whole` block for an allocation of the block order, if it has one
    /// whose compound state is the one wanted, or no other free owned block to choose from.
    fn take_whole(&self, c: &mut CpuCache, stats: &CpuStats, folio: bool) -> Option<Allocation> {
        let page = c.whole? as usize;
        let p = self.geo.block_order();
        let block = page >> p;
        let buddy = self.buddy(block);
        let was_compound = unit::compound(buddy.load(0));
        if was_compound != folio && !c.owned.list(p as usize).is_empty() {
            return None;
        }
        c.whole = None;
        buddy.store(0, unit::unit(ALLOC, p, folio));
        c.pages -= 1 << p;
        let taken = Taken {
            off: 0,
            order: p,
            was_compound,
        };
        let make_compound = self.settle_compound(stats, block, taken, folio);
        Some(Allocation {
            page,
            make_compound,
        })
    }

    /// An owned block to take a unit of order `k > MAG_MAX_ORDER` from: best fit, and for the
    /// block order a whole block that is compound exactly when a folio is wanted, if there is
    /// one (so that neither a cached folio is undone nor a plain block made compound needlessly).
    fn pick_owned(&self, c: &CpuCache, k: u32, folio: bool) -> Option<usize> {
        let p = self.geo.block_order();
        if k < p {
            return c.owned.find(k);
        }
        let list = c.owned.list(p as usize);
        let mut walk = list.walk();
        while let Some(block) = walk.next(self.blocks()) {
            if self.buddy(block).is_whole_compound() == folio {
                return Some(block);
            }
        }
        list.head()
    }

    /// Refills magazine stack `k` with units from the owned blocks (step 1).
    fn refill_magazine(
        &self,
        c: &mut CpuCache,
        mag: &mut Magazine,
        stats: &CpuStats,
        policy: &Policy,
        k: u32,
    ) {
        let blocks = self.blocks();
        let want = refill_units(policy, mag, k);
        let mut got = 0;
        while got < want {
            let Some(block) = c.owned.find(k) else {
                break;
            };
            let buddy = self.buddy(block);
            // Units of one block while it has them: each take after the first splits little.
            while got < want {
                let Some(taken) = buddy.take(k, k, CACHED, false) else {
                    break;
                };
                if taken.was_compound {
                    self.platform.uncompound(block);
                    stats.compound_undone.inc();
                }
                mag.push(k, self.geo.first_page(block) + taken.off);
                c.pages -= 1 << k;
                got += 1;
            }
            c.owned.rebucket(blocks, block, bucket_of(&buddy), false);
        }
        if got != 0 {
            stats.mag_refills.inc();
        }
    }

    /// Whole blocks one phase-1 refill claims for order `k`: one block serves many small
    /// allocations, but a stream of large ones would otherwise take the global lock for each.
    fn claim_count(&self, policy: &Policy, k: u32) -> usize {
        let want = (1usize << k).max(((policy.high as usize) / 2).min(8 << k));
        want.div_ceil(self.geo.block_pages()).max(1)
    }

    /// Phases 0 to 2 under the global lock. Returns whether the cache or the magazine now has
    /// a unit of order `>= k` (of exactly `k` for degrade).
    fn refill(
        &self,
        c: &mut CpuCache,
        mag: &mut Magazine,
        stats: &CpuStats,
        policy: &Policy,
        k: u32,
    ) -> bool {
        let cpu = mag.cpu();
        let high = policy.high as usize;
        let block_pages = self.geo.block_pages();
        let blocks = self.blocks();
        let phase = self.with_global(stats, |g| {
            self.absorb_global_queue(g);
            let held = c.pages + mag.pages();
            if policy.ownership {
                if policy.fragment_recovery {
                    if let Some(block) = g.fragments.find(k) {
                        // Its parked frees first: a full scan, so that units whose freers
                        // have not notified yet come back too.
                        self.absorb_fragment(g, block, u64::MAX);
                        let buddy = self.buddy(block);
                        if blocks[block].kind() == BlockKind::Fragment
                            && held + buddy.free_pages() <= high
                        {
                            g.fragments.remove(blocks, block);
                            self.own(g, c, cpu, block);
                            self.global_stats.fragments_recovered.inc();
                            self.platform.trace(Event::Fragment {
                                block,
                                event: FragmentEvent::Recovered,
                                free_pages: buddy.free_pages(),
                            });
                            return Some((RefillPhase::Recover, 1));
                        }
                    }
                }
                let mut claimed = 0;
                while claimed < self.claim_count(policy, k)
                    && held + (claimed + 1) * block_pages <= high
                {
                    let Some(block) = g.free.pop_front(blocks) else {
                        break;
                    };
                    self.own(g, c, cpu, block);
                    self.global_stats.blocks_claimed.inc();
                    claimed += 1;
                }
                if claimed != 0 {
                    return Some((RefillPhase::Claim, claimed as u32));
                }
            }
            let taken = self.degrade(g, c, mag, stats, policy, k);
            (taken != 0).then_some((RefillPhase::Degrade, taken))
        });
        let Some((phase, count)) = phase else {
            return false;
        };
        match phase {
            RefillPhase::Recover => stats.refill_recover.inc(),
            RefillPhase::Claim => stats.refill_claim.inc(),
            _ => stats.refill_degrade.inc(),
        }
        self.platform.trace(Event::Refill {
            order: k,
            phase,
            count,
        });
        true
    }

    /// Moves a block from the global pool (already unlinked) into `cpu`'s cache.
    fn own(&self, g: &mut GlobalPool, c: &mut CpuCache, cpu: usize, block: usize) {
        let buddy = self.buddy(block);
        let free = buddy.free_pages();
        self.blocks()[block].set_kind(BlockKind::Owned(cpu as u32));
        c.owned
            .insert(self.blocks(), block, bucket_of(&buddy), false);
        g.pages -= free;
        c.pages += free;
    }

    /// A block of the global pool to cut unowned chunks of order `k` from: a shared block with
    /// such a unit, else a free block made shared.
    fn shared_block(&self, g: &mut GlobalPool, k: u32) -> Option<usize> {
        if let Some(block) = g.shared.find(k) {
            return Some(block);
        }
        let blocks = self.blocks();
        let block = g.free.pop_front(blocks)?;
        blocks[block].set_kind(BlockKind::Shared);
        g.shared
            .insert(blocks, block, self.geo.block_order() as usize, false);
        self.global_stats.shared_created.inc();
        Some(block)
    }

    /// Phase 2: takes unowned chunks of order `k`, about `batch` pages, into the magazine (small
    /// orders) or the loose stack of order `k`. Returns the chunks taken.
    fn degrade(
        &self,
        g: &mut GlobalPool,
        c: &mut CpuCache,
        mag: &mut Magazine,
        stats: &CpuStats,
        policy: &Policy,
        k: u32,
    ) -> u32 {
        let blocks = self.blocks();
        let small = k <= self.mag_max;
        let want = if small {
            refill_units(policy, mag, k)
        } else if c.loose.is_full(k) {
            0
        } else {
            ((policy.batch as usize) >> k).max(1)
        };
        let mut got = 0;
        while got < want && (small || !c.loose.is_full(k)) {
            let Some(block) = self.shared_block(g, k) else {
                break;
            };
            let buddy = self.buddy(block);
            let Some(taken) = buddy.take(k, k, CACHED, false) else {
                break;
            };
            if taken.was_compound {
                self.platform.uncompound(block);
                stats.compound_undone.inc();
            }
            g.shared.rebucket(blocks, block, bucket_of(&buddy), false);
            g.pages -= 1 << k;
            self.global_stats.chunks_out.inc();
            let page = self.geo.first_page(block) + taken.off;
            if small {
                mag.push(k, page);
            } else {
                c.loose.push(k, page);
                c.pages += 1 << k;
            }
            got += 1;
        }
        u32::try_from(got).unwrap_or(u32::MAX)
    }

    /// Last resort: one unit straight from a shared or fragment block (or a free block made
    /// shared), under the global lock.
    fn alloc_direct(&self, stats: &CpuStats, k: u32, folio: bool) -> Option<Allocation> {
        let blocks = self.blocks();
        let found = self.with_global(stats, |g| {
            let fragment = g.shared.find(k).is_none() && g.fragments.find(k).is_some();
            let block = if fragment {
                g.fragments.find(k)?
            } else {
                self.shared_block(g, k)?
            };
            let buddy = self.buddy(block);
            let taken = buddy.take(k, k, ALLOC, folio)?;
            let list = if fragment {
                &mut g.fragments
            } else {
                &mut g.shared
            };
            list.rebucket(blocks, block, bucket_of(&buddy), fragment);
            g.pages -= 1 << k;
            self.global_stats.direct_allocs.inc();
            let make_compound = self.settle_compound(stats, block, taken, folio);
            Some(Allocation {
                page: self.geo.first_page(block) + taken.off,
                make_compound,
            })
        });
        if found.is_some() {
            stats.fallbacks.inc();
            self.platform.trace(Event::Refill {
                order: k,
                phase: RefillPhase::Fallback,
                count: 1,
            });
        }
        found
    }

    /// Phase 3: absorbs fragments, then drains other CPUs' caches (and finally this one's)
    /// until the global pool can serve order `k`. Takes each cache lock on its own; the caller
    /// holds none.
    fn reclaim(&self, cpu: usize, k: u32) {
        let nr = self.nr_cpus();
        let satisfiable = |g: &GlobalPool| {
            !g.free.is_empty() || g.shared.find(k).is_some() || g.fragments.find(k).is_some()
        };
        let done = self.with_global_uncounted(|g| {
            self.absorb_all_fragments(g);
            satisfiable(g)
        });
        let mut drained = 0;
        let mut satisfied = done;
        if !done {
            for step in 1..=nr {
                let victim = (cpu + step) % nr;
                self.drain_cpu(victim);
                drained += 1;
                if self.with_global_uncounted(|g| satisfiable(g)) {
                    satisfied = true;
                    break;
                }
            }
        }
        self.platform.trace(Event::Reclaim {
            order: k,
            drained,
            satisfied,
        });
    }
}
