// SPDX-License-Identifier: GPL-2.0

//! Replays of recorded allocation traces (`PCPBUDDY_IOC_REPLAY`): real workloads, recorded from
//! the kernel's own `kmem` tracepoints and turned into a list of operations by
//! `pcpbctl trace import`, run against one backend at a time through the same calls as the
//! benchmarks ([`crate::bench`]). The method is in `Documentation/benchmarks.md`, "Replay".
//!
//! A trace is a list of operations in recorded order, each an allocation or a free of `2^order`
//! pages made by a recorded CPU. Allocations are numbered in trace order; a free names the
//! allocation it frees. The run has one kthread per CPU of the run, bound to it; recorded CPU
//! `c` is mapped onto the run's CPU number `c % n`, and each thread runs the operations of the
//! recorded CPUs mapped onto it in trace order (a subsequence of the trace).
//!
//! # A free never runs before its allocation
//!
//! A free whose allocation another thread makes waits (spinning with `cpu_relax()`, now and then
//! `cond_resched()`) until that thread has published the allocation's handle. This cannot
//! deadlock: allocations never wait (one that fails is published as failed), and every thread
//! runs its operations in increasing trace position. Take the waiting operation with the
//! smallest trace position among all threads' next operations; its allocation comes earlier in
//! the trace, so the thread that makes it has already passed it (that thread's next operation is
//! at a larger position), and has published it: that free proceeds. So some thread always
//! makes progress, until every stream is done or the run is stopped.
//!
//! # The live set and the pool's size
//!
//! Validation walks the trace in recorded order and keeps the live set (pages allocated and not
//! freed). An allocation that would take it above the pool's size is left out on every backend,
//! with its free (`over_budget`): the kernel's allocator is never asked for more than the pool
//! holds, and every backend sees the same operations. An allocation that the backend still
//! cannot serve (the pool's pages cached by other CPUs and not reclaimable, fragmentation) is a
//! failure; its free is skipped. Allocations still live at the end of the trace (never freed in
//! the recorded window, or cut short by a signal) are freed after the timed part, by the thread
//! that made them.

use crate::{
    bench::{self, Api, Backend, FloorApi, Instant, KernelApi, NoHotplug, PoolApi, Session},
    glue,
    kernel_pool::KernelPool,
    nodes::NodePools,
    uapi,
};
use core::{
    hint::spin_loop,
    sync::atomic::{
        AtomicBool, AtomicU64, AtomicUsize,
        Ordering::{Acquire, Relaxed, Release},
    },
};
use kernel::{
    bindings,
    prelude::*,
    time::Delta,
    transmute::AsBytes,
    uaccess::{UserPtr, UserSlice},
};

/// How often the ioctl looks at the threads' progress and at signals.
const POLL: Delta = Delta::from_millis(2);

/// Operations read from user space at a time.
const CHUNK: usize = 4096;

/// An allocation's slot before it is made; a page pointer (or floor token) is never this small.
const PENDING: usize = 0;
/// The allocation failed: its free is skipped.
const FAILED: usize = 1;
/// The allocation was freed.
const FREED: usize = 2;

/// What an operation of a thread's stream does.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Alloc,
    /// A free of an allocation this thread made.
    FreeLocal,
    /// A free of an allocation another thread made: it may have to wait for it.
    FreeRemote,
}

/// One operation of a thread's stream.
#[derive(Clone, Copy)]
struct Op {
    id: u32,
    order: u8,
    kind: Kind,
}

/// Per allocation, from validation.
#[derive(Clone, Copy, Default)]
struct AllocMeta {
    order: u8,
    /// The thread that makes it.
    owner: u8,
    /// A free of it was seen.
    freed: bool,
    /// Left out: the live set would have grown above the pool.
    over: bool,
}

/// A validated trace, split into one stream per thread.
///
/// # Invariants
///
/// `cpus`, `recorded` and `streams` have one element per thread, no stream empty; every
/// operation's `id` is below `meta.len()`; no stream holds an allocation that is `over` (left
/// out) or its free; for every other allocation `meta[id].owner` is the thread whose stream
/// makes it, and its free (if any) comes after it in trace order.
struct Trace {
    /// The CPU of each thread (only CPUs whose stream is not empty).
    cpus: KVec<u32>,
    /// Recorded CPUs mapped onto each thread.
    recorded: KVec<u32>,
    streams: KVec<KVVec<Op>>,
    meta: KVVec<AllocMeta>,
    over_budget: u64,
    peak_live: u64,
}

