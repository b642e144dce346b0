// SPDX-License-Identifier: GPL-2.0

//! In-kernel microbenchmarks (`PCPBUDDY_IOC_BENCH`): allocation patterns run on chosen CPUs
//! against one backend at a time, the pool or the kernel's own page allocator, so that one
//! binary measures both in the same boot. The method is in `Documentation/benchmarks.md`.
//!
//! Every backend is called as its users call it: the pool through the exported API
//! (`pcpbuddy_alloc_pages()`/`pcpbuddy_free_pages()`, `struct page *` in and out, the folio
//! variants for the folio pattern), the kernel through `alloc_pages()`/`__free_pages()` (or
//! `folio_alloc()`/`folio_put()`), and the floor through a pair of functions of the same shape
//! over a bare per-CPU array (the machine's limit). Each thread's loop is compiled once per
//! backend, so no dispatch is measured.
//!
//! A run is one kthread per participating CPU, bound to it, released together from a start
//! barrier and timed with `ktime_get()`. Each thread writes only its own [`Worker`]; the threads
//! share a [`Run`] of atomics (start/stop flags, a round barrier, the exchange sets of the
//! `rand`, `exit` and `softirq` patterns and the rings of `remote`). The ioctl caller waits,
//! sleeping; a signal stops the run, every thread frees what it holds, and the ioctl returns
//! `EINTR`.
//!
//! Nothing is timed per operation (a clock read costs as much as an allocation): phases of many
//! operations are timed, and user space divides.

use crate::{
    api, glue,
    kernel_pool::KernelPool,
    pcpcore::{
        policy::Policy,
        stats::{CpuCounters, GlobalCounters},
    },
    uapi,
};
use core::{
    hint::spin_loop,
    ptr::NonNull,
    sync::atomic::{
        AtomicBool, AtomicU64, AtomicUsize,
        Ordering::{AcqRel, Acquire, Relaxed, Release},
    },
};
use kernel::{bindings, prelude::*};

/// Runs per round when the caller leaves `batch` at 0 (bulk, rand, softirq).
const DEFAULT_BATCH: usize = 64;
/// Ring slots per allocating CPU when the caller leaves `batch` at 0 (remote).
const DEFAULT_RING: usize = 256;
/// Upper bound of `batch`.
const MAX_BATCH: usize = 1 << 16;
/// Most live allocations a churn thread keeps.
const CHURN_SLOTS: usize = 256;
/// Tokens in the floor backend's per-CPU array at the start.
pub(crate) const FLOOR_TOKENS: u32 = 2048;
/// Operations between two looks at the stop flag (and `cond_resched()`).
pub(crate) const CHECK_EVERY: u64 = 64;

