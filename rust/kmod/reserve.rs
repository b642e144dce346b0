// SPDX-License-Identifier: GPL-2.0

//! Reservation: pageblocks taken from the kernel at load and given back at unload.
//!
//! Three sources, tried in this order by `source=auto`:
//!
//! * `cma`: `cma_alloc()` on the default CMA area (`cma=` on the kernel command line). CMA is
//!   the natural home of a dedicated pool: the area is reserved at boot, so large pools succeed
//!   late in the uptime.
//! * `contig`: `alloc_contig_pages()`, which migrates movable pages out of a range anywhere.
//! * `pages`: `alloc_pages()` at `pageblock_order`, the buddy allocator's own largest-but-one
//!   block; it needs a free 2 MiB buddy block and is the most likely to fail on a fragmented
//!   machine, but it needs neither CMA nor `CONFIG_CONTIG_ALLOC`.
//!
//! Each [`Pageblock`] remembers its source and returns the memory with the matching call when it
//! is dropped. Every page of a held block has refcount 1, whatever the source (`cma_alloc()` and
//! `alloc_contig_pages()` return them so; for `alloc_pages()` the block is split with
//! `split_page()`), so the pool can hand out any sub-range like `alloc_pages()` would.

use crate::glue;
use core::ptr::NonNull;
use kernel::{bindings, prelude::*};

/// Where a pageblock came from, and so how it must be given back.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// `cma_alloc()` on the default CMA area; returned with `cma_release()`.
    Cma,
    /// `alloc_contig_pages()`; returned with `free_contig_range()`.
    Contig,
    /// `alloc_pages()` + `split_page()`; returned page by page with `__free_pages()`.
    Pages,
}

impl Source {
    /// The name used by the `source=` parameter and in debugfs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Source::Cma => "cma",
            Source::Contig => "contig",
            Source::Pages => "pages",
        }
    }
}

/// The `source=` module parameter: one source, or `auto` for all of them in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SourcePolicy {
    /// Try [`Source::Cma`], then [`Source::Contig`], then [`Source::Pages`], per block.
    Auto,
    /// Use only this source.
    Only(Source),
}

impl SourcePolicy {
    /// Parses the `source=` parameter.
    pub(crate) fn parse(s: &CStr) -> Result<Self> {
        Ok(match s.to_bytes() {
            b"auto" => SourcePolicy::Auto,
            b"cma" => SourcePolicy::Only(Source::Cma),
            b"contig" => SourcePolicy::Only(Source::Contig),
            b"pages" => SourcePolicy::Only(Source::Pages),
            _ => return Err(EINVAL),
        })
    }

    /// The parameter's spelling.
    pub(crate) fn name(self) -> &'static str {
        match self {
            SourcePolicy::Auto => "auto",
            SourcePolicy::Only(source) => source.name(),
        }
    }

    /// The `enum pcpbuddy_source` value of the uapi header.
    pub(crate) fn uapi(self) -> u32 {
        match self {
            SourcePolicy::Auto => 0,
            SourcePolicy::Only(Source::Cma) => 1,
            SourcePolicy::Only(Source::Contig) => 2,
            SourcePolicy::Only(Source::Pages) => 3,
        }
    }

    /// The sources to try, in order.
    pub(crate) fn sources(self) -> &'static [Source] {
        match self {
            SourcePolicy::Auto => &[Source::Cma, Source::Contig, Source::Pages],
            SourcePolicy::Only(Source::Cma) => &[Source::Cma],
            SourcePolicy::Only(Source::Contig) => &[Source::Contig],
            SourcePolicy::Only(Source::Pages) => &[Source::Pages],
        }
    }
}

/// One naturally aligned block of `2^order` pages held by the module.
///
/// # Invariants
///
/// `first` is the first page of `2^order` naturally aligned pages, each with refcount 1, that
/// were obtained from `source` and have not been given back.
pub(crate) struct Pageblock {
    first: NonNull<bindings::page>,
    order: u32,
    source: Source,
}

// SAFETY: A `Pageblock` is an owning handle to physical memory; the kernel calls that give it
// back may run on any CPU in process context.
unsafe impl Send for Pageblock {}
// SAFETY: `&Pageblock` only reads immutable fields.
unsafe impl Sync for Pageblock {}

/// How many more times [`Pageblock::acquire_retrying`] tries a CMA or contig block, 20 ms apart.
const TRANSIENT_RETRIES: usize = 3;

