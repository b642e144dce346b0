// SPDX-License-Identifier: GPL-2.0

//! The in-kernel API: `#[no_mangle] extern "C"` functions declared in
//! `include/linux/pcpbuddy.h` and exported with `EXPORT_SYMBOL_GPL` from `pcpbuddy_glue.c`.
//!
//! Other modules, C or Rust, call these; a Rust caller declares them in an `extern "C"` block
//! (Kbuild cannot link one module crate against another). See `Documentation/api.md`.

use crate::{pool::Pool, uapi};
use kernel::prelude::*;

/// `int pcpbuddy_get_info(struct pcpbuddy_info *info)`: fills `*info`; `-EINVAL` for NULL.
///
/// # Safety
///
/// `info` is NULL or points to writable memory for a `struct pcpbuddy_info`.
#[no_mangle]
pub(crate) unsafe extern "C" fn pcpbuddy_get_info(info: *mut uapi::Info) -> c_int {
    if info.is_null() {
        return EINVAL.to_errno();
    }
    // The exporting module cannot be unloaded while a caller is loaded (the symbol dependency
    // holds a reference), and callers cannot run before our `init` published the pool.
    let Some(pool) = Pool::get() else {
        return ENODEV.to_errno();
    };
    // SAFETY: `info` is non-null and, by the caller's promise, valid for writes.
    unsafe { info.write(pool.info()) };
    0
}