/// Only one benchmark runs at a time: it switches the pool's policy and drains its caches.
static RUNNING: AtomicBool = AtomicBool::new(false);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pattern {
    Repeat,
    Bulk,
    Rand,
    Remote,
    Exit,
    Churn,
    Folio,
    Softirq,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Backend {
    Pool,
    PoolClassic,
    Kernel,
    Floor,
}

impl Backend {
    /// The backend of `enum pcpbuddy_bench_backend`.
    pub(crate) fn from_abi(value: u32) -> Result<Self> {
        Ok(match value {
            0 => Backend::Pool,
            1 => Backend::PoolClassic,
            2 => Backend::Kernel,
            3 => Backend::Floor,
            _ => return Err(EINVAL),
        })
    }

    pub(crate) fn is_pool(self) -> bool {
        matches!(self, Backend::Pool | Backend::PoolClassic)
    }
}

pub(crate) fn now_ns() -> u64 {
    // SAFETY: `ktime_get()` has no preconditions.
    unsafe { bindings::ktime_get() as u64 }
}

/// Spins until `done()`, letting the scheduler in now and then (the vCPUs of an emulated guest
/// may outnumber the host's cores).
pub(crate) fn spin_until(done: impl Fn() -> bool) {
    let mut spins = 0u32;
    while !done() {
        spin_loop();
        spins = spins.wrapping_add(1);
        if spins % 1024 == 0 {
            glue::cond_resched();
        }
    }
}

/// xorshift64: cheap, and good enough to pick slots and orders.
fn next_random(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

/// `value % bound` for `bound > 0` without a division that could panic.
fn below(value: u64, bound: usize) -> usize {
    (value % (bound as u64).max(1)) as usize
}

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

/// A single-producer single-consumer ring of handles (remote pattern).
///
/// # Invariants
///
/// `slots.len()` is a power of two; `head <= tail <= head + slots.len()`.
struct Ring {
    slots: KVVec<AtomicUsize>,
    /// Next slot to consume; written by the consumer only.
    head: AtomicUsize,
    /// Next slot to fill; written by the producer only.
    tail: AtomicUsize,
    /// The producer has pushed its last handle.
    done: AtomicBool,
}

impl Ring {
    fn new(capacity: usize) -> Result<Self> {
        let mut slots = KVVec::with_capacity(capacity, GFP_KERNEL)?;
        for _ in 0..capacity {
            slots.push(AtomicUsize::new(0), GFP_KERNEL)?;
        }
        // INVARIANT: `capacity` is a power of two (see `Config::parse`); the ring is empty.
        Ok(Self {
            slots,
            head: AtomicUsize::new(0),
            tail: AtomicUsize::new(0),
            done: AtomicBool::new(false),
        })
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    fn push(&self, handle: usize) -> bool {
        let tail = self.tail.load(Relaxed);
        if tail - self.head.load(Acquire) == self.slots.len() {
            return false;
        }
        self.slots[tail & self.mask()].store(handle, Relaxed);
        self.tail.store(tail + 1, Release);
        true
    }

    fn pop(&self) -> Option<usize> {
        let head = self.head.load(Relaxed);
        if head == self.tail.load(Acquire) {
            return None;
        }
        let handle = self.slots[head & self.mask()].load(Relaxed);
        self.head.store(head + 1, Release);
        Some(handle)
    }
}

/// The runs one CPU allocated in a round of `rand`, `exit` or `softirq`, for another CPU to
/// free.
struct Exchange {
    handles: KVVec<AtomicUsize>,
    count: AtomicUsize,
}

/// A validated request.
struct Config {
    pattern: Pattern,
    backend: Backend,
    order: u32,
    /// Runs per round (bulk, rand, exit, softirq) or ring slots (remote).
    batch: usize,
    /// Allocations per allocating CPU.
    ops: u64,
    seed: u64,
    /// `(cpu, role)` of every thread, in CPU order.
    threads: KVec<(u32, u32)>,
    nr_alloc: usize,
    nr_free: usize,
    /// exit: set `k` is freed by free rank `(k + free_shift) % nr_free`.
    free_shift: usize,
}

pub(crate) fn cpus_of(mask: u64) -> impl Iterator<Item = u32> {
    (0..64u32).filter(move |cpu| mask & (1u64 << cpu) != 0)
}

impl Config {
    fn parse(pool: &KernelPool, req: &uapi::Bench) -> Result<Self> {
        let pattern = match req.pattern {
            0 => Pattern::Repeat,
            1 => Pattern::Bulk,
            2 => Pattern::Rand,
            3 => Pattern::Remote,
            4 => Pattern::Exit,
            5 => Pattern::Churn,
            6 => Pattern::Folio,
            7 => Pattern::Softirq,
            _ => return Err(EINVAL),
        };
        let backend = Backend::from_abi(req.backend)?;
        if req.flags != 0 || req.order > pool.block_order() || req.alloc_cpus == 0 {
            return Err(EINVAL);
        }
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
        })
    }

    /// Allocations in round `round` of a round-based pattern: `batch`, and what is left of
    /// `ops` in the last round.
    fn round_size(&self, round: u64) -> usize {
        let done = round * self.batch as u64;
        self.ops.saturating_sub(done).min(self.batch as u64) as usize
    }

    fn rounds(&self) -> u64 {
        self.ops.div_ceil((self.batch as u64).max(1))
    }
}

/// What the threads share.
struct Run<'a> {
    cfg: Config,
    pool: &'a KernelPool,
    ready: AtomicUsize,
    go: AtomicBool,
    /// Not every thread could be started: do nothing.
    abort: AtomicBool,
    /// Stop early (signal): every thread stops at its next check and frees what it holds.
    stop: AtomicBool,
    done: AtomicUsize,
    start_ns: AtomicU64,
    end_ns: AtomicU64,
    barrier_count: AtomicUsize,
    barrier_generation: AtomicUsize,
    barrier_stop: AtomicBool,
    exchange: KVVec<Exchange>,
    rings: KVVec<Ring>,
    /// The floor backend's arrays.
    floor: Option<glue::Floor>,
}

