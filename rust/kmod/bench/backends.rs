// SPDX-License-Identifier: GPL-2.0

//! The backends as their users call them: the pool through its exported API, the kernel's page
//! allocator, and the floor (a bare per-CPU array, the machine's limit).

use crate::{api, glue};
use kernel::bindings;

/// Tokens in the floor backend's per-CPU array at the start.
pub(crate) const FLOOR_TOKENS: u32 = 2048;

/// An allocator as its users call it. A handle is the first `struct page`'s address; 0 means
/// the allocation failed.
pub(crate) trait Api {
    fn alloc(&mut self, order: u32) -> usize;
    fn free(&mut self, handle: usize, order: u32);
}

/// The pool, through the exported API.
pub(crate) struct PoolApi {
    pub(crate) gfp: bindings::gfp_t,
    pub(crate) folio: bool,
}

impl Api for PoolApi {
    #[inline(always)]
    fn alloc(&mut self, order: u32) -> usize {
        api::alloc_pages(self.gfp, order, self.folio) as usize
    }

    #[inline(always)]
    fn free(&mut self, handle: usize, order: u32) {
        let page = handle as *mut bindings::page;
        // Cannot fail: every handle is freed once, with its order. Were it to, the pool would
        // have counted it in `stats`.
        if self.folio {
            api::free_folio(page);
        } else {
            api::free_pages(page, order);
        }
    }
}

/// The kernel's page allocator.
pub(crate) struct KernelApi {
    pub(crate) gfp: bindings::gfp_t,
    pub(crate) folio: bool,
}

impl Api for KernelApi {
    #[inline(always)]
    fn alloc(&mut self, order: u32) -> usize {
        if self.folio {
            return glue::kernel_folio_alloc(self.gfp, order) as usize;
        }
        // No zeroing, no retrying: the same work as the pool does.
        // SAFETY: A plain allocation call; `gfp` fits the context.
        unsafe { bindings::alloc_pages_noprof(self.gfp, order) as usize }
    }

    #[inline(always)]
    fn free(&mut self, handle: usize, order: u32) {
        let page = handle as *mut bindings::page;
        if self.folio {
            // SAFETY: `page` heads a folio this benchmark got from `folio_alloc()`, freed once.
            unsafe { glue::kernel_folio_put(page) };
        } else {
            // SAFETY: `page` is a page this benchmark got from `alloc_pages` with this order,
            // freed exactly once.
            unsafe { bindings::__free_pages(page, order) };
        }
    }
}

/// The floor: a per-CPU array of tokens, the run's own.
pub(crate) struct FloorApi<'a>(pub(crate) &'a glue::Floor);

impl Api for FloorApi<'_> {
    #[inline(always)]
    fn alloc(&mut self, order: u32) -> usize {
        self.0.alloc(order) as usize
    }

    #[inline(always)]
    fn free(&mut self, handle: usize, order: u32) {
        self.0.free(handle as *mut bindings::page, order);
    }
}
