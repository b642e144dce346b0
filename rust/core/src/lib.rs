//! pcpbuddy allocator core.
//!
//! A page allocator over a pool of pageblocks in which per-CPU caches own whole
//! pageblocks and run a small buddy allocator inside each block they own (the
//! "pcp buddy allocator" of the linux-mm RFC of April 2026). Frees of pages in a
//! block owned by another CPU are handed to the owner through a lock-free
//! protocol. See `Documentation/core.md` for the design.
//!
//! This file is the host crate root only. The kernel module includes every
//! other file of `src/` with `#[path]` inside one parent module that mirrors the
//! list below, so the files refer to each other with `super::`, never `crate::`,
//! and use neither `std` nor `alloc`.

#![no_std]
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
pub mod stats;
pub mod sync;
pub mod trace;
pub mod unit;
pub mod verify;

pub use block::{BlockKind, BlockMeta};
pub use cache::CpuCache;
pub use error::{AllocError, FreeError, InitError, PolicyError, VerifyError};
pub use frame_table::{FrameTable, FrameTableError};
pub use geometry::{Geometry, PageIndex, MAX_BLOCK_ORDER, NR_ORDERS};
pub use global::GlobalPool;
pub use info::{BlockInfo, FragmentationInfo};
pub use magazine::{Magazine, MAG_MAX_ORDER};
pub use platform::{BitmapLine, Lock, MapLine, Platform};
pub use policy::Policy;
pub use pool::{Allocation, FastFree, Pool};
pub use remote::RemoteQueue;
pub use stats::{Counter, CpuCounters, CpuStats, GlobalCounters, GlobalStats};
pub use trace::{DrainKind, Event, FragmentEvent, RefillPhase};
