//! The stale-while-revalidate refresh: a shim that finds the snapshot stale
//! starts one detached `goshim probe --background` and goes on without waiting.

use std::fs::File;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::log::debug;
use crate::settings::vars::{self, Env};
use crate::shim::discovery::Seen;
use crate::{platform, settings::paths, state_file};

const LOCK: &str = "probe.lock";

fn lock_path(process: &Env) -> Option<PathBuf> {
    paths::cache_dir(process).map(|d| d.join(LOCK))
}

/// Held while a probe runs, so that at most one runs at a time (the lock
/// goes with the file's handle).
pub struct ProbeLock(#[allow(dead_code)] File);

/// Takes the probe lock; with `wait` false, gives up at once if it is held.
pub fn lock(process: &Env, wait: bool) -> Option<ProbeLock> {
    let file = state_file::open_lock(&lock_path(process)?).ok()?;
    let locked = if wait {
        file.lock().is_ok()
    } else {
        file.try_lock().is_ok()
    };
    locked.then_some(ProbeLock(file))
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
    cmd.args(["probe", "--background"])
        .env(vars::GOSHIM_SEEN, seen.env_value())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    platform::detach_as_goshim(&mut cmd);
    match cmd.spawn() {
        Ok(child) => debug!("started background probe (pid {})", child.id()),
        Err(e) => debug!("cannot start background probe: {e}"),
    }
}
