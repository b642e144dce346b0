//! Trace events: what the allocator tells the platform as it happens.
//!
//! The core calls [`Platform::trace`](super::platform::Platform::trace) at each event; the
//! default does nothing and compiles away. The kernel turns each event into a tracepoint of
//! its own (`pcpbuddy:*`, see `Documentation/tracing.md`) behind a static key, so that an event
//! nobody listens to costs a patched-out jump and its arguments are never computed.

use super::geometry::PageIndex;

/// How an allocation's slow path got memory into the cache, in the refill's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum RefillPhase {
    /// Phase 0: a fragment block recovered into ownership.
    Recover = 0,
    /// Phase 1: wholly free blocks claimed.
    Claim = 1,
    /// Phase 2: unowned chunks taken from shared blocks (classic batching).
    Degrade = 2,
    /// Last resort: one unit straight from a shared or fragment block.
    Fallback = 3,
}

/// Why a cache gave memory back to the global pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum DrainKind {
    /// The cache went over `high` (the free path).
    Trim = 0,
    /// Everything went back (reclaim, a policy change, hotplug, unload, the ioctl).
    Drain = 1,
}

/// What happened to a fragment block (a block drained while partly used).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum FragmentEvent {
    /// A cache gave back a partly used block: it became a fragment.
    Created = 0,
    /// A refill took it back into ownership.
    Recovered = 1,
    /// Its last pages came back: it is a wholly free block again.
    Freed = 2,
}

/// One event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// An allocation succeeded: from the magazine, or through the slow path.
    Alloc {
        /// First page.
        page: PageIndex,
        /// Order.
        order: u32,
        /// Allocated as a folio.
        folio: bool,
        /// Served by the slow path.
        slow: bool,
    },
    /// A free succeeded.
    Free {
        /// First page.
        page: PageIndex,
        /// Order.
        order: u32,
        /// Freed as a folio.
        folio: bool,
        /// Into a block someone else holds (parked for its holder, lock-free).
        remote: bool,
    },
    /// A refill under the global lock succeeded.
    Refill {
        /// The order asked for.
        order: u32,
        /// The phase that served it.
        phase: RefillPhase,
        /// Blocks claimed (phase 1), 1 (phase 0), units taken (phase 2 and the fallback).
        count: u32,
    },
    /// A cache gave memory back to the global pool.
    Drain {
        /// Whose cache.
        cpu: usize,
        /// Why.
        kind: DrainKind,
        /// Pages given back.
        pages: usize,
    },
    /// A fragment block changed.
    Fragment {
        /// The block.
        block: usize,
        /// What happened.
        event: FragmentEvent,
        /// Its free pages (in its buddy) afterwards.
        free_pages: usize,
    },
    /// An allocation reclaimed from the other CPUs' caches (refill phase 3).
    Reclaim {
        /// The order asked for.
        order: u32,
        /// Caches drained.
        drained: u32,
        /// Whether the global pool could serve the order afterwards.
        satisfied: bool,
    },
}
