//! The fast paths: allocation and free through a CPU's magazine.
//!
//! The caller owns the magazine exclusively for the length of the call (in the kernel: its own
//! CPU, interrupts disabled; see `magazine.rs`). The common allocation pops a unit and marks it
//! allocated with a plain store: no lock, no locked instruction. The common free validates with
//! one compare-and-swap on the unit's byte (the one locked instruction, which also makes a
//! racing double free from another CPU harmless) and then pushes to the magazine, or, for a
//! block held by someone else, notes the block in the outbox: a remote free never takes the
//! holder's lock. Everything else is the slow path (`refill.rs`, `flush.rs`).

use super::super::block::BlockKind;
use super::super::error::{AllocError, FreeError};
use super::super::geometry::PageIndex;
use super::super::magazine::Magazine;
use super::super::unit::{self, ALLOC, CACHED, PARKED};
use super::{Allocation, Platform, Pool};

impl<Pl: Platform> Pool<Pl> {
    /// Allocates `2^order` pages through `mag`'s CPU; a compound page (folio) if `folio`.
    ///
    /// Correctness does not depend on the caller running on that CPU, only locality does; but
    /// `mag` must not be used by anyone else during the call.
    #[inline]
    pub fn alloc(
        &self,
        mag: &mut Magazine,
        order: u32,
        folio: bool,
    ) -> Result<Allocation, AllocError> {
        let stats = self.stats_of(mag.cpu()).ok_or(AllocError::BadCpu)?;
        if order <= self.mag_max {
            if let Some(page) = mag.pop(order) {
                // The unit is CACHED by this magazine: we are its only writer.
                let p = self.geo.block_order();
                self.buddy(page >> p)
                    .store(self.geo.offset_of(page), unit::unit(ALLOC, order, folio));
                stats.allocs_fast.inc();
                stats.allocs.inc();
                stats.alloc_pages.add(1 << order);
                return Ok(Allocation {
                    page,
                    make_compound: folio && order > 0,
                });
            }
        }
        let result = self.alloc_slow(mag, stats, order, folio);
        if result.is_ok() {
            stats.allocs.inc();
            stats.alloc_pages.add(1 << order);
        }
        result
    }

    /// Frees `2^order` pages starting at `page` through `mag`'s CPU; `folio` must say whether
    /// they were allocated as a folio.
    ///
    /// Never takes another CPU's lock. On error nothing changes but the CPU's error counter.
    #[inline]
    pub fn free(
        &self,
        mag: &mut Magazine,
        page: PageIndex,
        order: u32,
        folio: bool,
    ) -> Result<(), FreeError> {
        let Some(stats) = self.stats_of(mag.cpu()) else {
            return Err(FreeError::BadCpu);
        };
        let result = self.free_inner(mag, page, order, folio);
        match result {
            Ok(()) => stats.freed_pages.add(1 << order),
            Err(error) => stats.free_errors[error.index()].inc(),
        }
        result
    }

    /// Checks that freeing `(page, order, folio)` would be accepted now, changing nothing: for a
    /// caller that must undo a small folio's compound state before the free commits (the check
    /// is repeated by the free itself; a racing double free is still caught there).
    pub fn check_free(&self, page: PageIndex, order: u32, folio: bool) -> Result<(), FreeError> {
        if order > self.geo.block_order() {
            return Err(FreeError::BadOrder);
        }
        let block = self.geo.block_of(page).ok_or(FreeError::OutOfPool)?;
        self.buddy(block)
            .check_free(self.geo.offset_of(page), order, folio)
    }

    /// Counts a refused free that the caller (the kernel glue) detected itself.
    pub fn count_free_error(&self, cpu: usize, error: FreeError) {
        if let Some(stats) = self.stats_of(cpu) {
            stats.free_errors[error.index()].inc();
        }
    }

    #[inline]
    fn free_inner(
        &self,
        mag: &mut Magazine,
        page: PageIndex,
        order: u32,
        folio: bool,
    ) -> Result<(), FreeError> {
        if order > self.geo.block_order() {
            return Err(FreeError::BadOrder);
        }
        let block = self.geo.block_of(page).ok_or(FreeError::OutOfPool)?;
        let off = self.geo.offset_of(page);
        let buddy = self.buddy(block);
        let cpu = mag.cpu();
        // The state read here may be stale by the time we act, and that is fine: a unit this
        // magazine caches is its own whatever the block's state (magazine invariant), and a
        // parked unit is found by whoever holds the block when it absorbs.
        match self.blocks()[block].kind() {
            BlockKind::Owned(owner) if owner as usize != cpu => {
                self.free_remote(mag, block, off, order, folio)
            }
            BlockKind::Fragment => self.free_remote(mag, block, off, order, folio),
            BlockKind::Owned(_) | BlockKind::Shared if order <= self.mag_max => {
                buddy.try_free(off, order, folio, CACHED)?;
                if mag.is_full(order) {
                    self.flush_overflow(mag, order);
                }
                mag.push(order, page);
                self.platform.cpu_stats(cpu).frees_fast.inc();
                Ok(())
            }
            BlockKind::Owned(_) | BlockKind::Shared => {
                self.free_large_local(mag, block, off, order, folio)
            }
            // No page of a wholly free block is allocated: say precisely what is wrong.
            BlockKind::Free => Err(buddy
                .check_free(off, order, folio)
                .err()
                .unwrap_or(FreeError::DoubleFree)),
        }
    }

    /// A free into a block someone else holds: park the unit, note the block.
    #[inline]
    fn free_remote(
        &self,
        mag: &mut Magazine,
        block: usize,
        off: usize,
        order: u32,
        folio: bool,
    ) -> Result<(), FreeError> {
        let buddy = self.buddy(block);
        buddy.try_free(off, order, folio, PARKED)?;
        self.note_parked(mag, block, 1 << (off >> buddy.group_shift()));
        self.platform.cpu_stats(mag.cpu()).frees_remote.inc();
        Ok(())
    }

    /// Notes a parked unit in the outbox, notifying first if it is full.
    pub(super) fn note_parked(&self, mag: &mut Magazine, block: usize, group: u64) {
        if !mag.outbox.note(block, group) {
            self.flush_outbox(mag);
            let noted = mag.outbox.note(block, group);
            debug_assert!(noted);
        }
    }
}
