// SPDX-License-Identifier: GPL-2.0

//! The allocation patterns: each thread's loop ([`Worker`]) and what the threads exchange
//! ([`Ring`], [`Exchange`]).

use super::{
    backends::Api,
    config::{Config, Pattern},
    fragmentation_sample,
    measure::PeakMap,
    ns, zeroed, Instant, Run, CHECK_EVERY,
};
use crate::{glue, uapi};
use core::{
    hint::spin_loop,
    sync::atomic::{
        AtomicBool, AtomicUsize,
        Ordering::{Acquire, Relaxed, Release},
    },
};
use kernel::prelude::*;

/// Most live allocations a churn thread keeps.
const CHURN_SLOTS: usize = 256;

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

/// A single-producer single-consumer ring of handles (remote pattern).
///
/// # Invariants
///
/// `slots.len()` is a power of two; `head <= tail <= head + slots.len()`.
pub(super) struct Ring {
    slots: KVVec<AtomicUsize>,
    /// Next slot to consume; written by the consumer only.
    head: AtomicUsize,
    /// Next slot to fill; written by the producer only.
    tail: AtomicUsize,
    /// The producer has pushed its last handle.
    done: AtomicBool,
}

impl Ring {
    pub(super) fn new(capacity: usize) -> Result<Self> {
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
///
/// # Invariants
///
/// `count <= handles.len()`: the first `count` slots hold the set's handles.
pub(super) struct Exchange {
    pub(super) handles: KVVec<AtomicUsize>,
    pub(super) count: AtomicUsize,
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
pub(super) struct Worker<'a> {
    pub(super) run: *const Run<'a>,
    pub(super) cpu: u32,
    role: u32,
    /// Position among the allocating (resp. freeing) CPUs.
    alloc_rank: usize,
    free_rank: usize,
    rng: u64,
    held: KVVec<usize>,
    churn: KVVec<ChurnSlot>,
    pub(super) samples: KVec<uapi::BenchSample>,
    /// The churn peak's block map, if asked for (the sampling thread only).
    pub(super) peak: Option<PeakMap>,
    pub(super) result: uapi::BenchCpu,
}

/// A softirq batch: the set to fill or empty, and what the handler measured.
///
/// # Invariants
///
/// `n <= set.handles.len()`: the handler that fills the set has room for `n` handles.
struct SoftirqBatch<'a, A> {
    api: &'a mut A,
    set: &'a Exchange,
    order: u32,
    n: usize,
    ns: u64,
    failures: u64,
}

impl<'a, A: Api> SoftirqBatch<'a, A> {
    fn new(api: &'a mut A, set: &'a Exchange, order: u32, n: usize) -> Self {
        // INVARIANT: callers pass a round's size, at most `batch`, the set's length (see `Run`).
        debug_assert!(n <= set.handles.len());
        Self {
            api,
            set,
            order,
            n,
            ns: 0,
            failures: 0,
        }
    }

