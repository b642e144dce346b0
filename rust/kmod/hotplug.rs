// SPDX-License-Identifier: GPL-2.0

//! CPU hotplug: nothing a CPU holds is stranded when it goes offline.
//!
//! * When a CPU goes down, its teardown callback (`CPUHP_AP_ONLINE_DYN`, on that CPU, process
//!   context) returns its magazine and drains its cache to the global pool.
//! * Once it is dead, the dead callback (`CPUHP_BP_PREPARE_DYN`, on another CPU) returns
//!   whatever the CPU cached between its teardown and its death (interrupts and kernel threads
//!   may allocate and free there until the very end), reaching the dead CPU's magazine directly:
//!   nothing runs on that CPU any more. This is how the kernel drains its own per-CPU page lists
//!   (`page_alloc_cpu_dead()`).
//!
//! Linux 7.3's Rust crate has no cpuhp abstraction; this uses `__cpuhp_setup_state()` (the
//! function behind the `cpuhp_setup_state_nocalls()` macro) with dynamic states.

use crate::{glue, kernel_pool::KernelPool};
use kernel::{bindings, error::to_result, prelude::*};

/// The registered hotplug states; removed when dropped.
///
/// # Invariants
///
/// `online` and `dead` are dynamic states that `__cpuhp_setup_state()` returned, registered
/// (with this module's callbacks) until `drop` removes them.
pub(crate) struct Hotplug {
    online: c_int,
    dead: c_int,
}

impl Hotplug {
    /// Registers the callbacks. CPUs online now are not called.
    pub(crate) fn register() -> Result<Self> {
        let online = setup(
            bindings::cpuhp_state_CPUHP_AP_ONLINE_DYN,
            c"pcpbuddy:online",
            cpu_going_down,
        )?;
        let dead = setup(
            bindings::cpuhp_state_CPUHP_BP_PREPARE_DYN,
            c"pcpbuddy:dead",
            cpu_dead,
        )
        .inspect_err(|_| {
            // SAFETY: `online` was registered above and is removed once.
            unsafe { bindings::__cpuhp_remove_state(online, false) };
        })?;
        // INVARIANT: both registered above.
        Ok(Self { online, dead })
    }
}

/// Registers `teardown` in a new dynamic state of range `range`, without calling it now; returns
/// the state.
fn setup(
    range: bindings::cpuhp_state,
    name: &'static CStr,
    teardown: extern "C" fn(c_uint) -> c_int,
) -> Result<c_int> {
    // SAFETY: The name is a static string; the callback is a function of this module and is
    // unregistered by `Hotplug` (`drop`, or `register` on failure) before the module's code
    // goes away.
    let state = unsafe {
        bindings::__cpuhp_setup_state(
            range,
            name.as_char_ptr(),
            false,
            None,
            Some(teardown),
            false,
        )
    };
    to_result(state.min(0))?;
    Ok(state)
}

impl Drop for Hotplug {
    fn drop(&mut self) {
        // SAFETY: By the type invariant, both states are registered; they are removed once.
        unsafe {
            bindings::__cpuhp_remove_state(self.dead, false);
            bindings::__cpuhp_remove_state(self.online, false);
        }
    }
}

/// Teardown on the CPU going offline: its magazine and its cache go back.
extern "C" fn cpu_going_down(cpu: c_uint) -> c_int {
    if let Some(pool) = KernelPool::get() {
        glue::flush_this_magazine(pool);
        pool.core().drain_cpu(cpu as usize);
    }
    0
}

/// On another CPU, once `cpu` is dead: what it cached at the very end goes back too.
extern "C" fn cpu_dead(cpu: c_uint) -> c_int {
    if let Some(pool) = KernelPool::get() {
        // SAFETY: `cpu` is dead: nothing runs there, and only its dead callback (this one)
        // touches its magazine now.
        if let Some(mag) = unsafe { pool.front().magazine_of(cpu) } {
            pool.core().flush_magazine(mag);
        }
        pool.core().drain_cpu(cpu as usize);
    }
    0
}
