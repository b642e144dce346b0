// SPDX-License-Identifier: GPL-2.0

//! Rust mirror of `include/uapi/linux/pcpbuddy.h`, the `/dev/pcpbuddy` ioctl ABI.
//!
//! The header is the source of truth. The sizes are pinned by `const` assertions below, and the
//! test at the end of this file compiles a small C program against the header and compares every
//! size, field offset and command number with these definitions.

use serde::Serialize;
use std::mem::size_of;

/// `PCPBUDDY_ABI_VERSION`: the version this tool was written for.
pub const ABI_VERSION: u32 = 1;
/// `PCPBUDDY_IOC_MAGIC`.
pub const IOC_MAGIC: u32 = 0xB7;

/// `PCPBUDDY_BENCH_MAX_CPUS`.
pub const BENCH_MAX_CPUS: usize = 64;
/// `PCPBUDDY_BENCH_MAX_SAMPLES`.
pub const BENCH_MAX_SAMPLES: usize = 32;

/// `PCPBUDDY_BENCH_ROLE_ALLOC`.
pub const ROLE_ALLOC: u32 = 1 << 0;
/// `PCPBUDDY_BENCH_ROLE_FREE`.
pub const ROLE_FREE: u32 = 1 << 1;

/// `struct pcpbuddy_info`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, Serialize)]
pub struct Info {
    pub abi_version: u32,
    pub block_order: u32,
    pub page_size: u32,
    pub nr_cpu_ids: u32,
    pub source: u32,
    pub node: i32,
    pub size_bytes: u64,
    pub nr_pages: u64,
    pub outstanding_pages: u64,
    pub metadata_bytes: u64,
}

/// `struct pcpbuddy_alloc`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Alloc {
    pub order: u32,
    pub cpu: i32,
    pub flags: u32,
    pub handle: u32,
    pub pfn: u64,
}

/// `struct pcpbuddy_free`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct Free {
    pub handle: u32,
    pub cpu: i32,
    pub order: u32,
    pub flags: u32,
}

/// `struct pcpbuddy_policy`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub ownership: u32,
    pub fragment_recovery: u32,
    pub high: u32,
    pub batch: u32,
}

/// `struct pcpbuddy_bench_cpu`: one CPU's part of a run.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, Serialize)]
pub struct BenchCpu {
    pub cpu: u32,
    pub role: u32,
    pub allocs: u64,
    pub frees: u64,
    pub alloc_ns: u64,
    pub free_ns: u64,
    pub total_ns: u64,
    pub failures: u64,
    pub reserved: u64,
}

/// `struct pcpbuddy_bench_counters`: deltas of the pool's counters over a run.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, Serialize)]
pub struct BenchCounters {
    pub global_locks: u64,
    pub refill_recover: u64,
    pub refill_claim: u64,
    pub refill_degrade: u64,
    pub frees_local: u64,
    pub frees_remote: u64,
    pub frees_loose: u64,
    pub absorbs: u64,
    pub merges_local: u64,
    pub merges_global: u64,
    pub drains: u64,
    pub trims: u64,
    pub reclaims: u64,
    pub blocks_claimed: u64,
    pub blocks_returned: u64,
    pub fragments_created: u64,
    pub fragments_recovered: u64,
    pub fallbacks: u64,
}

/// `struct pcpbuddy_bench_sample`: the pool's fragmentation at one moment of a churn run.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, Serialize)]
pub struct BenchSample {
    pub ns: u64,
    pub free_pages: u32,
    pub free_blocks: u32,
    pub owned_blocks: u32,
    pub fragment_blocks: u32,
    pub shared_blocks: u32,
    pub unusable_max_milli: u32,
}

/// `struct pcpbuddy_bench`: one benchmark run, parameters in, results out.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Bench {
    pub pattern: u32,
    pub backend: u32,
    pub order: u32,
    pub batch: u32,
    pub alloc_cpus: u64,
    pub free_cpus: u64,
    pub ops: u64,
    pub seed: u32,
    pub flags: u32,
    pub elapsed_ns: u64,
    pub nr_cpus: u32,
    pub nr_samples: u32,
    pub counters: BenchCounters,
    pub cpus: [BenchCpu; BENCH_MAX_CPUS],
    pub samples: [BenchSample; BENCH_MAX_SAMPLES],
}

impl Default for Bench {
    fn default() -> Self {
        Bench {
            pattern: 0,
            backend: 0,
            order: 0,
            batch: 0,
            alloc_cpus: 0,
            free_cpus: 0,
            ops: 0,
            seed: 0,
            flags: 0,
            elapsed_ns: 0,
            nr_cpus: 0,
            nr_samples: 0,
            counters: BenchCounters::default(),
            cpus: [BenchCpu::default(); BENCH_MAX_CPUS],
            samples: [BenchSample::default(); BENCH_MAX_SAMPLES],
        }
    }
}

