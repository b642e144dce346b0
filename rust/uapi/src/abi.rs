// SPDX-License-Identifier: GPL-2.0

//! `include/uapi/linux/pcpbuddy.h` in Rust: structures, constants, enums, command numbers and
//! the bench counters' names.
//!
//! This one file is compiled twice: as the `pcpbuddy-uapi` crate (for `pcpbctl` and the drift
//! test) and as a module of the kernel module's crate (`rust/kmod/uapi.rs`). So it uses `core`
//! only, has no `unsafe`, and names nothing outside itself. The header documents every field;
//! the names here are the header's without the `pcpbuddy_`/`PCPBUDDY_` prefix. Every list below
//! also builds a table ([`STRUCTS`], [`CONSTS`], the enums' [`Pattern::ALL`] ...) that
//! `tests/header.rs` compares with what a C compiler makes of the header.
//!
//! Whoever includes the file defines `abi_struct_traits!($name)` before it, called once per
//! structure: the crate defines it empty, the kernel module implements its `AsBytes` and
//! `FromBytes` with it.

use core::mem::{offset_of, size_of};

/// A type that may be a field of an ABI structure.
pub trait AbiType: Copy {
    /// The value with every byte zero.
    const ZERO: Self;
    /// For an integer, whether it is signed; `None` for an array or a structure.
    const SIGNED: Option<bool>;
}

macro_rules! int_abi_types {
    ($($t:ty: $signed:literal),*) => {
        $(impl AbiType for $t {
            const ZERO: Self = 0;
            const SIGNED: Option<bool> = Some($signed);
        })*
    };
}
int_abi_types!(u8: false, u16: false, u32: false, u64: false, i32: true);

impl<T: AbiType, const N: usize> AbiType for [T; N] {
    const ZERO: Self = [T::ZERO; N];
    const SIGNED: Option<bool> = None;
}

/// One field of an ABI structure, as the drift test sees it.
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// Its C (and Rust) name.
    pub name: &'static str,
    /// `offsetof()`.
    pub offset: usize,
    /// `sizeof()`.
    pub size: usize,
    /// For an integer, whether it is signed.
    pub signed: Option<bool>,
}

/// One ABI structure, as the drift test sees it.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// Its C name (`struct` tag).
    pub c_name: &'static str,
    /// `sizeof()`.
    pub size: usize,
    /// Every field, in order.
    pub fields: &'static [Field],
}

