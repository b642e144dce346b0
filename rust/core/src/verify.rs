//! The invariant checker.
//!
//! Checked under the lock of each holder (exact even under traffic):
//!
//! * every block on a holder's list has the matching state (and owner) and sits in the bucket
//!   of its largest free order;
//! * every block's map partitions the block into aligned power-of-two units (the inside of a
//!   unit all `NONE`), with no two free buddies of one order left unmerged; its free bitmaps
//!   have exactly its `FREE` units and its counts match; a free block is one free unit; parked
//!   units occur only in owned and fragment blocks; only whole-block units that are not
//!   allocated may keep the compound bit of a cached folio;
//! * each holder's free-page counter equals the free pages of what it holds (the free units of
//!   its blocks, plus its loose chunks for a CPU), and every loose chunk is a cached unit of its
//!   order in a shared block.
//!
//! Checked only when quiescent (no alloc, free or drain running), given every magazine:
//!
//! * the lists hold every block exactly once;
//! * every magazine entry is a cached, non-compound unit of its order, and every cached unit of
//!   the pool is listed exactly once by a magazine or a loose stack;
//! * every page is allocated, free in a holder's buddy, cached, or parked, and the holders'
//!   counters add up to the pool: `allocated + cache pages + global pages + magazine pages +
//!   parked pages == total`; the allocated pages in the maps match the allocation and free
//!   counters.

use super::block::BlockKind;
use super::cache::CpuCache;
use super::error::VerifyError;
use super::geometry::NR_ORDERS;
use super::list::{Buckets, FULL_BUCKET};
use super::magazine::{Magazine, MAG_MAX_ORDER};
use super::platform::{Lock, Platform};
use super::pool::{bucket_of, Pool};
use super::unit::{self, ALLOC, CACHED, FREE, PARKED};

/// What a holder's walk found.
#[derive(Default)]
struct Tally {
    blocks: usize,
    free_pages: usize,
}

/// Checks one block's map, bitmaps and counts against its state. Holder's lock held.
fn check_block<Pl: Platform>(pool: &Pool<Pl>, block: usize) -> Result<usize, VerifyError> {
    let buddy = pool.buddy(block);
    let p = pool.geometry().block_order();
    let kind = pool.blocks()[block].kind();
    let mut nr_free = [0usize; NR_ORDERS];
    let mut free_pages = 0;
    let mut covered = 0;
    let mut units = 0;
    let mut error = None;
    let bad_state = VerifyError::BadState { block };
    buddy.for_each_unit(|off, order, byte| {
        if error.is_some() {
            return;
        }
        units += 1;
        if order == u32::MAX || off != covered || !buddy.all_none(off + 1, off + (1 << order)) {
            error = Some(VerifyError::BadUnit { block, offset: off });
            return;
        }
        covered = off + (1 << order);
        let whole = order == p;
        match unit::kind(byte) {
            FREE => {
                nr_free[order as usize] += 1;
                free_pages += 1 << order;
                let buddy_off = off ^ (1 << order);
                if !whole
                    && buddy_off > off
                    && buddy.load(buddy_off) == unit::unit(FREE, order, false)
                {
                    error = Some(VerifyError::Unmerged {
                        block,
                        offset: off,
                        order,
                    });
                }
            }
            _ if kind == BlockKind::Free => error = Some(bad_state),
            PARKED if kind == BlockKind::Shared => error = Some(bad_state),
            ALLOC | PARKED | CACHED => {}
            _ => error = Some(VerifyError::BadUnit { block, offset: off }),
        }
        if unit::compound(byte) && !whole && unit::kind(byte) != ALLOC {
            error = Some(bad_state);
        }
    });
    if let Some(error) = error {
        return Err(error);
    }
    if covered != pool.geometry().block_pages() {
        return Err(VerifyError::BadUnit {
            block,
            offset: covered,
        });
    }
    if kind == BlockKind::Free && units != 1 {
        return Err(bad_state);
    }
    if (0..=p).any(|k| buddy.nr_free(k) != nr_free[k as usize])
        || !buddy.orders_match_counts()
        || buddy.free_pages() != free_pages
        || !buddy.bitmap_matches_map()
    {
        return Err(VerifyError::BadCounts { block });
    }
    Ok(free_pages)
}

