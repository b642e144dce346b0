// SPDX-License-Identifier: GPL-2.0

//! Rust mirror of `include/uapi/linux/pcpbuddy.h`, the `/dev/pcpbuddy` ioctl ABI.
//!
//! The header is the source of truth; these definitions copy it by hand because an out-of-tree
//! module cannot run bindgen on its own headers. Layouts are pinned by the size assertions below
//! and by the user-space test, which is compiled against the C header.

use kernel::{
    ioctl::{_IO, _IOR, _IOW, _IOWR},
    transmute::{AsBytes, FromBytes},
};

/// `PCPBUDDY_ABI_VERSION`.
pub(crate) const ABI_VERSION: u32 = 1;
/// `PCPBUDDY_IOC_MAGIC`.
const IOC_MAGIC: u32 = 0xB7;

/// Declares a `repr(C)` ABI structure made of integers only, with its size pinned.
macro_rules! abi_struct {
    ($(#[$meta:meta])* $name:ident, $size:expr, { $($(#[$fmeta:meta])* $field:ident: $ty:ty,)* }) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy, Default, Debug)]
        pub(crate) struct $name {
            $($(#[$fmeta])* pub(crate) $field: $ty,)*
        }
        const _: () = assert!(core::mem::size_of::<$name>() == $size);
        // SAFETY: `repr(C)`, integer fields only, and the size assertion above shows that
        // there is no padding.
        unsafe impl AsBytes for $name {}
        // SAFETY: Every bit pattern is valid for a structure of integers.
        unsafe impl FromBytes for $name {}
    };
}

abi_struct!(
    /// `struct pcpbuddy_info`.
    Info, 56, {
        abi_version: u32,
        block_order: u32,
        page_size: u32,
        nr_cpu_ids: u32,
        source: u32,
        node: i32,
        size_bytes: u64,
        nr_pages: u64,
        outstanding_pages: u64,
        metadata_bytes: u64,
    }
);

abi_struct!(
    /// `struct pcpbuddy_alloc`.
    Alloc, 24, {
        order: u32,
        cpu: i32,
        flags: u32,
        handle: u32,
        pfn: u64,
    }
);

/// `PCPBUDDY_ALLOC_FILL`.
pub(crate) const ALLOC_FILL: u32 = 1 << 0;

abi_struct!(
    /// `struct pcpbuddy_free`.
    Free, 16, {
        handle: u32,
        cpu: i32,
        order: u32,
        flags: u32,
    }
);

/// `PCPBUDDY_FREE_CHECK`.
pub(crate) const FREE_CHECK: u32 = 1 << 0;

abi_struct!(
    /// `struct pcpbuddy_policy`.
    Policy, 16, {
        ownership: u32,
        fragment_recovery: u32,
        high: u32,
        batch: u32,
    }
);

abi_struct!(
    /// `struct pcpbuddy_bench_cpu`.
    BenchCpu, 64, {
        cpu: u32,
        role: u32,
        allocs: u64,
        frees: u64,
        alloc_ns: u64,
        free_ns: u64,
        total_ns: u64,
        failures: u64,
        reserved: u64,
    }
);

/// `PCPBUDDY_BENCH_ROLE_ALLOC`.
pub(crate) const BENCH_ROLE_ALLOC: u32 = 1 << 0;
/// `PCPBUDDY_BENCH_ROLE_FREE`.
pub(crate) const BENCH_ROLE_FREE: u32 = 1 << 1;

abi_struct!(
    /// `struct pcpbuddy_bench_counters`.
    BenchCounters, 144, {
        global_locks: u64,
        refill_recover: u64,
        refill_claim: u64,
        refill_degrade: u64,
        frees_local: u64,
        frees_remote: u64,
        frees_loose: u64,
        absorbs: u64,
        merges_local: u64,
        merges_global: u64,
        drains: u64,
        trims: u64,
        reclaims: u64,
        blocks_claimed: u64,
        blocks_returned: u64,
        fragments_created: u64,
        fragments_recovered: u64,
        fallbacks: u64,
    }
);

abi_struct!(
    /// `struct pcpbuddy_bench_sample`.
    BenchSample, 32, {
        ns: u64,
        free_pages: u32,
        free_blocks: u32,
        owned_blocks: u32,
        fragment_blocks: u32,
        shared_blocks: u32,
        unusable_max_milli: u32,
    }
);

/// `PCPBUDDY_BENCH_MAX_CPUS`.
pub(crate) const BENCH_MAX_CPUS: usize = 64;
/// `PCPBUDDY_BENCH_MAX_SAMPLES`.
pub(crate) const BENCH_MAX_SAMPLES: usize = 32;

/// `struct pcpbuddy_bench`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct Bench {
    pub(crate) pattern: u32,
    pub(crate) backend: u32,
    pub(crate) order: u32,
    pub(crate) batch: u32,
    pub(crate) alloc_cpus: u64,
    pub(crate) free_cpus: u64,
    pub(crate) ops: u64,
    pub(crate) seed: u32,
    pub(crate) flags: u32,
    pub(crate) elapsed_ns: u64,
    pub(crate) nr_cpus: u32,
    pub(crate) nr_samples: u32,
    pub(crate) counters: BenchCounters,
    pub(crate) cpus: [BenchCpu; BENCH_MAX_CPUS],
    pub(crate) samples: [BenchSample; BENCH_MAX_SAMPLES],
}
const _: () = assert!(core::mem::size_of::<Bench>() == 5328);
// SAFETY: `repr(C)`, integer fields and arrays of padding-free integer structures only; the
// size assertion above shows that there is no padding.
unsafe impl AsBytes for Bench {}
// SAFETY: Every bit pattern is valid for a structure of integers.
unsafe impl FromBytes for Bench {}

/// `PCPBUDDY_REPLAY_MAX_OPS`.
pub(crate) const REPLAY_MAX_OPS: u64 = 1 << 22;
/// `PCPBUDDY_REPLAY_SAMPLES`.
pub(crate) const REPLAY_SAMPLES: usize = 3;
/// `PCPBUDDY_REPLAY_OP_FREE`.
pub(crate) const REPLAY_OP_FREE: u8 = 1 << 0;

/// `struct pcpbuddy_replay_op`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub(crate) struct ReplayOp {
    pub(crate) id: u32,
    pub(crate) cpu: u16,
    pub(crate) order: u8,
    pub(crate) flags: u8,
}
const _: () = assert!(core::mem::size_of::<ReplayOp>() == 8);
// SAFETY: `repr(C)`, integer fields only; the size assertion above shows that there is no
// padding.
unsafe impl AsBytes for ReplayOp {}
// SAFETY: Every bit pattern is valid for a structure of integers.
unsafe impl FromBytes for ReplayOp {}

abi_struct!(
    /// `struct pcpbuddy_replay_cpu`.
    ReplayCpu, 80, {
        cpu: u32,
        recorded_cpus: u32,
        ops: u64,
        allocs: u64,
        frees: u64,
        remote_frees: u64,
        failures: u64,
        skipped_frees: u64,
        frees_at_end: u64,
        total_ns: u64,
        wait_ns: u64,
    }
);

/// `struct pcpbuddy_replay`.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct Replay {
    pub(crate) ops: u64,
    pub(crate) nr_ops: u64,
    pub(crate) cpu_mask: u64,
    pub(crate) backend: u32,
    pub(crate) flags: u32,
    pub(crate) elapsed_ns: u64,
    pub(crate) nr_allocs: u64,
    pub(crate) over_budget: u64,
    pub(crate) peak_live_pages: u64,
    pub(crate) nr_cpus: u32,
    pub(crate) nr_samples: u32,
    pub(crate) counters: BenchCounters,
    pub(crate) cpus: [ReplayCpu; BENCH_MAX_CPUS],
    pub(crate) samples: [BenchSample; REPLAY_SAMPLES],
}
const _: () = assert!(core::mem::size_of::<Replay>() == 5432);
// SAFETY: `repr(C)`, integer fields and arrays of padding-free integer structures only; the
// size assertion above shows that there is no padding.
unsafe impl AsBytes for Replay {}
// SAFETY: Every bit pattern is valid for a structure of integers.
unsafe impl FromBytes for Replay {}

