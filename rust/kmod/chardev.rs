// SPDX-License-Identifier: GPL-2.0

//! `/dev/pcpbuddy`: the misc device whose ioctls drive the pool from user space.
//!
//! The ABI is `include/uapi/linux/pcpbuddy.h` (mirrored in [`crate::uapi`]) and documented in
//! `Documentation/ioctl.md`. Every field is validated: unknown commands fail with `ENOTTY`, bad
//! pointers with `EFAULT`, bad orders, CPUs, handles and policies with `EINVAL`, an exhausted
//! pool with `ENOMEM`.
//!
//! Pages allocated through the device belong to the open file: `PCPBUDDY_IOC_ALLOC` returns a
//! handle, `PCPBUDDY_IOC_FREE` frees it, and closing the file frees whatever is left. An open
//! file holds a reference on the module, so the module cannot be unloaded under its pages.
//!
//! ```c
//! #include <fcntl.h>
//! #include <stdio.h>
//! #include <sys/ioctl.h>
//! #include <linux/pcpbuddy.h>
//!
//! int main(void)
//! {
//!     struct pcpbuddy_alloc a = { .order = 9, .cpu = -1 };
//!     int fd = open("/dev/pcpbuddy", O_RDWR);
//!
//!     if (fd < 0 || ioctl(fd, PCPBUDDY_IOC_ALLOC, &a))
//!         return 1;
//!     printf("2 MiB at pfn %#llx\n", (unsigned long long)a.pfn);
//!     struct pcpbuddy_free f = { .handle = a.handle, .cpu = -1, .order = 9 };
//!     return ioctl(fd, PCPBUDDY_IOC_FREE, &f) ? 1 : 0;
//! }
//! ```

use crate::{
    glue,
    kernel_pool::KernelPool,
    nodes::NodePools,
    pcpcore::{geometry::PageIndex, policy::Policy},
    uapi,
};
use kernel::{
    bindings,
    fs::File,
    ioctl::_IOC_SIZE,
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    new_mutex,
    prelude::*,
    sync::Mutex,
    transmute::{AsBytes, FromBytes},
    uaccess::{UserSlice, UserSliceReader, UserSliceWriter},
};

/// Pages allocated through one open file.
#[derive(Clone, Copy)]
struct Handle {
    /// The pool ([`NodePools::pool`]) that holds the pages.
    slot: usize,
    index: PageIndex,
    order: u32,
}

/// The handle table of one open file: slot `h` is handle `h`.
///
/// By hand, not the kernel crate's `XArray`: its 7.3 binding has no index allocation
/// (`xa_alloc`), stores only boxed (`ForeignOwnable`) entries, and locks with a spinlock, while
/// the table's mutex is held across an allocation that may sleep (`smp_call_on_cpu()`).
///
/// # Invariants
///
/// `vacant` lists exactly the empty slots of `slots`, each once.
#[derive(Default)]
struct Handles {
    slots: KVec<Option<Handle>>,
    /// Empty slots, reused before the table grows.
    vacant: KVec<u32>,
}

impl Handles {
    fn insert(&mut self, handle: Handle) -> Result<u32> {
        if let Some(h) = self.vacant.pop() {
            // INVARIANT: the slot leaves `vacant` as it fills.
            self.slots[h as usize] = Some(handle);
            return Ok(h);
        }
        let h = u32::try_from(self.slots.len()).map_err(|_| ENOSPC)?;
        self.slots.push(Some(handle), GFP_KERNEL)?;
        Ok(h)
    }

    fn get(&self, h: u32) -> Result<Handle> {
        self.slots.get(h as usize).copied().flatten().ok_or(EINVAL)
    }

    /// Makes sure that the next [`Handles::remove`] cannot fail.
    fn reserve_removal(&mut self) -> Result {
        Ok(self.vacant.reserve(1, GFP_KERNEL)?)
    }

    /// Empties slot `h`, which holds a handle; room was reserved with
    /// [`Handles::reserve_removal`], so this cannot fail.
    fn remove(&mut self, h: u32) {
        if let Some(slot @ Some(_)) = self.slots.get_mut(h as usize) {
            *slot = None;
            // INVARIANT: the emptied slot joins `vacant`; the push uses reserved room.
            let _ = self.vacant.push(h, GFP_KERNEL);
        }
    }
}

