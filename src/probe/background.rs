//! The stale-while-revalidate refresh: a shim that finds the snapshot stale
//! starts one detached `goshim probe --background` and goes on without waiting.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use nix::fcntl::{Flock, FlockArg};

use crate::log::debug;
use crate::settings::vars::{self, Env};
use crate::shim::discovery::Seen;
use crate::{settings::paths, state_file};

const LOCK: &str = "probe.lock";

fn lock_path(process: &Env) -> Option<PathBuf> {
    paths::cache_dir(process).map(|d| d.join(LOCK))
}

/// Held while a probe runs, so that at most one runs at a time.
pub struct ProbeLock(#[allow(dead_code)] Flock<std::fs::File>);

/// Takes the probe lock; with `wait` false, gives up at once if it is held.
pub fn lock(process: &Env, wait: bool) -> Option<ProbeLock> {
    let file = state_file::open_lock(&lock_path(process)?).ok()?;
    let arg = if wait {
        FlockArg::LockExclusive
    } else {
        FlockArg::LockExclusiveNonblock
    };
    Flock::lock(file, arg).ok().map(ProbeLock)
}

/// Starts a detached background probe unless one is already running.
pub fn spawn_refresh(process: &Env, seen: &Seen) {
    // A cheap check first: no fork at all while another probe holds the lock.
    // (The child takes the lock itself; a lost race just makes it exit.)
    match lock(process, false) {
        Some(held) => drop(held),
        None => return,
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let mut cmd = Command::new(exe);
    cmd.arg0("goshim")
        .args(["probe", "--background"])
        .env(vars::GOSHIM_SEEN, seen.env_value())
        .env_remove(vars::GOSHIM_FORCE_ARG0)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: setsid is async-signal-safe; the prober leaves our session so a
    // terminal's Ctrl-C or hangup does not reach it.
    unsafe {
        cmd.pre_exec(|| {
            let _ = nix::unistd::setsid();
            Ok(())
        });
    }
    match cmd.spawn() {
        Ok(child) => debug!("started background probe (pid {})", child.id()),
        Err(e) => debug!("cannot start background probe: {e}"),
    }
}
