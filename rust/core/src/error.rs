//! Error values of the public API.
//!
//! Bad input never panics and never changes allocator state: each call that
//! fails returns one of these values and bumps the matching counter in the
//! calling CPU's statistics.

use core::fmt;

/// Why an allocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AllocError {
    /// The CPU index is not below the number of caches.
    BadCpu,
    /// The order is larger than the pageblock order.
    BadOrder,
    /// No free chunk of the order anywhere, even after reclaiming from every cache.
    OutOfMemory,
}

/// Why a free was refused. The pool is unchanged when a free fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FreeError {
    /// The CPU index is not below the number of caches.
    BadCpu,
    /// The order is larger than the pageblock order.
    BadOrder,
    /// The page is not the pool's.
    OutOfPool,
    /// The page is not aligned to the order, so it cannot start a chunk of that order.
    Misaligned,
    /// An allocation starts at this page, but of another order.
    WrongOrder,
    /// The page is already free (in a cache, in the global pool, or queued for its owner).
    DoubleFree,
    /// The page lies inside an allocation but does not start it (a tail page).
    NotAllocated,
    /// A folio freed as pages, or pages freed as a folio.
    WrongKind,
    /// The page still has references besides its user's (kernel glue: `page_count()` above
    /// what the pool handed out); freeing it now would hand it out while in use.
    Busy,
    /// The page's reference count fell to zero (kernel glue: the user dropped the pool's
    /// reference with `put_page()`/`folio_put()` too): the kernel has taken the memory, so the
    /// pool never hands it out again.
    Released,
}

/// Number of [`FreeError`] kinds (for per-kind counters).
pub const NR_FREE_ERRORS: usize = 10;

impl FreeError {
    /// Short names, for debugfs, in index order.
    pub const NAMES: [&'static str; NR_FREE_ERRORS] = [
        "bad_cpu",
        "bad_order",
        "out_of_pool",
        "misaligned",
        "wrong_order",
        "double_free",
        "not_allocated",
        "wrong_kind",
        "busy",
        "released",
    ];

    /// Index of the kind in per-kind counter arrays.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Short name, for debugfs.
    pub const fn name(self) -> &'static str {
        Self::NAMES[self.index()]
    }
}

/// Why a pool could not be created over the storage the platform supplied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitError {
    /// Block order outside `1..=MAX_BLOCK_ORDER`, no blocks, or too many pages for 32-bit page indices.
    BadGeometry,
    /// `maps()` or `bitmaps()` is shorter than the geometry needs.
    MapTooSmall,
    /// No caches, more than `u32::MAX >> 2` caches, or `remote_queues()` not one per cache
    /// plus one.
    CacheCount,
}

/// Why a policy was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyError {
    /// `batch` must be at least 1.
    ZeroBatch,
}

/// What the invariant checker found: the first broken invariant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VerifyError {
    /// A block's map is not a partition of the block into aligned power-of-two units.
    BadUnit {
        /// Block index.
        block: usize,
        /// Offset of the offending unit in the block.
        offset: usize,
    },
    /// Two free buddies of the same order were left unmerged.
    Unmerged {
        /// Block index.
        block: usize,
        /// Offset of the lower buddy.
        offset: usize,
        /// Order of the buddies.
        order: u32,
    },
    /// A block's per-order free counts or free-page count disagree with its map.
    BadCounts {
        /// Block index.
        block: usize,
    },
    /// A block is on a list that does not match its state or bucket.
    BadList {
        /// Block index.
        block: usize,
    },
    /// A block's state does not allow what its map holds (for example a free block
    /// with allocated pages, or loose chunks outside a shared block).
    BadState {
        /// Block index.
        block: usize,
    },
    /// A loose chunk in a CPU cache does not match a cached unit of its order.
    BadLoose {
        /// CPU whose cache holds the chunk.
        cpu: usize,
        /// Page index of the chunk.
        page: usize,
    },
    /// A magazine entry is not a cached unit of its order.
    BadCached {
        /// CPU whose magazine holds the entry.
        cpu: usize,
        /// Page index of the entry.
        page: usize,
    },
    /// The cached units of the maps are not exactly the units the magazines and loose stacks
    /// list (one is listed twice, or not at all).
    CachedUnaccounted {
        /// Cached units in the maps.
        found: usize,
        /// Units listed by magazines and loose stacks.
        listed: usize,
    },
    /// The lists do not hold every block exactly once.
    BlockCountMismatch {
        /// Blocks found on lists.
        found: usize,
        /// Blocks in the pool.
        expected: usize,
    },
    /// A cache's or the global pool's page count disagrees with the blocks it holds.
    PageCountMismatch {
        /// CPU index, or `usize::MAX` for the global pool.
        holder: usize,
        /// Pages found in the blocks and chunks it holds.
        found: usize,
        /// Pages its counter says it holds.
        recorded: usize,
    },
    /// Allocated pages found in the maps disagree with allocations minus frees.
    OutstandingMismatch {
        /// Pages allocated according to the maps.
        in_maps: usize,
        /// Pages allocated according to the counters.
        counted: u64,
    },
    /// Not every page is allocated, free in a cache, free in the global pool or queued.
    PagesUnaccounted {
        /// Sum over all states.
        found: usize,
        /// Pages in the pool.
        expected: usize,
    },
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            VerifyError::BadUnit { block, offset } => write!(
                f,
                "block {block}: unit at offset {offset} is misaligned, overlaps, or has a bad state"
            ),
            VerifyError::Unmerged {
                block,
                offset,
                order,
            } => write!(
                f,
                "block {block}: free buddies at offset {offset} order {order} were not merged"
            ),
            VerifyError::BadCounts { block } => {
                write!(f, "block {block}: free counts disagree with the map")
            }
            VerifyError::BadList { block } => {
                write!(f, "block {block}: on a list that does not match its state")
            }
            VerifyError::BadState { block } => {
                write!(f, "block {block}: map contents not allowed in its state")
            }
            VerifyError::BadLoose { cpu, page } => {
                write!(f, "cpu {cpu}: loose chunk at page {page} is not cached")
            }
            VerifyError::BadCached { cpu, page } => {
                write!(
                    f,
                    "cpu {cpu}: magazine entry at page {page} is not a cached unit"
                )
            }
            VerifyError::CachedUnaccounted { found, listed } => write!(
                f,
                "{found} cached units in the maps, {listed} listed by magazines and loose stacks"
            ),
            VerifyError::BlockCountMismatch { found, expected } => {
                write!(f, "{found} blocks on lists, pool has {expected}")
            }
            VerifyError::PageCountMismatch {
                holder,
                found,
                recorded,
            } => {
                if holder == usize::MAX {
                    write!(
                        f,
                        "global pool holds {found} free pages, counter says {recorded}"
                    )
                } else {
                    write!(
                        f,
                        "cpu {holder} holds {found} free pages, counter says {recorded}"
                    )
                }
            }
            VerifyError::OutstandingMismatch { in_maps, counted } => write!(
                f,
                "{in_maps} pages allocated in the maps, counters say {counted}"
            ),
            VerifyError::PagesUnaccounted { found, expected } => {
                write!(f, "{found} pages accounted, pool has {expected}")
            }
        }
    }
}