impl Pageblock {
    /// Takes one block of `2^order` pages from `source`, on NUMA node `nid` if it is not
    /// `NUMA_NO_NODE` (CMA ignores the node: the area is where it is). With `strict` (one pool
    /// per node), the block is on `nid` or refused: `contig` is confined to the node, and a
    /// `cma` block elsewhere is given back (`ENOMEM`).
    ///
    /// May sleep (migration, reclaim). Returns `ENOMEM` if the source has nothing to give and
    /// `ENODEV` for `cma` when the kernel has no default CMA area.
    pub(crate) fn acquire(source: Source, order: u32, nid: i32, strict: bool) -> Result<Self> {
        let nr_pages = 1usize << order;
        let first = match source {
            Source::Cma => {
                if !glue::cma_available() {
                    return Err(ENODEV);
                }
                glue::cma_alloc(order).ok_or(ENOMEM)?
            }
            Source::Contig => {
                // alloc_contig_pages() indexes NODE_DATA(nid) without checking it: it needs a
                // real node, not NUMA_NO_NODE.
                let nid = if nid == bindings::NUMA_NO_NODE {
                    glue::local_memory_node()
                } else {
                    nid
                };
                // No __GFP_COMP (alloc_contig_pages() WARNs on it) and no __GFP_NORETRY
                // (-EINVAL). A power-of-two count gives a naturally aligned range.
                let gfp = bindings::GFP_KERNEL | bindings::__GFP_NOWARN;
                if strict {
                    return Self::checked(
                        glue::contig_alloc_node(nr_pages, gfp, nid),
                        order,
                        source,
                    );
                }
                // SAFETY: `nid` is an online node (checked at load, or numa_mem_id()); a NULL
                // nodemask means no further restriction.
                unsafe {
                    bindings::alloc_contig_pages_noprof(
                        nr_pages as c_ulong,
                        gfp,
                        nid,
                        core::ptr::null_mut(),
                    )
                }
            }
            Source::Pages => {
                let mut gfp = bindings::GFP_KERNEL
                    | bindings::__GFP_NOWARN
                    | (1 << bindings::___GFP_RETRY_MAYFAIL_BIT);
                if nid != bindings::NUMA_NO_NODE {
                    gfp |= 1 << bindings::___GFP_THISNODE_BIT;
                }
                // SAFETY: Plain allocation call; `nid` is NUMA_NO_NODE or a node number, which
                // the module parameter check ensures is online.
                let page = unsafe { bindings::alloc_pages_node_noprof(nid, gfp, order) };
                if !page.is_null() {
                    // Give every page its own refcount so that each can be handed out and
                    // given back on its own, like the pages of the other two sources.
                    // SAFETY: `page` is a fresh non-compound allocation of `order`.
                    unsafe { bindings::split_page(page, order) };
                }
                page
            }
        };
        let block = Self::checked(first, order, source)?;
        if strict && block.nid() != nid {
            // Dropping it gives it back.
            return Err(ENOMEM);
        }
        Ok(block)
    }

    /// Wraps what `source` returned for `order` (null: nothing).
    fn checked(first: *mut bindings::page, order: u32, source: Source) -> Result<Self> {
        let first = NonNull::new(first).ok_or(ENOMEM)?;
        // INVARIANT: the caller passes what `source` returned: `first` heads 2^order naturally
        // aligned pages with refcount 1.
        Ok(Self {
            first,
            order,
            source,
        })
    }

    /// [`Pageblock::acquire`], trying again a few times, 20 ms apart, while CMA or contig has no
    /// block: those ranges migrate what the kernel put there first, and a page under I/O or
    /// briefly pinned makes that fail for a moment (seen: one block of a whole-area CMA load
    /// refused once in a test run, fine right after). Load time only.
    pub(crate) fn acquire_retrying(
        source: Source,
        order: u32,
        nid: i32,
        strict: bool,
    ) -> Result<Self> {
        let mut result = Self::acquire(source, order, nid, strict);
        for _ in 0..TRANSIENT_RETRIES {
            if source == Source::Pages || !matches!(result, Err(e) if e == ENOMEM) {
                break;
            }
            kernel::time::delay::fsleep(kernel::time::Delta::from_millis(20));
            result = Self::acquire(source, order, nid, strict);
        }
        result
    }

    /// Tries each source of `policy` in turn; the last one (whose failure fails the load) with
    /// [`Pageblock::acquire_retrying`]. `strict`: see [`Pageblock::acquire`].
    pub(crate) fn acquire_any(
        policy: SourcePolicy,
        order: u32,
        nid: i32,
        strict: bool,
    ) -> Result<Self> {
        let mut err = ENOMEM;
        let sources = policy.sources();
        for (i, &source) in sources.iter().enumerate() {
            let result = if i + 1 == sources.len() {
                Self::acquire_retrying(source, order, nid, strict)
            } else {
                Self::acquire(source, order, nid, strict)
            };
            match result {
                Ok(block) => return Ok(block),
                Err(e) => err = e,
            }
        }
        Err(err)
    }