/// Walks buckets of one holder, checking states, buckets and blocks.
fn check_buckets<Pl: Platform>(
    pool: &Pool<Pl>,
    buckets: &Buckets,
    want: BlockKind,
    tally: &mut Tally,
) -> Result<(), VerifyError> {
    let blocks = pool.blocks();
    for bucket in 0..=FULL_BUCKET {
        let mut walk = buckets.list(bucket).walk();
        while let Some(block) = walk.next(blocks) {
            tally.blocks += 1;
            if blocks[block].kind() != want || blocks[block].bucket() != bucket {
                return Err(VerifyError::BadList { block });
            }
            tally.free_pages += check_block(pool, block)?;
            if bucket_of(&pool.buddy(block)) != bucket {
                return Err(VerifyError::BadList { block });
            }
        }
    }
    Ok(())
}

/// The block of `page` if it starts a cached unit of exactly `order` (compound allowed only if
/// `compound_ok`) in a block of a state `kind_ok` accepts.
fn cached_unit<Pl: Platform>(
    pool: &Pool<Pl>,
    page: usize,
    order: u32,
    compound_ok: bool,
    kind_ok: impl Fn(BlockKind) -> bool,
) -> Option<usize> {
    let geo = pool.geometry();
    let block = geo.block_of(page)?;
    let off = page - geo.first_page(block);
    let byte = pool.buddy(block).load(off);
    let ok = unit::kind(byte) == CACHED
        && unit::order(byte) == order
        && (compound_ok || !unit::compound(byte))
        && kind_ok(pool.blocks()[block].kind());
    ok.then_some(block)
}

/// Checks one CPU's cache. Its lock held.
fn check_cache<Pl: Platform>(
    pool: &Pool<Pl>,
    cpu: usize,
    c: &CpuCache,
    tally: &mut Tally,
) -> Result<(), VerifyError> {
    let p = pool.geometry().block_order();
    check_buckets(pool, &c.owned, BlockKind::Owned(cpu as u32), tally)?;
    for order in 0..=p {
        for &page in c.loose.chunks(order) {
            let page = page as usize;
            cached_unit(pool, page, order, order == p, |kind| {
                kind == BlockKind::Shared
            })
            .ok_or(VerifyError::BadLoose { cpu, page })?;
            tally.free_pages += 1 << order;
        }
    }
    if let Some(page) = c.whole {
        let page = page as usize;
        let owned = BlockKind::Owned(cpu as u32);
        cached_unit(pool, page, p, true, |kind| kind == owned)
            .filter(|&block| pool.geometry().first_page(block) == page)
            .ok_or(VerifyError::BadLoose { cpu, page })?;
        tally.free_pages += 1 << p;
    }
    if tally.free_pages != c.pages {
        return Err(VerifyError::PageCountMismatch {
            holder: cpu,
            found: tally.free_pages,
            recorded: c.pages,
        });
    }
    Ok(())
}

