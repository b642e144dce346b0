//! Host-native contention benchmark of the allocator core: real threads, pinned to the host's
//! real cores, running the patterns of the module's in-kernel benchmark (`rust/kmod/bench.rs`) on the
//! same core code, without emulation; plus `interfere` (slow-path traffic on other CPUs against
//! one CPU's fast path) and the `pool-private` backend (a pool per thread: the no-sharing
//! control).
//!
//! Each thread is one "CPU": it owns its `Magazine` exclusively (as a CPU does with interrupts
//! off) and calls `Pool::alloc`/`Pool::free` directly. The platform mirrors the module's
//! (`rust/kmod/kernel_platform.rs`): a spinlock per cache and for the global pool, each alone on its cache
//! lines, per-CPU counters and magazines cache-line aligned, remote queues packed as the kernel's
//! table packs them. Phases of many operations are timed with `Instant` (never single
//! operations), all threads start from a spinning barrier, and a warm-up round runs first.
//!
//! ```sh
//! cargo bench --bench contention                          # full run, Markdown on stdout
//! cargo bench --bench contention -- --md host.md --json host.json
//! cargo bench --profile kernel-like --bench contention    # debug assertions, overflow checks
//! cargo bench --bench contention -- --quick               # < 1 s; checks, no speed claims
//! ```
//!
//! The method and how to read the output: `Documentation/benchmarks.md`, "Host-native
//! contention".

use std::cell::UnsafeCell;
use std::fmt::{self, Write as _};
use std::hint::{black_box, spin_loop};
use std::process::ExitCode;
use std::sync::atomic::{
    AtomicBool, AtomicUsize,
    Ordering::{AcqRel, Acquire, Relaxed, Release},
};
use std::sync::Mutex;
use std::time::Instant;

use pcpbuddy_core::{
    BitmapLine, BlockKind, BlockMeta, CpuCache, CpuCounters, CpuStats, Geometry, GlobalCounters,
    GlobalPool, Lock, Magazine, MapLine, Platform, Pool, RemoteQueue,
};

/// The pageblock order of x86-64 (2 MiB blocks), as in the kernel.
const BLOCK_ORDER: u32 = 9;
/// Runs per round (bulk, rand) at most, as the kernel's default `batch`.
const DEFAULT_BATCH: usize = 64;
/// Ring slots per producer (remote) at most, as the kernel's default.
const DEFAULT_RING: usize = 256;
/// Slots of a floor thread's array, as the module's floor.
const FLOOR_SLOTS: usize = 2048;

// ---------------------------------------------------------------------------------------------
// The platform: kernel-like locks and layout.

/// A `T` alone on its cache lines, like the kernel's `____cacheline_aligned` per-CPU data.
#[repr(align(64))]
struct Padded<T>(T);

/// A test-and-test-and-set spinlock, alone on its cache lines with what it protects (the
/// module's `Locked<T>`). Acquire is one compare-and-swap when free, as the kernel's queued
/// spinlock's fast path; waiters spin on a plain load so the line stays shared while held;
/// release is a plain store. Unlike the kernel's `SpinLockIrq` it does not disable interrupts
/// (there are none here) and does not queue waiters (two cores cannot starve each other).
#[repr(align(64))]
struct SpinLock<T> {
    locked: AtomicBool,
    value: UnsafeCell<T>,
}

// SAFETY: The lock gives out `&mut T` to one thread at a time, so `T: Send` suffices.
unsafe impl<T: Send> Sync for SpinLock<T> {}

impl<T> SpinLock<T> {
    fn new(value: T) -> Self {
        Self {
            locked: AtomicBool::new(false),
            value: UnsafeCell::new(value),
        }
    }
}

/// Releases a [`SpinLock`] when dropped, also when the closure panics.
struct Unlock<'a>(&'a AtomicBool);

impl Drop for Unlock<'_> {
    fn drop(&mut self) {
        self.0.store(false, Release);
    }
}

impl<T> Lock<T> for SpinLock<T> {
    #[inline]
    fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        while self
            .locked
            .compare_exchange_weak(false, true, Acquire, Relaxed)
            .is_err()
        {
            while self.locked.load(Relaxed) {
                spin_loop();
            }
        }
        let _unlock = Unlock(&self.locked);
        // SAFETY: We hold the lock, so no other reference to the value exists until `_unlock`
        // releases it after `f` returns.
        f(unsafe { &mut *self.value.get() })
    }
}

/// The module's platform on the host: the same storage, laid out the same way.
struct HostPlatform {
    /// `BlockMeta`, `MapLine` and `BitmapLine` are cache-line aligned types themselves.
    blocks: Vec<BlockMeta>,
    maps: Vec<MapLine>,
    bitmaps: Vec<BitmapLine>,
    global: Box<SpinLock<GlobalPool>>,
    caches: Vec<SpinLock<CpuCache>>,
    /// Packed, 4 bytes each, as in the module's table (only remote frees and absorbs touch them).
    queues: Vec<RemoteQueue>,
    stats: Vec<Padded<CpuStats>>,
}

impl HostPlatform {
    fn new(nr_blocks: usize, nr_cpus: usize) -> Self {
        let geo = Geometry::new(BLOCK_ORDER, nr_blocks).expect("geometry");
        Self {
            blocks: (0..nr_blocks).map(|_| BlockMeta::new()).collect(),
            maps: (0..geo.map_lines()).map(|_| MapLine::new()).collect(),
            bitmaps: (0..geo.bitmap_lines()).map(|_| BitmapLine::new()).collect(),
            global: Box::new(SpinLock::new(GlobalPool::new())),
            caches: (0..nr_cpus)
                .map(|_| SpinLock::new(CpuCache::new()))
                .collect(),
            queues: (0..=nr_cpus).map(|_| RemoteQueue::new()).collect(),
            stats: (0..nr_cpus).map(|_| Padded(CpuStats::new())).collect(),
        }
    }
}

impl Platform for HostPlatform {
    type Global = SpinLock<GlobalPool>;
    type Cache = SpinLock<CpuCache>;

    #[inline(always)]
    fn blocks(&self) -> &[BlockMeta] {
        &self.blocks
    }
    #[inline(always)]
    fn maps(&self) -> &[MapLine] {
        &self.maps
    }
    #[inline(always)]
    fn bitmaps(&self) -> &[BitmapLine] {
        &self.bitmaps
    }
    #[inline(always)]
    fn global(&self) -> &Self::Global {
        &self.global
    }
    #[inline(always)]
    fn caches(&self) -> &[Self::Cache] {
        &self.caches
    }
    #[inline(always)]
    fn remote_queues(&self) -> &[RemoteQueue] {
        &self.queues
    }
    #[inline(always)]
    fn cpu_stats(&self, cpu: usize) -> &CpuStats {
        &self.stats[cpu].0
    }
    fn uncompound(&self, block: usize) {
        // Only folios make blocks compound, and this benchmark allocates none.
        unreachable!("uncompound of block {block}: no folios here");
    }
}

type HostPool = Pool<HostPlatform>;

// ---------------------------------------------------------------------------------------------
// Backends: the allocators as the patterns call them. A handle is a page index (or a token).
// Every backend is one call that is not inlined, as the module's exported API and floor are.

trait Api {
    fn alloc(&mut self, order: u32) -> Option<usize>;
    fn free(&mut self, handle: usize, order: u32);
    /// Frees the pool refused (must stay 0).
    fn errors(&self) -> u64 {
        0
    }
}

