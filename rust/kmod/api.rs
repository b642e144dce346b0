// SPDX-License-Identifier: GPL-2.0

//! The in-kernel API: what `pcpbuddy_alloc_pages()`, `pcpbuddy_free_pages()`, the folio and bulk
//! variants and `pcpbuddy_get_info()` (declared in `include/linux/pcpbuddy.h`) do.
//!
//! The exported functions themselves are in `pcpbuddy_glue.c`: each disables interrupts, takes
//! this CPU's pool (its node's, see `nodes.rs`) and its magazine of it from two per-CPU
//! variables and calls the `pcpbuddy_rs_*` entry point below, so that the common path is a
//! handful of inline instructions around one call (see the glue's header comment for why that
//! part is C). Here: the pool, the magazine, the reference counts, and with one pool per node
//! the fallback to other nodes' pools and the routing of frees to the page's owner.
//!
//! Context: every context but NMI (refused and counted). Nothing here sleeps or waits for
//! another CPU; the only lock on the slow path is interrupt-safe.
//!
//! A module that calls the API holds a reference on pcpbuddy (a symbol dependency), so pcpbuddy
//! cannot be unloaded under it. Rust modules call the same exported functions through
//! `extern "C"`, as this module does itself below (the benchmark and the misc device go through
//! the API exactly as any user).

use crate::{
    front::Front,
    kernel_pool::{current_cpu, KernelPool},
    nodes::NodePools,
    pcpcore::{magazine::Magazine, platform::Platform, pool::FastFree},
    trace, uapi,
};
use kernel::{bindings, prelude::*};

/// `PCPBUDDY_FREE_PAGES` / `PCPBUDDY_FREE_FOLIO` of `pcpbuddy_glue.h`.
const FREE_PAGES: c_int = 0;
const FREE_FOLIO: c_int = 1;

/// `struct pcpbuddy_rs_allocation` of `pcpbuddy_glue.h`: returned in two registers.
#[repr(C)]
pub(crate) struct RsAllocation {
    page: *mut bindings::page,
    compound: bool,
}

/// The pool and magazine the C glue passes: this CPU's local pool and its magazine of it.
///
/// # Safety
///
/// Interrupts are disabled and stay so while the references live; `pool` is a published pool
/// and `mag` this CPU's magazine of it.
unsafe fn local<'a>(pool: *const c_void, mag: *mut c_void) -> (&'a KernelPool, &'a mut Magazine) {
    // SAFETY: By the function's contract: a published pool lives while an entry point runs (no
    // module that calls the API can be loaded while the pools are withdrawn).
    let pool = unsafe { &*pool.cast::<KernelPool>() };
    // SAFETY: By the function's contract.
    (pool, unsafe { Front::this_cpu(mag) })
}

/// Allocation entry point: the first page (null if none) and whether the caller must make the
/// pages a compound page.
///
/// # Safety
///
/// Interrupts are disabled; `pool` is this CPU's published local pool and `mag` this CPU's
/// magazine of it.
#[no_mangle]
unsafe extern "C" fn pcpbuddy_rs_alloc(
    pool: *const c_void,
    mag: *mut c_void,
    order: c_uint,
    folio: bool,
) -> RsAllocation {
    // SAFETY: By the function's contract.
    let (pool, mag) = unsafe { local(pool, mag) };
    if let Some((page, compound)) = pool.alloc_fast(mag, order, folio) {
        let allocation = RsAllocation { page, compound };
        if trace::alloc_enabled() {
            // Last, as a tail call: a call in the middle of the path would make it save
            // registers for the time after it, even while the tracepoint is off.
            return alloc_traced(allocation, order, folio);
        }
        return allocation;
    }
    match pool.alloc_slow(mag, order, folio) {
        Ok((page, compound)) => RsAllocation { page, compound },
        Err(_) => RsAllocation {
            page: core::ptr::null_mut(),
            compound: false,
        },
    }
}