impl Run<'_> {
    /// Waits for every thread; returns whether to stop, decided by the last thread to arrive so
    /// that all threads take the same decision.
    fn barrier(&self) -> bool {
        let generation = self.barrier_generation.load(Acquire);
        if self.barrier_count.fetch_add(1, AcqRel) + 1 == self.cfg.threads.len() {
            self.barrier_count.store(0, Relaxed);
            self.barrier_stop.store(self.stop.load(Relaxed), Relaxed);
            self.barrier_generation.store(generation + 1, Release);
        } else {
            spin_until(|| self.barrier_generation.load(Acquire) != generation);
        }
        self.barrier_stop.load(Relaxed)
    }

    fn stopping(&self) -> bool {
        self.stop.load(Relaxed)
    }
}

/// One churn allocation.
#[derive(Clone, Copy, Default)]
struct ChurnSlot {
    live: bool,
    handle: usize,
    order: u32,
    expires: u64,
}

/// One thread's state, written by that thread only.
///
/// # Invariants
///
/// `run` points to the [`Run`] this worker belongs to, which outlives the worker's thread.
struct Worker<'a> {
    run: *const Run<'a>,
    cpu: u32,
    role: u32,
    /// Position among the allocating (resp. freeing) CPUs.
    alloc_rank: usize,
    free_rank: usize,
    rng: u64,
    held: KVVec<usize>,
    churn: KVVec<ChurnSlot>,
    samples: KVec<uapi::BenchSample>,
    result: uapi::BenchCpu,
}

/// A softirq batch: the set to fill or empty, and what the handler measured.
struct SoftirqBatch<'a, A> {
    api: &'a mut A,
    set: &'a Exchange,
    order: u32,
    n: usize,
    ns: u64,
    failures: u64,
}