    /// The NUMA node of the block's memory.
    pub(crate) fn nid(&self) -> i32 {
        // SAFETY: By the type invariant, `first` is a valid page that we hold.
        unsafe { glue::page_to_nid(self.first.as_ptr()) }
    }

    /// The first page's `struct page`.
    pub(crate) fn first_page(&self) -> *mut bindings::page {
        self.first.as_ptr()
    }

    /// The pfn of the first page.
    pub(crate) fn pfn(&self) -> usize {
        glue::page_to_pfn(self.first.as_ptr())
    }

    /// Where the block came from.
    pub(crate) fn source(&self) -> Source {
        self.source
    }

    /// The block's kernel virtual address (the direct map: x86-64 has no highmem).
    pub(crate) fn address(&self) -> *mut u8 {
        // SAFETY: By the type invariant, `first` is a valid page that we hold.
        unsafe { glue::page_address(self.first.as_ptr()) }
    }
}

impl Drop for Pageblock {
    fn drop(&mut self) {
        let nr_pages = 1usize << self.order;
        let pfn = self.pfn();
        match self.source {
            Source::Cma => {
                // SAFETY: By the type invariant the range came from `cma_alloc` with this order
                // and is held by us; dropping the handle means nobody uses it any more.
                if !unsafe { glue::cma_release(self.first.as_ptr(), self.order) } {
                    pr_err!("cma_release failed for pfn {:#x}: leaking the block\n", pfn);
                }
            }
            // SAFETY: By the type invariant the range came from `alloc_contig_pages` and every
            // page still has the refcount it was handed out with.
            Source::Contig => unsafe {
                bindings::free_contig_range(pfn as c_ulong, nr_pages as c_ulong)
            },
            Source::Pages => {
                for i in 0..nr_pages {
                    // SAFETY: Page `i` lies in the block we hold (its `struct page`s are
                    // contiguous: a naturally aligned block within one memory section) and,
                    // after `split_page()`, is an order-0 page with refcount 1.
                    unsafe { bindings::__free_pages(self.first.as_ptr().add(i), 0) };
                }
            }
        }
    }
}

#[kunit_tests(pcpbuddy_reserve)]
mod tests {
    use super::*;

    /// Takes a pageblock from `source` (retrying transient failures), checks it and gives it
    /// back.
    fn round_trip(source: Source) -> Result {
        let order = glue::pageblock_order();
        let block = Pageblock::acquire_retrying(source, order, bindings::NUMA_NO_NODE, false)?;
        let aligned = block.pfn() % (1 << order) == 0;
        assert!(aligned);
        assert_eq!(block.source(), source);
        // The memory is ours: write the first and the last byte of the block and read them back.
        let base = block.address();
        let last = (1usize << order) * kernel::page::PAGE_SIZE - 1;
        // SAFETY: `base..base + last` is the block's direct-map range, which we hold.
        unsafe {
            base.write_volatile(0xa5);
            base.add(last).write_volatile(0x5a);
            assert_eq!(base.read_volatile(), 0xa5);
            assert_eq!(base.add(last).read_volatile(), 0x5a);
        }
        Ok(())
    }

    #[test]
    fn pageblock_order_is_9() {
        // x86-64 with THP: HPAGE_PMD_ORDER; the allocator core assumes at most 10.
        assert_eq!(glue::pageblock_order(), 9);
    }

    #[test]
    fn cma_round_trip() -> Result {
        assert!(glue::cma_available());
        // The module's own pool, loaded just before these tests run, may hold the whole CMA
        // area (the selftests load it so): then the area must refuse cleanly instead.
        let pool_cma_blocks = crate::kernel_pool::KernelPool::get().map_or(0, |pool| {
            pool.blocks()
                .iter()
                .filter(|block| block.source() == Source::Cma)
                .count()
        });
        match round_trip(Source::Cma) {
            Err(e) if pool_cma_blocks != 0 => {
                assert_eq!(e, ENOMEM);
                assert!(glue::cma_alloc(glue::pageblock_order()).is_none());
                Ok(())
            }
            result => result,
        }
    }

    #[test]
    fn contig_round_trip() -> Result {
        round_trip(Source::Contig)
    }

    #[test]
    fn pages_round_trip() -> Result {
        round_trip(Source::Pages)
    }

    #[test]
    fn source_parameter_parses() {
        assert_eq!(SourcePolicy::parse(c"auto"), Ok(SourcePolicy::Auto));
        assert_eq!(
            SourcePolicy::parse(c"pages"),
            Ok(SourcePolicy::Only(Source::Pages))
        );
        assert_eq!(
            SourcePolicy::parse(c"cma"),
            Ok(SourcePolicy::Only(Source::Cma))
        );
        assert!(SourcePolicy::parse(c"").is_err());
        assert!(SourcePolicy::parse(c"dma").is_err());
    }
}