    /// Fills the set (`alloc`) or empties it in soft interrupt context on `cpu`, and waits.
    /// Called from the benchmark's kthread (which may sleep).
    fn run(mut self, cpu: u32, alloc: bool) -> Self {
        let handler: unsafe extern "C" fn(*mut c_void) = if alloc {
            softirq_alloc::<A>
        } else {
            softirq_free::<A>
        };
        // SAFETY: Both handlers take a `SoftirqBatch<'_, A>`: `self`, which lives until the call
        // returns; the caller may sleep.
        unsafe { glue::run_in_softirq(cpu, handler, (&raw mut self).cast()) };
        self
    }
}

/// Allocates `n` runs into the set, in soft interrupt context.
///
/// # Safety
///
/// `data` points to a `SoftirqBatch<A>` that lives until the call returns.
unsafe extern "C" fn softirq_alloc<A: Api>(data: *mut c_void) {
    // SAFETY: By the function's contract.
    let batch = unsafe { &mut *data.cast::<SoftirqBatch<'_, A>>() };
    let t0 = Instant::now();
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
    batch.ns = ns(t0.elapsed());
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
    let t0 = Instant::now();
    let n = batch.set.count.load(Acquire);
    for i in 0..n {
        batch
            .api
            .free(batch.set.handles[i].load(Relaxed), batch.order);
    }
    batch.ns = ns(t0.elapsed());
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
        let start = Instant::now();
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
        self.result.total_ns = ns(start.elapsed());
    }

    fn bulk<A: Api>(&mut self, run: &Run<'_>, api: &mut A) {
        let order = run.cfg.order;
        let mut left = run.cfg.ops;
        while left > 0 && !run.stopping() {
            let n = (run.cfg.batch as u64).min(left);
            let t0 = Instant::now();
            let mut held = 0;
            for _ in 0..n {
                if let Some(handle) = self.alloc(api, order) {
                    self.held[held] = handle;
                    held += 1;
                }
            }
            let t1 = Instant::now();
            for i in 0..held {
                api.free(self.held[i], order);
            }
            self.result.allocs += held as u64;
            self.result.frees += held as u64;
            let t2 = Instant::now();
            self.result.alloc_ns += ns(t1 - t0);
            self.result.free_ns += ns(t2 - t1);
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
                let t0 = Instant::now();
                let mut n = 0;
                for _ in 0..cfg.round_size(round) {
                    if let Some(handle) = self.alloc(api, order) {
                        set.handles[n].store(handle, Relaxed);
                        n += 1;
                    }
                }
                self.result.alloc_ns += ns(t0.elapsed());
                self.result.allocs += n as u64;
                set.count.store(n, Relaxed);
            }
            let stop = run.barrier();
            if self.role & uapi::BENCH_ROLE_FREE != 0 {
                let t0 = Instant::now();
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
                self.result.free_ns += ns(t0.elapsed());
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
                let batch = SoftirqBatch::new(&mut *api, set, order, n).run(self.cpu, true);
                self.result.alloc_ns += batch.ns;
                self.result.failures += batch.failures;
                self.result.allocs += set.count.load(Acquire) as u64;
            }
            let stop = run.barrier();
            if !allocator {
                let t0 = Instant::now();
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
                let spent = ns(t0.elapsed());
                self.result.free_ns += spent / 2;
                self.result.alloc_ns += spent - spent / 2;
            }
            let stop2 = run.barrier();
            // Phase 2: free in softirq what was allocated in process context.
            if allocator {
                let set = &run.exchange[self.alloc_rank];
                let batch = SoftirqBatch::new(&mut *api, set, order, n).run(self.cpu, false);
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
        let start = Instant::now();
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
        self.result.total_ns = ns(start.elapsed());
    }

    /// `churn`: random orders up to `order` with random lifetimes.
    fn churn<A: Api>(&mut self, run: &Run<'_>, api: &mut A) {
        let cfg = &run.cfg;
        let slots = self.churn.len();
        let sample_every = (cfg.ops / uapi::BENCH_MAX_SAMPLES as u64).max(1);
        let start = Instant::now();
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
                let t0 = Instant::now();
                let at = run.clock.at(t0) - run.start_ns.load(Relaxed);
                let sample = match &mut self.peak {
                    Some(peak) => peak.sample(run.pool, at),
                    None => fragmentation_sample(run.pool, at),
                };
                let _ = self.samples.push(sample, GFP_ATOMIC);
                sampling_ns += ns(t0.elapsed());
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
        self.result.total_ns = ns(start.elapsed()) - sampling_ns;
    }

    /// Runs the pattern with one backend: the loops are compiled once per backend.
    pub(super) fn run_with<A: Api>(&mut self, run: &Run<'_>, mut api: A) {
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

/// Builds the workers of `run` (their buffers are allocated here, before any clock starts).
pub(super) fn workers<'a>(run: &Run<'a>) -> Result<KVec<KBox<Worker<'a>>>> {
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
        let mut peak = None;
        if cfg.pattern == Pattern::Churn && alloc_rank == 0 {
            samples = KVec::with_capacity(uapi::BENCH_MAX_SAMPLES + 1, GFP_KERNEL)?;
            if cfg.peak_map.is_some() {
                peak = Some(PeakMap::new(run.pool)?);
            }
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
                    peak,
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