/// The CPUs of the run: the mask's, or every online CPU below 64.
fn run_cpus(mask: u64) -> Result<KVec<u32>> {
    let mut cpus = KVec::new();
    for cpu in 0..64u32 {
        let wanted = mask == 0 || mask & (1u64 << cpu) != 0;
        if !wanted {
            continue;
        }
        if glue::cpu_online(cpu) {
            cpus.push(cpu, GFP_KERNEL)?;
        } else if mask != 0 {
            return Err(EINVAL);
        }
    }
    if cpus.is_empty() {
        return Err(EINVAL);
    }
    Ok(cpus)
}

/// Checks the fields of the request other than the operations.
fn check_header(req: &uapi::Replay) -> Result<Backend> {
    let backend = Backend::from_abi(req.backend).ok_or(EINVAL)?;
    if req.flags != 0 || req.nr_ops == 0 || req.nr_ops > uapi::REPLAY_MAX_OPS {
        return Err(EINVAL);
    }
    run_cpus(req.cpu_mask)?;
    Ok(backend)
}

/// Copies the operations from user space (`EFAULT` if they cannot be read).
fn read_ops(req: &uapi::Replay) -> Result<KVVec<uapi::ReplayOp>> {
    // At most `REPLAY_MAX_OPS` (checked), so the size fits.
    let n = req.nr_ops as usize;
    let bytes = n * size_of::<uapi::ReplayOp>();
    let addr = usize::try_from(req.ops).map_err(|_| EFAULT)?;
    let mut reader = UserSlice::new(UserPtr::from_addr(addr), bytes).reader();
    let mut ops = KVVec::with_capacity(n, GFP_KERNEL)?;
    let mut chunk = KVVec::with_capacity(CHUNK, GFP_KERNEL)?;
    chunk.resize(CHUNK, uapi::ReplayOp::default(), GFP_KERNEL)?;
    let mut left = n;
    while left > 0 {
        let take = left.min(CHUNK);
        reader.read_slice(chunk[..take].as_bytes_mut())?;
        ops.extend_from_slice(&chunk[..take], GFP_KERNEL)?;
        left -= take;
    }
    Ok(ops)
}

