// SPDX-License-Identifier: GPL-2.0

//! The one error type of the tool: a message for one line on stderr and an exit status.

use nix::errno::Errno;
use std::fmt;
use std::io;
use std::path::Path;

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

    /// `PATH: TEXT` for an I/O error on a file, with the system's text (`describe`).
    pub fn io(path: &Path, err: &io::Error) -> Self {
        Error::new(format!("{}: {}", path.display(), describe(err)))
    }

    /// This error with `hint` appended, e.g. ` (is the pcpbuddy module loaded?)`.
    pub fn hint(mut self, hint: &str) -> Self {
        self.message.push_str(hint);
        self
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

/// Creates `dir` and its parents; an error names the directory.
pub fn create_dir_all(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, &e))
}

/// Writes `contents` to `path`; an error names the file.
pub fn write_file(path: &Path, contents: impl AsRef<[u8]>) -> Result<()> {
    std::fs::write(path, contents).map_err(|e| Error::io(path, &e))
}

/// The errno of an I/O error, if it came from the system.
pub fn errno(err: &io::Error) -> Option<Errno> {
    err.raw_os_error().map(Errno::from_raw)
}

/// The symbolic name of an errno (`EUCLEAN`), from nix's table: its `Debug` is the name.
pub fn errno_name(err: &io::Error) -> Option<String> {
    match errno(err)? {
        Errno::UnknownErrno => None,
        e => Some(format!("{e:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_drops_the_os_error_suffix() {
        let e = io::Error::from_raw_os_error(Errno::ENOENT as i32);
        assert_eq!(describe(&e), "No such file or directory");
        let e = io::Error::from(Errno::EUCLEAN);
        assert_eq!(errno_name(&e).as_deref(), Some("EUCLEAN"));
        assert_eq!(errno(&e), Some(Errno::EUCLEAN));
        assert_eq!(errno_name(&io::Error::other("not the system's")), None);
        let e = Error::io(Path::new("/x"), &io::Error::from(Errno::ENOENT)).hint(" (hint)");
        assert_eq!(e.message, "/x: No such file or directory (hint)");
    }
}
