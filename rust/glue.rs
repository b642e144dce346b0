// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers over `pcpbuddy_glue.c`, the module's C glue.
//!
//! The C side exists only for what Rust cannot reach from an out-of-tree module in Linux 7.3
//! (see the comment at the top of `pcpbuddy_glue.c`). Everything here is a thin, safe wrapper.

use core::ptr::NonNull;
use kernel::{bindings, prelude::*};

// `struct page` contains a zero-length array, which makes `improper_ctypes` complain about
// every `*mut bindings::page` passed across `extern "C"`. Only pointers cross the boundary, never
// the struct by value, so the warning does not apply.
#[allow(improper_ctypes)]
extern "C" {
    fn pcpbuddy_glue_source_param() -> *const c_char;
    fn pcpbuddy_glue_pageblock_order() -> c_uint;
    fn pcpbuddy_glue_page_to_pfn(page: *const bindings::page) -> c_ulong;
    fn pcpbuddy_glue_pfn_to_page(pfn: c_ulong) -> *mut bindings::page;
    fn pcpbuddy_glue_page_address(page: *const bindings::page) -> *mut c_void;
    fn pcpbuddy_glue_cma_alloc(order: c_uint) -> *mut bindings::page;
    fn pcpbuddy_glue_cma_release(page: *mut bindings::page, order: c_uint) -> bool;
    fn pcpbuddy_glue_cma_available() -> bool;
    fn pcpbuddy_glue_node_online(nid: c_int) -> bool;
    fn pcpbuddy_glue_local_memory_node() -> c_int;
    fn pcpbuddy_glue_cpu_online(cpu: c_uint) -> bool;
    fn pcpbuddy_glue_in_task() -> bool;
    fn pcpbuddy_glue_kthread_on_cpu(
        f: unsafe extern "C" fn(*mut c_void) -> c_int,
        data: *mut c_void,
        cpu: c_uint,
    ) -> *mut bindings::task_struct;
    fn pcpbuddy_glue_kthread_stop(t: *mut bindings::task_struct) -> c_int;
    fn pcpbuddy_glue_cond_resched();
}

/// The kernel's `pageblock_order` (a macro in C, so bindgen cannot see it).
pub(crate) fn pageblock_order() -> u32 {
    // SAFETY: Reads a compile-time constant; no preconditions.
    unsafe { pcpbuddy_glue_pageblock_order() }
}

/// The `source=` module parameter as written by the user (it is defined in C because the
/// `module!` macro supports only integer and bool parameters).
pub(crate) fn source_param() -> &'static CStr {
    // SAFETY: The C side returns a pointer to a NUL-terminated static buffer that lives as long
    // as the module, and module parameters are not writable after load (permissions 0444).
    unsafe { CStr::from_char_ptr(pcpbuddy_glue_source_param()) }
}

/// `page_to_pfn()`.
pub(crate) fn page_to_pfn(page: *const bindings::page) -> usize {
    // SAFETY: `page_to_pfn` is pointer arithmetic on the memory map; it does not dereference.
    unsafe { pcpbuddy_glue_page_to_pfn(page) as usize }
}

/// `pfn_to_page()`.
///
/// # Safety
///
/// `pfn` must be a valid pfn of memory the caller holds (so that its `struct page` exists).
pub(crate) unsafe fn pfn_to_page(pfn: usize) -> *mut bindings::page {
    // SAFETY: The caller guarantees that `pfn` is valid.
    unsafe { pcpbuddy_glue_pfn_to_page(pfn as c_ulong) }
}

/// `page_address()` of a lowmem page (every page on x86-64).
///
/// # Safety
///
/// `page` must point to a valid `struct page`.
pub(crate) unsafe fn page_address(page: *const bindings::page) -> *mut u8 {
    // SAFETY: The caller guarantees that `page` is valid.
    unsafe { pcpbuddy_glue_page_address(page).cast() }
}

/// `cma_alloc()` of `2^order` naturally aligned pages from the default CMA area
/// (`dev_get_cma_area(NULL)`, sized by `cma=` at boot). `None` if there is no area or it cannot
/// supply the range right now (pages in it may be under migration: retrying can succeed).
pub(crate) fn cma_alloc(order: u32) -> Option<*mut bindings::page> {
    // SAFETY: No preconditions; returns NULL on failure.
    let page = unsafe { pcpbuddy_glue_cma_alloc(order) };
    (!page.is_null()).then_some(page)
}

/// `cma_release()` of a range obtained from [`cma_alloc`].
///
/// # Safety
///
/// `page` must come from [`cma_alloc`] with the same `order`, and no page of the range may be in
/// use any more.
pub(crate) unsafe fn cma_release(page: *mut bindings::page, order: u32) -> bool {
    // SAFETY: The caller guarantees that the range came from `cma_alloc` and is unused.
    unsafe { pcpbuddy_glue_cma_release(page, order) }
}

/// Whether the kernel has a default CMA area (booted with `cma=` and `CONFIG_DMA_CMA`).
pub(crate) fn cma_available() -> bool {
    // SAFETY: No preconditions.
    unsafe { pcpbuddy_glue_cma_available() }
}

/// Whether `nid` names an online NUMA node (`node_online()` is a macro over a node mask).
pub(crate) fn node_online(nid: i32) -> bool {
    // SAFETY: The C side range-checks `nid` before it indexes the node mask.
    unsafe { pcpbuddy_glue_node_online(nid) }
}

/// `numa_mem_id()`: the nearest node with memory to the current CPU.
pub(crate) fn local_memory_node() -> i32 {
    // SAFETY: No preconditions; the answer may be stale by the time it is used, which only
    // affects locality.
    unsafe { pcpbuddy_glue_local_memory_node() }
}

/// Whether `cpu` is online (`cpu_online()` is a macro over a CPU mask).
pub(crate) fn cpu_online(cpu: u32) -> bool {
    // SAFETY: The C side range-checks `cpu` before it indexes the mask.
    unsafe { pcpbuddy_glue_cpu_online(cpu) }
}

/// `in_task()`: process context, not hard or soft interrupt or NMI.
pub(crate) fn in_task() -> bool {
    // SAFETY: Reads the preemption count; no preconditions.
    unsafe { pcpbuddy_glue_in_task() }
}

/// A kthread bound to `cpu` and running `f(data)`; stop it with [`kthread_stop`].
///
/// # Safety
///
/// `data` must stay valid for `f` until [`kthread_stop`] has returned for the thread.
pub(crate) unsafe fn kthread_on_cpu(
    f: unsafe extern "C" fn(*mut c_void) -> c_int,
    data: *mut c_void,
    cpu: u32,
) -> Option<NonNull<bindings::task_struct>> {
    // SAFETY: The caller keeps `data` valid for the thread's lifetime.
    NonNull::new(unsafe { pcpbuddy_glue_kthread_on_cpu(f, data, cpu) })
}

/// Waits for a thread from [`kthread_on_cpu`] to end; returns its exit code.
///
/// # Safety
///
/// `t` comes from [`kthread_on_cpu`] and is stopped only once.
pub(crate) unsafe fn kthread_stop(t: NonNull<bindings::task_struct>) -> i32 {
    // SAFETY: The C side holds a reference on `t` until this call, which drops it.
    unsafe { pcpbuddy_glue_kthread_stop(t.as_ptr()) }
}

/// `cond_resched()`: lets the scheduler run something else if it wants to.
pub(crate) fn cond_resched() {
    // SAFETY: Called from process context by the benchmark threads; no preconditions.
    unsafe { pcpbuddy_glue_cond_resched() }
}
