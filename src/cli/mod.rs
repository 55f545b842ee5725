//! The `goshim` personality: management commands.

mod context;
mod probe;
mod status;

use std::ffi::OsString;

use crate::discovery::{self, Seen};
use crate::log::warn;

const USAGE: &str = "usage: goshim <command> [flags]

commands:
  status [--json]   the real go, the health snapshot, and the GOPROXY the next go call gets
  probe [--json]    probe every candidate proxy now, save the snapshot, print the ranking
  which             print the real go that the shim runs
  --version         print goshim's version
  --help            print this help

The shim itself is the same binary started as `go` (see README: install.sh puts it in <prefix>/shims).";

pub fn main(args: Vec<OsString>) -> ! {
    let args: Vec<String> = match args.into_iter().map(OsString::into_string).collect() {
        Ok(a) => a,
        Err(_) => usage_error("arguments must be valid UTF-8"),
    };
    let (cmd, flags) = match args.split_first() {
        Some((c, f)) => (c.as_str(), f),
        None => {
            eprintln!("{USAGE}");
            std::process::exit(2);
        }
    };
    let code = match cmd {
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            0
        }
        "-V" | "--version" | "version" => {
            no_flags(cmd, flags);
            println!("goshim {}", env!("CARGO_PKG_VERSION"));
            0
        }
        "which" => {
            no_flags(cmd, flags);
            which()
        }
        "status" => status::run(&parse_flags(cmd, flags, &["--json"])),
        "probe" => probe::run(&parse_flags(cmd, flags, &["--json", "--background"])),
        other => usage_error(&format!("unknown command '{other}'")),
    };
    std::process::exit(code)
}

/// Flags given, each one checked against those the command knows.
fn parse_flags(cmd: &str, flags: &[String], known: &[&str]) -> Vec<String> {
    for f in flags {
        if !known.contains(&f.as_str()) {
            usage_error(&format!("unknown flag '{f}' for 'goshim {cmd}'"));
        }
    }
    flags.to_vec()
}

fn no_flags(cmd: &str, flags: &[String]) {
    parse_flags(cmd, flags, &[]);
}

fn usage_error(msg: &str) -> ! {
    warn!("{msg}; run 'goshim --help' for the list of commands");
    std::process::exit(2)
}

fn which() -> i32 {
    match discovery::find_real_go(&Seen::current()) {
        Ok(path) => {
            println!("{}", path.display());
            0
        }
        Err(e) => {
            warn!("{e}");
            127
        }
    }
}
