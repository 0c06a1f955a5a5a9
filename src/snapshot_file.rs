//! Snapshot files that a crash cannot tear: written to a temporary file beside the
//! target, synced, renamed over the target, and the directory synced. A crash at
//! any point leaves the old file or the new one. Files are created owner-only
//! (mode 0600 on unix): a `FingerprintSet` snapshot holds its secret key.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, BufWriter};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::snapshot_format::SnapshotError;

/// Makes temporary names unique within the process (saves may run at once).
static TEMPORARY_FILES: AtomicU64 = AtomicU64::new(0);

/// Removes the temporary file unless the rename went through: a failed or
/// panicking save leaves nothing behind, and never touches the target.
struct Temporary {
    path: Option<PathBuf>,
}

impl Drop for Temporary {
    fn drop(&mut self) {
        if let Some(path) = self.path.take() {
            let _ = fs::remove_file(path);
        }
    }
}

/// Writes `path` atomically through `write`.
pub(crate) fn write_atomically<T>(
    path: &Path,
    write: impl FnOnce(BufWriter<File>) -> Result<(T, BufWriter<File>), SnapshotError>,
) -> Result<T, SnapshotError> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| SnapshotError::Io(std::io::Error::other("the path names no file")))?;
    let temporary_path = directory.join(format!(
        ".{}.{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id(),
        TEMPORARY_FILES.fetch_add(1, Ordering::Relaxed)
    ));
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(&temporary_path)?;
    let mut temporary = Temporary {
        path: Some(temporary_path.clone()),
    };
    let (result, writer) = write(BufWriter::with_capacity(1 << 20, file))?;
    let file = writer.into_inner().map_err(|error| error.into_error())?;
    file.sync_all()?;
    drop(file);
    fs::rename(&temporary_path, path)?;
    temporary.path = None;
    // The rename is durable only once the directory entry is.
    #[cfg(unix)]
    File::open(&directory)?.sync_all()?;
    Ok(result)
}

/// Opens a snapshot file for reading.
pub(crate) fn open(path: &Path) -> Result<BufReader<File>, SnapshotError> {
    Ok(BufReader::with_capacity(1 << 20, File::open(path)?))
}
