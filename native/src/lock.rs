//! One writer per output directory: an exclusive advisory lock on `DIR/.lock`, held by the
//! process for as long as it writes there. A second writer is refused in one line instead of
//! interleaving its files with the first one's.

use crate::fail::{Fail, Result};
use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

/// Creates `dir` if needed and locks it; the lock lasts while the returned file is alive (the
/// OS releases it when the process ends, however it ends).
pub fn lock_dir(dir: &Path, what: &str) -> Result<File> {
    std::fs::create_dir_all(dir).map_err(|e| Fail::output(dir, e))?;
    let path = dir.join(".lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Fail::output(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(Fail::input(
            dir,
            format!(
                "another {what} is writing here (it holds {}): wait for it to end, or choose \
                 another output",
                path.display()
            ),
        )),
        Err(TryLockError::Error(e)) => Err(Fail::output(&path, format!("cannot lock: {e}"))),
    }
}
