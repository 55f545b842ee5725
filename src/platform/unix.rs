//! The Unix side of [`crate::platform`]: what goshim did before Windows.

use std::fs::{DirBuilder, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{DirBuilderExt, FileExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// A file's (device, inode).
pub fn file_id(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// A regular file with an execute bit.
pub fn is_executable(meta: &Metadata) -> bool {
    meta.is_file() && meta.permissions().mode() & 0o111 != 0
}

/// Creates the file's folder (and its parents) as 0700.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Files goshim creates are 0600.
pub fn private(opts: &mut OpenOptions) -> &mut OpenOptions {
    opts.mode(0o600)
}

/// Creates `path` (0600), which must not exist, and unlinks it at once: it
/// lives as long as its handle, so nothing is left behind, whatever happens.
pub fn create_anonymous(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    std::fs::remove_file(path)?;
    Ok(file)
}

/// `to` replaced by `from` in one step (rename(2)).
pub fn replace(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::rename(from, to)
}

/// Fills `buf` from `offset` without moving the file's cursor (pread).
pub fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    file.read_exact_at(buf, offset)
}

/// Size and modification time, to tell whether a file changed.
pub fn stamp(meta: &Metadata) -> String {
    format!("{}:{}.{}", meta.size(), meta.mtime(), meta.mtime_nsec())
}

/// Starts `cmd` as goshim's CLI (argv[0] `goshim`, whatever the binary's
/// name) in a session of its own, so that a terminal's Ctrl-C or hang-up does
/// not reach it.
pub fn detach_as_goshim(cmd: &mut Command) {
    cmd.arg0("goshim");
    // SAFETY: setsid is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let _ = nix::unistd::setsid();
            Ok(())
        });
    }
}