/// An allocation `local` could not serve: from the other nodes' pools, nearest first, counted
/// in `local`'s `node_fallbacks` ([`KernelPool::alloc_slow`] calls it, with more than one pool).
///
/// # Safety
///
/// Interrupts are disabled, and the caller holds no reference to this CPU's magazines of the
/// other pools.
#[cold]
#[inline(never)]
pub(crate) unsafe fn alloc_elsewhere(
    local: &KernelPool,
    order: u32,
    folio: bool,
) -> Result<(*mut bindings::page, bool)> {
    let pools = NodePools::get().ok_or(ENOMEM)?;
    for pool in pools.fallbacks(local) {
        // SAFETY: Interrupts are disabled; no other reference to this magazine is live.
        let Some(mag) = (unsafe { pool.this_cpu_magazine() }) else {
            continue;
        };
        if let Ok(allocation) = pool.alloc(mag, order, folio) {
            // Interrupts are off on this CPU: its counter's only writer.
            if let Some(stats) = local.core().platform().try_cpu_stats(current_cpu()) {
                stats.node_fallbacks.inc();
            }
            return Ok(allocation);
        }
    }
    Err(ENOMEM)
}

/// A free of a page that `local` does not hold, from this CPU: through this CPU's magazine of
/// the pool that does, if another node's pool does; `None` if none does.
///
/// # Safety
///
/// Interrupts are disabled, and the caller holds no reference to this CPU's magazines of the
/// other pools.
#[cold]
#[inline(never)]
pub(crate) unsafe fn free_elsewhere(
    local: &KernelPool,
    page: *mut bindings::page,
    order: u32,
    folio: bool,
) -> Option<Result> {
    let owner = NodePools::get()?.owner_elsewhere(local, page)?;
    // SAFETY: Interrupts are disabled; no other reference to this magazine is live.
    let mag = unsafe { owner.this_cpu_magazine() }?;
    Some(if folio {
        owner.free_folio(mag, page, order)
    } else {
        owner.free_pages(mag, page, order)
    })
}

/// Fires `pcpbuddy_alloc` for an allocation the magazine served, and returns it.
#[cold]
#[inline(never)]
extern "C" fn alloc_traced(allocation: RsAllocation, order: c_uint, folio: bool) -> RsAllocation {
    trace::alloc_fast(allocation.page, order, folio);
    allocation
}

