//! pcpbuddy allocator core.
//!
//! A page allocator over a pool of pageblocks in which per-CPU caches own whole
//! pageblocks and run a small buddy allocator inside each block they own (the
//! "pcp buddy allocator" of the linux-mm RFC of April 2026). Frees of pages in a
//! block owned by another CPU are handed to the owner through a lock-free
//! protocol. See `Documentation/core.md` for the design.
//!
//! This file is the host crate's root, and the kernel module's `pcpcore` module
//! (`#[path]` from `rust/kmod/pcpbuddy.rs`; the kernel builds modules with
//! `--cfg MODULE`). So the files refer to each other with `super::`, never
//! `crate::`, and use neither `std` nor `alloc`; what only the host uses is
//! `#[cfg(not(MODULE))]`.

// Crate-level in the host crate; in the module `no_std` belongs to its crate root.
#![cfg_attr(not(MODULE), no_std)]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod block;
pub mod buddy;
pub mod cache;
pub mod error;
pub mod frame_table;
pub mod geometry;
pub mod global;
pub mod info;
pub mod list;
pub mod magazine;
pub mod platform;
pub mod policy;
pub mod pool;
pub mod remote;
// The stats macro gives every snapshot type an `add`; the module sums only the per-CPU ones
// (narrower would be on that `add`, inside `stats.rs`).
#[cfg_attr(MODULE, allow(dead_code, reason = "GlobalCounters::add is host only"))]
pub mod stats;
pub mod sync;
pub mod trace;
pub mod unit;
pub mod verify;

// The host crate's flat API; the module names the submodules.
#[cfg(not(MODULE))]
pub use {
    block::{BlockKind, BlockMeta},
    cache::CpuCache,
    error::{AllocError, FreeError, InitError, PolicyError, VerifyError},
    frame_table::{FrameTable, FrameTableError},
    geometry::{Geometry, PageIndex, MAX_BLOCK_ORDER, NR_ORDERS},
    global::GlobalPool,
    info::{BlockInfo, FragmentationInfo},
    magazine::{Magazine, MAG_MAX_ORDER},
    platform::{BitmapLine, Lock, MapLine, Platform},
    policy::Policy,
    pool::{Allocation, FastFree, Pool},
    remote::RemoteQueue,
    stats::{Counter, CpuCounters, CpuStats, GlobalCounters, GlobalStats},
    trace::{DrainKind, Event, FragmentEvent, RefillPhase},
};
