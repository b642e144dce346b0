//! The invariant checker.
//!
//! Checked under the lock of each holder (exact even under traffic):
//!
//! * every block on a holder's list has the matching state (and owner) and
//!   sits in the bucket of its largest free order;
//! * every block's map partitions the block into aligned power-of-two units,
//!   with no two free buddies of one order left unmerged, and its per-order
//!   free counts and free-page count match the map; a free block is one free
//!   unit; parked units occur only where they may;
//! * each holder's free-page counter equals the free pages of what it holds
//!   (the free units of its blocks, plus its hot units and loose chunks for a
//!   CPU), and every loose chunk is a parked unit of its order in a shared block;
//! * the hot invariant (`cache::HotStacks`): every hot unit is a parked unit of
//!   its order in a block the CPU owns, listed once, and each block's
//!   `hot_pages` equals the pages of its hot units (0 for blocks not owned).
//!
//! Checked only when quiescent (no alloc, free or drain running):
//!
//! * the lists hold every block exactly once;
//! * every page is in exactly one of: allocated, free in a cache (merged in an
//!   owned block, hot, or loose), free in the global pool, or parked by a
//!   remote free awaiting its holder; loose chunks are exactly the parked units
//!   of shared blocks (so none is on two stacks);
//! * in every other block, the parked pages are exactly `pending` plus
//!   `hot_pages`, and the allocated pages in the maps match the allocation and
//!   free counters.

use super::block::BlockKind;
use super::buddy::{ALLOC, FREE, HELD};
use super::cache::{CpuCache, HOT_MAX_ORDER};
use super::error::VerifyError;
use super::list::{Buckets, FULL_BUCKET};
use super::platform::{Lock, Platform};
use super::pool::Pool;

/// What a holder's walk found.
#[derive(Default)]
struct Tally {
    blocks: usize,
    free_pages: usize,
    /// Sum of the listed blocks' `hot_pages`.
    hot_pages: usize,
}

/// Checks one block's map and counts against its state. Holder's lock held.
fn check_block<Pl: Platform>(pool: &Pool<Pl>, block: usize) -> Result<usize, VerifyError> {
    let buddy = pool.buddy(block);
    let p = pool.geometry().block_order();
    let kind = pool.blocks()[block].kind();
    let mut nr_free = [0usize; super::geometry::NR_ORDERS];
    let mut free_pages = 0;
    let mut expected_start = 0;
    let mut error = None;
    let mut units = 0;
    buddy.for_each_unit(|off, order, field| {
        if error.is_some() {
            return;
        }
        units += 1;
        if order > p || off & ((1 << order) - 1) != 0 || off != expected_start {
            error = Some(VerifyError::BadUnit { block, offset: off });
            return;
        }
        expected_start = off + (1 << order);
        match field {
            FREE => {
                nr_free[order as usize] += 1;
                free_pages += 1 << order;
                let buddy_off = off ^ (1 << order);
                if order < p
                    && buddy_off > off
                    && buddy.field(buddy_off) == FREE
                    && buddy.unit_order(buddy_off) == order
                {
                    error = Some(VerifyError::Unmerged {
                        block,
                        offset: off,
                        order,
                    });
                }
            }
            HELD if kind == BlockKind::Free => {
                error = Some(VerifyError::BadState { block });
            }
            ALLOC if kind == BlockKind::Free => {
                error = Some(VerifyError::BadState { block });
            }
            ALLOC | HELD => {}
            _ => error = Some(VerifyError::BadUnit { block, offset: off }),
        }
    });
    if let Some(error) = error {
        return Err(error);
    }
    if expected_start != pool.geometry().block_pages() {
        return Err(VerifyError::BadUnit {
            block,
            offset: expected_start,
        });
    }
    if kind == BlockKind::Free && units != 1 {
        return Err(VerifyError::BadState { block });
    }
    // Hot invariant: only owned blocks have hot units.
    if !matches!(kind, BlockKind::Owned(_)) && pool.blocks()[block].hot_pages() != 0 {
        return Err(VerifyError::BadState { block });
    }
    if (0..=p).any(|k| buddy.nr_free(k) != nr_free[k as usize]) || buddy.free_pages() != free_pages
    {
        return Err(VerifyError::BadCounts { block });
    }
    Ok(free_pages)
}