/// Free entry point: `kind` is `FREE_PAGES`, or `FREE_FOLIO` for a folio that
/// [`pcpbuddy_rs_prepare_free_folio`] accepted.
///
/// # Safety
///
/// As for [`pcpbuddy_rs_alloc`]. `page` may be anything (it is checked before use).
#[no_mangle]
unsafe extern "C" fn pcpbuddy_rs_free(
    pool: *const c_void,
    mag: *mut c_void,
    page: *mut bindings::page,
    order: c_uint,
    kind: c_int,
) -> c_int {
    // SAFETY: By the function's contract.
    let (pool, mag) = unsafe { local(pool, mag) };
    if kind == FREE_PAGES {
        match pool.free_pages_fast(mag, page, order) {
            FastFree::Cached { remote } => {
                if trace::free_enabled() {
                    // Last, as a tail call (see `pcpbuddy_rs_alloc`).
                    return free_traced(page, order, remote);
                }
                return 0;
            }
            FastFree::Parked => return 0,
            FastFree::Declined => {}
        }
    }
    let result = match kind {
        FREE_PAGES => pool.free_pages_slow(mag, page, order),
        FREE_FOLIO => pool.free_folio(mag, page, order),
        _ => Err(EINVAL),
    };
    match result {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Fires `pcpbuddy_free` for a free into this CPU's magazine; returns 0 (success).
#[cold]
#[inline(never)]
extern "C" fn free_traced(page: *mut bindings::page, order: c_uint, remote: bool) -> c_int {
    trace::free_cached(page, order, remote);
    0
}

/// Checks a folio free and undoes a small folio's compound state; writes its order.
///
/// # Safety
///
/// `order` is valid for writes. `folio` may be anything (it is checked before use).
#[no_mangle]
unsafe extern "C" fn pcpbuddy_rs_prepare_free_folio(
    folio: *mut bindings::folio,
    order: *mut c_uint,
) -> c_int {
    let Some(pools) = NodePools::get() else {
        return ENODEV.to_errno();
    };
    // The page's owner; a page of no pool is refused (and counted) by the first.
    let pool = pools
        .owner_of(folio.cast())
        .map_or(pools.first(), |(pool, _)| pool);
    match pool.prepare_free_folio(folio) {
        Ok(o) => {
            // SAFETY: By the function's contract.
            unsafe { order.write(o) };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// Whether returning every CPU's magazine could let an allocation of `order` succeed.
#[no_mangle]
extern "C" fn pcpbuddy_rs_may_have_more(order: c_uint) -> bool {
    KernelPool::get().is_some_and(|pool| order <= pool.block_order())
}

/// Returns this CPU's magazine of `pool` (null: of every published pool).
///
/// # Safety
///
/// Interrupts are disabled, no entry point is interrupted (they run with interrupts disabled),
/// and `pool` is null or points to a live [`KernelPool`].
#[no_mangle]
unsafe extern "C" fn pcpbuddy_rs_flush_local(pool: *const c_void) {
    if pool.is_null() {
        if let Some(pools) = NodePools::get() {
            // SAFETY: By the function's contract.
            unsafe { pools.flush_this_cpu() };
        }
    } else {
        // SAFETY: By the function's contract.
        unsafe { (*pool.cast::<KernelPool>()).flush_this_cpu() };
    }
}

/// Counts a call from NMI context on this CPU.
#[no_mangle]
extern "C" fn pcpbuddy_rs_refuse_nmi() -> c_int {
    if let Some(pool) = KernelPool::get() {
        let cpu = current_cpu();
        // Only NMIs write this counter, and they do not nest: one writer.
        if cpu < pool.core().nr_cpus() {
            pool.core().platform().cpu_stats(cpu).nmi_refused.inc();
        }
    }
    EINVAL.to_errno()
}

/// `pcpbuddy_get_info()`: lock-free.
///
/// # Safety
///
/// `info` is NULL or valid for writes of a `struct pcpbuddy_info`.
#[no_mangle]
unsafe extern "C" fn pcpbuddy_rs_get_info(info: *mut uapi::Info) -> c_int {
    if info.is_null() {
        return EINVAL.to_errno();
    }
    let Some(pools) = NodePools::get() else {
        return ENODEV.to_errno();
    };
    // SAFETY: `info` is non-null and, by the caller's promise, valid for writes.
    unsafe { info.write(pools.info()) };
    0
}

// The exported API, for this module's own users (the misc device, the benchmark, KUnit): the
// very functions other modules call.
#[allow(improper_ctypes)]
extern "C" {
    fn pcpbuddy_alloc_pages(gfp: bindings::gfp_t, order: c_uint) -> *mut bindings::page;
    fn pcpbuddy_free_pages(page: *mut bindings::page, order: c_uint) -> c_int;
    fn pcpbuddy_alloc_folio(gfp: bindings::gfp_t, order: c_uint) -> *mut bindings::folio;
    fn pcpbuddy_free_folio(folio: *mut bindings::folio) -> c_int;
}

/// `pcpbuddy_alloc_pages()` (or `pcpbuddy_alloc_folio()` if `folio`): the first page or null.
pub(crate) fn alloc_pages(gfp: bindings::gfp_t, order: u32, folio: bool) -> *mut bindings::page {
    if folio {
        // SAFETY: The API may be called in any context but NMI.
        unsafe { pcpbuddy_alloc_folio(gfp, order) }.cast()
    } else {
        // SAFETY: As above.
        unsafe { pcpbuddy_alloc_pages(gfp, order) }
    }
}

/// `pcpbuddy_free_pages()`: 0 or a negative errno.
pub(crate) fn free_pages(page: *mut bindings::page, order: u32) -> c_int {
    // SAFETY: The API may be called in any context but NMI and checks `page` before use.
    unsafe { pcpbuddy_free_pages(page, order) }
}

/// `pcpbuddy_free_folio()`: 0 or a negative errno.
pub(crate) fn free_folio(page: *mut bindings::page) -> c_int {
    // SAFETY: As above.
    unsafe { pcpbuddy_free_folio(page.cast()) }
}
