// SPDX-License-Identifier: GPL-2.0

//! The allocator core, compiled into the module from the very files that the host crate
//! `rust/core` tests (`cargo test` there runs the property tests, the loom model and the
//! stress tests; see `Documentation/core.md`).
//!
//! The list mirrors `rust/core/src/lib.rs`. The core is a library: its items are `pub` for the
//! host crate, so here they are unreachable from the module's root and some are unused.

#![allow(unreachable_pub, dead_code)]

#[path = "../core/src/block.rs"]
pub(crate) mod block;
#[path = "../core/src/buddy.rs"]
pub(crate) mod buddy;
#[path = "../core/src/cache.rs"]
pub(crate) mod cache;
#[path = "../core/src/error.rs"]
pub(crate) mod error;
#[path = "../core/src/frame_table.rs"]
pub(crate) mod frame_table;
#[path = "../core/src/geometry.rs"]
pub(crate) mod geometry;
#[path = "../core/src/global.rs"]
pub(crate) mod global;
#[path = "../core/src/info.rs"]
pub(crate) mod info;
#[path = "../core/src/list.rs"]
pub(crate) mod list;
#[path = "../core/src/magazine.rs"]
pub(crate) mod magazine;
#[path = "../core/src/platform.rs"]
pub(crate) mod platform;
#[path = "../core/src/policy.rs"]
pub(crate) mod policy;
#[path = "../core/src/pool/mod.rs"]
pub(crate) mod pool;
#[path = "../core/src/remote.rs"]
pub(crate) mod remote;
#[path = "../core/src/stats.rs"]
pub(crate) mod stats;
#[path = "../core/src/sync.rs"]
pub(crate) mod sync;
#[path = "../core/src/trace.rs"]
pub(crate) mod trace;
#[path = "../core/src/unit.rs"]
pub(crate) mod unit;
#[path = "../core/src/verify.rs"]
pub(crate) mod verify;