impl Trace {
    /// Validates `ops` and splits them over the run's CPUs (`EINVAL` for a bad operation).
    fn new(pool: &KernelPool, ops: &[uapi::ReplayOp], cpus: &[u32]) -> Result<Self> {
        let n = cpus.len();
        let block_order = pool.block_order();
        let budget = pool.info().nr_pages;
        let mut streams: KVec<KVVec<Op>> = KVec::with_capacity(n, GFP_KERNEL)?;
        for _ in 0..n {
            streams.push(KVVec::new(), GFP_KERNEL)?;
        }
        // Which recorded CPUs were seen (CPU numbers are `u16`).
        let mut seen: KVVec<u64> = bench::zeroed(1 << 10)?;
        let mut recorded: KVec<u32> = KVec::with_capacity(n, GFP_KERNEL)?;
        recorded.resize(n, 0, GFP_KERNEL)?;
        let mut meta: KVVec<AllocMeta> = KVVec::new();
        let (mut live, mut peak, mut over_budget) = (0u64, 0u64, 0u64);
        for (i, op) in ops.iter().enumerate() {
            if i % 65536 == 0 {
                glue::cond_resched();
            }
            if op.flags & !uapi::REPLAY_OP_FREE != 0 || u32::from(op.order) > block_order {
                return Err(EINVAL);
            }
            let cpu = usize::from(op.cpu);
            // `n > 0` (`run_cpus` never returns an empty list); `max` lets the compiler see it.
            let thread = cpu % n.max(1);
            let word = &mut seen[cpu >> 6];
            if *word & (1u64 << (cpu & 63)) == 0 {
                *word |= 1u64 << (cpu & 63);
                recorded[thread] += 1;
            }
            let pages = 1u64 << op.order;
            if op.flags & uapi::REPLAY_OP_FREE == 0 {
                if op.id as usize != meta.len() {
                    return Err(EINVAL);
                }
                let over = live + pages > budget;
                meta.push(
                    AllocMeta {
                        order: op.order,
                        owner: thread as u8,
                        freed: false,
                        over,
                    },
                    GFP_KERNEL,
                )?;
                if over {
                    over_budget += 1;
                    continue;
                }
                live += pages;
                peak = peak.max(live);
                streams[thread].push(
                    Op {
                        id: op.id,
                        order: op.order,
                        kind: Kind::Alloc,
                    },
                    GFP_KERNEL,
                )?;
            } else {
                let m = meta.get_mut(op.id as usize).ok_or(EINVAL)?;
                if m.freed || m.order != op.order {
                    return Err(EINVAL);
                }
                m.freed = true;
                if m.over {
                    continue;
                }
                live -= pages;
                let kind = if usize::from(m.owner) == thread {
                    Kind::FreeLocal
                } else {
                    Kind::FreeRemote
                };
                streams[thread].push(
                    Op {
                        id: op.id,
                        order: op.order,
                        kind,
                    },
                    GFP_KERNEL,
                )?;
            }
        }
        // Only the CPUs that have something to do get a thread; owners are renumbered.
        let mut renumber = [0u8; uapi::BENCH_MAX_CPUS];
        let mut kept_cpus = KVec::new();
        let mut kept_recorded = KVec::new();
        let mut kept_streams = KVec::new();
        for (i, stream) in streams.into_iter().enumerate() {
            if stream.is_empty() {
                continue;
            }
            renumber[i] = kept_streams.len() as u8;
            kept_cpus.push(cpus[i], GFP_KERNEL)?;
            kept_recorded.push(recorded[i], GFP_KERNEL)?;
            kept_streams.push(stream, GFP_KERNEL)?;
        }
        for m in meta.iter_mut() {
            m.owner = renumber[usize::from(m.owner)];
        }
        // INVARIANT: allocations are numbered in trace order and a free names an earlier one
        // (both checked above); `over` ones were kept out of the streams with their frees; the
        // owners were renumbered with the streams kept, which are the non-empty ones.
        Ok(Self {
            cpus: kept_cpus,
            recorded: kept_recorded,
            streams: kept_streams,
            meta,
            over_budget,
            peak_live: peak,
        })
    }
}

/// What the threads share.
///
/// # Invariants
///
/// `handles` has one slot per allocation of the trace (`meta.len()`); `floor` is there for the
/// floor backend.
struct Shared {
    backend: Backend,
    meta: KVVec<AllocMeta>,
    /// Per allocation: `PENDING`, `FAILED`, `FREED` or its handle.
    handles: KVVec<AtomicUsize>,
    ready: Pin<KBox<bench::Readiness>>,
    go: AtomicBool,
    /// Not every thread could be started: run nothing.
    abort: AtomicBool,
    /// Stop early (signal): every thread leaves its stream at its next check.
    stop: AtomicBool,
    clock: bench::Clock,
    start_ns: AtomicU64,
    end_ns: AtomicU64,
    /// Threads done with their stream.
    streamed: AtomicUsize,
    /// Set by the ioctl once it has taken the end-of-trace sample: free what is left.
    finish: AtomicBool,
    /// Threads done with everything.
    done: AtomicUsize,
    floor: Option<glue::Floor>,
}

/// One thread's state, written by that thread only.
///
/// # Invariants
///
/// `shared` points to the [`Shared`] of the run, which outlives the worker's thread.
struct Worker {
    shared: *const Shared,
    index: usize,
    stream: KVVec<Op>,
    result: uapi::ReplayCpu,
}

