//! The patterns: what the threads share (barrier, rings, exchange sets), what one thread does
//! in one repetition of each pattern, and the worker loop around it.

use std::hint::{black_box, spin_loop};
use std::sync::atomic::{
    AtomicBool, AtomicUsize,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};
use std::sync::Mutex;
use std::time::Instant;

use pcpbuddy_core::{CpuCounters, GlobalCounters};

use crate::config::{Pattern, RunConfig};
use crate::platform::{Api, HostPool, Padded};

/// A spinning barrier (the module's), so that threads leave it within nanoseconds of each other;
/// it yields now and then in case threads outnumber the cores.
pub(crate) struct SpinBarrier {
    pub(crate) n: usize,
    pub(crate) count: Padded<AtomicUsize>,
    pub(crate) generation: Padded<AtomicUsize>,
}

impl SpinBarrier {
    pub(crate) fn new(n: usize) -> Self {
        Self {
            n,
            count: Padded(AtomicUsize::new(0)),
            generation: Padded(AtomicUsize::new(0)),
        }
    }

    pub(crate) fn wait(&self) {
        let generation = self.generation.0.load(Acquire);
        if self.count.0.fetch_add(1, AcqRel) + 1 == self.n {
            self.count.0.store(0, Relaxed);
            self.generation.0.store(generation + 1, Release);
            return;
        }
        let mut spins = 0u32;
        while self.generation.0.load(Acquire) == generation {
            spin_loop();
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(4096) {
                std::thread::yield_now();
            }
        }
    }
}

/// A single-producer single-consumer ring of handles (remote). Head and tail are on lines of
/// their own: each is written by one side and read by the other. The producer reads the head
/// only when the ring looks full, and the consumer takes everything published at once, so the
/// ring itself moves few cache lines between the cores (the module's ring reads the other
/// side's index on every operation).
pub(crate) struct Ring {
    pub(crate) slots: Box<[AtomicUsize]>,
    pub(crate) head: Padded<AtomicUsize>,
    pub(crate) tail: Padded<AtomicUsize>,
    /// The producer pushed its last handle of this round.
    pub(crate) done: Padded<AtomicBool>,
}

impl Ring {
    pub(crate) fn new(capacity: usize) -> Self {
        debug_assert!(capacity.is_power_of_two());
        Self {
            slots: (0..capacity).map(|_| AtomicUsize::new(0)).collect(),
            head: Padded(AtomicUsize::new(0)),
            tail: Padded(AtomicUsize::new(0)),
            done: Padded(AtomicBool::new(false)),
        }
    }

    /// Pushes a handle unless the ring is full; `seen_head` is the producer's copy of the head.
    pub(crate) fn push(&self, handle: usize, seen_head: &mut usize) -> bool {
        let tail = self.tail.0.load(Relaxed);
        if tail - *seen_head == self.slots.len() {
            *seen_head = self.head.0.load(Acquire);
            if tail - *seen_head == self.slots.len() {
                return false;
            }
        }
        self.slots[tail & (self.slots.len() - 1)].store(handle, Relaxed);
        self.tail.0.store(tail + 1, Release);
        true
    }

    /// Calls `f` on every handle published so far, then releases their slots; returns how many.
    pub(crate) fn drain(&self, mut f: impl FnMut(usize)) -> usize {
        let head = self.head.0.load(Relaxed);
        let tail = self.tail.0.load(Acquire);
        for i in head..tail {
            f(self.slots[i & (self.slots.len() - 1)].load(Relaxed));
        }
        if tail != head {
            self.head.0.store(tail, Release);
        }
        tail - head
    }
}

/// The runs one thread allocated in a round of `rand`, for another thread to free.
pub(crate) struct Exchange {
    pub(crate) handles: Box<[AtomicUsize]>,
    pub(crate) count: Padded<AtomicUsize>,
}

/// What one thread did in one repetition.
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct ThreadResult {
    pub(crate) rank: usize,
    pub(crate) cpu: Option<usize>,
    pub(crate) allocs: u64,
    pub(crate) frees: u64,
    pub(crate) failures: u64,
    pub(crate) alloc_ns: u64,
    pub(crate) free_ns: u64,
    pub(crate) total_ns: u64,
}

pub(crate) fn ns(t: Instant) -> u64 {
    t.elapsed().as_nanos() as u64
}

