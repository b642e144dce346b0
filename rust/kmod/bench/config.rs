// SPDX-License-Identifier: GPL-2.0

//! A benchmark request, parsed and validated: which pattern, which backend, which CPUs allocate
//! and which free, and how many runs are in flight.

use crate::{glue, kernel_pool::KernelPool, uapi};
use kernel::prelude::*;

/// Runs per round when the caller leaves `batch` at 0 (bulk, rand, softirq).
const DEFAULT_BATCH: usize = 64;

/// Ring slots per allocating CPU when the caller leaves `batch` at 0 (remote).
const DEFAULT_RING: usize = 256;

/// Upper bound of `batch`.
const MAX_BATCH: usize = 1 << 16;
pub(crate) use crate::uapi::{Backend, Pattern};

/// A validated request.
///
/// # Invariants
///
/// * `order` is at most the pool's block order; `ops` is in `1..=2^32`;
/// * `threads` lists each CPU of the run once, in increasing order, each online when parsed and
///   with a role: `nr_alloc >= 1` of them allocate, and `nr_free >= 1` free (the allocating
///   ones when the pattern has no free set);
/// * `batch` is in `1..=MAX_BATCH` (a power of two for `remote`, whose rings rely on it);
/// * what is in flight at once, `nr_alloc` times one run (repeat, folio) or `batch` runs (the
///   round-based patterns and remote) of `2^order` pages, fits in the pool;
/// * `free_shift` is 0 or 1 (1 only for `exit` when the same CPUs allocate and free);
/// * `peak_map` is `Some` only for `churn` on a pool backend.
pub(super) struct Config {
    pub(super) pattern: Pattern,
    pub(super) backend: Backend,
    pub(super) order: u32,
    /// Runs per round (bulk, rand, exit, softirq) or ring slots (remote).
    pub(super) batch: usize,
    /// Allocations per allocating CPU.
    pub(super) ops: u64,
    pub(super) seed: u64,
    /// `(cpu, role)` of every thread, in CPU order.
    pub(super) threads: KVec<(u32, u32)>,
    pub(super) nr_alloc: usize,
    pub(super) nr_free: usize,
    /// exit: set `k` is freed by free rank `(k + free_shift) % nr_free`.
    pub(super) free_shift: usize,
    /// `PCPBUDDY_BENCH_PEAK_MAP`: where the churn peak's block map goes.
    pub(super) peak_map: Option<PeakMapDest>,
}

/// The caller's buffer for the block map at the churn peak (not checked yet: `EFAULT` comes
/// when it is written).
///
/// # Invariants
///
/// `len >= 1`.
#[derive(Clone, Copy)]
pub(super) struct PeakMapDest {
    /// User address.
    pub(super) addr: usize,
    /// Entries there, at least 1.
    pub(super) len: usize,
}

fn cpus_of(mask: u64) -> impl Iterator<Item = u32> {
    (0..64u32).filter(move |cpu| mask & (1u64 << cpu) != 0)
}

