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
use super::super::sync::Ordering;
use super::super::unit::{self, ALLOC, CACHED, PARKED};
use super::{Allocation, Platform, Pool};

/// What [`Pool::free_fast`] did with a free.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum FastFree {
    /// Nothing: the caller must take the slow path.
    Declined,
    /// Pushed to this CPU's magazine; the caller fires the trace event. `remote`: the unit's
    /// block is held by someone else (another CPU, or the global pool as a fragment), to whom
    /// it goes when the magazine gives it back unless this CPU allocates it again first.
    Cached {
        /// The unit's block is held by someone else.
        remote: bool,
    },
    /// A remote free with the magazine's stack full: parked for the block's holder at once;
    /// the trace event is fired.
    Parked,
}

impl<Pl: Platform> Pool<Pl> {
    /// Allocates `2^order` pages through `mag`'s CPU; a compound page (folio) if `folio`.
    ///
    /// Correctness does not depend on the caller running on that CPU, only locality does; but
    /// `mag` must not be used by anyone else during the call.
    // Host tests and benchmarks only: the module calls the two halves itself (`KernelPool::alloc`)
    // (`MODULE`: the kernel's cfg for modules).
    #[cfg(not(MODULE))]
    #[inline(always)]
    pub fn alloc(
        &self,
        mag: &mut Magazine,
        order: u32,
        folio: bool,
    ) -> Result<Allocation, AllocError> {
        match self.alloc_fast(mag, order, folio) {
            Some(allocation) => {
                self.trace_alloc(allocation.page, order, folio, false);
                Ok(allocation)
            }
            None => self.alloc_slow_path(mag, order, folio),
        }
    }

    /// The common allocation: a unit from the magazine, or `None` for everything else (the
    /// caller then calls [`Pool::alloc_slow_path`], out of line, so that this part needs few
    /// registers and no stack frame of its own).
    ///
    /// It fires no trace event: the caller fires `Event::Alloc { slow: false, .. }` ([`Pool::alloc`]
    /// does; the kernel does it at the very end of its entry point, as a tail call, because a
    /// call in the middle of this path makes it save registers even while tracing is off).
    #[inline(always)]
    pub fn alloc_fast(&self, mag: &mut Magazine, order: u32, folio: bool) -> Option<Allocation> {
        if order > self.mag_max {
            return None;
        }
        // A CPU out of range goes the slow way, which counts it.
        let stats = self.platform.try_cpu_stats(mag.cpu())?;
        let page = mag.pop(order)?;
        // The unit is CACHED by this magazine: we are its only writer.
        self.unit_byte(page)
            .store(unit::unit(ALLOC, order, folio), Ordering::Release);
        stats.allocs.inc();
        // `order <= mag_max < 64`: no shift check needed.
        stats.alloc_pages.add(1u64.wrapping_shl(order));
        Some(Allocation {
            page,
            make_compound: folio && order > 0,
        })
    }

    /// Everything [`Pool::alloc_fast`] does not serve.
    #[inline(never)]
    pub fn alloc_slow_path(
        &self,
        mag: &mut Magazine,
        order: u32,
        folio: bool,
    ) -> Result<Allocation, AllocError> {
        let stats = self.stats_of(mag.cpu()).ok_or(AllocError::BadCpu)?;
        let result = self.alloc_slow(mag, stats, order, folio);
        if let Ok(allocation) = &result {
            stats.allocs_slow.inc();
            stats.allocs.inc();
            stats.alloc_pages.add(1 << order);
            self.trace_alloc(allocation.page, order, folio, true);
        }
        result
    }

    /// Frees `2^order` pages starting at `page` through `mag`'s CPU; `folio` must say whether
    /// they were allocated as a folio.
    ///
    /// Never takes another CPU's lock. On error nothing changes but the CPU's error counter.
    #[inline(always)]
    pub fn free(
        &self,
        mag: &mut Magazine,
        page: PageIndex,
        order: u32,
        folio: bool,
    ) -> Result<(), FreeError> {
        // As the kernel calls it: the fast path inline, the rest out of line.
        match self.free_fast(mag, page, order, folio, &|| Ok(())) {
            FastFree::Cached { remote } => {
                self.trace_free(page, order, folio, remote);
                Ok(())
            }
            FastFree::Parked => Ok(()),
            FastFree::Declined => self.free_slow_path(mag, page, order, folio),
        }
    }

    /// [`Pool::free`] past its fast path.
    #[inline(never)]
    fn free_slow_path(
        &self,
        mag: &mut Magazine,
        page: PageIndex,
        order: u32,
        folio: bool,
    ) -> Result<(), FreeError> {
        self.free_with(mag, page, order, folio, || Ok(()))
    }

