//! Running the real go on Unix: exec, or spawn and supervise.
//!
//! Supervision rules:
//! - SIGTERM/SIGHUP/SIGINT/SIGQUIT, and SIGUSR1/SIGUSR2/SIGALRM/SIGWINCH, sent
//!   to goshim are forwarded to go, except those the kernel sent to the whole
//!   foreground process group (Ctrl-C at a terminal): go got that one itself,
//!   and a second copy is not wanted.
//! - As PID 1 in a container every exited process is reaped, not only go.
//! - go's exit code is returned as is; a death by signal is re-raised, so the
//!   caller sees the same signal (128+n where re-raising cannot kill us, as PID 1).

use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use nix::libc;
use nix::sys::signal::{self, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use super::{Ending, Outcome, tee};
use crate::platform::Platform;

/// Replaces this process with `cmd`. Returns only if exec failed.
pub fn exec(mut cmd: Command) -> io::Error {
    cmd.exec()
}

/// Signals passed on to go. The first four ask it to stop; the others would
/// otherwise kill the shim by their default action and orphan go (SIGUSR1,
/// SIGUSR2, SIGALRM), or never reach it (SIGWINCH).
const FORWARDED: [Signal; 8] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
    Signal::SIGALRM,
    Signal::SIGWINCH,
];

/// The running child, for the signal handler (0 = none yet).
static CHILD_PID: AtomicI32 = AtomicI32::new(0);
/// A signal that arrived before the child existed.
static PENDING: AtomicI32 = AtomicI32::new(0);
/// Whether any of the forwarded signals arrived: the user wants to stop, so no re-run.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// True once SIGINT/SIGTERM/SIGHUP/SIGQUIT reached goshim (not the other
/// forwarded signals: they ask for no stop).
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo_t with SA_SIGINFO.
    let code = unsafe { info.as_ref().map_or(0, |i| i.si_code) };
    if matches!(
        sig,
        libc::SIGINT | libc::SIGTERM | libc::SIGHUP | libc::SIGQUIT
    ) {
        INTERRUPTED.store(true, Ordering::SeqCst);
    }
    if from_terminal(code) && sig != libc::SIGTERM {
        return; // terminal-generated: the child got its own copy
    }
    let pid = CHILD_PID.load(Ordering::SeqCst);
    if pid > 0 {
        send(pid, sig); // kill(2) is async-signal-safe
    } else {
        PENDING.store(sig, Ordering::SeqCst);
    }
}

/// Whether the kernel sent the signal itself, as a terminal's Ctrl-C or
/// hang-up to the whole foreground group is sent (a kill(2) is not). Only
/// Linux tells by `si_code` (macOS leaves it 0): elsewhere every signal is
/// forwarded, as signal-hook's `Cause::Unknown` would leave no other choice.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn from_terminal(code: libc::c_int) -> bool {
    code == libc::SI_KERNEL
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn from_terminal(_code: libc::c_int) -> bool {
    false
}

/// kill(2) by number; an unknown number is dropped.
fn send(pid: i32, sig: libc::c_int) {
    if let Ok(sig) = Signal::try_from(sig) {
        let _ = signal::kill(Pid::from_raw(pid), sig);
    }
}

/// Installs the forwarding handler for each signal that is not ignored. An
/// ignored signal (nohup, a background job of a non-interactive shell) stays
/// ignored, so go inherits the ignore exactly as it would without goshim.
fn install_forwarding() {
    let action = SigAction::new(
        SigHandler::SigAction(on_signal),
        SaFlags::SA_SIGINFO, // no SA_RESTART: waitpid returns EINTR and we loop
        SigSet::empty(),
    );
    for sig in FORWARDED {
        // SAFETY: the handler only touches atomics and calls kill.
        let previous = unsafe { signal::sigaction(sig, &action) };
        if let Ok(old) = previous
            && matches!(old.handler(), SigHandler::SigIgn)
        {
            // SAFETY: putting back the disposition we found.
            let _ = unsafe { signal::sigaction(sig, &old) };
        }
    }
}

/// Spawns `cmd`, forwards signals, reaps, and returns how it ended.
/// With `capture_stderr`, go's stderr is copied to ours as it arrives and also kept.
pub fn run(cmd: &mut Command, capture_stderr: bool) -> io::Result<Outcome> {
    install_forwarding();
    if capture_stderr {
        cmd.stderr(Stdio::piped());
    }
    let mut child = cmd.spawn()?;
    let pid = child.id() as i32;
    CHILD_PID.store(pid, Ordering::SeqCst);
    let pending = PENDING.swap(0, Ordering::SeqCst);
    if pending != 0 {
        send(pid, pending);
    }
    let tee = child
        .stderr
        .take()
        .map(|pipe| std::thread::spawn(move || tee(pipe, send_sigpipe)));
    let status = wait_for(Pid::from_raw(pid));
    CHILD_PID.store(0, Ordering::SeqCst);
    let (stderr, broken) = tee.and_then(|t| t.join().ok()).unwrap_or_default();
    let mut status = status?;
    if broken && status.signal().is_none() {
        // Writing to that stderr itself, go would have died by SIGPIPE.
        status = ExitStatus::from_raw(libc::SIGPIPE);
    }
    Ok(Outcome { status, stderr })
}

/// Waits for `pid`; as PID 1, also reaps every orphan that exits meanwhile.
fn wait_for(pid: Pid) -> io::Result<ExitStatus> {
    let is_init = std::process::id() == 1;
    let target = if is_init { None } else { Some(pid) };
    loop {
        match waitpid(target, Some(WaitPidFlag::empty())) {
            Ok(WaitStatus::Exited(p, code)) if p == pid => {
                return Ok(ExitStatus::from_raw((code & 0xff) << 8));
            }
            Ok(WaitStatus::Signaled(p, sig, core)) if p == pid => {
                let raw = sig as i32 | if core { 0x80 } else { 0 };
                return Ok(ExitStatus::from_raw(raw));
            }
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(io::Error::from(e)),
        }
    }
}

/// Our stderr is a broken pipe: go's write that we could not pass on would
/// have killed go by SIGPIPE, so go gets SIGPIPE.
fn send_sigpipe() {
    let pid = CHILD_PID.load(Ordering::SeqCst);
    if pid > 0 {
        send(pid, libc::SIGPIPE); // our own, not yet reaped, child
    }
}

/// What go's wait status means for the shim's own ending.
pub(super) fn ending(status: ExitStatus) -> Ending {
    Ending::of(Platform::Unix, status.into_raw() as u32)
}

/// Dies by `sig` with its default action, as go did.
pub(super) fn die_by(sig: i32) -> ! {
    if let Ok(signal) = Signal::try_from(sig) {
        // SAFETY: restoring the default action before re-raising.
        unsafe {
            let _ = signal::signal(signal, SigHandler::SigDfl);
        }
        let mut mask = SigSet::empty();
        mask.add(signal);
        let _ = mask.thread_unblock();
        let _ = signal::raise(signal);
    }
    // Still alive: PID 1 ignores default-action signals, or the signal is not fatal.
    std::process::exit(128 + sig);
}