/// The pool through one thread's magazine.
struct PoolApi<'a> {
    pool: &'a HostPool,
    mag: &'a mut Magazine,
    errors: u64,
}

impl Api for PoolApi<'_> {
    #[inline(never)]
    fn alloc(&mut self, order: u32) -> Option<usize> {
        self.pool.alloc(self.mag, order, false).ok().map(|a| a.page)
    }

    #[inline(never)]
    fn free(&mut self, handle: usize, order: u32) {
        if self.pool.free(self.mag, handle, order, false).is_err() {
            self.errors += 1;
        }
    }

    fn errors(&self) -> u64 {
        self.errors
    }
}

/// The floor: push/pop of tokens on the thread's own array, as the module's floor (an empty
/// array mints a token, a full one drops it, so it never fails).
struct FloorApi {
    slots: Box<[u32; FLOOR_SLOTS]>,
    len: usize,
    minted: u32,
}

impl FloorApi {
    fn new() -> Self {
        Self {
            slots: Box::new(core::array::from_fn(|i| i as u32)),
            len: FLOOR_SLOTS,
            minted: FLOOR_SLOTS as u32,
        }
    }
}

impl Api for FloorApi {
    #[inline(never)]
    fn alloc(&mut self, _order: u32) -> Option<usize> {
        if self.len > 0 {
            self.len -= 1;
            Some(self.slots[self.len] as usize)
        } else {
            self.minted = self.minted.wrapping_add(1);
            Some(self.minted as usize)
        }
    }

