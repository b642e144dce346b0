// SPDX-License-Identifier: GPL-2.0

//! pcpbuddy's tracepoints (`events/pcpbuddy/*` in tracefs), fired from the core's trace events.
//!
//! The events are defined in `pcpbuddy_trace.h` (C: `TRACE_EVENT` has no Rust form) and
//! instantiated in `pcpbuddy_trace.c`, which also generates a `rust_do_trace_<name>()` per
//! event (`CREATE_RUST_TRACE_POINTS`). The kernel crate's `declare_trace!` only reaches
//! tracepoints in its own bindings, so this does what it does by hand: test the tracepoint's
//! static key inline (a jump patched in only while someone listens, `CONFIG_JUMP_LABEL`), and
//! only then compute the fields and call the C function that records the event.

use crate::{glue, pcpcore::trace::Event};
use kernel::{bindings, prelude::*};

// `struct tracepoint` has a member bindgen renders as not FFI-safe; these statics are only ever
// used by address (their static key), never read or passed by value.
#[allow(improper_ctypes)]
extern "C" {
    static __tracepoint_pcpbuddy_alloc: bindings::tracepoint;
    static __tracepoint_pcpbuddy_free: bindings::tracepoint;
    static __tracepoint_pcpbuddy_refill: bindings::tracepoint;
    static __tracepoint_pcpbuddy_drain: bindings::tracepoint;
    static __tracepoint_pcpbuddy_fragment: bindings::tracepoint;
    static __tracepoint_pcpbuddy_reclaim: bindings::tracepoint;
    fn rust_do_trace_pcpbuddy_alloc(pfn: c_ulong, order: c_uint, folio: bool, slow: bool);
    fn rust_do_trace_pcpbuddy_free(pfn: c_ulong, order: c_uint, folio: bool, remote: bool);
    fn rust_do_trace_pcpbuddy_refill(order: c_uint, phase: c_uint, count: c_uint);
    fn rust_do_trace_pcpbuddy_drain(cpu: c_uint, trim: bool, pages: c_ulong);
    fn rust_do_trace_pcpbuddy_fragment(pfn: c_ulong, event: c_uint, free_pages: c_ulong);
    fn rust_do_trace_pcpbuddy_reclaim(order: c_uint, drained: c_uint, satisfied: bool);
}

/// Whether tracepoint `$tp` is enabled: its static key, inline.
macro_rules! enabled {
    ($tp:ident) => {
        // SAFETY: The tracepoint is a real `struct tracepoint` defined by `pcpbuddy_trace.c`,
        // whose `key` is a static key; reading it is always allowed.
        unsafe { kernel::jump_label::static_branch_unlikely!($tp, bindings::tracepoint, key) }
    };
}

/// Whether `pcpbuddy_alloc` is enabled (for the entry point's fast path).
#[inline(always)]
pub(crate) fn alloc_enabled() -> bool {
    enabled!(__tracepoint_pcpbuddy_alloc)
}

/// Whether `pcpbuddy_free` is enabled (for the entry point's fast path).
#[inline(always)]
pub(crate) fn free_enabled() -> bool {
    enabled!(__tracepoint_pcpbuddy_free)
}

/// Fires `pcpbuddy_alloc` for an allocation the magazine served (`slow=0`): the event the core
/// leaves to the caller of `Pool::alloc_fast`. Out of line; any context but NMI.
#[inline(never)]
pub(crate) fn alloc_fast(page: *mut bindings::page, order: u32, folio: bool) {
    // SAFETY: The tracepoint's function, with its prototype; any context.
    unsafe { rust_do_trace_pcpbuddy_alloc(glue::page_to_pfn(page) as c_ulong, order, folio, false) }
}

/// Fires `pcpbuddy_free` for a free of plain pages into this CPU's magazine (`folio=0`;
/// `remote`: of a block someone else holds): the event the core leaves to the caller of
/// `Pool::free_fast`.
#[inline(never)]
pub(crate) fn free_cached(page: *mut bindings::page, order: u32, remote: bool) {
    // SAFETY: As above.
    unsafe { rust_do_trace_pcpbuddy_free(glue::page_to_pfn(page) as c_ulong, order, false, remote) }
}

/// Fires the tracepoint of `event` if it is enabled. `pfn_of(page index)` gives a page's pfn;
/// `block_pfn(block)` a block's first pfn. Any context but NMI (the core's callers').
#[inline(always)]
pub(crate) fn fire(
    event: Event,
    pfn_of: impl FnOnce(usize) -> usize,
    block_pfn: impl FnOnce(usize) -> usize,
) {
    match event {
        Event::Alloc {
            page,
            order,
            folio,
            slow,
        } => {
            if enabled!(__tracepoint_pcpbuddy_alloc) {
                // SAFETY: The tracepoint's function, with its prototype; any context.
                unsafe { rust_do_trace_pcpbuddy_alloc(pfn_of(page) as c_ulong, order, folio, slow) }
            }
        }
        Event::Free {
            page,
            order,
            folio,
            remote,
        } => {
            if enabled!(__tracepoint_pcpbuddy_free) {
                // SAFETY: As above.
                unsafe {
                    rust_do_trace_pcpbuddy_free(pfn_of(page) as c_ulong, order, folio, remote)
                }
            }
        }
        Event::Refill {
            order,
            phase,
            count,
        } => {
            if enabled!(__tracepoint_pcpbuddy_refill) {
                // SAFETY: As above.
                unsafe { rust_do_trace_pcpbuddy_refill(order, phase as c_uint, count) }
            }
        }
        Event::Drain { cpu, kind, pages } => {
            if enabled!(__tracepoint_pcpbuddy_drain) {
                let trim = matches!(kind, crate::pcpcore::trace::DrainKind::Trim);
                // SAFETY: As above.
                unsafe { rust_do_trace_pcpbuddy_drain(cpu as c_uint, trim, pages as c_ulong) }
            }
        }
        Event::Fragment {
            block,
            event,
            free_pages,
        } => {
            if enabled!(__tracepoint_pcpbuddy_fragment) {
                // SAFETY: As above.
                unsafe {
                    rust_do_trace_pcpbuddy_fragment(
                        block_pfn(block) as c_ulong,
                        event as c_uint,
                        free_pages as c_ulong,
                    )
                }
            }
        }
        Event::Reclaim {
            order,
            drained,
            satisfied,
        } => {
            if enabled!(__tracepoint_pcpbuddy_reclaim) {
                // SAFETY: As above.
                unsafe { rust_do_trace_pcpbuddy_reclaim(order, drained, satisfied) }
            }
        }
    }
}
