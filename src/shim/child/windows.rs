//! Running the real go on Windows, which has no exec: go always runs as a
//! child, and the shim exits with go's full 32-bit exit code (after rustup and
//! uv).
//!
//! - Once go has started, console control events (Ctrl-C, Ctrl-Break, closing
//!   the window) are ignored by the shim: the console sends them to every
//!   process attached to it, go included, and go handles them itself. The
//!   shim notes them, so that an interrupted run is never repeated.
//! - go is put in a job object that kills it when the job's last handle, the
//!   shim's, closes: go dies with the shim, however the shim ends. go's own
//!   children break away from the job silently (as uv lets them), so that
//!   what go starts is no business of the shim's.
//! - Unix signals (SIGUSR1, SIGWINCH, ...) do not exist here: nothing to forward.

use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};

use windows_sys::Win32::Foundation::TRUE;
use windows_sys::Win32::System::Console::SetConsoleCtrlHandler;
use windows_sys::Win32::System::JobObjects::{
    AssignProcessToJobObject, CreateJobObjectW, JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
    JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK, JOBOBJECT_EXTENDED_LIMIT_INFORMATION,
    JobObjectExtendedLimitInformation, SetInformationJobObject,
};

use super::{Ending, Outcome, tee};
use crate::log::debug;
use crate::platform::Platform;

/// Whether a console control event reached goshim while go ran.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// True once Ctrl-C, Ctrl-Break or a console close reached goshim.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

/// No exec on Windows: runs `cmd` as a supervised child and exits as it did.
/// Returns only if go could not be started.
pub fn exec(mut cmd: Command) -> io::Error {
    match run(&mut cmd, false) {
        Ok(outcome) => super::exit_like(outcome.status),
        Err(e) => e,
    }
}

/// Spawns `cmd` in a kill-on-close job, ignores console control events while
/// it runs, and returns how it ended. With `capture_stderr`, go's stderr is
/// copied to ours as it arrives and also kept.
pub fn run(cmd: &mut Command, capture_stderr: bool) -> io::Result<Outcome> {
    if capture_stderr {
        cmd.stderr(Stdio::piped());
    }
    let mut child = cmd.spawn()?;
    let _job = match kill_on_close_job(&child) {
        Ok(job) => Some(job),
        Err(e) => {
            debug!("go runs outside a job object: {e}");
            None
        }
    };
    ignore_console_events();
    // go's stderr cannot be written to any more than ours: go's own write
    // fails as it would have without goshim, once the pipe's end is dropped.
    let tee = child
        .stderr
        .take()
        .map(|pipe| std::thread::spawn(move || tee(pipe, || ())));
    let status = child.wait();
    let (stderr, _broken) = tee.and_then(|t| t.join().ok()).unwrap_or_default();
    Ok(Outcome {
        status: status?,
        stderr,
    })
}

/// A job that kills its processes when its last handle closes (the shim's,
/// at the latest when the shim exits), with go assigned to it.
fn kill_on_close_job(child: &std::process::Child) -> io::Result<OwnedHandle> {
    // SAFETY: no security attributes and no name: a new anonymous job.
    let raw = unsafe { CreateJobObjectW(std::ptr::null(), std::ptr::null()) };
    if raw.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a handle just created and owned by nothing else.
    let job = unsafe { OwnedHandle::from_raw_handle(raw) };
    // SAFETY: a plain-data struct for which all zeroes is valid.
    let mut limits: JOBOBJECT_EXTENDED_LIMIT_INFORMATION = unsafe { std::mem::zeroed() };
    limits.BasicLimitInformation.LimitFlags =
        JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE | JOB_OBJECT_LIMIT_SILENT_BREAKAWAY_OK;
    // SAFETY: the job handle is valid; the pointer and size describe `limits`.
    let set = unsafe {
        SetInformationJobObject(
            job.as_raw_handle(),
            JobObjectExtendedLimitInformation,
            (&raw const limits).cast(),
            std::mem::size_of_val(&limits) as u32,
        )
    };
    if set == 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: both handles are valid for the duration of the call.
    if unsafe { AssignProcessToJobObject(job.as_raw_handle(), child.as_raw_handle()) } == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(job)
}

/// From now on console control events leave the shim running: go gets them
/// too and decides. (Before go started, Ctrl-C simply ends the shim.)
fn ignore_console_events() {
    unsafe extern "system" fn note(_event: u32) -> windows_sys::core::BOOL {
        INTERRUPTED.store(true, Ordering::SeqCst);
        TRUE // handled: no default action (which would end the shim)
    }
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        SetConsoleCtrlHandler(Some(note), TRUE);
    }
}

/// What go's exit code means for the shim's own ending.
pub(super) fn ending(status: ExitStatus) -> Ending {
    // Windows exit codes are whole u32 values; std reports them as i32.
    Ending::of(Platform::Windows, status.code().unwrap_or(1) as u32)
}

/// Windows has no signals to die by; unreachable through [`ending`].
pub(super) fn die_by(sig: i32) -> ! {
    std::process::exit(128 + sig)
}