/// Defines the ABI structures: `repr(C)`, integers and arrays of ABI types only, no padding
/// (asserted: the kernel copies them to user space whole), all-zero `Default`; and [`STRUCTS`].
macro_rules! abi_structs {
    ($(
        $(#[$meta:meta])*
        $name:ident = $cname:ident $([$kind:ident])? { $($field:ident: $ty:ty,)* }
    )*) => {
        $(
            $(#[$meta])*
            #[repr(C)]
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            pub struct $name {
                $(#[allow(missing_docs)] pub $field: $ty,)*
            }

            impl AbiType for $name {
                const ZERO: Self = Self { $($field: <$ty as AbiType>::ZERO,)* };
                const SIGNED: Option<bool> = None;
            }

            impl Default for $name {
                fn default() -> Self {
                    Self::ZERO
                }
            }

            const _: () = assert!(size_of::<$name>() == 0 $(+ size_of::<$ty>())*, "padding");

            abi_struct_kind!($($kind)?; $name { $($field,)* });
            abi_struct_traits!($name);
        )*

        /// Every structure of the ABI with its C name and layout.
        pub const STRUCTS: &[Layout] = &[$(Layout {
            c_name: stringify!($cname),
            size: size_of::<$name>(),
            fields: &[$(Field {
                name: stringify!($field),
                offset: offset_of!($name, $field),
                size: size_of::<$ty>(),
                signed: <$ty as AbiType>::SIGNED,
            }),*],
        }),*];
    };
}

/// Defines the ABI's constants and command numbers, and [`CONSTS`]. Each C name is the Rust
/// name with `PCPBUDDY_` in front.
macro_rules! abi_consts {
    ($($(#[$meta:meta])* $name:ident: $ty:ty = $value:expr;)*) => {
        $($(#[$meta])* pub const $name: $ty = $value;)*

        /// Every constant above by its C name, with its value.
        pub const CONSTS: &[(&str, u64)] = &[$((concat!("PCPBUDDY_", stringify!($name)), $name as u64)),*];
    };
}

/// Defines a C enum of the ABI as a Rust enum with its values, names and C names.
macro_rules! abi_enum {
    (
        $(#[$meta:meta])*
        $name:ident, c_prefix $prefix:literal {
            $($(#[$vmeta:meta])* $variant:ident = $value:literal, $text:literal,)*
        }
    ) => {
        $(#[$meta])*
        #[repr(u32)]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $value,)*
        }

        impl $name {
            /// Every value, in the ABI's order.
            pub const ALL: [Self; [$($value),*].len()] = [$(Self::$variant),*];

            /// What each value's C name starts with; the rest is its [`name`](Self::name) in
            /// upper case, `-` as `_`.
            pub const C_PREFIX: &'static str = $prefix;

            /// Its value in the ABI.
            pub const fn abi(self) -> u32 {
                self as u32
            }

            /// The value of `value`, if there is one.
            pub const fn from_abi(value: u32) -> Option<Self> {
                match value {
                    $($value => Some(Self::$variant),)*
                    _ => None,
                }
            }

            /// Its name: in parameters, on the command line and in outputs.
            pub const fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }

            /// The value named `name`, if there is one.
            pub fn from_name(name: &str) -> Option<Self> {
                Self::ALL.into_iter().find(|v| v.name() == name)
            }
        }

        /// Serialised as its [`name`](Self::name).
        #[cfg(feature = "serde")]
        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }
    };
}

abi_enum!(
    /// `enum pcpbuddy_source`: where the pool's pageblocks come from (module parameter
    /// `source`).
    Source, c_prefix "PCPBUDDY_SOURCE_" {
        /// `cma`, then `contig`, then `pages`, per block.
        Auto = 0, "auto",
        /// `cma_alloc()` on the default CMA area.
        Cma = 1, "cma",
        /// `alloc_contig_pages()`.
        Contig = 2, "contig",
        /// `alloc_pages(pageblock_order)`.
        Pages = 3, "pages",
    }
);

abi_enum!(
    /// `enum pcpbuddy_bench_pattern`: what a benchmark run does.
    Pattern, c_prefix "PCPBUDDY_BENCH_" {
        /// Alloc + free the same run, in a loop.
        Repeat = 0, "repeat",
        /// Alloc batch runs, then free them.
        Bulk = 1, "bulk",
        /// Alloc batch runs, exchange across CPUs, free (only frees timed).
        Rand = 2, "rand",
        /// Alloc CPUs feed free CPUs through per-CPU rings.
        Remote = 3, "remote",
        /// One CPU frees a large set another CPU allocated.
        Exit = 4, "exit",
        /// Random orders and lifetimes; fragmentation sampled.
        Churn = 5, "churn",
        /// Repeat with folios.
        Folio = 6, "folio",
        /// Alloc in softirq, free in process context elsewhere, and back.
        Softirq = 7, "softirq",
    }
);

abi_enum!(
    /// `enum pcpbuddy_bench_backend`: the allocator a benchmark or replay runs on.
    Backend, c_prefix "PCPBUDDY_BACKEND_" {
        /// The pool through its exported API, ownership on.
        Pool = 0, "pool",
        /// The same, ownership off (classic per-CPU batching).
        PoolClassic = 1, "pool-classic",
        /// `alloc_pages()` / `__free_pages()` (`folio_alloc()` / `folio_put()`).
        Kernel = 2, "kernel",
        /// A bare per-CPU array push/pop of page pointers.
        Floor = 3, "floor",
    }
);

abi_enum!(
    /// `enum pcpbuddy_block_state`: a pool block's state.
    BlockState, c_prefix "PCPBUDDY_BLOCK_" {
        /// Wholly free, in the global pool.
        Free = 0, "free",
        /// Owned by a CPU: its free pages are that CPU's cache.
        Owned = 1, "owned",
        /// Drained while partly allocated; its free pages are the global pool's.
        Fragment = 2, "fragment",
        /// Split without ownership (classic batching, degrade mode).
        Shared = 3, "shared",
    }
);

impl Backend {
    /// Whether it is the pool (whose counters, and so global-lock acquisitions, mean something).
    pub const fn is_pool(self) -> bool {
        matches!(self, Backend::Pool | Backend::PoolClassic)
    }
}

/// `_IOC_NONE`, `_IOC_WRITE`, `_IOC_READ` of `asm-generic/ioctl.h`, the encoding of x86, arm64
/// and riscv (the kernel module checks it against its kernel's own).
pub const IOC_NONE: u32 = 0;
/// See [`IOC_NONE`].
pub const IOC_WRITE: u32 = 1;
/// See [`IOC_NONE`].
pub const IOC_READ: u32 = 2;

/// `_IOC(dir, type, nr, size)`: `dir` in bits 30..31, `size` in 16..29, `type` in 8..15, `nr`
/// in 0..7.
pub const fn ioc(dir: u32, ty: u32, nr: u32, size: usize) -> u32 {
    assert!(dir < (1 << 2) && ty < (1 << 8) && nr < (1 << 8) && size < (1 << 14));
    (dir << 30) | ((size as u32) << 16) | (ty << 8) | nr
}

/// A command of this ABI: `_IOC(dir, PCPBUDDY_IOC_MAGIC, nr, sizeof(T))`.
const fn cmd<T>(dir: u32, nr: u32) -> u32 {
    ioc(dir, IOC_MAGIC, nr, size_of::<T>())
}

abi_consts! {
    /// `PCPBUDDY_ABI_VERSION`.
    ABI_VERSION: u32 = 2;
    /// `PCPBUDDY_IOC_MAGIC`.
    IOC_MAGIC: u32 = 0xB7;
    /// `PCPBUDDY_ALLOC_FILL`: write a pattern into every page.
    ALLOC_FILL: u32 = 1 << 0;
    /// `PCPBUDDY_FREE_CHECK`: check the `ALLOC_FILL` pattern first.
    FREE_CHECK: u32 = 1 << 0;
    /// `PCPBUDDY_BENCH_NR_PATTERNS`.
    BENCH_NR_PATTERNS: u32 = Pattern::ALL.len() as u32;
    /// `PCPBUDDY_BENCH_NR_BACKENDS`.
    BENCH_NR_BACKENDS: u32 = Backend::ALL.len() as u32;
    /// `PCPBUDDY_BENCH_MAX_CPUS`.
    BENCH_MAX_CPUS: usize = 64;
    /// `PCPBUDDY_BENCH_MAX_SAMPLES`.
    BENCH_MAX_SAMPLES: usize = 32;
    /// `PCPBUDDY_BLOCK_NR_STATES`.
    BLOCK_NR_STATES: u32 = BlockState::ALL.len() as u32;
    /// `PCPBUDDY_BLOCK_NO_OWNER`: the owner of a block no CPU owns.
    BLOCK_NO_OWNER: u16 = 0xffff;
    /// `PCPBUDDY_BENCH_PEAK_MAP`: churn on a pool backend: fill `peak_map`.
    BENCH_PEAK_MAP: u32 = 1 << 0;
    /// `PCPBUDDY_BENCH_V1_SIZE`: `struct pcpbuddy_bench` in ABI 1, before `peak_map`.
    BENCH_V1_SIZE: usize = offset_of!(Bench, peak_map);
    /// `PCPBUDDY_BENCH_ROLE_ALLOC`.
    BENCH_ROLE_ALLOC: u32 = 1 << 0;
    /// `PCPBUDDY_BENCH_ROLE_FREE`.
    BENCH_ROLE_FREE: u32 = 1 << 1;
    /// `PCPBUDDY_REPLAY_MAX_OPS`.
    REPLAY_MAX_OPS: u64 = 1 << 22;
    /// `PCPBUDDY_REPLAY_SAMPLES`.
    REPLAY_SAMPLES: usize = 3;
    /// `PCPBUDDY_REPLAY_OP_FREE`: a free (else an allocation).
    REPLAY_OP_FREE: u8 = 1 << 0;
    /// `PCPBUDDY_IOC_INFO`.
    IOC_INFO: u32 = cmd::<Info>(IOC_READ, 0x00);
    /// `PCPBUDDY_IOC_ALLOC`.
    IOC_ALLOC: u32 = cmd::<Alloc>(IOC_READ | IOC_WRITE, 0x01);
    /// `PCPBUDDY_IOC_FREE`.
    IOC_FREE: u32 = cmd::<Free>(IOC_WRITE, 0x02);
    /// `PCPBUDDY_IOC_GET_POLICY`.
    IOC_GET_POLICY: u32 = cmd::<Policy>(IOC_READ, 0x03);
    /// `PCPBUDDY_IOC_SET_POLICY`.
    IOC_SET_POLICY: u32 = cmd::<Policy>(IOC_WRITE, 0x04);
    /// `PCPBUDDY_IOC_VERIFY`: no argument.
    IOC_VERIFY: u32 = ioc(IOC_NONE, IOC_MAGIC, 0x05, 0);
    /// `PCPBUDDY_IOC_DRAIN`: the argument is a CPU, `-1` for every CPU.
    IOC_DRAIN: u32 = cmd::<i32>(IOC_WRITE, 0x06);
    /// `PCPBUDDY_IOC_BENCH`.
    IOC_BENCH: u32 = cmd::<Bench>(IOC_READ | IOC_WRITE, 0x07);
    /// `PCPBUDDY_IOC_BENCH_V1`: `PCPBUDDY_IOC_BENCH` of ABI 1 (the structure up to
    /// [`BENCH_V1_SIZE`]).
    IOC_BENCH_V1: u32 = ioc(IOC_READ | IOC_WRITE, IOC_MAGIC, 0x07, BENCH_V1_SIZE);
    /// `PCPBUDDY_IOC_REPLAY`.
    IOC_REPLAY: u32 = cmd::<Replay>(IOC_READ | IOC_WRITE, 0x08);
}

/// What [`abi_structs!`] adds to a structure of one kind: nothing, or for `[counters]` (a
/// structure of `u64` counters) their names, values and a constructor by name.
macro_rules! abi_struct_kind {
    (; $name:ident { $($field:ident,)* }) => {};
    (counters; $name:ident { $($field:ident,)* }) => {
        impl $name {
            /// The counters' names, in ABI order.
            pub const NAMES: [&'static str; [$(stringify!($field)),*].len()] =
                [$(stringify!($field)),*];

            /// The counters' values, in ABI order.
            pub const fn values(&self) -> [u64; Self::NAMES.len()] {
                [$(self.$field),*]
            }

            /// The counters, `f(name)` each.
            pub fn from_fn(mut f: impl FnMut(&'static str) -> u64) -> Self {
                Self { $($field: f(stringify!($field)),)* }
            }
        }
    };
}

abi_structs! {
    /// `struct pcpbuddy_info`: what the loaded module is and what it runs on.
    #[cfg_attr(feature = "serde", derive(serde::Serialize))]
    Info = pcpbuddy_info {
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

    /// `struct pcpbuddy_alloc`: allocate `2^order` pages.
    Alloc = pcpbuddy_alloc {
        order: u32,
        cpu: i32,
        flags: u32,
        handle: u32,
        pfn: u64,
    }

    /// `struct pcpbuddy_free`: free a handle's pages.
    Free = pcpbuddy_free {
        handle: u32,
        cpu: i32,
        order: u32,
        flags: u32,
    }

    /// `struct pcpbuddy_policy`: the run-time policy switches.
    #[cfg_attr(feature = "serde", derive(serde::Serialize))]
    Policy = pcpbuddy_policy {
        ownership: u32,
        fragment_recovery: u32,
        high: u32,
        batch: u32,
    }

    /// `struct pcpbuddy_bench_counters`: deltas of the pool's counters over a run; the one
    /// list of their names (the bench, the replay and pcpbctl's report use [`Self::NAMES`]).
    #[cfg_attr(feature = "serde", derive(serde::Serialize))]
    BenchCounters = pcpbuddy_bench_counters [counters] {
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

    /// `struct pcpbuddy_bench_cpu`: one CPU's part of a run.
    #[cfg_attr(feature = "serde", derive(serde::Serialize))]
    BenchCpu = pcpbuddy_bench_cpu {
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

    /// `struct pcpbuddy_bench_sample`: the pool's fragmentation at one moment of a run.
    #[cfg_attr(feature = "serde", derive(serde::Serialize))]
    BenchSample = pcpbuddy_bench_sample {
        ns: u64,
        free_pages: u32,
        free_blocks: u32,
        owned_blocks: u32,
        fragment_blocks: u32,
        shared_blocks: u32,
        unusable_max_milli: u32,
    }

    /// `struct pcpbuddy_bench_block`: one pool block at the churn peak.
    #[cfg_attr(feature = "serde", derive(serde::Serialize))]
    BenchBlock = pcpbuddy_bench_block {
        state: u8,
        reserved: u8,
        owner: u16,
        free_pages: u32,
    }

    /// `struct pcpbuddy_bench`: one benchmark run, parameters in, results out.
    Bench = pcpbuddy_bench {
        pattern: u32,
        backend: u32,
        order: u32,
        batch: u32,
        alloc_cpus: u64,
        free_cpus: u64,
        ops: u64,
        seed: u32,
        flags: u32,
        elapsed_ns: u64,
        nr_cpus: u32,
        nr_samples: u32,
        counters: BenchCounters,
        cpus: [BenchCpu; BENCH_MAX_CPUS],
        samples: [BenchSample; BENCH_MAX_SAMPLES],
        peak_map: u64,
        peak_map_len: u32,
        peak_map_nr: u32,
        peak: BenchSample,
    }

    /// `struct pcpbuddy_replay_op`: one operation of a trace.
    ReplayOp = pcpbuddy_replay_op {
        id: u32,
        cpu: u16,
        order: u8,
        flags: u8,
    }

    /// `struct pcpbuddy_replay_cpu`: one thread's part of a replay.
    #[cfg_attr(feature = "serde", derive(serde::Serialize))]
    ReplayCpu = pcpbuddy_replay_cpu {
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

    /// `struct pcpbuddy_replay`: one replay, parameters in, results out.
    Replay = pcpbuddy_replay {
        ops: u64,
        nr_ops: u64,
        cpu_mask: u64,
        backend: u32,
        flags: u32,
        elapsed_ns: u64,
        nr_allocs: u64,
        over_budget: u64,
        peak_live_pages: u64,
        nr_cpus: u32,
        nr_samples: u32,
        counters: BenchCounters,
        cpus: [ReplayCpu; BENCH_MAX_CPUS],
        samples: [BenchSample; REPLAY_SAMPLES],
    }
}