pub(crate) fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// What a run's threads share.
pub(crate) struct Ctx<'a> {
    pub(crate) cfg: RunConfig,
    /// One pool, or one per thread (`pool-private`).
    pub(crate) pools: &'a [HostPool],
    pub(crate) barrier: SpinBarrier,
    pub(crate) exchange: Vec<Exchange>,
    pub(crate) rings: Vec<Ring>,
    /// interfere: thread 0 is done, the others stop.
    pub(crate) stop: Padded<AtomicBool>,
    /// The pool's counters at every repetition boundary (written by thread 0 between barriers).
    pub(crate) snaps: Mutex<Vec<(CpuCounters, GlobalCounters)>>,
}

impl Ctx<'_> {
    pub(crate) fn counters(&self) -> (CpuCounters, GlobalCounters) {
        let mut cpu = CpuCounters::default();
        let mut global = GlobalCounters::default();
        for pool in self.pools {
            cpu.add(&pool.total_cpu_stats());
            global.add(&pool.global_stats());
        }
        (cpu, global)
    }
}

/// `repeat`: alloc and free the same run, timed as a whole loop (ns per pair).
pub(crate) fn repeat<A: Api>(api: &mut A, order: u32, ops: u64, r: &mut ThreadResult) {
    let t0 = Instant::now();
    for _ in 0..ops {
        match api.alloc(order) {
            Some(h) => {
                api.free(black_box(h), order);
                r.allocs += 1;
            }
            None => r.failures += 1,
        }
    }
    r.total_ns = ns(t0);
    r.frees = r.allocs;
}

/// One round of `bulk`: alloc `n` runs, then free them, each phase timed.
pub(crate) fn bulk_round<A: Api>(
    api: &mut A,
    order: u32,
    n: usize,
    held: &mut [usize],
    r: &mut ThreadResult,
) {
    let t0 = Instant::now();
    let mut got = 0;
    for _ in 0..n {
        match api.alloc(order) {
            Some(h) => {
                held[got] = h;
                got += 1;
            }
            None => r.failures += 1,
        }
    }
    let t1 = Instant::now();
    for &h in &held[..got] {
        api.free(h, order);
    }
    r.free_ns += ns(t1);
    r.alloc_ns += (t1 - t0).as_nanos() as u64;
    r.allocs += got as u64;
    r.frees += got as u64;
}

/// `bulk`: alloc `batch` runs, then free them, each phase timed.
pub(crate) fn bulk<A: Api>(
    ctx: &Ctx<'_>,
    api: &mut A,
    ops: u64,
    held: &mut [usize],
    r: &mut ThreadResult,
) {
    let mut left = ops;
    bulk_rounds(ctx, api, held, r, || {
        let n = (ctx.cfg.batch as u64).min(left);
        left -= n;
        n as usize
    });
}

/// `interfere`: thread 0 runs `repeat` at order 0; the others run `bulk` rounds at the run's
/// order until it is done.
pub(crate) fn interfere<A: Api>(
    ctx: &Ctx<'_>,
    api: &mut A,
    rank: usize,
    ops: u64,
    held: &mut [usize],
    r: &mut ThreadResult,
) {
    if rank == 0 {
        repeat(api, 0, ops, r);
        ctx.stop.0.store(true, Release);
    } else {
        bulk_rounds(ctx, api, held, r, || {
            if ctx.stop.0.load(Acquire) {
                0
            } else {
                ctx.cfg.batch
            }
        });
    }
}

/// `bulk` rounds at the run's order of `next_round()` runs each, until it says 0; the total
/// time is the timed phases'.
fn bulk_rounds<A: Api>(
    ctx: &Ctx<'_>,
    api: &mut A,
    held: &mut [usize],
    r: &mut ThreadResult,
    mut next_round: impl FnMut() -> usize,
) {
    loop {
        let n = next_round();
        if n == 0 {
            break;
        }
        bulk_round(api, ctx.cfg.order, n, held, r);
    }
    r.total_ns = r.alloc_ns + r.free_ns;
}

