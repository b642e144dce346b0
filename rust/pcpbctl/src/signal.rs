// SPDX-License-Identifier: GPL-2.0

//! Ctrl-C during a benchmark: the in-kernel run is interrupted and `PCPBUDDY_IOC_BENCH` fails with
//! `EINTR`, which the tool reports in one line (exit 130) instead of dying silently.
//!
//! The handler is installed without `SA_RESTART`, so the ioctl returns `EINTR` rather than being
//! restarted, and it only sets a flag, which the suite also checks between runs.

use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Catches `SIGINT` and `SIGTERM` from now on.
pub fn catch_interrupts() {
    // SAFETY: `sigaction` is plain data; all-zero is a valid value (empty mask, no flags), and
    // the fields that matter are set below.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = on_sigint as extern "C" fn(libc::c_int) as libc::sighandler_t;
    action.sa_flags = 0;
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: `action` is a valid, initialised `sigaction` whose handler only performs an
        // async-signal-safe atomic store; the old action is not asked for (null).
        unsafe {
            libc::sigaction(sig, &action, std::ptr::null_mut());
        }
    }
}

/// Whether Ctrl-C was pressed since [`catch_interrupts`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
