//! The `goshim` personality: management commands.

mod context;
mod doctor;
mod help;
mod probe;
mod prometheus;
mod self_cmd;
mod status;
mod use_preset;

use std::ffi::OsString;

use crate::log::warn;
use crate::settings::vars::Env;
use crate::shim::discovery::{self, Seen};

pub fn main(process: &Env, args: Vec<OsString>) -> ! {
    let args: Vec<String> = match args.into_iter().map(OsString::into_string).collect() {
        Ok(a) => a,
        Err(_) => usage_error("arguments must be valid UTF-8"),
    };
    let usage = || help::usage(crate::settings::paths::config_file(process).as_deref());
    let (cmd, flags) = match args.split_first() {
        Some((c, f)) => (c.as_str(), f),
        None => {
            eprintln!("{}", usage());
            std::process::exit(2);
        }
    };
    // `goshim <command> --help` (or -h) anywhere among its flags.
    if let Some(c) = help::find(cmd)
        && flags.iter().any(|f| f == "--help" || f == "-h")
    {
        println!("{}", help::command_help(c));
        std::process::exit(0);
    }
    let code = match cmd {
        "-h" | "--help" => {
            println!("{}", usage());
            0
        }
        "help" => match flags {
            [] => {
                println!("{}", usage());
                0
            }
            [name] => match help::find(name) {
                Some(c) => {
                    println!("{}", help::command_help(c));
                    0
                }
                None => usage_error(&format!("unknown command '{name}'")),
            },
            _ => usage_error("'goshim help' takes one command at most"),
        },
        "completions" => match flags {
            [shell] => match help::completions(shell) {
                Some(script) => {
                    print!("{script}");
                    0
                }
                None => usage_error(&format!("no completions for '{shell}' (bash, zsh or fish)")),
            },
            _ => usage_error("usage: goshim completions bash|zsh|fish"),
        },
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