/// `rand`: every round each thread allocates `batch` runs into its exchange set; barrier; each
/// frees the set of thread `(rank + 1 + round) % threads` (its own one round in `threads`),
/// from a random start; barrier. The alloc and free phases are timed, the barriers not.
pub(crate) fn rand<A: Api>(
    ctx: &Ctx<'_>,
    api: &mut A,
    rank: usize,
    ops: u64,
    rng: &mut u64,
    r: &mut ThreadResult,
) {
    let cfg = &ctx.cfg;
    let rounds = ops.div_ceil(cfg.batch as u64);
    let own = &ctx.exchange[rank];
    for round in 0..rounds {
        let n = (ops - round * cfg.batch as u64).min(cfg.batch as u64) as usize;
        let t0 = Instant::now();
        let mut got = 0;
        for _ in 0..n {
            match api.alloc(cfg.order) {
                Some(h) => {
                    own.handles[got].store(h, Relaxed);
                    got += 1;
                }
                None => r.failures += 1,
            }
        }
        r.alloc_ns += ns(t0);
        r.allocs += got as u64;
        own.count.0.store(got, Relaxed);
        ctx.barrier.wait();
        let set = &ctx.exchange[(rank + 1 + round as usize) % cfg.threads];
        let m = set.count.0.load(Relaxed);
        let first = (xorshift(rng) % (m as u64).max(1)) as usize;
        let t1 = Instant::now();
        for i in 0..m {
            let j = if first + i >= m {
                first + i - m
            } else {
                first + i
            };
            api.free(set.handles[j].load(Relaxed), cfg.order);
        }
        r.free_ns += ns(t1);
        r.frees += m as u64;
        ctx.barrier.wait();
    }
    r.total_ns = r.alloc_ns + r.free_ns;
}

/// `remote`: threads `1..` allocate and push into their ring; thread 0 pops every ring and frees.
/// Each thread's whole loop is timed: ns per allocation for producers, per free for thread 0
/// (so both include waiting for the other side: the pair's throughput).
pub(crate) fn remote<A: Api>(
    ctx: &Ctx<'_>,
    api: &mut A,
    rank: usize,
    ops: u64,
    r: &mut ThreadResult,
) {
    let order = ctx.cfg.order;
    let t0 = Instant::now();
    if rank > 0 {
        let ring = &ctx.rings[rank - 1];
        let mut seen_head = ring.head.0.load(Acquire);
        let mut i = 0;
        while i < ops {
            // The pool may be empty for a moment while thread 0 catches up.
            let Some(h) = api.alloc(order) else {
                r.failures += 1;
                spin_loop();
                continue;
            };
            while !ring.push(h, &mut seen_head) {
                spin_loop();
            }
            r.allocs += 1;
            i += 1;
        }
        ring.done.0.store(true, Release);
    } else {
        loop {
            let mut busy = false;
            let mut open = false;
            for ring in &ctx.rings {
                // `done` before draining: a ring seen done and then empty is finished.
                let done = ring.done.0.load(Acquire);
                let n = ring.drain(|h| api.free(h, order));
                r.frees += n as u64;
                busy |= n > 0;
                open |= !done;
            }
            if !open {
                break;
            }
            if !busy {
                spin_loop();
            }
        }
    }
    r.total_ns = ns(t0);
}

/// One thread: a warm-up repetition, then `reps` timed ones, all started from the barrier.
pub(crate) fn worker<A: Api>(
    ctx: &Ctx<'_>,
    api: &mut A,
    rank: usize,
    cpu: Option<usize>,
) -> Vec<ThreadResult> {
    let cfg = &ctx.cfg;
    let mut rng = 0x9e37_79b9_7f4a_7c15u64 ^ (rank as u64 + 1);
    let mut held = vec![0usize; cfg.batch];
    let mut out = Vec::new();
    for rep in 0..=cfg.reps {
        let ops = if rep == 0 { cfg.warmup_ops() } else { cfg.ops };
        ctx.barrier.wait();
        if rank == 0 {
            ctx.snaps.lock().unwrap().push(ctx.counters());
        }
        if cfg.pattern == Pattern::Remote && rank > 0 {
            // Between the barriers: thread 0 has seen last repetition's `done` and will not
            // look again before the next barrier.
            ctx.rings[rank - 1].done.0.store(false, Relaxed);
        }
        if rank == 0 {
            // Likewise: the others saw it set and wait at the barrier.
            ctx.stop.0.store(false, Relaxed);
        }
        ctx.barrier.wait();
        let mut r = ThreadResult {
            rank,
            cpu,
            ..Default::default()
        };
        match cfg.pattern {
            Pattern::Repeat => repeat(api, cfg.order, ops, &mut r),
            Pattern::Bulk => bulk(ctx, api, ops, &mut held, &mut r),
            Pattern::Rand => rand(ctx, api, rank, ops, &mut rng, &mut r),
            Pattern::Remote => remote(ctx, api, rank, ops, &mut r),
            Pattern::Interfere => interfere(ctx, api, rank, ops, &mut held, &mut r),
        }
        out.push(r);
    }
    ctx.barrier.wait();
    if rank == 0 {
        ctx.snaps.lock().unwrap().push(ctx.counters());
    }
    out
}
