// SPDX-License-Identifier: GPL-2.0

//! Rust mirror of `include/uapi/linux/pcpbuddy.h`, the `/dev/pcpbuddy` ioctl ABI.
//!
//! The header is the source of truth; these definitions copy it by hand because an out-of-tree
//! module cannot run bindgen on its own headers. Layouts are pinned by the size assertions below
//! and by the user-space test, which is compiled against the C header.

use kernel::{
    ioctl::_IOR,
    transmute::{AsBytes, FromBytes},
};

/// `PCPBUDDY_ABI_VERSION`.
pub(crate) const ABI_VERSION: u32 = 1;
/// `PCPBUDDY_IOC_MAGIC`.
const IOC_MAGIC: u32 = 0xB7;

/// `struct pcpbuddy_info`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct Info {
    pub(crate) abi_version: u32,
    pub(crate) block_order: u32,
    pub(crate) page_size: u32,
    pub(crate) nr_cpu_ids: u32,
    pub(crate) source: u32,
    pub(crate) node: i32,
    pub(crate) size_bytes: u64,
}
const _: () = assert!(core::mem::size_of::<Info>() == 32);

// SAFETY: `Info` is `repr(C)`, made of integers only, with no padding (32 bytes of fields).
unsafe impl AsBytes for Info {}
// SAFETY: Every bit pattern is a valid `Info`: it is made of integers only.
unsafe impl FromBytes for Info {}

/// `PCPBUDDY_IOC_INFO`.
pub(crate) const IOC_INFO: u32 = _IOR::<Info>(IOC_MAGIC, 0x00);