    /// [`Pool::free`], calling `before_commit` once the free is known to be valid and just
    /// before it commits (the kernel glue checks and resets the page's reference count there);
    /// an error from it refuses the free with nothing changed.
    #[inline(always)]
    pub fn free_with(
        &self,
        mag: &mut Magazine,
        page: PageIndex,
        order: u32,
        folio: bool,
        before_commit: impl FnOnce() -> Result<(), FreeError>,
    ) -> Result<(), FreeError> {
        let Some(stats) = self.stats_of(mag.cpu()) else {
            return Err(FreeError::BadCpu);
        };
        let result = self.free_inner(mag, page, order, folio, before_commit);
        match result {
            // `order <= P` (checked by the free): no shift check needed.
            Ok(()) => stats.freed_pages.add(1u64.wrapping_shl(order)),
            Err(error) => stats.free_errors[error.index()].inc_shared(),
        }
        result
    }

    /// The common free of a small unit: into this CPU's magazine, whoever holds its block.
    /// Returns [`FastFree::Declined`], having changed nothing, whenever anything else applies
    /// (a large free, a full stack, any misuse, a failed `before_commit`): the caller then
    /// calls [`Pool::free_with`] out of line, which sorts it out and counts. So this part needs
    /// few registers and no stack frame.
    ///
    /// A unit of a block someone else holds (a *remote* free) waits in the magazine like a
    /// local one: this CPU may hand it out again at the cost of a local free (as the kernel's
    /// per-CPU lists do), and only what the magazine gives back goes to the holder, parked in a
    /// batch when the stack overflows or flushes (`return_cached`). So every unit that reaches a
    /// buddy still reaches its block's holder and merges there, while a page that circulates
    /// between CPUs pays no handoff. With the stack full, a remote free is parked for the
    /// holder at once (with a note in the outbox) instead of flushing the stack: a CPU that
    /// frees much and allocates little (a process exit) keeps one stack of units to reuse and
    /// hands the rest over one by one, without moving them through its magazine.
    ///
    /// If the commit itself loses a race (a racing double free), `before_commit` has run; the
    /// slow path then refuses the free as a double free.
    ///
    /// A free into the magazine fires no trace event: the caller does, as for
    /// [`Pool::alloc_fast`]; a parked one fires its own, out of line.
    #[inline(always)]
    pub fn free_fast(
        &self,
        mag: &mut Magazine,
        page: PageIndex,
        order: u32,
        folio: bool,
        before_commit: &impl Fn() -> Result<(), FreeError>,
    ) -> FastFree {
        if order > self.mag_max {
            return FastFree::Declined;
        }
        let cpu = mag.cpu();
        let Some(stats) = self.platform.try_cpu_stats(cpu) else {
            return FastFree::Declined;
        };
        let Some(block) = self.geo.block_of(page) else {
            return FastFree::Declined;
        };
        // Blocks are aligned to their size: a page index aligned to the order is an offset
        // aligned to it.
        if page & 1usize.wrapping_shl(order).wrapping_sub(1) != 0 {
            return FastFree::Declined;
        }
        let byte = self.unit_byte(page);
        let expected = unit::unit(ALLOC, order, folio);
        if byte.load(Ordering::Acquire) != expected {
            return FastFree::Declined;
        }
        // Stale is fine, as in `free_inner`: a unit this magazine caches is its own whatever
        // its block's state, and a parked unit is found by whoever holds the block when it
        // absorbs.
        let Some(mine) = self.blocks()[block].held_by(cpu as u32) else {
            return FastFree::Declined;
        };
        let to = if !mag.is_full(order) {
            CACHED
        } else if !mine && mag.outbox.has_room_for(block) {
            PARKED
        } else {
            return FastFree::Declined;
        };
        if before_commit().is_err() {
            return FastFree::Declined;
        }
        // The commit (see `free_inner`); a small unit is never compound.
        if byte
            .compare_exchange(
                expected,
                unit::unit(to, order, false),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_err()
        {
            return FastFree::Declined;
        }
        if to == PARKED {
            self.parked_fast(mag, block, page, order, folio);
            return FastFree::Parked;
        }
        mag.push(order, page);
        // Written out here and in `parked_fast` (out of line), not shared with the slow path
        // (`free_with` adds `freed_pages` after the free): the fast path keeps its own
        // straight-line code. A select of the counter, not a branch around two increments.
        // `order <= mag_max < 64`: no shift check needed.
        let frees = if mine {
            &stats.frees_fast
        } else {
            &stats.frees_remote
        };
        frees.inc();
        stats.freed_pages.add(1u64.wrapping_shl(order));
        FastFree::Cached { remote: !mine }
    }

    /// The rest of a remote free that [`Pool::free_fast`] parked: the note for the block's
    /// holder (the outbox has room: no notification) and the counts. Out of line, so that the
    /// common free keeps its few registers.
    #[inline(never)]
    fn parked_fast(
        &self,
        mag: &mut Magazine,
        block: usize,
        page: PageIndex,
        order: u32,
        folio: bool,
    ) {
        self.note_parked(mag, block, self.geo.offset_of(page));
        let stats = self.platform.cpu_stats(mag.cpu());
        stats.frees_remote.inc();
        stats.freed_pages.add(1u64.wrapping_shl(order));
        self.trace_free(page, order, folio, true);
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
            stats.free_errors[error.index()].inc_shared();
        }
    }