/// `PCPBUDDY_IOC_INFO`.
pub(crate) const IOC_INFO: u32 = _IOR::<Info>(IOC_MAGIC, 0x00);
/// `PCPBUDDY_IOC_ALLOC`.
pub(crate) const IOC_ALLOC: u32 = _IOWR::<Alloc>(IOC_MAGIC, 0x01);
/// `PCPBUDDY_IOC_FREE`.
pub(crate) const IOC_FREE: u32 = _IOW::<Free>(IOC_MAGIC, 0x02);
/// `PCPBUDDY_IOC_GET_POLICY`.
pub(crate) const IOC_GET_POLICY: u32 = _IOR::<Policy>(IOC_MAGIC, 0x03);
/// `PCPBUDDY_IOC_SET_POLICY`.
pub(crate) const IOC_SET_POLICY: u32 = _IOW::<Policy>(IOC_MAGIC, 0x04);
/// `PCPBUDDY_IOC_VERIFY`.
pub(crate) const IOC_VERIFY: u32 = _IO(IOC_MAGIC, 0x05);
/// `PCPBUDDY_IOC_DRAIN`.
pub(crate) const IOC_DRAIN: u32 = _IOW::<i32>(IOC_MAGIC, 0x06);
/// `PCPBUDDY_IOC_BENCH`.
pub(crate) const IOC_BENCH: u32 = _IOWR::<Bench>(IOC_MAGIC, 0x07);
/// `PCPBUDDY_IOC_REPLAY`.
pub(crate) const IOC_REPLAY: u32 = _IOWR::<Replay>(IOC_MAGIC, 0x08);