/// Allocates `n` runs into the set, in soft interrupt context.
///
/// # Safety
///
/// `data` points to a `SoftirqBatch<A>` that lives until the call returns.
unsafe extern "C" fn softirq_alloc<A: Api>(data: *mut c_void) {
    // SAFETY: By the function's contract.
    let batch = unsafe { &mut *data.cast::<SoftirqBatch<'_, A>>() };
    let t0 = now_ns();
    let mut n = 0;
    for _ in 0..batch.n {
        let handle = batch.api.alloc(batch.order);
        if handle == 0 {
            batch.failures += 1;
            continue;
        }
        batch.set.handles[n].store(handle, Relaxed);
        n += 1;
    }
    batch.ns = now_ns() - t0;
    batch.set.count.store(n, Release);
}

/// Frees the set, in soft interrupt context.
///
/// # Safety
///
/// As for [`softirq_alloc`].
unsafe extern "C" fn softirq_free<A: Api>(data: *mut c_void) {
    // SAFETY: By the function's contract.
    let batch = unsafe { &mut *data.cast::<SoftirqBatch<'_, A>>() };
    let t0 = now_ns();
    let n = batch.set.count.load(Acquire);
    for i in 0..n {
        batch
            .api
            .free(batch.set.handles[i].load(Relaxed), batch.order);
    }
    batch.ns = now_ns() - t0;
    batch.n = n;
}

impl Worker<'_> {
    fn alloc<A: Api>(&mut self, api: &mut A, order: u32) -> Option<usize> {
        let handle = api.alloc(order);
        if handle == 0 {
            self.result.failures += 1;
            return None;
        }
        Some(handle)
    }

    /// `repeat` and `folio`: alloc and free the same run, `ops` times.
    fn repeat<A: Api>(&mut self, run: &Run<'_>, api: &mut A) {
        let order = run.cfg.order;
        let start = now_ns();
        for i in 0..run.cfg.ops {
            if let Some(handle) = self.alloc(api, order) {
                api.free(handle, order);
                self.result.allocs += 1;
                self.result.frees += 1;
            }
            if i % CHECK_EVERY == 0 {
                if run.stopping() {
                    break;
                }
                glue::cond_resched();
            }
        }
        self.result.total_ns = now_ns() - start;
    }

    fn bulk<A: Api>(&mut self, run: &Run<'_>, api: &mut A) {
        let order = run.cfg.order;
        let mut left = run.cfg.ops;
        while left > 0 && !run.stopping() {
            let n = (run.cfg.batch as u64).min(left);
            let t0 = now_ns();
            let mut held = 0;
            for _ in 0..n {
                if let Some(handle) = self.alloc(api, order) {
                    self.held[held] = handle;
                    held += 1;
                }
            }
            let t1 = now_ns();
            for i in 0..held {
                api.free(self.held[i], order);
            }
            self.result.allocs += held as u64;
            self.result.frees += held as u64;
            let t2 = now_ns();
            self.result.alloc_ns += t1 - t0;
            self.result.free_ns += t2 - t1;
            left -= n;
            glue::cond_resched();
        }
        self.result.total_ns = self.result.alloc_ns + self.result.free_ns;
    }

    /// Which exchange set this CPU frees in `round`, if it frees set `k`.
    fn frees_set(&self, cfg: &Config, round: u64, k: usize) -> bool {
        match cfg.pattern {
            // Every CPU frees one other CPU's set, a different one each round.
            Pattern::Rand => k == (self.free_rank + 1 + round as usize) % cfg.nr_alloc.max(1),
            // Set k goes to free rank k % nr_free (shifted by one when the sets are the same).
            _ => (k + cfg.free_shift) % cfg.nr_free.max(1) == self.free_rank,
        }
    }

    /// `rand` and `exit`: every round, the allocating CPUs fill their exchange sets, then the
    /// freeing CPUs free sets allocated elsewhere, starting at a random slot.
    fn exchange<A: Api>(&mut self, run: &Run<'_>, api: &mut A) {
        let cfg = &run.cfg;
        let order = cfg.order;
        for round in 0..cfg.rounds() {
            if self.role & uapi::BENCH_ROLE_ALLOC != 0 {
                let set = &run.exchange[self.alloc_rank];
                let t0 = now_ns();
                let mut n = 0;
                for _ in 0..cfg.round_size(round) {
                    if let Some(handle) = self.alloc(api, order) {
                        set.handles[n].store(handle, Relaxed);
                        n += 1;
                    }
                }
                self.result.alloc_ns += now_ns() - t0;
                self.result.allocs += n as u64;
                set.count.store(n, Relaxed);
            }
            let stop = run.barrier();
            if self.role & uapi::BENCH_ROLE_FREE != 0 {
                let t0 = now_ns();
                for k in 0..cfg.nr_alloc {
                    if !self.frees_set(cfg, round, k) {
                        continue;
                    }
                    let set = &run.exchange[k];
                    let n = set.count.load(Relaxed);
                    let first = below(next_random(&mut self.rng), n);
                    for i in 0..n {
                        let j = if first + i >= n {
                            first + i - n
                        } else {
                            first + i
                        };
                        api.free(set.handles[j].load(Relaxed), order);
                    }
                    self.result.frees += n as u64;
                }
                self.result.free_ns += now_ns() - t0;
            }
            glue::cond_resched();
            if run.barrier() || stop {
                break;
            }
        }
        self.result.total_ns = self.result.alloc_ns + self.result.free_ns;
    }

    /// `softirq`, the shape of a NIC's receive ring: each round, the allocating CPUs allocate
    /// a batch in soft interrupt context (a BH work item on their CPU) and the freeing CPUs free
    /// it in process context; then the freeing CPUs allocate in process context and the
    /// allocating CPUs free in soft interrupt context. Only the work inside the handlers and
    /// the process-context loops is timed.
    fn softirq<A: Api>(&mut self, run: &Run<'_>, api: &mut A) {
        let cfg = &run.cfg;
        let order = cfg.order;
        let allocator = self.role & uapi::BENCH_ROLE_ALLOC != 0;
        for round in 0..cfg.rounds() {
            let n = cfg.round_size(round);
            // Phase 1: allocate in softirq, free in process context elsewhere.
            if allocator {
                let set = &run.exchange[self.alloc_rank];
                let mut batch = SoftirqBatch {
                    api: &mut *api,
                    set,
                    order,
                    n,
                    ns: 0,
                    failures: 0,
                };
                // SAFETY: `batch` lives until the call returns; kthread context may sleep.
                unsafe {
                    glue::run_in_softirq(self.cpu, softirq_alloc::<A>, (&raw mut batch).cast())
                };
                self.result.alloc_ns += batch.ns;
                self.result.failures += batch.failures;
                self.result.allocs += set.count.load(Acquire) as u64;
            }
            let stop = run.barrier();
            if !allocator {
                let t0 = now_ns();
                let free_rank = self.free_rank;
                for k in (0..cfg.nr_alloc).filter(|k| k % cfg.nr_free.max(1) == free_rank) {
                    let set = &run.exchange[k];
                    let count = set.count.load(Acquire);
                    for i in 0..count {
                        api.free(set.handles[i].load(Relaxed), order);
                    }
                    self.result.frees += count as u64;
                    // Phase 2's allocations go into the same set, for its owner to free.
                    let mut filled = 0;
                    for _ in 0..n {
                        if let Some(handle) = self.alloc(api, order) {
                            set.handles[filled].store(handle, Relaxed);
                            filled += 1;
                        }
                    }
                    self.result.allocs += filled as u64;
                    set.count.store(filled, Release);
                }
                // Both loops of the freeing CPU, split evenly between its two roles.
                let ns = now_ns() - t0;
                self.result.free_ns += ns / 2;
                self.result.alloc_ns += ns - ns / 2;
            }
            let stop2 = run.barrier();
            // Phase 2: free in softirq what was allocated in process context.
            if allocator {
                let set = &run.exchange[self.alloc_rank];
                let mut batch = SoftirqBatch {
                    api: &mut *api,
                    set,
                    order,
                    n,
                    ns: 0,
                    failures: 0,
                };
                // SAFETY: As above.
                unsafe {
                    glue::run_in_softirq(self.cpu, softirq_free::<A>, (&raw mut batch).cast())
                };
                self.result.free_ns += batch.ns;
                self.result.frees += batch.n as u64;
            }
            glue::cond_resched();
            if run.barrier() || stop || stop2 {
                break;
            }
        }
        self.result.total_ns = self.result.alloc_ns + self.result.free_ns;
    }

    /// `remote`: allocating CPUs push into their ring, freeing CPUs drain the rings they serve.
    fn remote<A: Api>(&mut self, run: &Run<'_>, api: &mut A) {
        let cfg = &run.cfg;
        let order = cfg.order;
        let start = now_ns();
        if self.role & uapi::BENCH_ROLE_ALLOC != 0 {
            let ring = &run.rings[self.alloc_rank];
            let mut i = 0u64;
            while i < cfg.ops && !run.stopping() {
                // The pool may be momentarily empty while the freeing side catches up.
                let Some(handle) = self.alloc(api, order) else {
                    glue::cond_resched();
                    continue;
                };
                while !ring.push(handle) {
                    spin_loop();
                }
                self.result.allocs += 1;
                i += 1;
                if i % CHECK_EVERY == 0 {
                    glue::cond_resched();
                }
            }
            ring.done.store(true, Release);
        } else {
            loop {
                let mut busy = false;
                let mut open = false;
                for (k, ring) in run.rings.iter().enumerate() {
                    if k % cfg.nr_free.max(1) != self.free_rank {
                        continue;
                    }
                    // Read `done` before draining: a ring seen done and then empty is finished.
                    let done = ring.done.load(Acquire);
                    while let Some(handle) = ring.pop() {
                        api.free(handle, order);
                        self.result.frees += 1;
                        busy = true;
                    }
                    open |= !done;
                }
                if !open {
                    break;
                }
                if !busy {
                    spin_loop();
                }
                if self.result.frees % CHECK_EVERY == 0 {
                    glue::cond_resched();
                }
            }
        }
        self.result.total_ns = now_ns() - start;
    }

    /// `churn`: random orders up to `order` with random lifetimes.
    fn churn<A: Api>(&mut self, run: &Run<'_>, api: &mut A) {
        let cfg = &run.cfg;
        let slots = self.churn.len();
        let sample_every = (cfg.ops / uapi::BENCH_MAX_SAMPLES as u64).max(1);
        let start = now_ns();
        let mut sampling_ns = 0;
        let mut clock = 0u64;
        while self.result.allocs < cfg.ops && !run.stopping() {
            clock += 1;
            let r = next_random(&mut self.rng);
            let s = below(r, slots);
            let slot = self.churn[s];
            if slot.live {
                if slot.expires <= clock {
                    api.free(slot.handle, slot.order);
                    self.result.frees += 1;
                    self.churn[s].live = false;
                }
                continue;
            }
            // Small orders are common, large ones rare: order k with probability ~2^-(k+1).
            let order = ((r >> 32).trailing_zeros()).min(cfg.order);
            if let Some(handle) = self.alloc(api, order) {
                let lifetime = 1 + below(r >> 16, 4 * slots) as u64;
                self.churn[s] = ChurnSlot {
                    live: true,
                    handle,
                    order,
                    expires: clock + lifetime,
                };
            }
            self.result.allocs += 1;
            if self.alloc_rank == 0
                && cfg.backend.is_pool()
                && self.result.allocs % sample_every == 0
            {
                let t0 = now_ns();
                let sample = fragmentation_sample(run.pool, t0 - run.start_ns.load(Relaxed));
                let _ = self.samples.push(sample, GFP_ATOMIC);
                sampling_ns += now_ns() - t0;
            }
            if clock % CHECK_EVERY == 0 {
                glue::cond_resched();
            }
        }
        for s in 0..slots {
            let slot = self.churn[s];
            if slot.live {
                api.free(slot.handle, slot.order);
                self.result.frees += 1;
            }
        }
        self.result.total_ns = now_ns() - start - sampling_ns;
    }

    /// Runs the pattern with one backend: the loops are compiled once per backend.
    fn run_with<A: Api>(&mut self, run: &Run<'_>, mut api: A) {
        match run.cfg.pattern {
            Pattern::Repeat | Pattern::Folio => self.repeat(run, &mut api),
            Pattern::Bulk => self.bulk(run, &mut api),
            Pattern::Rand | Pattern::Exit => self.exchange(run, &mut api),
            Pattern::Remote => self.remote(run, &mut api),
            Pattern::Churn => self.churn(run, &mut api),
            Pattern::Softirq => self.softirq(run, &mut api),
        }
    }
}

/// The pool's fragmentation now, `ns` into the run.
pub(crate) fn fragmentation_sample(pool: &KernelPool, ns: u64) -> uapi::BenchSample {
    let info = pool.core().fragmentation();
    let top = pool.block_order();
    // Read without locks while CPUs run: the two sums may disagree a little; never below zero.
    let unusable = info.free_pages.saturating_sub(info.usable_pages(top));
    uapi::BenchSample {
        ns,
        free_pages: info.free_pages as u32,
        free_blocks: info.free_blocks as u32,
        owned_blocks: info.owned_blocks as u32,
        fragment_blocks: info.fragment_blocks as u32,
        shared_blocks: info.shared_blocks as u32,
        unusable_max_milli: (unusable * 1000).checked_div(info.free_pages).unwrap_or(0) as u32,
    }
}

/// The kthread body.
///
/// # Safety
///
/// `data` points to a [`Worker`] that only this thread uses, whose `run` outlives the thread.
unsafe extern "C" fn thread_main(data: *mut c_void) -> c_int {
    // SAFETY: By the function's contract.
    let worker = unsafe { &mut *data.cast::<Worker<'_>>() };
    // SAFETY: By the function's contract (and the `Worker` invariant), `run` outlives this
    // thread.
    let run = unsafe { &*worker.run };
    let cfg = &run.cfg;
    if let Some(floor) = &run.floor {
        floor.reset(FLOOR_TOKENS);
    }
    run.ready.fetch_add(1, Release);
    spin_until(|| run.go.load(Acquire));
    if !run.abort.load(Acquire) {
        let softirq = cfg.pattern == Pattern::Softirq;
        let gfp = if softirq {
            bindings::GFP_ATOMIC | bindings::__GFP_NOWARN
        } else {
            bindings::GFP_KERNEL | bindings::__GFP_NOWARN
        };
        let folio = cfg.pattern == Pattern::Folio;
        match cfg.backend {
            Backend::Pool | Backend::PoolClassic => worker.run_with(run, PoolApi { gfp, folio }),
            Backend::Kernel => worker.run_with(run, KernelApi { gfp, folio }),
            Backend::Floor => match &run.floor {
                Some(floor) => worker.run_with(run, FloorApi(floor)),
                // `run` makes a floor for every floor run.
                None => worker.result.failures = worker.result.failures.saturating_add(1),
            },
        }
    }
    run.end_ns.fetch_max(now_ns(), Relaxed);
    run.done.fetch_add(1, Release);
    0
}

/// The pool's counters summed over CPUs, and the global ones.
pub(crate) fn counters(pool: &KernelPool) -> (CpuCounters, GlobalCounters) {
    (pool.core().total_cpu_stats(), pool.core().global_stats())
}

pub(crate) fn counter_delta(
    before: &(CpuCounters, GlobalCounters),
    after: &(CpuCounters, GlobalCounters),
) -> uapi::BenchCounters {
    let c = after.0.since(&before.0);
    let g = after.1.since(&before.1);
    uapi::BenchCounters {
        global_locks: c.global_locks,
        refill_recover: c.refill_recover,
        refill_claim: c.refill_claim,
        refill_degrade: c.refill_degrade,
        // Frees by the block's owner: into its magazine, or merged at once (large orders).
        frees_local: c.frees_fast + c.frees_local,
        frees_remote: c.frees_remote,
        frees_loose: c.frees_loose,
        absorbs: c.absorbs,
        merges_local: c.merges_local,
        merges_global: g.merges_global,
        drains: c.drains,
        trims: c.trims,
        reclaims: c.reclaims,
        blocks_claimed: g.blocks_claimed,
        blocks_returned: g.blocks_returned,
        fragments_created: g.fragments_created,
        fragments_recovered: g.fragments_recovered,
        fallbacks: c.fallbacks,
    }
}

/// Holds the benchmark slot and the pool's policy; restores the policy when dropped.
///
/// # Invariants
///
/// While a `Session` lives, `RUNNING` is true and this session set it.
pub(crate) struct Session<'a> {
    pool: &'a KernelPool,
    saved: Policy,
}

impl<'a> Session<'a> {
    pub(crate) fn begin(pool: &'a KernelPool, backend: Backend) -> Result<Self> {
        if RUNNING.swap(true, Acquire) {
            return Err(EBUSY);
        }
        // INVARIANT: we set `RUNNING` above.
        let session = Self {
            pool,
            saved: pool.core().policy(),
        };
        // Benchmarks need the pool to themselves: its counters and caches are part of the
        // measurement.
        if backend.is_pool() && pool.core().outstanding_pages() != 0 {
            return Err(EBUSY);
        }
        let mut policy = session.saved;
        policy.ownership = backend == Backend::Pool;
        pool.core().set_policy(policy).map_err(|_| EINVAL)?;
        // Every run starts from empty magazines and caches.
        session.drain();
        Ok(session)
    }

    pub(crate) fn drain(&self) {
        self.pool.flush_magazines();
        for cpu in 0..self.pool.core().nr_cpus() {
            self.pool.core().drain_cpu(cpu);
        }
        self.pool.core().absorb_fragments_now();
    }
}

impl Drop for Session<'_> {
    fn drop(&mut self) {
        let _ = self.pool.core().set_policy(self.saved);
        RUNNING.store(false, Release);
    }
}