/// Walks buckets of one holder, checking states, buckets and maps.
fn check_buckets<Pl: Platform>(
    pool: &Pool<Pl>,
    buckets: &Buckets,
    want: BlockKind,
    tally: &mut Tally,
) -> Result<(), VerifyError> {
    let blocks = pool.blocks();
    let mut result = Ok(());
    for bucket in 0..=FULL_BUCKET {
        buckets.list(bucket).for_each(blocks, |block| {
            if result.is_err() {
                return;
            }
            tally.blocks += 1;
            if blocks[block].kind() != want
                || usize::from(
                    blocks[block]
                        .bucket
                        .load(core::sync::atomic::Ordering::Relaxed),
                ) != bucket
            {
                result = Err(VerifyError::BadList { block });
                return;
            }
            match check_block(pool, block) {
                Ok(free) => {
                    let expected = pool
                        .buddy(block)
                        .max_free_order()
                        .map_or(FULL_BUCKET, |order| order as usize);
                    if expected != bucket {
                        result = Err(VerifyError::BadList { block });
                    }
                    tally.free_pages += free;
                    tally.hot_pages += blocks[block].hot_pages() as usize;
                }
                Err(error) => result = Err(error),
            }
        });
    }
    result
}

/// Checks one CPU's cache. Its lock held.
fn check_cache<Pl: Platform>(
    pool: &Pool<Pl>,
    cpu: usize,
    c: &CpuCache,
    tally: &mut Tally,
) -> Result<(), VerifyError> {
    let geo = pool.geometry();
    check_buckets(pool, &c.owned, BlockKind::Owned(cpu as u32), tally)?;
    for order in 0..=geo.block_order() {
        for &page in c.loose.chunks(order) {
            let page = page as usize;
            parked_unit(pool, page, order, BlockKind::Shared)
                .ok_or(VerifyError::BadLoose { cpu, page })?;
            tally.free_pages += 1 << order;
        }
    }
    check_hot(pool, cpu, c, tally)?;
    if tally.free_pages != c.pages {
        return Err(VerifyError::PageCountMismatch {
            holder: cpu,
            found: tally.free_pages,
            recorded: c.pages,
        });
    }
    Ok(())
}

/// The block of `page` if it starts a unit of exactly `order`, parked (`HELD`) in a block of
/// `kind`: what a loose chunk and a hot unit both are.
fn parked_unit<Pl: Platform>(
    pool: &Pool<Pl>,
    page: usize,
    order: u32,
    kind: BlockKind,
) -> Option<usize> {
    let geo = pool.geometry();
    let block = geo.block_of(page)?;
    let buddy = pool.buddy(block);
    let off = page - geo.first_page(block);
    let parked = order <= geo.block_order()
        && pool.blocks()[block].kind() == kind
        && off & ((1 << order) - 1) == 0
        && buddy.field(off) == HELD
        && buddy.unit_order(off) == order;
    parked.then_some(block)
}