/// An open `/dev/pcpbuddy`.
#[pin_data(PinnedDrop)]
pub(crate) struct PoolDevice {
    #[pin]
    handles: Mutex<Handles>,
}

#[vtable]
impl MiscDevice for PoolDevice {
    type Ptr = Pin<KBox<Self>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        KBox::try_pin_init(
            try_pin_init!(PoolDevice {
                handles <- new_mutex!(Handles::default()),
            }),
            GFP_KERNEL,
        )
    }

    fn ioctl(me: Pin<&PoolDevice>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let pools = NodePools::get().ok_or(ENODEV)?;
        // Node-0 semantics for what has one pool's answer: the policy (set on every pool
        // alike). The benchmark and the replay size themselves by the first pool too, and act
        // on every pool (their API calls go to each CPU's own node's pool).
        let pool = pools.first();
        let user = UserSlice::new(UserPtr::from_addr(arg), _IOC_SIZE(cmd));
        match cmd {
            uapi::IOC_INFO => user.writer().write(&pools.info())?,
            uapi::IOC_ALLOC => {
                let (reader, writer) = user.reader_writer();
                me.alloc(pools, reader, writer)?
            }
            uapi::IOC_FREE => me.free(pools, user.reader())?,
            uapi::IOC_GET_POLICY => user.writer().write(&policy_to_uapi(pool.core().policy()))?,
            uapi::IOC_SET_POLICY => set_policy(pools, user.reader())?,
            uapi::IOC_VERIFY => verify(pools)?,
            uapi::IOC_DRAIN => drain(pools, user.reader())?,
            // ABI 1's structure is the current one's beginning: `in_out` reads and writes what
            // the command's size says.
            uapi::IOC_BENCH | uapi::IOC_BENCH_V1 => bench(pools, user)?,
            uapi::IOC_REPLAY => replay(pools, user)?,
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }
}

#[pinned_drop]
impl PinnedDrop for PoolDevice {
    fn drop(self: Pin<&mut Self>) {
        // The file holds a module reference, so the pools are still there.
        let Some(pools) = NodePools::get() else {
            return;
        };
        let handles = self.handles.lock();
        for handle in handles.slots.iter().flatten() {
            // A handle is freed exactly once, with the order it was allocated with, so this
            // cannot fail; if it did, the pool has counted and reported it and the pages stay
            // allocated (never handed out twice).
            if let Some(pool) = pools.pool(handle.slot) {
                let _ = pool.free_index(handle.index, handle.order);
            }
        }
    }
}

/// The CPU an ioctl names: `None` for -1 (the caller's), else an online CPU.
fn cpu_arg(cpu: i32) -> Result<Option<u32>> {
    match cpu {
        -1 => Ok(None),
        cpu if cpu >= 0 && glue::cpu_online(cpu as u32) => Ok(Some(cpu as u32)),
        _ => Err(EINVAL),
    }
}

/// An API call to make on another CPU.
struct Call<'a> {
    pools: &'a NodePools,
    order: u32,
    slot: usize,
    index: PageIndex,
}

