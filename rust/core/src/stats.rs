//! Counters for everything the RFC argues about, defined once: each list below generates the
//! live counters (atomics, readable from any CPU in any context without a lock), a plain
//! snapshot with the same fields, and the names debugfs, the benchmark and the CLI print.
//!
//! Every counter but the misuse counts has one writer at a time: a per-CPU counter is written
//! by its CPU with interrupts off or under that CPU's cache lock, never both (the lists say
//! which), and a global counter under the global lock. So an increment is a plain load and
//! store, never a locked instruction, and a reader sees each counter only grow. The misuse
//! counts are cold and may be bumped from anywhere: an atomic add. Sums over CPUs
//! and differences of counters read at different moments are only approximately consistent
//! under traffic; derived values saturate at zero instead of wrapping.

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use super::error::NR_FREE_ERRORS;

/// One counter: written by one writer at a time, read by anyone.
#[derive(Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Zero.
    pub const fn new() -> Self {
        Self(AtomicU64::new(0))
    }

    /// Adds `n`; the caller is the counter's only writer right now.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(self.0.load(Relaxed).wrapping_add(n), Relaxed);
    }

    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds one with an atomic read-modify-write, for a counter that writers may race on:
    /// the misuse counters, which the kernel glue also bumps from preemptible context (so
    /// perhaps from another CPU than the counter's). Cold paths only: it is a locked
    /// instruction.
    #[cold]
    #[inline(never)]
    pub fn inc_shared(&self) {
        self.0.fetch_add(1, Relaxed);
    }

    /// The current value.
    #[inline]
    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// Defines a live counter struct, its snapshot and its field names from one list.