/// Checks the hot invariant of one CPU's cache (`cache::HotStacks`) after its
/// owned blocks were tallied. Its lock held; at most a few hundred entries, so
/// the quadratic duplicate and per-block checks are cheap.
fn check_hot<Pl: Platform>(
    pool: &Pool<Pl>,
    cpu: usize,
    c: &CpuCache,
    tally: &mut Tally,
) -> Result<(), VerifyError> {
    let geo = pool.geometry();
    let p = geo.block_order();
    let entries = || {
        (0..=HOT_MAX_ORDER).flat_map(|k| c.hot.units(k).iter().map(move |&page| (page as usize, k)))
    };
    let mut hot_pages = 0;
    for (i, (page, order)) in entries().enumerate() {
        let bad = VerifyError::BadHot { cpu, page };
        let block = parked_unit(pool, page, order, BlockKind::Owned(cpu as u32)).ok_or(bad)?;
        // Listed once; and at its block's first entry, the block's entries
        // add up to its `hot_pages`.
        let mut first_of_block = true;
        for (other, _) in entries().take(i) {
            if other == page {
                return Err(bad);
            }
            first_of_block &= other >> p != block;
        }
        if first_of_block {
            let pages: usize = entries()
                .filter(|&(other, _)| other >> p == block)
                .map(|(_, k)| 1usize << k)
                .sum();
            if pages != pool.blocks()[block].hot_pages() as usize {
                return Err(bad);
            }
        }
        hot_pages += 1 << order;
    }
    // Every owned block's hot pages are on the stacks: else find a block that
    // claims hot pages but has no entry.
    if hot_pages != tally.hot_pages {
        let blocks = pool.blocks();
        let mut culprit = None;
        for bucket in 0..=FULL_BUCKET {
            c.owned.list(bucket).for_each(blocks, |block| {
                if culprit.is_none()
                    && blocks[block].hot_pages() != 0
                    && !entries().any(|(page, _)| page >> p == block)
                {
                    culprit = Some(block);
                }
            });
        }
        return Err(VerifyError::BadState {
            block: culprit.unwrap_or(usize::MAX),
        });
    }
    tally.free_pages += hot_pages;
    Ok(())
}

/// Runs the checks; `quiescent` adds the cross-holder ones.
pub(crate) fn verify<Pl: Platform>(pool: &Pool<Pl>, quiescent: bool) -> Result<(), VerifyError> {
    let geo = pool.geometry();
    let blocks = pool.blocks();
    let mut listed = 0;
    let mut cache_pages = 0;
    for (cpu, cache) in pool.platform().caches().iter().enumerate() {
        cache.with(|c| {
            let mut tally = Tally::default();
            check_cache(pool, cpu, c, &mut tally)?;
            listed += tally.blocks;
            cache_pages += c.pages;
            Ok(())
        })?;
    }
    let global_pages = pool.platform().global().with(|g| {
        let mut tally = Tally::default();
        let mut result = Ok(());
        g.free.for_each(blocks, |block| {
            tally.blocks += 1;
            if result.is_ok() && blocks[block].kind() != BlockKind::Free {
                result = Err(VerifyError::BadList { block });
            }
            if result.is_ok() {
                match check_block(pool, block) {
                    Ok(free) => tally.free_pages += free,
                    Err(error) => result = Err(error),
                }
            }
        });
        result?;
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
    if !quiescent {
        return Ok(());
    }
    if listed != geo.nr_blocks() {
        return Err(VerifyError::BlockCountMismatch {
            found: listed,
            expected: geo.nr_blocks(),
        });
    }
    // Whole-pool accounting from the maps.
    let mut allocated = 0usize;
    let mut parked_pending = 0usize;
    let mut parked_loose = 0usize;
    for (block, meta) in blocks.iter().enumerate() {
        let kind = meta.kind();
        let mut held = 0;
        pool.buddy(block)
            .for_each_unit(|_, order, field| match field {
                ALLOC => allocated += 1 << order,
                HELD => held += 1 << order,
                _ => {}
            });
        if kind == BlockKind::Shared {
            parked_loose += held;
            if meta.pending_pages() != 0 {
                return Err(VerifyError::BadState { block });
            }
        } else {
            // Parked units of owned and fragment blocks: remote frees
            // (`pending`) and hot units (`hot_pages`, owned blocks only).
            let hot = meta.hot_pages() as usize;
            if hot > held || meta.pending_pages() as usize != held - hot {
                return Err(VerifyError::BadCounts { block });
            }
            parked_pending += held - hot;
        }
    }
    let loose_pages: usize = pool
        .platform()
        .caches()
        .iter()
        .map(|cache| {
            cache.with(|c| {
                (0..=geo.block_order())
                    .map(|order| c.loose.len(order) << order)
                    .sum::<usize>()
            })
        })
        .sum();
    if loose_pages != parked_loose {
        return Err(VerifyError::PagesUnaccounted {
            found: allocated + cache_pages + global_pages + parked_pending + parked_loose
                - loose_pages,
            expected: geo.total_pages(),
        });
    }
    let found = allocated + cache_pages + global_pages + parked_pending;
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
