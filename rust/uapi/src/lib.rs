// SPDX-License-Identifier: GPL-2.0

//! The `/dev/pcpbuddy` ioctl ABI of `include/uapi/linux/pcpbuddy.h`, defined once in Rust.
//!
//! The C header is the source of truth. Its Rust definition lives in [`abi`](src/abi.rs), which
//! both sides compile: `pcpbctl` through this crate, the kernel module by including the file
//! itself (`rust/kmod/uapi.rs`; an out-of-tree module cannot link a cargo crate), adding only
//! the kernel's own traits. `tests/header.rs` compiles a C program against the header and
//! compares every structure, field, constant, enum value and command number with it.

#![no_std]

/// The kernel module's hook for each ABI structure (its `AsBytes`/`FromBytes`); none here.
macro_rules! abi_struct_traits {
    ($name:ident) => {};
}

mod abi;

pub use abi::*;
