//! The Windows side of [`crate::platform`].

use std::fs::{File, Metadata, OpenOptions};
use std::io;
use std::os::windows::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::os::windows::io::AsRawHandle;
use std::os::windows::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use windows_sys::Win32::Foundation::{ERROR_ACCESS_DENIED, ERROR_SHARING_VIOLATION};
use windows_sys::Win32::Storage::FileSystem::{
    BY_HANDLE_FILE_INFORMATION, FILE_FLAG_DELETE_ON_CLOSE, FILE_SHARE_DELETE, FILE_SHARE_READ,
    FILE_SHARE_WRITE, GetFileInformationByHandle,
};
use windows_sys::Win32::System::Threading::{
    CREATE_NEW_PROCESS_GROUP, CREATE_NO_WINDOW, DETACHED_PROCESS,
};

use crate::settings::vars;

/// A file's (volume serial number, file index): what hard links and every
/// path spelling of one file share, as `same-file` compares them.
pub fn file_id(path: &Path) -> Option<(u64, u64)> {
    let file = File::open(path).ok()?;
    let mut info: BY_HANDLE_FILE_INFORMATION = unsafe { std::mem::zeroed() };
    // SAFETY: a valid open handle and a pointer to a struct of the right type.
    let ok = unsafe { GetFileInformationByHandle(file.as_raw_handle(), &mut info) };
    (ok != 0).then(|| {
        let index = (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow);
        (u64::from(info.dwVolumeSerialNumber), index)
    })
}

/// Windows has no execute bit: the PATH search already asked for PATHEXT names.
pub fn is_executable(meta: &Metadata) -> bool {
    meta.is_file()
}

/// The folder is private already: it lives in the user's profile.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Others may read, replace and delete the file while goshim holds it open,
/// so that a writer's rename is never blocked by a reader (std's default,
/// said out loud).
pub fn private(opts: &mut OpenOptions) -> &mut OpenOptions {
    opts.share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
}

/// Creates `path`, which must not exist, deleted when its handle closes, so
/// that nothing is left behind, whatever happens.
pub fn create_anonymous(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
        .custom_flags(FILE_FLAG_DELETE_ON_CLOSE)
        .open(path)
}

/// How often a replace blocked by another program's handle is tried.
const REPLACE_TRIES: u32 = 10;

/// `to` replaced by `from` in one step. A program that opened `to` without
/// sharing delete access (an indexer, a virus scanner) blocks the rename for
/// a moment: try again a few times.
pub fn replace(from: &Path, to: &Path) -> io::Result<()> {
    let mut tries = 1;
    loop {
        match std::fs::rename(from, to) {
            Err(e) if tries < REPLACE_TRIES && is_sharing_violation(&e) => {
                std::thread::sleep(Duration::from_millis(10 * u64::from(tries)));
                tries += 1;
            }
            other => return other,
        }
    }
}

fn is_sharing_violation(e: &io::Error) -> bool {
    e.raw_os_error()
        .is_some_and(|c| c == ERROR_SHARING_VIOLATION as i32 || c == ERROR_ACCESS_DENIED as i32)
}

/// Fills `buf` from `offset`. (It moves the cursor, which no reader of a
/// spilled body uses: the body is complete before anyone reads it.)
pub fn read_exact_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<()> {
    while !buf.is_empty() {
        match file.seek_read(buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Size and modification time, to tell whether a file changed.
pub fn stamp(meta: &Metadata) -> String {
    format!("{}:{}", meta.file_size(), meta.last_write_time())
}

/// Starts `cmd` as goshim's CLI without a console, outside the console's
/// process group, so that Ctrl-C and closing the window do not reach it.
/// Windows has no argv[0] of one's choosing, so the personality goes by
/// GOSHIM_FORCE_ARG0.
pub fn detach_as_goshim(cmd: &mut Command) {
    cmd.env(vars::GOSHIM_FORCE_ARG0, "goshim")
        .creation_flags(DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW);
}
