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