/// Keeps CPUs from going offline (`cpus_read_lock()`) for the length of a run: every thread is
/// bound to a CPU checked online, and must stay runnable until it is stopped.
pub(crate) struct NoHotplug;

impl NoHotplug {
    pub(crate) fn new() -> Self {
        // SAFETY: Process context (the ioctl); released in `drop`.
        unsafe { bindings::cpus_read_lock() };
        NoHotplug
    }
}

impl Drop for NoHotplug {
    fn drop(&mut self) {
        // SAFETY: Taken in `new`.
        unsafe { bindings::cpus_read_unlock() };
    }
}

/// A `KVVec` of `n` zeroed handles.
pub(crate) fn zeroed<T: Default>(n: usize) -> Result<KVVec<T>> {
    let mut v = KVVec::with_capacity(n, GFP_KERNEL)?;
    for _ in 0..n {
        v.push(T::default(), GFP_KERNEL)?;
    }
    Ok(v)
}

/// Builds the workers of `run` (their buffers are allocated here, before any clock starts).
fn workers<'a>(run: &Run<'a>) -> Result<KVec<KBox<Worker<'a>>>> {
    let cfg = &run.cfg;
    let mut workers = KVec::with_capacity(cfg.threads.len(), GFP_KERNEL)?;
    let (mut alloc_rank, mut free_rank) = (0, 0);
    for (i, &(cpu, role)) in cfg.threads.iter().enumerate() {
        let held = if cfg.pattern == Pattern::Bulk {
            zeroed(cfg.batch)?
        } else {
            KVVec::new()
        };
        let mut churn = KVVec::new();
        if cfg.pattern == Pattern::Churn {
            // At most the pool's size in flight across all CPUs.
            let pool_pages = run.pool.info().nr_pages as usize;
            let slots = ((pool_pages >> cfg.order) / cfg.nr_alloc.max(1)).clamp(1, CHURN_SLOTS);
            churn = zeroed(slots)?;
        }
        let mut samples = KVec::new();
        if cfg.pattern == Pattern::Churn && alloc_rank == 0 {
            samples = KVec::with_capacity(uapi::BENCH_MAX_SAMPLES + 1, GFP_KERNEL)?;
        }
        // INVARIANT: `run` outlives the workers and their threads (see `run`).
        workers.push(
            KBox::new(
                Worker {
                    run: run as *const Run<'a>,
                    cpu,
                    role,
                    alloc_rank,
                    free_rank,
                    rng: cfg.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (i as u64 + 1),
                    held,
                    churn,
                    samples,
                    result: uapi::BenchCpu {
                        cpu,
                        role,
                        ..Default::default()
                    },
                },
                GFP_KERNEL,
            )?,
            GFP_KERNEL,
        )?;
        if role & uapi::BENCH_ROLE_ALLOC != 0 {
            alloc_rank += 1;
        }
        if role & uapi::BENCH_ROLE_FREE != 0 {
            free_rank += 1;
        }
    }
    Ok(workers)
}

