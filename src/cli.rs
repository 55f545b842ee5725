//! The `goshim` personality: management commands.

use std::ffi::OsString;

use crate::discovery::{self, Seen};
use crate::log::warn;

const USAGE: &str = "usage: goshim <command>

commands:
  which        print the real go that the shim runs
  status       show proxies, health and the GOPROXY the next go call gets (--json)
  probe        probe every candidate proxy now and save the health snapshot
  --version    print goshim's version
  --help       print this help";

pub fn main(args: Vec<OsString>) -> ! {
    let args: Vec<String> = match args.into_iter().map(OsString::into_string).collect() {
        Ok(a) => a,
        Err(_) => usage_error("arguments must be valid UTF-8"),
    };
    let code = match args.first().map(String::as_str) {
        None | Some("-h" | "--help" | "help") => {
            eprintln!("{USAGE}");
            if args.is_empty() { 2 } else { 0 }
        }
        Some("-V" | "--version" | "version") => {
            println!("goshim {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some("which") => which(),
        Some(other) => usage_error(&format!("unknown command '{other}'")),
    };
    std::process::exit(code)
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
