// SPDX-License-Identifier: GPL-2.0

//! The in-kernel API: `#[no_mangle] extern "C"` functions declared in
//! `include/linux/pcpbuddy.h` and exported with `EXPORT_SYMBOL_GPL` from `pcpbuddy_glue.c`.
//!
//! Other modules, C or Rust, call these; a Rust caller declares them in an `extern "C"` block
//! (Kbuild cannot link one module crate against another). See `Documentation/api.md`.
//!
//! Context: process context, atomic or not (nothing here sleeps); not hard or soft interrupt
//! context (see `platform.rs`). A call from interrupt context fails (NULL or `-EINVAL`) and is
//! counted and reported once, instead of risking a deadlock on the CPU's cache lock.
//!
//! A module that calls these holds a reference on pcpbuddy (a symbol dependency), so pcpbuddy
//! cannot be unloaded under it.

use crate::{
    glue,
    pool::{current_cpu, Pool},
    uapi,
};
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};
use kernel::{bindings, prelude::*};

/// Whether a call from interrupt context was already reported.
static REPORTED_IRQ: AtomicBool = AtomicBool::new(false);

/// The pool, if this context may use it.
fn pool_for_caller() -> Option<&'static Pool> {
    if !glue::in_task() {
        if !REPORTED_IRQ.swap(true, Relaxed) {
            pr_err!("called from interrupt context, which is not supported: refused\n");
        }
        return None;
    }
    Pool::get()
}

/// Allocates one run of `2^order` pages on the calling CPU; zeroes it for `__GFP_ZERO`.
fn alloc_one(pool: &Pool, cpu: usize, gfp: bindings::gfp_t, order: u32) -> *mut bindings::page {
    let Ok(index) = pool.alloc(cpu, order) else {
        return core::ptr::null_mut();
    };
    let Some(page) = pool.page(index) else {
        return core::ptr::null_mut();
    };
    if gfp & bindings::__GFP_ZERO != 0 {
        // SAFETY: The 2^order pages at `page` are ours now and contiguous in the direct map.
        unsafe {
            core::ptr::write_bytes(
                glue::page_address(page),
                0,
                kernel::page::PAGE_SIZE << order,
            )
        };
    }
    page
}

/// Frees one run; misuse is counted and reported by the pool.
fn free_one(pool: &Pool, cpu: usize, page: *mut bindings::page, order: u32) -> c_int {
    if page.is_null() {
        return EINVAL.to_errno();
    }
    match pool.free_page(cpu, page, order) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// `struct page *pcpbuddy_alloc_pages(gfp_t gfp, unsigned int order)`.
#[no_mangle]
pub(crate) extern "C" fn pcpbuddy_alloc_pages(
    gfp: bindings::gfp_t,
    order: c_uint,
) -> *mut bindings::page {
    match pool_for_caller() {
        Some(pool) => alloc_one(pool, current_cpu(), gfp, order),
        None => core::ptr::null_mut(),
    }
}

/// `int pcpbuddy_free_pages(struct page *page, unsigned int order)`.
#[no_mangle]
pub(crate) extern "C" fn pcpbuddy_free_pages(page: *mut bindings::page, order: c_uint) -> c_int {
    match pool_for_caller() {
        Some(pool) => free_one(pool, current_cpu(), page, order),
        None => EINVAL.to_errno(),
    }
}

/// `unsigned long pcpbuddy_alloc_pages_bulk(gfp_t gfp, unsigned int order, unsigned long nr,
/// struct page **pages)`: fills `pages[0..n]`, returns `n` (stops at the first failure).
///
/// # Safety
///
/// `pages` points to `nr` writable pointers (or `nr` is 0).
#[no_mangle]
pub(crate) unsafe extern "C" fn pcpbuddy_alloc_pages_bulk(
    gfp: bindings::gfp_t,
    order: c_uint,
    nr: c_ulong,
    pages: *mut *mut bindings::page,
) -> c_ulong {
    let Some(pool) = pool_for_caller() else {
        return 0;
    };
    if pages.is_null() {
        return 0;
    }
    let cpu = current_cpu();
    for i in 0..nr as usize {
        let page = alloc_one(pool, cpu, gfp, order);
        if page.is_null() {
            return i as c_ulong;
        }
        // SAFETY: `i < nr`, and the caller guarantees `nr` writable entries.
        unsafe { pages.add(i).write(page) };
    }
    nr
}

/// `int pcpbuddy_free_pages_bulk(struct page **pages, unsigned long nr, unsigned int order)`:
/// frees every entry; returns 0, or `-EINVAL` if any entry was refused (those are counted,
/// reported once per kind, and left as they were).
///
/// # Safety
///
/// `pages` points to `nr` readable pointers (or `nr` is 0).
#[no_mangle]
pub(crate) unsafe extern "C" fn pcpbuddy_free_pages_bulk(
    pages: *const *mut bindings::page,
    nr: c_ulong,
    order: c_uint,
) -> c_int {
    let Some(pool) = pool_for_caller() else {
        return EINVAL.to_errno();
    };
    if pages.is_null() && nr != 0 {
        return EINVAL.to_errno();
    }
    let cpu = current_cpu();
    let mut ret = 0;
    for i in 0..nr as usize {
        // SAFETY: `i < nr`, and the caller guarantees `nr` readable entries.
        let page = unsafe { pages.add(i).read() };
        let r = free_one(pool, cpu, page, order);
        if r != 0 {
            ret = r;
        }
    }
    ret
}

/// `int pcpbuddy_get_info(struct pcpbuddy_info *info)`: fills `*info`; `-EINVAL` for NULL.
///
/// # Safety
///
/// `info` is NULL or points to writable memory for a `struct pcpbuddy_info`.
#[no_mangle]
pub(crate) unsafe extern "C" fn pcpbuddy_get_info(info: *mut uapi::Info) -> c_int {
    if info.is_null() {
        return EINVAL.to_errno();
    }
    let Some(pool) = Pool::get() else {
        return ENODEV.to_errno();
    };
    // SAFETY: `info` is non-null and, by the caller's promise, valid for writes.
    unsafe { info.write(pool.info()) };
    0
}