    #[inline(never)]
    fn free(&mut self, handle: usize, _order: u32) {
        if self.len < FLOOR_SLOTS {
            self.slots[self.len] = handle as u32;
            self.len += 1;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// What the threads share.

/// A spinning barrier (the module's), so that threads leave it within nanoseconds of each other;
/// it yields now and then in case threads outnumber the cores.
struct SpinBarrier {
    n: usize,
    count: Padded<AtomicUsize>,
    generation: Padded<AtomicUsize>,
}

impl SpinBarrier {
    fn new(n: usize) -> Self {
        Self {
            n,
            count: Padded(AtomicUsize::new(0)),
            generation: Padded(AtomicUsize::new(0)),
        }
    }

    fn wait(&self) {
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
struct Ring {
    slots: Box<[AtomicUsize]>,
    head: Padded<AtomicUsize>,
    tail: Padded<AtomicUsize>,
    /// The producer pushed its last handle of this round.
    done: Padded<AtomicBool>,
}

impl Ring {
    fn new(capacity: usize) -> Self {
        debug_assert!(capacity.is_power_of_two());
        Self {
            slots: (0..capacity).map(|_| AtomicUsize::new(0)).collect(),
            head: Padded(AtomicUsize::new(0)),
            tail: Padded(AtomicUsize::new(0)),
            done: Padded(AtomicBool::new(false)),
        }
    }

    /// Pushes a handle unless the ring is full; `seen_head` is the producer's copy of the head.
    fn push(&self, handle: usize, seen_head: &mut usize) -> bool {
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
    fn drain(&self, mut f: impl FnMut(usize)) -> usize {
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
struct Exchange {
    handles: Box<[AtomicUsize]>,
    count: Padded<AtomicUsize>,
}

// ---------------------------------------------------------------------------------------------
// Configuration.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pattern {
    Repeat,
    Bulk,
    Rand,
    Remote,
    /// Thread 0 runs `repeat` at order 0 while the others run `bulk` at the run's order on the
    /// same pool: does their slow-path traffic (global lock, refills, trims) slow down a CPU that
    /// stays on its fast path? It should not: that CPU's data is its own. (Host only.)
    Interfere,
}

impl Pattern {
    const ALL: [Pattern; 5] = [
        Pattern::Repeat,
        Pattern::Bulk,
        Pattern::Rand,
        Pattern::Remote,
        Pattern::Interfere,
    ];

    fn name(self) -> &'static str {
        match self {
            Pattern::Repeat => "repeat",
            Pattern::Bulk => "bulk",
            Pattern::Rand => "rand",
            Pattern::Remote => "remote",
            Pattern::Interfere => "interfere",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Backend {
    Pool,
    PoolClassic,
    /// The control for false sharing: every thread has a pool of its own (one CPU, ownership
    /// on), so the threads share no memory at all; only `repeat` and `bulk` (no frees across
    /// threads).
    PoolPrivate,
    Floor,
}

impl Backend {
    const ALL: [Backend; 4] = [
        Backend::Pool,
        Backend::PoolClassic,
        Backend::PoolPrivate,
        Backend::Floor,
    ];

    fn name(self) -> &'static str {
        match self {
            Backend::Pool => "pool",
            Backend::PoolClassic => "pool-classic",
            Backend::PoolPrivate => "pool-private",
            Backend::Floor => "floor",
        }
    }

    fn is_pool(self) -> bool {
        self != Backend::Floor
    }

    fn runs(self, pattern: Pattern) -> bool {
        self != Backend::PoolPrivate
            || matches!(
                pattern,
                Pattern::Repeat | Pattern::Bulk | Pattern::Interfere
            )
    }
}

fn parse_list<T: Copy>(
    text: &str,
    all: &[T],
    name: impl Fn(T) -> String,
) -> Result<Vec<T>, String> {
    text.split(',')
        .map(|word| {
            all.iter()
                .copied()
                .find(|&item| name(item) == word.trim())
                .ok_or_else(|| format!("unknown value '{word}'"))
        })
        .collect()
}

struct Options {
    quick: bool,
    json: Option<String>,
    md: Option<String>,
    /// Allocations per allocating thread at order 0; order `k` runs `max(ops >> k, ops >> 3)`.
    ops: u64,
    /// Timed repetitions of every run (after one warm-up); the median is reported.
    reps: usize,
    threads: Vec<usize>,
    patterns: Vec<Pattern>,
    backends: Vec<Backend>,
    orders: Vec<u32>,
    pool_mb: usize,
    pin: bool,
}

const USAGE: &str = "\
usage: contention [--quick] [--json FILE] [--md FILE] [--ops N] [--reps N] [--threads 1,2]
                  [--patterns repeat,bulk,rand,remote]
                  [--backends pool,pool-classic,pool-private,floor]
                  [--orders 0,9] [--pool-mb 256] [--no-pin]
  --quick    a tiny run (seconds) that checks the results and the pool, not the speed
  --ops N    allocations per allocating thread at order 0 (default 2097152; order k runs
             max(N >> k, N >> 3)); --reps N timed repetitions after a warm-up (default 5)
  --threads  thread counts (default 1..=the CPUs this process may run on)
  pool-private (repeat, bulk, interfere): a pool per thread, the no-sharing control";

impl Options {
    fn parse(cpus: usize) -> Result<Self, String> {
        let mut o = Options {
            quick: false,
            json: None,
            md: None,
            ops: 1 << 21,
            reps: 5,
            threads: (1..=cpus.max(1)).collect(),
            patterns: Pattern::ALL.to_vec(),
            backends: Backend::ALL.to_vec(),
            orders: vec![0, BLOCK_ORDER],
            pool_mb: 256,
            pin: true,
        };
        let mut ops = None;
        let mut reps = None;
        let mut args = std::env::args().skip(1);
        while let Some(arg) = args.next() {
            let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
            let number = |v: String| {
                v.parse::<u64>()
                    .map_err(|_| format!("bad number '{v}'"))
                    .and_then(|n| {
                        if n == 0 {
                            Err("0 is not allowed".into())
                        } else {
                            Ok(n)
                        }
                    })
            };
            match arg.as_str() {
                // `cargo bench` passes it to every bench target.
                "--bench" => {}
                "--quick" => o.quick = true,
                "--no-pin" => o.pin = false,
                "--json" => o.json = Some(value()?),
                "--md" => o.md = Some(value()?),
                "--ops" => ops = Some(number(value()?)?),
                "--reps" => reps = Some(number(value()?)? as usize),
                "--pool-mb" => o.pool_mb = number(value()?)? as usize,
                "--threads" => {
                    o.threads = value()?
                        .split(',')
                        .map(|w| number(w.trim().to_string()).map(|n| n as usize))
                        .collect::<Result<_, _>>()?;
                }
                "--patterns" => {
                    o.patterns = parse_list(&value()?, &Pattern::ALL, |p| p.name().into())?
                }
                "--backends" => {
                    o.backends = parse_list(&value()?, &Backend::ALL, |b| b.name().into())?
                }
                "--orders" => {
                    o.orders = value()?
                        .split(',')
                        .map(|w| match w.trim().parse::<u32>() {
                            Ok(k) if k <= BLOCK_ORDER => Ok(k),
                            _ => Err(format!("bad order '{w}' (0..={BLOCK_ORDER})")),
                        })
                        .collect::<Result<_, _>>()?;
                }
                "-h" | "--help" => return Err(USAGE.into()),
                _ => return Err(format!("unknown argument '{arg}'\n{USAGE}")),
            }
        }
        if o.quick {
            o.ops = 4096;
            o.reps = 1;
        }
        o.ops = ops.unwrap_or(o.ops);
        o.reps = reps.unwrap_or(o.reps);
        if (o.pool_mb << 20) >> (BLOCK_ORDER + 12) == 0 {
            return Err("--pool-mb: less than one 2 MiB block".into());
        }
        Ok(o)
    }

    fn nr_blocks(&self) -> usize {
        (self.pool_mb << 20) >> (BLOCK_ORDER + 12)
    }
}

/// One run: a pattern, a backend, an order, a thread count.
#[derive(Clone, Copy)]
struct RunConfig {
    pattern: Pattern,
    backend: Backend,
    order: u32,
    threads: usize,
    /// Allocations per allocating thread in a timed repetition.
    ops: u64,
    /// Runs per round (bulk, rand) or ring slots (remote).
    batch: usize,
    reps: usize,
}

impl RunConfig {
    fn new(pattern: Pattern, backend: Backend, order: u32, threads: usize, o: &Options) -> Self {
        let producers = match pattern {
            Pattern::Remote | Pattern::Interfere => threads - 1,
            _ => threads,
        };
        // As the kernel: the runs in flight of all threads fit in half the pool.
        let pool_pages = o.nr_blocks() << BLOCK_ORDER;
        let fit = ((pool_pages >> order) / 2 / producers.max(1)).max(1);
        let batch = match pattern {
            Pattern::Repeat => 1,
            Pattern::Remote => 1 << DEFAULT_RING.min(fit).ilog2(),
            _ => DEFAULT_BATCH.min(fit),
        };
        Self {
            pattern,
            backend,
            order,
            threads,
            // interfere: thread 0's repeat is at order 0.
            ops: if pattern == Pattern::Interfere {
                o.ops
            } else {
                (o.ops >> order).max(o.ops >> 3).max(1)
            },
            batch,
            reps: o.reps,
        }
    }

    fn warmup_ops(&self) -> u64 {
        (self.ops / 8).max(self.batch as u64)
    }
}

// ---------------------------------------------------------------------------------------------
// The threads.

/// What one thread did in one repetition.
#[derive(Clone, Copy, Default, Debug)]
struct ThreadResult {
    rank: usize,
    cpu: Option<usize>,
    allocs: u64,
    frees: u64,
    failures: u64,
    alloc_ns: u64,
    free_ns: u64,
    total_ns: u64,
}

fn ns(t: Instant) -> u64 {
    t.elapsed().as_nanos() as u64
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// What a run's threads share.
struct Ctx<'a> {
    cfg: RunConfig,
    /// One pool, or one per thread (`pool-private`).
    pools: &'a [HostPool],
    barrier: SpinBarrier,
    exchange: Vec<Exchange>,
    rings: Vec<Ring>,
    /// interfere: thread 0 is done, the others stop.
    stop: Padded<AtomicBool>,
    /// The pool's counters at every repetition boundary (written by thread 0 between barriers).
    snaps: Mutex<Vec<(CpuCounters, GlobalCounters)>>,
}

impl Ctx<'_> {
    fn counters(&self) -> (CpuCounters, GlobalCounters) {
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
fn repeat<A: Api>(api: &mut A, order: u32, ops: u64, r: &mut ThreadResult) {
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
fn bulk_round<A: Api>(api: &mut A, order: u32, n: usize, held: &mut [usize], r: &mut ThreadResult) {
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
fn bulk<A: Api>(ctx: &Ctx<'_>, api: &mut A, ops: u64, held: &mut [usize], r: &mut ThreadResult) {
    let mut left = ops;
    while left > 0 {
        let n = (ctx.cfg.batch as u64).min(left);
        bulk_round(api, ctx.cfg.order, n as usize, held, r);
        left -= n;
    }
    r.total_ns = r.alloc_ns + r.free_ns;
}

/// `interfere`: thread 0 runs `repeat` at order 0; the others run `bulk` rounds at the run's
/// order until it is done.
fn interfere<A: Api>(
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
        while !ctx.stop.0.load(Acquire) {
            bulk_round(api, ctx.cfg.order, ctx.cfg.batch, held, r);
        }
        r.total_ns = r.alloc_ns + r.free_ns;
    }
}

/// `rand`: every round each thread allocates `batch` runs into its exchange set; barrier; each
/// frees the set of thread `(rank + 1 + round) % threads` (its own one round in `threads`),
/// from a random start; barrier. The alloc and free phases are timed, the barriers not.
fn rand<A: Api>(
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
fn remote<A: Api>(ctx: &Ctx<'_>, api: &mut A, rank: usize, ops: u64, r: &mut ThreadResult) {
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
fn worker<A: Api>(
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

// ---------------------------------------------------------------------------------------------
// Pinning and the machine.

/// The CPUs this process may run on.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: `cpu_set_t` is plain data; zero is an empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid `cpu_set_t` of the size passed.
    let rc = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if rc != 0 {
        let n = std::thread::available_parallelism().map_or(1, |n| n.get());
        return (0..n).collect();
    }
    // SAFETY: `set` is initialised.
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// Binds the calling thread to `cpu`; whether it worked.
fn pin_to(cpu: usize) -> bool {
    // SAFETY: as in `allowed_cpus`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu < CPU_SETSIZE` (it came from `allowed_cpus`); `set` is valid.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is valid and of the size passed.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) == 0 }
}

/// What the header says about the machine and the build.
struct Machine {
    cpu_model: String,
    hypervisor: bool,
    kernel: String,
    cpus: Vec<usize>,
    profile: String,
    debug_assertions: bool,
    overflow_checks: bool,
    clock_ns: f64,
    /// min, median (in `avg`) and max.
    line_ns: Option<Spread>,
    scheduling: String,
    loadavg: String,
    qemu_running: usize,
}

fn overflow_checks() -> bool {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let x = black_box(u8::MAX);
    let overflowed = std::panic::catch_unwind(|| black_box(x) + black_box(1u8)).is_err();
    std::panic::set_hook(hook);
    overflowed
}

/// The cargo profile: the name of the directory the binary was built into (`cargo bench` builds
/// the `bench` profile into `target/release`).
fn profile_dir() -> String {
    std::env::current_exe()
        .ok()
        .and_then(|exe| {
            let dir = exe.parent()?;
            let dir = if dir.file_name()? == "deps" {
                dir.parent()?
            } else {
                dir
            };
            Some(dir.file_name()?.to_string_lossy().into_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// Average cost of one `Instant::now()`.
fn clock_cost_ns() -> f64 {
    const N: u32 = 100_000;
    let t0 = Instant::now();
    for _ in 0..N {
        black_box(Instant::now());
    }
    t0.elapsed().as_nanos() as f64 / f64::from(N)
}

/// Busy and steal time of the whole machine, and this process's CPU time, in clock ticks.
#[derive(Clone, Copy, Default)]
struct CpuTimes {
    busy: u64,
    steal: u64,
    total: u64,
    own: u64,
}

impl CpuTimes {
    fn now() -> Self {
        let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
        // user nice system idle iowait irq softirq steal ...
        let f: Vec<u64> = stat
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .map(|w| w.parse().unwrap_or(0))
            .collect();
        let get = |i: usize| f.get(i).copied().unwrap_or(0);
        let own = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        // utime and stime are fields 14 and 15; the command name before them may hold spaces.
        let after_comm = own.rsplit_once(')').map_or("", |(_, rest)| rest);
        let g: Vec<u64> = after_comm
            .split_whitespace()
            .map(|w| w.parse().unwrap_or(0))
            .collect();
        Self {
            busy: get(0) + get(1) + get(2) + get(5) + get(6),
            steal: get(7),
            total: f.iter().take(8).sum(),
            own: g.get(11).copied().unwrap_or(0) + g.get(12).copied().unwrap_or(0),
        }
    }

    /// (other processes' share, steal share) of all CPUs' time since `earlier`, in percent;
    /// NaN for a run too short to tell (under 200 clock ticks of all CPUs).
    fn others_since(&self, earlier: &Self) -> (f64, f64) {
        let total = self.total.saturating_sub(earlier.total);
        if total < 200 {
            return (f64::NAN, f64::NAN);
        }
        let total = total as f64;
        let others = self
            .busy
            .saturating_sub(earlier.busy)
            .saturating_sub(self.own.saturating_sub(earlier.own));
        (
            others as f64 * 100.0 / total,
            self.steal.saturating_sub(earlier.steal) as f64 * 100.0 / total,
        )
    }
}

/// One-way cache-line transfer between the first two CPUs: half a ping-pong round trip on one
/// atomic, the unit of every cross-core cost in the tables. Min, median and max of up to ten
/// batches after a warm-up one (an idle vCPU takes microseconds to wake up; on a virtual machine
/// the hypervisor may move the vCPUs between host cores, so the cost varies), within a second.
fn line_transfer_ns(cpus: &[usize], pin: bool) -> Option<Spread> {
    const ROUNDS: usize = 10_000;
    const BATCHES: usize = 11;
    const STOP: usize = usize::MAX;
    if cpus.len() < 2 {
        return None;
    }
    let ball = Padded(AtomicUsize::new(0));
    let ball = &ball.0;
    let mut batches = std::thread::scope(|s| {
        s.spawn(|| {
            if pin {
                pin_to(cpus[1]);
            }
            let mut expect = 1;
            loop {
                match ball.load(Acquire) {
                    STOP => break,
                    v if v == expect => {
                        ball.store(v + 1, Release);
                        expect += 2;
                    }
                    _ => spin_loop(),
                }
            }
        });
        let t = s.spawn(|| {
            if pin {
                pin_to(cpus[0]);
            }
            let start = Instant::now();
            let mut batches = Vec::new();
            for batch in 0..BATCHES {
                let t0 = Instant::now();
                for i in batch * ROUNDS..(batch + 1) * ROUNDS {
                    ball.store(2 * i + 1, Release);
                    while ball.load(Acquire) != 2 * i + 2 {
                        spin_loop();
                    }
                }
                if batch > 0 {
                    batches.push(t0.elapsed().as_nanos() as f64 / (2 * ROUNDS) as f64);
                }
                if start.elapsed().as_secs() >= 1 {
                    break;
                }
            }
            // The responder has answered the last round and waits: it sees this.
            ball.store(STOP, Release);
            batches
        });
        t.join().expect("ping-pong")
    });
    batches.sort_by(f64::total_cmp);
    Some(Spread {
        min: *batches.first()?,
        avg: batches[batches.len() / 2],
        max: *batches.last()?,
    })
}

/// The scheduling policy the threads inherit (`chrt` sets it).
fn scheduling() -> String {
    // SAFETY: no pointers; pid 0 is this thread.
    let policy = unsafe { libc::sched_getscheduler(0) };
    // SAFETY: `sched_param` is plain data.
    let mut param: libc::sched_param = unsafe { std::mem::zeroed() };
    // SAFETY: `param` is valid for writes.
    unsafe { libc::sched_getparam(0, &mut param) };
    match policy {
        libc::SCHED_FIFO => format!(
            "SCHED_FIFO priority {} (other processes wait while a thread runs)",
            param.sched_priority
        ),
        libc::SCHED_RR => format!("SCHED_RR priority {}", param.sched_priority),
        libc::SCHED_OTHER => "SCHED_OTHER (shares the CPUs with other processes)".into(),
        p => format!("policy {p}"),
    }
}

fn qemu_processes() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with("qemu-system"))
        .count()
}

impl Machine {
    fn probe(cpus: Vec<usize>, pin: bool, quick: bool) -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            cpuinfo
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        };
        let dir = profile_dir();
        let debug_assertions = cfg!(debug_assertions);
        let overflow_checks = overflow_checks();
        let profile = match (dir.as_str(), debug_assertions, overflow_checks) {
            ("release", false, false) => {
                "bench (release: opt-level 3, no debug assertions, no overflow checks)".into()
            }
            ("kernel-like", true, true) => {
                "kernel-like (release + debug assertions + overflow checks, as the test kernel \
                 builds Rust)"
                    .into()
            }
            (d, a, c) => format!("{d} (debug assertions {a}, overflow checks {c})"),
        };
        Self {
            cpu_model: field("model name").unwrap_or_else(|| "unknown".into()),
            hypervisor: field("flags").is_some_and(|f| f.split(' ').any(|w| w == "hypervisor")),
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .map(|s| s.trim().to_string())
                .unwrap_or_default(),
            profile,
            debug_assertions,
            overflow_checks,
            clock_ns: clock_cost_ns(),
            // Skipped by --quick: under other load it could take a second.
            line_ns: if quick {
                None
            } else {
                line_transfer_ns(&cpus, pin)
            },
            scheduling: scheduling(),
            loadavg: std::fs::read_to_string("/proc/loadavg")
                .map(|s| s.split(' ').take(3).collect::<Vec<_>>().join(" "))
                .unwrap_or_default(),
            qemu_running: qemu_processes(),
            cpus,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Running and checking.

#[derive(Clone, Copy, Debug, PartialEq)]
struct Spread {
    min: f64,
    avg: f64,
    max: f64,
}

impl Spread {
    fn of(values: &[f64]) -> Option<Spread> {
        if values.is_empty() {
            return None;
        }
        Some(Spread {
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            avg: values.iter().sum::<f64>() / values.len() as f64,
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        })
    }
}

/// One timed repetition, summarised.
struct Rep {
    threads: Vec<ThreadResult>,
    /// ns per pair (repeat).
    pair: Option<Spread>,
    alloc: Option<Spread>,
    free: Option<Spread>,
    key: f64,
    cpu: CpuCounters,
    global: GlobalCounters,
}

impl Rep {
    fn new(
        cfg: &RunConfig,
        threads: Vec<ThreadResult>,
        cpu: CpuCounters,
        global: GlobalCounters,
    ) -> Self {
        let per = |f: &dyn Fn(&ThreadResult) -> Option<f64>| {
            Spread::of(&threads.iter().filter_map(f).collect::<Vec<_>>())
        };
        let div = |ns: u64, n: u64| (n > 0).then(|| ns as f64 / n as f64);
        let (pair, alloc, free) = match cfg.pattern {
            Pattern::Repeat => (per(&|t| div(t.total_ns, t.allocs)), None, None),
            Pattern::Bulk | Pattern::Rand => (
                None,
                per(&|t| div(t.alloc_ns, t.allocs)),
                per(&|t| div(t.free_ns, t.frees)),
            ),
            // Producers allocate, thread 0 frees; each is timed over its whole loop.
            Pattern::Remote => (
                None,
                per(&|t| div(t.total_ns, t.allocs)),
                per(&|t| (t.allocs == 0).then(|| div(t.total_ns, t.frees)).flatten()),
            ),
            // Thread 0's pairs; the others' bulk phases.
            Pattern::Interfere => (
                per(&|t| (t.rank == 0).then(|| div(t.total_ns, t.allocs)).flatten()),
                per(&|t| (t.rank > 0).then(|| div(t.alloc_ns, t.allocs)).flatten()),
                per(&|t| (t.rank > 0).then(|| div(t.free_ns, t.frees)).flatten()),
            ),
        };
        // The repetitions are ordered by what the pattern is about.
        let key = match cfg.pattern {
            Pattern::Interfere => pair.map_or(0.0, |p| p.avg),
            _ => [pair, alloc, free].iter().flatten().map(|s| s.avg).sum(),
        };
        Self {
            threads,
            pair,
            alloc,
            free,
            key,
            cpu,
            global,
        }
    }

    fn allocs(&self) -> u64 {
        self.threads.iter().map(|t| t.allocs).sum()
    }

    fn frees(&self) -> u64 {
        self.threads.iter().map(|t| t.frees).sum()
    }

    fn failures(&self) -> u64 {
        self.threads.iter().map(|t| t.failures).sum()
    }

    /// What the repetitions are ordered by to pick the median.
    fn key(&self) -> f64 {
        self.key
    }

    /// Global-lock acquisitions (on behalf of the CPUs, as the module's benchmark counts them)
    /// per 1000 allocations and frees.
    fn glock_per_1000(&self) -> f64 {
        self.cpu.global_locks as f64 * 1000.0 / (self.allocs() + self.frees()).max(1) as f64
    }

    /// Share of the frees that went to another CPU's block (parked, lock-free).
    fn remote_share(&self) -> f64 {
        self.cpu.frees_remote as f64 / self.frees().max(1) as f64
    }
}

/// A run's result: the median timed repetition, and every repetition's key.
struct RunResult {
    cfg: RunConfig,
    median: Rep,
    keys: Vec<f64>,
    pinned: bool,
}

/// Checks that `pool` is whole again: every magazine flushed, every cache drained, `verify`
/// passes, nothing outstanding, every block free.
fn check_whole(pool: &HostPool, mags: &mut [&mut Magazine]) -> Result<(), String> {
    for mag in mags.iter_mut() {
        pool.flush_magazine(mag);
    }
    for cpu in 0..pool.nr_cpus() {
        pool.drain_cpu(cpu);
    }
    pool.absorb_fragments_now();
    let refs: Vec<&Magazine> = mags.iter().map(|m| &**m).collect();
    pool.verify(&refs).map_err(|e| format!("verify: {e}"))?;
    let geo = pool.geometry();
    let free_errors = pool.total_cpu_stats().free_errors_total();
    if free_errors != 0 {
        return Err(format!("the pool refused {free_errors} frees"));
    }
    if pool.outstanding_pages() != 0 || pool.global_free_pages() != geo.total_pages() {
        return Err(format!(
            "pool not whole: {} pages outstanding, {} of {} free in the global pool",
            pool.outstanding_pages(),
            pool.global_free_pages(),
            geo.total_pages()
        ));
    }
    if let Some(b) =
        (0..geo.nr_blocks()).find(|&b| pool.block_info(b).map(|i| i.kind) != Some(BlockKind::Free))
    {
        return Err(format!("block {b} is not free after the drain"));
    }
    Ok(())
}

/// Runs one configuration on a fresh pool and checks that the pool is whole afterwards.
fn run(cfg: RunConfig, o: &Options, cpus: &[usize]) -> Result<RunResult, String> {
    let private = cfg.backend == Backend::PoolPrivate;
    let (nr_pools, pool_cpus) = if private {
        (cfg.threads, 1)
    } else {
        (1, cfg.threads)
    };
    let mut pools = Vec::new();
    for _ in 0..nr_pools {
        let pool = Pool::new(HostPlatform::new(o.nr_blocks(), pool_cpus), BLOCK_ORDER)
            .map_err(|e| format!("pool: {e:?}"))?;
        let mut policy = pool.policy();
        policy.ownership = cfg.backend != Backend::PoolClassic;
        pool.set_policy(policy)
            .map_err(|e| format!("policy: {e:?}"))?;
        pools.push(pool);
    }
    let producers = match cfg.pattern {
        Pattern::Remote => cfg.threads - 1,
        _ => 0,
    };
    let ctx = Ctx {
        cfg,
        pools: &pools,
        barrier: SpinBarrier::new(cfg.threads),
        exchange: if cfg.pattern == Pattern::Rand {
            (0..cfg.threads)
                .map(|_| Exchange {
                    handles: (0..cfg.batch).map(|_| AtomicUsize::new(0)).collect(),
                    count: Padded(AtomicUsize::new(0)),
                })
                .collect()
        } else {
            Vec::new()
        },
        rings: (0..producers).map(|_| Ring::new(cfg.batch)).collect(),
        stop: Padded(AtomicBool::new(false)),
        snaps: Mutex::new(Vec::new()),
    };
    // Each thread owns its magazine, on cache lines of its own, as a CPU its per-CPU one.
    let mut mags: Vec<Padded<Magazine>> = (0..cfg.threads)
        .map(|rank| Padded(Magazine::new(if private { 0 } else { rank as u32 })))
        .collect();
    let (ctx, pools_ref) = (&ctx, &pools);
    let outcomes: Vec<(bool, Vec<ThreadResult>, u64)> = std::thread::scope(|s| {
        let handles: Vec<_> = mags
            .iter_mut()
            .enumerate()
            .map(|(rank, mag)| {
                let cpu = o.pin.then(|| cpus[rank % cpus.len()]);
                s.spawn(move || {
                    let pinned = cpu.is_some_and(pin_to);
                    let cpu = if pinned { cpu } else { None };
                    if cfg.backend.is_pool() {
                        let mut api = PoolApi {
                            pool: &pools_ref[rank % nr_pools],
                            mag: &mut mag.0,
                            errors: 0,
                        };
                        let r = worker(ctx, &mut api, rank, cpu);
                        (pinned, r, api.errors())
                    } else {
                        let mut api = FloorApi::new();
                        let r = worker(ctx, &mut api, rank, cpu);
                        (pinned, r, api.errors())
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    let pinned = outcomes.iter().all(|(p, _, _)| *p);
    let errors: u64 = outcomes.iter().map(|(_, _, e)| e).sum();

    if errors != 0 {
        return Err(format!("{errors} refused frees"));
    }
    if private {
        for (pool, mag) in pools.iter().zip(mags.iter_mut()) {
            check_whole(pool, &mut [&mut mag.0])?;
        }
    } else {
        check_whole(
            &pools[0],
            &mut mags.iter_mut().map(|m| &mut m.0).collect::<Vec<_>>(),
        )?;
    }

    let snaps = ctx.snaps.lock().unwrap();
    let mut reps: Vec<Rep> = (1..=cfg.reps)
        .map(|rep| {
            let threads = outcomes.iter().map(|(_, r, _)| r[rep]).collect();
            let (c0, g0) = &snaps[rep];
            let (c1, g1) = &snaps[rep + 1];
            Rep::new(&cfg, threads, c1.since(c0), g1.since(g0))
        })
        .collect();
    let keys: Vec<f64> = reps.iter().map(Rep::key).collect();
    reps.sort_by(|a, b| a.key().total_cmp(&b.key()));
    let median = reps.swap_remove(reps.len() / 2);
    Ok(RunResult {
        cfg,
        median,
        keys,
        pinned,
    })
}

/// The checks of `--quick` (and of every run): counts add up and times are real numbers.
fn check_result(r: &RunResult) -> Result<(), String> {
    let cfg = &r.cfg;
    let rep = &r.median;
    let producers = match cfg.pattern {
        Pattern::Remote => cfg.threads - 1,
        _ => cfg.threads,
    } as u64;
    let what = format!(
        "{} {} order {} {} threads",
        cfg.pattern.name(),
        cfg.backend.name(),
        cfg.order,
        cfg.threads
    );
    // Only remote retries a failed allocation; elsewhere a failure is one fewer allocation.
    // interfere: only thread 0 runs a set number.
    let (allocs, expected) = match cfg.pattern {
        Pattern::Remote => (rep.allocs(), producers * cfg.ops),
        Pattern::Interfere => {
            let t0 = rep.threads.iter().find(|t| t.rank == 0);
            (t0.map_or(0, |t| t.allocs + t.failures), cfg.ops)
        }
        _ => (rep.allocs() + rep.failures(), producers * cfg.ops),
    };
    if allocs != expected || rep.frees() != rep.allocs() {
        return Err(format!(
            "{what}: {} allocs + {} failures, {} frees; expected {expected} allocs, as many frees",
            rep.allocs(),
            rep.failures(),
            rep.frees()
        ));
    }
    for s in [rep.pair, rep.alloc, rep.free].iter().flatten() {
        if !(s.min.is_finite() && s.min > 0.0 && s.min <= s.avg && s.avg <= s.max) {
            return Err(format!("{what}: bad times {s:?}"));
        }
    }
    if [rep.pair, rep.alloc, rep.free].iter().all(Option::is_none) {
        return Err(format!("{what}: no times"));
    }
    if cfg.backend.is_pool() && rep.cpu.allocs != rep.allocs() {
        return Err(format!(
            "{what}: the pool counted {} allocations, the threads {}",
            rep.cpu.allocs,
            rep.allocs()
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Output.

/// A JSON value, enough for the report.
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

fn obj(fields: Vec<(&str, Json)>) -> Json {
    Json::Obj(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    )
}

fn num(v: impl Into<f64>) -> Json {
    Json::Num(v.into())
}

fn spread_json(s: Option<Spread>) -> Json {
    s.map_or(Json::Null, |s| {
        obj(vec![
            ("min", num(s.min)),
            ("avg", num(s.avg)),
            ("max", num(s.max)),
        ])
    })
}

/// A counter snapshot as an object (`for_each` gives every field's name).
fn counters_json(for_each: impl FnOnce(&mut dyn FnMut(&str, &str, u64))) -> Json {
    let mut fields = Vec::new();
    for_each(&mut |name: &str, element: &str, value: u64| {
        let key = if element.is_empty() {
            name.to_string()
        } else {
            format!("{name}.{element}")
        };
        fields.push((key, Json::Num(value as f64)));
    });
    Json::Obj(fields)
}

fn write_str_json(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            c if (c as u32) < 0x20 => write!(f, "\\u{:04x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl fmt::Display for Json {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Json::Null => f.write_str("null"),
            Json::Bool(b) => write!(f, "{b}"),
            Json::Num(n) if !n.is_finite() => f.write_str("null"),
            Json::Num(n) if n.fract() == 0.0 && n.abs() < 1e15 => write!(f, "{}", *n as i64),
            Json::Num(n) => write!(f, "{n:.3}"),
            Json::Str(s) => write_str_json(f, s),
            Json::Arr(items) => {
                f.write_char('[')?;
                for (i, item) in items.iter().enumerate() {
                    write!(f, "{}{item}", if i > 0 { ", " } else { "" })?;
                }
                f.write_char(']')
            }
            Json::Obj(fields) => {
                f.write_char('{')?;
                for (i, (k, v)) in fields.iter().enumerate() {
                    f.write_str(if i > 0 { ", " } else { "" })?;
                    write_str_json(f, k)?;
                    write!(f, ": {v}")?;
                }
                f.write_char('}')
            }
        }
    }
}

fn json_report(
    o: &Options,
    m: &Machine,
    results: &[RunResult],
    seconds: f64,
    load: (f64, f64),
) -> Json {
    let runs = results
        .iter()
        .map(|r| {
            let rep = &r.median;
            let pool = r.cfg.backend.is_pool();
            obj(vec![
                ("pattern", Json::Str(r.cfg.pattern.name().into())),
                ("backend", Json::Str(r.cfg.backend.name().into())),
                ("order", num(r.cfg.order)),
                ("threads", num(r.cfg.threads as u32)),
                ("ops_per_thread", num(r.cfg.ops as f64)),
                ("batch", num(r.cfg.batch as u32)),
                ("pinned", Json::Bool(r.pinned)),
                ("pair_ns", spread_json(rep.pair)),
                ("alloc_ns", spread_json(rep.alloc)),
                ("free_ns", spread_json(rep.free)),
                ("allocs", num(rep.allocs() as f64)),
                ("frees", num(rep.frees() as f64)),
                ("failures", num(rep.failures() as f64)),
                (
                    "global_lock_per_1000_ops",
                    if pool {
                        num(rep.glock_per_1000())
                    } else {
                        Json::Null
                    },
                ),
                (
                    "remote_free_share",
                    if pool {
                        num(rep.remote_share())
                    } else {
                        Json::Null
                    },
                ),
                (
                    "rep_keys_ns",
                    Json::Arr(r.keys.iter().map(|&k| num(k)).collect()),
                ),
                (
                    "per_thread",
                    Json::Arr(
                        rep.threads
                            .iter()
                            .map(|t| {
                                obj(vec![
                                    ("rank", num(t.rank as u32)),
                                    ("cpu", t.cpu.map_or(Json::Null, |c| num(c as u32))),
                                    ("allocs", num(t.allocs as f64)),
                                    ("frees", num(t.frees as f64)),
                                    ("failures", num(t.failures as f64)),
                                    ("alloc_ns", num(t.alloc_ns as f64)),
                                    ("free_ns", num(t.free_ns as f64)),
                                    ("total_ns", num(t.total_ns as f64)),
                                ])
                            })
                            .collect(),
                    ),
                ),
                (
                    "cpu_counters",
                    if pool {
                        counters_json(|f| rep.cpu.for_each(f))
                    } else {
                        Json::Null
                    },
                ),
                (
                    "global_counters",
                    if pool {
                        counters_json(|f| rep.global.for_each(f))
                    } else {
                        Json::Null
                    },
                ),
            ])
        })
        .collect();
    obj(vec![
        ("profile", Json::Str(m.profile.clone())),
        ("debug_assertions", Json::Bool(m.debug_assertions)),
        ("overflow_checks", Json::Bool(m.overflow_checks)),
        ("cpu_model", Json::Str(m.cpu_model.clone())),
        ("hypervisor", Json::Bool(m.hypervisor)),
        ("kernel", Json::Str(m.kernel.clone())),
        (
            "cpus",
            Json::Arr(m.cpus.iter().map(|&c| num(c as u32)).collect()),
        ),
        ("pin", Json::Bool(o.pin)),
        ("scheduling", Json::Str(m.scheduling.clone())),
        (
            "pinned",
            Json::Bool(o.pin && results.iter().all(|r| r.pinned)),
        ),
        ("clock_read_ns", num(m.clock_ns)),
        (
            "line_transfer_ns",
            m.line_ns.map_or(Json::Null, |l| {
                obj(vec![
                    ("min", num(l.min)),
                    ("median", num(l.avg)),
                    ("max", num(l.max)),
                ])
            }),
        ),
        ("others_cpu_percent_during_run", num(load.0)),
        ("steal_percent_during_run", num(load.1)),
        ("loadavg_before", Json::Str(m.loadavg.clone())),
        ("qemu_processes_before", num(m.qemu_running as u32)),
        ("pool_mb", num(o.pool_mb as u32)),
        ("block_order", num(BLOCK_ORDER)),
        ("blocks", num(o.nr_blocks() as u32)),
        ("ops_order0", num(o.ops as f64)),
        ("reps", num(o.reps as u32)),
        ("quick", Json::Bool(o.quick)),
        ("seconds", num(seconds)),
        ("runs", Json::Arr(runs)),
    ])
}

fn cell(s: Option<Spread>) -> String {
    s.map_or("–".into(), |s| {
        format!("{:.1} / {:.1} / {:.1}", s.min, s.avg, s.max)
    })
}

/// How far apart the timed repetitions were: (slowest − fastest) / median.
fn rep_spread(r: &RunResult) -> String {
    let min = r.keys.iter().copied().fold(f64::INFINITY, f64::min);
    let max = r.keys.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if r.keys.len() < 2 {
        return "–".into();
    }
    format!("{:.0} %", (max - min) / r.median.key() * 100.0)
}

fn pattern_title(p: Pattern) -> &'static str {
    match p {
        Pattern::Repeat => "alloc + free of the same run, ns per pair (the fast path)",
        Pattern::Bulk => "alloc `batch` runs, then free them; each phase timed",
        Pattern::Rand => {
            "alloc `batch` runs; barrier; free another thread's set (a different one each \
             round, one's own one round in N); barrier"
        }
        Pattern::Remote => {
            "threads 1..N−1 allocate and push into a ring each; thread 0 pops and frees \
             (alloc: producers' loop per allocation; free: thread 0's loop per free)"
        }
        Pattern::Interfere => {
            "thread 0 runs repeat at order 0 (ns/pair) while threads 1..N−1 run bulk at the \
             row's order on the same pool (their alloc and free ns/op): false sharing between \
             the slow paths' writes and the fast path's data would slow thread 0"
        }
    }
}

fn markdown(
    o: &Options,
    m: &Machine,
    results: &[RunResult],
    seconds: f64,
    load: (f64, f64),
) -> String {
    let mut s = String::new();
    let pinned = o.pin && results.iter().all(|r| r.pinned);
    let _ = writeln!(
        s,
        "## Host-native contention (`rust/core/benches/contention.rs`)\n"
    );
    let _ = writeln!(
        s,
        "The allocator core (the same source files the module compiles) on the host, one OS \
         thread per \"CPU\", each owning its magazine, calling `Pool::alloc`/`Pool::free` \
         directly; spinlocks like the kernel's, per-CPU data cache-line aligned as in the \
         module.\n\n\
         * **Can show**: real atomics and real cache-line transfers between real cores: false \
         sharing, lock contention, the cost of remote frees and of the refill/flush paths, the \
         core's instructions at full speed.\n\
         * **Cannot show**: the kernel. No interrupts off/on around each call, no `struct page` \
         (no refcount check, no page ↔ index arithmetic, no `FrameTable` lookup), no per-CPU \
         segment addressing (`this_cpu_ptr`), no NMI check; the host may preempt a thread at \
         any point (also while it holds a spinlock), which no kernel thread with interrupts off \
         suffers. The kernel adds those costs per call (see `Documentation/core.md`, *Fast \
         paths*).\n"
    );
    let cpu_list = m
        .cpus
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let rows = [
        ("profile", m.profile.clone()),
        (
            "CPU",
            format!(
                "{} ({} CPUs usable: {cpu_list}){}",
                m.cpu_model,
                m.cpus.len(),
                if m.hypervisor {
                    "; a virtual machine (hypervisor flag): the \"cores\" are the host's vCPU \
                     threads"
                } else {
                    ""
                }
            ),
        ),
        ("kernel", m.kernel.clone()),
        (
            "threads pinned",
            if pinned {
                "yes: thread i on the i-th usable CPU (sched_setaffinity)".into()
            } else if o.pin {
                "no: sched_setaffinity failed for some thread".into()
            } else {
                "no (--no-pin)".into()
            },
        ),
        ("scheduling", m.scheduling.clone()),
        (
            "pool",
            format!(
                "{} MiB = {} blocks of order {BLOCK_ORDER} (2 MiB); a fresh pool per run",
                o.pool_mb,
                o.nr_blocks()
            ),
        ),
        (
            "operations",
            format!(
                "{} allocations per allocating thread at order 0, max(N >> k, N >> 3) at order \
                 k; one warm-up repetition (1/8 of that), then {} timed, the median shown",
                o.ops, o.reps
            ),
        ),
        (
            "cache-line transfer",
            m.line_ns
                .map_or("not measured (one CPU, or --quick)".into(), |l| {
                    format!(
                    "{:.0} / {:.0} / {:.0} ns (min / median / max of 10 batches) one way between \
                     the first two CPUs, ping-pong on one atomic: the unit of every cross-thread \
                     cost below",
                    l.min, l.avg, l.max
                )
                }),
        ),
        (
            "clock",
            format!(
                "`Instant::now()` costs {:.1} ns; bulk and rand read it twice per phase of \
                 `batch` operations",
                m.clock_ns
            ),
        ),
        (
            "other load",
            format!(
                "before the run: load average {}, {} qemu-system process(es); during it: {}",
                m.loadavg,
                m.qemu_running,
                if load.0.is_nan() {
                    "too short to tell".into()
                } else {
                    format!(
                        "other processes used {:.1} % of all CPUs' time, the hypervisor stole \
                         {:.1} %",
                        load.0, load.1
                    )
                }
            ),
        ),
        (
            "run time",
            format!("{seconds:.1} s{}", if o.quick { " (--quick)" } else { "" }),
        ),
    ];
    let _ = writeln!(s, "| | |\n|---|---|");
    for (k, v) in rows {
        let _ = writeln!(s, "| {k} | {v} |");
    }
    let _ = writeln!(
        s,
        "\nns/op cells are min / avg / max over the threads. `glock/1k`: global-lock \
         acquisitions made on behalf of the CPUs per 1000 allocations and frees; `remote`: share \
         of the frees that went lock-free to another CPU's block (parked); both from the pool's \
         counters over the timed repetition (pool backends only). `reps`: (slowest − fastest) / \
         median of the timed repetitions."
    );

    for &pattern in &o.patterns {
        let runs: Vec<&RunResult> = results
            .iter()
            .filter(|r| r.cfg.pattern == pattern)
            .collect();
        let _ = writeln!(s, "\n### {}: {}\n", pattern.name(), pattern_title(pattern));
        if runs.is_empty() {
            let _ = writeln!(s, "No runs (remote needs at least 2 threads).");
            continue;
        }
        if pattern == Pattern::Repeat {
            let _ = writeln!(
                s,
                "| order | backend | threads | ns/pair | glock/1k | remote | failures | reps |\n\
                 |---|---|---|---|---|---|---|---|"
            );
        } else if pattern == Pattern::Interfere {
            let _ = writeln!(
                s,
                "| order | backend | threads | batch | thread 0 ns/pair (order 0) | others' alloc \
                 ns/op | others' free ns/op | glock/1k | remote | failures | reps |\n\
                 |---|---|---|---|---|---|---|---|---|---|---|"
            );
        } else {
            let _ = writeln!(
                s,
                "| order | backend | threads | batch | alloc ns/op | free ns/op | glock/1k | \
                 remote | failures | reps |\n|---|---|---|---|---|---|---|---|---|---|"
            );
        }
        for r in &runs {
            let rep = &r.median;
            let (glock, remote) = if r.cfg.backend.is_pool() {
                (
                    format!("{:.2}", rep.glock_per_1000()),
                    format!("{:.0} %", rep.remote_share() * 100.0),
                )
            } else {
                ("–".into(), "–".into())
            };
            let head = format!(
                "| {} | {} | {} |",
                r.cfg.order,
                r.cfg.backend.name(),
                r.cfg.threads
            );
            if pattern == Pattern::Repeat {
                let _ = writeln!(
                    s,
                    "{head} {} | {glock} | {remote} | {} | {} |",
                    cell(rep.pair),
                    rep.failures(),
                    rep_spread(r)
                );
            } else if pattern == Pattern::Interfere {
                let _ = writeln!(
                    s,
                    "{head} {} | {} | {} | {} | {glock} | {remote} | {} | {} |",
                    r.cfg.batch,
                    cell(rep.pair),
                    cell(rep.alloc),
                    cell(rep.free),
                    rep.failures(),
                    rep_spread(r)
                );
            } else {
                let _ = writeln!(
                    s,
                    "{head} {} | {} | {} | {glock} | {remote} | {} | {} |",
                    r.cfg.batch,
                    cell(rep.alloc),
                    cell(rep.free),
                    rep.failures(),
                    rep_spread(r)
                );
            }
        }
        if matches!(pattern, Pattern::Repeat | Pattern::Interfere) {
            let lines = scaling(&runs);
            if !lines.is_empty() {
                let what = if pattern == Pattern::Repeat {
                    "N threads ÷ 1 thread (ns per pair; 1.0 = no slowdown)"
                } else {
                    "thread 0 with N−1 others ÷ thread 0 alone (ns per pair; 1.0 = untouched)"
                };
                let _ = writeln!(s, "\n{what}:\n");
                for line in lines {
                    let _ = writeln!(s, "* {line}");
                }
            }
        }
    }
    s
}

/// Repeat's scaling: each thread's ns per pair with N threads over the 1-thread run's.
fn scaling(runs: &[&RunResult]) -> Vec<String> {
    let mut lines = Vec::new();
    for one in runs.iter().filter(|r| r.cfg.threads == 1) {
        let Some(base) = one.median.pair else {
            continue;
        };
        for many in runs.iter().filter(|r| {
            r.cfg.threads > 1 && r.cfg.order == one.cfg.order && r.cfg.backend == one.cfg.backend
        }) {
            if let Some(p) = many.median.pair {
                lines.push(format!(
                    "order {} {}, {} threads: avg {:.2}, slowest thread {:.2}",
                    one.cfg.order,
                    one.cfg.backend.name(),
                    many.cfg.threads,
                    p.avg / base.avg,
                    p.max / base.avg
                ));
            }
        }
    }
    lines
}

fn main() -> ExitCode {
    let cpus = allowed_cpus();
    let o = match Options::parse(cpus.len()) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    let machine = Machine::probe(cpus.clone(), o.pin, o.quick);
    let start = Instant::now();
    let times = CpuTimes::now();
    let mut results = Vec::new();
    for &pattern in &o.patterns {
        for &order in &o.orders {
            for &backend in &o.backends {
                for &threads in &o.threads {
                    if (pattern == Pattern::Remote && threads < 2) || !backend.runs(pattern) {
                        continue;
                    }
                    let cfg = RunConfig::new(pattern, backend, order, threads, &o);
                    let what = format!(
                        "{} {} order {order} {threads} thread(s)",
                        pattern.name(),
                        backend.name()
                    );
                    if !o.quick {
                        eprintln!("contention: {what}, {} ops", cfg.ops);
                    }
                    match run(cfg, &o, &cpus).and_then(|r| check_result(&r).map(|()| r)) {
                        Ok(r) => results.push(r),
                        Err(e) => {
                            eprintln!("contention: FAILED: {what}: {e}");
                            return ExitCode::FAILURE;
                        }
                    }
                }
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let load = CpuTimes::now().others_since(&times);
    let md = markdown(&o, &machine, &results, seconds, load);
    match &o.md {
        Some(path) => {
            if let Err(e) = std::fs::write(path, &md) {
                eprintln!("contention: {path}: {e}");
                return ExitCode::FAILURE;
            }
        }
        None => print!("{md}"),
    }
    if let Some(path) = &o.json {
        let json = format!("{}\n", json_report(&o, &machine, &results, seconds, load));
        if let Err(e) = std::fs::write(path, json) {
            eprintln!("contention: {path}: {e}");
            return ExitCode::FAILURE;
        }
    }
    eprintln!(
        "contention: {} runs in {seconds:.1} s, every result well formed and the pool whole \
         after each run",
        results.len()
    );
    ExitCode::SUCCESS
}
