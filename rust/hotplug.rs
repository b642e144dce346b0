// SPDX-License-Identifier: GPL-2.0

//! CPU hotplug: a CPU going offline has its cache drained to the global pool; a CPU coming
//! online starts with an empty cache (drained again, in case an allocation on behalf of the
//! offline CPU parked pages there, see `platform.rs` on stale CPU ids).
//!
//! Linux 7.3's Rust crate has no cpuhp abstraction; this uses `__cpuhp_setup_state()` (the
//! function behind the `cpuhp_setup_state_nocalls()` macro) with a dynamic AP state, whose
//! callbacks run in process context on the CPU concerned.

use crate::pool::Pool;
use kernel::{bindings, error::to_result, prelude::*};

/// The registered hotplug state; removed when dropped.
pub(crate) struct Hotplug {
    state: c_int,
}

impl Hotplug {
    /// Registers the callbacks. CPUs online now are not called: their caches are empty.
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: The name is a static string; the callbacks are functions of this module and
        // are unregistered in `drop`, before the module's code goes away.
        let state = unsafe {
            bindings::__cpuhp_setup_state(
                bindings::cpuhp_state_CPUHP_AP_ONLINE_DYN,
                c"pcpbuddy:online".as_ptr().cast(),
                false,
                Some(cpu_online),
                Some(cpu_offline),
                false,
            )
        };
        to_result(state.min(0))?;
        Ok(Self { state })
    }
}

impl Drop for Hotplug {
    fn drop(&mut self) {
        // SAFETY: `state` was returned by `__cpuhp_setup_state` and is removed once.
        unsafe { bindings::__cpuhp_remove_state(self.state, false) };
    }
}

/// Drains `cpu`'s cache (both directions of a hotplug transition).
fn drain(cpu: c_uint) -> c_int {
    if let Some(pool) = Pool::get() {
        pool.core().drain_cpu(cpu as usize);
    }
    0
}

/// cpuhp startup callback.
extern "C" fn cpu_online(cpu: c_uint) -> c_int {
    drain(cpu)
}

/// cpuhp teardown callback.
extern "C" fn cpu_offline(cpu: c_uint) -> c_int {
    drain(cpu)
}