/// `PCPBUDDY_REPLAY_MAX_OPS`.
pub const REPLAY_MAX_OPS: u64 = 1 << 22;
/// `PCPBUDDY_REPLAY_SAMPLES`.
pub const REPLAY_SAMPLES: usize = 3;
/// `PCPBUDDY_REPLAY_OP_FREE`.
pub const REPLAY_OP_FREE: u8 = 1 << 0;

/// `struct pcpbuddy_replay_op`: one operation of a trace.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, PartialEq, Eq)]
pub struct ReplayOp {
    pub id: u32,
    pub cpu: u16,
    pub order: u8,
    pub flags: u8,
}

/// `struct pcpbuddy_replay_cpu`: one thread's part of a replay.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug, Serialize)]
pub struct ReplayCpu {
    pub cpu: u32,
    pub recorded_cpus: u32,
    pub ops: u64,
    pub allocs: u64,
    pub frees: u64,
    pub remote_frees: u64,
    pub failures: u64,
    pub skipped_frees: u64,
    pub frees_at_end: u64,
    pub total_ns: u64,
    pub wait_ns: u64,
}

/// `struct pcpbuddy_replay`: one replay, parameters in, results out.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct Replay {
    pub ops: u64,
    pub nr_ops: u64,
    pub cpu_mask: u64,
    pub backend: u32,
    pub flags: u32,
    pub elapsed_ns: u64,
    pub nr_allocs: u64,
    pub over_budget: u64,
    pub peak_live_pages: u64,
    pub nr_cpus: u32,
    pub nr_samples: u32,
    pub counters: BenchCounters,
    pub cpus: [ReplayCpu; BENCH_MAX_CPUS],
    pub samples: [BenchSample; REPLAY_SAMPLES],
}

impl Default for Replay {
    fn default() -> Self {
        Replay {
            ops: 0,
            nr_ops: 0,
            cpu_mask: 0,
            backend: 0,
            flags: 0,
            elapsed_ns: 0,
            nr_allocs: 0,
            over_budget: 0,
            peak_live_pages: 0,
            nr_cpus: 0,
            nr_samples: 0,
            counters: BenchCounters::default(),
            cpus: [ReplayCpu::default(); BENCH_MAX_CPUS],
            samples: [BenchSample::default(); REPLAY_SAMPLES],
        }
    }
}

const _: () = assert!(size_of::<Info>() == 56);
const _: () = assert!(size_of::<Alloc>() == 24);
const _: () = assert!(size_of::<Free>() == 16);
const _: () = assert!(size_of::<Policy>() == 16);
const _: () = assert!(size_of::<BenchCpu>() == 64);
const _: () = assert!(size_of::<BenchCounters>() == 144);
const _: () = assert!(size_of::<BenchSample>() == 32);
const _: () = assert!(size_of::<Bench>() == 5328);
const _: () = assert!(size_of::<ReplayOp>() == 8);
const _: () = assert!(size_of::<ReplayCpu>() == 80);
const _: () = assert!(size_of::<Replay>() == 5432);

/// `_IOC_NONE`, `_IOC_WRITE`, `_IOC_READ` (asm-generic/ioctl.h, which x86-64 uses).
const IOC_NONE: u32 = 0;
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// `_IOC(dir, type, nr, size)`: `dir` in bits 30..31, `size` in 16..29, `type` in 8..15, `nr` in
/// 0..7.
const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
    assert!(size < (1 << 14));
    (dir << 30) | ((size as u32) << 16) | (IOC_MAGIC << 8) | nr
}

/// `PCPBUDDY_IOC_INFO`.
pub const IOC_INFO: u32 = ioc(IOC_READ, 0x00, size_of::<Info>());
/// `PCPBUDDY_IOC_ALLOC`.
#[cfg_attr(not(test), allow(dead_code))] // Mirrored for the layout test; pcpbctl does not use it.
pub const IOC_ALLOC: u32 = ioc(IOC_READ | IOC_WRITE, 0x01, size_of::<Alloc>());
/// `PCPBUDDY_IOC_FREE`.
#[cfg_attr(not(test), allow(dead_code))] // Mirrored for the layout test; pcpbctl does not use it.
pub const IOC_FREE: u32 = ioc(IOC_WRITE, 0x02, size_of::<Free>());
/// `PCPBUDDY_IOC_GET_POLICY`.
pub const IOC_GET_POLICY: u32 = ioc(IOC_READ, 0x03, size_of::<Policy>());
/// `PCPBUDDY_IOC_SET_POLICY`.
pub const IOC_SET_POLICY: u32 = ioc(IOC_WRITE, 0x04, size_of::<Policy>());
/// `PCPBUDDY_IOC_VERIFY`.
pub const IOC_VERIFY: u32 = ioc(IOC_NONE, 0x05, 0);
/// `PCPBUDDY_IOC_DRAIN`.
#[cfg_attr(not(test), allow(dead_code))] // Mirrored for the layout test; pcpbctl does not use it.
pub const IOC_DRAIN: u32 = ioc(IOC_WRITE, 0x06, size_of::<i32>());
/// `PCPBUDDY_IOC_BENCH`.
pub const IOC_BENCH: u32 = ioc(IOC_READ | IOC_WRITE, 0x07, size_of::<Bench>());

