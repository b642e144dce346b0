//! The atomics that the lock-free remote-free protocol uses.
//!
//! Everything that a CPU may touch without holding the lock of the block it
//! touches goes through these types, so that the concurrency model checker
//! (`loom`, under `--cfg loom`) sees every racy access. Lock-protected fields use
//! `core::sync::atomic` directly (with `Relaxed` ordering they compile to plain
//! loads and stores and only give interior mutability without `unsafe`).
//!
//! This is the only file with a `cfg(loom)` switch; the kernel never sets it.

// `loom` is a custom cfg only the host model checker sets: do not warn about
// it in builds (like the kernel's) that do not declare it.
#![allow(unexpected_cfgs)]

#[cfg(not(loom))]
pub use core::sync::atomic::{fence, AtomicU32, AtomicU64, AtomicU8, Ordering};

#[cfg(loom)]
pub use loom::sync::atomic::{fence, AtomicU32, AtomicU64, AtomicU8, Ordering};