impl Worker {
    /// Runs the stream, in order; stops early when the run is stopped.
    fn stream<A: Api>(&mut self, shared: &Shared, api: &mut A) {
        let start = Instant::now();
        let mut wait_ns = 0;
        for (i, op) in self.stream.iter().enumerate() {
            let slot = &shared.handles[op.id as usize];
            let order = u32::from(op.order);
            match op.kind {
                Kind::Alloc => {
                    let handle = api.alloc(order);
                    if handle == 0 {
                        self.result.failures += 1;
                        slot.store(FAILED, Release);
                    } else {
                        self.result.allocs += 1;
                        slot.store(handle, Release);
                    }
                }
                Kind::FreeLocal | Kind::FreeRemote => {
                    let mut handle = slot.load(Acquire);
                    if handle == PENDING {
                        // Only a remote free can get here (see the module's doc: the wait ends).
                        let t0 = Instant::now();
                        let mut spins = 0u32;
                        while handle == PENDING && !shared.stop.load(Relaxed) {
                            spin_loop();
                            spins = spins.wrapping_add(1);
                            if spins % 1024 == 0 {
                                glue::cond_resched();
                            }
                            handle = slot.load(Acquire);
                        }
                        wait_ns += bench::ns(t0.elapsed());
                        if handle == PENDING {
                            break;
                        }
                    }
                    if handle == FAILED {
                        self.result.skipped_frees += 1;
                    } else {
                        api.free(handle, order);
                        slot.store(FREED, Relaxed);
                        self.result.frees += 1;
                        if op.kind == Kind::FreeRemote {
                            self.result.remote_frees += 1;
                        }
                    }
                }
            }
            if (i as u64) % bench::CHECK_EVERY == 0 {
                if shared.stop.load(Relaxed) {
                    break;
                }
                glue::cond_resched();
            }
        }
        let end = Instant::now();
        self.result.wait_ns = wait_ns;
        self.result.total_ns = bench::ns(end - start).saturating_sub(wait_ns);
        shared.end_ns.fetch_max(shared.clock.at(end), Relaxed);
    }

    /// Frees what this thread allocated and nobody freed: untimed.
    fn free_the_rest<A: Api>(&mut self, shared: &Shared, api: &mut A) {
        for (id, m) in shared.meta.iter().enumerate() {
            if m.over || usize::from(m.owner) != self.index {
                continue;
            }
            let handle = shared.handles[id].load(Acquire);
            if handle != PENDING && handle != FAILED && handle != FREED {
                api.free(handle, u32::from(m.order));
                shared.handles[id].store(FREED, Relaxed);
                self.result.frees_at_end += 1;
            }
            if id % 4096 == 0 {
                glue::cond_resched();
            }
        }
    }

    fn run_with<A: Api>(&mut self, shared: &Shared, mut api: A) {
        if !shared.abort.load(Acquire) {
            self.stream(shared, &mut api);
        }
        shared.streamed.fetch_add(1, Release);
        bench::spin_until(|| shared.finish.load(Acquire));
        self.free_the_rest(shared, &mut api);
    }
}

/// The kthread body.
///
/// # Safety
///
/// `data` points to a [`Worker`] that only this thread uses, whose `shared` outlives the thread.
unsafe extern "C" fn thread_main(data: *mut c_void) -> c_int {
    // SAFETY: By the function's contract.
    let worker = unsafe { &mut *data.cast::<Worker>() };
    // SAFETY: By the function's contract (and the `Worker` invariant).
    let shared = unsafe { &*worker.shared };
    if let Some(floor) = &shared.floor {
        floor.reset(bench::FLOOR_TOKENS);
    }
    shared.ready.arrive();
    bench::spin_until(|| shared.go.load(Acquire));
    let gfp = bindings::GFP_KERNEL | bindings::__GFP_NOWARN;
    match shared.backend {
        Backend::Pool | Backend::PoolClassic => {
            worker.run_with(shared, PoolApi { gfp, folio: false })
        }
        Backend::Kernel => worker.run_with(shared, KernelApi { gfp, folio: false }),
        Backend::Floor => match &shared.floor {
            Some(floor) => worker.run_with(shared, FloorApi(floor)),
            // `run` makes a floor for every floor replay.
            None => worker.result.failures = worker.result.failures.saturating_add(1),
        },
    }
    shared.done.fetch_add(1, Release);
    0
}

