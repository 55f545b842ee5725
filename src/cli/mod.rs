//! The `goshim` personality: management commands.

mod context;
mod doctor;
mod probe;
mod prometheus;
mod self_cmd;
mod status;
mod use_preset;

use std::ffi::OsString;

use crate::log::warn;
use crate::settings::vars::Env;
use crate::shim::discovery::{self, Seen};

const USAGE: &str = "usage: goshim <command> [flags]

commands:
  status [--json | --format text|json|prometheus]
                    the real go, the health snapshot, and the GOPROXY the next go call gets;
                    prometheus: snapshot gauges and counters for a textfile collector
  doctor [--all] [--json]
                    probe and rank the proxies (latency, checksum database, index
                    freshness, TLS certificate), check the setup; --all adds the
                    well-known public mirrors; exit 0 iff a proxy in use is
                    healthy and serves modules
  use <preset>      add a preset of public mirrors (cn, global, all) as candidates:
                    writes preset = <name> to the config file; 'goshim use none' removes it
  probe [--json]    probe every candidate proxy now, save the snapshot, print the ranking
  which             print the real go that the shim runs
  self uninstall    remove this installation (binary, go link, cache, the installer's
                    PATH lines); keeps the config file. 'goshim self --help' for more
  --version         print goshim's version and the commit it was built from
  --help            print this help

The shim itself is the same binary started as `go` (install.sh links both
<prefix>/shims/go and <prefix>/shims/goshim to it).";

pub fn main(process: &Env, args: Vec<OsString>) -> ! {
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
            println!("{VERSION_LINE}");
            0
        }
        "which" => {
            no_flags(cmd, flags);
            which(process)
        }
        "status" => match status::Format::parse(flags) {
            Ok(format) => status::run(process, format),
            Err(msg) => usage_error(&msg),
        },
        "probe" => probe::run(
            process,
            &parse_flags(cmd, flags, &["--json", "--background"]),
        ),
        "doctor" => doctor::run(process, &parse_flags(cmd, flags, &["--all", "--json"])),
        "use" => use_preset::run(process, flags),
        "self" => self_cmd::run(process, flags),
        other => usage_error(&format!("unknown command '{other}'")),
    };
    std::process::exit(code)
}

/// `goshim 0.1.0 (1a2b3c4)`: the version and the commit it was built from
/// (build.rs), or the version alone when built without git. One constant.
const VERSION_LINE: &str = concat!(
    "goshim ",
    env!("CARGO_PKG_VERSION"),
    env!("GOSHIM_COMMIT_SUFFIX")
);

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

fn which(process: &Env) -> i32 {
    match discovery::find_real_go(process, &Seen::current(process)) {
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
