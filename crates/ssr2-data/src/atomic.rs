//! The one way this project writes a file: to `NAME.partial` beside it, flushed to disk, then
//! renamed over `NAME`, so a reader (or a crash) sees the old file or the new one, never half.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::DataError;

/// `path` with `.partial` appended to its file name.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    PathBuf::from(name)
}

/// Writes `bytes` to `path` atomically; on failure the partial file is removed and the error
/// names the file that failed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DataError> {
    let partial = partial_path(path);
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| DataError::Io { path, source }
    };
    let written = std::fs::File::create(&partial).and_then(|mut f| {
        f.write_all(bytes)?;
        f.sync_all()
    });
    if let Err(e) = written {
        // Best effort: a half-written partial file is of no use.
        let _ = std::fs::remove_file(&partial);
        return Err(io(&partial)(e));
    }
    std::fs::rename(&partial, path).map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_whole_and_leaves_no_partial() {
        let dir = std::env::temp_dir().join(format!("ssr2-atomic-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.json");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert!(!partial_path(&path).exists());
        let e = write_atomic(&dir.join("missing/b.json"), b"x").unwrap_err().to_string();
        assert!(e.contains("b.json.partial"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
