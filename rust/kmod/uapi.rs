// SPDX-License-Identifier: GPL-2.0

//! The `/dev/pcpbuddy` ioctl ABI (`include/uapi/linux/pcpbuddy.h`): the one Rust definition of
//! it, `rust/uapi/src/abi.rs`, compiled into this crate, plus the kernel's traits for it.
//!
//! An out-of-tree module cannot link a cargo crate (Kbuild compiles one crate from the module's
//! own files), so this includes the crate's source file itself, as the module does with the
//! core (`pcpcore.rs`). `pcpbctl` uses the same file as the `pcpbuddy-uapi` crate, whose
//! `tests/header.rs` checks it against the C header.

use kernel::ioctl::{_IO, _IOR, _IOW, _IOWR};

/// The kernel side of every ABI structure, called by `abi_structs!` in `abi.rs` (the crate
/// defines it empty).
macro_rules! abi_struct_traits {
    ($name:ident) => {
        // SAFETY: `repr(C)`, integers and arrays of such structures only, and `abi_structs!`
        // asserts that the size is the sum of the fields' sizes: no padding, so every byte is
        // initialised.
        unsafe impl kernel::transmute::AsBytes for $name {}
        // SAFETY: Every bit pattern is a valid integer, so a valid structure of integers.
        unsafe impl kernel::transmute::FromBytes for $name {}
    };
}

// The file is written for the crate: its items are `pub`, and it defines the whole ABI, also
// what only user space uses (names, the drift test's tables).
#[allow(unreachable_pub, dead_code)]
#[path = "../uapi/src/abi.rs"]
mod abi;

pub(crate) use abi::*;

// `abi.rs` encodes command numbers the asm-generic way (x86, arm64, riscv, ...); on an
// architecture that encodes them otherwise, fail the build rather than answer -ENOTTY.
const _: () = {
    assert!(ioc(IOC_NONE, IOC_MAGIC, 0x05, 0) == _IO(IOC_MAGIC, 0x05));
    assert!(ioc(IOC_READ, IOC_MAGIC, 0x00, 8) == _IOR::<u64>(IOC_MAGIC, 0x00));
    assert!(ioc(IOC_WRITE, IOC_MAGIC, 0x06, 4) == _IOW::<i32>(IOC_MAGIC, 0x06));
    assert!(IOC_REPLAY == _IOWR::<Replay>(IOC_MAGIC, 0x08));
};
