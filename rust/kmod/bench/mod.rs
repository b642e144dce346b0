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
//!
//! The parts: [`config`] (the request), [`patterns`] (each thread's loop), [`backends`],
//! [`measure`] (counters and samples), [`session`] (what a run holds) and [`threads`] (starting,
//! waiting for and timing the threads, shared with the replays); this file runs a benchmark and
//! collects its results.

mod backends;
mod config;
mod measure;
mod patterns;
mod session;
mod threads;

pub(crate) use backends::{Api, FloorApi, KernelApi, PoolApi, FLOOR_TOKENS};
pub(crate) use config::Backend;
pub(crate) use measure::{counter_delta, counters, fragmentation_sample};
pub(crate) use session::{NoHotplug, Session};
pub(crate) use threads::{ns, wait_for, Clock, Instant, Readiness, Threads};

use crate::{glue, kernel_pool::KernelPool, nodes::NodePools, uapi};
use config::{Config, Pattern};
use core::{
    hint::spin_loop,
    sync::atomic::{
        AtomicBool, AtomicU64, AtomicUsize,
        Ordering::{AcqRel, Acquire, Relaxed, Release},
    },
};
use kernel::{bindings, prelude::*, time::Delta};
use patterns::{workers, Exchange, Ring, Worker};

/// Operations between two looks at the stop flag (and `cond_resched()`).
pub(crate) const CHECK_EVERY: u64 = 64;

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

/// A `KVVec` of `n` zeroed handles.
pub(crate) fn zeroed<T: Default>(n: usize) -> Result<KVVec<T>> {
    let mut v = KVVec::with_capacity(n, GFP_KERNEL)?;
    for _ in 0..n {
        v.push(T::default(), GFP_KERNEL)?;
    }
    Ok(v)
}

/// What the threads share.
///
/// # Invariants
///
/// `exchange` has `cfg.nr_alloc` sets of `cfg.batch` slots for `rand`, `exit` and `softirq`;
/// `rings` has `cfg.nr_alloc` rings of `cfg.batch` slots for `remote`; `floor` is there for
/// the floor backend. A thread indexes them with its allocating rank, below `cfg.nr_alloc`.
struct Run<'a> {
    cfg: Config,
    pool: &'a KernelPool,
    ready: Pin<KBox<Readiness>>,
    go: AtomicBool,
    /// Not every thread could be started: do nothing.
    abort: AtomicBool,
    /// Stop early (signal): every thread stops at its next check and frees what it holds.
    stop: AtomicBool,
    done: AtomicUsize,
    clock: Clock,
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
    run.ready.arrive();
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
    run.end_ns.fetch_max(run.clock.now(), Relaxed);
    run.done.fetch_add(1, Release);
    0
}

/// Runs the benchmark described by `req` and fills in its results. The run sizes itself by the
/// first pool (the lowest node's, with one pool per node) and samples its fragmentation; its
/// API calls reach each CPU's own node's pool, so the policy, the drains and the counters are
/// every pool's.
pub(crate) fn run(pools: &NodePools, req: &mut uapi::Bench) -> Result {
    let pool = pools.first();
    let _no_hotplug = NoHotplug::new();
    let cfg = Config::parse(pool, req)?;
    let session = Session::begin(pools, cfg.backend)?;

    let mut exchange = KVVec::new();
    let mut rings = KVVec::new();
    match cfg.pattern {
        Pattern::Rand | Pattern::Exit | Pattern::Softirq => {
            for _ in 0..cfg.nr_alloc {
                // INVARIANT: an empty set.
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
    // INVARIANT: the sets, rings and floor were made above for `cfg`'s pattern and backend.
    let run = Run {
        cfg,
        pool,
        ready: Readiness::new()?,
        go: AtomicBool::new(false),
        abort: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        done: AtomicUsize::new(0),
        clock: Clock::new(),
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
    if let Some(dest) = run.cfg.peak_map {
        if let Some(peak) = workers.iter().find_map(|w| w.peak.as_ref()) {
            peak.probe(dest)?;
        }
    }
    let before = counters(pools);

    // Start one bound thread per CPU; they wait for `go`.
    // SAFETY: `thread_main` takes a `Worker`, used by its thread only; the workers and `run`
    // live until the threads are stopped below.
    let (threads, started) =
        unsafe { Threads::start(&mut workers, |w| w.cpu, thread_main, &run.ready)? };
    run.abort.store(!started, Release);
    let mut interrupted = false;
    run.ready.wait();
    run.start_ns.store(run.clock.now(), Relaxed);
    run.go.store(true, Release);
    let n = threads.len();
    wait_for(&run.stop, &mut interrupted, Delta::from_millis(5), || {
        run.done.load(Acquire) >= n
    });
    threads.stop();
    if run.abort.load(Relaxed) {
        return Err(ENOMEM);
    }

    // Results.
    let after = counters(pools);
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
    if let Some(dest) = run.cfg.peak_map {
        if let Some(peak) = workers.iter().find_map(|w| w.peak.as_ref()) {
            peak.write(dest, req)?;
        }
    }
    drop(session);
    if interrupted {
        return Err(EINTR);
    }
    Ok(())
}
