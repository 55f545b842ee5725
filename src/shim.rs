//! The `go` personality: find the real go, decide, run it.

use std::ffi::OsString;
use std::process::Command;

use crate::command::{self, Kind};
use crate::discovery::{self, Seen};
use crate::log::{debug, warn};
use crate::{child, env_vars};

/// Exit code when no real go can be found (as a shell does for "command not found").
const EXIT_NOT_FOUND: i32 = 127;

pub fn main(args: Vec<OsString>) -> ! {
    let seen = Seen::current();
    let real_go = match discovery::find_real_go(&seen) {
        Ok(path) => path,
        Err(e) => {
            warn!("{e}");
            std::process::exit(EXIT_NOT_FOUND);
        }
    };
    let mut cmd = Command::new(&real_go);
    cmd.args(&args);
    // The only variable added to every child: it makes shim loops impossible.
    cmd.env(env_vars::GOSHIM_SEEN, seen.env_value());

    let kind = command::classify(&args);
    if env_vars::is_truthy(env_vars::GOSHIM_DISABLE) || kind == Kind::Passthrough {
        debug!("exec {} (passthrough)", real_go.display());
        let err = child::exec(cmd);
        fail_to_start(&real_go, err);
    }
    match child::run(&mut cmd, false) {
        Ok(outcome) => child::exit_like(outcome.status),
        Err(err) => fail_to_start(&real_go, err),
    }
}

fn fail_to_start(real_go: &std::path::Path, err: std::io::Error) -> ! {
    warn!(
        "cannot run {}: {err}; check the file or set GOSHIM_GO=/path/to/go",
        real_go.display()
    );
    std::process::exit(EXIT_NOT_FOUND)
}
