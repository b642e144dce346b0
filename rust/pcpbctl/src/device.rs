// SPDX-License-Identifier: GPL-2.0

//! `/dev/pcpbuddy`: opening it and its ioctls (Documentation/ioctl.md).

use crate::abi::{self, Bench, BenchBlock, Info, Policy, Replay, ReplayOp};
use crate::bench::{Outcome, Params, PeakMap};
use crate::error::{describe, errno, errno_name, Error, Result};
use nix::errno::Errno;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

// The ioctl wrappers, with the command numbers of abi.rs (the `_bad` forms take a number as
// it is rather than composing one, so the numbers stay defined once, next to the structures).
nix::ioctl_read_bad!(ioc_info, abi::IOC_INFO, Info);
nix::ioctl_read_bad!(ioc_get_policy, abi::IOC_GET_POLICY, Policy);
nix::ioctl_write_ptr_bad!(ioc_set_policy, abi::IOC_SET_POLICY, Policy);
nix::ioctl_none_bad!(ioc_verify, abi::IOC_VERIFY);
nix::ioctl_readwrite_bad!(ioc_bench, abi::IOC_BENCH, Bench);
nix::ioctl_readwrite_bad!(ioc_replay, abi::IOC_REPLAY, Replay);

/// The device node the module registers.
pub const DEFAULT_PATH: &str = "/dev/pcpbuddy";

/// An open `/dev/pcpbuddy`.
pub struct Device {
    file: File,
    path: PathBuf,
}

impl Device {
    /// Opens the device, with a hint in the error when the module is not loaded or the caller is
    /// not root.
    pub fn open(path: &Path) -> Result<Device> {
        match OpenOptions::new().read(true).write(true).open(path) {
            Ok(file) => Ok(Device {
                file,
                path: path.to_path_buf(),
            }),
            Err(e) => {
                let hint = match errno(&e) {
                    Some(Errno::ENOENT | Errno::ENXIO | Errno::ENODEV) => {
                        " (is the pcpbuddy module loaded?)"
                    }
                    Some(Errno::EACCES | Errno::EPERM) => " (the device is root-only)",
                    _ => "",
                };
                Err(Error::io(path, &e).hint(hint))
            }
        }
    }

    /// The error of a failed run (`PCPBUDDY_IOC_BENCH`, `PCPBUDDY_IOC_REPLAY`) of `what`:
    /// interrupted, refused (`EINVAL`, then `einval`), busy (`EBUSY`, then `ebusy`), or else
    /// [`Device::error`].
    pub fn run_error(
        &self,
        command: &str,
        what: &str,
        err: &io::Error,
        einval: &str,
        ebusy: &str,
    ) -> Error {
        match errno(err) {
            Some(Errno::EINTR) => Error::interrupted(what),
            Some(Errno::EINVAL) => Error::new(format!("{what}: {einval}")),
            Some(Errno::EBUSY) => Error::new(format!("{what}: {ebusy}")),
            _ => self.error(&format!("{command} ({what})"), err),
        }
    }

    /// An error for a failed command, naming the device, the command and the errno.
    pub fn error(&self, command: &str, err: &io::Error) -> Error {
        let name = errno_name(err)
            .map(|n| format!(" ({n})"))
            .unwrap_or_default();
        let hint = if errno(err) == Some(Errno::ENOTTY) {
            "; the module does not know this command: an older module or another pcpbuddy.h?"
        } else {
            ""
        };
        Error::new(format!(
            "{}: {}: {}{}{}",
            self.path.display(),
            command,
            describe(err),
            name,
            hint
        ))
    }

    /// `PCPBUDDY_IOC_INFO`.
    pub fn info(&self) -> io::Result<Info> {
        let mut info = Info::default();
        // SAFETY: The descriptor is open for the lifetime of `self`; `PCPBUDDY_IOC_INFO` writes
        // a `struct pcpbuddy_info`, which `Info` mirrors, into `info`.
        unsafe { ioc_info(self.fd(), &mut info) }?;
        Ok(info)
    }