    /// Why freeing `(page, order, folio)` fails: the buddy's classification (slow path only).
    #[cold]
    #[inline(never)]
    fn refused(&self, page: PageIndex, order: u32, folio: bool) -> FreeError {
        self.check_free(page, order, folio)
            .err()
            .unwrap_or(FreeError::DoubleFree)
    }

    #[inline(always)]
    fn free_inner(
        &self,
        mag: &mut Magazine,
        page: PageIndex,
        order: u32,
        folio: bool,
        before_commit: impl FnOnce() -> Result<(), FreeError>,
    ) -> Result<(), FreeError> {
        let p = self.geo.block_order();
        if order > p {
            return Err(FreeError::BadOrder);
        }
        let block = self.geo.block_of(page).ok_or(FreeError::OutOfPool)?;
        // Blocks are aligned to their size, so a page index aligned to the order is an offset
        // aligned to it.
        if page & 1usize.wrapping_shl(order).wrapping_sub(1) != 0 {
            return Err(FreeError::Misaligned);
        }
        let byte = self.unit_byte(page);
        let expected = unit::unit(ALLOC, order, folio);
        if byte.load(Ordering::Acquire) != expected {
            return Err(self.refused(page, order, folio));
        }
        let cpu = mag.cpu();
        // The state read here may be stale by the time we act, and that is fine: a unit this
        // magazine caches is its own whatever the block's state (magazine invariant), and a
        // parked unit is found by whoever holds the block when it absorbs.
        let kind = self.blocks()[block].kind();
        let remote = match kind {
            BlockKind::Owned(owner) => owner as usize != cpu,
            BlockKind::Fragment => true,
            BlockKind::Shared => false,
            // No page of a wholly free block is allocated.
            BlockKind::Free => return Err(self.refused(page, order, folio)),
        };
        before_commit()?;
        if order > self.mag_max && !remote {
            return self.free_large_local(mag, block, self.geo.offset_of(page), order, folio);
        }
        // The commit: of two racing frees of this unit, exactly one gets here. A small unit
        // goes to the magazine whoever holds its block unless it is a remote one and the stack
        // is full (see `free_fast`); a large one of a block someone else holds is parked for
        // the holder. A freed unit keeps its compound state only if it is a whole block (never
        // in a magazine).
        let to = if order > self.mag_max || (remote && mag.is_full(order)) {
            PARKED
        } else {
            CACHED
        };
        let freed = unit::unit(to, order, folio && order == p);
        if byte
            .compare_exchange(expected, freed, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(self.refused(page, order, folio));
        }
        let stats = self.platform.cpu_stats(cpu);
        if to == PARKED {
            self.note_parked(mag, block, self.geo.offset_of(page));
        } else {
            if mag.is_full(order) {
                self.flush_overflow(mag, order);
            }
            mag.push(order, page);
        }
        if remote {
            stats.frees_remote.inc();
        } else {
            stats.frees_fast.inc();
        }
        self.trace_free(page, order, folio, remote);
        Ok(())
    }

    /// Notes the unit parked at offset `off` of `block` in the outbox (notifying first if it is
    /// full) and counts it in `parked_units`: every park goes through here.
    #[inline]
    pub(super) fn note_parked(&self, mag: &mut Magazine, block: usize, off: usize) {
        let group = self.group_bit(off);
        if !mag.outbox.note(block, group) {
            self.flush_outbox(mag);
            let noted = mag.outbox.note(block, group);
            debug_assert!(noted);
        }
        self.platform.cpu_stats(mag.cpu()).parked_units.inc();
    }
}
