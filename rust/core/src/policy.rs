//! Run-time policy switches: ownership, fragment recovery, `high`, `batch`.
//!
//! The policy is read without a lock on every slow path; a switch takes effect
//! at the next decision of each CPU. Switching ownership off does not drain
//! anything: blocks owned at that moment stay owned until they are drained
//! (frees of their pages still go to their owner), while refills stop claiming
//! blocks, so the pool converges to classic per-CPU batching.

use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::Relaxed};

use super::error::PolicyError;

/// Allocator policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// CPUs claim whole blocks and frees route to the owner (the RFC). Off:
    /// chunks are handed out unowned and frees go to the freeing CPU's cache
    /// (classic per-CPU pages), in the same code.
    pub ownership: bool,
    /// Refills recover fragment blocks before claiming free ones (the RFC's
    /// phase 0). Off: fragments are used only as a last resort, for single
    /// allocations straight from the global pool.
    pub fragment_recovery: bool,
    /// Free pages a CPU cache may hold before it trims itself.
    pub high: u32,
    /// Pages a degrade-mode refill takes, and how far below `high` a trim goes.
    pub batch: u32,
}

impl Policy {
    /// Defaults for a block order: ownership and recovery on, `high` four
    /// blocks, `batch` 64 pages (at most one block).
    pub const fn default_for(block_order: u32) -> Self {
        let block_pages = 1u32 << block_order;
        Self {
            ownership: true,
            fragment_recovery: true,
            high: 4 * block_pages,
            batch: if block_pages < 64 { block_pages } else { 64 },
        }
    }

    /// Checks the policy.
    pub const fn validate(&self) -> Result<(), PolicyError> {
        if self.batch == 0 {
            Err(PolicyError::ZeroBatch)
        } else {
            Ok(())
        }
    }
}

/// The current policy, readable without a lock.
///
/// # Invariants
///
/// Each field holds its value from the last `set` (or `new`), always of a policy that passed
/// [`Policy::validate`]; so `batch != 0`, and a snapshot that mixes two policies' fields is
/// valid too.
pub(crate) struct PolicyCell {
    ownership: AtomicBool,
    fragment_recovery: AtomicBool,
    high: AtomicU32,
    batch: AtomicU32,
}

impl PolicyCell {
    /// A cell holding `policy`, which the caller validated.
    pub(crate) const fn new(policy: Policy) -> Self {
        // INVARIANT: the caller passes a valid policy.
        Self {
            ownership: AtomicBool::new(policy.ownership),
            fragment_recovery: AtomicBool::new(policy.fragment_recovery),
            high: AtomicU32::new(policy.high),
            batch: AtomicU32::new(policy.batch),
        }
    }

    /// A snapshot (fields may mix old and new values while a switch runs).
    pub(crate) fn get(&self) -> Policy {
        Policy {
            ownership: self.ownership.load(Relaxed),
            fragment_recovery: self.fragment_recovery.load(Relaxed),
            high: self.high.load(Relaxed),
            batch: self.batch.load(Relaxed),
        }
    }

    /// Stores `policy`, which the caller validated.
    pub(crate) fn set(&self, policy: Policy) {
        debug_assert!(policy.validate().is_ok());
        // INVARIANT: each field is one atomic store of a validated value.
        self.ownership.store(policy.ownership, Relaxed);
        self.fragment_recovery
            .store(policy.fragment_recovery, Relaxed);
        self.high.store(policy.high, Relaxed);
        self.batch.store(policy.batch, Relaxed);
    }
}