    /// `PCPBUDDY_IOC_GET_POLICY`.
    pub fn get_policy(&self) -> io::Result<Policy> {
        let mut policy = Policy::default();
        // SAFETY: The descriptor is open; `PCPBUDDY_IOC_GET_POLICY` writes a
        // `struct pcpbuddy_policy`, mirrored by `Policy`, into `policy`.
        unsafe { ioc_get_policy(self.fd(), &mut policy) }?;
        Ok(policy)
    }

    /// `PCPBUDDY_IOC_SET_POLICY`.
    pub fn set_policy(&self, policy: &Policy) -> io::Result<()> {
        // SAFETY: The descriptor is open; `PCPBUDDY_IOC_SET_POLICY` reads a
        // `struct pcpbuddy_policy`, mirrored by `Policy`, from `policy`.
        unsafe { ioc_set_policy(self.fd(), policy) }?;
        Ok(())
    }

    /// `PCPBUDDY_IOC_VERIFY`: `Ok(())`, or the error (`EUCLEAN`: invariants violated).
    pub fn verify(&self) -> io::Result<()> {
        // SAFETY: The descriptor is open; `PCPBUDDY_IOC_VERIFY` takes no argument (`_IO`).
        unsafe { ioc_verify(self.fd()) }?;
        Ok(())
    }

    fn fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// `PCPBUDDY_IOC_BENCH`: runs one benchmark and returns its outcome.
    pub fn bench(&self, params: &Params) -> io::Result<Outcome> {
        // On the heap: the structure is 5 KiB. CPU numbers above 63 are refused here as the
        // kernel would refuse them.
        let mut req = Box::new(request(params).map_err(|_| io::Error::from(Errno::EINVAL))?);
        // The peak map's buffer: an entry per block of the pool.
        let mut map = Vec::new();
        if params.peak_map {
            let info = self.info()?;
            let blocks = info.nr_pages >> info.block_order;
            map = vec![BenchBlock::default(); blocks as usize];
            req.peak_map = map.as_mut_ptr() as u64;
            req.peak_map_len = u32::try_from(blocks).map_err(|_| io::Error::from(Errno::EINVAL))?;
        }
        // `PCPBUDDY_IOC_BENCH` reads and writes a `struct pcpbuddy_bench`, which `Bench` is
        // (rust/uapi, checked against the header), and writes at most `peak_map_len`
        // `struct pcpbuddy_bench_block` at `peak_map`, which `map` holds.
        // SAFETY: The descriptor is open and both buffers live across the call.
        unsafe { ioc_bench(self.fd(), &mut *req) }?;
        Ok(outcome(&req, &map))
    }
}

impl Device {
    /// `PCPBUDDY_IOC_REPLAY`: replays `ops` with `backend` on the CPUs of `cpu_mask` (0: every
    /// online CPU below 64).
    pub fn replay(&self, ops: &[ReplayOp], backend: u32, cpu_mask: u64) -> io::Result<Box<Replay>> {
        let mut req = Box::new(Replay {
            ops: ops.as_ptr() as u64,
            nr_ops: ops.len() as u64,
            cpu_mask,
            backend,
            ..Replay::default()
        });
        // SAFETY: The descriptor is open; `PCPBUDDY_IOC_REPLAY` reads and writes a
        // `struct pcpbuddy_replay`, which `Replay` is (rust/uapi, checked against the header), and
        // reads `nr_ops` operations at `ops`, which `ops` holds; both live across the call.
        unsafe { ioc_replay(self.fd(), &mut *req) }?;
        Ok(req)
    }
}

/// The ioctl argument for `params`.
pub fn request(params: &Params) -> Result<Bench> {
    Ok(Bench {
        pattern: params.pattern.abi(),
        backend: params.backend.abi(),
        order: params.order,
        batch: params.batch,
        alloc_cpus: crate::cpulist::to_mask(&params.alloc_cpus)?,
        free_cpus: crate::cpulist::to_mask(&params.free_cpus)?,
        ops: params.ops,
        seed: params.seed,
        flags: if params.peak_map {
            abi::BENCH_PEAK_MAP
        } else {
            0
        },
        ..Bench::default()
    })
}