/// A 64-bit mix of a page index, summed over sets of units to compare them as multisets
/// without allocating (splitmix64's finaliser).
fn mix(page: usize) -> u64 {
    let mut x = (page as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Units listed by magazines or loose stacks, as a count and a sum of `mix`.
///
/// # Invariants
///
/// After `add` was called for each unit of a set, `units` is their number, `pages` the pages
/// they cover and `hash` the wrapping sum of `mix` of their first pages.
#[derive(Default)]
struct Listed {
    pages: usize,
    units: usize,
    hash: u64,
}

impl Listed {
    fn add(&mut self, page: usize, order: u32) {
        self.pages += 1 << order;
        self.units += 1;
        self.hash = self.hash.wrapping_add(mix(page));
    }
}

/// Checks the magazines: every entry a cached unit of its order. Adds them to `listed`.
fn check_magazines<Pl: Platform>(
    pool: &Pool<Pl>,
    magazines: &[&Magazine],
    listed: &mut Listed,
) -> Result<(), VerifyError> {
    for mag in magazines {
        let cpu = mag.cpu();
        for k in 0..=MAG_MAX_ORDER {
            for &page in mag.units(k) {
                let page = page as usize;
                cached_unit(pool, page, k, false, |kind| kind != BlockKind::Free)
                    .ok_or(VerifyError::BadCached { cpu, page })?;
                listed.add(page, k);
            }
        }
    }
    Ok(())
}

/// Runs the checks; with `magazines`, the quiescent ones too.
pub(crate) fn verify<Pl: Platform>(
    pool: &Pool<Pl>,
    magazines: Option<&[&Magazine]>,
) -> Result<(), VerifyError> {
    let geo = pool.geometry();
    let blocks = pool.blocks();
    let mut listed = 0;
    let mut cache_pages = 0;
    let mut loose = Listed::default();
    for (cpu, cache) in pool.platform().caches().iter().enumerate() {
        cache.with(|c| {
            let mut tally = Tally::default();
            check_cache(pool, cpu, c, &mut tally)?;
            listed += tally.blocks;
            cache_pages += c.pages;
            for k in 0..=geo.block_order() {
                for &page in c.loose.chunks(k) {
                    loose.add(page as usize, k);
                }
            }
            if let Some(page) = c.whole {
                loose.add(page as usize, geo.block_order());
            }
            Ok(())
        })?;
    }
    let global_pages = pool.platform().global().with(|g| {
        let mut tally = Tally::default();
        let mut walk = g.free.walk();
        while let Some(block) = walk.next(blocks) {
            tally.blocks += 1;
            if blocks[block].kind() != BlockKind::Free {
                return Err(VerifyError::BadList { block });
            }
            tally.free_pages += check_block(pool, block)?;
        }
        check_buckets(pool, &g.fragments, BlockKind::Fragment, &mut tally)?;
        check_buckets(pool, &g.shared, BlockKind::Shared, &mut tally)?;
        if tally.free_pages != g.pages {
            return Err(VerifyError::PageCountMismatch {
                holder: usize::MAX,
                found: tally.free_pages,
                recorded: g.pages,
            });
        }
        listed += tally.blocks;
        Ok(g.pages)
    })?;
    let Some(magazines) = magazines else {
        return Ok(());
    };
    if listed != geo.nr_blocks() {
        return Err(VerifyError::BlockCountMismatch {
            found: listed,
            expected: geo.nr_blocks(),
        });
    }
    let mut listed_units = loose;
    let loose_pages = listed_units.pages;
    check_magazines(pool, magazines, &mut listed_units)?;
    let magazine_pages = listed_units.pages - loose_pages;
    // Whole-pool accounting from the maps.
    let mut allocated = 0usize;
    let mut parked = 0usize;
    let mut cached = Listed::default();
    for block in 0..geo.nr_blocks() {
        let first = geo.first_page(block);
        pool.buddy(block).for_each_unit(|off, order, byte| {
            if order == u32::MAX {
                return;
            }
            match unit::kind(byte) {
                ALLOC => allocated += 1 << order,
                PARKED => parked += 1 << order,
                CACHED => cached.add(first + off, order),
                _ => {}
            }
        });
    }
    // The cached units of the maps and the units listed by magazines and loose stacks are the
    // same multiset (equal counts and sums of a 64-bit mix), so every cached unit is listed
    // exactly once.
    if (cached.units, cached.hash) != (listed_units.units, listed_units.hash) {
        return Err(VerifyError::CachedUnaccounted {
            found: cached.units,
            listed: listed_units.units,
        });
    }
    let found = allocated + cache_pages + global_pages + magazine_pages + parked;
    if found != geo.total_pages() {
        return Err(VerifyError::PagesUnaccounted {
            found,
            expected: geo.total_pages(),
        });
    }
    let counted = pool.outstanding_pages();
    if allocated as u64 != counted {
        return Err(VerifyError::OutstandingMismatch {
            in_maps: allocated,
            counted,
        });
    }
    Ok(())
}
