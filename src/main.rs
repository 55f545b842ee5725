//! goshim: a `go` toolchain shim. Started as `go` it is the shim; as `goshim`, the CLI.

mod child;
mod cli;
mod command;
mod discovery;
mod env_vars;
mod log;
mod shim;

use std::ffi::OsString;
use std::path::Path;

fn main() {
    let mut args = std::env::args_os();
    let argv0 = args.next().unwrap_or_default();
    let rest: Vec<OsString> = args.collect();
    if started_as_go(&argv0) {
        shim::main(rest)
    } else {
        cli::main(rest)
    }
}

/// The personality comes from the name we were started as (file stem of argv[0]).
fn started_as_go(argv0: &OsString) -> bool {
    let forced = std::env::var_os(env_vars::GOSHIM_FORCE_ARG0);
    let name = forced.as_ref().unwrap_or(argv0);
    Path::new(name)
        .file_stem()
        .is_some_and(|stem| stem == "go")
}