/// Runs the benchmark described by `req` and fills in its results.
pub(crate) fn run(pool: &KernelPool, req: &mut uapi::Bench) -> Result {
    let _no_hotplug = NoHotplug::new();
    let cfg = Config::parse(pool, req)?;
    let session = Session::begin(pool, cfg.backend)?;

    let mut exchange = KVVec::new();
    let mut rings = KVVec::new();
    match cfg.pattern {
        Pattern::Rand | Pattern::Exit | Pattern::Softirq => {
            for _ in 0..cfg.nr_alloc {
                exchange.push(
                    Exchange {
                        handles: zeroed(cfg.batch)?,
                        count: AtomicUsize::new(0),
                    },
                    GFP_KERNEL,
                )?;
            }
        }
        Pattern::Remote => {
            for _ in 0..cfg.nr_alloc {
                rings.push(Ring::new(cfg.batch)?, GFP_KERNEL)?;
            }
        }
        _ => {}
    }
    let floor = (cfg.backend == Backend::Floor)
        .then(glue::Floor::new)
        .transpose()?;
    let run = Run {
        cfg,
        pool,
        ready: AtomicUsize::new(0),
        go: AtomicBool::new(false),
        abort: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        done: AtomicUsize::new(0),
        start_ns: AtomicU64::new(0),
        end_ns: AtomicU64::new(0),
        barrier_count: AtomicUsize::new(0),
        barrier_generation: AtomicUsize::new(0),
        barrier_stop: AtomicBool::new(false),
        exchange,
        rings,
        floor,
    };
    let mut workers = workers(&run)?;
    let before = counters(pool);

    // Start one bound thread per CPU; they wait for `go`.
    let mut tasks: KVec<NonNull<bindings::task_struct>> =
        KVec::with_capacity(workers.len(), GFP_KERNEL)?;
    for worker in workers.iter_mut() {
        let data = core::ptr::from_mut::<Worker<'_>>(worker).cast::<c_void>();
        // SAFETY: `worker` (boxed, so it does not move) and `run` live until every thread has
        // been stopped below; each worker is used by its thread only until then.
        match unsafe { glue::kthread_on_cpu(thread_main, data, worker.cpu) } {
            Some(task) => tasks.push(task, GFP_KERNEL)?,
            None => {
                run.abort.store(true, Release);
                break;
            }
        }
    }
    let task = kernel::current!();
    let mut interrupted = false;
    while run.ready.load(Acquire) < tasks.len() {
        kernel::time::delay::fsleep(kernel::time::Delta::from_millis(1));
    }
    run.start_ns.store(now_ns(), Relaxed);
    run.go.store(true, Release);
    while run.done.load(Acquire) < tasks.len() {
        if !interrupted && task.signal_pending() {
            interrupted = true;
            run.stop.store(true, Relaxed);
        }
        kernel::time::delay::fsleep(kernel::time::Delta::from_millis(5));
    }
    for t in tasks.drain_all() {
        // SAFETY: Each task came from `kthread_on_cpu` and is stopped once.
        unsafe { glue::kthread_stop(t) };
    }
    if run.abort.load(Relaxed) {
        return Err(ENOMEM);
    }

    // Results.
    let after = counters(pool);
    if run.cfg.backend.is_pool() {
        req.counters = counter_delta(&before, &after);
    } else {
        req.counters = uapi::BenchCounters::default();
    }
    req.elapsed_ns = run.end_ns.load(Relaxed) - run.start_ns.load(Relaxed);
    req.nr_cpus = workers.len() as u32;
    req.nr_samples = 0;
    for (slot, worker) in req.cpus.iter_mut().zip(workers.iter()) {
        *slot = worker.result;
    }
    if run.cfg.pattern == Pattern::Churn && run.cfg.backend.is_pool() {
        // Two more samples: after every thread freed everything, and after draining every
        // magazine and cache (what the CPUs were holding on to).
        let mut samples = KVec::new();
        for worker in workers.iter_mut() {
            samples.extend_from_slice(&worker.samples, GFP_KERNEL)?;
        }
        let end = run.end_ns.load(Relaxed) - run.start_ns.load(Relaxed);
        let keep = samples.len().min(uapi::BENCH_MAX_SAMPLES - 2);
        let mut n = 0;
        for sample in samples.iter().take(keep) {
            req.samples[n] = *sample;
            n += 1;
        }
        req.samples[n] = fragmentation_sample(pool, end);
        session.drain();
        req.samples[n + 1] = fragmentation_sample(pool, end);
        req.nr_samples = (n + 2) as u32;
    }
    drop(session);
    if interrupted {
        return Err(EINTR);
    }
    Ok(())
}
