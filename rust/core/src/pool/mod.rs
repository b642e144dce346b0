//! The allocator: per-CPU magazines in front of per-CPU caches of owned blocks, over a global
//! pool of pageblocks, with the RFC's refill order and the lock-free remote free.
//!
//! * `front.rs`: the fast paths, `alloc` and `free` through a CPU's magazine;
//! * `refill.rs`: what an allocation does when the magazine and the cache have nothing: the
//!   refill phases under the global lock, and reclaim from other CPUs;
//! * `flush.rs`: what goes back: magazine flushes, local frees of large orders, trims, drains
//!   and the absorption of remote frees;
//! * `report.rs`: counters, block and fragmentation views, the invariant checker's entry points.
//!
//! The design, with the invariants each part keeps, is in `Documentation/core.md`.

mod flush;
mod front;
mod refill;
mod report;

pub use front::FastFree;

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::block::{BlockKind, BlockMeta};
use super::buddy::{Buddy, Taken};
use super::cache::CpuCache;
use super::error::{InitError, PolicyError};
use super::geometry::{Geometry, PageIndex};
use super::global::GlobalPool;
use super::list::FULL_BUCKET;
use super::magazine::MAG_MAX_ORDER;
use super::platform::{Lock, Platform};
use super::policy::{Policy, PolicyCell};
use super::stats::{CpuStats, GlobalStats};

/// What an allocation hands out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Allocation {
    /// The first page.
    pub page: PageIndex,
    /// The caller asked for a folio and must make the unit a compound page before handing it
    /// out; `false` for plain pages, for order 0, and for a folio of the pageblock order that
    /// kept its compound state while it was cached.
    pub make_compound: bool,
}

/// A page pool over the storage of a [`Platform`].
///
/// # Invariants
///
/// * `geo` describes the platform's storage: `maps()` and `bitmaps()` have at least
///   `geo.map_lines()` and `geo.bitmap_lines()` lines, `caches()` has `1..=u32::MAX >> 2` entries
///   (an owner is stored `<< 2`) and `remote_queues()` one more (checked by `Pool::new`).
/// * `mag_max == min(MAG_MAX_ORDER, P - 1)`, `map_shift == min(P, 6)`,
///   `map_mask == (1 << map_shift) - 1`; `map_lines` and `bitmap_lines` are `geo`'s per-block
///   counts. They never change.
/// * Every block is on exactly one list of its holder (`GlobalPool`, `CpuCache`) when no
///   operation runs.
pub struct Pool<Pl: Platform> {
    platform: Pl,
    geo: Geometry,
    /// Largest order the magazines cache: `MAG_MAX_ORDER`, but below the block order (whole
    /// blocks, which may be folios that keep their compound state, never sit in a magazine).
    mag_max: u32,
    /// Page index to its state byte in `maps()`: line `page >> map_shift`, byte
    /// `page & map_mask` (the fast paths' one-load lookup, see [`Pool::unit_byte`]).
    map_shift: u32,
    map_mask: usize,
    /// `geo.map_lines_per_block()` and `geo.bitmap_lines_per_block()`, for [`Pool::buddy`].
    map_lines: usize,
    bitmap_lines: usize,
    policy: PolicyCell,
    global_stats: GlobalStatsLine,
    /// Calls with a magazine of a CPU index out of range (no CPU to account them to).
    bad_cpu: AtomicU64,
}

/// The global counters, alone on their cache lines. Whichever CPU holds the global lock writes
/// them; beside the fields every fast path reads (`mag_max`, `map_shift`, `map_mask`, the
/// platform's table pointers) each of those writes took the line away from every other CPU, whose
/// next alloc or free then missed (false sharing: `benches/contention`, pattern `interfere`).
#[repr(align(64))]
struct GlobalStatsLine(GlobalStats);

impl core::ops::Deref for GlobalStatsLine {
    type Target = GlobalStats;

    fn deref(&self) -> &GlobalStats {
        &self.0
    }
}

/// Bucket of a block from its buddy: its largest free order, or full.
pub(crate) fn bucket_of(buddy: &Buddy<'_>) -> usize {
    buddy
        .max_free_order()
        .map_or(FULL_BUCKET, |order| order as usize)
}