/// Allocates on the chosen CPU, in process context there (`smp_call_on_cpu()`), so that the
/// pool may ask the other CPUs for their magazines before it fails, as for any caller that may
/// sleep.
///
/// # Safety
///
/// `data` points to a `Call` that lives until the call returns.
unsafe extern "C" fn alloc_on_cpu(data: *mut c_void) -> c_int {
    // SAFETY: By the function's contract; the caller waits for us.
    let call = unsafe { &mut *data.cast::<Call<'_>>() };
    match call.pools.alloc_index(call.order) {
        Ok((slot, index)) => {
            call.slot = slot;
            call.index = index;
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// Frees on the chosen CPU, in process context there.
///
/// # Safety
///
/// As for [`alloc_on_cpu`].
unsafe extern "C" fn free_on_cpu(data: *mut c_void) -> c_int {
    // SAFETY: By the function's contract; the caller waits for us.
    let call = unsafe { &*data.cast::<Call<'_>>() };
    let Some(pool) = call.pools.pool(call.slot) else {
        return EINVAL.to_errno();
    };
    match pool.free_index(call.index, call.order) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Runs `f(call)` on `cpu` (or here, for `None`).
fn on_cpu(
    cpu: Option<u32>,
    f: unsafe extern "C" fn(*mut c_void) -> c_int,
    call: &mut Call<'_>,
) -> Result {
    let data = core::ptr::from_mut(call).cast::<c_void>();
    let ret = match cpu {
        // SAFETY: `call` outlives the call, which waits for `f` (process context).
        Some(cpu) => unsafe { bindings::smp_call_on_cpu(cpu, Some(f), data, false) },
        // SAFETY: `data` points to `call`, live for the call.
        None => unsafe { f(data) },
    };
    kernel::error::to_result(ret)
}

/// Allocates through the API on `cpu` (or the calling CPU): the pool's slot and the first
/// page's index there.
fn alloc_via_api(pools: &NodePools, cpu: Option<u32>, order: u32) -> Result<(usize, PageIndex)> {
    let mut call = Call {
        pools,
        order,
        slot: 0,
        index: 0,
    };
    on_cpu(cpu, alloc_on_cpu, &mut call)?;
    Ok((call.slot, call.index))
}

/// Frees through the API on `cpu` (or the calling CPU).
fn free_via_api(pools: &NodePools, cpu: Option<u32>, handle: Handle, order: u32) -> Result {
    let mut call = Call {
        pools,
        order,
        slot: handle.slot,
        index: handle.index,
    };
    on_cpu(cpu, free_on_cpu, &mut call)
}

/// The value `PCPBUDDY_ALLOC_FILL` writes at both ends of a page.
fn fill_pattern(pfn: usize) -> u64 {
    (pfn as u64) ^ 0x5a5a_a5a5_0f0f_f0f0
}

/// Writes (`check == false`) or checks the fill pattern in every page of an allocation.
fn fill_or_check(pool: &KernelPool, index: PageIndex, order: u32, check: bool) -> Result {
    let last = kernel::page::PAGE_SIZE / size_of::<u64>() - 1;
    for i in 0..1usize << order {
        let page = pool.page(index + i);
        let pfn = pool.pfn(index + i).ok_or(EINVAL)?;
        // SAFETY: `page` is a page of the pool that this file holds, and `page_address` of a
        // lowmem page is its direct-map address, valid for `PAGE_SIZE` bytes.
        let words = unsafe { glue::page_address(page) }.cast::<u64>();
        for word in [0, last] {
            // SAFETY: `word <= last` keeps the access inside the page; see above.
            let word = unsafe { words.add(word) };
            if check {
                // SAFETY: As above.
                if unsafe { word.read_volatile() } != fill_pattern(pfn) {
                    return Err(EIO);
                }
            } else {
                // SAFETY: As above; the page is ours to write.
                unsafe { word.write_volatile(fill_pattern(pfn)) };
            }
        }
    }
    Ok(())
}

impl PoolDevice {
    fn alloc(
        &self,
        pools: &NodePools,
        mut reader: UserSliceReader,
        mut writer: UserSliceWriter,
    ) -> Result {
        let mut req: uapi::Alloc = reader.read()?;
        if req.order > pools.first().block_order() || req.flags & !uapi::ALLOC_FILL != 0 {
            return Err(EINVAL);
        }
        let cpu = cpu_arg(req.cpu)?;
        let mut handles = self.handles.lock();
        let (slot, index) = alloc_via_api(pools, cpu, req.order)?;
        let pool = pools.pool(slot).ok_or(EINVAL)?;
        let handle = Handle {
            slot,
            index,
            order: req.order,
        };
        let result = (|| {
            if req.flags & uapi::ALLOC_FILL != 0 {
                fill_or_check(pool, index, req.order, false)?;
            }
            req.pfn = pool.pfn(index).ok_or(EINVAL)? as u64;
            req.handle = handles.insert(handle)?;
            Ok(())
        })();
        if let Err(e) = result {
            // Nothing refers to the pages yet: give them back.
            let _ = pool.free_index(index, req.order);
            return Err(e);
        }
        // If the caller cannot read the handle back, the pages stay owned by the file, which
        // frees them on close.
        writer.write(&req)
    }

    fn free(&self, pools: &NodePools, mut reader: UserSliceReader) -> Result {
        let req: uapi::Free = reader.read()?;
        if req.flags & !uapi::FREE_CHECK != 0 {
            return Err(EINVAL);
        }
        let cpu = cpu_arg(req.cpu)?;
        let mut handles = self.handles.lock();
        let handle = handles.get(req.handle)?;
        let pool = pools.pool(handle.slot).ok_or(EINVAL)?;
        if req.flags & uapi::FREE_CHECK != 0 {
            fill_or_check(pool, handle.index, handle.order, true)?;
        }
        // Everything that can fail comes before the free: once the pages are back in the pool
        // the handle must go, or closing the file would free them again.
        handles.reserve_removal()?;
        // The order comes from the caller on purpose: a wrong one exercises the allocator's own
        // check, which refuses it without changing anything, and the handle stays.
        free_via_api(pools, cpu, handle, req.order)?;
        handles.remove(req.handle);
        Ok(())
    }
}

fn policy_to_uapi(policy: Policy) -> uapi::Policy {
    uapi::Policy {
        ownership: policy.ownership.into(),
        fragment_recovery: policy.fragment_recovery.into(),
        high: policy.high,
        batch: policy.batch,
    }
}

/// Sets the policy of every pool (one per node with `node=-1`).
fn set_policy(pools: &NodePools, mut reader: UserSliceReader) -> Result {
    let req: uapi::Policy = reader.read()?;
    let flag = |v: u32| match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err(EINVAL),
    };
    let policy = Policy {
        ownership: flag(req.ownership)?,
        fragment_recovery: flag(req.fragment_recovery)?,
        high: req.high,
        batch: req.batch,
    };
    for pool in pools.iter() {
        pool.core().set_policy(policy).map_err(|_| EINVAL)?;
    }
    Ok(())
}

/// Every invariant of every pool, after every CPU returned its magazines (the pools must be
/// idle).
fn verify(pools: &NodePools) -> Result {
    glue::flush_all_published_magazines();
    for pool in pools.iter() {
        pool.core().verify(&[]).map_err(|_| EUCLEAN)?;
    }
    Ok(())
}

/// Drains one CPU's caches (or every CPU's) in every pool.
fn drain(pools: &NodePools, mut reader: UserSliceReader) -> Result {
    let cpu: i32 = reader.read()?;
    let cpu = cpu_arg(cpu)?;
    glue::flush_all_published_magazines();
    for pool in pools.iter() {
        match cpu {
            None => {
                for cpu in 0..pool.core().nr_cpus() {
                    pool.core().drain_cpu(cpu);
                }
            }
            Some(cpu) => pool.core().drain_cpu(cpu as usize),
        }
        pool.core().absorb_fragments_now();
    }
    Ok(())
}

fn bench(pools: &NodePools, user: UserSlice) -> Result {
    in_out::<uapi::Bench>(user, |req| crate::bench::run(pools, req))
}

fn replay(pools: &NodePools, user: UserSlice) -> Result {
    in_out::<uapi::Replay>(user, |req| crate::replay::run(pools, req))
}

/// Reads a request of a long-running ioctl (bench, replay), runs it and writes the results back,
/// also for `EINTR`: what ran before the signal is valid.
///
/// Only the command's size is read and written: the whole `T`, or for an older ABI's command
/// (`PCPBUDDY_IOC_BENCH_V1`) its smaller structure, `T`'s beginning; the fields past it read
/// as zeroes (what that ABI did not have is not asked for) and are not written back.
fn in_out<T: AsBytes + FromBytes>(user: UserSlice, run: impl FnOnce(&mut T) -> Result) -> Result {
    let (mut reader, mut writer) = user.reader_writer();
    let size = reader.len();
    // About 5 KiB: on the heap, not on the kernel stack.
    let mut req = KBox::<T>::new_uninit(GFP_KERNEL)?;
    // SAFETY: `T: FromBytes`: every bit pattern is a valid `T`, zeroes too.
    let mut req = unsafe {
        req.as_mut_ptr().write_bytes(0, 1);
        req.assume_init()
    };
    // The commands' sizes are at most `T`'s, so `get` fails never (and has no panic path).
    reader.read_slice(req.as_bytes_mut().get_mut(..size).ok_or(EINVAL)?)?;
    let result = run(&mut req);
    if result.is_ok() || result == Err(EINTR) {
        writer.write_slice(req.as_bytes().get(..size).ok_or(EINVAL)?)?;
    }
    result
}
