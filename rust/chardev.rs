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
    pcpcore::{geometry::PageIndex, policy::Policy},
    pool::{current_cpu, Pool},
    uapi,
};
use kernel::{
    fs::File,
    ioctl::_IOC_SIZE,
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    new_mutex,
    prelude::*,
    sync::Mutex,
    transmute::AsBytes,
    uaccess::{UserSlice, UserSliceReader, UserSliceWriter},
};

/// Pages allocated through one open file.
struct Handle {
    index: PageIndex,
    order: u32,
}

/// The handle table of one open file: slot `h` is handle `h`.
#[derive(Default)]
struct Handles {
    slots: KVec<Option<Handle>>,
    /// Empty slots, reused before the table grows.
    vacant: KVec<u32>,
}

impl Handles {
    fn insert(&mut self, handle: Handle) -> Result<u32> {
        if let Some(h) = self.vacant.pop() {
            self.slots[h as usize] = Some(handle);
            return Ok(h);
        }
        let h = u32::try_from(self.slots.len()).map_err(|_| ENOSPC)?;
        self.slots.push(Some(handle), GFP_KERNEL)?;
        Ok(h)
    }

    fn get(&self, h: u32) -> Result<&Handle> {
        self.slots
            .get(h as usize)
            .and_then(Option::as_ref)
            .ok_or(EINVAL)
    }

    fn remove(&mut self, h: u32) -> Result {
        // Reserve the vacancy first so that a failed push cannot lose track of the slot.
        self.vacant.reserve(1, GFP_KERNEL)?;
        let slot = self.slots.get_mut(h as usize).ok_or(EINVAL)?;
        slot.take().ok_or(EINVAL)?;
        self.vacant.push(h, GFP_KERNEL)?;
        Ok(())
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
        let pool = Pool::get().ok_or(ENODEV)?;
        let user = UserSlice::new(UserPtr::from_addr(arg), _IOC_SIZE(cmd));
        match cmd {
            uapi::IOC_INFO => user.writer().write(&pool.info())?,
            uapi::IOC_ALLOC => {
                let (reader, writer) = user.reader_writer();
                me.alloc(pool, reader, writer)?
            }
            uapi::IOC_FREE => me.free(pool, user.reader())?,
            uapi::IOC_GET_POLICY => user.writer().write(&policy_to_uapi(pool.core().policy()))?,
            uapi::IOC_SET_POLICY => set_policy(pool, user.reader())?,
            uapi::IOC_VERIFY => pool.core().verify().map_err(|_| EUCLEAN)?,
            uapi::IOC_DRAIN => drain(pool, user.reader())?,
            uapi::IOC_BENCH => bench(pool, user)?,
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }
}

#[pinned_drop]
impl PinnedDrop for PoolDevice {
    fn drop(self: Pin<&mut Self>) {
        // The file holds a module reference, so the pool is still there.
        let Some(pool) = Pool::get() else {
            return;
        };
        let handles = self.handles.lock();
        let cpu = current_cpu();
        for handle in handles.slots.iter().flatten() {
            // A handle is freed exactly once, so this cannot fail; if it did, the core has
            // counted and reported it and the pages stay allocated (never handed out twice).
            let _ = pool.free(cpu, handle.index, handle.order);
        }
    }
}

/// The CPU an ioctl names: -1 for the caller's, else an online CPU.
fn cpu_arg(cpu: i32) -> Result<usize> {
    match cpu {
        -1 => Ok(current_cpu()),
        cpu if cpu >= 0 && glue::cpu_online(cpu as u32) => Ok(cpu as usize),
        _ => Err(EINVAL),
    }
}

/// The value `PCPBUDDY_ALLOC_FILL` writes at both ends of a page.
fn fill_pattern(pfn: usize) -> u64 {
    (pfn as u64) ^ 0x5a5a_a5a5_0f0f_f0f0
}

/// Writes (`check == false`) or checks the fill pattern in every page of an allocation.
fn fill_or_check(pool: &Pool, index: PageIndex, order: u32, check: bool) -> Result {
    let last = kernel::page::PAGE_SIZE / size_of::<u64>() - 1;
    for i in 0..1usize << order {
        let page = pool.page(index + i).ok_or(EINVAL)?;
        let pfn = glue::page_to_pfn(page);
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
        pool: &Pool,
        mut reader: UserSliceReader,
        mut writer: UserSliceWriter,
    ) -> Result {
        let mut req: uapi::Alloc = reader.read()?;
        if req.order > pool.block_order() || req.flags & !uapi::ALLOC_FILL != 0 {
            return Err(EINVAL);
        }
        let cpu = cpu_arg(req.cpu)?;
        let mut handles = self.handles.lock();
        let index = pool.alloc(cpu, req.order)?;
        let handle = Handle {
            index,
            order: req.order,
        };
        let result = (|| {
            if req.flags & uapi::ALLOC_FILL != 0 {
                fill_or_check(pool, index, req.order, false)?;
            }
            req.handle = handles.insert(handle)?;
            req.pfn = pool.pfn(index).ok_or(EINVAL)? as u64;
            Ok(())
        })();
        if let Err(e) = result {
            // Nothing refers to the pages yet: give them back.
            let _ = pool.free(cpu, index, req.order);
            return Err(e);
        }
        writer.write(&req).inspect_err(|_| {
            // The caller cannot learn the handle; keep the pages owned by the file, which
            // frees them on close.
        })
    }

    fn free(&self, pool: &Pool, mut reader: UserSliceReader) -> Result {
        let req: uapi::Free = reader.read()?;
        if req.flags & !uapi::FREE_CHECK != 0 {
            return Err(EINVAL);
        }
        let cpu = cpu_arg(req.cpu)?;
        let mut handles = self.handles.lock();
        let index = handles.get(req.handle)?.index;
        if req.flags & uapi::FREE_CHECK != 0 {
            let order = handles.get(req.handle)?.order;
            fill_or_check(pool, index, order, true)?;
        }
        // The order comes from the caller on purpose: a wrong one exercises the allocator's own
        // check, which refuses it without changing anything, and the handle stays.
        pool.free(cpu, index, req.order)?;
        handles.remove(req.handle)
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

fn set_policy(pool: &Pool, mut reader: UserSliceReader) -> Result {
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
    pool.core().set_policy(policy).map_err(|_| EINVAL)
}

fn drain(pool: &Pool, mut reader: UserSliceReader) -> Result {
    let cpu: i32 = reader.read()?;
    if cpu == -1 {
        for cpu in 0..pool.core().nr_cpus() {
            pool.core().drain_cpu(cpu);
        }
        return Ok(());
    }
    pool.core().drain_cpu(cpu_arg(cpu)?);
    Ok(())
}

fn bench(pool: &Pool, user: UserSlice) -> Result {
    let (mut reader, mut writer) = user.reader_writer();
    // 5 KiB: on the heap, not on the kernel stack.
    let mut req = KBox::<uapi::Bench>::new_uninit(GFP_KERNEL)?;
    // SAFETY: Zeroes are a valid `Bench` (integers only).
    let mut req = unsafe {
        req.as_mut_ptr().write_bytes(0, 1);
        req.assume_init()
    };
    reader.read_slice(req.as_bytes_mut())?;
    let result = crate::bench::run(pool, &mut req);
    // The results are written back even for EINTR: what ran before the signal is valid.
    if result.is_ok() || result == Err(EINTR) {
        writer.write_slice(req.as_bytes())?;
    }
    result
}
