// SPDX-License-Identifier: GPL-2.0

//! The `/dev/pcpbuddy` ioctl ABI: the `pcpbuddy-uapi` crate (`rust/uapi`), the one Rust
//! definition of `include/uapi/linux/pcpbuddy.h` that the kernel module compiles too; its
//! `tests/header.rs` checks it against the header.

pub use pcpbuddy_uapi::*;

/// `PCPBUDDY_BENCH_ROLE_ALLOC`, under the name this tool uses.
pub const ROLE_ALLOC: u32 = BENCH_ROLE_ALLOC;
/// `PCPBUDDY_BENCH_ROLE_FREE`, under the name this tool uses.
pub const ROLE_FREE: u32 = BENCH_ROLE_FREE;

/// `enum pcpbuddy_source` as the module parameter spells it.
pub fn source_name(source: u32) -> &'static str {
    Source::from_abi(source).map_or("unknown", Source::name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_numbers() {
        assert_eq!(IOC_BENCH, 0xd500b707);
        // ABI 1's number, still served.
        assert_eq!(IOC_BENCH_V1, 0xd4d0b707);
        assert_eq!(IOC_VERIFY, 0xb705);
        assert_eq!(source_name(2), "contig");
        assert_eq!(source_name(9), "unknown");
    }
}
