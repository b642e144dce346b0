// SPDX-License-Identifier: GPL-2.0

//! The one error type of the tool: a message for one line on stderr and an exit status.

use std::fmt;
use std::io;

/// Exit status after Ctrl-C, as a shell reports a process killed by `SIGINT`.
pub const EXIT_INTERRUPTED: i32 = 130;

/// An error to print as `pcpbctl: MESSAGE` before exiting with `status`.
#[derive(Debug)]
pub struct Error {
    pub message: String,
    pub status: i32,
}

impl Error {
    /// An error that exits with status 1.
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            status: 1,
        }
    }

    /// The error for an operation interrupted by a signal.
    pub fn interrupted(what: &str) -> Self {
        Error {
            message: format!("{what}: interrupted"),
            status: EXIT_INTERRUPTED,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

pub type Result<T> = std::result::Result<T, Error>;

/// The system's text for an I/O error, without Rust's ` (os error N)` suffix.
pub fn describe(err: &io::Error) -> String {
    let text = err.to_string();
    match text.find(" (os error ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

/// The symbolic name of the errno values this tool reports by name.
pub fn errno_name(errno: i32) -> Option<&'static str> {
    Some(match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EINTR => "EINTR",
        libc::EIO => "EIO",
        libc::ENOMEM => "ENOMEM",
        libc::EACCES => "EACCES",
        libc::EFAULT => "EFAULT",
        libc::EBUSY => "EBUSY",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::EUCLEAN => "EUCLEAN",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_drops_the_os_error_suffix() {
        let e = io::Error::from_raw_os_error(libc::ENOENT);
        assert_eq!(describe(&e), "No such file or directory");
        assert_eq!(errno_name(libc::EUCLEAN), Some("EUCLEAN"));
    }
}