macro_rules! counters {
    (
        $(#[$live_doc:meta])* live $live:ident;
        $(#[$snap_doc:meta])* snapshot $snap:ident;
        fields { $($(#[$doc:meta])* $name:ident,)* }
        $(arrays { $($(#[$adoc:meta])* $aname:ident[$len:expr] => $names:expr,)* })?
    ) => {
        $(#[$live_doc])*
        pub struct $live {
            $($(#[$doc])* pub $name: Counter,)*
            $($($(#[$adoc])* pub $aname: [Counter; $len],)*)?
        }

        $(#[$snap_doc])*
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct $snap {
            $($(#[$doc])* pub $name: u64,)*
            $($($(#[$adoc])* pub $aname: [u64; $len],)*)?
        }

        impl $live {
            /// All zero.
            pub const fn new() -> Self {
                Self {
                    $($name: Counter::new(),)*
                    $($($aname: [const { Counter::new() }; $len],)*)?
                }
            }

            /// The values now (each read on its own; see the module documentation).
            pub fn snapshot(&self) -> $snap {
                $snap {
                    $($name: self.$name.get(),)*
                    $($($aname: core::array::from_fn(|i| self.$aname[i].get()),)*)?
                }
            }
        }

        impl Default for $live {
            fn default() -> Self {
                Self::new()
            }
        }

        impl $snap {
            /// Adds another snapshot's values to these (saturating).
            pub fn add(&mut self, other: &Self) {
                $(self.$name = self.$name.saturating_add(other.$name);)*
                $($(for (sum, add) in self.$aname.iter_mut().zip(other.$aname.iter()) {
                    *sum = sum.saturating_add(*add);
                })*)?
            }

            /// What happened since `earlier` (saturating at zero).
            pub fn since(&self, earlier: &Self) -> Self {
                Self {
                    $($name: self.$name.saturating_sub(earlier.$name),)*
                    $($($aname: core::array::from_fn(|i| {
                        self.$aname[i].saturating_sub(earlier.$aname[i])
                    }),)*)?
                }
            }

            /// The plain counter named `name` (array counters are not looked up).
            pub fn get(&self, name: &str) -> Option<u64> {
                match name {
                    $(stringify!($name) => Some(self.$name),)*
                    _ => None,
                }
            }

            /// Calls `f(name, value)` for every counter, in declaration order; array counters
            /// are named `array.element`.
            pub fn for_each(&self, mut f: impl FnMut(&str, &str, u64)) {
                $(f(stringify!($name), "", self.$name);)*
                $($(for (i, value) in self.$aname.iter().enumerate() {
                    f(stringify!($aname), $names[i], *value);
                })*)?
            }
        }
    };
}

counters! {
    /// Counters of one CPU: the operations it ran, whoever's memory they touched.
    live CpuStats;
    /// A snapshot of [`CpuStats`].
    snapshot CpuCounters;
    fields {
        // Written by the CPU itself, interrupts off: its fast path and the slow paths it runs
        // outside its cache lock. (A dead CPU's magazine is flushed from another CPU, when the
        // dead one writes nothing.)
        /// Successful allocations.
        allocs,
        /// Pages handed out by successful allocations.
        alloc_pages,
        /// Allocations that took the slow path (the rest came from the magazine, no lock).
        allocs_slow,
        /// Pages returned by successful frees.
        freed_pages,
        /// Frees of small units of blocks this CPU holds (owned, or shared) into its magazine,
        /// without a lock.
        frees_fast,
        /// Frees of units of blocks someone else holds (another CPU, or the global pool as a
        /// fragment), lock-free: small ones into this CPU's magazine (handed out here again, or
        /// parked for the holder when the magazine gives them back), larger ones parked at once.
        frees_remote,
        /// Allocations that failed with `OutOfMemory`.
        alloc_failures,
        /// Allocations refused for a bad order.
        alloc_bad_order,
        /// Calls refused because they came from NMI context (kernel glue).
        nmi_refused,
        /// Units parked for their block's holder: remote frees of orders above the magazine's at
        /// once, small ones when the magazine gave them back.
        parked_units,
        /// Blocks notified of remote frees (outbox flushes, on the CPU's slow paths).
        notifies,
        /// Allocations this pool could not serve that another node's pool did (kernel glue,
        /// one pool per NUMA node; counted in the CPU's local pool).
        node_fallbacks,
        /// Refill phase 3: reclaims from other CPUs' caches and queues (slow path, outside the
        /// cache lock, which reclaim must not hold).
        reclaims,
        // Written under the CPU's cache lock.
        /// Frees by the owner merged at once under its lock (orders above the magazine's).
        frees_local,
        /// Classic frees of large orders onto this CPU's loose stacks.
        frees_loose,
        /// Magazine refills (a batch of units taken under the cache lock).
        mag_refills,
        /// Units moved from the magazine back into blocks (overflow, trim, drain).
        mag_flushed,
        /// Blocks whose remotely freed pages this CPU absorbed.
        absorbs,
        /// Pages absorbed from remote frees.
        absorbed_pages,
        /// Buddy merges done under this CPU's lock.
        merges_local,
        /// Refill phase 0: fragment blocks recovered.
        refill_recover,
        /// Refill phase 1: free blocks claimed.
        refill_claim,
        /// Refill phase 2: degrade refills (unowned chunks taken).
        refill_degrade,
        /// Last resort: single allocations straight from the global pool.
        fallbacks,
        /// Trims (the cache went over `high`).
        trims,
        /// Full drains of this CPU's cache.
        drains,
        /// Global-lock acquisitions made on behalf of this CPU.
        global_locks,
        /// Folios of the pageblock order handed out still compound (no `struct page` written).
        folios_kept,
        /// Compound blocks undone because the pool had to split them or hand them out plain.
        compound_undone,
    }
    arrays {
        /// Refused frees by kind (index: `FreeError::index`). Bumped with
        /// [`Counter::inc_shared`]: the kernel glue counts the misuse it detects itself from
        /// preemptible context.
        free_errors[NR_FREE_ERRORS] => super::error::FreeError::NAMES,
    }
}

impl CpuCounters {
    /// Refused frees of all kinds.
    pub fn free_errors_total(&self) -> u64 {
        self.free_errors.iter().sum()
    }
}

counters! {
    /// Counters of the global pool, written under the global lock.
    live GlobalStats;
    /// A snapshot of [`GlobalStats`].
    snapshot GlobalCounters;
    fields {
        /// Global-lock acquisitions (all of them, whatever the reason).
        lock_acquisitions,
        /// Free blocks claimed whole by a CPU (phase 1).
        blocks_claimed,
        /// Wholly free blocks returned whole by a CPU's trim or drain.
        blocks_returned,
        /// Partly used owned blocks turned into fragments.
        fragments_created,
        /// Fragments taken back into ownership (phase 0).
        fragments_recovered,
        /// Fragments that became wholly free in the global pool.
        fragments_freed,
        /// Free blocks split into unowned chunks (phase 2, last-resort allocations).
        shared_created,
        /// Shared blocks that became wholly free again.
        shared_freed,
        /// Unowned chunks handed to CPU caches.
        chunks_out,
        /// Unowned chunks returned by CPU caches.
        chunks_in,
        /// Buddy merges done under the global lock.
        merges_global,
        /// Pages of fragments absorbed under the global lock.
        absorbed_pages,
        /// Single allocations served straight from the global pool.
        direct_allocs,
    }
}

/// The value of the ABI's bench counter `name` (`struct pcpbuddy_bench_counters`, whose names
/// the uapi crate lists) from a CPU and a global snapshot: the counter of the same name, the
/// CPU's first; `None` if there is none.
pub fn bench_counter(cpu: &CpuCounters, global: &GlobalCounters, name: &str) -> Option<u64> {
    match name {
        // Frees by the block's owner: into its magazine, or merged at once (large orders).
        "frees_local" => Some(cpu.frees_fast.saturating_add(cpu.frees_local)),
        _ => cpu.get(name).or_else(|| global.get(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pcpbuddy_uapi::BenchCounters;

    #[test]
    fn every_bench_counter_has_a_source() {
        let cpu = CpuStats::new();
        let global = GlobalStats::new();
        cpu.frees_fast.add(2);
        cpu.frees_local.add(3);
        cpu.global_locks.add(5);
        global.merges_global.add(7);
        let (c, g) = (cpu.snapshot(), global.snapshot());
        for name in BenchCounters::NAMES {
            assert!(
                bench_counter(&c, &g, name).is_some(),
                "{name}: no such counter"
            );
        }
        let b = BenchCounters::from_fn(|name| bench_counter(&c, &g, name).unwrap_or(0));
        assert_eq!((b.frees_local, b.global_locks, b.merges_global), (5, 5, 7));
        assert_eq!(b.values().iter().sum::<u64>(), 17);
    }
}