impl<Pl: Platform> Pool<Pl> {
    /// Creates a pool over the platform's storage and puts every block into the
    /// global pool as a free block. The storage's previous contents are ignored.
    pub fn new(platform: Pl, block_order: u32) -> Result<Self, InitError> {
        let geo =
            Geometry::new(block_order, platform.blocks().len()).ok_or(InitError::BadGeometry)?;
        if platform.maps().len() < geo.map_lines() || platform.bitmaps().len() < geo.bitmap_lines()
        {
            return Err(InitError::MapTooSmall);
        }
        let nr_cpus = platform.caches().len();
        if nr_cpus == 0 || nr_cpus > (u32::MAX >> 2) as usize {
            return Err(InitError::CacheCount);
        }
        if platform.remote_queues().len() != nr_cpus + 1 {
            return Err(InitError::CacheCount);
        }
        // INVARIANT: the storage lengths were checked above; the derived fields are computed
        // from `geo` here once; every block goes on the free list below.
        let pool = Self {
            platform,
            geo,
            mag_max: MAG_MAX_ORDER.min(block_order - 1),
            // A block's map is `map_lines_per_block` whole lines: 64 pages a line from order 6
            // up, one (partly used) line per block below.
            map_lines: geo.map_lines_per_block(),
            bitmap_lines: geo.bitmap_lines_per_block(),
            map_shift: block_order.min(6),
            map_mask: (1 << block_order.min(6)) - 1,
            // INVARIANT: `default_for` gives `batch >= 1`, a valid policy (`PolicyCell`).
            policy: PolicyCell::new(Policy::default_for(block_order)),
            global_stats: GlobalStatsLine(GlobalStats::new()),
            bad_cpu: AtomicU64::new(0),
        };
        let blocks = pool.platform.blocks();
        pool.platform.global().with(|g| {
            *g = GlobalPool::new();
            for (block, meta) in blocks.iter().enumerate().take(geo.nr_blocks()) {
                meta.set_kind(BlockKind::Free);
                meta.queued().store(0, super::sync::Ordering::Relaxed);
                meta.parked_hint().store(0, super::sync::Ordering::Relaxed);
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

    /// The largest order the magazines cache: larger frees and allocations always take the slow
    /// path.
    #[inline(always)]
    pub fn mag_max(&self) -> u32 {
        self.mag_max
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
    #[inline]
    pub(crate) fn buddy(&self, block: usize) -> Buddy<'_> {
        // The block is checked first; then the products cannot overflow (the platform's arrays
        // have `nr_blocks * lines` entries), so wrapping arithmetic spares an overflow-checked
        // build its checks on every slow path. The slices are still bounds-checked.
        let counts = self.platform.blocks()[block].counts();
        // INVARIANT: the map lines, bitmap lines and counts are all block `block`'s (`Buddy`).
        let map = block.wrapping_mul(self.map_lines);
        let bits = block.wrapping_mul(self.bitmap_lines);
        Buddy::new(
            &self.platform.maps()[map..map.wrapping_add(self.map_lines)],
            &self.platform.bitmaps()[bits..bits.wrapping_add(self.bitmap_lines)],
            counts,
            &self.geo,
        )
    }

    /// The state byte of page `page` (which must be in the pool), without building a buddy view.
    #[inline(always)]
    pub(crate) fn unit_byte(&self, page: PageIndex) -> &super::sync::AtomicU8 {
        // INVARIANT: `map_shift < 64`, so the wrapping shift is the plain one, without the check
        // an overflow-checked build would add; the indices are bounds-checked.
        &self.platform.maps()[page.wrapping_shr(self.map_shift)].0[page & self.map_mask]
    }

    /// The outbox group bit of offset `off` in its block (see `Buddy::group_shift`).
    #[inline(always)]
    fn group_bit(&self, off: usize) -> u64 {
        // `off >> max(P - 6, 0) < 64`: the wrapping shift is the plain one.
        1u64.wrapping_shl((off >> self.geo.block_order().saturating_sub(6)) as u32)
    }

    /// Traces an allocation. `#[inline(always)]`: the event is built in place, as written out.
    #[inline(always)]
    fn trace_alloc(&self, page: PageIndex, order: u32, folio: bool, slow: bool) {
        self.platform.trace(super::trace::Event::Alloc {
            page,
            order,
            folio,
            slow,
        });
    }

    /// Traces a free. `#[inline(always)]`: the event is built in place, as written out.
    #[inline(always)]
    fn trace_free(&self, page: PageIndex, order: u32, folio: bool, remote: bool) {
        self.platform.trace(super::trace::Event::Free {
            page,
            order,
            folio,
            remote,
        });
    }

    /// The counters of `cpu`, or `None` (counted) for a CPU index out of range.
    #[inline(always)]
    fn stats_of(&self, cpu: usize) -> Option<&CpuStats> {
        let stats = self.platform.try_cpu_stats(cpu);
        if stats.is_none() {
            self.count_bad_cpu();
        }
        stats
    }

    /// Counts a call with a magazine of a CPU out of range (any CPU: an atomic add, off the fast
    /// path).
    #[cold]
    #[inline(never)]
    fn count_bad_cpu(&self) {
        self.bad_cpu.fetch_add(1, Relaxed);
    }

    /// Takes the global lock on behalf of `cpu`'s counters.
    fn with_global<R>(&self, stats: &CpuStats, f: impl FnOnce(&mut GlobalPool) -> R) -> R {
        stats.global_locks.inc();
        self.with_global_uncounted(f)
    }

    /// Takes the global lock for work no CPU asked for (reporting, unload, periodic work).
    fn with_global_uncounted<R>(&self, f: impl FnOnce(&mut GlobalPool) -> R) -> R {
        self.platform.global().with(|g| {
            self.global_stats.lock_acquisitions.inc();
            f(g)
        })
    }

    /// After `buddy.take`: undoes the compound state of a whole block that the take split, or
    /// that is handed out as anything but a folio of the block order; says whether the caller
    /// must make the unit compound. Holder's lock held.
    fn settle_compound(&self, stats: &CpuStats, block: usize, taken: Taken, folio: bool) -> bool {
        let whole = taken.order == self.geo.block_order();
        if taken.was_compound {
            if folio && whole {
                stats.folios_kept.inc();
                return false;
            }
            self.platform.uncompound(block);
            stats.compound_undone.inc();
        }
        folio && taken.order > 0
    }
}
