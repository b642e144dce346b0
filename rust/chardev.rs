// SPDX-License-Identifier: GPL-2.0

//! `/dev/pcpbuddy`: the misc device whose ioctls drive the pool from user space.
//!
//! The ABI is `include/uapi/linux/pcpbuddy.h` (mirrored in [`crate::uapi`]) and documented in
//! `Documentation/ioctl.md`. Unknown commands fail with `ENOTTY`, bad pointers with `EFAULT`.
//!
//! ```c
//! #include <fcntl.h>
//! #include <stdio.h>
//! #include <sys/ioctl.h>
//! #include <linux/pcpbuddy.h>
//!
//! int main(void)
//! {
//!     struct pcpbuddy_info info;
//!     int fd = open("/dev/pcpbuddy", O_RDWR);
//!
//!     if (fd < 0 || ioctl(fd, PCPBUDDY_IOC_INFO, &info))
//!         return 1;
//!     printf("abi %u, pageblock order %u\n", info.abi_version, info.block_order);
//!     return 0;
//! }
//! ```

use crate::{pool::Pool, uapi};
use kernel::{
    fs::File,
    ioctl::_IOC_SIZE,
    miscdevice::{MiscDevice, MiscDeviceRegistration},
    prelude::*,
    uaccess::UserSlice,
};

/// An open `/dev/pcpbuddy`.
pub(crate) struct PoolDevice;

#[vtable]
impl MiscDevice for PoolDevice {
    type Ptr = KBox<Self>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Self>> {
        Ok(KBox::new(PoolDevice, GFP_KERNEL)?)
    }

    fn ioctl(_me: &PoolDevice, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        let pool = Pool::get().ok_or(ENODEV)?;
        let user = UserSlice::new(UserPtr::from_addr(arg), _IOC_SIZE(cmd));
        match cmd {
            uapi::IOC_INFO => user.writer().write(&pool.info())?,
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }
}
