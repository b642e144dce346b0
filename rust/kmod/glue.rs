// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers over `pcpbuddy_glue.c`, the module's C glue.
//!
//! The C side exists only for what Rust cannot reach from an out-of-tree module in Linux 7.3
//! (see the comment at the top of `pcpbuddy_glue.c`). Everything here is a thin wrapper.

use core::ptr::NonNull;
use kernel::{bindings, prelude::*};

// `struct page` contains a zero-length array, which makes `improper_ctypes` complain about
// every `*mut bindings::page` passed across `extern "C"`. Only pointers cross the boundary, never
// the struct by value, so the warning does not apply.
#[allow(improper_ctypes)]
extern "C" {
    fn pcpbuddy_glue_source_param() -> *const c_char;
    fn pcpbuddy_glue_raw_lock_init(
        lock: *mut bindings::raw_spinlock_t,
        name: *const c_char,
        key: *mut bindings::lock_class_key,
    );
    fn pcpbuddy_glue_raw_lock_irqsave(lock: *mut bindings::raw_spinlock_t) -> c_ulong;
    fn pcpbuddy_glue_raw_trylock_irqsave(
        lock: *mut bindings::raw_spinlock_t,
        flags: *mut c_ulong,
    ) -> bool;
    fn pcpbuddy_glue_raw_unlock_irqrestore(lock: *mut bindings::raw_spinlock_t, flags: c_ulong);
    fn pcpbuddy_glue_raw_lock_assert_held(lock: *mut bindings::raw_spinlock_t);
    fn pcpbuddy_glue_pageblock_order() -> c_uint;
    fn pcpbuddy_glue_page_to_pfn(page: *const bindings::page) -> c_ulong;
    fn pcpbuddy_glue_page_address(page: *const bindings::page) -> *mut c_void;
    fn pcpbuddy_glue_memmap_base() -> c_ulong;
    fn pcpbuddy_glue_page_struct_size() -> c_uint;
    fn pcpbuddy_glue_cma_alloc(order: c_uint) -> *mut bindings::page;
    fn pcpbuddy_glue_cma_release(page: *mut bindings::page, order: c_uint) -> bool;
    fn pcpbuddy_glue_cma_available() -> bool;
    fn pcpbuddy_glue_node_online(nid: c_int) -> bool;
    fn pcpbuddy_glue_local_memory_node() -> c_int;
    fn pcpbuddy_glue_cpu_online(cpu: c_uint) -> bool;
    fn pcpbuddy_glue_cpu_possible(cpu: c_uint) -> bool;
    fn pcpbuddy_glue_kthread_on_cpu(
        f: unsafe extern "C" fn(*mut c_void) -> c_int,
        data: *mut c_void,
        cpu: c_uint,
    ) -> *mut bindings::task_struct;
    fn pcpbuddy_glue_kthread_stop(t: *mut bindings::task_struct) -> c_int;
    fn pcpbuddy_glue_cond_resched();
    fn pcpbuddy_glue_uncompound(page: *mut bindings::page, order: c_uint);
    fn pcpbuddy_glue_folio_order(folio: *const bindings::folio) -> c_uint;
    fn pcpbuddy_glue_page_is_head(page: *const bindings::page) -> bool;
    fn pcpbuddy_glue_front_alloc(size: usize, align: usize) -> *mut c_void;
    fn pcpbuddy_glue_front_free(front: *mut c_void);
    fn pcpbuddy_glue_front_of(front: *mut c_void, cpu: c_uint) -> *mut c_void;
    fn pcpbuddy_glue_local_publish(cpu: c_uint, pool: *const c_void, mag: *mut c_void);
    fn pcpbuddy_glue_cpu_to_node(cpu: c_uint) -> c_int;
    fn pcpbuddy_glue_nr_node_ids() -> c_int;
    fn pcpbuddy_glue_node_has_memory(nid: c_int) -> bool;
    fn pcpbuddy_glue_node_distance(from: c_int, to: c_int) -> c_int;
    fn pcpbuddy_glue_page_to_nid(page: *const bindings::page) -> c_int;
    fn pcpbuddy_glue_contig_alloc_node(
        nr_pages: c_ulong,
        gfp: bindings::gfp_t,
        nid: c_int,
    ) -> *mut bindings::page;
    fn pcpbuddy_glue_flush_all_magazines(pool: *const c_void);
    fn pcpbuddy_glue_flush_this_magazine(pool: *const c_void);
    fn pcpbuddy_glue_cancel_flush_work();
    fn pcpbuddy_glue_floor_create() -> *mut c_void;
    fn pcpbuddy_glue_floor_destroy(floor: *mut c_void);
    fn pcpbuddy_glue_floor_reset(floor: *mut c_void, nr: c_uint);
    fn pcpbuddy_glue_floor_alloc(
        floor: *mut c_void,
        gfp: bindings::gfp_t,
        order: c_uint,
    ) -> *mut bindings::page;
    fn pcpbuddy_glue_floor_free(
        floor: *mut c_void,
        page: *mut bindings::page,
        order: c_uint,
    ) -> c_int;
    fn pcpbuddy_glue_folio_alloc(gfp: bindings::gfp_t, order: c_uint) -> *mut bindings::folio;
    fn pcpbuddy_glue_folio_put(folio: *mut bindings::folio);
    fn pcpbuddy_glue_run_in_softirq(
        cpu: c_uint,
        f: unsafe extern "C" fn(*mut c_void),
        data: *mut c_void,
    );
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

/// `raw_spin_lock_init()` with the lock class `key` named `name`.
///
/// # Safety
///
/// `lock` is valid for writes; `name` and `key` live forever.
pub(crate) unsafe fn raw_lock_init(
    lock: *mut bindings::raw_spinlock_t,
    name: *const c_char,
    key: *mut bindings::lock_class_key,
) {
    // SAFETY: By the function's contract.
    unsafe { pcpbuddy_glue_raw_lock_init(lock, name, key) }
}

/// `raw_spin_lock_irqsave()`: the saved flags.
///
/// # Safety
///
/// `lock` is initialised.
pub(crate) unsafe fn raw_lock_irqsave(lock: *mut bindings::raw_spinlock_t) -> c_ulong {
    // SAFETY: By the function's contract.
    unsafe { pcpbuddy_glue_raw_lock_irqsave(lock) }
}

/// `raw_spin_trylock_irqsave()`: whether it took the lock (then `*flags` holds the flags).
///
/// # Safety
///
/// `lock` is initialised and `flags` writable.
pub(crate) unsafe fn raw_trylock_irqsave(
    lock: *mut bindings::raw_spinlock_t,
    flags: *mut c_ulong,
) -> bool {
    // SAFETY: By the function's contract.
    unsafe { pcpbuddy_glue_raw_trylock_irqsave(lock, flags) }
}

/// `raw_spin_unlock_irqrestore()`.
///
/// # Safety
///
/// The caller holds `lock`, taken with `flags`.
pub(crate) unsafe fn raw_unlock_irqrestore(lock: *mut bindings::raw_spinlock_t, flags: c_ulong) {
    // SAFETY: By the function's contract.
    unsafe { pcpbuddy_glue_raw_unlock_irqrestore(lock, flags) }
}

/// `lockdep_assert_held()`.
///
/// # Safety
///
/// `lock` is initialised.
pub(crate) unsafe fn raw_lock_assert_held(lock: *mut bindings::raw_spinlock_t) {
    // SAFETY: By the function's contract.
    unsafe { pcpbuddy_glue_raw_lock_assert_held(lock) }
}

/// `page_to_pfn()`.
pub(crate) fn page_to_pfn(page: *const bindings::page) -> usize {
    // SAFETY: `page_to_pfn` is pointer arithmetic on the memory map; it does not dereference.
    unsafe { pcpbuddy_glue_page_to_pfn(page) as usize }
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

/// The address of pfn 0's `struct page` in the virtual memory map and the size of a
/// `struct page` (a power of two): `pfn_to_page(pfn) == base + pfn * size`.
pub(crate) fn memmap() -> (usize, usize) {
    // SAFETY: Constants of the running kernel; no preconditions.
    unsafe {
        (
            pcpbuddy_glue_memmap_base() as usize,
            pcpbuddy_glue_page_struct_size() as usize,
        )
    }
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

/// Whether `cpu` is possible (`cpu_possible()` is a macro over a CPU mask).
pub(crate) fn cpu_possible(cpu: u32) -> bool {
    // SAFETY: The C side range-checks `cpu` before it indexes the mask.
    unsafe { pcpbuddy_glue_cpu_possible(cpu) }
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
    // SAFETY: Called from process context; no preconditions.
    unsafe { pcpbuddy_glue_cond_resched() }
}

/// Undoes the glue's `pcpbuddy_glue_prep_compound()`: plain pages with refcount 1 again (the
/// head's is the caller's).
///
/// # Safety
///
/// `page` heads a compound page of `order` made by the glue, held by the caller.
pub(crate) unsafe fn uncompound(page: *mut bindings::page, order: u32) {
    // SAFETY: By the caller's promises.
    unsafe { pcpbuddy_glue_uncompound(page, order) }
}

/// `folio_order()`.
///
/// # Safety
///
/// `folio` points to a valid `struct folio` (a head page and its tails).
pub(crate) unsafe fn folio_order(folio: *const bindings::folio) -> u32 {
    // SAFETY: By the caller's promise.
    unsafe { pcpbuddy_glue_folio_order(folio) }
}

/// `PageHead()`.
///
/// # Safety
///
/// `page` points to a valid `struct page`.
pub(crate) unsafe fn page_is_head(page: *const bindings::page) -> bool {
    // SAFETY: By the caller's promise.
    unsafe { pcpbuddy_glue_page_is_head(page) }
}

/// Per-CPU storage of `size` bytes aligned to `align` (`__alloc_percpu`), zeroed; null on
/// failure. Free it with [`front_free`].
pub(crate) fn front_alloc(size: usize, align: usize) -> *mut c_void {
    // SAFETY: No preconditions.
    unsafe { pcpbuddy_glue_front_alloc(size, align) }
}

/// `free_percpu()`.
///
/// # Safety
///
/// `front` comes from [`front_alloc`], is not published, and nothing uses it any more.
pub(crate) unsafe fn front_free(front: *mut c_void) {
    // SAFETY: By the caller's promises.
    unsafe { pcpbuddy_glue_front_free(front) }
}

/// `per_cpu_ptr(front, cpu)`.
///
/// # Safety
///
/// `front` comes from [`front_alloc`] and `cpu` is a possible CPU.
pub(crate) unsafe fn front_of(front: *mut c_void, cpu: u32) -> *mut c_void {
    // SAFETY: By the caller's promises.
    unsafe { pcpbuddy_glue_front_of(front, cpu) }
}

/// Publishes `cpu`'s pool and its magazine of that pool to the API's entry points, or withdraws
/// them (both null).
///
/// # Safety
///
/// A non-null `pool` is a [`crate::kernel_pool::KernelPool`] and `mag` its magazine of `cpu`
/// (initialised), both valid until withdrawn; after withdrawing, the caller waits for the entry
/// points in flight (the module's unload guarantees there are none).
pub(crate) unsafe fn local_publish(cpu: u32, pool: *const c_void, mag: *mut c_void) {
    // SAFETY: By the caller's promises.
    unsafe { pcpbuddy_glue_local_publish(cpu, pool, mag) }
}

/// `cpu_to_node()` of a possible CPU.
pub(crate) fn cpu_to_node(cpu: u32) -> i32 {
    // SAFETY: A per-CPU read of an initialised variable (`cpu` is checked by the caller to be
    // possible; every possible CPU has one).
    unsafe { pcpbuddy_glue_cpu_to_node(cpu) }
}

/// `nr_node_ids`: the highest possible node id + 1.
pub(crate) fn nr_node_ids() -> i32 {
    // SAFETY: Reads a variable set at boot.
    unsafe { pcpbuddy_glue_nr_node_ids() }
}

/// Whether node `nid` has memory (`N_MEMORY`).
pub(crate) fn node_has_memory(nid: i32) -> bool {
    // SAFETY: The C side range-checks `nid`.
    unsafe { pcpbuddy_glue_node_has_memory(nid) }
}

/// `node_distance()` between two node ids below [`nr_node_ids`].
pub(crate) fn node_distance(from: i32, to: i32) -> i32 {
    // SAFETY: Reads the distance table (both ids are possible nodes, the caller's promise).
    unsafe { pcpbuddy_glue_node_distance(from, to) }
}

/// `page_to_nid()`.
///
/// # Safety
///
/// `page` is a valid `struct page` (it reads its flags).
pub(crate) unsafe fn page_to_nid(page: *const bindings::page) -> i32 {
    // SAFETY: By the caller's promise.
    unsafe { pcpbuddy_glue_page_to_nid(page) }
}

/// `alloc_contig_pages()` of `nr_pages` on node `nid` only (a node mask of one), or null.
pub(crate) fn contig_alloc_node(
    nr_pages: usize,
    gfp: bindings::gfp_t,
    nid: i32,
) -> *mut bindings::page {
    // SAFETY: `nid` is an online node with memory (the caller's check): the C side builds a
    // node mask of it; may sleep (process context).
    unsafe { pcpbuddy_glue_contig_alloc_node(nr_pages as c_ulong, gfp, nid) }
}

/// Every online CPU returns its magazine to `pool` (an IPI to each, waiting). Process context
/// with interrupts enabled, no spinlock held.
pub(crate) fn flush_all_magazines(pool: &crate::kernel_pool::KernelPool) {
    // SAFETY: Called from process context (ioctl, debugfs, unload, hotplug); no lock held.
    // `pool` outlives the call, which waits for every CPU.
    unsafe { pcpbuddy_glue_flush_all_magazines(core::ptr::from_ref(pool).cast()) }
}

/// Every online CPU returns its magazines to every published pool (an IPI to each, waiting).
/// Process context with interrupts enabled, no spinlock held.
pub(crate) fn flush_all_published_magazines() {
    // SAFETY: As for `flush_all_magazines`; null names every published pool.
    unsafe { pcpbuddy_glue_flush_all_magazines(core::ptr::null()) }
}

/// This CPU returns its magazine to `pool`.
pub(crate) fn flush_this_magazine(pool: &crate::kernel_pool::KernelPool) {
    // SAFETY: Disables interrupts around the flush itself; `pool` outlives the call.
    unsafe { pcpbuddy_glue_flush_this_magazine(core::ptr::from_ref(pool).cast()) }
}

/// Waits for a flush queued by a failed atomic allocation (unload).
pub(crate) fn cancel_flush_work() {
    // SAFETY: Process context.
    unsafe { pcpbuddy_glue_cancel_flush_work() }
}

/// The benchmark floor's per-CPU arrays, for the length of one run: each run has its own, so
/// nothing is shared between runs.
///
/// # Invariants
///
/// `0` is per-CPU memory from `pcpbuddy_glue_floor_create`, freed when `self` is dropped.
pub(crate) struct Floor(NonNull<c_void>);

// SAFETY: The arrays are per-CPU memory, each CPU's touched only by that CPU with preemption
// disabled (inside the glue); the pointer itself may be shared and sent.
unsafe impl Send for Floor {}
// SAFETY: As above.
unsafe impl Sync for Floor {}

impl Floor {
    /// Allocates the arrays.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: Process context (a benchmark run's setup).
        let arrays = unsafe { pcpbuddy_glue_floor_create() };
        // INVARIANT: Just allocated; freed in `drop`.
        NonNull::new(arrays).map(Self).ok_or(ENOMEM)
    }

    /// Fills this CPU's array with `nr` tokens.
    pub(crate) fn reset(&self, nr: u32) {
        // SAFETY: The arrays exist while `self` does (type invariant); pins itself to the CPU
        // for the fill.
        unsafe { pcpbuddy_glue_floor_reset(self.0.as_ptr(), nr) }
    }

    /// A token popped from this CPU's array (never fails; never dereferenced).
    #[inline]
    pub(crate) fn alloc(&self, order: u32) -> *mut bindings::page {
        // SAFETY: As in `reset`.
        unsafe { pcpbuddy_glue_floor_alloc(self.0.as_ptr(), 0, order) }
    }

    /// Pushes a token onto this CPU's array (dropped when full).
    #[inline]
    pub(crate) fn free(&self, page: *mut bindings::page, order: u32) {
        // SAFETY: As in `reset`.
        unsafe { pcpbuddy_glue_floor_free(self.0.as_ptr(), page, order) };
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        // SAFETY: The arrays came from `floor_create` (type invariant); the run's threads were
        // stopped before the run's `Floor` is dropped.
        unsafe { pcpbuddy_glue_floor_destroy(self.0.as_ptr()) }
    }
}

/// `folio_alloc()`, for the benchmark's kernel backend: the folio's head page, or null.
#[inline]
pub(crate) fn kernel_folio_alloc(gfp: bindings::gfp_t, order: u32) -> *mut bindings::page {
    // SAFETY: A plain allocation call; `gfp` says what the context allows.
    unsafe { pcpbuddy_glue_folio_alloc(gfp, order) }.cast()
}

/// `folio_put()` of a folio from [`kernel_folio_alloc`].
///
/// # Safety
///
/// `page` is the head of a folio from [`kernel_folio_alloc`] whose last reference the caller
/// drops.
#[inline]
pub(crate) unsafe fn kernel_folio_put(page: *mut bindings::page) {
    // SAFETY: By the caller's promise.
    unsafe { pcpbuddy_glue_folio_put(page.cast()) }
}

/// Runs `f(data)` once in soft interrupt context on `cpu` and waits for it.
///
/// # Safety
///
/// `data` stays valid until this returns; the caller may sleep.
pub(crate) unsafe fn run_in_softirq(
    cpu: u32,
    f: unsafe extern "C" fn(*mut c_void),
    data: *mut c_void,
) {
    // SAFETY: By the caller's promises; the call waits for `f`.
    unsafe { pcpbuddy_glue_run_in_softirq(cpu, f, data) }
}