/// `PCPBUDDY_IOC_REPLAY`.
pub const IOC_REPLAY: u32 = ioc(IOC_READ | IOC_WRITE, 0x08, size_of::<Replay>());

const _: () = assert!(IOC_BENCH == 0xd4d0_b707);

/// `enum pcpbuddy_source` as the module parameter spells it.
pub fn source_name(source: u32) -> &'static str {
    match source {
        0 => "auto",
        1 => "cma",
        2 => "contig",
        3 => "pages",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::mem::offset_of;
    use std::path::PathBuf;
    use std::process::Command;

    #[test]
    fn bench_number_is_the_known_value() {
        assert_eq!(IOC_BENCH, 0xd4d0b707);
        assert_eq!(IOC_VERIFY, 0xb705);
    }

    /// Every value the C program prints, as `name value`, with the Rust side's value.
    fn rust_values() -> Vec<(&'static str, u64)> {
        macro_rules! off {
            ($t:ty, $cname:literal, $($f:ident),*) => {
                vec![$((concat!("offsetof(", $cname, ",", stringify!($f), ")"), offset_of!($t, $f) as u64)),*]
            };
        }
        let mut v = vec![
            ("sizeof(info)", size_of::<Info>() as u64),
            ("sizeof(alloc)", size_of::<Alloc>() as u64),
            ("sizeof(free)", size_of::<Free>() as u64),
            ("sizeof(policy)", size_of::<Policy>() as u64),
            ("sizeof(bench_cpu)", size_of::<BenchCpu>() as u64),
            ("sizeof(bench_counters)", size_of::<BenchCounters>() as u64),
            ("sizeof(bench_sample)", size_of::<BenchSample>() as u64),
            ("sizeof(bench)", size_of::<Bench>() as u64),
            ("IOC_INFO", IOC_INFO as u64),
            ("IOC_ALLOC", IOC_ALLOC as u64),
            ("IOC_FREE", IOC_FREE as u64),
            ("IOC_GET_POLICY", IOC_GET_POLICY as u64),
            ("IOC_SET_POLICY", IOC_SET_POLICY as u64),
            ("IOC_VERIFY", IOC_VERIFY as u64),
            ("IOC_DRAIN", IOC_DRAIN as u64),
            ("IOC_BENCH", IOC_BENCH as u64),
            ("IOC_REPLAY", IOC_REPLAY as u64),
            ("sizeof(replay_op)", size_of::<ReplayOp>() as u64),
            ("sizeof(replay_cpu)", size_of::<ReplayCpu>() as u64),
            ("sizeof(replay)", size_of::<Replay>() as u64),
            ("REPLAY_MAX_OPS", REPLAY_MAX_OPS),
            ("REPLAY_SAMPLES", REPLAY_SAMPLES as u64),
            ("REPLAY_OP_FREE", REPLAY_OP_FREE as u64),
            ("ABI_VERSION", ABI_VERSION as u64),
            ("MAX_CPUS", BENCH_MAX_CPUS as u64),
            ("MAX_SAMPLES", BENCH_MAX_SAMPLES as u64),
            ("ROLE_ALLOC", ROLE_ALLOC as u64),
            ("ROLE_FREE", ROLE_FREE as u64),
        ];
        v.extend(off!(
            Info,
            "info",
            abi_version,
            block_order,
            page_size,
            nr_cpu_ids,
            source,
            node,
            size_bytes,
            nr_pages,
            outstanding_pages,
            metadata_bytes
        ));
        v.extend(off!(Alloc, "alloc", order, cpu, flags, handle, pfn));
        v.extend(off!(Free, "free", handle, cpu, order, flags));
        v.extend(off!(
            Policy,
            "policy",
            ownership,
            fragment_recovery,
            high,
            batch
        ));
        v.extend(off!(
            BenchCpu,
            "bench_cpu",
            cpu,
            role,
            allocs,
            frees,
            alloc_ns,
            free_ns,
            total_ns,
            failures,
            reserved
        ));
        v.extend(off!(
            BenchCounters,
            "bench_counters",
            global_locks,
            refill_recover,
            refill_claim,
            refill_degrade,
            frees_local,
            frees_remote,
            frees_loose,
            absorbs,
            merges_local,
            merges_global,
            drains,
            trims,
            reclaims,
            blocks_claimed,
            blocks_returned,
            fragments_created,
            fragments_recovered,
            fallbacks
        ));
        v.extend(off!(
            BenchSample,
            "bench_sample",
            ns,
            free_pages,
            free_blocks,
            owned_blocks,
            fragment_blocks,
            shared_blocks,
            unusable_max_milli
        ));
        v.extend(off!(ReplayOp, "replay_op", id, cpu, order, flags));
        v.extend(off!(
            ReplayCpu,
            "replay_cpu",
            cpu,
            recorded_cpus,
            ops,
            allocs,
            frees,
            remote_frees,
            failures,
            skipped_frees,
            frees_at_end,
            total_ns,
            wait_ns
        ));
        v.extend(off!(
            Replay,
            "replay",
            ops,
            nr_ops,
            cpu_mask,
            backend,
            flags,
            elapsed_ns,
            nr_allocs,
            over_budget,
            peak_live_pages,
            nr_cpus,
            nr_samples,
            counters,
            cpus,
            samples
        ));
        v.extend(off!(
            Bench, "bench", pattern, backend, order, batch, alloc_cpus, free_cpus, ops, seed,
            flags, elapsed_ns, nr_cpus, nr_samples, counters, cpus, samples
        ));
        v
    }

    /// C source printing the same names, computed by the compiler from the header.
    fn c_program(values: &[(&'static str, u64)]) -> String {
        let mut s = String::from(
            "#include <stdio.h>\n#include <stddef.h>\n#include <linux/pcpbuddy.h>\n\
             #define P(name, expr) printf(\"%s %llu\\n\", name, (unsigned long long)(expr))\n\
             int main(void)\n{\n",
        );
        for (name, _) in values {
            let expr = if let Some(rest) = name.strip_prefix("sizeof(") {
                format!("sizeof(struct pcpbuddy_{}", rest)
            } else if let Some(rest) = name.strip_prefix("offsetof(") {
                format!("offsetof(struct pcpbuddy_{}", rest)
            } else if name.starts_with("IOC_")
                || name.starts_with("REPLAY_")
                || *name == "ABI_VERSION"
            {
                format!("PCPBUDDY_{}", name)
            } else {
                format!("PCPBUDDY_BENCH_{}", name)
            };
            s.push_str(&format!("\tP(\"{}\", {});\n", name, expr));
        }
        s.push_str("\treturn 0;\n}\n");
        s
    }

    #[test]
    fn layout_matches_the_c_header() {
        let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let include = manifest.join("../../include/uapi");
        if !include.join("linux/pcpbuddy.h").exists() {
            println!("SKIP layout_matches_the_c_header: include/uapi/linux/pcpbuddy.h not found");
            return;
        }
        let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
        let values = rust_values();
        let dir = std::env::temp_dir().join(format!("pcpbctl-abi-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let src = dir.join("abi.c");
        let exe = dir.join("abi");
        std::fs::write(&src, c_program(&values)).unwrap();
        let out = match Command::new(&cc)
            .arg("-I")
            .arg(&include)
            .arg("-o")
            .arg(&exe)
            .arg(&src)
            .output()
        {
            Ok(out) => out,
            Err(e) => {
                println!("SKIP layout_matches_the_c_header: no C compiler ({cc}: {e})");
                let _ = std::fs::remove_dir_all(&dir);
                return;
            }
        };
        if !out.status.success() {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let _ = std::fs::remove_dir_all(&dir);
            if stderr.contains("linux/ioctl.h") || stderr.contains("linux/types.h") {
                println!(
                    "SKIP layout_matches_the_c_header: no kernel UAPI headers (linux-libc-dev)"
                );
                return;
            }
            panic!("the C program did not compile:\n{stderr}");
        }
        let run = Command::new(&exe).output().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(run.status.success());
        let stdout = String::from_utf8(run.stdout).unwrap();
        let c: std::collections::HashMap<&str, u64> = stdout
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k, v.parse().unwrap()))
            .collect();
        assert_eq!(c.len(), values.len(), "every value printed once");
        let mismatches: Vec<String> = values
            .iter()
            .filter(|(name, rust)| c.get(name) != Some(rust))
            .map(|(name, rust)| format!("{name}: C {:?}, Rust {rust}", c.get(name)))
            .collect();
        assert!(
            mismatches.is_empty(),
            "ABI mismatch:\n{}",
            mismatches.join("\n")
        );
    }
}
