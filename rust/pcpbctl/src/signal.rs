// SPDX-License-Identifier: GPL-2.0

//! Ctrl-C during a benchmark: the in-kernel run is interrupted and `PCPBUDDY_IOC_BENCH` fails with
//! `EINTR`, which the tool reports in one line (exit 130) instead of dying silently.
//!
//! The handler is installed without `SA_RESTART`, so the ioctl returns `EINTR` rather than being
//! restarted, and it only sets a flag, which the suite also checks between runs. This is nix's
//! `sigaction` rather than `ctrlc` or `signal-hook`, which install their handlers with
//! `SA_RESTART`.

use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use std::sync::atomic::{AtomicBool, Ordering};

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: nix::libc::c_int) {
    // Only an atomic store: async-signal-safe.
    INTERRUPTED.store(true, Ordering::SeqCst);
}

/// Catches `SIGINT` and `SIGTERM` from now on.
pub fn catch_interrupts() {
    let action = SigAction::new(
        SigHandler::Handler(on_sigint),
        SaFlags::empty(),
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: The handler only performs an async-signal-safe atomic store, and no other
        // handler of these signals is installed in this program.
        let _ = unsafe { sigaction(sig, &action) };
    }
}

/// Whether Ctrl-C was pressed since [`catch_interrupts`].
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}
