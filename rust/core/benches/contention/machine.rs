//! Pinning and the machine: allowed CPUs, `sched_setaffinity`, the header's facts about the
//! machine, the build and the load.

use std::hint::{black_box, spin_loop};
use std::sync::atomic::{
    AtomicUsize,
    Ordering::{Acquire, Release},
};
use std::time::Instant;

use crate::platform::Padded;
use crate::report::Spread;

/// The CPUs this process may run on.
pub(crate) fn allowed_cpus() -> Vec<usize> {
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
pub(crate) fn pin_to(cpu: usize) -> bool {
    // SAFETY: as in `allowed_cpus`.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu < CPU_SETSIZE` (it came from `allowed_cpus`); `set` is valid.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: pid 0 is the calling thread; `set` is valid and of the size passed.
    unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) == 0 }
}

/// What the header says about the machine and the build.
pub(crate) struct Machine {
    pub(crate) cpu_model: String,
    pub(crate) hypervisor: bool,
    pub(crate) kernel: String,
    pub(crate) cpus: Vec<usize>,
    pub(crate) profile: String,
    pub(crate) debug_assertions: bool,
    pub(crate) overflow_checks: bool,
    pub(crate) clock_ns: f64,
    /// min, median (in `avg`) and max.
    pub(crate) line_ns: Option<Spread>,
    pub(crate) scheduling: String,
    pub(crate) loadavg: String,
    pub(crate) qemu_running: usize,
}

pub(crate) fn overflow_checks() -> bool {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let x = black_box(u8::MAX);
    let overflowed = std::panic::catch_unwind(|| black_box(x) + black_box(1u8)).is_err();
    std::panic::set_hook(hook);
    overflowed
}

/// The cargo profile: the name of the directory the binary was built into (`cargo bench` builds
/// the `bench` profile into `target/release`).
pub(crate) fn profile_dir() -> String {
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
pub(crate) fn clock_cost_ns() -> f64 {
    const N: u32 = 100_000;
    let t0 = Instant::now();
    for _ in 0..N {
        black_box(Instant::now());
    }
    t0.elapsed().as_nanos() as f64 / f64::from(N)
}

/// Busy and steal time of the whole machine, and this process's CPU time, in clock ticks.
#[derive(Clone, Copy, Default)]
pub(crate) struct CpuTimes {
    pub(crate) busy: u64,
    pub(crate) steal: u64,
    pub(crate) total: u64,
    pub(crate) own: u64,
}

impl CpuTimes {
    pub(crate) fn now() -> Self {
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
    pub(crate) fn others_since(&self, earlier: &Self) -> (f64, f64) {
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
pub(crate) fn line_transfer_ns(cpus: &[usize], pin: bool) -> Option<Spread> {
    pub(crate) const ROUNDS: usize = 10_000;
    pub(crate) const BATCHES: usize = 11;
    pub(crate) const STOP: usize = usize::MAX;
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
pub(crate) fn scheduling() -> String {
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

pub(crate) fn qemu_processes() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return 0;
    };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with("qemu-system"))
        .count()
}

impl Machine {
    pub(crate) fn probe(cpus: Vec<usize>, pin: bool, quick: bool) -> Self {
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
