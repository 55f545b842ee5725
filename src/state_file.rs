//! goshim's state files: written atomically with mode 0600 (on Unix), read leniently.
//!
//! Writers go through a temp file and a rename, so a reader sees either the
//! old file or the new one, never a torn one, and never has to take a lock.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

use crate::platform;

/// Whether a write must also survive a power cut (an fsync before the rename).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Durability {
    /// goshim's caches: one lost or torn by a crash reads as missing, so go
    /// env and health are rebuilt and the metrics start again from zero. They
    /// skip the fsync, which a relayed run would otherwise pay at its end
    /// (0.5 ms on this VM's disk, milliseconds on a CI runner's network disk).
    Cache,
    /// The user's config file: the file and then its folder (the rename) are
    /// synced, so after a crash it is the new version.
    Durable,
}

/// Replaces `path` with `bytes` atomically, also while others have it open;
/// on Unix the file gets mode 0600, its folder 0700.
pub fn write_atomic(path: &Path, bytes: &[u8], durability: Durability) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| io::Error::other("state file has no parent folder"))?;
    platform::create_private_dir(dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let result = (|| {
        let mut file =
            platform::private(OpenOptions::new().write(true).create(true).truncate(true))
                .open(&tmp)?;
        file.write_all(bytes)?;
        if durability == Durability::Durable {
            file.sync_all()?;
        }
        platform::replace(&tmp, path)?;
        if durability == Durability::Durable {
            // The new file is in place either way: a folder that cannot be
            // synced is no failed write.
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The file's bytes, or None when it is missing or unreadable (never an error).
pub fn read(path: &Path) -> Option<Vec<u8>> {
    fs::read(path).ok()
}

/// Opens (creating) a lock file next to the state, for `File::lock` (flock on Unix).
pub fn open_lock(path: &Path) -> io::Result<File> {
    if let Some(dir) = path.parent() {
        platform::create_private_dir(dir)?;
    }
    platform::private(
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
    )
    .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_atomically_with_private_mode() {
        let dir = std::env::temp_dir().join(format!("goshim-state-{}", std::process::id()));
        let path = dir.join("sub").join("x.json");
        write_atomic(&path, b"one", Durability::Durable).unwrap();
        write_atomic(&path, b"two", Durability::Cache).unwrap();
        assert_eq!(read(&path).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
        fs::remove_dir_all(dir).unwrap();
    }
}
