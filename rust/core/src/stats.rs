//! Counters for everything the RFC argues about. Per-CPU counters live in the
//! CPU's cache and global ones in the global pool, each changed only under its
//! lock, so they are plain integers.

use super::error::NR_FREE_ERRORS;

/// Counters of one CPU (the operations it ran, whoever's memory they touched).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuStats {
    /// Successful allocations.
    pub allocs: u64,
    /// Pages handed out by successful allocations.
    pub alloc_pages: u64,
    /// Allocations that failed with `OutOfMemory`.
    pub alloc_failures: u64,
    /// Allocations refused for a bad order.
    pub alloc_bad_order: u64,
    /// Pages returned by successful frees.
    pub freed_pages: u64,
    /// Frees into a block this CPU owns, under its own lock (onto a hot stack
    /// or merged at once).
    pub frees_local: u64,
    /// Of `frees_local`, those parked on a hot stack unmerged (orders `<= 3`).
    pub frees_hot: u64,
    /// Allocations served from a hot stack (no split).
    pub allocs_hot: u64,
    /// Hot units merged back into their blocks (stack overflow, trim, drain,
    /// absorb, alloc slow path).
    pub hot_merged: u64,
    /// Frees into a block held by someone else (another CPU or the global pool
    /// as a fragment), queued lock-free for the holder.
    pub frees_remote: u64,
    /// Frees of unowned chunks onto this CPU's loose stacks (classic path).
    pub frees_loose: u64,
    /// Blocks whose remotely freed pages this CPU absorbed.
    pub absorbs: u64,
    /// Pages absorbed from remote frees.
    pub absorbed_pages: u64,
    /// Buddy merges done under this CPU's lock (inside owned blocks).
    pub merges_local: u64,
    /// Refill phase 0: fragment blocks recovered.
    pub refill_recover: u64,
    /// Refill phase 1: free blocks claimed.
    pub refill_claim: u64,
    /// Refill phase 2: degrade refills (unowned chunks taken).
    pub refill_degrade: u64,
    /// Refill phase 3: reclaims from other CPUs' caches and queues.
    pub reclaims: u64,
    /// Last resort: single allocations straight from the global pool.
    pub fallbacks: u64,
    /// Trims (the cache went over `high`).
    pub trims: u64,
    /// Full drains of this CPU's cache (`drain_cpu`, hotplug, reclaim).
    pub drains: u64,
    /// Global-lock acquisitions made on behalf of this CPU.
    pub global_locks: u64,
    /// Refused frees by kind (index: `FreeError::index`).
    pub free_errors: [u64; NR_FREE_ERRORS],
}

impl CpuStats {
    /// All zero.
    pub const fn new() -> Self {
        Self {
            allocs: 0,
            alloc_pages: 0,
            alloc_failures: 0,
            alloc_bad_order: 0,
            freed_pages: 0,
            frees_local: 0,
            frees_hot: 0,
            allocs_hot: 0,
            hot_merged: 0,
            frees_remote: 0,
            frees_loose: 0,
            absorbs: 0,
            absorbed_pages: 0,
            merges_local: 0,
            refill_recover: 0,
            refill_claim: 0,
            refill_degrade: 0,
            reclaims: 0,
            fallbacks: 0,
            trims: 0,
            drains: 0,
            global_locks: 0,
            free_errors: [0; NR_FREE_ERRORS],
        }
    }

    /// Adds another CPU's counters to these.
    pub fn add(&mut self, other: &CpuStats) {
        self.allocs += other.allocs;
        self.alloc_pages += other.alloc_pages;
        self.alloc_failures += other.alloc_failures;
        self.alloc_bad_order += other.alloc_bad_order;
        self.freed_pages += other.freed_pages;
        self.frees_local += other.frees_local;
        self.frees_hot += other.frees_hot;
        self.allocs_hot += other.allocs_hot;
        self.hot_merged += other.hot_merged;
        self.frees_remote += other.frees_remote;
        self.frees_loose += other.frees_loose;
        self.absorbs += other.absorbs;
        self.absorbed_pages += other.absorbed_pages;
        self.merges_local += other.merges_local;
        self.refill_recover += other.refill_recover;
        self.refill_claim += other.refill_claim;
        self.refill_degrade += other.refill_degrade;
        self.reclaims += other.reclaims;
        self.fallbacks += other.fallbacks;
        self.trims += other.trims;
        self.drains += other.drains;
        self.global_locks += other.global_locks;
        for (sum, add) in self.free_errors.iter_mut().zip(other.free_errors.iter()) {
            *sum += add;
        }
    }

    /// Refused frees of all kinds.
    pub fn free_errors_total(&self) -> u64 {
        self.free_errors.iter().sum()
    }
}

/// Counters of the global pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GlobalStats {
    /// Global-lock acquisitions (all of them, whatever the reason).
    pub lock_acquisitions: u64,
    /// Free blocks claimed whole by a CPU (phase 1).
    pub blocks_claimed: u64,
    /// Wholly free blocks returned whole by a CPU's trim or drain.
    pub blocks_returned: u64,
    /// Partly used owned blocks turned into fragments.
    pub fragments_created: u64,
    /// Fragments taken back into ownership (phase 0).
    pub fragments_recovered: u64,
    /// Fragments that became wholly free in the global pool.
    pub fragments_freed: u64,
    /// Free blocks split into unowned chunks (phase 2, last-resort allocations).
    pub shared_created: u64,
    /// Shared blocks that became wholly free again.
    pub shared_freed: u64,
    /// Unowned chunks handed to CPU caches.
    pub chunks_out: u64,
    /// Unowned chunks returned by CPU caches.
    pub chunks_in: u64,
    /// Buddy merges done under the global lock.
    pub merges_global: u64,
    /// Pages of fragments absorbed under the global lock.
    pub absorbed_pages: u64,
    /// Single allocations served straight from the global pool.
    pub direct_allocs: u64,
}

impl GlobalStats {
    /// All zero.
    pub const fn new() -> Self {
        Self {
            lock_acquisitions: 0,
            blocks_claimed: 0,
            blocks_returned: 0,
            fragments_created: 0,
            fragments_recovered: 0,
            fragments_freed: 0,
            shared_created: 0,
            shared_freed: 0,
            chunks_out: 0,
            chunks_in: 0,
            merges_global: 0,
            absorbed_pages: 0,
            direct_allocs: 0,
        }
    }
}