impl Config {
    pub(super) fn parse(pool: &KernelPool, req: &uapi::Bench) -> Result<Self> {
        let pattern = Pattern::from_abi(req.pattern).ok_or(EINVAL)?;
        let backend = Backend::from_abi(req.backend).ok_or(EINVAL)?;
        if req.flags & !uapi::BENCH_PEAK_MAP != 0
            || req.order > pool.block_order()
            || req.alloc_cpus == 0
        {
            return Err(EINVAL);
        }
        // The map is of the pool during churn, and asked for by the flag alone.
        let peak_map = if req.flags & uapi::BENCH_PEAK_MAP != 0 {
            if pattern != Pattern::Churn || !backend.is_pool() || req.peak_map_len == 0 {
                return Err(EINVAL);
            }
            // INVARIANT: `peak_map_len` is not 0; the pattern and backend were just checked.
            Some(PeakMapDest {
                addr: usize::try_from(req.peak_map).map_err(|_| EFAULT)?,
                len: req.peak_map_len as usize,
            })
        } else {
            if req.peak_map != 0 || req.peak_map_len != 0 {
                return Err(EINVAL);
            }
            None
        };
        if req.ops == 0 || req.ops > 1u64 << 32 || req.batch as usize > MAX_BATCH {
            return Err(EINVAL);
        }
        if !cpus_of(req.alloc_cpus | req.free_cpus).all(glue::cpu_online) {
            return Err(EINVAL);
        }
        let lowest = |mask: u64| cpus_of(mask).next();
        // Who allocates and who frees.
        let (alloc_mask, free_mask) = match pattern {
            Pattern::Remote | Pattern::Softirq => {
                let free = if req.free_cpus != 0 {
                    req.free_cpus
                } else {
                    1u64 << lowest(req.alloc_cpus).ok_or(EINVAL)?
                };
                (req.alloc_cpus & !free, free)
            }
            Pattern::Exit => {
                if req.free_cpus != 0 {
                    (req.alloc_cpus, req.free_cpus)
                } else {
                    (req.alloc_cpus, req.alloc_cpus)
                }
            }
            Pattern::Rand => (req.alloc_cpus, req.alloc_cpus),
            _ => {
                if req.free_cpus != 0 {
                    return Err(EINVAL);
                }
                (req.alloc_cpus, 0)
            }
        };
        if alloc_mask == 0 {
            return Err(EINVAL);
        }
        let mut threads = KVec::new();
        for cpu in cpus_of(alloc_mask | free_mask) {
            let mut role = 0;
            if alloc_mask & (1u64 << cpu) != 0 {
                role |= uapi::BENCH_ROLE_ALLOC;
            }
            if free_mask & (1u64 << cpu) != 0 || free_mask == 0 {
                role |= uapi::BENCH_ROLE_FREE;
            }
            threads.push((cpu, role), GFP_KERNEL)?;
        }
        let nr_alloc = cpus_of(alloc_mask).count();
        // Patterns without a free set free on the allocating CPU.
        let nr_free = if free_mask == 0 {
            nr_alloc
        } else {
            cpus_of(free_mask).count()
        };
        // exit: when the same CPUs allocate and free, each set goes to the next CPU.
        let free_shift = usize::from(pattern == Pattern::Exit && free_mask == alloc_mask);

        let pool_pages = pool.info().nr_pages as usize;
        // Runs per allocating CPU that fit in half the pool.
        let fit = ((pool_pages >> req.order) / 2 / nr_alloc.max(1)).max(1);
        let mut batch = req.batch as usize;
        if batch == 0 {
            batch = match pattern {
                // Rings are powers of two; round the default down so that it still fits.
                Pattern::Remote => 1 << (usize::BITS - 1 - DEFAULT_RING.min(fit).leading_zeros()),
                // A large set: half the pool, as a process exit frees much of what it used.
                Pattern::Exit => fit.min(MAX_BATCH),
                _ => DEFAULT_BATCH.min(fit),
            };
        }
        if pattern == Pattern::Remote {
            batch = batch.next_power_of_two();
        }
        // Bound the memory in flight by the pool's size, for every backend alike (so that the
        // kernel backend cannot push the machine into reclaim).
        let in_flight = match pattern {
            Pattern::Repeat | Pattern::Folio => 1,
            Pattern::Churn => 0,
            _ => batch,
        };
        if (in_flight * nr_alloc) << req.order > pool_pages {
            return Err(EINVAL);
        }
        // INVARIANT: checked or built above: every thread has a role, `nr_alloc >= 1` (the
        // allocating mask is not empty), `nr_free >= 1`, `batch >= 1` (a default is at least
        // `fit >= 1`), `batch <= MAX_BATCH` (a default is at most `fit.min(MAX_BATCH)`, or
        // `DEFAULT_BATCH`, `DEFAULT_RING`).
        Ok(Self {
            pattern,
            backend,
            order: req.order,
            batch,
            ops: req.ops,
            seed: u64::from(req.seed) | 1 << 32,
            threads,
            nr_alloc,
            nr_free,
            free_shift,
            peak_map,
        })
    }

    /// Allocations in round `round` of a round-based pattern: `batch`, and what is left of
    /// `ops` in the last round.
    pub(super) fn round_size(&self, round: u64) -> usize {
        let done = round * self.batch as u64;
        self.ops.saturating_sub(done).min(self.batch as u64) as usize
    }

    pub(super) fn rounds(&self) -> u64 {
        self.ops.div_ceil((self.batch as u64).max(1))
    }
}