/// Runs the replay described by `req` and fills in its results: sized by the first pool, whose
/// fragmentation it samples; the policy, the drains and the counters are every pool's (as for
/// the benchmark, [`bench::run`]).
pub(crate) fn run(pools: &NodePools, req: &mut uapi::Replay) -> Result {
    let pool = pools.first();
    let backend = check_header(req)?;
    // Copied before taking the hotplug lock: a page fault must not wait under it.
    let ops = read_ops(req)?;
    let _no_hotplug = NoHotplug::new();
    let cpus = run_cpus(req.cpu_mask)?;
    let trace = Trace::new(pool, &ops, &cpus)?;
    drop(ops);
    let session = Session::begin(pools, backend)?;

    let mut handles = KVVec::with_capacity(trace.meta.len(), GFP_KERNEL)?;
    for _ in 0..trace.meta.len() {
        handles.push(AtomicUsize::new(PENDING), GFP_KERNEL)?;
    }
    let floor = (backend == Backend::Floor)
        .then(glue::Floor::new)
        .transpose()?;
    let Trace {
        cpus,
        recorded,
        streams,
        meta,
        over_budget,
        peak_live,
    } = trace;
    let nr_allocs = meta.len() as u64;
    // INVARIANT: `handles` was made with one slot per allocation, `floor` for the floor backend.
    let shared = Shared {
        backend,
        meta,
        handles,
        ready: bench::Readiness::new()?,
        go: AtomicBool::new(false),
        abort: AtomicBool::new(false),
        stop: AtomicBool::new(false),
        clock: bench::Clock::new(),
        start_ns: AtomicU64::new(0),
        end_ns: AtomicU64::new(0),
        streamed: AtomicUsize::new(0),
        finish: AtomicBool::new(false),
        done: AtomicUsize::new(0),
        floor,
    };
    let mut workers: KVec<KBox<Worker>> = KVec::with_capacity(cpus.len(), GFP_KERNEL)?;
    for (index, stream) in streams.into_iter().enumerate() {
        let result = uapi::ReplayCpu {
            cpu: cpus[index],
            recorded_cpus: recorded[index],
            ops: stream.len() as u64,
            ..Default::default()
        };
        // INVARIANT: `shared` outlives the workers' threads (they are stopped below).
        workers.push(
            KBox::new(
                Worker {
                    shared: &raw const shared,
                    index,
                    stream,
                    result,
                },
                GFP_KERNEL,
            )?,
            GFP_KERNEL,
        )?;
    }

    // Start one bound thread per CPU; they wait for `go`.
    // SAFETY: `thread_main` takes a `Worker`, used by its thread only; the workers and `shared`
    // live until the threads are stopped below.
    let (tasks, started) = unsafe {
        bench::Threads::start(&mut workers, |w| w.result.cpu, thread_main, &shared.ready)?
    };
    let aborted = !started;
    let threads = tasks.len();
    shared.abort.store(aborted, Release);
    let mut interrupted = false;
    shared.ready.wait();
    let before = bench::counters(pools);
    shared.start_ns.store(shared.clock.now(), Relaxed);
    shared.go.store(true, Release);
    bench::wait_for(&shared.stop, &mut interrupted, POLL, || {
        shared.streamed.load(Acquire) == threads
    });
    let after = bench::counters(pools);
    let start = shared.start_ns.load(Relaxed);
    let end = shared.end_ns.load(Relaxed).max(start);
    let mut samples = [uapi::BenchSample::default(); uapi::REPLAY_SAMPLES];
    let pool_backend = backend.is_pool() && !aborted;
    if pool_backend {
        samples[0] = bench::fragmentation_sample(pool, end - start);
    }
    shared.finish.store(true, Release);
    bench::wait_for(&shared.stop, &mut interrupted, POLL, || {
        shared.done.load(Acquire) == threads
    });
    tasks.stop();
    if aborted {
        return Err(ENOMEM);
    }
    if pool_backend {
        samples[1] = bench::fragmentation_sample(pool, shared.clock.now() - start);
        session.drain();
        samples[2] = bench::fragmentation_sample(pool, shared.clock.now() - start);
    }

    req.elapsed_ns = end - start;
    req.nr_allocs = nr_allocs;
    req.over_budget = over_budget;
    req.peak_live_pages = peak_live;
    req.nr_cpus = workers.len() as u32;
    req.nr_samples = if pool_backend {
        uapi::REPLAY_SAMPLES as u32
    } else {
        0
    };
    req.counters = if backend.is_pool() {
        bench::counter_delta(&before, &after)
    } else {
        uapi::BenchCounters::default()
    };
    for (i, slot) in req.cpus.iter_mut().enumerate() {
        *slot = workers.get(i).map(|w| w.result).unwrap_or_default();
    }
    req.samples = samples;
    drop(session);
    if interrupted {
        return Err(EINTR);
    }
    Ok(())
}