/// The filled part of a completed request, whose peak map (if asked for) went to `map`.
pub fn outcome(req: &Bench, map: &[BenchBlock]) -> Outcome {
    let nr_cpus = (req.nr_cpus as usize).min(abi::BENCH_MAX_CPUS);
    let nr_samples = (req.nr_samples as usize).min(abi::BENCH_MAX_SAMPLES);
    let written = (req.peak_map_nr as usize).min(map.len());
    Outcome {
        elapsed_ns: req.elapsed_ns,
        counters: req.counters,
        cpus: req.cpus[..nr_cpus].to_vec(),
        samples: req.samples[..nr_samples].to_vec(),
        peak_map: (written > 0).then(|| PeakMap::new(req.peak, req.peak_map_nr, &map[..written])),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{Backend, Pattern};

    #[test]
    fn request_and_outcome() {
        let p = Params {
            pattern: Pattern::Remote,
            backend: Backend::PoolClassic,
            order: 9,
            batch: 16,
            alloc_cpus: vec![1, 2, 3],
            free_cpus: vec![0],
            ops: 500,
            seed: 7,
            peak_map: false,
        };
        let mut req = request(&p).unwrap();
        assert_eq!(
            (req.pattern, req.backend, req.order, req.batch),
            (3, 1, 9, 16)
        );
        assert_eq!(
            (req.alloc_cpus, req.free_cpus, req.ops, req.seed),
            (0b1110, 1, 500, 7)
        );
        req.nr_cpus = 2;
        req.nr_samples = 1;
        req.cpus[1].allocs = 5;
        req.samples[0].free_blocks = 3;
        let out = outcome(&req, &[]);
        assert_eq!(out.cpus.len(), 2);
        assert_eq!(out.cpus[1].allocs, 5);
        assert_eq!(out.samples[0].free_blocks, 3);
        assert_eq!(out.peak_map, None);
        // A kernel that reports more entries than the arrays hold is clamped.
        req.nr_cpus = 1000;
        assert_eq!(outcome(&req, &[]).cpus.len(), abi::BENCH_MAX_CPUS);
    }

    #[test]
    fn peak_map_request_and_outcome() {
        let mut p = Params::new(Pattern::Churn, Backend::Pool, 9, &[0, 1], &[], 500, 7);
        assert_eq!(request(&p).unwrap().flags, 0);
        p.peak_map = true;
        let mut req = request(&p).unwrap();
        assert_eq!(req.flags, abi::BENCH_PEAK_MAP);
        let map = [
            BenchBlock {
                state: 1,
                owner: 3,
                free_pages: 7,
                ..Default::default()
            },
            BenchBlock {
                state: 0,
                owner: abi::BLOCK_NO_OWNER,
                free_pages: 512,
                ..Default::default()
            },
        ];
        // The pool has 4 blocks; the buffer held 2.
        req.peak_map_nr = 4;
        req.peak.free_blocks = 1;
        let m = outcome(&req, &map).peak_map.unwrap();
        assert_eq!(
            (m.nr_blocks, m.blocks.len(), m.sample.free_blocks),
            (4, 2, 1)
        );
        assert_eq!((m.blocks[0].state, m.blocks[0].owner), ("owned", Some(3)));
        assert_eq!((m.blocks[1].state, m.blocks[1].owner), ("free", None));
        // No sample taken: no map.
        req.peak_map_nr = 0;
        assert_eq!(outcome(&req, &map).peak_map, None);
    }

    #[test]
    fn open_error_names_the_module() {
        let err = Device::open(Path::new("/nonexistent/pcpbuddy"))
            .err()
            .unwrap();
        assert_eq!(
            err.message,
            "/nonexistent/pcpbuddy: No such file or directory (is the pcpbuddy module loaded?)"
        );
    }
}
