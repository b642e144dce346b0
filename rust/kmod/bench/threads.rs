// SPDX-License-Identifier: GPL-2.0

//! The kthreads of a run (benchmark or replay): starting them on their CPUs ([`Threads`]),
//! waking the ioctl when they are all ready ([`Readiness`]), waiting for them while watching
//! for signals ([`wait_for`]), and the run's clock ([`Clock`]).

use crate::glue;
use core::{
    ptr::NonNull,
    sync::atomic::{
        AtomicBool, AtomicUsize,
        Ordering::{AcqRel, Relaxed},
    },
};
use kernel::{bindings, prelude::*, sync::Completion, time::Delta};

/// The clock of benchmarks and replays: `CLOCK_MONOTONIC` (`ktime_get()`).
pub(crate) type Instant = kernel::time::Instant<kernel::time::Monotonic>;

/// Nanoseconds in `delta`, which never is negative here (the clock is monotonic).
pub(crate) fn ns(delta: Delta) -> u64 {
    delta.as_nanos() as u64
}

/// A run's time line: nanoseconds since the run was set up, as a `u64` that threads can share
/// in an atomic (the start and the end of the timed part).
pub(crate) struct Clock(Instant);

impl Clock {
    pub(crate) fn new() -> Self {
        Self(Instant::now())
    }

    /// `t` on this time line.
    pub(crate) fn at(&self, t: Instant) -> u64 {
        ns(t - self.0)
    }

    /// Now on this time line.
    pub(crate) fn now(&self) -> u64 {
        self.at(Instant::now())
    }
}

/// Wakes the ioctl once every thread it started is ready (a [`Completion`], not a polling loop).
///
/// # Invariants
///
/// `pending` is 1 (the starter's own count, until [`Readiness::wait`]) plus the threads expected
/// and not yet ready; `done` is completed when, and only when, it reaches 0.
#[pin_data]
pub(crate) struct Readiness {
    pending: AtomicUsize,
    #[pin]
    done: Completion,
}

impl Readiness {
    pub(crate) fn new() -> Result<Pin<KBox<Self>>> {
        // INVARIANT: the starter's count, no thread yet; not completed.
        KBox::pin_init(
            pin_init!(Self {
                pending: AtomicUsize::new(1),
                done <- Completion::new(),
            }),
            GFP_KERNEL,
        )
    }

    /// Counts a thread about to be started.
    pub(crate) fn expect(&self) {
        self.pending.fetch_add(1, Relaxed);
    }

    /// A thread is ready (or, from the starter, will not be started after all).
    pub(crate) fn arrive(&self) {
        if self.pending.fetch_sub(1, AcqRel) == 1 {
            // INVARIANT: the count reached 0 just now, once.
            self.done.complete_all();
        }
    }

    /// Waits, sleeping, until every expected thread is ready.
    pub(crate) fn wait(&self) {
        self.arrive();
        self.done.wait_for_completion();
    }
}

/// The kthreads of a run (benchmark or replay), one per worker, each bound to its worker's CPU.
pub(crate) struct Threads(KVec<NonNull<bindings::task_struct>>);

impl Threads {
    /// Starts `main(worker)` for every worker on its CPU (`cpu(worker)`), each counted in `ready`
    /// before it starts; gives up at the first that cannot be started. Returns the threads and
    /// whether all of them started.
    ///
    /// # Safety
    ///
    /// `main` takes a pointer to a `W` that only its thread uses. The workers (boxed, so they do
    /// not move) and all they refer to live until [`Threads::stop`] has returned, and the caller
    /// calls it.
    pub(crate) unsafe fn start<W>(
        workers: &mut [KBox<W>],
        cpu: impl Fn(&W) -> u32,
        main: unsafe extern "C" fn(*mut c_void) -> c_int,
        ready: &Readiness,
    ) -> Result<(Self, bool)> {
        let mut tasks = KVec::with_capacity(workers.len(), GFP_KERNEL)?;
        for worker in workers.iter_mut() {
            let cpu = cpu(worker);
            let data = core::ptr::from_mut::<W>(worker).cast::<c_void>();
            ready.expect();
            // SAFETY: By the caller's promises, `data` stays valid for `main` until the thread
            // is stopped in `stop`.
            match unsafe { glue::kthread_on_cpu(main, data, cpu) } {
                Some(task) => tasks.push(task, GFP_KERNEL)?,
                None => {
                    ready.arrive();
                    return Ok((Self(tasks), false));
                }
            }
        }
        Ok((Self(tasks), true))
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Waits for every thread to end.
    pub(crate) fn stop(mut self) {
        for t in self.0.drain_all() {
            // SAFETY: Each task came from `kthread_on_cpu` and is stopped once.
            unsafe { glue::kthread_stop(t) };
        }
    }
}

/// Sleeps until `done()`, looking every `poll`; a pending signal sets `stop` and `interrupted`
/// (once). Polls: the 7.3 `Completion` only waits uninterruptibly, and this wait must see
/// signals.
pub(crate) fn wait_for(
    stop: &AtomicBool,
    interrupted: &mut bool,
    poll: Delta,
    done: impl Fn() -> bool,
) {
    let task = kernel::current!();
    while !done() {
        if !*interrupted && task.signal_pending() {
            *interrupted = true;
            stop.store(true, Relaxed);
        }
        kernel::time::delay::fsleep(poll);
    }
}
