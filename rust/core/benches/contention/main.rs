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
//! Files: `platform.rs` (the kernel-like spinlock and platform, the backends), `patterns.rs`
//! (barrier, rings, the patterns, the worker), `config.rs` (patterns, backends, options, one
//! run's parameters), `machine.rs` (pinning, the header's machine facts), `report.rs` (results,
//! Markdown and JSON); this file runs and checks.
//!
//! Why a harness of its own and not criterion or divan (both evaluated): the runs need threads
//! pinned to chosen CPUs (`sched_setaffinity`) that play *different* roles in one measurement
//! (remote: producers and one consumer; interfere: one thread on its fast path, the others on slow
//! paths), released together by one spinning barrier, with phases of a repetition timed separately
//! (alloc and free), the pool's counters snapshotted at repetition boundaries, and the pool
//! verified whole after every run. Criterion times one closure on the calling thread (with
//! `iter_custom`, whatever one `Duration` per sample the closure returns); divan's `threads`
//! option runs copies of one closure on unpinned threads, timing each sample as a whole. Neither
//! pins, gives threads distinct roles, times phases inside a repetition, or writes this report's
//! Markdown tables and JSON (ns/op min/avg/max over threads, global-lock acquisitions per 1000
//! operations, remote share, spread of repetitions) that `scripts/host-bench.sh`, `make bench` and
//! `Documentation/results/` use. The single-thread pair, which they do express, is on divan:
//! `benches/pair.rs`.
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

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize};
use std::sync::Mutex;
use std::time::Instant;

use pcpbuddy_core::{BlockKind, Magazine, Pool};

use config::{Backend, Options, Pattern, RunConfig};
use machine::{allowed_cpus, pin_to, CpuTimes, Machine};
use patterns::{worker, Ctx, Exchange, Ring, SpinBarrier, ThreadResult};
use platform::{Api, FloorApi, HostPlatform, HostPool, Padded, PoolApi, BLOCK_ORDER};
use report::{json_report, markdown, Rep, RunResult};

/// Runs per round (bulk, rand) at most, as the kernel's default `batch`.
const DEFAULT_BATCH: usize = 64;
/// Ring slots per producer (remote) at most, as the kernel's default.
const DEFAULT_RING: usize = 256;

mod config;
mod machine;
mod patterns;
mod platform;
mod report;

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
                        let mut api = PoolApi::new(&pools_ref[rank % nr_pools], &mut mag.0);
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
